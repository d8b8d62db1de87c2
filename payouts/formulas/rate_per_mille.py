"""F3 rate per 1,000 qualified views: videos longer than the minimum, posted after the partner's
approval and past the activation floor earn views × RPM(country) / 1000 × multiplier, capped per video
and per partner. If the program's total passes the month's budget, everyone is scaled pro rata and the
budget is split exactly by largest remainder."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from core.money import exponent
from core.sql import date_param, fetchone
from payouts.formulas.context import LIVE_DAY, RunContext
from payouts.formulas.split import split_ctes
from payouts.formulas.tables import (
    PARTNER_TABLE,
    SUSPENSION_TABLE,
    VIDEO_ROLLUP_TABLE,
    VIDEO_TABLE,
    VIDEO_VIEWS_TABLE,
)

MICRO = 1_000_000  # earnings are summed exactly in millionths of a minor unit
# The month read from the videos' monthly rollups (issue 18). False reads the daily rows as before: for the tests'
# comparison of the two, which must give identical lines.
READ_ROLLUPS = True
# A membership suspended on at least one day up to %(end)s: the activation floor counts a video's views of every
# day up to the end, less the suspended days (LIVE_DAY), so its videos read the daily rows.
SUSPENDED_BY_END = f"""
    EXISTS (SELECT 1 FROM {SUSPENSION_TABLE} s WHERE s.enrolment_id = e.id AND s.starts_on <= %(end)s
            AND (s.ends_on IS NULL OR s.ends_on > s.starts_on))
"""
# A video with daily rows after the last day an estimate reads, in the month: its rollup holds them.
ROWS_AFTER_END = f"""
    EXISTS (SELECT 1 FROM {VIDEO_VIEWS_TABLE} a WHERE a.video_id = video.id
            AND a.day > %(end)s AND a.day <= %(rpm_month_end)s)
"""
ELIGIBLE = "video.duration_seconds > %(min_duration)s AND video.posted_at >= e.approved_at"


def videos_sql(ctx: RunContext) -> str:
    """Each eligible video past the activation floor (its qualified views up to the end, on live days, at least
    min_video_qualified_views) with its views of the month (month_views). A whole month, or a month-to-date
    estimate, reads the monthly rollups (one row per video and month up to this one); a video whose membership was
    suspended on some day up to the end, or (an estimate) with rows after its last day, reads the daily rows."""
    daily = f"""
        SELECT video.partner_id, video.id,
               SUM(CASE WHEN d.day >= %(start)s THEN d.qualified_views ELSE 0 END) AS month_views
        FROM {VIDEO_TABLE} video
        JOIN {VIDEO_VIEWS_TABLE} d ON d.video_id = video.id AND d.day <= %(end)s
        {ctx.members_join("video")}
        WHERE {ELIGIBLE} AND {LIVE_DAY.format(day="d.day")}"""
    having = "GROUP BY video.partner_id, video.id HAVING SUM({alias}.qualified_views) >= %(floor)s"
    if not READ_ROLLUPS or ctx.start != ctx.run.month or ctx.end > ctx.run.month_end:
        return f"{daily} {having.format(alias='d')}"
    daily_instead = SUSPENDED_BY_END
    rolled_only_when = f"NOT {SUSPENDED_BY_END}"
    if ctx.end < ctx.run.month_end:
        daily_instead = f"({SUSPENDED_BY_END} OR {ROWS_AFTER_END})"
        rolled_only_when += f" AND NOT {ROWS_AFTER_END}"
    rolled = f"""
        SELECT video.partner_id, video.id,
               SUM(CASE WHEN r.month = %(start)s THEN r.qualified_views ELSE 0 END) AS month_views
        FROM {VIDEO_TABLE} video
        JOIN {VIDEO_ROLLUP_TABLE} r ON r.video_id = video.id AND r.month <= %(start)s
        {ctx.members_join("video")}
        WHERE {ELIGIBLE} AND {rolled_only_when}"""
    return (f"{rolled} {having.format(alias='r')}\n UNION ALL "
            f"{daily} AND {daily_instead} {having.format(alias='d')}")


def rate_case(ctx: RunContext) -> str:
    """SQL CASE giving, for the partner's country, minor units per 1,000,000 views (an exact integer)."""
    scale = Decimal(10) ** exponent(ctx.program.currency) * 1000 * Decimal(ctx.terms.rpm_multiplier)
    table = {country: int((rate * scale).to_integral_value(ROUND_HALF_EVEN))
             for country, rate in ctx.terms.rpm_table().items()}
    default = table.pop("*", 0)
    branches = " ".join(f"WHEN '{country}' THEN {value}" for country, value in sorted(table.items())
                        if country.isalpha() and country.isupper())
    return f"(CASE p.country {branches} ELSE {default} END)" if branches else str(default)


