"""Regressions of issue 11: money across time (DESIGN, "Money across time").

Each test is one scenario that broke the old design — a partner paid twice, a fund's budget spent twice, a recovery
counted as budget given back, money moved on one person's say, a stale or unreconciled run approved — driven through
the real services, with the outcome asserted exactly and, on a refusal, nothing changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import Enrolment, EnrolmentSuspension, Program
from partnerships.services.enrolments import enrolment_reinstate, enrolment_suspend
from partnerships.services.partners import partner_suspend
from payouts import configuration, ledger
from payouts.closing import payout_runs_mark_stale
from payouts.exceptions import (
    ADJUSTMENT_FOUR_EYES,
    ADJUSTMENT_NOT_COVERED,
    AMOUNT_TOO_LARGE,
    COMPUTE_STOPPED,
    FOUR_EYES,
    NOT_RECONCILED,
    RUN_STALE,
    RunRefused,
)
from payouts.funds import FundPosition
from payouts.models import (
    Adjustment,
    AdRevenue,
    EarningLine,
    Fund,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PayoutRun,
    PayoutRunMaker,
    ProgramTerms,
)
from payouts.roles import ensure_group_permissions
from payouts.selectors import payment_rows
from payouts.services import runs as run_services
from payouts.services.adjustments import adjustment_approve, adjustment_create
from payouts.services.runs import payout_run_compute, payout_run_request
from payouts.services.settlement import payout_run_approve, payout_run_cancel, payout_run_mark_paid
from tests.partnerships.factories import DailyMetricFactory, UserFactory
from tests.payouts.factories import MONTH, TrancheFactory, member, paying_program, revenue, video
from tests.payouts.test_settlement import (
    approved_adjustment,
    in_payment_balance,
    ledger_is_balanced,
    payable_balance,
    run_month,
)

pytestmark = pytest.mark.django_db
AUGUST, SEPTEMBER, OCTOBER = MONTH, dt.date(2026, 9, 1), dt.date(2026, 10, 1)
R = PayoutRun.Status
ROLE = dict(PayoutRunMaker.Role.choices)


# --- people and helpers ---------------------------------------------------------------------------------

def finance_approver(username: str):
    user = UserFactory(username=username, groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture
def alice(db):
    return finance_approver("alice")


@pytest.fixture
def bob(db):
    return finance_approver("bob")


@pytest.fixture
def carol(db):
    return finance_approver("carol")


def compute(program, month, actor=None) -> PayoutRun:
    return payout_run_compute(program_id=program.pk, month=month, actor=actor)


def approve(run, actor) -> PayoutRun:
    return payout_run_approve(run_id=run.pk, actor=actor)


def pay(run, actor, reference="BANK") -> PayoutRun:
    return payout_run_mark_paid(run_id=run.pk, actor=actor, reference=f"{reference}-{run.month:%Y-%m}")


def line(run, partner) -> EarningLine:
    return EarningLine.objects.get(run=run, partner=partner)


def lines(run) -> list[tuple]:
    return list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(
        "partner_id", "gross_minor", "adjustments_minor", "carried_in_minor", "withholding_minor", "net_minor",
        "status", "hold_reason"))


def ledger_counts() -> tuple[int, int]:
    return LedgerTransaction.objects.count(), LedgerEntry.objects.count()


def paid_to(partner, program) -> int:
    return EarningLine.objects.filter(partner=partner, run__program=program, status=EarningLine.Status.PAID
                                      ).aggregate(total=Sum("net_minor"))["total"] or 0


def file_amounts(run) -> list[tuple[str, Decimal]]:
    run.refresh_from_db()
    return [(row[0], row[2]) for row in payment_rows(run)]


def file_references(run) -> set[str]:
    run.refresh_from_db()
    return {row[4] for row in payment_rows(run)}


def add_views(partner, day, views):
    DailyMetricFactory(partner=partner, day=day, views=views, qualified_views=views)


def fund_of(program) -> Fund:
    return Fund.objects.get(program=program)


def fund_months(program) -> list[tuple[dt.date, int, int, int]]:
    """(month, spent to date, released to date, total) of every month of the program's fund."""
    fund = fund_of(program)
    return [(row.month, row.spent_to_date, row.released_to_date, fund.total_minor)
            for row in FundPosition(fund).months()]


def refused_as_maker(user, role) -> str:
    return FOUR_EYES.format(user=user, role=ROLE[role])


# --- 1. a partner is never paid twice ----------------------------------------------------------------------

def test_an_approved_unpaid_month_is_not_carried_into_the_next_month_and_is_paid_once(alice, bob):
    # given: August (10,000.00) approved and left unpaid, then September (4,000.00) computed
    program = paying_program(months=1)
    TrancheFactory(fund=fund_of(program), starts_on=SEPTEMBER, ends_on=SEPTEMBER, amount_minor=4_000_00)
    ana = member(program, handle="ana", views=1)
    add_views(ana, SEPTEMBER.replace(day=15), 1)
    august = run_month(program, AUGUST, alice)
    september = compute(program, SEPTEMBER)

    # when: August is paid, then September approved and paid
    pay(august, bob)
    approve(september, alice)
    pay(september, bob)

    # then: ana is paid what she earned, once; nothing is owed or in payment; each payment file has its own month
    assert line(september, ana).carried_in_minor == 0
    assert paid_to(ana, program) == line(august, ana).gross_minor + line(september, ana).gross_minor == 14_000_00
    assert (payable_balance(ana, program), in_payment_balance(ana, program)) == (0, 0)
    assert file_amounts(august) == [("ana", Decimal("10000.00"))]
    assert file_amounts(september) == [("ana", Decimal("4000.00"))]
    assert not file_references(august) & file_references(september)
    assert ledger_is_balanced()


