"""Every write of the payouts app: computing, approving, paying and cancelling runs, adjustments, funding.

Runs are idempotent: one run per program, month and kind is a database constraint; computing takes the
run's row lock, so a second caller waits and then finds the work done; the lines are written in one
transaction, so a worker that dies mid-run leaves no line behind and a re-run completes the same run.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from partnerships.models import Program
from payouts import ledger
from payouts.exceptions import (
    ADJUSTMENT_ZERO,
    CURRENCY_MISMATCH,
    FOUR_EYES,
    FUND_OVERDRAWN,
    MONTH_NOT_ENDED,
    MONTH_NOT_FIRST_DAY,
    NO_FUND,
    NO_PERMISSION,
    NO_TERMS,
    NO_TRANCHE,
    NOT_PAYING_PROGRAM,
    QUEUE_UNAVAILABLE,
    REASON_REQUIRED,
    REFERENCE_REQUIRED,
    WRONG_STATUS,
    FundOverdrawn,
    NotPermitted,
    PayoutsError,
    QueueUnavailable,
    RunRefused,
)
from payouts.formulas import grant, pooled, rate_per_mille, revenue_share
from payouts.formulas.context import LINE_TABLE, RunContext
from payouts.formulas.settle import write_lines
from payouts.models import Adjustment, EarningLine, Fund, LedgerAccount, PayoutRun, ProgramTerms
from payouts.money import format_money
from payouts.sql import drop_temporary, execute, fetchone

APPROVE_PERMISSION = "payouts.approve_payoutrun"
PAY_PERMISSION = "payouts.pay_payoutrun"
COMPUTE_PERMISSION = "payouts.compute_payoutrun"
ADJUST_PERMISSION = "payouts.add_adjustment"

FORMULAS = {
    Program.Archetype.POOLED_FUND: pooled.earned,
    Program.Archetype.REVENUE_SHARE: revenue_share.earned,
    Program.Archetype.RATE_PER_MILLE: rate_per_mille.earned,
    Program.Archetype.GRANT: grant.earned,
}
SPENDING = (PayoutRun.Status.COMPUTED, PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)
R = PayoutRun.Status
# Runs left computing longer than this with nobody working on them are handed to a worker again.
STALLED_AFTER = dt.timedelta(minutes=10)
logger = logging.getLogger(__name__)


def _require_permission(actor: AbstractBaseUser | None, permission: str, action: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        who = actor or "An anonymous user"
        raise NotPermitted(NO_PERMISSION.format(user=who, action=action, permission=permission))


def _refuse_status(run: PayoutRun, action: str, allowed: tuple[str, ...], done: str) -> None:
    if run.status not in allowed:
        raise RunRefused(WRONG_STATUS.format(action=action, run=run, status=run.get_status_display().lower(),
                                             allowed=" or ".join(allowed), done=done))


# --- months and budgets ---------------------------------------------------------------------------

def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return next_month(month) - dt.timedelta(days=1)


def months_between(first: dt.date, last: dt.date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def program_today(program: Program) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(program.time_zone)).date()


def previous_month(program: Program) -> dt.date:
    first = program_today(program).replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def fund_month_budget(fund: Fund, month: dt.date, tranches: list | None = None) -> int | None:
    """The month's release from every tranche covering it: a tranche of N months gives each month
    ⌊amount / N⌋ and its first (amount mod N) months one more cent, so the tranche is released exactly.
    None when no tranche covers the month."""
    total, covered = 0, False
    for tranche in tranches if tranches is not None else fund.tranches.all():
        if tranche.starts_on <= month <= tranche.ends_on:
            covered = True
            months = tranche.months
            base, extra = divmod(tranche.amount_minor, months)
            total += base + (1 if months_between(tranche.starts_on, month) < extra else 0)
    return total if covered else None


def fund_spent(fund: Fund, *, before: dt.date | None = None, excluding: int | None = None) -> int:
    """What the fund's monthly runs take: computed, approved and paid runs (gross + adjustments)."""
    runs = PayoutRun.objects.filter(program_id=fund.program_id, kind=PayoutRun.Kind.FINAL, status__in=SPENDING)
    if before is not None:
        runs = runs.filter(month__lt=before)
    if excluding is not None:
        runs = runs.exclude(pk=excluding)
    totals = runs.aggregate(gross=Sum("total_gross_minor"), adjustments=Sum("total_adjustments_minor"))
    return (totals["gross"] or 0) + (totals["adjustments"] or 0)


