"""The permission groups people are put in. Migration 0003 creates them; ensure_groups() re-creates them
where a database was emptied (a test that flushes tables, a restored dump)."""

from core import roles

GROUPS: dict[str, list[str]] = {
    "Partnership managers": [
        "view_partner", "change_partner", "suspend_partner", "view_partnerstatistics",
        "view_program", "change_program", "view_category", "add_category", "change_category",
        "view_enrolment", "add_enrolment", "change_enrolment", "decide_enrolment", "view_dailymetric",
        # data in and out (migration 0006)
        "import_partner", "export_partner", "import_dailymetric", "export_dailymetric", "export_enrolment",
        "export_brand", "export_campaign",
        # brand matching (migration 0008): oversee brands and record creators' answers to invitations
        "view_brand", "view_brandmembership", "view_campaign", "view_invitation", "change_invitation",
    ],
    "Finance approvers": [
        "view_partner", "view_partnerstatistics", "view_program", "view_category", "view_enrolment",
        "view_dailymetric",
        "change_payout_readiness",  # migration 0013: tax form and identity are finance's facts
    ],
    "Brand users": [],
}


def ensure_groups() -> None:
    from ingestion import roles as ingestion_roles

    roles.ensure_groups("partnerships", GROUPS)
    ingestion_roles.ensure_groups()
