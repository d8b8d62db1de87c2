"""F3 rate per 1,000 qualified views: videos longer than the minimum, posted after the partner's
approval and past the activation floor earn views × RPM(country) / 1000 × multiplier, capped per video
and per partner. If the program's total passes the month's budget, everyone is scaled pro rata and the
budget is split exactly by largest remainder."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from core.money import exponent
from core.sql import fetchone
from payouts.formulas.context import LIVE_DAY, RunContext
from payouts.formulas.split import split_ctes
from payouts.formulas.tables import PARTNER_TABLE, VIDEO_TABLE, VIDEO_VIEWS_TABLE

MICRO = 1_000_000  # earnings are summed exactly in millionths of a minor unit


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
    params = {"min_duration": terms.min_video_duration_seconds, "floor": terms.min_video_qualified_views}
    raw = f"""
        rpm_raw AS (
            SELECT x.partner_id, x.views, {total} AS micro,
                   x.eligible_videos || ' eligible video(s)'
                   || (CASE WHEN x.videos_capped > 0 THEN ', ' || x.videos_capped || ' at the video cap' ELSE '' END)
                   || {partner_note} AS note
            FROM (
                SELECT v.partner_id, SUM(v.month_views) AS views, SUM({per_video}) AS earned,
                       SUM({video_capped}) AS videos_capped, COUNT(*) AS eligible_videos
                FROM (
                    SELECT video.partner_id, video.id,
                           SUM(CASE WHEN d.day >= %(start)s THEN d.qualified_views ELSE 0 END) AS month_views
                    FROM {VIDEO_TABLE} video
                    JOIN {VIDEO_VIEWS_TABLE} d ON d.video_id = video.id AND d.day <= %(end)s
                    {ctx.members_join("video")}
                    WHERE video.duration_seconds > %(min_duration)s AND video.posted_at >= e.approved_at
                      AND {LIVE_DAY.format(day="d.day")}
                    GROUP BY video.partner_id, video.id
                    HAVING SUM(d.qualified_views) >= %(floor)s
                ) v
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
