"""What-if runs: a computed monthly run's month computed again with other terms, shown beside the run, and kept nowhere.

The same formula SQL as a real computation (payouts.formulas: the archetype's ``earned`` and ``write_lines``)
writes the lines into a temporary table of this session instead of the run's; the terms are an unsaved copy of
the program's with the changes applied. Everything happens inside a savepoint that is always rolled back, so even
a formula that wrote elsewhere would leave nothing: no line, run, ledger entry, screening flag or terms change,
and no on-commit work (a rolled-back savepoint discards its callbacks). Screening is not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, transaction

from core.sql import drop_temporary, execute, fetchall, fetchone, set_up_bulk_computation
from partnerships.models import Partner
from payouts.exceptions import AMOUNT_TOO_LARGE, RunRefused
from payouts.formulas.archetypes import FORMULAS
from payouts.formulas.context import LINE_COLUMNS, RunContext
from payouts.formulas.settle import write_lines
from payouts.formulas.tables import LINE_TABLE, PARTNER_TABLE, PAYABLE
from payouts.funds import LINE_SPEND_SQL
from payouts.models import Fund, PayoutRun, ProgramTerms
from payouts.services.guards import require_permission
from payouts.transitions import APPROVE_PERMISSION

if TYPE_CHECKING:
    from django.contrib.auth.models import User

WHAT_IF_LINES = "cp_what_if_lines"
WHAT_IF_COMPARED = "cp_what_if_compared"
BIGINT_MAX = 2**63 - 1
# The terms a what-if may change; anything else is refused by name. ``budget_minor`` is the run's budget, the rest
# are ProgramTerms fields, validated by the model's own field and clean() rules.
TERMS_FIELDS = (
    "pool_share", "min_views", "partner_cap_minor", "excess_policy", "revenue_share_rate", "revenue_tiers",
    "rpm_by_country", "rpm_multiplier", "video_cap_minor", "grant_monthly_minor", "min_payout_minor",
)
CHANGEABLE = ("budget_minor", *TERMS_FIELDS)
MAX_EXCLUDED = 1000
LARGEST = 20

NOT_A_MONTHLY_RUN = "Run {run} is an estimate: a what-if starts from a computed monthly run."
NOT_COMPUTED = ("Run {run} is {status}: a what-if starts from a computed run (once approved, its lines are in the "
                "ledger and its month is no longer open to other terms).")
NOT_COMPUTABLE = ("Run {run}: its program has no money terms or fund now, or no longer pays by monthly runs, so "
                  "there is nothing to compute a what-if with.")
UNKNOWN_CHANGE = "{field} is not a term a what-if can change (it can change: {known})."
BAD_BUDGET = "The budget is a whole number of minor units from 0 to {limit:,}."
BAD_EXCLUDED = "Excluded partners are partner ids (whole numbers), at most {limit:,} of them."
UNKNOWN_PARTNERS = "No partner has the id {ids}."


class WhatIfInvalid(ValidationError):
    """The changes asked for are not valid terms: a ValidationError whose message_dict names each field."""


@dataclass(frozen=True)
class PartnerChange:
    partner_id: int
    handle: str
    name: str
    old_gross: int
    new_gross: int
    old_net: int
    new_net: int
    old_status: str
    new_status: str

    @property
    def difference(self) -> int:
        return self.new_net - self.old_net


@dataclass(frozen=True)
class Totals:
    lines: int
    gross: int
    net: int
    payable: int
    spend: int


@dataclass(frozen=True)
class WhatIfResult:
    run: PayoutRun
    changes: dict[str, Any]  # the validated changes
    excluded_partner_ids: tuple[int, ...]
    budget_minor: int
    old: Totals
    new: Totals
    gaining: int
    losing: int
    unchanged: int
    largest: list[PartnerChange]  # the largest changes of net, either way, largest first
    rows: list[PartnerChange]  # every partner of either side (up to the row limit asked for), by partner id

    @property
    def currency(self) -> str:
        return self.run.currency


def _validate(run: PayoutRun, terms: ProgramTerms, changes: Mapping[str, Any],
              excluded: Iterable[Any]) -> tuple[ProgramTerms, int, dict[str, Any], tuple[int, ...]]:
    """The changed (unsaved) terms, the budget, the changes as validated values and the excluded ids; errors name
    every field at fault."""
    errors: dict[str, list[str]] = {}
    for name in changes:
        if name not in CHANGEABLE:
            errors.setdefault(str(name)[:60], []).append(UNKNOWN_CHANGE.format(field=str(name)[:60],
                                                                              known=", ".join(CHANGEABLE)))
    budget = run.budget_minor
    if "budget_minor" in changes:
        value = changes["budget_minor"]
        try:
            if isinstance(value, float | bool):
                raise ValueError
            budget = int(str(value).strip())
            if not 0 <= budget <= BIGINT_MAX:
                raise ValueError
        except (TypeError, ValueError):
            errors.setdefault("budget_minor", []).append(BAD_BUDGET.format(limit=BIGINT_MAX))
    changed = [name for name in changes if name in TERMS_FIELDS]
    for name in changed:
        setattr(terms, name, changes[name])
    try:
        terms.full_clean(exclude=[f.name for f in ProgramTerms._meta.fields if f.name not in changed],
                         validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    ids: list[int] = []
    try:
        raw = list(excluded)
        if len(raw) > MAX_EXCLUDED:
            raise ValueError
        for value in raw:
            if isinstance(value, float | bool):
                raise ValueError
            pk = int(str(value).strip())
            if not 0 < pk <= BIGINT_MAX:
                raise ValueError
            ids.append(pk)
    except (TypeError, ValueError):
        errors.setdefault("excluded_partner_ids", []).append(BAD_EXCLUDED.format(limit=MAX_EXCLUDED))
    else:
        unknown = sorted(set(ids) - set(Partner.objects.filter(pk__in=ids).values_list("pk", flat=True)))
        if unknown:
            errors.setdefault("excluded_partner_ids", []).append(
                UNKNOWN_PARTNERS.format(ids=", ".join(str(pk) for pk in unknown[:10])))
    if errors:
        raise WhatIfInvalid(errors)
    valid = {name: getattr(terms, name) for name in changed}
    if "budget_minor" in changes:
        valid["budget_minor"] = budget
    return terms, budget, valid, tuple(sorted(set(ids)))


def payout_run_what_if(*, run_id: int, terms_changes: Mapping[str, Any], excluded_partner_ids: Iterable[Any] = (),
                       actor: User, row_limit: int | None = None) -> WhatIfResult:
    """The run's month computed with the program's terms plus ``terms_changes`` (and without the excluded
    partners), compared partner by partner with the run's lines. Finance approvers only; a computed monthly run
    only. Invalid changes raise ``WhatIfInvalid`` naming each field; nothing is ever written.

    ``row_limit``: at most this many per-partner rows (the first by partner id) are returned, so a page of a
    month of a million partners holds a few hundred in memory; None (the CSV export) returns them all. The totals,
    counts and largest changes are always over every partner."""
    require_permission(actor, APPROVE_PERMISSION, "try what-if terms on payout runs")
    run = PayoutRun.objects.select_related("program").get(pk=run_id)
    if run.kind != PayoutRun.Kind.FINAL:
        raise RunRefused(NOT_A_MONTHLY_RUN.format(run=run))
    if run.status != PayoutRun.Status.COMPUTED:
        raise RunRefused(NOT_COMPUTED.format(run=run, status=run.get_status_display().lower()))
    program = run.program
    terms = ProgramTerms.objects.filter(program=program).first()
    fund = Fund.objects.filter(program=program).first()
    if terms is None or fund is None or program.archetype not in FORMULAS:
        raise RunRefused(NOT_COMPUTABLE.format(run=run))
    terms, budget, valid, excluded = _validate(run, terms, terms_changes, excluded_partner_ids)
    try:
        with transaction.atomic():
            result = _compute(run, terms, fund, budget, valid, excluded, row_limit)
            transaction.set_rollback(True)  # nothing done here outlives the what-if
    except (DataError, OverflowError) as exc:
        raise RunRefused(AMOUNT_TOO_LARGE.format(run=run, limit=f"{BIGINT_MAX:,}")) from exc
    return result


def _compute(run: PayoutRun, terms: ProgramTerms, fund: Fund, budget: int, valid: dict[str, Any],
             excluded: tuple[int, ...], row_limit: int | None) -> WhatIfResult:
    ctx = RunContext(run=run, program=run.program, terms=terms, fund=fund, start=run.month, end=run.as_of,
                     budget_minor=budget, excluded_partner_ids=excluded)
    set_up_bulk_computation(settings.PAYOUT_WORK_MEM)
    drop_temporary(WHAT_IF_LINES, WHAT_IF_COMPARED)
    execute(f"CREATE TEMPORARY TABLE {WHAT_IF_LINES} AS SELECT {LINE_COLUMNS} FROM {LINE_TABLE} WHERE 1 = 0")
    ctx.temporary.extend([WHAT_IF_LINES, WHAT_IF_COMPARED])
    earned_sql, earned_params = FORMULAS[run.program.archetype](ctx)
    write_lines(ctx, earned_sql, earned_params, final=True, into=WHAT_IF_LINES)
    if excluded:  # nor do they carry a balance or an adjustment into this month
        execute(f"DELETE FROM {WHAT_IF_LINES} WHERE partner_id IN ({', '.join(str(pk) for pk in excluded)})")
    totals = f"""COUNT(*), COALESCE(SUM(gross_minor), 0), COALESCE(SUM(net_minor), 0),
                 COALESCE(SUM(CASE WHEN status = {PAYABLE} THEN net_minor ELSE 0 END), 0),
                 COALESCE(SUM({LINE_SPEND_SQL}), 0)"""
    old = Totals(*(int(v) for v in fetchone(f"SELECT {totals} FROM {LINE_TABLE} WHERE run_id = %(run)s",
                                             {"run": run.pk})))
    new = Totals(*(int(v) for v in fetchone(f"SELECT {totals} FROM {WHAT_IF_LINES}")))
    execute(f"""CREATE TEMPORARY TABLE {WHAT_IF_COMPARED} AS
        SELECT COALESCE(o.partner_id, n.partner_id) AS partner_id,
               COALESCE(o.gross_minor, 0) AS old_gross, COALESCE(n.gross_minor, 0) AS new_gross,
               COALESCE(o.net_minor, 0) AS old_net, COALESCE(n.net_minor, 0) AS new_net,
               COALESCE(o.status, '') AS old_status, COALESCE(n.status, '') AS new_status
        FROM (SELECT partner_id, gross_minor, net_minor, status FROM {LINE_TABLE} WHERE run_id = %(run)s) o
        FULL JOIN {WHAT_IF_LINES} n ON n.partner_id = o.partner_id""", {"run": run.pk})
    gaining, losing, unchanged = (int(v or 0) for v in fetchone(f"""
        SELECT SUM(CASE WHEN new_net > old_net THEN 1 ELSE 0 END), SUM(CASE WHEN new_net < old_net THEN 1 ELSE 0 END),
               SUM(CASE WHEN new_net = old_net THEN 1 ELSE 0 END) FROM {WHAT_IF_COMPARED}"""))
    select = f"""SELECT c.partner_id, p.handle, p.display_name, c.old_gross, c.new_gross, c.old_net, c.new_net,
                        c.old_status, c.new_status
                 FROM {WHAT_IF_COMPARED} c JOIN {PARTNER_TABLE} p ON p.id = c.partner_id"""
    largest = [_change(row) for row in fetchall(
        f"{select} WHERE c.new_net <> c.old_net ORDER BY ABS(c.new_net - c.old_net) DESC, c.partner_id "
        f"LIMIT {LARGEST}")]
    limit = "" if row_limit is None else f" LIMIT {max(0, int(row_limit))}"
    rows = [_change(row) for row in fetchall(f"{select} ORDER BY c.partner_id{limit}")]
    drop_temporary(*ctx.temporary)  # the rollback drops them too; a long session need not keep them
    return WhatIfResult(run=run, changes=valid, excluded_partner_ids=excluded, budget_minor=budget, old=old, new=new,
                        gaining=gaining, losing=losing, unchanged=unchanged, largest=largest, rows=rows)


def _change(row: tuple[Any, ...]) -> PartnerChange:
    pk, handle, name, old_gross, new_gross, old_net, new_net, old_status, new_status = row
    return PartnerChange(partner_id=int(pk), handle=handle, name=name, old_gross=int(old_gross),
                         new_gross=int(new_gross), old_net=int(old_net), new_net=int(new_net),
                         old_status=old_status, new_status=new_status)