def fund_month_available(fund: Fund, month: dt.date, *, run_id: int | None = None) -> int:
    """What a month may spend: its release, plus (if the fund rolls over) what earlier months left unspent,
    never more than the fund has left in total."""
    remaining_total = fund.total_minor - fund_spent(fund, excluding=run_id)
    release = fund_month_budget(fund, month)
    if release is None:
        raise RunRefused(NO_TRANCHE.format(fund=fund, month=month))
    if fund.rollover_unspent:
        tranches = list(fund.tranches.all())
        released, cursor = 0, min(t.starts_on for t in tranches)
        while cursor <= month:
            released += fund_month_budget(fund, cursor, tranches) or 0
            cursor = next_month(cursor)
        available = released - fund_spent(fund, before=month)
    else:
        available = release
    return max(0, min(available, remaining_total))


def fund_budget_table(fund: Fund) -> list[dict]:
    """Per month: released budget, spent by runs, remaining; for the fund's admin page."""
    tranches = list(fund.tranches.all())
    if not tranches:
        return []
    spent_by_month = dict(
        PayoutRun.objects.filter(program_id=fund.program_id, kind=PayoutRun.Kind.FINAL, status__in=SPENDING)
        .values_list("month").annotate(spent=Sum("total_gross_minor") + Sum("total_adjustments_minor"))
    )
    rows, cursor, last = [], min(t.starts_on for t in tranches), max(t.ends_on for t in tranches)
    cumulative_budget = cumulative_spent = 0
    while cursor <= last:
        budget = fund_month_budget(fund, cursor, tranches) or 0
        spent = spent_by_month.get(cursor, 0) or 0
        cumulative_budget += budget
        cumulative_spent += spent
        rows.append({"month": cursor, "budget": budget, "spent": spent, "unspent": budget - spent,
                     "cumulative_budget": cumulative_budget, "cumulative_spent": cumulative_spent,
                     "fund_remaining": fund.total_minor - cumulative_spent})
        cursor = next_month(cursor)
    return rows


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
            return PayoutRun.objects.create(program=program, month=month, kind=kind, currency=program.currency,
                                            as_of=as_of, started_by=actor, started_at=timezone.now())
    except IntegrityError:  # another process opened it first: use theirs
        return PayoutRun.objects.get(live)


def payout_run_compute(
    *, program_id: int, month: dt.date, actor: AbstractBaseUser | None = None, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """Compute a program's month (``actor`` None = the scheduler). Calling it again after it finished is a
    no-op; two callers at once produce one run; a run left 'computing' by a dead worker is completed.
    Refusals (month not ended, no fund…) raise before anything is written; a formula refusal (the fund
    would be overdrawn) marks the run failed with the reason and leaves no line."""
    if actor is not None:
        _require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
    program = Program.objects.get(pk=program_id)
    terms, fund = _check_computable(program, month, kind)
    run = _run_open(program, month, kind, actor)
    finished = (R.COMPUTED, R.APPROVED, R.PAID) if kind == PayoutRun.Kind.FINAL else (R.APPROVED, R.PAID)
    if run.status in finished or run.status == R.CANCELLED:
        return run
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run.pk)  # a concurrent computation finishes first
        if run.status in finished or run.status == R.CANCELLED:
            return run
        if kind == PayoutRun.Kind.ESTIMATE:  # an estimate reads up to today, whichever day it is recomputed
            run.as_of = min(program_today(program), month_end(month))
        try:
            with transaction.atomic():
                _fill(run, program, terms, fund)
        except PayoutsError as exc:
            run.status, run.error = R.FAILED, str(exc)
            run.save(update_fields=["status", "error"])
    return run