def carried_over_world(alice):
    """A pooled fund of 60.00 a month with a 100.00 minimum payout: ana's approved August (60.00) is carried over,
    then September and October are computed, September first, neither approved."""
    program = paying_program(month_budget=60_00, months=3, min_payout_minor=100_00)
    ana = member(program, handle="ana", views=1)
    for month in (SEPTEMBER, OCTOBER):
        add_views(ana, month.replace(day=15), 1)
    august = run_month(program, AUGUST, alice)
    assert (line(august, ana).status, payable_balance(ana, program)) == ("carried_over", 60_00)
    return program, ana, compute(program, SEPTEMBER), compute(program, OCTOBER)


def test_a_carried_over_balance_is_carried_by_only_one_of_two_computed_runs(alice):
    # given / when: August's 60.00 is carried over, and September then October are computed
    program, ana, september, october = carried_over_world(alice)

    # then: September carries it in, October (computed while September holds it) does not
    assert (line(september, ana).carried_in_minor, line(september, ana).net_minor, line(september, ana).status) == (
        60_00, 120_00, "payable")
    assert (line(october, ana).carried_in_minor, line(october, ana).net_minor, line(october, ana).status) == (
        0, 60_00, "carried_over")


@pytest.mark.parametrize("order", ["september first", "october first"])
def test_approving_and_paying_both_computed_runs_pays_the_carried_balance_once(alice, bob, order):
    # given: September carries August's 60.00; October was computed before September was approved
    program, ana, september, october = carried_over_world(alice)

    # when: both are approved (in either order) and paid
    for run in ([september, october] if order == "september first" else [october, september]):
        approve(run, bob)
    for run in (september, october):
        pay(run, bob)

    # then: 120.00 (August and September) is paid once; October's 60.00 is still owed, under the minimum
    assert paid_to(ana, program) == 120_00
    assert (payable_balance(ana, program), in_payment_balance(ana, program)) == (60_00, 0)
    assert file_amounts(september) == [("ana", Decimal("120.00"))]
    assert file_amounts(october) == []
    assert ledger_is_balanced()


# --- 2. a fund's budget is spent at most once ---------------------------------------------------------------

def sound(program) -> bool:
    return all(spent <= released <= total for _, spent, released, total in fund_months(program))


def test_an_earlier_month_computed_after_a_later_one_took_its_budget_gets_none_of_it(alice):
    # given: a fund releasing 10,000.00 in August and in September, unspent budget rolling over;
    # September is computed and approved first and takes August's unspent 10,000.00 with its own
    program = paying_program(months=2)
    ana = member(program, handle="ana", views=1)
    add_views(ana, SEPTEMBER.replace(day=15), 1)
    september = run_month(program, SEPTEMBER, alice)
    assert september.total_gross_minor == 20_000_00

    # when: August is computed
    august = compute(program, AUGUST)

    # then: August has nothing left to share, and the fund never spends past what it released
    assert (august.status, august.budget_minor, august.total_gross_minor, august.spend_minor) == (R.COMPUTED, 0, 0, 0)
    assert fund_months(program) == [(AUGUST, 0, 10_000_00, 100_000_000_00),
                                    (SEPTEMBER, 20_000_00, 20_000_00, 100_000_000_00)]
    assert sound(program)
    assert fund_of(program).spent_minor == 20_000_00


def test_a_cancelled_month_recomputed_after_the_next_month_spent_its_release_gets_none_of_it(alice, bob):
    # given: August computed then cancelled; September then computed and approved, taking August's release too
    program = paying_program(months=2)
    ana = member(program, handle="ana", views=1)
    add_views(ana, SEPTEMBER.replace(day=15), 1)
    cancelled = compute(program, AUGUST)
    payout_run_cancel(run_id=cancelled.pk, actor=alice, reason="metrics re-delivered")
    september = run_month(program, SEPTEMBER, bob)
    assert september.total_gross_minor == 20_000_00

    # when: August is computed again
    august = compute(program, AUGUST)

    # then: it is a new run that spends nothing: August's release was spent by September
    assert august.pk != cancelled.pk
    assert (august.status, august.budget_minor, august.total_gross_minor, august.spend_minor) == (R.COMPUTED, 0, 0, 0)
    assert fund_months(program) == [(AUGUST, 0, 10_000_00, 100_000_000_00),
                                    (SEPTEMBER, 20_000_00, 20_000_00, 100_000_000_00)]
    assert sound(program)


# --- 3. money a partner owes back is a receivable, never budget -----------------------------------------------

def recovery_world(alice, bob):
    """A fund of 20,000.00 released 10,000.00 a month. August: ana and ben earn 5,000.00 each, but ana has an
    approved -15,000.00 correction, so she ends owing 10,000.00. Only ben has views in September."""
    program = paying_program(months=2, fund_total=20_000_00)
    ana = member(program, handle="ana", views=1)
    ben = member(program, handle="ben", views=1)
    add_views(ben, SEPTEMBER.replace(day=15), 1)
    approved_adjustment(partner=ana, program=program, amount_minor=-15_000_00, reason="Invalid traffic",
                        maker=alice, checker=bob)
    return program, ana, ben


def test_a_recovery_larger_than_the_month_does_not_lower_the_runs_or_the_funds_spend(alice, bob, carol):
    # given: ana's -15,000.00 correction exceeds her 5,000.00 of August
    program, ana, ben = recovery_world(alice, bob)

    # when: August is computed and approved
    august = run_month(program, AUGUST, carol)

    # then: ana owes 10,000.00 (a receivable); the fund spent ben's 5,000.00, not 5,000.00 − 10,000.00
    assert (line(august, ana).gross_minor, line(august, ana).adjustments_minor, line(august, ana).net_minor) == (
        5_000_00, -15_000_00, -10_000_00)
    assert (august.spend_minor, fund_of(program).spent_minor) == (5_000_00, 5_000_00)
    assert payable_balance(ana, program) == -10_000_00
    receivable = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.FUND_RECEIVABLE)
    assert receivable.aggregate(total=Sum("amount_minor"))["total"] == 10_000_00


