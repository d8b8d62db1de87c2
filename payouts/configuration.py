"""Changes to a program's money configuration: its terms, its fund and the fund's budget tranches.

Every change is one service call that takes the acting user and a required reason, locks the rows it changes, keeps
the version (simple-history: who, when, the reason, every field), and after commit marks the program's computed but
not yet approved runs stale: they were computed with the old configuration and must be computed again.

Invariants kept: a fund's total never falls below what its runs spent (the database refuses it too, but this says so
first, in money); the budget its tranches release never exceeds the fund's total, nor falls below what was spent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from core.money import format_money
from partnerships.models import Program
from payouts.closing import payout_runs_mark_stale
from payouts.exceptions import PayoutsError
from payouts.funds import FundPosition
from payouts.models import BudgetTranche, Fund, ProgramTerms

REASON_REQUIRED = "Say why: every change to money terms, a fund or its tranches keeps its reason."
FUND_TOTAL_BELOW_SPENT = (
    "Fund “{fund}” cannot total {total}: its runs have already spent {spent}. Type at least {spent}.")
RELEASED_ABOVE_TOTAL = (
    "Fund “{fund}”'s tranches would release {released} but the fund totals {total}: lower the tranches or raise "
    "the total.")
RELEASED_BELOW_SPENT = (
    "Fund “{fund}”'s tranches would release {released} but its runs have already spent {spent}: a tranche cannot "
    "take back money already spent.")
SPENT_PAST_RELEASE = (
    "Fund “{fund}”'s tranches would leave months having spent more than was released by then: {months}. A tranche "
    "cannot take back money a month already spent.")
NOT_CONFIGURABLE = "“{name}” is not a setting that can be changed here (allowed: {allowed})."
FUND_EXISTS = "“{program}” already has a fund: change that one."
TERMS_EXIST = "“{program}” already has money terms: change those."
TRANCHE_OF_ANOTHER_FUND = "Budget tranche {tranche} belongs to another fund."
STALE_REASON = "{what} changed by {user}: {reason}"

FUND_FIELDS = ("name", "currency", "total_minor", "rollover_unspent")
TRANCHE_FIELDS = ("starts_on", "ends_on", "amount_minor")
TERMS_FIELDS = tuple(f.name for f in ProgramTerms._meta.concrete_fields if f.name not in ("id", "program"))


class ConfigurationRefused(PayoutsError):
    pass


@dataclass
class TrancheChange:
    """One row of a fund's tranche list as an admin save hands it over: new (id None), changed, or deleted."""

    id: int | None = None
    values: dict = field(default_factory=dict)
    delete: bool = False


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ConfigurationRefused(REASON_REQUIRED)
    return reason


def _refuse_unknown(changes: dict, allowed: Iterable[str]) -> None:
    unknown = [name for name in changes if name not in allowed]
    if unknown:
        raise ConfigurationRefused(NOT_CONFIGURABLE.format(name=unknown[0], allowed=", ".join(allowed)))


def _validate(instance, *, exclude: Iterable[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude), validate_constraints=False)
    except ValidationError as exc:
        raise ConfigurationRefused("; ".join(f"{name}: {' '.join(messages)}" if name != "__all__" else
                                             " ".join(messages) for name, messages in exc.message_dict.items())
                                   ) from exc


def _save_version(instance, *, actor: AbstractBaseUser, reason: str, **kwargs) -> None:
    instance._change_reason = reason
    instance._history_user = actor
    instance.save(**kwargs)


def _mark_stale_after_commit(*, program_id: int, what: str, actor: AbstractBaseUser, reason: str) -> None:
    message = STALE_REASON.format(what=what, user=actor.get_username(), reason=reason)
    transaction.on_commit(lambda: payout_runs_mark_stale(program_id=program_id, reason=message))


