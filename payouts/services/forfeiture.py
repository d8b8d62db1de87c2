"""Forfeiting a line held by screening, for good: the program's setting (``ProgramTerms.forfeiture_policy``) says
where its amount goes.

The amount is the line's net: what approving its run left on the partner's payable balance and no payment took
(carried in from earlier months, plus the month's earnings less the tax withheld, which stays withheld). One
balanced ledger transaction moves it from the partner's payable account back to the fund's budget account, and a
``Forfeiture`` row (who, when, why: the decision's record) makes the fund count it as unspent (payouts.funds):

- back to the fund: the line's month spends that much less; like any unspent budget it rolls over to later
  months only if the fund rolls over, and otherwise stays in the fund;
- to the other partners: the same, and the next month not yet computed may spend it beyond its own release, so
  its pool (payouts.formulas.pooled) grows by the amount and is shared among that month's members.

So the ledger's fund budget balance stays exactly the fund's total less ``Fund.spent_minor`` for approved runs,
and forfeiting the same line twice posts once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Max

from core.money import format_money
from core.periods import next_month
from core.permissions import require_reason
from partnerships.models import Program
from payouts import ledger
from payouts.exceptions import (
    FORFEIT_BALANCE_SHORT,
    FORFEIT_CARRIED,
    FORFEIT_NOT_HELD,
    FORFEIT_NOTHING,
    RunRefused,
)
from payouts.funds import fund_refresh_spent
from payouts.models import (
    EarningLine,
    Forfeiture,
    ForfeiturePolicy,
    Fund,
    LedgerAccount,
    PayoutRun,
    ProgramTerms,
    ScreeningFlag,
)
from payouts.services.guards import require_permission

if TYPE_CHECKING:
    from django.contrib.auth.models import User

FORFEIT_PERMISSION = "payouts.add_forfeiture"
R = PayoutRun.Status
FORFEITABLE_RUNS = (R.APPROVED, R.PAID)


def _policy(program: Program) -> str:
    """The program's setting; only a pooled fund has other partners to give the amount to."""
    if program.archetype != Program.Archetype.POOLED_FUND:
        return ForfeiturePolicy.RETURN_TO_FUND
    terms = ProgramTerms.objects.filter(program=program).first()
    return terms.forfeiture_policy if terms is not None else ForfeiturePolicy.RETURN_TO_FUND


def _refuse_carried(line: EarningLine, run: PayoutRun) -> None:
    """The held balance must still be this line's: no computed run carries it, no later run carried it on."""
    later = (EarningLine.objects.filter(partner_id=line.partner_id, run__program_id=run.program_id,
                                        run__kind=PayoutRun.Kind.FINAL).exclude(run=run).exclude(carried_in_minor=0)
             .filter(run__status=R.COMPUTED).values_list("run_id", flat=True).first())
    if later is None:
        later = (EarningLine.objects.filter(partner_id=line.partner_id, run__program_id=run.program_id,
                                            run__kind=PayoutRun.Kind.FINAL, run__status__in=FORFEITABLE_RUNS,
                                            run__month__gt=run.month).exclude(carried_in_minor=0)
                 .values_list("run_id", flat=True).first())
    if later is not None:
        raise RunRefused(FORFEIT_CARRIED.format(partner=line.partner_id, run=run, later=later))


@transaction.atomic
def earning_line_forfeit(*, line_id: int, actor: User, reason: str) -> Forfeiture:
    """Forfeit a line held by screening in an approved or paid monthly run (see the module). Idempotent: a line
    already forfeited returns its forfeiture and posts nothing. Refused, changing nothing, for a line that is not
    held by screening, leaves nothing on the partner's balance, or whose balance another run carried."""
    require_permission(actor, FORFEIT_PERMISSION, "forfeit held lines")
    reason = require_reason(reason, "forfeit a held line", error=RunRefused)
    line = EarningLine.objects.select_related("run__program").get(pk=line_id)
    run = line.run
    fund = Fund.objects.select_for_update().get(program_id=run.program_id)  # the fund's lock orders runs' money
    line = EarningLine.objects.select_for_update().get(pk=line_id)
    existing = Forfeiture.objects.filter(line=line).first()
    if existing is not None:
        return existing
    held_by_screening = ScreeningFlag.objects.filter(run=run, partner_id=line.partner_id,
                                                     status=ScreeningFlag.Status.HELD).exists()
    if (run.kind != PayoutRun.Kind.FINAL or run.status not in FORFEITABLE_RUNS
            or line.status != EarningLine.Status.HELD or not held_by_screening):
        status = f"{line.get_status_display().lower()} in a {run.get_status_display().lower()} run"
        raise RunRefused(FORFEIT_NOT_HELD.format(partner=line.partner_id, run=run, status=status))
    amount = line.net_minor
    if amount <= 0:
        raise RunRefused(FORFEIT_NOTHING.format(partner=line.partner_id, run=run,
                                                amount=format_money(amount, run.currency)))
    _refuse_carried(line, run)
    payable = LedgerAccount.objects.get(kind=LedgerAccount.Kind.PARTNER_PAYABLE, currency=run.currency,
                                        partner_id=line.partner_id, program_id=run.program_id)
    held = ledger.balance(payable)
    if held < amount:
        raise RunRefused(FORFEIT_BALANCE_SHORT.format(
            partner=line.partner_id, run=run, balance=format_money(held, run.currency),
            amount=format_money(amount, run.currency)))
    policy = _policy(run.program)
    budget_month = None
    if policy == ForfeiturePolicy.REDISTRIBUTE:
        latest = (PayoutRun.objects.spending().filter(program_id=run.program_id)
                  .aggregate(latest=Max("month"))["latest"])
        budget_month = next_month(max(latest or run.month, run.month))
    forfeiture = Forfeiture.objects.create(
        line=line, run=run, program_id=run.program_id, partner_id=line.partner_id, amount_minor=amount,
        policy=policy, month=run.month, budget_month=budget_month, reason=reason, forfeited_by=actor)
    budget = ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET)
    destination = dict(ForfeiturePolicy.choices)[policy].lower()
    ledger.post_pairs(key=f"line:{line.pk}:forfeit", run=run, actor=actor,
                      description=(f"Forfeited partner {line.partner_id}'s held line in {run}: "
                                   f"{format_money(amount, run.currency)} {destination}"[:200]),
                      pairs=[(payable.pk, -amount), (budget.pk, amount)])
    line.hold_reason = f"forfeited: {reason}"[:200]
    line.save(update_fields=["hold_reason"])
    fund_refresh_spent(fund)
    return forfeiture