def test_a_recovery_does_not_grow_the_next_months_budget(alice, bob, carol):
    # given: August approved with ana owing 10,000.00
    program, ana, ben = recovery_world(alice, bob)
    run_month(program, AUGUST, carol)

    # when: September is computed
    september = compute(program, SEPTEMBER)

    # then: its budget is what was released and not spent (20,000.00 − 5,000.00), not grown by ana's debt
    assert (september.budget_minor, september.total_gross_minor, september.spend_minor) == (
        15_000_00, 15_000_00, 15_000_00)
    assert (line(september, ana).carried_in_minor, line(september, ana).net_minor, line(september, ana).status) == (
        -10_000_00, -10_000_00, "carried_over")
    assert sound(program)


def test_a_fund_never_pays_out_more_cash_than_its_total_while_a_partner_owes(alice, bob, carol):
    # given: August approved with ana owing 10,000.00
    program, ana, ben = recovery_world(alice, bob)
    august = run_month(program, AUGUST, carol)

    # when: August and September are paid
    pay(august, carol)
    september = run_month(program, SEPTEMBER, carol)
    pay(september, carol)

    # then: the paid lines total at most the fund's 20,000.00: ben 5,000.00 + 15,000.00, ana nothing
    paid = EarningLine.objects.filter(run__program=program, status=EarningLine.Status.PAID)
    assert paid.aggregate(total=Sum("net_minor"))["total"] == 20_000_00 <= fund_of(program).total_minor
    assert (paid_to(ana, program), paid_to(ben, program)) == (0, 20_000_00)
    assert payable_balance(ana, program) == -10_000_00
    assert ledger_is_balanced()


# --- 4. a fund's total never falls below what it spent --------------------------------------------------------

def spent_fund(alice) -> Fund:
    program = paying_program(fund_total=50_000_00)
    member(program, handle="ana", views=1)
    run_month(program, AUGUST, alice)
    fund = fund_of(program)
    assert fund.spent_minor == 10_000_00
    return fund


def test_fund_update_refuses_a_total_below_what_was_spent_and_changes_nothing(alice, bob):
    # given: a fund of 50,000.00 whose approved August spent 10,000.00
    fund = spent_fund(alice)
    versions = fund.history.count()

    # when: someone lowers the total to 9,999.99
    with pytest.raises(configuration.ConfigurationRefused) as refusal:
        configuration.fund_update(fund_id=fund.pk, actor=bob, reason="budget cut", total_minor=9_999_99)

    # then: refused, in money, and nothing changed
    assert str(refusal.value) == configuration.FUND_TOTAL_BELOW_SPENT.format(
        fund=fund.name, total="9,999.99 USD", spent="10,000.00 USD")
    fund.refresh_from_db()
    assert (fund.total_minor, fund.spent_minor, fund.history.count()) == (50_000_00, 10_000_00, versions)


def test_the_database_refuses_a_fund_total_below_what_was_spent(alice):
    # given: a fund whose approved August spent 10,000.00
    fund = spent_fund(alice)

    # when: an update bypasses the services
    with pytest.raises(IntegrityError, match="fund_total_covers_spend"), transaction.atomic():
        Fund.objects.filter(pk=fund.pk).update(total_minor=9_999_99)

    # then: the total is unchanged
    fund.refresh_from_db()
    assert fund.total_minor == 50_000_00



def test_moving_a_tranche_away_from_a_month_that_spent_it_is_refused(alice, bob):
    # given: a tranche releasing 10,000.00 in August and in September; August approved, spending its 10,000.00
    program = paying_program(months=2)
    member(program, handle="ana", views=1)
    run_month(program, AUGUST, alice)
    fund = fund_of(program)
    tranche = fund.tranches.get()

    # when: the tranche is moved to September and October (same amount: the fund's releases still cover its spend)
    with pytest.raises(configuration.ConfigurationRefused):
        configuration.tranche_save(fund_id=fund.pk, actor=bob, reason="budget moved", tranche_id=tranche.pk,
                                   starts_on=SEPTEMBER, ends_on=OCTOBER, amount_minor=20_000_00)

    # then: refused (August would have spent 10,000.00 of nothing released); the tranche and the fund are as they were
    tranche.refresh_from_db()
    assert (tranche.starts_on, tranche.ends_on, tranche.amount_minor) == (AUGUST, SEPTEMBER, 20_000_00)
    assert FundPosition(fund_of(program)).invariant_breaches() == []

# --- 5. a positive adjustment the fund cannot cover waits; it fails nobody's run ------------------------------

def uncovered_bonus_world(alice, bob):
    """A 10,000.00 August shared by ana and ben; ana has an approved +50,000.00 bonus."""
    program = paying_program(months=1)
    ana = member(program, handle="ana", views=1)
    ben = member(program, handle="ben", views=1)
    bonus = approved_adjustment(partner=ana, program=program, amount_minor=50_000_00, reason="Missed payment",
                                maker=alice, checker=bob)
    return program, ana, ben, bonus


