"""A load of inputs and the approval that closes their month, at the same time (ingestion.guards.hold_open_months
and close_months). Either the load commits first, and the run it changed is already stale when the approval
looks at it, or the approval commits first, and the load finds the month closed at its merge. Before, a run
approved between a load's check and its merge let late rows into a paid month, and a run approved between a
load's commit and its stale marking was approved on inputs it never read."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric
from payouts.exceptions import RunRefused
from payouts.models import LedgerTransaction, PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
LATE_DAY = MONTH.replace(day=20)


@pytest.fixture
def computed(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("ana", 6_000_000), ("ben", 3_000_000), ("cy", 1_000_000)]:
        member(program, handle=handle, views=views)
    starter = UserFactory(username="starter", groups=["Finance approvers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    ensure_group_permissions()
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
    assert run.status == PayoutRun.Status.COMPUTED
    assert run.stale_reason == ""
    return run, approver


def late_metric_job(tmp_path: Path) -> ImportJob:
    path = tmp_path / "late.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(
            [HEADER, ["ben", LATE_DAY.isoformat(), 999_999, 999_999, 10, 1, 1, 5000, 1]])
    return import_job_create(kind=ImportJob.Kind.METRICS, source_name="late.csv", file_path=str(path))


def late_rows() -> int:
    return DailyMetric.objects.filter(partner__handle="ben", day=LATE_DAY, views=999_999).count()


def test_a_load_marks_the_run_stale_inside_its_own_transaction(computed, tmp_path):
    """No on-commit hook: this test runs in a transaction that never commits, and the run is stale all the same."""
    run, _ = computed
    job = daily_metrics_ingest(job_id=late_metric_job(tmp_path).pk)
    assert job.rows_loaded == 1
    run.refresh_from_db()
    assert run.stale_reason.startswith("daily metrics for 1 partner loaded on")


def wait_for_lock_wait(pid: int, kind: str, seconds: float = 30) -> None:
    """Until the backend ``pid`` waits for a lock of this kind (pg_locks.locktype)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted AND locktype = %s", [pid, kind])
            if cursor.fetchone():
                return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock of type {kind}")


class Worker(threading.Thread):
    """Runs a function on its own database connection; keeps its result or exception and its backend pid."""

    def __init__(self, function):
        super().__init__(daemon=True)
        self.function, self.result, self.error, self.pid = function, None, None, None
        self.started_work = threading.Event()

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started_work.set()
            self.result = self.function()
        except Exception as exc:  # noqa: BLE001 - asserted by the test
            self.error = exc
        finally:
            self.started_work.set()
            connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_approval_under_way_closes_the_month_before_a_load_merges(computed, tmp_path):
    run, approver = computed
    job = late_metric_job(tmp_path)
    with transaction.atomic():
        payout_run_approve(run_id=run.pk, actor=approver)  # holds the closing lock until this block commits
        load = Worker(lambda: daily_metrics_ingest(job_id=job.pk))
        load.start()
        load.started_work.wait(10)
        wait_for_lock_wait(load.pid, "advisory")  # checked the month (still open), now waiting at its merge
    load.join(60)

    assert load.error is None
    finished = ImportJob.objects.get(pk=job.pk)
    assert (finished.rows_loaded, finished.rows_rejected) == (0, 1)
    assert late_rows() == 0  # the paid month's inputs are what the run read
    assert PayoutRun.objects.get(pk=run.pk).status == PayoutRun.Status.APPROVED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_load_under_way_makes_the_run_stale_before_an_approval_reads_it(computed, tmp_path):
    run, approver = computed
    job = late_metric_job(tmp_path)
    postings = LedgerTransaction.objects.count()
    with transaction.atomic():
        # Hold the run's row: the load stops inside its merge transaction, at marking the run stale, with the
        # months held open.
        PayoutRun.objects.select_for_update().get(pk=run.pk)
        load = Worker(lambda: daily_metrics_ingest(job_id=job.pk))
        load.start()
        load.started_work.wait(10)
        wait_for_lock_wait(load.pid, "transactionid")
        approval = Worker(lambda: payout_run_approve(run_id=run.pk, actor=approver))
        approval.start()
        approval.started_work.wait(10)
        wait_for_lock_wait(approval.pid, "advisory")  # waits for the load, not for the run's row
    load.join(60)
    approval.join(60)

    assert load.error is None
    assert ImportJob.objects.get(pk=job.pk).rows_loaded == 1
    assert late_rows() == 1
    assert isinstance(approval.error, RunRefused), approval.error
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPUTED
    assert run.stale_reason.startswith("daily metrics for 1 partner")
    assert LedgerTransaction.objects.count() == postings  # nothing posted