def payout_run_request(
    *, program_id: int, month: dt.date, actor: AbstractBaseUser, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """What a person's "compute" does: check, open the run (so it shows as computing, started by them), and
    hand the work to a worker once that is committed. Without a broker the task runs at once, in process."""
    _require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
    program = Program.objects.get(pk=program_id)
    _check_computable(program, month, kind)
    run = _run_open(program, month, kind, actor)
    unavailable: list[Exception] = []
    if run.status in (R.COMPUTING, R.FAILED) or (kind == PayoutRun.Kind.ESTIMATE and run.status == R.COMPUTED):
        transaction.on_commit(lambda: _enqueue_compute(program.pk, month, kind, unavailable))
    run.refresh_from_db()
    if unavailable:  # the broker is down: the run stays computing and payout_runs_requeue_stalled sends it later
        raise QueueUnavailable(QUEUE_UNAVAILABLE.format(run=run, error=unavailable[0],
                                                        minutes=int(STALLED_AFTER.total_seconds() // 60) * 2))
    return run


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


def _fill(run: PayoutRun, program: Program, terms: ProgramTerms, fund: Fund) -> None:
    EarningLine.objects.filter(run=run).delete()
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    if program.archetype == Program.Archetype.REVENUE_SHARE:
        budget = fund.total_minor - fund_spent(fund, excluding=run.pk)  # contractual: only the fund total binds
    else:
        budget = fund_month_available(fund, run.month, run_id=run.pk)
    end = run.as_of
    ctx = RunContext(run=run, program=program, terms=terms, fund=fund, start=run.month, end=end, budget_minor=budget)
    if connection.vendor == "postgresql":  # a month's aggregates and sorts of a million partners, in memory
        execute("SELECT set_config('work_mem', %(mem)s, true)", {"mem": settings.PAYOUT_WORK_MEM})
    earned_sql, earned_params = FORMULAS[program.archetype](ctx)
    write_lines(ctx, earned_sql, earned_params, apply_adjustments=run.kind == PayoutRun.Kind.FINAL)
    drop_temporary(*ctx.temporary)
    count, gross, adjustments, net, payable = (int(v or 0) for v in fetchone(f"""
        SELECT COUNT(*), SUM(gross_minor), SUM(adjustments_minor), SUM(net_minor),
               SUM(CASE WHEN status = 'payable' THEN net_minor ELSE 0 END)
        FROM {LINE_TABLE} WHERE run_id = %(run)s""", {"run": run.pk}))
    if run.kind == PayoutRun.Kind.FINAL and gross + adjustments > fund.total_minor - fund_spent(fund, excluding=run.pk):
        remaining = fund.total_minor - fund_spent(fund, excluding=run.pk)
        raise FundOverdrawn(FUND_OVERDRAWN.format(run=run, spend=format_money(gross + adjustments, fund.currency),
                                                  fund=fund, remaining=format_money(remaining, fund.currency)))
    run.status, run.error, run.computed_at = R.COMPUTED, "", timezone.now()
    run.budget_minor, run.line_count, run.total_gross_minor = budget, count, gross
    run.total_adjustments_minor, run.total_net_minor, run.total_payable_minor = adjustments, net, payable
    run.save()


# --- approval and payment -------------------------------------------------------------------------

def _fund_post_total(fund: Fund, actor) -> None:
    """Bring the ledger's funding of the fund to its current total (idempotent per total)."""
    source = ledger.fund_account(fund, LedgerAccount.Kind.FUND_SOURCE)
    budget = ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET)
    difference = fund.total_minor + ledger.balance(source)  # the source account holds −(funded so far)
    if difference:
        ledger.post_pairs(key=f"fund:{fund.pk}:funded-to:{fund.total_minor}",
                          description=f"Fund {fund} total set to {format_money(fund.total_minor, fund.currency)}",
                          pairs=[(budget.pk, difference), (source.pk, -difference)], actor=actor)


@transaction.atomic
def payout_run_approve(*, run_id: int, actor: AbstractBaseUser) -> PayoutRun:
    """Approve a computed run (not by whoever started it) and post what each partner is now owed: one
    balanced ledger transaction moving the run's spend from the fund's budget to partner balances and
    withholding."""
    _require_permission(actor, APPROVE_PERMISSION, "approve payout runs")
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    _refuse_status(run, "approve", (R.COMPUTED,), "approved")
    if run.kind != PayoutRun.Kind.FINAL:
        raise RunRefused(f"Run {run} is an estimate; only monthly runs are approved.")
    if run.started_by_id is not None and run.started_by_id == actor.pk:
        raise RunRefused(FOUR_EYES.format(user=actor))
    fund = Fund.objects.select_for_update().get(program=run.program)
    _fund_post_total(fund, actor)
    budget_account = ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET)
    withholding_account = ledger.fund_account(fund, LedgerAccount.Kind.WITHHOLDING)
    spend = run.total_gross_minor + run.total_adjustments_minor
    remaining = ledger.balance(budget_account)
    if spend > remaining:
        raise FundOverdrawn(FUND_OVERDRAWN.format(run=run, spend=format_money(spend, fund.currency), fund=fund,
                                                  remaining=format_money(remaining, fund.currency)))
    ledger.ensure_partner_accounts(run_id=run.pk, program_id=run.program_id, currency=run.currency)
    ledger.post(
        key=f"run:{run.pk}:approve", run=run, actor=actor,
        description=f"Approved {run}: {format_money(spend, run.currency)} owed to partners",
        entries_sql=f"""
            SELECT a.id AS account_id, l.gross_minor + l.adjustments_minor - l.withholding_minor AS amount_minor
            FROM {LINE_TABLE} l JOIN payouts_ledgeraccount a ON a.kind = %(payable)s AND a.currency = %(currency)s
                 AND a.program_id = %(program)s AND a.partner_id = l.partner_id
            WHERE l.run_id = %(run)s
            UNION ALL
            SELECT %(budget_account)s, -SUM(gross_minor + adjustments_minor) FROM {LINE_TABLE} WHERE run_id = %(run)s
            UNION ALL
            SELECT %(withholding_account)s, SUM(withholding_minor) FROM {LINE_TABLE} WHERE run_id = %(run)s
        """,
        params={"payable": LedgerAccount.Kind.PARTNER_PAYABLE, "currency": run.currency, "program": run.program_id,
                "run": run.pk, "budget_account": budget_account.pk, "withholding_account": withholding_account.pk},
    )
    run.status, run.approved_by, run.approved_at = R.APPROVED, actor, timezone.now()
    run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


@transaction.atomic
def payout_run_mark_paid(*, run_id: int, actor: AbstractBaseUser, reference: str) -> PayoutRun:
    """Record that the payable lines were paid: one balanced transaction from partner balances to paid out."""
    _require_permission(actor, PAY_PERMISSION, "mark payout runs paid")
    reference = (reference or "").strip()
    if not reference:
        raise RunRefused(REFERENCE_REQUIRED)
    run = PayoutRun.objects.select_for_update().select_related("program").get(pk=run_id)
    _refuse_status(run, "mark paid", (R.APPROVED,), "marked paid")
    fund = Fund.objects.get(program=run.program)
    paid_out = ledger.fund_account(fund, LedgerAccount.Kind.PAID_OUT)
    ledger.post(
        key=f"run:{run.pk}:pay", run=run, actor=actor,
        description=f"Paid {run}: {format_money(run.total_payable_minor, run.currency)}, reference {reference}",
        entries_sql=f"""
            SELECT a.id AS account_id, -l.net_minor AS amount_minor
            FROM {LINE_TABLE} l JOIN payouts_ledgeraccount a ON a.kind = %(payable)s AND a.currency = %(currency)s
                 AND a.program_id = %(program)s AND a.partner_id = l.partner_id
            WHERE l.run_id = %(run)s AND l.status = 'payable'
            UNION ALL
            SELECT %(paid_out)s, SUM(net_minor) FROM {LINE_TABLE} WHERE run_id = %(run)s AND status = 'payable'
        """,
        params={"payable": LedgerAccount.Kind.PARTNER_PAYABLE, "currency": run.currency, "program": run.program_id,
                "run": run.pk, "paid_out": paid_out.pk},
    )
    execute(f"UPDATE {LINE_TABLE} SET status = 'paid' WHERE run_id = %(run)s AND status = 'payable'", {"run": run.pk})
    run.status, run.paid_by, run.paid_at, run.payment_reference = R.PAID, actor, timezone.now(), reference
    run.save(update_fields=["status", "paid_by", "paid_at", "payment_reference"])
    return run


@transaction.atomic
def payout_run_cancel(*, run_id: int, actor: AbstractBaseUser, reason: str) -> PayoutRun:
    """Cancel a run that was not approved; its adjustments go back to waiting for the next run, and a new
    run may be computed for the month."""
    _require_permission(actor, COMPUTE_PERMISSION, "cancel payout runs")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="cancel a run"))
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    _refuse_status(run, "cancel", (R.COMPUTING, R.COMPUTED, R.FAILED), "cancelled")
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    run.status, run.cancelled_reason = R.CANCELLED, f"{reason} (by {actor} at {timezone.now():%Y-%m-%d %H:%M} UTC)"
    run.save(update_fields=["status", "cancelled_reason"])
    return run


@transaction.atomic
def adjustment_create(*, partner_id: int, program_id: int, amount_minor: int, reason: str,
                      actor: AbstractBaseUser) -> Adjustment:
    """Record a correction; the partner's next monthly run applies it (a finalised run is never edited)."""
    _require_permission(actor, ADJUST_PERMISSION, "record adjustments")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="record an adjustment"))
    if not amount_minor:
        raise RunRefused(ADJUSTMENT_ZERO)
    return Adjustment.objects.create(partner_id=partner_id, program_id=program_id, amount_minor=int(amount_minor),
                                     reason=reason, created_by=actor)
