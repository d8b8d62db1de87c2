"""Money across the whole lifecycle, as a stateful property: random sequences of loading metrics and revenue
(late ones included), computing any month in any order, cancelling, recomputing, approving, paying, positive and
negative adjustments, changing a fund's total, and suspending and reinstating partners and memberships, driven
through the real services. After every step:

- the ledger balances, transaction by transaction;
- per partner and program, what was paid plus what is in payment plus what is still payable equals what approved
  runs posted (earned minus recoveries): nobody is paid more than earned, and no amount sits in two payment files;
- for every fund and month, spent to date ≤ released to date ≤ total, and the fund's cached spend is its runs';
- every approved or paid run reconciles with the ledger; no run was approved by one of its makers;
- a closed month stays closed: an approved or paid run's lines never change;
- a line held by screening and forfeited leaves the partner's balance for the fund's budget, to the cent.

CI runs a fixed seed (derandomised) on SQLite and PostgreSQL; ``HYPOTHESIS_PROFILE=thorough`` runs many more
sequences by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections import Counter
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Greatest
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from ingestion import guards
from partnerships.exceptions import PartnershipsError
from partnerships.models import DailyMetric, Enrolment, Program
from partnerships.services.enrolments import enrolment_reinstate, enrolment_suspend
from partnerships.services.partners import partner_reinstate, partner_suspend
from payouts import configuration
from payouts.exceptions import PayoutsError
from payouts.funds import FundPosition, fund_refresh_spent
from payouts.models import (
    Adjustment,
    AdRevenue,
    EarningLine,
    Forfeiture,
    Fund,
    LedgerAccount,
    LedgerEntry,
    PayoutRun,
    PayoutRunMaker,
    ScreeningFlag,
    ScreeningRules,
)
from payouts.reconciliation import run_reconciliation
from payouts.roles import ensure_group_permissions
from payouts.services.adjustments import adjustment_approve, adjustment_create
from payouts.services.forfeiture import earning_line_forfeit
from payouts.services.runs import payout_run_compute, payout_run_request
from payouts.services.screening import screening_line_clear, screening_line_hold
from payouts.services.settlement import payout_run_approve, payout_run_cancel, payout_run_mark_paid
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program

MONTHS = [MONTH, dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
R = PayoutRun.Status
REACHED: Counter = Counter()  # what the sequences reached, checked by the test so the machine cannot go idle

settings.register_profile("ci", max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "40")), stateful_step_count=30,
                          derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=500, stateful_step_count=50, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")
                               if os.environ.get("HYPOTHESIS_PROFILE") in ("ci", "thorough") else "ci")


def owed_by_ledger(kind: str) -> dict[tuple[int, int], int]:
    rows = (LedgerEntry.objects.filter(account__kind=kind).values_list("account__partner_id", "account__program_id")
            .annotate(total=Sum("amount_minor")))
    return {(partner, program): int(total) for partner, program, total in rows}


class MoneyLifecycle(RuleBasedStateMachine):
    """Two programs (a pooled fund with rollover and a cap, a revenue share with a small fund) and three partners
    who belong to both; three finance approvers and a partnership manager."""

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()  # every sequence starts from the same database and is rolled back after

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize()
    def world(self) -> None:
        ensure_group_permissions()
        self.finance = [UserFactory(username=f"finance{i}", groups=["Finance approvers"]) for i in range(3)]
        self.manager = UserFactory(username="lifecycle-manager", groups=["Partnership managers"], is_superuser=True)
        self.pooled = paying_program(month_budget=1_000_00, months=3, fund_total=3_000_00, min_payout_minor=50_00,
                                     partner_cap_minor=700_00)
        self.revenue = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, fund_total=2_000_00,
                                      revenue_share_rate="0.5")
        # Screening rules that this data trips (the defaults never would: one day of figures a month, no engagement
        # recorded): every member counts as new for a year and the largest line (p2, capped at 70% of the pool) is
        # flagged in every pooled run, so no pooled run is approved before a manager holds or clears it.
        ScreeningRules.objects.create(program=self.pooled, newcomer_days=365, newcomer_jump=Decimal("1"),
                                      newcomer_min_share=Decimal("0.5"))
        self.partners = [member(self.pooled, handle=f"p{i}") for i in range(3)]
        for partner in self.partners:
            Enrolment.objects.create(partner=partner, program=self.revenue, status=Enrolment.Status.APPROVED,
                                     submitted_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
                                     approved_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC), eligibility=[],
                                     eligibility_passed=True)
        self.programs = [self.pooled, self.revenue]
        for index, partner in enumerate(self.partners):  # every month has inputs from the start
            for month in MONTHS:
                views = (10_000, 1_000_000, 3_000_000)[index]  # the first partner's share is under the minimum
                DailyMetric.objects.create(partner=partner, day=month.replace(day=10), views=views,
                                           qualified_views=views)
                AdRevenue.objects.create(partner=partner, day=month.replace(day=10), currency="USD",
                                         amount_minor=(60_00, 100_00, 200_00)[index])
        self.frozen: dict[int, list] = {}  # approved or paid runs' lines as they were at approval

    # --- inputs ---------------------------------------------------------------------------------------
    def _closed(self, program: Program, month: dt.date) -> bool:
        return PayoutRun.objects.filter(program=program, month=month, kind="final",
                                        status__in=[R.APPROVED, R.PAID]).exists()

    @rule(partner=st.integers(0, 2), month=st.sampled_from(MONTHS), day=st.integers(1, 28), revenue=st.booleans(),
          amount=st.integers(-50_00, 5_000_000))
    def load_input(self, partner, month, day, revenue, amount):
        """Late metrics (pooled fund) or ad revenue (revenue share) for a month, checked and reported as ingestion
        does: refused for a closed month (the one definition of closed), and the load then told to the guards,
        which mark the concerned computed runs stale."""
        program = self.revenue if revenue else self.pooled
        partner_id, day = self.partners[partner].pk, month.replace(day=day)
        kind = guards.AD_REVENUE if revenue else guards.DAILY_METRICS
        refusal = guards.closed_reason(input=kind, partner_id=partner_id, day=day, currency="USD" if revenue else None)
        assert bool(refusal) == self._closed(program, month), refusal
        if refusal:
            return
        if revenue:
            AdRevenue.objects.update_or_create(partner_id=partner_id, day=day, currency="USD",
                                               defaults={"amount_minor": amount // 50})
        else:
            DailyMetric.objects.update_or_create(partner_id=partner_id, day=day,
                                                 defaults={"views": abs(amount), "qualified_views": abs(amount)})
        with TestCase.captureOnCommitCallbacks(execute=True):
            guards.period_inputs_loaded(guards.LoadedInputs(
                input=kind, partner_months=frozenset({(partner_id, month)}), first_day=day, last_day=day, rows=1,
                source="the lifecycle test", loaded_on=dt.date(2026, 12, 1)))

    # --- runs -----------------------------------------------------------------------------------------
    @rule(program=st.integers(0, 1), month=st.sampled_from(MONTHS), actor=st.integers(-1, 2))
    def compute(self, program, month, actor):
        self._compute(program, month, self.finance[actor] if actor >= 0 else None)  # -1: the scheduler

    @rule(program=st.integers(0, 1), month=st.sampled_from(MONTHS))
    def compute_as_scheduler(self, program, month):
        self._compute(program, month, None)

    def _compute(self, program, month, user):
        with contextlib.suppress(PayoutsError):
            payout_run_compute(program_id=self.programs[program].pk, month=month, actor=user)

    @rule(pick=st.integers(0, 9))
    def recompute_stale(self, pick):
        """The scheduler (or a worker) computes a stale run again."""
        run = self._run(pick, R.COMPUTED)
        if run is not None and run.stale_reason:
            payout_run_compute(program_id=run.program_id, month=run.month)

    @rule(program=st.integers(0, 1), month=st.sampled_from(MONTHS), actor=st.integers(0, 2))
    def request_recompute(self, program, month, actor):
        """A person's "compute again" (the worker then runs it as the scheduler would)."""
        program_id = self.programs[program].pk
        try:
            payout_run_request(program_id=program_id, month=month, actor=self.finance[actor])
            payout_run_compute(program_id=program_id, month=month)
        except PayoutsError:
            pass

    def _run(self, pick: int, *statuses: str) -> PayoutRun | None:
        """One of the live monthly runs (in the given statuses), chosen by ``pick``."""
        runs = list(PayoutRun.objects.filter(kind="final", status__in=statuses or [R.COMPUTING, R.COMPUTED, R.FAILED,
                                                                                   R.APPROVED, R.PAID]).order_by("pk"))
        return runs[pick % len(runs)] if runs else None

    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def cancel(self, pick, actor):
        run = self._run(pick)
        if run is not None:
            try:
                payout_run_cancel(run_id=run.pk, actor=self.finance[actor], reason="recheck")
            except PayoutsError:
                assert run.status in (R.APPROVED, R.PAID)

    @rule(pick=st.integers(0, 9))
    def approve_by_someone_else(self, pick):
        """Finance picks an approver who is none of the run's makers (the usual day)."""
        run = self._run(pick, R.COMPUTED)
        if run is not None:
            makers = set(PayoutRunMaker.objects.filter(run=run).values_list("user_id", flat=True))
            others = [index for index, user in enumerate(self.finance) if user.pk not in makers]
            if others:
                self.approve(pick, others[0], status=R.COMPUTED)

    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def approve(self, pick, actor, status=None):
        run = self._run(pick, *([status] if status else [R.COMPUTED, R.APPROVED]))
        if run is None:
            return
        user = self.finance[actor]
        entries_before = LedgerEntry.objects.count()
        reconciles = all(check.ok for check in run_reconciliation(run))
        is_maker = PayoutRunMaker.objects.filter(run=run, user=user).exists()
        try:
            payout_run_approve(run_id=run.pk, actor=user)
        except PayoutsError:
            assert LedgerEntry.objects.count() == entries_before  # a refusal posts nothing
            return
        assert run.status == R.COMPUTED, f"approved a run that was {run.status}"
        assert not run.stale_reason, f"approved a stale run: {run.stale_reason}"
        assert reconciles, "approved a run that does not reconcile"
        assert not is_maker, "one of the run's makers approved it"
        self.frozen[run.pk] = self._lines(run)
        REACHED.update(["approved a run" + (" carrying in a balance" if EarningLine.objects.filter(
            run=run).exclude(carried_in_minor=0).exists() else "")])

    @rule(pick=st.integers(0, 9), hold=st.booleans())
    def review_flag(self, pick, hold):
        """A partnership manager holds or clears a line screening flagged (its data tripped a program's rules)."""
        run = self._run(pick, R.COMPUTED)
        flag = run and ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.PENDING).first()
        if not flag:
            return
        review = screening_line_hold if hold else screening_line_clear
        line = review(run_id=run.pk, partner_id=flag.partner_id, actor=self.manager, reason="lifecycle review")
        assert line.status == EarningLine.Status.HELD or not hold
        REACHED.update(["held a flagged line" if hold else "cleared a flagged line"])

    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2), twice=st.booleans())
    def forfeit(self, pick, actor, twice):
        """Finance forfeits, for good, a line a manager held (the program's setting says where the amount goes):
        the partner's payable balance gives exactly the line's net to the fund's budget; a refusal changes nothing,
        and forfeiting again posts nothing more."""
        held = ScreeningFlag.objects.filter(status=ScreeningFlag.Status.HELD, run__status__in=[R.APPROVED, R.PAID])
        lines = list(EarningLine.objects.filter(
            status=EarningLine.Status.HELD, run__status__in=[R.APPROVED, R.PAID], run__kind="final",
            partner_id__in=held.values("partner_id")).order_by("pk"))
        if not lines:
            return
        self._forfeit(lines[pick % len(lines)], self.finance[actor], twice=twice)

    def _forfeit(self, line: EarningLine, actor, *, twice: bool) -> None:
        fund = Fund.objects.get(program_id=line.run.program_id)
        budget_before = self._fund_budget(fund)
        entries_before = LedgerEntry.objects.count()
        try:
            for _ in range(2 if twice else 1):
                forfeiture = earning_line_forfeit(line_id=line.pk, actor=actor, reason="fake views")
        except PayoutsError:
            assert LedgerEntry.objects.count() == entries_before  # a refusal posts nothing
            return
        if entries_before == LedgerEntry.objects.count():  # forfeited before: nothing more posted
            return
        assert forfeiture.amount_minor == line.net_minor
        assert self._fund_budget(fund) == budget_before + line.net_minor
        REACHED.update(["forfeited a held line"])

    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def hold_approve_and_forfeit(self, pick, actor):
        """The whole story in one step (the separate steps rarely line up in a short sequence): a manager holds a
        flagged line, another finance approver approves the run, and the line is then forfeited."""
        run = self._run(pick, R.COMPUTED)
        flag = run and ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.PENDING).first()
        if not flag:
            return
        screening_line_hold(run_id=run.pk, partner_id=flag.partner_id, actor=self.manager, reason="lifecycle review")
        REACHED.update(["held a flagged line"])
        if not ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.PENDING).exists():
            self.approve_by_someone_else(pick=PayoutRun.objects.filter(
                kind="final", status=R.COMPUTED, pk__lt=run.pk).count())
        self._forfeit(EarningLine.objects.get(run=run, partner_id=flag.partner_id), self.finance[actor], twice=False)

    def _fund_budget(self, fund: Fund) -> int:
        return int(LedgerEntry.objects.filter(account__fund=fund, account__kind=LedgerAccount.Kind.FUND_BUDGET)
                   .aggregate(total=Sum("amount_minor"))["total"] or 0)

    @rule(pick=st.integers(0, 9), actor=st.integers(0, 2))
    def pay(self, pick, actor):
        run = self._run(pick, R.APPROVED)
        if run is None:
            return
        try:
            payout_run_mark_paid(run_id=run.pk, actor=self.finance[actor], reference=f"BANK-{run.pk}")
            REACHED.update(["paid a run"])
        except PayoutsError:
            assert run.status != R.APPROVED or not all(check.ok for check in run_reconciliation(run))

    # --- corrections and configuration ----------------------------------------------------------------
    @rule(partner=st.integers(0, 2), program=st.integers(0, 1), amount=st.integers(-1_500_00, 1_500_00).filter(bool),
          maker=st.integers(0, 2), checker=st.integers(0, 2))
    def adjust(self, partner, program, amount, maker, checker):
        adjustment = adjustment_create(partner_id=self.partners[partner].pk,
                                                program_id=self.programs[program].pk, amount_minor=amount,
                                                reason="correction", actor=self.finance[maker])
        try:
            adjustment_approve(adjustment_id=adjustment.pk, actor=self.finance[checker])
        except PayoutsError:
            assert maker == checker
            adjustment.refresh_from_db()
            assert adjustment.status == Adjustment.Status.PENDING

    @rule(program=st.integers(0, 1), total=st.integers(0, 4_000_00), actor=st.integers(0, 2))
    def change_fund_total(self, program, total, actor):
        """Finance changes a fund's total (with a reason); below what its runs spend it is refused."""
        fund = Fund.objects.get(program=self.programs[program])
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                configuration.fund_update(fund_id=fund.pk, actor=self.finance[actor], reason="budget review",
                                          total_minor=total)
        except PayoutsError:
            # refused below the spend, and (a fund released by tranches) below what its tranches release
            assert total < max(fund.spent_minor, self._tranches_total(fund)), "an acceptable total was refused"
            assert Fund.objects.get(pk=fund.pk).total_minor == fund.total_minor
            return
        assert total >= max(fund.spent_minor, self._tranches_total(fund)), "a total below the spend was accepted"

    def _tranches_total(self, fund: Fund) -> int:
        if fund.program.archetype == Program.Archetype.REVENUE_SHARE:
            return 0
        return fund.tranches.aggregate(total=Sum("amount_minor"))["total"] or 0

    @rule(partner=st.integers(0, 2), program=st.integers(-1, 1), suspend=st.booleans())
    def suspend_or_reinstate(self, partner, program, suspend):
        """A partner (program -1) or one of their memberships is suspended or reinstated by a manager."""
        if program < 0:
            service, target = (partner_suspend if suspend else partner_reinstate,
                               {"partner_id": self.partners[partner].pk})
        else:
            enrolment = Enrolment.objects.get(partner=self.partners[partner], program=self.programs[program])
            service, target = (enrolment_suspend if suspend else enrolment_reinstate,
                               {"enrolment_id": enrolment.pk})
        with contextlib.suppress(PartnershipsError):
            service(actor=self.manager, reason="review", **target)

    # --- invariants -----------------------------------------------------------------------------------
    def _lines(self, run: PayoutRun) -> list:
        return list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(
            "partner_id", "gross_minor", "adjustments_minor", "carried_in_minor", "withholding_minor", "net_minor"))

    @invariant()
    def ledger_balances(self):
        if not hasattr(self, "programs"):
            return
        unbalanced = (LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor"))
                      .exclude(total=0))
        assert not unbalanced.exists()

    @invariant()
    def each_cent_is_paid_at_most_once(self):
        if not hasattr(self, "programs"):
            return
        payable = owed_by_ledger(LedgerAccount.Kind.PARTNER_PAYABLE)
        in_payment = owed_by_ledger(LedgerAccount.Kind.PARTNER_IN_PAYMENT)
        closed = Q(run__kind="final", run__status__in=[R.APPROVED, R.PAID])
        earned = {(p, prog): int(t) for p, prog, t in EarningLine.objects.filter(closed).values_list(
            "partner_id", "run__program_id").annotate(
            t=Sum("gross_minor") + Sum("adjustments_minor") - Sum("withholding_minor"))}
        in_files = {(p, prog): int(t) for p, prog, t in EarningLine.objects.filter(
            closed, status__in=[EarningLine.Status.PAYABLE, EarningLine.Status.PAID]).values_list(
            "partner_id", "run__program_id").annotate(t=Sum("net_minor"))}
        recoveries = {(p, prog): int(t) for p, prog, t in EarningLine.objects.filter(closed).values_list(
            "partner_id", "run__program_id").annotate(t=Sum(Greatest(
                Value(0), F("withholding_minor") - F("gross_minor") - F("adjustments_minor"))))}
        paid = {(p, prog): int(t) for p, prog, t in EarningLine.objects.filter(
            run__status=R.PAID, status=EarningLine.Status.PAID).values_list(
            "partner_id", "run__program_id").annotate(t=Sum("net_minor"))}
        # what was forfeited left the partner for the fund: it is earned no more
        for p, prog, t in Forfeiture.objects.values_list("partner_id", "program_id").annotate(t=Sum("amount_minor")):
            earned[(p, prog)] = earned.get((p, prog), 0) - int(t)
        for key in set(earned) | set(payable) | set(in_payment) | set(in_files):
            owed_now = payable.get(key, 0) + in_payment.get(key, 0)
            # what approvals posted = still payable + in payment + paid; the payment files hold exactly the rest
            assert owed_now + paid.get(key, 0) == earned.get(key, 0), key
            assert in_files.get(key, 0) == earned.get(key, 0) - payable.get(key, 0), f"paid twice: {key}"
            assert in_payment.get(key, 0) >= 0, f"more put into payment than owed: {key}"
            # a partner's payable balance goes below zero only by money taken back, never by paying a cent twice
            assert payable.get(key, 0) >= -recoveries.get(key, 0), f"paid more than owed: {key}"
            # paid more than earned only while the partner owes the difference back (a receivable, recovered later)
            assert paid.get(key, 0) <= earned.get(key, 0) + max(0, -payable.get(key, 0)), key

    @invariant()
    def funds_never_spend_past_release_or_total(self):
        if not hasattr(self, "programs"):
            return
        for fund in Fund.objects.select_related("program").filter(program__in=self.programs):
            position = FundPosition(fund)
            assert position.invariant_breaches() == [], fund
            assert fund.spent_minor == position.spent <= fund.total_minor
            # the ledger's unspent budget is the total less what approved runs spent and forfeitures did not give back
            if LedgerEntry.objects.filter(account__fund=fund, account__kind=LedgerAccount.Kind.FUND_SOURCE).exists():
                approved = int(PayoutRun.objects.filter(program=fund.program, kind="final", status__in=[
                    R.APPROVED, R.PAID]).aggregate(s=Sum("spend_minor"))["s"] or 0)
                back = int(Forfeiture.objects.filter(program=fund.program).aggregate(s=Sum("amount_minor"))["s"] or 0)
                source = LedgerEntry.objects.filter(account__fund=fund, account__kind=LedgerAccount.Kind.FUND_SOURCE)
                funded = -int(source.aggregate(s=Sum("amount_minor"))["s"])
                assert self._fund_budget(fund) == funded - approved + back, fund
            with transaction.atomic():
                assert fund_refresh_spent(Fund.objects.select_for_update().get(pk=fund.pk)) == fund.spent_minor

    @invariant()
    def closed_runs_reconcile_and_never_change(self):
        if not hasattr(self, "programs"):
            return
        for run in PayoutRun.objects.filter(kind="final", status__in=[R.APPROVED, R.PAID]):
            failed = [check.label for check in run_reconciliation(run) if not check.ok]
            assert failed == [], (run, failed)
            assert self._lines(run) == self.frozen[run.pk], f"{run} changed after approval"
            assert not PayoutRunMaker.objects.filter(run=run, user=run.approved_by).exists()
            # screening: nothing approved with a flag unreviewed, and a line held on review was not paid
            assert not ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.PENDING).exists()
            held = ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.HELD).values("partner_id")
            assert not EarningLine.objects.filter(run=run, partner_id__in=held).exclude(
                status=EarningLine.Status.HELD).exists()
        assert not Adjustment.objects.filter(decided_by=F("created_by")).exists()


@pytest.mark.django_db
def test_money_keeps_its_invariants_over_any_sequence_of_operations():
    REACHED.clear()
    run_state_machine_as_test(MoneyLifecycle, settings=PROFILE)
    # the sequences went where the money moves: approvals (some carrying a balance in) and payments
    assert REACHED["approved a run"] + REACHED["approved a run carrying in a balance"] >= 5, REACHED
    assert REACHED["paid a run"] >= 1, REACHED
    assert REACHED["held a flagged line"] + REACHED["cleared a flagged line"] >= 1, REACHED
    assert REACHED["forfeited a held line"] >= 1, REACHED

