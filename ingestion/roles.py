"""Which groups hold ingestion's permissions. Partnerships' migration 0006 granted them while the import job was
partnerships' model; ingestion's migration 0002 moved its content type, so the grants stayed. ensure_groups()
gives them again where a database was emptied (partnerships.roles.ensure_groups calls it)."""

from core import roles

GROUPS: dict[str, list[str]] = {
    "Partnership managers": ["view_importjob"],  # follow every kind's ingestion jobs
    "Finance approvers": ["view_importjob"],  # follow ad revenue ingestion jobs
}


def ensure_groups() -> None:
    roles.ensure_groups("ingestion", GROUPS)
