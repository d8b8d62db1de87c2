"""Every write of the payouts app: computing, approving, paying and cancelling runs, adjustments, funding.

Runs are idempotent: one run per program, month and kind is a database constraint; computing takes the
run's row lock, so a second caller waits and then finds the work done; the lines are written in one
transaction, so a worker that dies mid-run leaves no line behind and a re-run completes the same run.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from core import periods, permissions
from core.money import MAX_MINOR, format_money
from core.periods import month_end, next_month
from core.permissions import REASON_REQUIRED
from core.sql import drop_temporary, execute, fetchone
from partnerships.models import Program
from payouts import ledger
from payouts.closing import payout_runs_mark_stale
from payouts.configuration import configuration_changers
from payouts.exceptions import (
    ADJUSTMENT_DECIDED,
    ADJUSTMENT_FOUR_EYES,
    ADJUSTMENT_MADE_STALE,
    ADJUSTMENT_NOT_COVERED,
    ADJUSTMENT_ZERO,
    AMOUNT_INVALID,
    AMOUNT_TOO_LARGE,
    CURRENCY_MISMATCH,
    FOUR_EYES,
    FUND_OVERDRAWN,
    MONTH_NOT_ENDED,
    MONTH_NOT_FIRST_DAY,
    NO_FUND,
    NO_TERMS,
    NO_TRANCHE,
    NOT_PAYING_PROGRAM,
    NOT_RECONCILED,
    QUEUE_UNAVAILABLE,
    REFERENCE_REQUIRED,
    FundOverdrawn,
    NotPermitted,
    PayoutsError,
    QueueUnavailable,
    RunRefused,
)
from payouts.formulas import grant, pooled, rate_per_mille, revenue_share
from payouts.formulas.context import LINE_TABLE, RunContext
from payouts.formulas.settle import write_lines
from payouts.funds import SPENDING, FundPosition, fund_month_budget, fund_refresh_spent
from payouts.models import (
    Adjustment,
    EarningLine,
    Fund,
    LedgerAccount,
    PayoutRun,
    PayoutRunMaker,
    ProgramTerms,
)
from payouts.reconciliation import run_reconciliation
from payouts.transitions import APPROVE_PERMISSION, COMPUTE_PERMISSION, PAY_PERMISSION, run_action_refusal

ADJUST_PERMISSION = "payouts.add_adjustment"
APPROVE_ADJUSTMENT_PERMISSION = "payouts.approve_adjustment"

FORMULAS = {
    Program.Archetype.POOLED_FUND: pooled.earned,
    Program.Archetype.REVENUE_SHARE: revenue_share.earned,
    Program.Archetype.RATE_PER_MILLE: rate_per_mille.earned,
    Program.Archetype.GRANT: grant.earned,
}
__all__ = ["SPENDING", "fund_month_budget"]  # re-exported for the dashboard and the bench
BIGINT_MAX = 2**63 - 1
R = PayoutRun.Status
# Runs left computing longer than this with nobody working on them are handed to a worker again.
STALLED_AFTER = dt.timedelta(minutes=10)
logger = logging.getLogger(__name__)


def _require_permission(actor: AbstractBaseUser | None, permission: str, action: str) -> None:
    permissions.require_permission(actor, permission, action, error=NotPermitted)


def _refuse_transition(run: PayoutRun, action: str) -> None:
    """The run's state must allow the action (payouts.transitions, the table the admin's buttons read too)."""
    refusal = run_action_refusal(run, action)
    if refusal:
        raise RunRefused(refusal)


# --- months ---------------------------------------------------------------------------------------

def program_today(program: Program) -> dt.date:
    return periods.today_in(program.time_zone)


def previous_month(program: Program) -> dt.date:
    return periods.previous_month_in(program.time_zone)


# --- computing ------------------------------------------------------------------------------------

def _check_computable(program: Program, month: dt.date, kind: str) -> tuple[ProgramTerms, Fund]:
    if month.day != 1:
        raise RunRefused(MONTH_NOT_FIRST_DAY.format(month=month))
    if program.archetype not in FORMULAS:
        raise RunRefused(NOT_PAYING_PROGRAM.format(program=program))
    terms = ProgramTerms.objects.filter(program=program).first()
    if terms is None:
        raise RunRefused(NO_TERMS.format(program=program))
    fund = Fund.objects.filter(program=program).first()
    if fund is None:
        raise RunRefused(NO_FUND.format(program=program))
    if fund.currency != program.currency:
        raise RunRefused(CURRENCY_MISMATCH.format(fund=fund, fund_currency=fund.currency,
                                                  program_currency=program.currency))
    today = program_today(program)
    if kind == PayoutRun.Kind.FINAL and today <= month_end(month):
        raise RunRefused(MONTH_NOT_ENDED.format(month=month, tz=program.time_zone, today=today,
                                                next=next_month(month)))
    if program.archetype != Program.Archetype.REVENUE_SHARE and fund_month_budget(fund, month) is None:
        raise RunRefused(NO_TRANCHE.format(fund=fund, month=month))
    return terms, fund


def _run_open(program: Program, month: dt.date, kind: str, actor) -> PayoutRun:
    """The live run for the program-month, created (and committed) if there is none."""
    live = Q(program=program, month=month, kind=kind) & ~Q(status=R.CANCELLED)
    existing = PayoutRun.objects.filter(live).first()
    if existing is not None:
        return existing
    as_of = month_end(month) if kind == PayoutRun.Kind.FINAL else min(program_today(program), month_end(month))
    try:
        with transaction.atomic():
            run = PayoutRun.objects.create(program=program, month=month, kind=kind, currency=program.currency,
                                           as_of=as_of, started_by=actor, started_at=timezone.now())
            if actor is not None:
                PayoutRunMaker.objects.create(run=run, user=actor, role=PayoutRunMaker.Role.STARTED)
            return run
    except IntegrityError:  # another process opened it first: use theirs
        return PayoutRun.objects.get(live)


def _needs_computing(run: PayoutRun) -> bool:
    """A run is (re)computed while computing or failed, when it is a computed estimate, or a computed monthly run
    whose inputs changed (stale). Approved, paid and cancelled runs never change."""
    if run.status in (R.COMPUTING, R.FAILED):
        return True
    return run.status == R.COMPUTED and (run.kind == PayoutRun.Kind.ESTIMATE or bool(run.stale_reason))


def payout_run_compute(
    *, program_id: int, month: dt.date, actor: AbstractBaseUser | None = None, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """Compute a program's month (``actor`` None = the scheduler). Calling it again after it finished is a
    no-op; two callers at once produce one run; a run left 'computing' by a dead worker is completed, and a stale
    computed run is computed again. Refusals (month not ended, no fund…) raise before anything is written; a
    formula refusal (the fund would be overdrawn, an amount too large to store) marks the run failed with the
    reason and leaves no line."""
    if actor is not None:
        _require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
    program = Program.objects.get(pk=program_id)
    terms, fund = _check_computable(program, month, kind)
    run = _run_open(program, month, kind, actor)
    if kind == PayoutRun.Kind.ESTIMATE and run.status == R.COMPUTED:
        pass  # an estimate is refreshed every time it is asked for
    elif not _needs_computing(run):
        return run
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run.pk)  # a concurrent computation finishes first
        if not _needs_computing(run):
            return run
        if kind == PayoutRun.Kind.FINAL:  # budgets and carried-in balances are shared by the program's runs
            fund = Fund.objects.select_for_update().get(pk=fund.pk)
            terms = ProgramTerms.objects.get(pk=terms.pk)  # as they are now: a change waits for the fund's lock
        else:  # an estimate reads up to today, whichever day it is recomputed
            run.as_of = min(program_today(program), month_end(month))
        try:
            with transaction.atomic():
                _fill(run, program, terms, fund)
        except PayoutsError as exc:
            _fail(run, str(exc))
        except (DataError, OverflowError, OperationalError) as exc:
            if not _is_overflow(exc):
                raise
            _fail(run, AMOUNT_TOO_LARGE.format(run=run, limit=f"{BIGINT_MAX:,}"))
        if kind == PayoutRun.Kind.FINAL:
            fund_refresh_spent(fund)
    return run


def _is_overflow(exc: Exception) -> bool:
    """A number past what the database stores: PostgreSQL's "bigint out of range", SQLite's integer overflow, or
    one of our exact functions refusing a result past 64 bits (which SQLite reports in several words)."""
    text = str(exc).lower()
    return isinstance(exc, OverflowError | DataError) or any(
        words in text for words in ("out of range", "overflow", "user-defined function raised exception", "too big"))


def _fail(run: PayoutRun, error: str) -> None:
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    run.status, run.error, run.spend_minor = R.FAILED, error, 0
    run.save(update_fields=["status", "error", "spend_minor", "as_of"])


def payout_run_request(
    *, program_id: int, month: dt.date, actor: AbstractBaseUser, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """What a person's "compute" (or "compute again") does: check, open the run (so it shows as computing, started
    by them), and hand the work to a worker once that is committed. Without a broker the task runs at once, in
    process. Whoever asks for an existing run to be computed again becomes one of its makers: they cannot approve
    it."""
    _require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
    program = Program.objects.get(pk=program_id)
    _check_computable(program, month, kind)
    run = _run_open(program, month, kind, actor)
    unavailable: list[Exception] = []
    if _needs_computing(run):
        if run.started_by_id != actor.pk or run.status != R.COMPUTING:
            PayoutRunMaker.objects.get_or_create(run=run, user=actor, role=PayoutRunMaker.Role.RECOMPUTED)
        transaction.on_commit(lambda: _enqueue_compute(program.pk, month, kind, unavailable))
    run.refresh_from_db()
    if unavailable:  # the broker is down: the run stays computing and payout_runs_requeue_stalled sends it later
        raise QueueUnavailable(QUEUE_UNAVAILABLE.format(run=run, error=unavailable[0],
                                                        minutes=int(STALLED_AFTER.total_seconds() // 60) * 2))
    return run


def payout_run_recompute(*, run_id: int, actor: AbstractBaseUser) -> PayoutRun:
    """A person's "Compute again" on a run: refused unless the run's state allows it (computing, failed, or computed
    and stale); the person becomes one of the run's makers (``payout_run_request``)."""
    _require_permission(actor, COMPUTE_PERMISSION, "compute payout runs again")
    run = PayoutRun.objects.get(pk=run_id)
    _refuse_transition(run, "recompute")
    return payout_run_request(program_id=run.program_id, month=run.month, actor=actor, kind=run.kind)


