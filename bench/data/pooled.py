"""The pooled-fund month bench/payouts.py computes: one pooled-fund program in USD / UTC with its fund, a budget
tranche of BUDGET_PER_PARTNER_MINOR per partner for MONTH and money terms with a partner cap (the excess
redistributed); partners bench.1 .. bench.N, each an approved member since before the month, and DAYS daily
metric rows each (SILENT_SHARE of partners without views, the others a heavy-tailed, Pareto-like audience).
And HANDWRITTEN_SQL, the benchmark's baseline: the month's split of that data in one hand-written statement.
"""

from __future__ import annotations

import datetime as dt

from bench.data import METRIC_CHUNK, insert_numbered, insert_per_partner, table_sizes
from bench.harness import LOAD_SESSION, LoadSteps, execute

MONTH = dt.date(2026, 9, 1)  # 30 days, long ended
DAYS = 30
APPROVED_FROM = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)  # members approved between this and the month's start
PROGRAM_SLUG = "bench-pooled-fund"
BUDGET_PER_PARTNER_MINOR = 1_000  # the month's tranche: 10.00 USD per generated partner
CAP_MINOR = 200_000  # 2,000.00 USD per partner and month
MIN_VIEWS = 100
MIN_PAYOUT_MINOR = 1_000
SILENT_SHARE = 0.08  # partners without a single view in the month
PARETO_ALPHA, VIEWS_SCALE, VIEWS_CEILING = 1.3, 20, 2_000_000  # daily views: scale / U^(1/alpha), capped

HANDWRITTEN_TABLE = "bench_handwritten_line"
# The weights of the split: the approved members' qualified views in the month, from min_views up.
MEMBER_WEIGHTS = """
    SELECT m.partner_id, SUM(m.qualified_views) AS w
    FROM partnerships_dailymetric m
    JOIN partnerships_enrolment e ON e.partner_id = m.partner_id AND e.program_id = %(program)s
         AND e.status = 'approved' AND e.approved_at < %(cutoff)s
    WHERE m.day >= %(start)s AND m.day <= %(end)s
    GROUP BY m.partner_id
    HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0
"""
# The same split as payouts.formulas.pooled + split, as CTEs. Water-filling in closed form: with the distinct
# weights sorted heaviest first, the project's rounds (cap whoever passes the cap at the current rate,
# redistribute, repeat) end at the smallest "heaviest levels" set after which the next level's share stays
# within the cap: (budget - cap * n_heavier) * w <= cap * (w_all - w_heavier). Exact numeric throughout.
SPLIT_CTES = f"""
WITH member AS ({MEMBER_WEIGHTS}),
level AS (
    SELECT w, COALESCE(SUM(n) OVER heavier, 0) AS n_heavier, COALESCE(SUM(n * w) OVER heavier, 0) AS w_heavier
    FROM (SELECT w, COUNT(*) AS n FROM member GROUP BY w) AS distinct_weight
    WINDOW heavier AS (ORDER BY w DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
pool AS (SELECT SUM(w) AS w_all, COUNT(*) AS n_all FROM member),
cut AS (
    SELECT COALESCE(f.w, 0) AS w_cut, p.w_all,
           %(budget)s::numeric - %(cap)s::numeric * COALESCE(f.n_heavier, p.n_all) AS budget_free,
           p.w_all - COALESCE(f.w_heavier, p.w_all) AS w_free
    FROM pool p LEFT JOIN LATERAL (
        SELECT l.w, l.n_heavier, l.w_heavier FROM level l
        WHERE (%(budget)s::numeric - %(cap)s::numeric * l.n_heavier) * l.w <= %(cap)s::numeric * (p.w_all - l.w_heavier)
        ORDER BY l.w DESC LIMIT 1
    ) f ON TRUE
),
share AS (
    SELECT m.partner_id, m.w, c.w_all, m.w > c.w_cut AS capped, c.budget_free,
           CASE WHEN m.w > c.w_cut THEN %(cap)s::numeric ELSE div(c.budget_free * m.w, c.w_free) END AS floored,
           CASE WHEN m.w > c.w_cut THEN 0 ELSE mod(c.budget_free * m.w, c.w_free) END AS remainder
    FROM member m CROSS JOIN cut c
),
ranked AS (
    SELECT s.*, s.budget_free - SUM(s.floored) FILTER (WHERE NOT s.capped) OVER () AS leftover,
           row_number() OVER (PARTITION BY s.capped ORDER BY s.remainder DESC, s.partner_id) AS place
    FROM share s
)"""
# The baseline: ONE statement, the split written into a scratch table (no index).
HANDWRITTEN_SQL = f"""
INSERT INTO {HANDWRITTEN_TABLE} (partner_id, weight, gross_minor, capped, rounding_minor)
{SPLIT_CTES}
SELECT partner_id, w, floored + (NOT capped AND place <= leftover)::int, capped, (NOT capped AND place <= leftover)::int
FROM ranked
"""
# How much a parallel plan could give on this machine: the members' aggregation alone, as a plain SELECT
# (INSERT ... SELECT never runs in parallel on PostgreSQL 15), with 0 and with the server's parallel workers.
AGGREGATE_PROBE_SQL = f"""
SELECT COUNT(*), SUM(w) FROM ({MEMBER_WEIGHTS}) AS member
"""


def load_pooled_database(partners: int) -> dict:
    step = LoadSteps()
    execute(*LOAD_SESSION)
    step("program, fund, tranche, terms (ORM)", lambda: create_program(partners))
    step("partners", lambda: load_partners(partners))
    step("enrolments (approved)", load_enrolments)
    step(f"daily metrics ({DAYS} days per partner)", load_metrics)
    step("monthly rollups (metric_rollups_rebuild)", rebuild_rollups)
    execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: execute("VACUUM (ANALYZE)"))
    execute("CHECKPOINT")
    return {"steps": step.steps, "sizes": sizes()}