def _check_fund_money(fund: Fund) -> None:
    """Total ≥ spent, and spent ≤ released by the tranches ≤ total. `fund` is locked by the caller."""
    money = lambda amount: format_money(amount, fund.currency)  # noqa: E731
    if fund.total_minor < fund.spent_minor:
        raise ConfigurationRefused(FUND_TOTAL_BELOW_SPENT.format(fund=fund.name, total=money(fund.total_minor),
                                                                 spent=money(fund.spent_minor)))
    if fund.program.archetype == Program.Archetype.REVENUE_SHARE:
        return  # contractual: the whole total is released at once (payouts.funds), tranches do not bind
    released = BudgetTranche.objects.filter(fund_id=fund.pk).aggregate(total=Sum("amount_minor"))["total"] or 0
    if released > fund.total_minor:
        raise ConfigurationRefused(RELEASED_ABOVE_TOTAL.format(fund=fund.name, released=money(released),
                                                               total=money(fund.total_minor)))
    if released < fund.spent_minor:
        raise ConfigurationRefused(RELEASED_BELOW_SPENT.format(fund=fund.name, released=money(released),
                                                               spent=money(fund.spent_minor)))
    breaches = FundPosition(fund).months_spent_past_release()
    if breaches:
        raise ConfigurationRefused(SPENT_PAST_RELEASE.format(fund=fund.name, months=", ".join(
            f"{row.month:%B %Y} (spent {money(row.spent_to_date)}, released {money(row.released_to_date)})"
            for row in breaches)))


# --- funds and tranches -----------------------------------------------------------------------------

def _fund_apply(fund: Fund, changes: dict, *, actor, reason) -> bool:
    _refuse_unknown(changes, FUND_FIELDS)
    changed = [name for name, value in changes.items() if getattr(fund, name) != value]
    if not changed:
        return False
    for name in changed:
        setattr(fund, name, changes[name])
    _validate(fund, exclude=["spent_minor"])
    if fund.total_minor < fund.spent_minor:  # said in money before the database's constraint says it in SQL
        raise ConfigurationRefused(FUND_TOTAL_BELOW_SPENT.format(
            fund=fund.name, total=format_money(fund.total_minor, fund.currency),
            spent=format_money(fund.spent_minor, fund.currency)))
    _save_version(fund, actor=actor, reason=reason)
    return True


def _tranche_apply(fund: Fund, change: TrancheChange, *, actor, reason) -> bool:
    _refuse_unknown(change.values, TRANCHE_FIELDS)
    if change.id is None:
        if change.delete:
            return False
        added = BudgetTranche(fund=fund, **change.values)
        _validate(added, exclude=["fund"])
        _save_version(added, actor=actor, reason=reason)
        return True
    tranche = BudgetTranche.objects.select_for_update().filter(pk=change.id).first()
    if tranche is None or tranche.fund_id != fund.pk:
        raise ConfigurationRefused(TRANCHE_OF_ANOTHER_FUND.format(tranche=change.id))
    if change.delete:
        # simple-history reads who and why from these attributes when it writes the deletion (it ships no types).
        tranche._change_reason, tranche._history_user = reason, actor  # type: ignore[attr-defined]
        tranche.delete()
        return True
    changed = [name for name, value in change.values.items() if getattr(tranche, name) != value]
    if not changed:
        return False
    for name in changed:
        setattr(tranche, name, change.values[name])
    _validate(tranche, exclude=["fund"])
    _save_version(tranche, actor=actor, reason=reason)
    return True


@transaction.atomic
def fund_create(*, program_id: int, actor: AbstractBaseUser, reason: str, name: str, currency: str, total_minor: int,
                rollover_unspent: bool = True, tranches: Iterable[TrancheChange] = ()) -> Fund:
    """A program's fund with its first tranches, as its first version (with the reason)."""
    reason = _reason(reason)
    if Fund.objects.filter(program_id=program_id).exists():
        raise ConfigurationRefused(FUND_EXISTS.format(program=Fund.objects.get(program_id=program_id).program))
    fund = Fund(program_id=program_id, name=name, currency=currency, total_minor=total_minor,
                rollover_unspent=rollover_unspent)
    _validate(fund, exclude=["spent_minor"])
    _save_version(fund, actor=actor, reason=reason)
    for change in tranches:
        _tranche_apply(fund, change, actor=actor, reason=reason)
    _check_fund_money(fund)
    _mark_stale_after_commit(program_id=program_id, what=f"Fund “{fund.name}”", actor=actor, reason=reason)
    return fund


@transaction.atomic
def fund_update(*, fund_id: int, actor: AbstractBaseUser, reason: str, tranches: Iterable[TrancheChange] = (),
                **changes) -> Fund:
    """Change a fund's settings and, in the same transaction, its tranches (an admin save of the fund page).
    Refuses a total below what the fund's runs spent, naming both amounts."""
    reason = _reason(reason)
    fund = Fund.objects.select_for_update().select_related("program").get(pk=fund_id)
    changed = _fund_apply(fund, changes, actor=actor, reason=reason)
    for change in tranches:
        changed = _tranche_apply(fund, change, actor=actor, reason=reason) or changed
    if changed:
        _check_fund_money(fund)
        _mark_stale_after_commit(program_id=fund.program_id, what=f"Fund “{fund.name}”", actor=actor, reason=reason)
    return fund