def test_an_adjustment_larger_than_the_budget_is_held_and_the_others_are_paid(alice, bob, carol):
    # given: ana's +50,000.00 bonus, with 10,000.00 of budget in August
    program, ana, ben, bonus = uncovered_bonus_world(alice, bob)

    # when: August is computed, approved and paid
    august = run_month(program, AUGUST, carol)
    pay(august, carol)

    # then: the month is shared as if there were no bonus; the bonus waits, saying why
    august.refresh_from_db()
    assert (august.status, august.total_gross_minor, august.total_adjustments_minor) == (R.PAID, 10_000_00, 0)
    assert (paid_to(ana, program), paid_to(ben, program)) == (5_000_00, 5_000_00)
    bonus.refresh_from_db()
    assert bonus.applied_run is None
    assert bonus.held_reason == ADJUSTMENT_NOT_COVERED.format(run=august, available="10,000.00 USD")


def test_a_held_adjustment_is_applied_by_a_later_month_with_budget(alice, bob, carol):
    # given: ana's bonus held by August; September releases 60,000.00
    program, ana, ben, bonus = uncovered_bonus_world(alice, bob)
    run_month(program, AUGUST, carol)
    TrancheFactory(fund=fund_of(program), starts_on=SEPTEMBER, ends_on=SEPTEMBER, amount_minor=60_000_00)
    for partner in (ana, ben):
        add_views(partner, SEPTEMBER.replace(day=15), 1)

    # when: September is computed
    september = compute(program, SEPTEMBER)

    # then: the bonus takes 50,000.00 of it and the other 10,000.00 is shared
    bonus.refresh_from_db()
    assert (bonus.applied_run_id, bonus.held_reason) == (september.pk, "")
    assert (september.budget_minor, september.spend_minor) == (10_000_00, 60_000_00)
    assert (line(september, ana).gross_minor, line(september, ana).adjustments_minor) == (5_000_00, 50_000_00)
    assert (line(september, ben).gross_minor, line(september, ben).adjustments_minor) == (5_000_00, 0)


# --- 6. late inputs: a computed month goes stale and cannot be approved until computed again ------------------

METRICS_HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]


def load_late_metrics(tmp_path, rows, django_capture_on_commit_callbacks) -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([METRICS_HEADER, *rows])
    path = tmp_path / "late.csv"
    path.write_text(buffer.getvalue())
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(kind=ImportJob.Kind.METRICS, source_name="late.csv", file_path=str(path))
        return daily_metrics_ingest(job_id=job.pk)


