"""Ad revenue from the ad platform: handle, date, amount (in major units, e.g. 12.34), currency.

One row per partner, day and currency; loading a day again replaces its amounts. The engine is ingestion's
(ingestion.engine); this module adds what money needs:
- amounts are parsed exactly into minor units of their currency (core.money.parse_money), and may be
  negative (refunds, invalid traffic);
- the currency must be the one a revenue-share program the partner is an approved member of pays in;
- a month closed for the partner's revenue-share program (its monthly run approved or paid) is never edited: its
  rows are refused, and a late correction is recorded as an adjustment (payouts.closed_months says what "closed"
  is; a load that changes a month marks its computed runs stale)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from core.money import parse_money
from core.tasks import enqueue
from ingestion import fields, guards
from ingestion.engine.run import ingest_run
from ingestion.engine.spec import Column, IngestSpec, Problem, RowRejected, SetCheck
from ingestion.exceptions import UNKNOWN_PARTNER
from ingestion.models import ImportJob
from ingestion.registry import IngestionKind
from partnerships.models import Enrolment, Partner, Program
from payouts.exceptions import CURRENCY_NOT_PROGRAM, NOT_REVENUE_SHARE_MEMBER
from payouts.models import AdRevenue

COLUMNS = (
    Column("handle", "text"),
    Column("date", "date", sql_name="day"),
    Column("amount", "bigint", sql_name="amount_minor"),
    Column("currency", "text"),
)
PERMISSION = "payouts.import_adrevenue"
LOCK_NAME = f"ingest:{AdRevenue._meta.db_table}"

PARTNER, ENROLMENT, PROGRAM = Partner._meta.db_table, Enrolment._meta.db_table, Program._meta.db_table
MEMBERSHIP = (
    f"FROM {PARTNER} p JOIN {ENROLMENT} e ON e.partner_id = p.id AND e.status = '{Enrolment.Status.APPROVED}' "
    f"JOIN {PROGRAM} g ON g.id = e.program_id AND g.archetype = '{Program.Archetype.REVENUE_SHARE}' "
    f"WHERE p.handle = s.handle"
)


def parse_revenue(values: Sequence, latest: dt.date) -> tuple[str, ...]:
    """A row as clean text (amount in minor units), or RowRejected naming every problem."""
    handle, day, amount, currency = values
    problems: list[Problem] = []
    clean: dict[str, Any] = {}  # each field's parsed value: text, a date, minor units
    for name, parse, value in (("handle", fields.parse_handle, handle),
                               ("date", lambda v: fields.parse_day(v, latest=latest), day),
                               ("currency", fields.parse_currency, currency)):
        try:
            clean[name] = parse(value)
        except ValueError as exc:
            problems.append(Problem(name, value, str(exc)))
    if "currency" in clean:  # the amount's decimals depend on the currency
        try:
            clean["amount"] = parse_money(amount if amount is not None else "", clean["currency"])
        except ValueError as exc:
            problems.append(Problem("amount", amount, str(exc)))
    if problems:
        raise RowRejected(problems)
    return clean["handle"], clean["date"].isoformat(), str(clean["amount"]), clean["currency"]


def revenue_parser() -> Callable[[Sequence[str]], tuple[str, ...]]:
    latest = fields.latest_day()
    return lambda values: parse_revenue(values, latest)


def _merge_sql(stage: str, returning: bool) -> str:
    return f"""
        INSERT INTO {AdRevenue._meta.db_table} AS t (partner_id, day, currency, amount_minor)
        SELECT p.id, s.day, s.currency, s.amount_minor
        FROM {stage} s JOIN {PARTNER} p ON p.handle = s.handle
        WHERE true
        ON CONFLICT (partner_id, day, currency) DO UPDATE SET amount_minor = excluded.amount_minor
        WHERE t.amount_minor <> excluded.amount_minor
        {"RETURNING partner_id, day" if returning else ""}
    """


SPEC = IngestSpec(
    kind=ImportJob.Kind.AD_REVENUE,
    columns=COLUMNS,
    key=("handle", "date", "currency"),
    parser=revenue_parser,
    set_checks=(
        SetCheck(
            column="handle",
            where=f"NOT EXISTS (SELECT 1 FROM {PARTNER} p WHERE p.handle = s.handle)",
            reason=lambda value, detail: UNKNOWN_PARTNER.format(value=value),
        ),
        SetCheck(
            column="currency",
            where=f"NOT EXISTS (SELECT 1 {MEMBERSHIP} AND g.currency = s.currency)",
            detail=f"(SELECT MIN(g.currency) {MEMBERSHIP})",
            reason=lambda value, detail: (
                CURRENCY_NOT_PROGRAM.format(currency=value, expected=detail) if detail else NOT_REVENUE_SHARE_MEMBER
            ),
        ),
        # A month closed for the partner's program in that currency (payouts.closed_months).
        guards.closed_rows_check(input=guards.AD_REVENUE, partners=PARTNER, currency="s.currency"),
    ),
    merge_sql=_merge_sql,
    lock_name=LOCK_NAME,
    period_input=guards.AD_REVENUE,
    merge_refuses_repeats=True,  # ON CONFLICT (partner_id, day, currency); a handle is one partner
)


def ad_revenue_ingest(*, job_id: int) -> ImportJob:
    """Load an ad revenue job's file (see ingestion.engine for the guarantees)."""
    return ingest_run(job_id=job_id, spec=SPEC)


def _start(job_id: int) -> None:
    enqueue("payouts.ingest_ad_revenue", job_id)  # payouts.tasks.ingest_ad_revenue_task


KIND = IngestionKind(kind=ImportJob.Kind.AD_REVENUE, label="ad revenue", permission=PERMISSION,
                     columns=tuple(column.name for column in COLUMNS), start=_start,
                     run=lambda job_id: ad_revenue_ingest(job_id=job_id))
