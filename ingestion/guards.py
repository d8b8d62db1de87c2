"""Period guards: how an app that pays from partnerships' inputs refuses rows of a closed period, and hears of rows
loaded for an open one, without partnerships importing it.

Daily metrics are loaded by partnerships (bulk ingestion, the admin's spreadsheet import, the admin's form), but
what closes a month is a payout run, which lives in payouts; partnerships never imports payouts. So payouts
registers a ``PeriodGuard`` in its AppConfig.ready, and every path that writes an input asks the registry:

- ``closed_rows_check(input=...)``: a set check for the ingestion engine, planned per load — skipped when no
  closed month falls within the staged days, otherwise one statement over the staging table (no query per row);
  ``closed_periods(input=..., partner_ids=..., months=...)``: the same answer for a set of partners and months,
  read at once (spreadsheet import, admin form); ``closed_reason(...)`` for one row. All read the guard's one SQL
  relation of closed periods, so "closed" has a single definition, the guard's.
- ``ClosedPeriodFormMixin`` (a ModelForm of an input row) and ingestion.admin_mixins.ClosedPeriodAdminMixin
  (its ModelAdmin: who edits, no deleting a closed row) apply the same rule in the admin.
- ``period_inputs_loaded(LoadedInputs(...))`` after a successful write: the guards' hooks run inside the write's
  transaction, with the loaded (partner, month) pairs, or the loaded day range when too many to list.
- ``hold_open_months()`` and ``close_months()``: the one lock between writing inputs and closing a period. A write
  takes it shared in its transaction before its closed-period check; whatever closes a period (approving a run)
  takes it exclusively before it looks at its run. So either the write commits first, with the runs it concerns
  already marked stale (which refuses the approval), or it checks after the approval committed and sees the month
  closed. Without it a run approved between a load's check and its merge let late rows into a paid month.

Inputs are named by the constants below. An input has a day and a partner; an input in money also has a currency,
which the guard's relation names (a row in a currency concerns only the programs that pay in it)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from core import periods
from ingestion.engine.spec import SetCheck

DAILY_METRICS = "daily_metrics"
AD_REVENUE = "ad_revenue"
VIDEO_VIEWS = "video_views"
INPUT_LABELS = {DAILY_METRICS: "daily metrics", AD_REVENUE: "ad revenue", VIDEO_VIEWS: "video daily views"}
LOOKUP_CHUNK = 2_000  # partners per query of closed_periods
CLOSING_LOCK = "period-inputs:closing"  # advisory lock: writers of inputs share it, closing a period takes it alone


def _closing_lock(*, shared: bool) -> None:
    """PostgreSQL: the transaction-scoped advisory lock, held until the transaction ends (SQLite writes one at a
    time, so it needs none)."""
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(hashtext(%s))", [CLOSING_LOCK])


def hold_open_months() -> None:
    """Inside a transaction that writes a period input, before its closed-period check (see the module's doc)."""
    _closing_lock(shared=True)


def close_months() -> None:
    """Inside the transaction that closes a period, before it reads the run it closes (see the module's doc): waits
    for writes under way, and writes that start meanwhile wait for it. Take it before any row lock that a write's
    hooks take (a run's), or the two can deadlock."""
    _closing_lock(shared=False)


@dataclass(frozen=True)
class LoadedInputs:
    """What one successful write loaded (new or changed rows only: an identical row changes nothing)."""

    input: str
    partner_months: frozenset[tuple[int, dt.date]] | None  # (partner id, first day of month); None: too many
    first_day: dt.date
    last_day: dt.date
    rows: int
    source: str  # who or what loaded them: "import job 12 (alice)", "alice (admin spreadsheet import)", …
    loaded_on: dt.date
    verb: str = "loaded"  # or "edited", "deleted" (the admin's form and delete)

    @property
    def months(self) -> set[dt.date]:
        if self.partner_months is not None:
            return {month for _, month in self.partner_months}
        return set(periods.months_in(self.first_day, self.last_day))

    @property
    def label(self) -> str:
        return INPUT_LABELS.get(self.input, self.input)


@dataclass(frozen=True)
class PeriodGuard:
    name: str
    # input -> SQL of a relation with the columns partner_id, month (first day), currency, detail: one row per
    # partner, month and currency closed for that input (currency: of the program that closed it); None when the
    # guard has nothing to say about the input. ``detail`` is text that ``refusal`` turns into the reason.
    closed_periods_sql: Callable[[str], str | None]
    refusal: Callable[[dt.date, str], str]  # (month, detail) -> why a row of that month is refused
    loaded: Callable[[LoadedInputs], None] | None = None  # run after the write commits


_GUARDS: dict[str, PeriodGuard] = {}


def register_period_guard(guard: PeriodGuard) -> None:
    """Called from an AppConfig.ready; registering the same name again replaces it."""
    _GUARDS[guard.name] = guard


def period_guards() -> list[PeriodGuard]:
    return list(_GUARDS.values())


def month_of(day: str, vendor: str) -> str:
    """SQL: the first day of ``day``'s month, comparable with a DateField on both databases."""
    if vendor == "postgresql":
        return f"CAST(date_trunc('month', {day}) AS date)"
    return f"strftime('%Y-%m-01', {day})"


def _closed_relation(input: str) -> str | None:  # noqa: A002 (the domain's word)
    """Every guard's closed periods of the input as one relation; detail is prefixed with the guard's position."""
    parts = []
    for index, guard in enumerate(period_guards()):
        sql = guard.closed_periods_sql(input)
        if sql:
            parts.append(f"SELECT c.partner_id, c.month, c.currency, '{index}|' || c.detail AS detail FROM ({sql}) c")
    return " UNION ALL ".join(parts) or None


def _refusal(month: dt.date, detail: object) -> str:
    index, _, rest = str(detail).partition("|")
    return period_guards()[int(index)].refusal(month, rest)


def as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _date_literal(day: dt.date, vendor: str) -> str:
    return f"DATE '{day.isoformat()}'" if vendor == "postgresql" else f"'{day.isoformat()}'"


def closed_rows_check(*, input: str, partners: str, column: str = "date", handle: str = "s.handle",  # noqa: A002
                      day: str = "s.day", currency: str | None = None) -> SetCheck:
    """The ingestion engine's check of a staged input (alias ``s``): rows whose partner (by handle) has the row's
    month closed, in the row's currency when ``currency`` is given. ``partners`` is the table of partners (its
    columns ``id`` and ``handle``), given by the kind: ingestion knows no app's models. Planned when the load runs
    (after every app's ready(), so a guard registered later applies), in two steps that keep it cheap at a million rows:

    1. the closed months within the staged days' range (one pass over the staging table for MIN/MAX, then the
       guard's relation for those months only) — none, the everyday case of a file of recent days, skips the check;
    2. the rows of those months whose partner has them closed: one statement, the guard's relation restricted to
       those months, so the database joins members of a few closing runs, not of every run ever approved."""
    def plan(stage: str, vendor: str) -> tuple[str, str] | None:
        relation = _closed_relation(input)
        if relation is None:
            return None
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN({day}), MAX({day}) FROM {stage} s")
            first, last = cursor.fetchone()
            if first is None:
                return None
            cursor.execute(f"SELECT DISTINCT c.month FROM ({relation}) c WHERE c.month BETWEEN %s AND %s",
                           [as_date(first).replace(day=1), as_date(last)])
            months = sorted(as_date(month) for (month,) in cursor.fetchall())
        if not months:
            return None
        listed = ", ".join(_date_literal(month, vendor) for month in months)
        row_month = month_of(day, vendor)
        in_currency = f" AND c.currency = {currency}" if currency else ""
        body = (f"FROM ({relation}) c JOIN {partners} p ON p.id = c.partner_id "
                f"WHERE c.month IN ({listed}) AND p.handle = {handle} AND c.month = {row_month}{in_currency}")
        return f"{row_month} IN ({listed}) AND EXISTS (SELECT 1 {body})", f"(SELECT MIN(c.detail) {body})"

    return SetCheck(column=column, where="1 = 0", plan=plan, again_at_merge=True,
                    reason=lambda value, found: _refusal(as_date(value).replace(day=1), found))


class ClosedPeriods:
    """Closed (partner, month[, currency]) of a set of partners and months, with the reason to give."""

    def __init__(self, rows: Iterable[tuple[int, dt.date, str, str]] = ()):
        self._found: dict[tuple[int, dt.date], list[tuple[str, str]]] = defaultdict(list)
        for partner_id, month, currency, detail in rows:
            month = as_date(month)
            self._found[(partner_id, month)].append((currency, _refusal(month, detail)))
        for found in self._found.values():
            found.sort()

    def __bool__(self) -> bool:
        return bool(self._found)

    def reason(self, partner_id: int, day: dt.date, currency: str | None = None) -> str | None:
        """Why a row of that partner, day (and currency) is refused; None when its month is open."""
        for closed_currency, reason in self._found.get((partner_id, day.replace(day=1)), ()):
            if currency is None or closed_currency == currency:
                return reason
        return None


def closed_periods(*, input: str, partner_ids: Iterable[int], months: Iterable[dt.date]  # noqa: A002
                   ) -> ClosedPeriods:
    """The closed periods among these partners and months: one query per 2,000 partners (a spreadsheet import
    reads them once for the whole file, the admin's form for its one row)."""
    relation = _closed_relation(input)
    partner_ids, months = sorted(set(partner_ids)), sorted({month.replace(day=1) for month in months})
    if relation is None or not partner_ids or not months:
        return ClosedPeriods()
    rows = []
    with connection.cursor() as cursor:
        for start in range(0, len(partner_ids), LOOKUP_CHUNK):
            chunk = partner_ids[start:start + LOOKUP_CHUNK]
            cursor.execute(
                f"SELECT c.partner_id, c.month, c.currency, c.detail FROM ({relation}) c "
                f"WHERE c.partner_id IN ({', '.join(['%s'] * len(chunk))}) "
                f"AND c.month IN ({', '.join(['%s'] * len(months))})",
                [*chunk, *months],
            )
            rows += cursor.fetchall()
    return ClosedPeriods(rows)


def closed_reason(*, input: str, partner_id: int, day: dt.date, currency: str | None = None  # noqa: A002
                  ) -> str | None:
    """Why one row would be refused (the admin's form), or None."""
    return closed_periods(input=input, partner_ids=[partner_id], months=[day]).reason(partner_id, day, currency)


def period_inputs_loaded(loaded: LoadedInputs) -> None:
    """Tell every guard what a write loaded, inside the write's transaction (under ``hold_open_months``): a run the
    write makes stale is stale when the write commits, never a moment later, when an approval could slip in.

    Not robust on purpose: a guard that cannot note a change (e.g. mark a run stale) fails the write with it."""
    if loaded.rows <= 0:
        return
    for guard in period_guards():
        if guard.loaded is not None:
            guard.loaded(loaded)


def partner_months(pairs: Iterable[tuple[int, object]]) -> frozenset[tuple[int, dt.date]]:
    """(partner id, day) pairs as (partner id, first day of month), days as dates or ISO text (SQLite)."""
    return frozenset((partner_id, as_date(day).replace(day=1)) for partner_id, day in pairs)


def source_label(*, what: str, user=None) -> str:
    """"alice (admin spreadsheet import)", or what it was when nobody is known."""
    return f"{user} ({what})" if user is not None else what


class ClosedPeriodFormMixin:
    """For the ModelForm of an input row (``partner``, ``day`` and, for money, ``currency``): a row whose month is
    closed is not edited — neither the row as stored nor the row as edited (moving a row into or out of a closed
    month is refused too) — and a saved change is told to the period guards once committed.

    ``period_input`` names the input; ``actor`` (set by the admin's get_form) says who, in a stale run's reason."""

    period_input = ""
    actor = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        self._stored = (instance.partner_id, instance.day, getattr(instance, "currency", None)) if instance.pk else None

    def clean(self):
        cleaned = super().clean()
        if not self.has_changed() and self._stored is not None:
            return cleaned  # saving a row unchanged changes nothing
        hold_open_months()  # the admin validates and saves in one transaction
        if self._stored is not None:
            reason = closed_reason(input=self.period_input, partner_id=self._stored[0], day=self._stored[1],
                                   currency=self._stored[2])
            if reason:
                raise ValidationError(reason)
        partner, day = cleaned.get("partner"), cleaned.get("day")
        if partner is not None and day is not None:
            reason = closed_reason(input=self.period_input, partner_id=partner.pk, day=day,
                                   currency=cleaned.get("currency"))
            if reason:
                self.add_error("day", reason)
        return cleaned

    def save(self, commit=True):
        instance = super().save(commit=commit)
        if self.has_changed():
            pairs = {(instance.partner_id, instance.day)} | ({self._stored[:2]} if self._stored else set())
            months = partner_months(pairs)
            loaded = LoadedInputs(
                input=self.period_input, partner_months=months, first_day=min(m for _, m in months),
                last_day=max(m for _, m in months), rows=1, loaded_on=timezone.localdate(), verb="edited",
                source=source_label(what="admin form", user=self.actor))
            # Inside the admin's transaction, which saves the row (the admin saves with commit=False).
            period_inputs_loaded(loaded)
        return instance