def sizes() -> list[dict]:
    return table_sizes("c.relname IN ('partnerships_partner', 'partnerships_enrolment', 'partnerships_dailymetric')")


def create_program(partners: int) -> None:
    from partnerships.models import Program
    from payouts.models import BudgetTranche, Fund, ProgramTerms

    budget = BUDGET_PER_PARTNER_MINOR * partners
    program = Program.objects.create(slug=PROGRAM_SLUG, name="Bench pooled fund", archetype="pooled_fund",
                                     currency="USD", time_zone="UTC")
    fund = Fund.objects.create(program=program, name="Bench pooled fund", currency="USD", total_minor=budget * 100)
    BudgetTranche.objects.create(fund=fund, starts_on=MONTH, ends_on=MONTH, amount_minor=budget)
    ProgramTerms.objects.create(program=program, min_views=MIN_VIEWS, partner_cap_minor=CAP_MINOR,
                                excess_policy=ProgramTerms.ExcessPolicy.REDISTRIBUTE,
                                min_payout_minor=MIN_PAYOUT_MINOR)


def load_partners(count: int) -> int:
    """Creators with handles bench.1 .. bench.N; most active, with tax form and identity on file."""

    sql = """
        INSERT INTO partnerships_partner
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT 'creator', 'bench.' || n, 'Bench creator ' || n,
               (ARRAY['US', 'GB', 'FR', 'DE', 'BR', 'IN', 'JP', 'MX', 'ES', 'IT'])[1 + (n %% 10)::int],
               DATE '1990-01-01' + (n %% 7000)::int, true, status,
               CASE WHEN status = 'active' THEN '' ELSE 'Bench: community guidelines review' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               random() < 0.9, random() < 0.92, random() < 0.4, created_at, created_at
        FROM (
            SELECT n, CASE WHEN r < 0.98 THEN 'active' WHEN r < 0.995 THEN 'suspended' ELSE 'removed' END AS status,
                   TIMESTAMPTZ '2024-01-01 00:00+00' + random() * interval '800 days' AS created_at
            FROM (SELECT n, random() AS r FROM generate_series(%(low)s, %(high)s) AS n) AS draw
        ) AS partner
        ORDER BY n
    """
    return insert_numbered(sql, count, {})


def load_enrolments() -> int:
    """One approved enrolment per partner in the bench program, approved before the month."""
    from django.db import connection

    from partnerships.models import Program

    program = Program.objects.get(slug=PROGRAM_SLUG)
    sql = """
        INSERT INTO partnerships_enrolment
            (partner_id, program_id, status, submitted_at, decided_at, decided_by_id, decision_reason, eligibility,
             eligibility_passed, eligibility_evaluated_at, eligibility_override_reason, approved_at, created_at,
             updated_at)
        SELECT id, %(program)s, 'approved', submitted_at, approved_at, NULL, '', '[]'::jsonb, true, submitted_at,
               '', approved_at, submitted_at, approved_at
        FROM (
            SELECT id, approved_at, approved_at - random() * interval '10 days' AS submitted_at
            FROM (SELECT id, %(from)s::timestamptz + random() * (%(month)s::timestamptz - %(from)s::timestamptz)
                         AS approved_at
                  FROM partnerships_partner) AS p
        ) AS e
        ORDER BY id
    """
    month_start = dt.datetime(MONTH.year, MONTH.month, MONTH.day, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"program": program.pk, "from": APPROVED_FROM, "month": month_start})
        return cursor.rowcount


def rebuild_rollups() -> int:
    """The monthly rollups of the rows loaded straight into the table (partnerships.services.rollups)."""
    from partnerships.services.rollups import metric_rollups_rebuild
    return metric_rollups_rebuild()


def load_metrics() -> int:
    """DAYS rows per partner from MONTH, partner by partner (so every index is appended in order).

    A partner is silent (no views) or has a Pareto-like daily audience (scale / U^(1/alpha), heavy tail, up to
    VIEWS_CEILING); each day draws its views around it; qualified views are 60-95 % of views."""

    sql = f"""
        INSERT INTO partnerships_dailymetric
            (partner_id, day, views, qualified_views, likes, comments, shares, followers, posts)
        SELECT partner_id, day, views, floor(views * qualified_share)::bigint, floor(views * 0.05)::bigint,
               floor(views * 0.006)::bigint, floor(views * 0.004)::bigint, followers + n * growth, posts
        FROM (
            SELECT partner_id, %(start)s::date + n AS day, n, qualified_share, followers, growth,
                   (random() < post_chance)::int AS posts, floor(audience * (0.5 + random()))::bigint AS views
            FROM (
                -- generate_series in the select list: the days of one partner follow each other
                SELECT profile.*, generate_series(0, %(days)s - 1) AS n
                FROM (
                    SELECT id AS partner_id,
                           CASE WHEN random() < {SILENT_SHARE} THEN 0
                                ELSE least({VIEWS_SCALE} * power(1 - random(), (-1 / {PARETO_ALPHA})::float8),
                                           {VIEWS_CEILING}) END AS audience,
                           0.6 + 0.35 * random() AS qualified_share, 0.05 + 0.85 * random() AS post_chance,
                           floor(power(10, 3 + 3.5 * random()))::bigint AS followers,
                           floor(random() * 50)::bigint AS growth
                    FROM partnerships_partner
                    WHERE id BETWEEN %(low)s AND %(high)s
                    ORDER BY id
                ) AS profile
            ) AS partner_day
        ) AS with_views
    """
    return insert_per_partner(sql, {"start": MONTH, "days": DAYS}, METRIC_CHUNK, "metrics", rate=True)
