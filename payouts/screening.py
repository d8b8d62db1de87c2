"""Screening a computed monthly run for invalid traffic, in SQL over the daily metrics, the run's lines and the
program's earlier runs: a handful of statements whatever the number of partners, on SQLite and PostgreSQL.

Four rules, each with the program's thresholds (payouts.models.ScreeningRules):

- spike: the month's highest day of qualified views against the partner's own usual level, a robust score
  (views − median) / (1.4826 × MAD) over the window's days, median and MAD computed with window functions
  (row_number and count per partner); the spread is at least a tenth of the median, and a day below the floor is
  never a spike. Only partners whose best day reaches the floor are scored, so the window is read for a few;
- views without engagement: likes + comments + shares per view in the month below a fraction of the program's rate
  this month, unless the partner's own earlier rate (the window's days before the month) shows that is its normal
  and that normal is itself not far below the program's;
- share jump: the line's share of the run's total far above the partner's largest share in the program's previous
  monthly runs (partners without an earlier line are the new-partner rule's);
- new or reinstated partners (approved, or a suspension ended, within the last days of the month) whose line takes
  a large share of the run;
- and, whatever the rules, a line carrying in a balance while the partner's last screening decision in the program
  was a hold: a held amount stays reserved on the partner's balance until a manager clears it (or holds it again),
  instead of being paid by the next run without anyone looking.

Ratios are screening scores, not money: they are computed in double precision. The flags (one per line and rule,
with the numbers that tripped it) are written for the few flagged rows only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from simple_history.utils import bulk_create_with_history

from core.periods import add_months
from core.sql import date_param, datetime_param, drop_temporary, fetchall, materialise
from payouts.formulas.context import MONTH_FIGURES, RunContext
from payouts.formulas.pooled import MEMBERS_TABLE
from payouts.formulas.tables import (
    DAILY_METRIC_TABLE,
    ENROLMENT_TABLE,
    FINAL,
    LINE_TABLE,
    LIVE_MEMBERSHIP,
    RUN_TABLE,
    SUSPENSION_TABLE,
    quoted,
)
from payouts.models import SPENDING, ScreeningFlag, ScreeningRules

MONTH_TABLE = "cp_screen_month"
FLAG_TABLE = ScreeningFlag._meta.db_table
D = "DOUBLE PRECISION"  # SQLite reads the type name as REAL
MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normally distributed figures
MIN_SPREAD = 0.1  # of the median: a flat history does not make an ordinary good day a spike
Rule, Action = ScreeningFlag.Rule, ScreeningFlag.Action
SUGGESTED: dict[str, str] = {Rule.SPIKE: Action.HOLD, Rule.NO_ENGAGEMENT: Action.HOLD, Rule.SHARE_JUMP: Action.REVIEW,
             Rule.NEWCOMER: Action.REVIEW, Rule.HELD_BEFORE: Action.HOLD}


def _greatest(*values: str) -> str:
    """The largest of SQL expressions (PostgreSQL's GREATEST is SQLite's MAX with several arguments)."""
    result = values[0]
    for value in values[1:]:
        result = f"(CASE WHEN {result} >= {value} THEN {result} ELSE {value} END)"
    return result


def _median(table: str, value: str) -> str:
    """SQL: per partner, the average of the middle one or two rows of ``table`` (numbered ``rn`` of ``n``)."""
    return f"""SELECT partner_id, AVG({value}) AS median, MAX(n) AS n FROM {table}
               WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY partner_id"""


def _number(value: Any, places: int = 4) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else round(value, places)


def run_screen(ctx: RunContext, *, total_gross: int) -> int:
    """Flag the run's lines that trip the program's rules (any earlier flags of the run were deleted with its lines
    by the caller); ``total_gross`` is the run's total gross, what a line's share is of. Returns the number of flags
    written.

    The month's figures per partner come from the pooled formula's members table when the formula made one (its one
    scan of the month's daily metrics computes them too: screening a pooled month reads the metrics of the month
    only for the few partners it scores against their window); other archetypes read them here."""
    rules = ScreeningRules.for_program(ctx.program)
    window_start = ctx.end - dt.timedelta(days=rules.spike_window_days - 1)
    params = {**ctx.params(), "window_start": date_param(window_start), "total": total_gross}
    own_table = MEMBERS_TABLE not in ctx.temporary
    if own_table:
        materialise(MONTH_TABLE, f"""
            SELECT m.partner_id, SUM(m.qualified_views) AS qualified, {MONTH_FIGURES}
            FROM {LINE_TABLE} l JOIN {DAILY_METRIC_TABLE} m ON m.partner_id = l.partner_id
            WHERE l.run_id = %(run)s AND m.day >= %(start)s AND m.day <= %(end)s
            GROUP BY m.partner_id""", params)
    month = (f"month_figures AS (SELECT partner_id, views, {'qualified' if own_table else 'w'} AS qualified, "
             f"engaged, peak, days FROM {MONTH_TABLE if own_table else MEMBERS_TABLE})")
    try:
        flags = []
        if rules.spike_enabled:
            flags += _spikes(rules, params, month)
        if rules.engagement_enabled:
            flags += _no_engagement(rules, params, month)
        if rules.share_enabled:
            flags += _share_jumps(ctx, rules, params)
        if rules.newcomer_enabled:
            flags += _newcomers(ctx, rules, params, month)
        flags += _held_before(params)
    finally:
        if own_table:
            drop_temporary(MONTH_TABLE)
    objects = [ScreeningFlag(run=ctx.run, partner_id=partner_id, rule=rule, evidence=evidence,
                             suggested_action=SUGGESTED[rule]) for partner_id, rule, evidence in flags]
    if objects:
        bulk_create_with_history(objects, ScreeningFlag, default_change_reason="Raised when the run was computed")
    return len(objects)


def _spikes(rules: ScreeningRules, params: dict, month: str) -> list[tuple[int, str, dict]]:
    params = {**params, "floor": rules.spike_min_views, "min_days": rules.spike_min_days,
              "score": float(rules.spike_score), "mad_scale": MAD_SCALE, "min_spread": MIN_SPREAD}
    scale = _greatest("%(mad_scale)s * a.mad", "%(min_spread)s * md.median", "1.0")
    rows = fetchall(f"""
        WITH {month},
        candidate AS (SELECT partner_id FROM month_figures WHERE peak >= %(floor)s),
        win AS (
            SELECT w.partner_id, w.day, CAST(w.qualified_views AS {D}) AS v,
                   ROW_NUMBER() OVER (PARTITION BY w.partner_id ORDER BY w.qualified_views, w.day) AS rn,
                   COUNT(*) OVER (PARTITION BY w.partner_id) AS n
            FROM {DAILY_METRIC_TABLE} w JOIN candidate c ON c.partner_id = w.partner_id
            WHERE w.day >= %(window_start)s AND w.day <= %(end)s),
        md AS ({_median("win", "v")}),
        deviation AS (
            SELECT w.partner_id, ABS(w.v - m.median) AS d, w.n,
                   ROW_NUMBER() OVER (PARTITION BY w.partner_id ORDER BY ABS(w.v - m.median), w.day) AS rn
            FROM win w JOIN md m ON m.partner_id = w.partner_id),
        mad AS ({_median("deviation", "d").replace("AS median", "AS mad")}),
        peak AS (
            SELECT partner_id, day, v, ROW_NUMBER() OVER (PARTITION BY partner_id ORDER BY v DESC, day) AS rn
            FROM win WHERE day >= %(start)s),
        scored AS (
            SELECT p.partner_id, p.day, p.v, md.median, a.mad, md.n, {scale} AS scale
            FROM peak p JOIN md ON md.partner_id = p.partner_id JOIN mad a ON a.partner_id = p.partner_id
            WHERE p.rn = 1)
        SELECT partner_id, day, v, median, mad, n, (v - median) / scale FROM scored
        WHERE n >= %(min_days)s AND v >= %(floor)s AND v - median >= %(score)s * scale
        ORDER BY partner_id""", params)
    return [(partner_id, Rule.SPIKE, {
        "day": str(day)[:10], "qualified_views": _number(views), "median": _number(median, 1),
        "mad": _number(mad, 1), "days_in_window": int(days), "score": _number(score, 2),
        "threshold_score": str(rules.spike_score), "floor_views": rules.spike_min_views,
        "window_days": rules.spike_window_days,
    }) for partner_id, day, views, median, mad, days, score in rows]


def _no_engagement(rules: ScreeningRules, params: dict, month: str) -> list[tuple[int, str, dict]]:
    params = {**params, "floor": rules.engagement_min_views, "ratio": float(rules.engagement_ratio)}
    rows = fetchall(f"""
        WITH {month},
        total AS (SELECT CAST(SUM(engaged) AS {D}) / CAST(SUM(views) AS {D}) AS rate
                  FROM month_figures HAVING SUM(views) > 0),
        candidate AS (
            SELECT s.partner_id, s.views, s.engaged, CAST(s.engaged AS {D}) / CAST(s.views AS {D}) AS rate,
                   t.rate AS program_rate
            FROM month_figures s CROSS JOIN total t
            WHERE s.views >= %(floor)s AND CAST(s.engaged AS {D}) / CAST(s.views AS {D}) < %(ratio)s * t.rate),
        own AS (
            SELECT w.partner_id, CAST(SUM(w.likes + w.comments + w.shares) AS {D}) / CAST(SUM(w.views) AS {D}) AS rate
            FROM {DAILY_METRIC_TABLE} w JOIN candidate c ON c.partner_id = w.partner_id
            WHERE w.day >= %(window_start)s AND w.day < %(start)s
            GROUP BY w.partner_id HAVING SUM(w.views) > 0)
        SELECT c.partner_id, c.views, c.engaged, c.rate, c.program_rate, o.rate
        FROM candidate c LEFT JOIN own o ON o.partner_id = c.partner_id
        -- the partner's own earlier rate excuses a low month only if that rate is itself normal for the program
        WHERE o.rate IS NULL OR c.rate < %(ratio)s * o.rate OR o.rate < %(ratio)s * c.program_rate
        ORDER BY c.partner_id""", params)
    return [(partner_id, Rule.NO_ENGAGEMENT, {
        "views": int(views), "engagements": int(engaged), "rate": _number(rate, 6),
        "program_rate": _number(program_rate, 6), "own_rate_before": None if own is None else _number(own, 6),
        "threshold_ratio": str(rules.engagement_ratio), "floor_views": rules.engagement_min_views,
    }) for partner_id, views, engaged, rate, program_rate, own in rows]


def _share_jumps(ctx: RunContext, rules: ScreeningRules, params: dict) -> list[tuple[int, str, dict]]:
    params = {**params, "share_min": float(rules.share_min), "jump": float(rules.share_jump),
              "since": date_param(add_months(ctx.start, -rules.share_months))}
    rows = fetchall(f"""
        WITH current AS (
            SELECT l.partner_id, l.gross_minor, t.total, CAST(l.gross_minor AS {D}) / CAST(t.total AS {D}) AS share
            FROM {LINE_TABLE} l CROSS JOIN (SELECT CAST(%(total)s AS BIGINT) AS total) t
            WHERE l.run_id = %(run)s AND l.gross_minor > 0 AND t.total > 0
              AND CAST(l.gross_minor AS {D}) >= %(share_min)s * CAST(t.total AS {D})),
        previous AS (
            SELECT pl.partner_id, COUNT(*) AS months,
                   MAX(CAST(pl.gross_minor AS {D}) / CAST(pr.total_gross_minor AS {D})) AS share
            FROM {LINE_TABLE} pl JOIN {RUN_TABLE} pr ON pr.id = pl.run_id
            JOIN current c ON c.partner_id = pl.partner_id
            WHERE pr.program_id = %(program)s AND pr.kind = {FINAL} AND pr.status IN ({quoted(*SPENDING)})
              AND pr.month >= %(since)s AND pr.month < %(start)s AND pr.total_gross_minor > 0 AND pl.gross_minor > 0
            GROUP BY pl.partner_id)
        SELECT c.partner_id, c.gross_minor, c.total, c.share, p.share, p.months
        FROM current c JOIN previous p ON p.partner_id = c.partner_id
        WHERE c.share > %(jump)s * p.share
        ORDER BY c.partner_id""", params)
    return [(partner_id, Rule.SHARE_JUMP, {
        "gross_minor": int(gross), "run_total_minor": int(total), "share": _number(share, 6),
        "largest_previous_share": _number(previous, 6), "previous_months": int(months),
        "threshold_jump": str(rules.share_jump), "floor_share": str(rules.share_min),
        "months_looked_back": rules.share_months,
    }) for partner_id, gross, total, share, previous, months in rows]


def _newcomers(ctx: RunContext, rules: ScreeningRules, params: dict, month: str) -> list[tuple[int, str, dict]]:
    since_day = ctx.run.month_end - dt.timedelta(days=rules.newcomer_days - 1)
    params = {**params, "min_share": float(rules.newcomer_min_share), "since_day": date_param(since_day),
              "jump": float(rules.newcomer_jump),
              "month_end": date_param(ctx.run.month_end),
              "since": datetime_param(ctx.cutoff - dt.timedelta(days=rules.newcomer_days))}
    rows = fetchall(f"""
        WITH {month},
        event AS (
            SELECT partner_id, MAX(joined_at) AS joined_at, MAX(reinstated_on) AS reinstated_on FROM (
                SELECT e.partner_id, e.approved_at AS joined_at, NULL AS reinstated_on FROM {ENROLMENT_TABLE} e
                WHERE e.program_id = %(program)s AND e.status IN ({LIVE_MEMBERSHIP})
                  AND e.approved_at >= %(since)s AND e.approved_at < %(cutoff)s
                UNION ALL
                SELECT e.partner_id, NULL, s.ends_on FROM {SUSPENSION_TABLE} s
                JOIN {ENROLMENT_TABLE} e ON e.id = s.enrolment_id
                WHERE e.program_id = %(program)s AND s.ends_on >= %(since_day)s AND s.ends_on <= %(month_end)s
            ) both_events GROUP BY partner_id),
        -- The run's few lines with a large share first, then their events: joined the other way round, PostgreSQL
        -- looked up the run's line of each of the (many) recent members one by one.
        large_line AS MATERIALIZED (
            SELECT l.partner_id, l.gross_minor, t.total
            FROM {LINE_TABLE} l CROSS JOIN (SELECT CAST(%(total)s AS BIGINT) AS total) t
            WHERE l.run_id = %(run)s AND l.gross_minor > 0 AND t.total > 0
              AND CAST(l.gross_minor AS {D}) >= %(min_share)s * CAST(t.total AS {D})),
        large AS (
            SELECT l.partner_id, l.gross_minor, l.total, CAST(l.gross_minor AS {D}) / CAST(l.total AS {D}) AS share,
                   ev.joined_at, ev.reinstated_on
            FROM large_line l JOIN event ev ON ev.partner_id = l.partner_id),
        before AS (
            SELECT w.partner_id, CAST(SUM(w.qualified_views) AS {D}) / COUNT(*) AS daily
            FROM {DAILY_METRIC_TABLE} w JOIN large g ON g.partner_id = w.partner_id
            WHERE w.day >= %(window_start)s AND w.day < %(start)s GROUP BY w.partner_id)
        SELECT g.partner_id, g.gross_minor, g.total, g.share, g.joined_at, g.reinstated_on,
               CAST(s.qualified AS {D}) / s.days, b.daily
        FROM large g JOIN month_figures s ON s.partner_id = g.partner_id
        LEFT JOIN before b ON b.partner_id = g.partner_id
        WHERE b.daily IS NULL OR CAST(s.qualified AS {D}) / s.days >= %(jump)s * b.daily
        ORDER BY g.partner_id""", params)
    return [(partner_id, Rule.NEWCOMER, {
        "gross_minor": int(gross), "run_total_minor": int(total), "share": _number(share, 6),
        "joined": None if joined is None else str(joined)[:10],
        "reinstated": None if reinstated is None else str(reinstated)[:10],
        "daily_views": _number(daily, 1), "daily_views_before": None if before is None else _number(before, 1),
        "threshold_share": str(rules.newcomer_min_share), "threshold_jump": str(rules.newcomer_jump),
        "days": rules.newcomer_days,
    }) for partner_id, gross, total, share, joined, reinstated, daily, before in rows]



def _held_before(params: dict) -> list[tuple[int, str, dict]]:
    """Lines carrying in a balance of a partner whose latest decided flag in the program's earlier monthly runs is a
    hold (one query over the few decided flags)."""
    rows = fetchall(f"""
        WITH decided AS (
            SELECT f.partner_id, f.status, f.decision_reason, r.id AS run_id, r.month,
                   ROW_NUMBER() OVER (PARTITION BY f.partner_id ORDER BY r.month DESC, f.decided_at DESC, f.id DESC)
                       AS rn
            FROM {FLAG_TABLE} f JOIN {RUN_TABLE} r ON r.id = f.run_id
            WHERE r.program_id = %(program)s AND r.kind = {FINAL} AND r.status IN ({quoted(*SPENDING)})
              AND r.id <> %(run)s AND f.status <> {quoted(ScreeningFlag.Status.PENDING)})
        SELECT l.partner_id, l.carried_in_minor, d.run_id, d.month, d.decision_reason
        FROM {LINE_TABLE} l JOIN decided d ON d.partner_id = l.partner_id AND d.rn = 1
        WHERE l.run_id = %(run)s AND l.carried_in_minor > 0 AND d.status = {quoted(ScreeningFlag.Status.HELD)}
        ORDER BY l.partner_id""", params)
    return [(partner_id, Rule.HELD_BEFORE, {
        "carried_in_minor": int(carried), "held_in_run": run_id, "held_month": str(month)[:7], "hold_reason": reason,
    }) for partner_id, carried, run_id, month, reason in rows]
