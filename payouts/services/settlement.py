"""Settling runs: approving (posting to the ledger), marking paid, cancelling. Each runs in one transaction under
the run's and the fund's row locks; the run's state must allow the action (payouts.transitions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.money import format_money
from core.permissions import REASON_REQUIRED
from core.sql import execute
from ingestion import guards
from payouts import ledger
from payouts.exceptions import (
    FOUR_EYES,
    NOT_RECONCILED,
    REFERENCE_REQUIRED,
    RUN_IN_BATCH,
    UNREVIEWED_FLAGS,
    RunRefused,
)
from payouts.formulas.tables import LINE_TABLE, PAID, PAYABLE
from payouts.funds import LINE_SPEND_SQL, fund_refresh_spent
from payouts.models import (
    Adjustment,
    Fund,
    LedgerAccount,
    PaymentItem,
    PayoutRun,
    PayoutRunMaker,
    ScreeningFlag,
)
from payouts.reconciliation import run_reconciliation
from payouts.services.guards import refuse_transition, require_permission
from payouts.transitions import APPROVE_PERMISSION, COMPUTE_PERMISSION, PAY_PERMISSION

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User): the rows the services write point to it
    from django.contrib.auth.models import User

R = PayoutRun.Status


def _fund_post_total(fund: Fund, actor: User) -> None:
    """Bring the ledger's funding of the fund to its current total (idempotent per total)."""
    source = ledger.fund_account(fund, LedgerAccount.Kind.FUND_SOURCE)
    budget = ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET)
    difference = fund.total_minor + ledger.balance(source)  # the source account holds −(funded so far)
    if difference:
        ledger.post_pairs(key=f"fund:{fund.pk}:funded-to:{fund.total_minor}:{ledger.balance(source)}",
                          description=f"Fund {fund} total set to {format_money(fund.total_minor, fund.currency)}",
                          pairs=[(budget.pk, difference), (source.pk, -difference)], actor=actor)


def _refuse_unreconciled(run: PayoutRun, action: str) -> None:
    failures = [check for check in run_reconciliation(run) if not check.ok]
    if failures:
        raise RunRefused(NOT_RECONCILED.format(action=action, run=run, checks="; ".join(
            f"{check.label} (expected {check.expected_text}, found {check.actual_text})" for check in failures)))


def _refuse_unreviewed(run: PayoutRun) -> None:
    pending = sorted(set(ScreeningFlag.objects.filter(run=run, status=ScreeningFlag.Status.PENDING)
                         .values_list("partner_id", flat=True)))
    if pending:
        partners = ", ".join(str(partner) for partner in pending[:10]) + (" …" if len(pending) > 10 else "")
        raise RunRefused(UNREVIEWED_FLAGS.format(run=run, count=len(pending), partners=partners))


@transaction.atomic
def payout_run_approve(*, run_id: int, actor: User) -> PayoutRun:
    """Approve a computed monthly run and post it, in one database transaction under the run's and the fund's row
    locks: what each line earned moves from the fund's budget (or, for a line that takes money back, onto the
    receivable) to the partner's payable balance and to withholding; then every payable line's balance moves from
    *payable* to *in payment*, so no later run can carry it in again. Refused when the run is stale, does not
    reconcile with the ledger and the fund, when screening flagged a line nobody has held or cleared yet
    (payouts.services.screening), or when the approver is one of its makers (who started it, asked for it to be
    computed again, or created an adjustment or term change it applies)."""
    require_permission(actor, APPROVE_PERMISSION, "approve payout runs")
    # Before the run's row lock: a load under way commits first (with this run marked stale if it changed its
    # inputs), and a load that starts meanwhile checks after this commits and finds the month closed.
    guards.close_months()
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    refuse_transition(run, "approve")  # computed, monthly, not stale
    maker = PayoutRunMaker.objects.filter(run=run, user=actor).first()
    if maker is not None or (run.started_by_id is not None and run.started_by_id == actor.pk):
        raise RunRefused(FOUR_EYES.format(user=actor, role=maker.get_role_display() if maker else "started this run"))
    _refuse_unreviewed(run)
    fund = Fund.objects.select_for_update().get(program=run.program)
    _refuse_unreconciled(run, "approve")
    _fund_post_total(fund, actor)
    accounts = {kind: ledger.fund_account(fund, kind).pk for kind in (
        LedgerAccount.Kind.FUND_BUDGET, LedgerAccount.Kind.WITHHOLDING, LedgerAccount.Kind.FUND_RECEIVABLE)}
    for kind in (LedgerAccount.Kind.PARTNER_PAYABLE, LedgerAccount.Kind.PARTNER_IN_PAYMENT):
        ledger.ensure_partner_accounts(run_id=run.pk, program_id=run.program_id, currency=run.currency, kind=kind)
    params = {"payable": LedgerAccount.Kind.PARTNER_PAYABLE, "in_payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT,
              "currency": run.currency, "program": run.program_id, "run": run.pk,
              "budget_account": accounts[LedgerAccount.Kind.FUND_BUDGET],
              "withholding_account": accounts[LedgerAccount.Kind.WITHHOLDING],
              "receivable_account": accounts[LedgerAccount.Kind.FUND_RECEIVABLE]}
    partner_account = ledger.PARTNER_ACCOUNT_JOIN
    ledger.post(
        key=f"run:{run.pk}:approve", run=run, actor=actor,
        description=f"Approved {run}: {format_money(run.spend_minor, run.currency)} from the fund to partners",
        entries_sql=f"""
            SELECT a.id AS account_id, l.gross_minor + l.adjustments_minor - l.withholding_minor AS amount_minor
            FROM {LINE_TABLE} l {partner_account.format(kind="payable")}
            WHERE l.run_id = %(run)s
            UNION ALL
            SELECT %(budget_account)s, -COALESCE(SUM({LINE_SPEND_SQL}), 0)
            FROM {LINE_TABLE} WHERE run_id = %(run)s
            UNION ALL
            SELECT %(receivable_account)s, COALESCE(SUM(CASE WHEN gross_minor + adjustments_minor < 0
                                                   THEN -(gross_minor + adjustments_minor) ELSE 0 END), 0)
            FROM {LINE_TABLE} WHERE run_id = %(run)s
            UNION ALL
            SELECT %(withholding_account)s, COALESCE(SUM(withholding_minor), 0) FROM {LINE_TABLE} WHERE run_id = %(run)s
        """, params=params)
    ledger.post(
        key=f"run:{run.pk}:in-payment", run=run, actor=actor,
        description=f"{run}: {format_money(run.total_payable_minor, run.currency)} of payable balances into payment",
        entries_sql=f"""
            SELECT a.id AS account_id, -l.net_minor AS amount_minor
            FROM {LINE_TABLE} l {partner_account.format(kind="payable")}
            WHERE l.run_id = %(run)s AND l.status = {PAYABLE}
            UNION ALL
            SELECT a.id, l.net_minor
            FROM {LINE_TABLE} l {partner_account.format(kind="in_payment")}
            WHERE l.run_id = %(run)s AND l.status = {PAYABLE}
        """, params=params)
    run.status, run.approved_by, run.approved_at = R.APPROVED, actor, timezone.now()
    run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


