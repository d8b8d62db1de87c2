"""Computing runs: a person's request, the worker's computation, a recompute, and the sweeper of stalled runs.

Runs are idempotent: one run per program, month and kind is a database constraint; computing takes the
run's row lock, so a second caller waits and then finds the work done; the lines are written in one
transaction, so a worker that dies mid-run leaves no line behind and a re-run completes the same run.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DataError, IntegrityError, OperationalError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.money import format_money
from core.periods import month_end, next_month
from core.sql import drop_temporary, fetchone, set_up_bulk_computation
from core.tasks import enqueue
from partnerships.models import Program
from payouts.configuration import configuration_changers
from payouts.exceptions import (
    ADJUSTMENT_NOT_COVERED,
    AMOUNT_TOO_LARGE,
    COMPUTE_STOPPED,
    CURRENCY_MISMATCH,
    FUND_OVERDRAWN,
    MONTH_NOT_ENDED,
    MONTH_NOT_FIRST_DAY,
    NO_FUND,
    NO_TERMS,
    NO_TRANCHE,
    NOT_PAYING_PROGRAM,
    QUEUE_UNAVAILABLE,
    FundOverdrawn,
    PayoutsError,
    QueueUnavailable,
    RunRefused,
)
from payouts.formulas.archetypes import FORMULAS
from payouts.formulas.context import RunContext
from payouts.formulas.settle import write_lines
from payouts.formulas.tables import LINE_TABLE, PAYABLE
from payouts.funds import LINE_SPEND_SQL, FundPosition, fund_month_budget, fund_refresh_spent
from payouts.models import (
    Adjustment,
    EarningLine,
    Fund,
    PayoutRun,
    PayoutRunMaker,
    ProgramTerms,
    ScreeningFlag,
)
from payouts.months import program_today
from payouts.screening import run_screen
from payouts.services.guards import refuse_transition, require_permission
from payouts.transitions import COMPUTE_PERMISSION, RUN_ACTIONS

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User): the rows the services write point to it
    from django.contrib.auth.models import User

BIGINT_MAX = 2**63 - 1
R = PayoutRun.Status
# Runs left computing longer than this with nobody working on them are handed to a worker again.
STALLED_AFTER = dt.timedelta(minutes=10)
COMPUTE_MONTH_TASK = "payouts.compute_month"  # payouts.tasks.compute_month_task
logger = logging.getLogger(__name__)


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


def _run_open(program: Program, month: dt.date, kind: str, actor: User | None) -> PayoutRun:
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
    """A run is (re)computed when its state allows "recompute" (payouts.transitions: computing, failed, or computed
    and stale), and a computed estimate whenever it is asked for. Approved, paid and cancelled runs never change."""
    return RUN_ACTIONS["recompute"].allows(run) or (run.kind == PayoutRun.Kind.ESTIMATE and run.status == R.COMPUTED)


def payout_run_compute(
    *, program_id: int, month: dt.date, actor: User | None = None, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """Compute a program's month (``actor`` None = the scheduler). Calling it again after it finished is a
    no-op; two callers at once produce one run; a run left 'computing' by a dead worker is completed, and a stale
    computed run is computed again. Refusals (month not ended, no fund…) raise before anything is written; a
    formula refusal (the fund would be overdrawn, an amount too large to store) marks the run failed with the
    reason and leaves no line."""
    if actor is not None:
        require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
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
            if _is_overflow(exc):
                _fail(run, AMOUNT_TOO_LARGE.format(run=run, limit=f"{BIGINT_MAX:,}"))
            elif isinstance(exc, OperationalError):
                raise  # the database went away: the task is retried, and a run left computing is requeued
            else:
                _stopped(run, exc)
        except Exception as exc:  # noqa: BLE001 (any other failure ends the run failed, never stuck computing)
            _stopped(run, exc)
        if kind == PayoutRun.Kind.FINAL:
            fund_refresh_spent(fund)
    return run


def _is_overflow(exc: Exception) -> bool:
    """A number past what the database stores: PostgreSQL's "bigint out of range", SQLite's integer overflow, or
    one of our exact functions refusing a result past 64 bits (which SQLite reports in several words)."""
    text = str(exc).lower()
    return isinstance(exc, OverflowError | DataError) or any(
        words in text for words in ("out of range", "overflow", "user-defined function raised exception", "too big"))


def _stopped(run: PayoutRun, exc: Exception) -> None:
    """An unexpected error while computing: the run's work was rolled back (its savepoint); it ends failed with
    the reason, and the traceback goes to the log."""
    logger.exception("Computing run %s stopped on an unexpected error", run.pk)
    _fail(run, COMPUTE_STOPPED.format(error=f"{type(exc).__name__}: {str(exc)[:200]}"))


def _fail(run: PayoutRun, error: str) -> None:
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    ScreeningFlag.objects.filter(run=run).delete()
    run.status, run.error, run.spend_minor = R.FAILED, error, 0
    run.save(update_fields=["status", "error", "spend_minor", "as_of"])


def payout_run_request(
    *, program_id: int, month: dt.date, actor: User, kind: str = PayoutRun.Kind.FINAL
) -> PayoutRun:
    """What a person's "compute" (or "compute again") does: check, open the run (so it shows as computing, started
    by them), and hand the work to a worker once that is committed. Without a broker the task runs at once, in
    process. Whoever asks for an existing run to be computed again becomes one of its makers: they cannot approve
    it."""
    require_permission(actor, COMPUTE_PERMISSION, "start payout runs")
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


def payout_run_recompute(*, run_id: int, actor: User) -> PayoutRun:
    """A person's "Compute again" on a run: refused unless the run's state allows it (computing, failed, or computed
    and stale); the person becomes one of the run's makers (``payout_run_request``)."""
    require_permission(actor, COMPUTE_PERMISSION, "compute payout runs again")
    run = PayoutRun.objects.get(pk=run_id)
    refuse_transition(run, "recompute")
    return payout_run_request(program_id=run.program_id, month=run.month, actor=actor, kind=run.kind)