def _enqueue_compute(program_id: int, month: dt.date, kind: str, unavailable: list[Exception]) -> None:
    from payouts.tasks import compute_month_task  # tasks import this module

    try:
        compute_month_task.delay(program_id, month.isoformat(), kind)
    except BrokerUnavailable as exc:
        logger.warning("Could not queue the computation of program %s, %s: %s", program_id, month, exc,
                       extra={"program_id": program_id, "month": month.isoformat()})
        unavailable.append(exc)


def payout_runs_requeue_stalled(*, older_than: dt.timedelta = STALLED_AFTER) -> list[int]:
    """Hand to a worker again every monthly or estimate run left computing for longer than ``older_than`` that
    no worker is computing now (its row is not locked): a task lost with a broker outage or a dead worker.
    Queuing one twice is harmless: computing is idempotent and the second finds the work done."""
    from payouts.tasks import compute_month_task

    cutoff = timezone.now() - older_than
    requeued = []
    for run_id in PayoutRun.objects.filter(status=R.COMPUTING, started_at__lte=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            # A worker computing the run holds its row lock for the whole computation: skip those.
            run = PayoutRun.objects.select_for_update(skip_locked=True).filter(pk=run_id, status=R.COMPUTING).first()
            if run is None:
                continue
            compute_month_task.delay(run.program_id, run.month.isoformat(), run.kind)
            requeued.append(run.pk)
    return requeued


def _apply_adjustments(run: PayoutRun, program: Program, available: int) -> int:
    """Apply the program's approved, not yet applied adjustments to a monthly run, oldest first. A positive one
    takes money from the month's available budget before the formula shares what is left; one the budget cannot
    cover stays waiting, held with the reason, and blocks nobody. Taking money back needs no budget. Returns what
    the applied adjustments take from the budget."""
    taken = 0
    waiting = Adjustment.objects.filter(program=program, status=Adjustment.Status.APPROVED, applied_run__isnull=True)
    applied, held = [], []
    for adjustment in waiting.order_by("pk"):
        if adjustment.amount_minor > 0 and taken + adjustment.amount_minor > available:
            held.append(adjustment.pk)
            continue
        taken += max(0, adjustment.amount_minor)
        applied.append(adjustment.pk)
    Adjustment.objects.filter(pk__in=applied).update(applied_run=run, held_reason="")
    if held:
        Adjustment.objects.filter(pk__in=held).update(held_reason=ADJUSTMENT_NOT_COVERED.format(
            run=run, available=format_money(available - taken, run.currency)))
    return taken


def _record_makers(run: PayoutRun, program: Program) -> None:
    """The creators of the adjustments the run applies, and whoever changed the program's terms, fund or tranches
    since its last approved run, become makers of the run: they cannot approve it."""
    makers = {(user_id, PayoutRunMaker.Role.ADJUSTMENT)
              for user_id in Adjustment.objects.filter(applied_run=run).values_list("created_by_id", flat=True)}
    since = (PayoutRun.objects.filter(program=program, kind=PayoutRun.Kind.FINAL, approved_at__isnull=False)
             .aggregate(latest=Max("approved_at"))["latest"])
    makers |= {(user_id, PayoutRunMaker.Role.TERMS)
               for user_id in configuration_changers(program_id=program.pk, since=since)}
    existing = set(PayoutRunMaker.objects.filter(run=run).values_list("user_id", "role"))
    PayoutRunMaker.objects.bulk_create([PayoutRunMaker(run=run, user_id=user_id, role=role)
                                        for user_id, role in makers - existing])


def _fill(run: PayoutRun, program: Program, terms: ProgramTerms, fund: Fund) -> None:
    EarningLine.objects.filter(run=run).delete()
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    final = run.kind == PayoutRun.Kind.FINAL
    available = FundPosition(fund, excluding_run=run.pk).available(run.month)
    taken = _apply_adjustments(run, program, available) if final else 0
    budget = available - taken
    ctx = RunContext(run=run, program=program, terms=terms, fund=fund, start=run.month, end=run.as_of,
                     budget_minor=budget)
    if connection.vendor == "postgresql":  # a month's aggregates and sorts of a million partners, in memory
        execute("SELECT set_config('work_mem', %(mem)s, true)", {"mem": settings.PAYOUT_WORK_MEM})
    earned_sql, earned_params = FORMULAS[program.archetype](ctx)
    write_lines(ctx, earned_sql, earned_params, final=final)
    drop_temporary(*ctx.temporary)
    count, gross, adjustments, net, payable, spend = (int(v or 0) for v in fetchone(f"""
        SELECT COUNT(*), SUM(gross_minor), SUM(adjustments_minor), SUM(net_minor),
               SUM(CASE WHEN status = 'payable' THEN net_minor ELSE 0 END),
               SUM(CASE WHEN gross_minor + adjustments_minor > 0 THEN gross_minor + adjustments_minor ELSE 0 END)
        FROM {LINE_TABLE} WHERE run_id = %(run)s""", {"run": run.pk}))
    if final and spend > available:  # a revenue share owed past the fund's total
        raise FundOverdrawn(FUND_OVERDRAWN.format(run=run, spend=format_money(spend, fund.currency), fund=fund,
                                                  remaining=format_money(available, fund.currency)))
    if final:
        _record_makers(run, program)
    # Computing answers the staleness the run had when it started; an input marked changed since then keeps it stale.
    marked = PayoutRun.objects.filter(pk=run.pk).values_list("stale_reason", flat=True).get()
    run.stale_reason = "" if marked == run.stale_reason else marked
    run.status, run.error, run.computed_at = R.COMPUTED, "", timezone.now()
    run.budget_minor, run.line_count, run.total_gross_minor = budget, count, gross
    run.total_adjustments_minor, run.total_net_minor, run.total_payable_minor = adjustments, net, payable
    run.spend_minor = spend if final else 0
    run.save()


# --- approval and payment -------------------------------------------------------------------------

def _fund_post_total(fund: Fund, actor) -> None:
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


@transaction.atomic
def payout_run_approve(*, run_id: int, actor: AbstractBaseUser) -> PayoutRun:
    """Approve a computed monthly run and post it, in one database transaction under the run's and the fund's row
    locks: what each line earned moves from the fund's budget (or, for a line that takes money back, onto the
    receivable) to the partner's payable balance and to withholding; then every payable line's balance moves from
    *payable* to *in payment*, so no later run can carry it in again. Refused when the run is stale, does not
    reconcile with the ledger and the fund, or when the approver is one of its makers (who started it, asked for
    it to be computed again, or created an adjustment or term change it applies)."""
    _require_permission(actor, APPROVE_PERMISSION, "approve payout runs")
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    _refuse_transition(run, "approve")  # computed, monthly, not stale
    maker = PayoutRunMaker.objects.filter(run=run, user=actor).first()
    if maker is not None or (run.started_by_id is not None and run.started_by_id == actor.pk):
        raise RunRefused(FOUR_EYES.format(user=actor, role=maker.get_role_display() if maker else "started this run"))
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
            SELECT %(budget_account)s, -COALESCE(SUM(CASE WHEN gross_minor + adjustments_minor > 0
                                                THEN gross_minor + adjustments_minor ELSE 0 END), 0)
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
            WHERE l.run_id = %(run)s AND l.status = 'payable'
            UNION ALL
            SELECT a.id, l.net_minor
            FROM {LINE_TABLE} l {partner_account.format(kind="in_payment")}
            WHERE l.run_id = %(run)s AND l.status = 'payable'
        """, params=params)
    run.status, run.approved_by, run.approved_at = R.APPROVED, actor, timezone.now()
    run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


@transaction.atomic
def payout_run_mark_paid(*, run_id: int, actor: AbstractBaseUser, reference: str) -> PayoutRun:
    """Record that the run's payment file was paid: its lines' amounts move from *in payment* to paid out, in one
    balanced transaction. Refused unless the run reconciles with the ledger (what it put in payment is there)."""
    _require_permission(actor, PAY_PERMISSION, "mark payout runs paid")
    reference = (reference or "").strip()
    if not reference:
        raise RunRefused(REFERENCE_REQUIRED)
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    _refuse_transition(run, "pay")
    fund = Fund.objects.select_for_update().get(program=run.program)
    _refuse_unreconciled(run, "mark paid")
    paid_out = ledger.fund_account(fund, LedgerAccount.Kind.PAID_OUT)
    ledger.post(
        key=f"run:{run.pk}:pay", run=run, actor=actor,
        description=f"Paid {run}: {format_money(run.total_payable_minor, run.currency)}, reference {reference}",
        entries_sql=f"""
            SELECT a.id AS account_id, -l.net_minor AS amount_minor
            FROM {LINE_TABLE} l {ledger.PARTNER_ACCOUNT_JOIN.format(kind="in_payment")}
            WHERE l.run_id = %(run)s AND l.status = 'payable'
            UNION ALL
            SELECT %(paid_out)s, SUM(net_minor) FROM {LINE_TABLE} WHERE run_id = %(run)s AND status = 'payable'
        """,
        params={"in_payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT, "currency": run.currency,
                "program": run.program_id, "run": run.pk, "paid_out": paid_out.pk},
    )
    execute(f"UPDATE {LINE_TABLE} SET status = 'paid' WHERE run_id = %(run)s AND status = 'payable'", {"run": run.pk})
    run.status, run.paid_by, run.paid_at, run.payment_reference = R.PAID, actor, timezone.now(), reference
    run.save(update_fields=["status", "paid_by", "paid_at", "payment_reference"])
    return run


@transaction.atomic
def payout_run_cancel(*, run_id: int, actor: AbstractBaseUser, reason: str) -> PayoutRun:
    """Cancel a run that was not approved: its spend goes back to the fund, its adjustments back to waiting for
    the next run, and a new run may be computed for the month."""
    _require_permission(actor, COMPUTE_PERMISSION, "cancel payout runs")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="cancel a run"))
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    _refuse_transition(run, "cancel")
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    run.status, run.cancelled_reason = R.CANCELLED, f"{reason} (by {actor} at {timezone.now():%Y-%m-%d %H:%M} UTC)"
    run.save(update_fields=["status", "cancelled_reason"])
    if run.kind == PayoutRun.Kind.FINAL:
        fund = Fund.objects.select_for_update().filter(program_id=run.program_id).first()
        if fund is not None:
            fund_refresh_spent(fund)
    return run


# --- adjustments ----------------------------------------------------------------------------------

@transaction.atomic
def adjustment_create(*, partner_id: int, program_id: int, amount_minor: int, reason: str,
                      actor: AbstractBaseUser) -> Adjustment:
    """Record a correction. It waits for a second finance approver (``adjustment_approve``); once approved, the
    partner's next monthly run applies it (a finalised run is never edited)."""
    _require_permission(actor, ADJUST_PERMISSION, "record adjustments")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="record an adjustment"))
    amount_minor = int(amount_minor)
    if not amount_minor:
        raise RunRefused(ADJUSTMENT_ZERO)
    if abs(amount_minor) > MAX_MINOR:
        raise RunRefused(AMOUNT_INVALID.format(text=str(amount_minor), limit=MAX_MINOR))
    return Adjustment.objects.create(partner_id=partner_id, program_id=program_id, amount_minor=amount_minor,
                                     reason=reason, created_by=actor)