@transaction.atomic
def payout_run_mark_paid(*, run_id: int, actor: User, reference: str) -> PayoutRun:
    """Record that the run's payment file was paid: its lines' amounts move from *in payment* to paid out, in one
    balanced transaction. Refused unless the run reconciles with the ledger (what it put in payment is there)."""
    require_permission(actor, PAY_PERMISSION, "mark payout runs paid")
    reference = (reference or "").strip()
    if not reference:
        raise RunRefused(REFERENCE_REQUIRED)
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    refuse_transition(run, "pay")
    batches = sorted(set(PaymentItem.objects.filter(run=run).values_list("payment__batch_id", flat=True)))
    if batches:  # its payments are settled by the bank's statement (payouts.services.statements)
        raise RunRefused(RUN_IN_BATCH.format(run=run, batches=", ".join(str(batch) for batch in batches)))
    fund = Fund.objects.select_for_update().get(program=run.program)
    _refuse_unreconciled(run, "mark paid")
    paid_out = ledger.fund_account(fund, LedgerAccount.Kind.PAID_OUT)
    ledger.post(
        key=f"run:{run.pk}:pay", run=run, actor=actor,
        description=f"Paid {run}: {format_money(run.total_payable_minor, run.currency)}, reference {reference}",
        entries_sql=f"""
            SELECT a.id AS account_id, -l.net_minor AS amount_minor
            FROM {LINE_TABLE} l {ledger.PARTNER_ACCOUNT_JOIN.format(kind="in_payment")}
            WHERE l.run_id = %(run)s AND l.status = {PAYABLE}
            UNION ALL
            SELECT %(paid_out)s, SUM(net_minor) FROM {LINE_TABLE} WHERE run_id = %(run)s AND status = {PAYABLE}
        """,
        params={"in_payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT, "currency": run.currency,
                "program": run.program_id, "run": run.pk, "paid_out": paid_out.pk},
    )
    execute(f"UPDATE {LINE_TABLE} SET status = {PAID} WHERE run_id = %(run)s AND status = {PAYABLE}", {"run": run.pk})
    run.status, run.paid_by, run.paid_at, run.payment_reference = R.PAID, actor, timezone.now(), reference
    run.save(update_fields=["status", "paid_by", "paid_at", "payment_reference"])
    return run


@transaction.atomic
def payout_run_cancel(*, run_id: int, actor: User, reason: str) -> PayoutRun:
    """Cancel a run that was not approved: its spend goes back to the fund, its adjustments back to waiting for
    the next run, and a new run may be computed for the month."""
    require_permission(actor, COMPUTE_PERMISSION, "cancel payout runs")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="cancel a run"))
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    refuse_transition(run, "cancel")
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    run.status, run.cancelled_reason = R.CANCELLED, f"{reason} (by {actor} at {timezone.now():%Y-%m-%d %H:%M} UTC)"
    run.save(update_fields=["status", "cancelled_reason"])
    if run.kind == PayoutRun.Kind.FINAL:
        fund = Fund.objects.select_for_update().filter(program_id=run.program_id).first()
        if fund is not None:
            fund_refresh_spent(fund)
    return run