def earned(ctx: RunContext) -> tuple[str, dict]:
    terms = ctx.terms
    video_cap = terms.video_cap_minor * MICRO if terms.video_cap_minor else None
    partner_cap = terms.partner_cap_minor * MICRO if terms.partner_cap_minor else None
    rate = rate_case(ctx)
    per_video = f"cp_mul(v.month_views, {rate})"
    if video_cap is not None:
        per_video = f"(CASE WHEN {per_video} > {video_cap} THEN {video_cap} ELSE {per_video} END)"
    video_capped = f"CASE WHEN cp_mul(v.month_views, {rate}) > {video_cap} THEN 1 ELSE 0 END" if video_cap else "0"
    total = "x.earned" if partner_cap is None else (
        f"(CASE WHEN x.earned > {partner_cap} THEN {partner_cap} ELSE x.earned END)")
    partner_note = "''" if partner_cap is None else (
        f"(CASE WHEN x.earned > {partner_cap} THEN '; partner cap reached' ELSE '' END)")
    params = {"min_duration": terms.min_video_duration_seconds, "floor": terms.min_video_qualified_views,
              "rpm_month_end": date_param(ctx.run.month_end)}
    raw = f"""
        rpm_raw AS (
            SELECT x.partner_id, x.views, {total} AS micro,
                   x.eligible_videos || ' eligible video(s)'
                   || (CASE WHEN x.videos_capped > 0 THEN ', ' || x.videos_capped || ' at the video cap' ELSE '' END)
                   || {partner_note} AS note
            FROM (
                SELECT v.partner_id, SUM(v.month_views) AS views, SUM({per_video}) AS earned,
                       SUM({video_capped}) AS videos_capped, COUNT(*) AS eligible_videos
                FROM ({videos_sql(ctx)}) v
                JOIN {PARTNER_TABLE} p ON p.id = v.partner_id
                GROUP BY v.partner_id
            ) x
            WHERE x.views > 0)"""
    owed = int(fetchone(f"WITH {raw} SELECT COALESCE(SUM(cp_div_half_even(micro, {MICRO})), 0) FROM rpm_raw",
                        ctx.params(**params))[0])
    if owed <= ctx.budget_minor:
        return raw + f""",
        earned AS (
            SELECT partner_id, 'views' AS basis, views AS basis_value, 0 AS basis_total, micro AS weight,
                   cp_div_half_even(micro, {MICRO}) AS gross, FALSE AS capped, 0 AS rounding, 0 AS remainder, note
            FROM rpm_raw)""", params
    # Over budget: everyone is scaled by budget / owed, split exactly by largest remainder.
    split, split_params = split_ctes(budget=max(ctx.budget_minor, 0), cap=None, retain_excess=False)
    return raw + f""",
        src AS (SELECT partner_id, micro AS w FROM rpm_raw),
        {split},
        earned AS (
            SELECT r.partner_id, 'views' AS basis, r.views AS basis_value, 0 AS basis_total, r.micro AS weight,
                   a.gross, FALSE AS capped, a.rounding, a.remainder, r.note || '; scaled to the budget' AS note
            FROM rpm_raw r JOIN allocated a ON a.partner_id = r.partner_id)""", {**params, **split_params}