@pytest.fixture
def stale_august(settings, tmp_path, eager, django_capture_on_commit_callbacks):
    """August computed with ana 3 views and ben 1, then a late file adds 2 views for ben."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    program = paying_program()
    ana = member(program, handle="ana", views=3)
    ben = member(program, handle="ben", views=1)
    august = compute(program, AUGUST)
    job = load_late_metrics(tmp_path, [["ben", "2026-08-20", 2, 2, 0, 0, 0, 100, 1]],
                            django_capture_on_commit_callbacks)
    assert (job.status, job.rows_loaded) == ("succeeded", 1)
    august.refresh_from_db()
    return program, ana, ben, august


def test_a_stale_run_cannot_be_approved_and_nothing_is_posted(stale_august, alice):
    # given: August computed, then a late metric for ben
    program, ana, ben, august = stale_august
    assert august.stale_reason.startswith("daily metrics for 1 partner loaded on")
    before = lines(august)

    # when: it is approved
    with pytest.raises(RunRefused) as refusal:
        approve(august, alice)

    # then: refused as stale, nothing posted, the run as it was
    assert str(refusal.value) == RUN_STALE.format(run=august, reason=august.stale_reason)
    august.refresh_from_db()
    assert (august.status, august.approved_by) == (R.COMPUTED, None)
    assert ledger_counts() == (0, 0)
    assert lines(august) == before


def test_computing_a_stale_run_again_clears_it_with_the_late_input_and_it_can_be_approved(stale_august, alice):
    # given: August stale after a late metric for ben
    program, ana, ben, august = stale_august

    # when: the scheduler computes the month again, then it is approved
    recomputed = compute(program, AUGUST)
    approve(recomputed, alice)

    # then: the same run, computed with ben's late views (3 : 3), is approved
    recomputed.refresh_from_db()
    assert (recomputed.pk, recomputed.stale_reason, recomputed.status) == (august.pk, "", R.APPROVED)
    assert (line(recomputed, ana).gross_minor, line(recomputed, ben).gross_minor) == (5_000_00, 5_000_00)
    assert (in_payment_balance(ana, program), in_payment_balance(ben, program)) == (5_000_00, 5_000_00)



def test_a_terms_change_committed_while_the_month_computes_is_applied_or_makes_the_run_stale(alice, monkeypatch):
    # given: a worker computing August when alice's change of the pool share (100% → 50%) commits, and the
    # change's after-commit hook marks the program's computed runs stale at that moment
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    fill = run_services._fill

    def fill_while_terms_change(run, program_, terms, fund):
        configuration.terms_update(terms_id=terms.pk, actor=alice, reason="half the pool", pool_share=Decimal("0.5"))
        payout_runs_mark_stale(program_id=program.pk, reason="Money terms changed by alice: half the pool")
        return fill(run, program_, terms, fund)

    monkeypatch.setattr(run_services, "_fill", fill_while_terms_change)

    # when: the worker finishes August
    august = compute(program, AUGUST)

    # then: the run either pays by the new terms or is stale (it cannot be approved on the old ones)
    assert (line(august, ana).gross_minor == 5_000_00) or august.stale_reason

# --- 7. exact arithmetic on both databases -------------------------------------------------------------------

def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_a_revenue_share_past_a_64_bit_product_is_exact_or_refused_never_off_by_one():
    # given: 1,000,000,000,000.01 USD of ad revenue at 50%: revenue × rate × 10**6 passes 2**63
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, fund_total=10**15,
                             revenue_share_rate=Decimal("0.5"))
    amount = 10**14 + 1
    ana = member(program, handle="ana")
    revenue(ana, amount)
    assert amount * 500_000 > 2**63

    # when: August is computed
    run = compute(program, AUGUST)

    # then: either the exact half-even share (500,000,000,000.005 USD → …0.00) or a failed run with no line
    if run.status == R.COMPUTED:
        assert line(run, ana).gross_minor == half_even(Decimal(amount) * Decimal("0.5")) == 5 * 10**13
        assert run.total_gross_minor == 5 * 10**13
    else:
        assert (run.status, run.error, EarningLine.objects.filter(run=run).count()) == (
            R.FAILED, AMOUNT_TOO_LARGE.format(run=run, limit=f"{2**63 - 1:,}"), 0)
        assert (run.spend_minor, fund_of(program).spent_minor) == (0, 0)


def test_withholding_on_a_very_large_gross_is_exact():
    # given: a grant of 300,000,000,000.07 USD a month, withheld at 33.3333%: gross × rate × 10**6 passes 2**63
    grant = 3 * 10**13 + 7
    program = paying_program(Program.Archetype.GRANT, month_budget=grant, fund_total=10**14,
                             grant_monthly_minor=grant, withholding_rate=Decimal("0.333333"))
    ana = member(program, handle="ana")
    assert grant * 333_333 > 2**63

    # when: August is computed
    run = compute(program, AUGUST)

    # then: the withholding is what Decimal arithmetic gives, half to even
    withheld = half_even(Decimal(grant) * Decimal("0.333333"))
    assert run.status == R.COMPUTED, run.error
    assert (line(run, ana).gross_minor, line(run, ana).withholding_minor, line(run, ana).net_minor) == (
        grant, withheld, grant - withheld)




def test_a_line_past_the_largest_stored_amount_fails_the_run_and_writes_nothing():
    # given: two days of 5,000,000,000,000,000,000 minor units of ad revenue at 100%: the month's line passes 2**63 − 1
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, fund_total=2**63 - 1,
                             revenue_share_rate=Decimal("1"))
    ana = member(program, handle="ana")
    for day in (10, 11):
        revenue(ana, 5 * 10**18, day=AUGUST.replace(day=day))

    # when: August is computed
    run = compute(program, AUGUST)

    # then: the run failed with the reason, no line was written and the fund spends nothing
    assert (run.status, run.error, EarningLine.objects.filter(run=run).count()) == (
        R.FAILED, AMOUNT_TOO_LARGE.format(run=run, limit=f"{2**63 - 1:,}"), 0)
    assert (run.spend_minor, fund_of(program).spent_minor) == (0, 0)

def test_a_run_that_stops_on_any_unexpected_error_ends_failed_with_the_reason_and_can_be_computed_again(
        monkeypatch):
    # given: a month whose computation raises an error nobody planned for, after writing some of its lines
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    fill = run_services._fill

    def fill_then_break(run, program_, terms, fund):
        fill(run, program_, terms, fund)
        raise ZeroDivisionError("a formula divided by zero")

    monkeypatch.setattr(run_services, "_fill", fill_then_break)

    # when: August is computed
    run = compute(program, AUGUST)

    # then: the run is failed (not left computing) with the error named, and nothing of it was kept
    assert (run.status, run.error, EarningLine.objects.filter(run=run).count()) == (
        R.FAILED, COMPUTE_STOPPED.format(error="ZeroDivisionError: a formula divided by zero"), 0)
    run.refresh_from_db()
    assert (run.status, run.spend_minor, fund_of(program).spent_minor) == (R.FAILED, 0, 0)

    # when: the cause is gone and the month is computed again
    monkeypatch.setattr(run_services, "_fill", fill)
    again = compute(program, AUGUST)

    # then: the same run is computed
    assert (again.pk, again.status, again.error) == (run.pk, R.COMPUTED, "")
    assert line(again, ana).gross_minor > 0


def test_a_tier_rate_finer_than_a_millionth_is_refused_or_applied_exactly(alice):
    # given: the revenue share's single tier set to 50.00005% (seven decimals) through the configuration service
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None)
    ana = member(program, handle="ana")
    revenue(ana, 100_000_00)
    try:
        configuration.terms_update(terms_id=ProgramTerms.objects.get(program=program).pk, actor=alice,
                                   reason="new rate", revenue_tiers=[{"up_to_minor": None, "rate": "0.5000005"}])
    except configuration.ConfigurationRefused:
        # then (either): the rate is refused and the terms keep their single open tier
        assert ProgramTerms.objects.get(program=program).revenue_tiers == []
        return

    # when: August is computed
    august = compute(program, AUGUST)

    # then (or): 100,000.00 × 0.5000005 = 50,000.05 exactly, never the rate cut to six decimals (50,000.00)
    assert line(august, ana).gross_minor == half_even(Decimal(100_000_00) * Decimal("0.5000005")) == 50_000_05


def test_a_rate_per_mille_finer_than_the_computation_is_refused_or_applied_exactly(alice):
    # given: a rate of 0.123456 USD per 1,000 views set through the configuration service; one video, 10,000,000 views
    program = paying_program(Program.Archetype.RATE_PER_MILLE, month_budget=100_000_00, rpm_by_country={"*": "1.00"})
    ana = member(program, handle="ana")
    video(ana, views=10_000_000)
    try:
        configuration.terms_update(terms_id=ProgramTerms.objects.get(program=program).pk, actor=alice,
                                   reason="new rate", rpm_by_country={"*": "0.123456"})
    except configuration.ConfigurationRefused:
        # then (either): the rate is refused and the terms keep the old one
        assert ProgramTerms.objects.get(program=program).rpm_by_country == {"*": "1.00"}
        return

    # when: August is computed
    august = compute(program, AUGUST)

    # then (or): 10,000,000 / 1,000 × 0.123456 = 1,234.56 exactly, not 1,234.60
    assert line(august, ana).gross_minor == half_even(Decimal(10_000_000) / 1000 * Decimal("0.123456") * 100) == (
        1_234_56)

# --- 8. four eyes on every money input -------------------------------------------------------------------------

def test_an_adjustments_creator_cannot_approve_it(alice):
    # given: alice records a correction
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    adjustment = adjustment_create(partner_id=ana.pk, program_id=program.pk, amount_minor=5_000_00,
                                            reason="Missed payment", actor=alice)

    # when: alice approves it
    with pytest.raises(RunRefused) as refusal:
        adjustment_approve(adjustment_id=adjustment.pk, actor=alice)

    # then: refused, and it still waits for someone else
    assert str(refusal.value) == ADJUSTMENT_FOUR_EYES.format(user=alice)
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decided_by, adjustment.decided_at) == (Adjustment.Status.PENDING, None, None)


def test_a_pending_adjustment_is_not_applied_by_a_run(alice):
    # given: a correction nobody has approved yet
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    adjustment = adjustment_create(partner_id=ana.pk, program_id=program.pk, amount_minor=5_000_00,
                                            reason="Missed payment", actor=alice)

    # when: August is computed
    august = compute(program, AUGUST)

    # then: the run does not apply it
    assert (line(august, ana).gross_minor, line(august, ana).adjustments_minor) == (10_000_00, 0)
    assert (august.total_adjustments_minor, august.spend_minor) == (0, 10_000_00)
    adjustment.refresh_from_db()
    assert (adjustment.applied_run, adjustment.status) == (None, Adjustment.Status.PENDING)


def assert_refused_to(user, run, role) -> None:
    """``user`` cannot approve ``run`` as one of its makers, and the refusal changes nothing."""
    run.refresh_from_db()
    before, counts = lines(run), ledger_counts()
    with pytest.raises(RunRefused) as refusal:
        approve(run, user)
    assert str(refusal.value) == refused_as_maker(user, role)
    run.refresh_from_db()
    assert (run.status, run.approved_by, run.approved_at) == (R.COMPUTED, None, None)
    assert (ledger_counts(), lines(run)) == (counts, before)


def test_who_started_a_run_cannot_approve_it(alice):
    # given: alice computes August
    program = paying_program()
    member(program, handle="ana", views=1)
    august = compute(program, AUGUST, actor=alice)

    # when / then: alice's approval is refused
    assert_refused_to(alice, august, PayoutRunMaker.Role.STARTED)


def test_who_asked_to_compute_a_failed_run_again_cannot_approve_it(bob, eager,
                                                                    django_capture_on_commit_callbacks):
    # given: the scheduler's August failed (its share would overdraw a 1,000.00 fund); the revenue is corrected
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, fund_total=1_000_00)
    ana = member(program, handle="ana")
    row = revenue(ana, 10_000_00)
    failed = compute(program, AUGUST)
    assert failed.status == R.FAILED
    AdRevenue.objects.filter(pk=row.pk).update(amount_minor=1_000_00)

    # when: bob asks for it to be computed again (a worker computes it)
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_request(program_id=program.pk, month=AUGUST, actor=bob)
    failed.refresh_from_db()
    assert (failed.status, line(failed, ana).gross_minor) == (R.COMPUTED, 500_00)

    # then: bob cannot approve it
    assert_refused_to(bob, failed, PayoutRunMaker.Role.RECOMPUTED)


def test_who_asked_to_compute_a_stale_run_again_cannot_approve_it(bob, eager,
                                                                   django_capture_on_commit_callbacks):
    # given: the scheduler's August, stale
    program = paying_program()
    member(program, handle="ana", views=1)
    august = compute(program, AUGUST)
    payout_runs_mark_stale(program_id=program.pk, month=AUGUST, reason="late metrics")

    # when: bob asks for it to be computed again
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_request(program_id=program.pk, month=AUGUST, actor=bob)
    august.refresh_from_db()
    assert (august.status, august.stale_reason) == (R.COMPUTED, "")

    # then: bob cannot approve it
    assert_refused_to(bob, august, PayoutRunMaker.Role.RECOMPUTED)


def test_who_created_an_adjustment_a_run_applies_cannot_approve_the_run(alice, bob):
    # given: alice's +500.00 correction, approved by bob, applied by the scheduler's August
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    approved_adjustment(partner=ana, program=program, amount_minor=500_00, reason="Missed payment", maker=alice,
                        checker=bob)
    august = compute(program, AUGUST)
    assert line(august, ana).adjustments_minor == 500_00

    # when / then: alice's approval is refused
    assert_refused_to(alice, august, PayoutRunMaker.Role.ADJUSTMENT)


CONFIGURATION_CHANGES = {
    "terms": lambda program, actor: configuration.terms_update(
        terms_id=ProgramTerms.objects.get(program=program).pk, actor=actor, reason="new minimum",
        min_payout_minor=1_00),
    "fund": lambda program, actor: configuration.fund_update(
        fund_id=fund_of(program).pk, actor=actor, reason="top-up", total_minor=200_000_000_00),
    "tranches": lambda program, actor: configuration.tranche_save(
        fund_id=fund_of(program).pk, actor=actor, reason="September budget", starts_on=SEPTEMBER,
        ends_on=SEPTEMBER, amount_minor=1_000_00),
}


@pytest.mark.parametrize("change", list(CONFIGURATION_CHANGES))
def test_who_changed_the_configuration_a_run_applies_cannot_approve_it(alice, change):
    # given: alice changes the program's terms, fund or tranches; the scheduler then computes August
    program = paying_program()
    member(program, handle="ana", views=1)
    CONFIGURATION_CHANGES[change](program, alice)
    august = compute(program, AUGUST)

    # when / then: alice's approval is refused
    assert_refused_to(alice, august, PayoutRunMaker.Role.TERMS)


def test_a_configuration_change_reviewed_by_an_earlier_approval_does_not_block_its_author(alice, bob):
    # given: alice changed the terms before August, which bob approved; the scheduler then computes September
    program = paying_program(months=2)
    ana = member(program, handle="ana", views=1)
    add_views(ana, SEPTEMBER.replace(day=15), 1)
    CONFIGURATION_CHANGES["terms"](program, alice)
    run_month(program, AUGUST, bob)
    september = compute(program, SEPTEMBER)

    # when: alice approves September
    approve(september, alice)

    # then: it is approved: no change since the last approved run
    september.refresh_from_db()
    assert (september.status, september.approved_by) == (R.APPROVED, alice)


def test_cancelling_and_letting_the_scheduler_recompute_does_not_launder_ones_own_adjustment(alice, bob):
    # given: the scheduler's August; alice records +5,000.00 for ana, bob approves it (August goes stale),
    # alice cancels August and the scheduler computes it again, applying the bonus
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    first = compute(program, AUGUST)
    bonus = approved_adjustment(partner=ana, program=program, amount_minor=5_000_00, reason="Bonus", maker=alice,
                                checker=bob)
    payout_run_cancel(run_id=first.pk, actor=alice, reason="recompute with the bonus")
    august = compute(program, AUGUST)
    bonus.refresh_from_db()
    assert (august.pk != first.pk, august.started_by, bonus.applied_run_id) == (True, None, august.pk)

    # when / then: alice's approval is refused
    assert_refused_to(alice, august, PayoutRunMaker.Role.ADJUSTMENT)


def test_who_asked_to_compute_a_stalled_scheduler_run_again_cannot_approve_it(bob, carol, eager,
                                                                               django_capture_on_commit_callbacks):
    # given: a scheduler's August left computing by a dead worker
    program = paying_program()
    member(program, handle="ana", views=1)
    stalled = PayoutRun.objects.create(program=program, month=AUGUST, kind=PayoutRun.Kind.FINAL, currency="USD",
                                       as_of=dt.date(2026, 8, 31), status=R.COMPUTING,
                                       started_at=timezone.now() - dt.timedelta(hours=1))

    # when: bob uses "Compute again"
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_request(program_id=program.pk, month=AUGUST, actor=bob)
    stalled.refresh_from_db()
    assert (stalled.status, stalled.started_by) == (R.COMPUTED, None)

    # then: bob cannot approve it; carol can
    assert_refused_to(bob, stalled, PayoutRunMaker.Role.RECOMPUTED)
    approve(stalled, carol)
    stalled.refresh_from_db()
    assert (stalled.status, stalled.approved_by) == (R.APPROVED, carol)


# --- 9. suspensions -------------------------------------------------------------------------------------------

def suspend_membership(partner, program, manager, *, starts_on, ends_on=None) -> None:
    """Suspend (and reinstate, when ``ends_on``) through the services, then date the suspension in August."""
    enrolment = Enrolment.objects.get(partner=partner, program=program)
    enrolment_suspend(enrolment_id=enrolment.pk, actor=manager, reason="review")
    if ends_on is not None:
        enrolment_reinstate(enrolment_id=enrolment.pk, actor=manager, reason="cleared")
    assert EnrolmentSuspension.objects.filter(enrolment=enrolment).update(starts_on=starts_on, ends_on=ends_on) == 1


def test_a_membership_suspended_mid_month_earns_only_on_its_live_days(manager):
    # given: ana has views every few days of August, suspended on the 10th and reinstated on the 20th; ben has 3
    program = paying_program()
    ana = member(program, handle="ana")
    for day, views in ((9, 1), (10, 100), (15, 100), (19, 100), (20, 1), (31, 1)):
        add_views(ana, AUGUST.replace(day=day), views)
    ben = member(program, handle="ben", views=3)
    suspend_membership(ana, program, manager, starts_on=AUGUST.replace(day=10), ends_on=AUGUST.replace(day=20))

    # when: August is computed
    august = compute(program, AUGUST)

    # then: ana's views of the 9th, 20th and 31st count (3), those of the 10th to the 19th do not
    assert (line(august, ana).basis_value, line(august, ana).gross_minor) == (3, 5_000_00)
    assert (line(august, ben).basis_value, line(august, ben).gross_minor) == (3, 5_000_00)


def test_a_suspended_partners_line_is_held(manager):
    # given: ana is suspended as a partner (her membership stays approved)
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    partner_suspend(partner_id=ana.pk, actor=manager, reason="fraud review")

    # when: August is computed
    august = compute(program, AUGUST)

    # then: she earned her share, held
    assert (line(august, ana).gross_minor, line(august, ana).status, line(august, ana).hold_reason) == (
        10_000_00, "held", "partner suspended")
    assert august.total_payable_minor == 0


def test_a_grant_member_suspended_on_the_months_last_day_gets_no_grant(manager):
    # given: a 1,000.00 monthly grant; ana's membership is suspended on 31 August only (reinstated 1 September)
    program = paying_program(Program.Archetype.GRANT, grant_monthly_minor=1_000_00)
    ana = member(program, handle="ana")
    ben = member(program, handle="ben")
    suspend_membership(ana, program, manager, starts_on=dt.date(2026, 8, 31), ends_on=SEPTEMBER)

    # when: August is computed
    august = compute(program, AUGUST)

    # then: only ben receives the grant
    assert list(EarningLine.objects.filter(run=august).values_list("partner_id", "gross_minor")) == [
        (ben.pk, 1_000_00)]
    assert not EarningLine.objects.filter(run=august, partner=ana).exists()



def test_a_grant_member_reinstated_before_the_months_last_day_gets_the_grant(manager):
    # given: a 1,000.00 monthly grant; ana's membership was suspended from 10 to 30 August (reinstated on the 30th)
    program = paying_program(Program.Archetype.GRANT, grant_monthly_minor=1_000_00)
    ana = member(program, handle="ana")
    suspend_membership(ana, program, manager, starts_on=AUGUST.replace(day=10), ends_on=AUGUST.replace(day=30))

    # when: August is computed
    august = compute(program, AUGUST)

    # then: she receives the whole grant
    assert list(EarningLine.objects.filter(run=august).values_list("partner_id", "gross_minor")) == [
        (ana.pk, 1_000_00)]

# --- 10. reconciliation gates approval and payment -------------------------------------------------------------

def move_away(partner, program, kind, amount) -> None:
    """A correcting ledger transaction moving ``amount`` off the partner's account of ``kind`` (paid by hand)."""
    account = LedgerAccount.objects.get(kind=kind, partner=partner, program=program)
    paid_out = ledger.fund_account(fund_of(program), LedgerAccount.Kind.PAID_OUT)
    ledger.post_pairs(key=f"manual:{account.pk}:{amount}", description="paid by hand",
                      pairs=[(account.pk, -amount), (paid_out.pk, amount)])


