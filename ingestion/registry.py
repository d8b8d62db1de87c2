"""The kinds of file ingestion loads. Each app registers its kinds in its AppConfig.ready with what they need (the
permission to load one, how to start its task, how to run it here), so the admin's upload and report views and
the commands serve every kind without knowing the apps that define them (ad revenue lives in payouts, daily
metrics in partnerships; ingestion imports neither)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.permissions import Actor
from ingestion.exceptions import UNKNOWN_IMPORT_KIND, IngestionError
from ingestion.models import ImportJob


@dataclass(frozen=True)
class IngestionKind:
    kind: str
    label: str  # "daily metrics"
    permission: str  # "app.codename" needed to load a file and read its error report
    columns: tuple[str, ...]
    start: Callable[[int], None]  # enqueue the job's task
    run: Callable[[int], ImportJob]  # run the job in this process (manage.py ingest_*)


KINDS: dict[str, IngestionKind] = {}


def register_kind(kind: IngestionKind) -> None:
    KINDS[kind.kind] = kind


def ingestion_kind(kind: str) -> IngestionKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise IngestionError(UNKNOWN_IMPORT_KIND.format(kind=kind)) from None


def may_load(user: Actor | None, kind: str) -> bool:
    registered = KINDS.get(kind)
    return bool(registered and user is not None and user.is_active and user.has_perm(registered.permission))