@transaction.atomic
def tranche_save(*, fund_id: int, actor: AbstractBaseUser, reason: str, tranche_id: int | None = None,
                 starts_on: dt.date, ends_on: dt.date, amount_minor: int) -> BudgetTranche:
    """Add a budget tranche to a fund, or change one; the fund's released budget must stay within its total."""
    reason = _reason(reason)
    fund = Fund.objects.select_for_update().get(pk=fund_id)
    change = TrancheChange(id=tranche_id, values={"starts_on": starts_on, "ends_on": ends_on,
                                                  "amount_minor": amount_minor})
    if _tranche_apply(fund, change, actor=actor, reason=reason):
        _check_fund_money(fund)
        _mark_stale_after_commit(program_id=fund.program_id, what=f"Budget of fund “{fund.name}”", actor=actor,
                                 reason=reason)
    return BudgetTranche.objects.get(pk=tranche_id) if tranche_id else fund.tranches.latest("pk")


@transaction.atomic
def tranche_delete(*, tranche_id: int, actor: AbstractBaseUser, reason: str) -> None:
    reason = _reason(reason)
    fund_id = BudgetTranche.objects.values_list("fund_id", flat=True).get(pk=tranche_id)
    fund = Fund.objects.select_for_update().get(pk=fund_id)
    _tranche_apply(fund, TrancheChange(id=tranche_id, delete=True), actor=actor, reason=reason)
    _check_fund_money(fund)
    _mark_stale_after_commit(program_id=fund.program_id, what=f"Budget of fund “{fund.name}”", actor=actor,
                             reason=reason)


# --- terms --------------------------------------------------------------------------------------------

@transaction.atomic
def _lock_fund_of(program_id: int) -> None:
    """Terms changes take the program's fund row lock, the lock a monthly computation holds: a change waits for a
    computation to finish (and then marks its run stale), or the computation reads the changed terms."""
    list(Fund.objects.select_for_update().filter(program_id=program_id).values_list("pk", flat=True))


def terms_create(*, program_id: int, actor: AbstractBaseUser, reason: str, **values) -> ProgramTerms:
    reason = _reason(reason)
    _lock_fund_of(program_id)
    _refuse_unknown(values, TERMS_FIELDS)
    if ProgramTerms.objects.filter(program_id=program_id).exists():
        raise ConfigurationRefused(TERMS_EXIST.format(program=ProgramTerms.objects.get(program_id=program_id).program))
    terms = ProgramTerms(program_id=program_id, **values)
    _validate(terms)
    _save_version(terms, actor=actor, reason=reason)
    _mark_stale_after_commit(program_id=program_id, what="Money terms", actor=actor, reason=reason)
    return terms


@transaction.atomic
def terms_update(*, terms_id: int, actor: AbstractBaseUser, reason: str, **changes) -> ProgramTerms:
    """Change a program's money terms; computed runs of the program become stale."""
    reason = _reason(reason)
    _refuse_unknown(changes, TERMS_FIELDS)
    _lock_fund_of(ProgramTerms.objects.values_list("program_id", flat=True).get(pk=terms_id))
    terms = ProgramTerms.objects.select_for_update().select_related("program").get(pk=terms_id)
    changed = [name for name, value in changes.items() if getattr(terms, name) != value]
    if not changed:
        return terms
    for name in changed:
        setattr(terms, name, changes[name])
    _validate(terms)
    _save_version(terms, actor=actor, reason=reason)
    _mark_stale_after_commit(program_id=terms.program_id, what="Money terms", actor=actor, reason=reason)
    return terms


# --- reading the versions -----------------------------------------------------------------------------

def configuration_changers(*, program_id: int, since: dt.datetime | None = None) -> set[int]:
    """Ids of the users who changed the program's terms, fund or tranches (since a time): makers of any run
    computed with them, who may not approve it."""
    filters = {"history_date__gte": since} if since else {}
    users = set(ProgramTerms.history.filter(program_id=program_id, **filters).values_list("history_user_id",
                                                                                            flat=True))
    users |= set(Fund.history.filter(program_id=program_id, **filters).values_list("history_user_id", flat=True))
    fund_ids = Fund.objects.filter(program_id=program_id).values_list("pk", flat=True)
    users |= set(BudgetTranche.history.filter(fund_id__in=fund_ids, **filters).values_list("history_user_id",
                                                                                             flat=True))
    return {user for user in users if user is not None}
