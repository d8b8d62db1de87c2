"""From computed lines to money owed and paid: approval, the ledger, carry-over, holds and corrections."""

import datetime as dt

import pytest
from django.db.models import Sum

from partnerships.models import Partner
from payouts.exceptions import NotPermitted, RunRefused
from payouts.models import Adjustment, EarningLine, LedgerAccount, LedgerEntry, LedgerTransaction, PayoutRun
from payouts.months import program_today
from payouts.services.adjustments import adjustment_approve, adjustment_create
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import _fund_post_total, payout_run_approve, payout_run_cancel, payout_run_mark_paid
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = pytest.mark.django_db
SEPTEMBER, OCTOBER = dt.date(2026, 9, 1), dt.date(2026, 10, 1)


def ledger_is_balanced() -> bool:
    per_transaction = LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor"))
    return all(row["total"] == 0 for row in per_transaction) and (
        LedgerEntry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0) == 0


def payable_balance(partner, program) -> int:
    return LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PARTNER_PAYABLE, account__partner=partner,
                                      account__program=program).aggregate(t=Sum("amount_minor"))["t"] or 0


def in_payment_balance(partner, program) -> int:
    return LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PARTNER_IN_PAYMENT, account__partner=partner,
                                      account__program=program).aggregate(t=Sum("amount_minor"))["t"] or 0


def approved_adjustment(*, partner, program, amount_minor, reason, maker, checker) -> Adjustment:
    """An adjustment recorded by one finance approver and approved by another (four eyes)."""
    adjustment = adjustment_create(partner_id=partner.pk, program_id=program.pk, amount_minor=amount_minor,
                                            reason=reason, actor=maker)
    return adjustment_approve(adjustment_id=adjustment.pk, actor=checker)


def run_month(program, month, approver, actor=None):
    run = payout_run_compute(program_id=program.pk, month=month, actor=actor)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    payout_run_approve(run_id=run.pk, actor=approver)
    return run


def line(run, partner) -> EarningLine:
    return EarningLine.objects.get(run=run, partner=partner)


def test_approve_then_pay_moves_money_through_the_ledger(approver):
    program = paying_program(months=1)
    a = member(program, handle="a", views=3)
    b = member(program, handle="b", views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)

    payout_run_approve(run_id=run.pk, actor=approver)
    # Approval posts what each partner earned, then moves it from payable into payment: no later run carries it.
    assert (payable_balance(a, program), in_payment_balance(a, program)) == (0, 7_500_00)
    assert (payable_balance(b, program), in_payment_balance(b, program)) == (0, 2_500_00)
    assert ledger_is_balanced()

    payout_run_mark_paid(run_id=run.pk, actor=approver, reference="BATCH-2026-08")
    run.refresh_from_db()
    assert (run.status, run.payment_reference, run.paid_by) == (PayoutRun.Status.PAID, "BATCH-2026-08", approver)
    assert payable_balance(a, program) == payable_balance(b, program) == 0
    assert in_payment_balance(a, program) == in_payment_balance(b, program) == 0
    assert set(EarningLine.objects.filter(run=run).values_list("status", flat=True)) == {"paid"}
    paid_out = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PAID_OUT).aggregate(t=Sum("amount_minor"))
    assert paid_out["t"] == 10_000_00
    assert ledger_is_balanced()


def test_below_minimum_carried_over_two_months_then_paid(approver):
    program = paying_program(month_budget=40_00, months=3, min_payout_minor=100_00)
    partner = member(program, handle="small", views=1)
    for day in (dt.date(2026, 9, 10), dt.date(2026, 10, 10)):
        from tests.partnerships.factories import DailyMetricFactory
        DailyMetricFactory(partner=partner, day=day, views=1, qualified_views=1)

    august = run_month(program, MONTH, approver)
    assert (line(august, partner).status, line(august, partner).net_minor) == ("carried_over", 40_00)
    payout_run_mark_paid(run_id=august.pk, actor=approver, reference="AUG")
    september = run_month(program, SEPTEMBER, approver)
    sept_line = line(september, partner)
    assert (sept_line.carried_in_minor, sept_line.gross_minor, sept_line.net_minor, sept_line.status) == (
        40_00, 40_00, 80_00, "carried_over")
    payout_run_mark_paid(run_id=september.pk, actor=approver, reference="SEP")
    october = run_month(program, OCTOBER, approver)
    oct_line = line(october, partner)
    assert (oct_line.carried_in_minor, oct_line.net_minor, oct_line.status) == (80_00, 120_00, "payable")
    payout_run_mark_paid(run_id=october.pk, actor=approver, reference="OCT")
    assert payable_balance(partner, program) == 0
    assert ledger_is_balanced()


