"""Payment batches across any sequence, as a stateful property driving the real services: computing and approving
months of two programs, creating batches per rail, releasing them (by the creator or another, with the right or a
wrong confirmation), cancelling drafts, importing statements with paid, returned, unknown and wrong-amount entries
and pain.002 status reports rejecting or accepting payments (and importing either again), changing and fixing payees'
bank details, marking runs paid by hand. After every step the invariants of lifecycle_invariants hold (the ledger
balances, no cent in two live payments, paid plus owed equals earned, closed runs reconcile).

CI runs a fixed seed (derandomised); ``HYPOTHESIS_PROFILE=thorough`` runs many more sequences by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from partnerships.models import DailyMetric, Enrolment, Program
from payouts.exceptions import BatchRefused, PayoutsError, StatementAlreadyImported, StatementRefused
from payouts.models import (
    AdRevenue,
    LedgerAccount,
    LedgerEntry,
    Payee,
    Payment,
    PaymentBatch,
    PaymentBatchCreation,
    PaymentBatchRelease,
    PaymentItem,
    PayoutRun,
)
from payouts.roles import ensure_group_permissions
from payouts.services.batch_jobs import (
    batch_create_request,
    batch_create_run,
    batch_release_request,
    batch_release_run,
)
from payouts.services.batches import batch_cancel, batch_create, batch_preview, batch_release
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
from payouts.services.statements import payment_mark_failed, statement_import
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import payee, statement, status_report
from tests.payouts.batches.lifecycle_invariants import MoneyInvariants
from tests.payouts.factories import MONTH, member, paying_program

MONTHS = [MONTH, dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
R, P, K = PayoutRun.Status, Payment.Status, LedgerAccount.Kind
REACHED: Counter = Counter()

settings.register_profile("batches-ci", max_examples=int(os.environ.get("BATCH_LIFECYCLE_EXAMPLES", "15")),
                          stateful_step_count=30, derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("batches-thorough", max_examples=300, stateful_step_count=50, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
PROFILE = settings.get_profile("batches-thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
                               else "batches-ci")


class BatchLifecycle(MoneyInvariants, RuleBasedStateMachine):
    """Two USD programs (a pooled fund over three months, a revenue share) and three partners in both: two paid by
    ACH, one with no bank details until a rule gives them; three finance approvers."""

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.statements: list[bytes] = []

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize()
    def world(self) -> None:
        ensure_group_permissions()
        self.finance = [UserFactory(username=f"batch-finance{i}", groups=["Finance approvers"]) for i in range(3)]
        pooled = paying_program(month_budget=1_000_00, months=3, fund_total=3_000_00, min_payout_minor=10_00)
        revenue = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, fund_total=2_000_00,
                                 revenue_share_rate="0.5")
        self.programs = [pooled, revenue]
        self.partners = [member(pooled, handle=f"b{i}") for i in range(3)]
        for index, partner in enumerate(self.partners):
            Enrolment.objects.create(partner=partner, program=revenue, status=Enrolment.Status.APPROVED,
                                     submitted_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
                                     approved_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC), eligibility=[],
                                     eligibility_passed=True)
            for month in MONTHS:
                views = (1_000_000, 2_000_000, 3_000_000)[index]
                DailyMetric.objects.create(partner=partner, day=month.replace(day=10), views=views,
                                           qualified_views=views)
                AdRevenue.objects.create(partner=partner, day=month.replace(day=10), currency="USD",
                                         amount_minor=(60_00, 100_00, 200_00)[index])
        payee(self.partners[0])
        payee(self.partners[1])
        for program in (0, 1):  # August closed from the start, so batches have something to pay
            self.close_month(program, MONTH, program + 1)

    def _drafts(self) -> bool:
        return PaymentBatch.objects.filter(status=PaymentBatch.Status.DRAFT).exists()

    # --- runs -------------------------------------------------------------------------------------------
    def _pick(self, queryset, pick: int):
        rows = list(queryset.order_by("pk"))
        return rows[pick % len(rows)] if rows else None

    @rule(program=st.integers(0, 1), month=st.sampled_from(MONTHS), actor=st.integers(0, 2))
    def close_month(self, program, month, actor):
        """The scheduler computes a month and a finance approver approves it (refused out of order: a month not
        computable, a run that does not reconcile)."""
        with contextlib.suppress(PayoutsError):
            run = payout_run_compute(program_id=self.programs[program].pk, month=month)
            payout_run_approve(run_id=run.pk, actor=self.finance[actor])
            REACHED.update(["approved" + (" carrying in" if run.lines.exclude(carried_in_minor=0).exists()
                                          else "")])

    @precondition(lambda self: PayoutRun.objects.filter(status=R.APPROVED).exists())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def mark_paid_by_hand(self, pick, actor):
        run = self._pick(PayoutRun.objects.filter(kind="final", status=R.APPROVED), pick)
        if run is None:
            return
        covered = PaymentItem.objects.filter(run=run).exists()
        try:
            payout_run_mark_paid(run_id=run.pk, actor=self.finance[actor], reference="BY-HAND")
        except PayoutsError:
            return
        assert not covered, "a run covered by a batch was marked paid by hand"

    # --- batches ----------------------------------------------------------------------------------------
    @rule(actor=st.integers(0, 2), then_release=st.sampled_from(["later", "now", "now", "by a worker"]))
    def create_batch(self, actor, then_release):
        """A batch is created; often a second approver releases it straight away (the usual day), or asks a compute
        worker to (a large batch), which does it at once."""
        try:
            batch = batch_create(currency="USD", rail="ach", actor=self.finance[actor])
        except BatchRefused:
            return
        REACHED.update(["created a batch"])
        assert batch.payment_count > 0
        checker = self.finance[(actor + 1) % 3]
        if then_release == "now":
            batch_release(batch_id=batch.pk, actor=checker, expected_count=batch.payment_count,
                          expected_total_minor=batch.control_total_minor)
            REACHED.update(["released a batch"])
        elif then_release == "by a worker":
            batch_release_request(batch_id=batch.pk, actor=checker, expected_count=batch.payment_count,
                                  expected_total_minor=batch.control_total_minor)
            assert batch_release_run(batch_id=batch.pk) == PaymentBatchRelease.State.DONE
            assert batch_release_run(batch_id=batch.pk) == PaymentBatchRelease.State.DONE  # a redelivered message
            REACHED.update(["a worker released a batch"])

    @rule(actor=st.integers(0, 2), times=st.integers(1, 2))
    def a_worker_creates_a_batch(self, actor, times):
        """A large batch: created by a compute worker with what the preview showed, once even if run twice."""
        preview = batch_preview(currency="USD", rail="ach")
        try:
            creation = batch_create_request(currency="USD", rail="ach", actor=self.finance[actor],
                                            expected=(preview.payments, preview.total_minor))
        except BatchRefused:
            return  # another creation waits (never here: each is run at once)
        batches = PaymentBatch.objects.count()
        states = [batch_create_run(creation_id=creation.pk) for _ in range(times)]
        assert len(set(states)) == 1, f"running the creation again changed its outcome: {states}"
        creation.refresh_from_db()
        if states[0] == PaymentBatchCreation.State.DONE:
            assert PaymentBatch.objects.count() == batches + 1
            assert (creation.batch.payment_count, creation.batch.control_total_minor) == (
                preview.payments, preview.total_minor)
            REACHED.update(["a worker created a batch"])
        else:
            assert preview.payments == 0, creation.error  # only "nothing to pay" can refuse it here
            assert PaymentBatch.objects.count() == batches
            REACHED.update(["a worker found nothing to pay"])

    @precondition(lambda self: self._drafts())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2), correct=st.sampled_from([True, True, True, False]))
    def release(self, pick, actor, correct):
        batch = self._pick(PaymentBatch.objects.filter(status=PaymentBatch.Status.DRAFT), pick)
        if batch is None:
            return
        user, entries = self.finance[actor], LedgerEntry.objects.count()
        try:
            batch_release(batch_id=batch.pk, actor=user, expected_count=batch.payment_count,
                          expected_total_minor=batch.control_total_minor + (0 if correct else 1))
        except BatchRefused as exc:
            REACHED.update([f"release refused: {str(exc).split(':')[0][:50]}"])
            assert LedgerEntry.objects.count() == entries
            assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.DRAFT
            return
        assert correct, "released with a wrong control total"
        assert batch.created_by_id != user.pk, "released by its creator"
        REACHED.update(["released a batch"])

    @precondition(lambda self: self._drafts())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2), correct=st.sampled_from([True, True, False]))
    def ask_a_worker_to_release(self, pick, actor, correct):
        """A large batch: the approver asks, a compute worker releases later (another rule)."""
        batch = self._pick(PaymentBatch.objects.filter(status=PaymentBatch.Status.DRAFT), pick)
        if batch is None:
            return
        queued = PaymentBatchRelease.objects.filter(state=PaymentBatchRelease.State.QUEUED).count()
        try:
            batch_release_request(batch_id=batch.pk, actor=self.finance[actor], expected_count=batch.payment_count,
                                  expected_total_minor=batch.control_total_minor + (0 if correct else 1))
        except BatchRefused as exc:
            REACHED.update([f"worker release refused: {str(exc).split(':')[0][:40]}"])
            assert PaymentBatchRelease.objects.filter(state=PaymentBatchRelease.State.QUEUED).count() == queued
            return
        assert correct, "a release was asked for with a wrong control total"
        assert batch.created_by_id != self.finance[actor].pk, "a release was asked for by the batch's creator"
        REACHED.update(["asked a worker to release"])

    @precondition(lambda self: PaymentBatchRelease.objects.filter(state=PaymentBatchRelease.State.QUEUED).exists())
    @rule(pick=st.integers(0, 9), times=st.integers(1, 2))
    def a_worker_runs_the_release(self, pick, times):
        """The worker's part, once or twice (a redelivered message): it releases once, or fails with a reason."""
        request = self._pick(PaymentBatchRelease.objects.filter(state=PaymentBatchRelease.State.QUEUED), pick)
        entries = LedgerEntry.objects.count()
        states = [batch_release_run(batch_id=request.batch_id) for _ in range(times)]
        assert len(set(states)) == 1, f"running the release again changed its outcome: {states}"
        batch = PaymentBatch.objects.get(pk=request.batch_id)
        if states[0] == PaymentBatchRelease.State.DONE:
            assert batch.status == PaymentBatch.Status.RELEASED
            assert batch.released_by_id == request.requested_by_id
            REACHED.update(["a worker released a batch"])
        else:
            assert states[0] == PaymentBatchRelease.State.FAILED
            error = PaymentBatchRelease.objects.get(pk=request.pk).error
            assert error
            assert LedgerEntry.objects.count() == entries
            REACHED.update([f"a worker's release failed: {error[:60]}"])

    @precondition(lambda self: self._drafts())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def cancel_draft(self, pick, actor):
        batch = self._pick(PaymentBatch.objects.filter(status=PaymentBatch.Status.DRAFT), pick)
        if batch is not None:
            batch_cancel(batch_id=batch.pk, actor=self.finance[actor], reason="redo")

    # --- the bank ---------------------------------------------------------------------------------------
    @precondition(lambda self: Payment.objects.exclude(status=P.PENDING).exists())
    @rule(entries=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["paid", "returned", "unknown", "amount"])),
                           min_size=1, max_size=4), actor=st.integers(0, 2))
    def import_statement(self, entries, actor):
        payments = list(Payment.objects.exclude(status=P.PENDING).order_by("pk"))
        built = []
        for pick, kind in entries:
            if kind == "unknown" or not payments:
                built.append((f"X{pick}", 1_00, "USD", "paid"))
                continue
            payment = payments[pick % len(payments)]
            if kind == "amount":
                built.append((payment, payment.amount_minor + 1, "USD", "paid"))
            else:
                built.append((payment, payment.amount_minor, "USD", kind, "AC04" if kind == "returned" else ""))
        data = statement(f"S{len(self.statements)}-{timezone.now().timestamp()}", *built)
        imported = statement_import(data=data, file_name="s.xml", actor=self.finance[actor])
        self.statements.append(data)
        REACHED.update(["imported a statement"] + (["paid"] if imported.paid_count else [])
                       + (["returned"] if imported.returned_count else []))

    @precondition(lambda self: Payment.objects.exclude(status=P.PENDING).exists())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2), code=st.sampled_from(["AC01", "FF01"]))
    def bank_rejects_a_payment(self, pick, actor, code):
        """The bank's status report rejects a payment: only a sent one can fail; anything else changes nothing."""
        payment = self._pick(Payment.objects.exclude(status=P.PENDING), pick)
        if payment is None:
            return
        entries = LedgerEntry.objects.count()
        try:
            payment_mark_failed(payment_id=payment.pk, reason_code=code, reason="status report",
                                actor=self.finance[actor])
        except StatementRefused:
            assert payment.status != P.SENT, "a sent payment could not fail"
            assert LedgerEntry.objects.count() == entries
            assert Payment.objects.get(pk=payment.pk).status == payment.status
            return
        assert payment.status == P.SENT, f"a {payment.status} payment failed"
        REACHED.update(["failed"])

    @precondition(lambda self: Payment.objects.filter(status=P.SENT).exists())
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2), code=st.sampled_from(["AC04", "MS03", "AM04", ""]),
          transactions=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["RJCT", "RJCT", "ACSC", "PDNG",
                                                                               "unknown", "amount"])),
                                min_size=1, max_size=4))
    def the_bank_sends_a_status_report(self, pick, actor, code, transactions):
        """The bank's pain.002 on a released batch's file: rejected sent payments fail (as recorded by hand),
        accepted and pending ones stay sent, an unknown id or another amount is listed and changes nothing."""
        batch = self._pick(PaymentBatch.objects.filter(payments__status=P.SENT).distinct(), pick)
        payments = list(Payment.objects.filter(batch=batch).exclude(status=P.PENDING).order_by("pk"))
        before = {payment.pk: payment.status for payment in payments}
        built, rejected = [], set()
        for index, kind in transactions:
            payment = payments[index % len(payments)]
            if kind == "unknown":
                built.append((f"X{index}", "RJCT", code))
            elif kind == "amount":
                built.append((payment, "RJCT", code, payment.amount_minor + 1, payment.currency))
            else:
                built.append((payment, kind, code if kind == "RJCT" else ""))
                rejected |= {payment.pk} if kind == "RJCT" else set()
        data = status_report(f"PSR{len(self.statements)}-{timezone.now().timestamp()}", batch.pk, *built)
        imported = statement_import(data=data, file_name="pain002.xml", actor=self.finance[actor])
        self.statements.append(data)
        after = dict(Payment.objects.filter(batch=batch).values_list("pk", "status"))
        for pk, status in before.items():
            expected = P.FAILED if pk in rejected and status == P.SENT else status
            assert after[pk] == expected, (pk, status, after[pk])
        assert imported.failed_count == sum(1 for pk in rejected if before[pk] == P.SENT)
        REACHED.update(["imported a status report"] + (["failed by a status report"] if imported.failed_count
                                                      else []))

    @precondition(lambda self: bool(self.statements))
    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def import_a_statement_again(self, pick, actor):
        if not self.statements:
            return
        entries, statuses = LedgerEntry.objects.count(), dict(Payment.objects.values_list("pk", "status"))
        with pytest.raises(StatementAlreadyImported):
            statement_import(data=self.statements[pick % len(self.statements)], file_name="again.xml",
                             actor=self.finance[actor])
        assert LedgerEntry.objects.count() == entries
        assert dict(Payment.objects.values_list("pk", "status")) == statuses

    # --- payees -----------------------------------------------------------------------------------------
    @rule(partner=st.integers(0, 2), confirmed=st.booleans())
    def change_bank_details(self, partner, confirmed):
        """The details are given or fixed (clearing a block): held unless a second person confirmed."""
        target = self.partners[partner]
        now = timezone.now()
        existing = Payee.objects.filter(partner=target).first()
        if existing is None:
            existing = payee(target)
        Payee.objects.filter(pk=existing.pk).update(
            blocked_reason="", changed_at=now, hold_until=now + dt.timedelta(days=7),
            confirmed_at=now if confirmed else None)



@pytest.mark.django_db
def test_batches_keep_the_money_invariants_over_any_sequence(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    REACHED.clear()
    run_state_machine_as_test(BatchLifecycle, settings=PROFILE)
    assert REACHED["released a batch"] >= 3, REACHED
    assert REACHED["a worker released a batch"] >= 1, REACHED
    assert REACHED["a worker created a batch"] >= 1, REACHED
    assert REACHED["paid"] >= 1, REACHED
    assert REACHED["returned"] >= 1, REACHED
    assert REACHED["failed"] >= 1, REACHED
    assert REACHED["failed by a status report"] >= 1, REACHED