def _enqueue_compute(program_id: int, month: dt.date, kind: str, unavailable: list[Exception]) -> None:
    try:
        enqueue(COMPUTE_MONTH_TASK, program_id, month.isoformat(), kind)
    except BrokerUnavailable as exc:
        logger.warning("Could not queue the computation of program %s, %s: %s", program_id, month, exc,
                       extra={"program_id": program_id, "month": month.isoformat()})
        unavailable.append(exc)


def payout_runs_requeue_stalled(*, older_than: dt.timedelta = STALLED_AFTER) -> list[int]:
    """Hand to a worker again every monthly or estimate run left computing for longer than ``older_than`` that
    no worker is computing now (its row is not locked): a task lost with a broker outage or a dead worker.
    Queuing one twice is harmless: computing is idempotent and the second finds the work done."""
    cutoff = timezone.now() - older_than
    requeued = []
    for run_id in PayoutRun.objects.filter(status=R.COMPUTING, started_at__lte=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            # A worker computing the run holds its row lock for the whole computation: skip those.
            run = PayoutRun.objects.select_for_update(skip_locked=True).filter(pk=run_id, status=R.COMPUTING).first()
            if run is None:
                continue
            enqueue(COMPUTE_MONTH_TASK, run.program_id, run.month.isoformat(), run.kind)
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
    # A recomputed run is screened afresh: earlier flags and their decisions stay in the flags' history only.
    ScreeningFlag.objects.filter(run=run).delete()
    Adjustment.objects.filter(applied_run=run).update(applied_run=None)
    final = run.kind == PayoutRun.Kind.FINAL
    available = FundPosition(fund, excluding_run=run.pk).available(run.month)
    taken = _apply_adjustments(run, program, available) if final else 0
    budget = available - taken
    ctx = RunContext(run=run, program=program, terms=terms, fund=fund, start=run.month, end=run.as_of,
                     budget_minor=budget)
    set_up_bulk_computation(settings.PAYOUT_WORK_MEM)  # a month's sorts of a million partners in memory, no JIT
    earned_sql, earned_params = FORMULAS[program.archetype](ctx)
    write_lines(ctx, earned_sql, earned_params, final=final)
    count, gross, adjustments, net, payable, spend = (int(v or 0) for v in fetchone(f"""
        SELECT COUNT(*), SUM(gross_minor), SUM(adjustments_minor), SUM(net_minor),
               SUM(CASE WHEN status = {PAYABLE} THEN net_minor ELSE 0 END),
               SUM({LINE_SPEND_SQL})
        FROM {LINE_TABLE} WHERE run_id = %(run)s""", {"run": run.pk}))
    if final and spend > available:  # a revenue share owed past the fund's total
        raise FundOverdrawn(FUND_OVERDRAWN.format(run=run, spend=format_money(spend, fund.currency), fund=fund,
                                                  remaining=format_money(available, fund.currency)))
    if final:
        _record_makers(run, program)
        run_screen(ctx, total_gross=gross)  # reads the lines and the formula's tables; a hold changes no total here
    drop_temporary(*ctx.temporary)
    # Computing answers the staleness the run had when it started; an input marked changed since then keeps it stale.
    marked = PayoutRun.objects.filter(pk=run.pk).values_list("stale_reason", flat=True).get()
    run.stale_reason = "" if marked == run.stale_reason else marked
    run.status, run.error, run.computed_at = R.COMPUTED, "", timezone.now()
    run.budget_minor, run.line_count, run.total_gross_minor = budget, count, gross
    run.total_adjustments_minor, run.total_net_minor, run.total_payable_minor = adjustments, net, payable
    run.spend_minor = spend if final else 0
    run.save()