def _adjustment_decide(*, adjustment_id: int, actor: AbstractBaseUser, approve: bool, reason: str) -> Adjustment:
    _require_permission(actor, APPROVE_ADJUSTMENT_PERMISSION, "approve or reject adjustments")
    adjustment = Adjustment.objects.select_for_update().select_related("program").get(pk=adjustment_id)
    if adjustment.status != Adjustment.Status.PENDING:
        raise RunRefused(ADJUSTMENT_DECIDED.format(adjustment=adjustment, status=adjustment.get_status_display()))
    if adjustment.created_by_id == actor.pk:
        raise RunRefused(ADJUSTMENT_FOUR_EYES.format(user=actor))
    adjustment.status = Adjustment.Status.APPROVED if approve else Adjustment.Status.REJECTED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_reason = actor, timezone.now(), reason
    adjustment.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    if approve:  # the program's computed runs no longer include every approved input
        payout_runs_mark_stale(program_id=adjustment.program_id, reason=ADJUSTMENT_MADE_STALE.format(
            adjustment=adjustment, amount=format_money(adjustment.amount_minor, adjustment.program.currency),
            user=actor))
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment_id: int, actor: AbstractBaseUser, reason: str = "") -> Adjustment:
    """A second finance approver (never its creator) lets an adjustment take effect."""
    return _adjustment_decide(adjustment_id=adjustment_id, actor=actor, approve=True, reason=(reason or "").strip())


@transaction.atomic
def adjustment_reject(*, adjustment_id: int, actor: AbstractBaseUser, reason: str) -> Adjustment:
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="reject an adjustment"))
    return _adjustment_decide(adjustment_id=adjustment_id, actor=actor, approve=False, reason=reason)