def test_approving_a_run_whose_carried_in_balance_left_the_ledger_is_refused(alice, bob):
    # given: September carries in ana's 60.00 from August; then finance moves that balance off her payable account
    program, ana, september, _october = carried_over_world(alice)
    move_away(ana, program, LedgerAccount.Kind.PARTNER_PAYABLE, 60_00)
    before, counts = lines(september), ledger_counts()

    # when: September is approved
    with pytest.raises(RunRefused) as refusal:
        approve(september, bob)

    # then: refused as unreconciled; nothing posted, the run as it was
    assert str(refusal.value) == NOT_RECONCILED.format(action="approve", run=september, checks=(
        "Lines carrying in a balance the ledger no longer holds (or another run carries) (expected 0, found 1)"))
    september.refresh_from_db()
    assert (september.status, september.approved_by) == (R.COMPUTED, None)
    assert (ledger_counts(), lines(september)) == (counts, before)


def test_approving_a_run_that_recovers_a_debt_no_longer_in_the_ledger_is_refused(alice, bob, carol):
    # given: ana owes 500.00 after August; September carries the debt in; then finance writes the debt off
    program = paying_program(months=2)
    ana = member(program, handle="ana", views=1)
    add_views(ana, SEPTEMBER.replace(day=15), 1)
    approved_adjustment(partner=ana, program=program, amount_minor=-10_500_00, reason="Chargeback", maker=alice,
                        checker=bob)
    run_month(program, AUGUST, carol)
    assert payable_balance(ana, program) == -500_00
    september = compute(program, SEPTEMBER)
    assert line(september, ana).carried_in_minor == -500_00
    receivable = ledger.fund_account(fund_of(program), LedgerAccount.Kind.FUND_RECEIVABLE)
    payable = LedgerAccount.objects.get(kind=LedgerAccount.Kind.PARTNER_PAYABLE, partner=ana, program=program)
    ledger.post_pairs(key="write-off", description="debt written off",
                      pairs=[(payable.pk, 500_00), (receivable.pk, -500_00)])
    before, counts = lines(september), ledger_counts()

    # when: September is approved
    with pytest.raises(RunRefused):
        approve(september, carol)

    # then: refused; nothing posted, the run as it was
    september.refresh_from_db()
    assert september.status == R.COMPUTED
    assert (ledger_counts(), lines(september)) == (counts, before)