def test_held_partner_is_owed_but_not_paid_until_the_hold_clears(approver):
    program = paying_program(months=2)
    partner = member(program, handle="held", views=1, tax_form_on_file=False)
    august = run_month(program, MONTH, approver)
    assert (line(august, partner).status, line(august, partner).hold_reason) == ("held", "no tax form on file")
    payout_run_mark_paid(run_id=august.pk, actor=approver, reference="AUG")
    assert payable_balance(partner, program) == 10_000_00  # owed, not paid

    Partner.objects.filter(pk=partner.pk).update(tax_form_on_file=True)
    september = run_month(program, SEPTEMBER, approver)  # no new views: the line exists for the balance
    sept_line = line(september, partner)
    assert (sept_line.gross_minor, sept_line.carried_in_minor, sept_line.status) == (0, 10_000_00, "payable")
    payout_run_mark_paid(run_id=september.pk, actor=approver, reference="SEP")
    assert payable_balance(partner, program) == 0


def test_negative_adjustment_is_carried_into_the_next_run(approver, second_approver):
    program = paying_program(months=2)
    partner = member(program, handle="a", views=1)
    august = run_month(program, MONTH, approver)
    payout_run_mark_paid(run_id=august.pk, actor=approver, reference="AUG")

    adjustment = approved_adjustment(partner=partner, program=program, amount_minor=-300_00,
                                     reason="Invalid traffic found in August", maker=second_approver, checker=approver)
    from tests.partnerships.factories import DailyMetricFactory
    DailyMetricFactory(partner=partner, day=dt.date(2026, 9, 3), views=1, qualified_views=1)
    september = run_month(program, SEPTEMBER, approver)
    sept_line = line(september, partner)
    assert (sept_line.gross_minor, sept_line.adjustments_minor, sept_line.net_minor) == (10_000_00, -300_00, 9_700_00)
    adjustment.refresh_from_db()
    assert adjustment.applied_run == september
    # August is final: its line and transactions are untouched.
    assert line(august, partner).net_minor == 10_000_00
    assert ledger_is_balanced()


def test_negative_balance_blocks_payment_and_is_carried_forward(approver, second_approver):
    program = paying_program(months=2)
    partner = member(program, handle="a", views=1)
    august = run_month(program, MONTH, approver)
    payout_run_mark_paid(run_id=august.pk, actor=approver, reference="AUG")
    approved_adjustment(partner=partner, program=program, amount_minor=-500_00, reason="Chargeback",
                        maker=second_approver, checker=approver)
    september = run_month(program, SEPTEMBER, approver)
    sept_line = line(september, partner)
    assert (sept_line.net_minor, sept_line.status) == (-500_00, "carried_over")
    payout_run_mark_paid(run_id=september.pk, actor=approver, reference="SEP")
    assert payable_balance(partner, program) == -500_00


def test_withholding_is_posted_to_its_account(approver):
    program = paying_program(withholding_rate="0.24")
    partner = member(program, handle="a", views=1)
    run = run_month(program, MONTH, approver)
    assert (line(run, partner).withholding_minor, line(run, partner).net_minor) == (2_400_00, 7_600_00)
    withheld = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.WITHHOLDING).aggregate(t=Sum("amount_minor"))
    assert withheld["t"] == 2_400_00
    assert ledger_is_balanced()


# --- refusals ---------------------------------------------------------------------------------------

def test_the_starter_cannot_approve(approver, second_approver):
    program = paying_program()
    member(program, views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=approver)
    with pytest.raises(RunRefused, match="approver started the run and so cannot approve it"):
        payout_run_approve(run_id=run.pk, actor=approver)
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPUTED
    assert LedgerTransaction.objects.count() == 0
    payout_run_approve(run_id=run.pk, actor=second_approver)
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (PayoutRun.Status.APPROVED, second_approver)


