"""On PostgreSQL: concurrent computations, a worker killed mid-run, and the ledger's database guards."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum

from payouts.models import EarningLine, LedgerAccount, LedgerEntry, LedgerTransaction, PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {"a": 5_000_00, "b": 3_750_00, "c": 1_250_00}


@pytest.fixture
def design_program(db):
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)
    return program


def amounts() -> dict[str, int]:
    return dict(EarningLine.objects.values_list("partner__handle", "gross_minor"))


def test_two_computations_at_once_make_one_run_and_one_set_of_lines(design_program):
    barrier, results, errors = threading.Barrier(3), [], []

    def compute():
        try:
            barrier.wait()
            results.append(payout_run_compute(program_id=design_program.pk, month=MONTH).pk)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=compute) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(set(results)) == 1
    assert PayoutRun.objects.count() == 1
    assert PayoutRun.objects.get().status == PayoutRun.Status.COMPUTED
    assert EarningLine.objects.count() == 3
    assert amounts() == EXPECTED


def test_a_worker_killed_mid_run_leaves_nothing_and_a_rerun_completes(design_program):
    """A real process computes the month; it is SIGKILLed in the middle of its transaction."""
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
           "SECRET_KEY": "test", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("CELERY_BROKER_URL", None)
    script = ("import django, datetime; django.setup(); from payouts.services.runs import payout_run_compute; "
              f"payout_run_compute(program_id={design_program.pk}, month=datetime.date.fromisoformat('{MONTH}'))")
    with transaction.atomic():
        # The statement that writes the lines reads the ledger accounts: holding this lock stops the worker
        # inside its transaction, with the run's row locked and nothing committed.
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE payouts_ledgeraccount IN ACCESS EXCLUSIVE MODE")
        worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                                  text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with connection.cursor() as cursor:
                    # Statistics views are a snapshot per transaction: take a fresh one each time.
                    cursor.execute("SELECT pg_stat_clear_snapshot()")
                    cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted "
                                   "AND relation = 'payouts_ledgeraccount'::regclass")
                    if cursor.fetchone()[0]:
                        break
                time.sleep(0.2)
                if worker.poll() is not None:
                    pytest.fail(f"the worker ended early: {worker.stderr.read()}")
            else:
                pytest.fail("the worker never reached settlement")
            run = PayoutRun.objects.get()
            assert run.status == PayoutRun.Status.COMPUTING
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert EarningLine.objects.count() == 0  # its uncommitted lines died with it

    rerun = payout_run_compute(program_id=design_program.pk, month=MONTH)
    assert (rerun.pk, rerun.status) == (run.pk, PayoutRun.Status.COMPUTED)
    assert amounts() == EXPECTED


def test_second_call_after_completion_changes_nothing(design_program):
    first = payout_run_compute(program_id=design_program.pk, month=MONTH)
    lines = list(EarningLine.objects.order_by("id").values_list("id", "gross_minor", "status"))
    second = payout_run_compute(program_id=design_program.pk, month=MONTH)
    assert (second.pk, second.computed_at) == (first.pk, first.computed_at)
    assert list(EarningLine.objects.order_by("id").values_list("id", "gross_minor", "status")) == lines


@pytest.fixture
def paid_run(design_program):
    starter = UserFactory(username="starter", groups=["Finance approvers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    ensure_group_permissions()
    run = payout_run_compute(program_id=design_program.pk, month=MONTH, actor=starter)
    payout_run_approve(run_id=run.pk, actor=approver)
    payout_run_mark_paid(run_id=run.pk, actor=approver, reference="WIRE-1")
    return run


def test_ledger_balances_after_approve_and_pay(paid_run):
    assert LedgerEntry.objects.aggregate(total=Sum("amount_minor"))["total"] == 0
    for row in LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor")):
        assert row["total"] == 0
    paid = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PAID_OUT).aggregate(t=Sum("amount_minor"))
    assert paid["t"] == 10_000_00


@pytest.mark.parametrize("statement", [
    "UPDATE payouts_ledgerentry SET amount_minor = amount_minor + 1",
    "DELETE FROM payouts_ledgerentry",
    "UPDATE payouts_ledgertransaction SET description = 'edited'",
    "DELETE FROM payouts_ledgertransaction",
])
def test_the_database_refuses_to_edit_posted_entries(paid_run, statement):
    before = list(LedgerEntry.objects.order_by("id").values_list("id", "amount_minor"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert list(LedgerEntry.objects.order_by("id").values_list("id", "amount_minor")) == before


def test_the_database_refuses_an_unbalanced_transaction(paid_run):
    account = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.PAID_OUT).get()

    def post_one_sided():
        with transaction.atomic():
            entry_tx = LedgerTransaction.objects.create(key="manual", description="one-sided")
            LedgerEntry.objects.create(transaction=entry_tx, account=account, amount_minor=5)

    with pytest.raises(DatabaseError, match="unbalanced by 5"):
        post_one_sided()
    assert not LedgerTransaction.objects.filter(key="manual").exists()


# --- the earning lines' references, checked per statement by triggers (migration 0006) ----------------------

def test_the_database_refuses_a_line_for_a_partner_that_does_not_exist(paid_run):
    line = EarningLine.objects.filter(run=paid_run).first()
    with pytest.raises(DatabaseError, match="refers to partner 987654321 which does not exist"), \
            transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO payouts_earningline (run_id, partner_id, basis, basis_value, basis_total, "
                       "weight, gross_minor, capped, rounding_minor, remainder, adjustments_minor, carried_in_minor, "
                       "withholding_minor, net_minor, status, hold_reason, note) "
                       "SELECT run_id, 987654321, basis, basis_value, basis_total, weight, gross_minor, capped, "
                       "rounding_minor, remainder, adjustments_minor, carried_in_minor, withholding_minor, net_minor, "
                       "status, hold_reason, note FROM payouts_earningline WHERE id = %s", [line.pk])
    assert EarningLine.objects.filter(partner_id=987654321).count() == 0


@pytest.mark.parametrize(("statement", "reason"), [
    ("DELETE FROM partnerships_partner WHERE id = %(partner)s", "has earning lines"),
    ("DELETE FROM payouts_payoutrun WHERE id = %(run)s", "still has earning lines"),
    ("UPDATE payouts_earningline SET partner_id = partner_id + 1 WHERE id = %(line)s", "never change"),
    ("UPDATE payouts_earningline SET run_id = run_id + 1 WHERE id = %(line)s", "never change"),
])
def test_the_database_keeps_lines_pointing_at_their_partner_and_run(paid_run, statement, reason):
    line = EarningLine.objects.filter(run=paid_run).first()
    before = list(EarningLine.objects.order_by("id").values_list("id", "run_id", "partner_id"))
    with pytest.raises(DatabaseError, match=reason), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, {"partner": line.partner_id, "run": paid_run.pk, "line": line.pk})
    assert list(EarningLine.objects.order_by("id").values_list("id", "run_id", "partner_id")) == before


def test_a_partner_deleted_while_a_month_is_computed_waits_and_is_then_refused(design_program):
    """The computation holds the references lock until it commits: the deletion waits, then sees the lines."""
    from tests.payouts.factories import member

    partner = member(design_program, handle="leaving", views=10)
    outcome = {}

    def delete_partner():
        from django.db import connections
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM partnerships_partner WHERE id = %s", [partner.pk])
            outcome["deleted"] = True
        except DatabaseError as exc:
            outcome["refused"] = str(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        payout_run_compute(program_id=design_program.pk, month=MONTH)
        deleter = threading.Thread(target=delete_partner)
        deleter.start()
        deleter.join(timeout=1.0)
        assert deleter.is_alive(), "the deletion must wait for the computation to commit"
    deleter.join(timeout=30)
    assert "has earning lines" in outcome.get("refused", ""), outcome
    assert EarningLine.objects.filter(partner=partner).count() == 1