def test_paying_a_run_whose_in_payment_balance_left_the_ledger_is_refused(alice, bob):
    # given: August approved (ana's 10,000.00 in payment); then finance moves it off her in-payment account
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    august = run_month(program, AUGUST, alice)
    move_away(ana, program, LedgerAccount.Kind.PARTNER_IN_PAYMENT, 10_000_00)
    before, counts = lines(august), ledger_counts()

    # when: August is marked paid
    with pytest.raises(RunRefused) as refusal:
        pay(august, bob)

    # then: refused as unreconciled; nothing posted, the run and its lines as they were
    assert str(refusal.value) == NOT_RECONCILED.format(action="mark paid", run=august, checks=(
        "Payable lines no longer covered by the partner's in-payment balance (expected 0, found 1)"))
    august.refresh_from_db()
    assert (august.status, august.paid_by, august.payment_reference) == (R.APPROVED, None, "")
    assert (ledger_counts(), lines(august)) == (counts, before)
    assert not LedgerTransaction.objects.filter(key=f"run:{august.pk}:pay").exists()


def test_a_partner_held_after_computing_cannot_be_approved_into_payment(alice, manager):
    # given: August computed with ana payable; then ana is suspended as a partner
    program = paying_program()
    ana = member(program, handle="ana", views=1)
    august = compute(program, AUGUST)
    partner_suspend(partner_id=ana.pk, actor=manager, reason="fraud review")
    before, counts = lines(august), ledger_counts()

    # when: August is approved
    with pytest.raises(RunRefused) as refusal:
        approve(august, alice)

    # then: refused as unreconciled (her line would be paid while she is held); nothing posted
    assert str(refusal.value) == NOT_RECONCILED.format(action="approve", run=august, checks=(
        "Payable lines whose partner is now held (expected 0, found 1)"))
    august.refresh_from_db()
    assert august.status == R.COMPUTED
    assert (ledger_counts(), lines(august)) == (counts, before)