def test_marking_an_unapproved_run_paid_is_refused(approver):
    program = paying_program()
    member(program, views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    with pytest.raises(RunRefused, match="Cannot mark paid run .* it is computed, awaiting approval"):
        payout_run_mark_paid(run_id=run.pk, actor=approver, reference="X")
    assert LedgerEntry.objects.count() == 0
    assert EarningLine.objects.filter(status="paid").count() == 0


def test_mark_paid_needs_a_reference(approver):
    program = paying_program()
    member(program, views=1)
    run = run_month(program, MONTH, approver)
    with pytest.raises(RunRefused, match="payment reference"):
        payout_run_mark_paid(run_id=run.pk, actor=approver, reference=" ")
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.APPROVED


def test_a_month_not_yet_ended_is_refused(approver):
    program = paying_program()
    this_month = program_today(program).replace(day=1)
    with pytest.raises(RunRefused, match="has not ended yet"):
        payout_run_compute(program_id=program.pk, month=this_month)
    assert PayoutRun.objects.count() == 0


def test_a_program_without_a_fund_is_refused(approver):
    from tests.partnerships.factories import ProgramFactory
    from tests.payouts.factories import TermsFactory
    program = ProgramFactory()
    TermsFactory(program=program)
    with pytest.raises(RunRefused, match="has no fund"):
        payout_run_compute(program_id=program.pk, month=MONTH)
    assert PayoutRun.objects.count() == 0


def test_a_month_without_budget_is_refused_and_writes_nothing(approver):
    program = paying_program()
    with pytest.raises(RunRefused, match="has no budget for May 2026: add a budget tranche"):
        payout_run_compute(program_id=program.pk, month=dt.date(2026, 5, 1))
    assert PayoutRun.objects.count() == 0
    assert EarningLine.objects.count() == 0


def test_negative_budget_is_refused_by_the_database(approver):
    from django.db import IntegrityError, transaction

    from payouts.models import BudgetTranche, Fund
    program = paying_program()
    with pytest.raises(IntegrityError), transaction.atomic():
        BudgetTranche.objects.create(fund=Fund.objects.get(program=program), starts_on=MONTH, ends_on=MONTH,
                                     amount_minor=-1)
    assert BudgetTranche.objects.count() == 1


def test_approval_without_permission_is_refused(outsider):
    program = paying_program()
    member(program, views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    with pytest.raises(NotPermitted):
        payout_run_approve(run_id=run.pk, actor=outsider)
    assert LedgerTransaction.objects.count() == 0


def test_a_fund_total_below_what_runs_spend_is_refused_by_the_database(approver):
    program = paying_program(fund_total=5_000_00, month_budget=10_000_00)
    member(program, views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.total_gross_minor == run.spend_minor == 5_000_00  # the budget never exceeds what the fund has left
    from django.db import IntegrityError, transaction

    from payouts.models import Fund
    with pytest.raises(IntegrityError), transaction.atomic():  # someone lowers the total meanwhile
        Fund.objects.filter(program=program).update(total_minor=4_000_00)
    assert Fund.objects.get(program=program).total_minor == 5_000_00
    payout_run_approve(run_id=run.pk, actor=approver)
    assert ledger_is_balanced()


def test_compute_twice_is_a_no_op(approver):
    program = paying_program()
    member(program, views=1)
    first = payout_run_compute(program_id=program.pk, month=MONTH)
    lines = list(EarningLine.objects.values_list("id", "gross_minor"))
    second = payout_run_compute(program_id=program.pk, month=MONTH)
    assert first.pk == second.pk
    assert list(EarningLine.objects.values_list("id", "gross_minor")) == lines


def test_cancelled_run_frees_the_month_and_its_adjustments(approver, second_approver):
    program = paying_program()
    partner = member(program, views=1)
    approved_adjustment(partner=partner, program=program, amount_minor=5_00, reason="Bonus", maker=approver,
                        checker=second_approver)
    first = payout_run_compute(program_id=program.pk, month=MONTH)
    payout_run_cancel(run_id=first.pk, actor=approver, reason="Metrics were re-delivered")
    assert Adjustment.objects.get().applied_run is None
    second = payout_run_compute(program_id=program.pk, month=MONTH)
    assert second.pk != first.pk
    assert line(second, partner).adjustments_minor == 5_00


def test_a_run_approved_before_in_payment_accounts_is_moved_into_payment_by_the_migration(approver):
    """Given a run approved the old way (earnings posted to payable, nothing in payment), the migration moves its
    payable lines into payment once; paying it then works and leaves nothing payable."""
    import importlib
    import types

    from django.apps import apps
    from django.db import connection

    from payouts import ledger
    from payouts.models import Fund
    from payouts.reconciliation import run_reconciliation

    program = paying_program()
    partner = member(program, handle="legacy", views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    fund = Fund.objects.get(program=program)
    _fund_post_total(fund, approver)
    for kind in (LedgerAccount.Kind.PARTNER_PAYABLE, LedgerAccount.Kind.PARTNER_IN_PAYMENT):
        ledger.ensure_partner_accounts(run_id=run.pk, program_id=program.pk, currency="USD", kind=kind)
    budget = ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET)
    payable = LedgerAccount.objects.get(kind=LedgerAccount.Kind.PARTNER_PAYABLE, partner=partner)
    ledger.post_pairs(key=f"run:{run.pk}:approve", description="legacy approval", run=run,
                      pairs=[(payable.pk, 10_000_00), (budget.pk, -10_000_00)])
    PayoutRun.objects.filter(pk=run.pk).update(status=PayoutRun.Status.APPROVED, approved_by=approver)
    migration = importlib.import_module("payouts.migrations.0010_in_payment_for_approved_runs")

    editor = types.SimpleNamespace(connection=connection)  # what the migration uses of its schema editor
    migration.forwards(apps, editor)
    migration.forwards(apps, editor)  # idempotent

    run.refresh_from_db()
    assert (payable_balance(partner, program), in_payment_balance(partner, program)) == (0, 10_000_00)
    assert [check.label for check in run_reconciliation(run) if not check.ok] == []
    payout_run_mark_paid(run_id=run.pk, actor=approver, reference="AFTER-UPGRADE")
    assert (payable_balance(partner, program), in_payment_balance(partner, program)) == (0, 0)
    assert ledger_is_balanced()
