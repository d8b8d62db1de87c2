"""The demo-shaped database bench/admin.py measures: partners of every kind and country with the demo's names,
1-3 categories each, daily metrics, the demo's programs and about one application per partner in every status,
with the eligibility snapshot eligibility.evaluate() writes.
"""

from __future__ import annotations

import datetime as dt
import random

from bench.data import METRIC_CHUNK, insert_numbered, insert_per_partner, table_sizes
from bench.harness import LOAD_SESSION, LoadSteps, execute, log

BENCH_SUPERUSER, BENCH_MANAGER = "bench_admin", "bench_manager"
MANAGER_GROUP = "Partnership managers"
ENROLMENTS_PER_PARTNER = 1.0
# Cumulative shares of the application statuses drawn for generated enrolments.
STATUS_DRAW = [("submitted", 0.20), ("approved", 0.62), ("rejected", 0.80), ("suspended", 0.84), ("ended", 0.90),
               ("withdrawn", 1.00)]


def load_demo_database(partners: int, days: int) -> dict:
    from partnerships.models import DailyMetric, Enrolment, Partner, PartnerStatistics
    from partnerships.services.statistics import partner_statistics_refresh

    step = LoadSteps()

    def vacuum(*models) -> None:
        execute(*(f"VACUUM (ANALYZE) {model._meta.db_table}" for model in models))

    today = dt.date.today()
    execute(*LOAD_SESSION)
    step("users, categories, programs (ORM)", create_reference_data)
    step("partners", lambda: load_partners(partners))
    step("partner categories (m2m)", load_categories)
    step(f"daily metrics ({days} days per partner)", lambda: load_metrics(days, today))
    step("monthly rollups (metric_rollups_rebuild)", rebuild_rollups)
    step("VACUUM ANALYZE partners, metrics", lambda: vacuum(Partner, Partner.categories.through, DailyMetric))
    # The nightly job runs with the server's settings, so the load's session settings are put back first.
    execute("RESET ALL")
    step("partner_statistics_refresh() (project code)",
         lambda: partner_statistics_refresh(as_of=today - dt.timedelta(days=1)))
    execute(*LOAD_SESSION)
    step("enrolments", load_enrolments)
    step("VACUUM ANALYZE statistics, enrolments", lambda: vacuum(PartnerStatistics, Enrolment))
    execute("RESET ALL", "CHECKPOINT")
    sizes = table_sizes("c.relname LIKE 'partnerships\\_%' AND pg_total_relation_size(c.oid) > 1024 * 1024")
    return {"steps": step.steps, "snapshot_check": check_eligibility_snapshots(), "sizes": sizes}


def create_reference_data() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from partnerships import demo
    from partnerships.models import Category, Program

    user_model = get_user_model()
    user_model.objects.update_or_create(username=BENCH_SUPERUSER,
                                        defaults={"is_staff": True, "is_superuser": True})
    manager, _ = user_model.objects.update_or_create(username=BENCH_MANAGER,
                                                     defaults={"is_staff": True, "is_superuser": False})
    manager.groups.add(Group.objects.get(name=MANAGER_GROUP))
    for name in demo.CATEGORIES:
        Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})
    for spec in demo.PROGRAMS:
        Program.objects.update_or_create(slug=spec["slug"], defaults=spec)


def load_partners(count: int) -> int:
    """People and organisations with the demo's names, kinds and countries; handles are unique by suffix."""

    from partnerships import demo
    from partnerships.models import Partner

    total_weight = sum(weight for _, weight in demo.KINDS)
    cumulative, kind_cases = 0, []
    for kind, weight in demo.KINDS:
        cumulative += weight
        kind_cases.append(f"WHEN r_kind < {cumulative / total_weight} THEN '{kind.value}'")
    kind_case = "CASE " + " ".join(kind_cases[:-1]) + f" ELSE '{demo.KINDS[-1][0].value}' END"
    organisations = ", ".join(f"'{kind}'" for kind in sorted(Partner.ORGANISATION_KINDS))

    def pick(array: str, random_column: str) -> str:
        return f"(%({array})s::text[])[1 + floor({random_column} * cardinality(%({array})s::text[]))::int]"

    sql = f"""
        INSERT INTO {Partner._meta.db_table}
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT kind,
               CASE WHEN organisation THEN lower(org_name) || '.' || lower(org_word) || n
                    ELSE first_name || '.' || topic || n END,
               CASE WHEN organisation THEN initcap(org_name) || ' ' || org_word
                    ELSE initcap(first_name) || ' ' || topic END,
               country,
               CASE WHEN NOT organisation AND r_birth < 0.85 THEN
                    CURRENT_DATE - CASE WHEN r_adult < 0.97 THEN 18 * 365 + 5 + floor(r_age * 42 * 365)::int
                                        ELSE 13 * 365 + floor(r_age * 4 * 365)::int END
               END,
               NOT organisation AND r_birth >= 0.85 AND r_verified < 0.5,
               status,
               CASE status WHEN 'active' THEN '' WHEN 'suspended' THEN 'Bench: community guidelines review'
                           ELSE 'Bench: account closed' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               r_tax < 0.8, r_identity < 0.85, r_brand < 0.4, created_at, created_at
        FROM (
            SELECT n, kind, kind IN ({organisations}) AS organisation, first_name, topic, org_name, org_word,
                   country, status, created_at, r_birth, r_adult, r_age, r_verified, r_tax, r_identity, r_brand
            FROM (
                SELECT n, {kind_case} AS kind,
                       {pick("first", "random()")} AS first_name, {pick("topic", "random()")} AS topic,
                       {pick("first", "random()")} AS org_name, {pick("org_words", "random()")} AS org_word,
                       CASE WHEN random() < 0.25 THEN {pick("eu", "random()")}
                            ELSE {pick("countries", "random()")} END AS country,
                       CASE WHEN r_status < 0.97 THEN 'active' WHEN r_status < 0.99 THEN 'suspended'
                            ELSE 'removed' END AS status,
                       now() - random() * interval '900 days' AS created_at,
                       random() AS r_birth, random() AS r_adult, random() AS r_age, random() AS r_verified,
                       random() AS r_tax, random() AS r_identity, random() AS r_brand
                FROM (SELECT n, random() AS r_kind, random() AS r_status
                      FROM generate_series(%(low)s, %(high)s) AS n) AS draws
            ) AS drawn
        ) AS partner
        ORDER BY n
    """
    params = {"first": demo.FIRST, "topic": demo.TOPIC, "org_words": demo.ORG_WORDS, "eu": demo.EU_COUNTRIES,
              "countries": demo.COUNTRIES}
    return insert_numbered(sql, count, params)


def load_categories() -> int:
    """One to three distinct categories per partner, through the m2m table."""
    from django.db import connection

    from partnerships.models import Category, Partner

    ids = list(Category.objects.order_by("pk").values_list("pk", flat=True))
    sql = f"""
        INSERT INTO {Partner.categories.through._meta.db_table} (partner_id, category_id)
        SELECT p.id, (%(ids)s::bigint[])[1 + ((p.id * 7 + k * %(step)s) %% %(n)s)::int]
        FROM {Partner._meta.db_table} p CROSS JOIN generate_series(0, 2) AS k
        WHERE k <= p.id %% 3
        ORDER BY p.id, k
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "step": len(ids) // 3, "n": len(ids)})
        return cursor.rowcount


def rebuild_rollups() -> int:
    """The monthly rollups of the rows loaded straight into the table (partnerships.services.rollups)."""
    from partnerships.services.rollups import metric_rollups_rebuild
    return metric_rollups_rebuild()


def load_metrics(days: int, today: dt.date) -> int:
    """`days` rows per partner ending yesterday, partner by partner (so every index is appended in order).

    Each partner has a follower base (1K to 6M, log-uniform), a growth rate, a reach, a posting habit and an
    engagement rate; each day draws posts and views from them. qualified_views stays below views."""

    from partnerships.models import DailyMetric, Partner

    sql = f"""
        INSERT INTO {DailyMetric._meta.db_table}
            (partner_id, day, views, qualified_views, likes, comments, shares, followers, posts)
        SELECT partner_id, day, views, floor(views * qualified_share)::bigint,
               floor(views * engagement * 0.80)::bigint, floor(views * engagement * 0.12)::bigint,
               floor(views * engagement * 0.08)::bigint, followers, posts
        FROM (
            SELECT partner_id, day, engagement, followers, posts, 0.6 + 0.35 * random() AS qualified_share,
                   floor(followers * reach * CASE WHEN posts = 1 THEN 1.0 ELSE 0.3 END * (0.5 + random()))::bigint
                       AS views
            FROM (
                SELECT partner_id, %(start)s::date + n AS day, reach, engagement,
                       floor(base_followers * power(1 + growth, n))::bigint AS followers,
                       (random() < post_chance)::int AS posts
                FROM (
                    -- generate_series in the select list: the days of one partner follow each other
                    SELECT profile.*, generate_series(0, %(days)s - 1) AS n
                    FROM (
                        SELECT id AS partner_id, power(10, 3 + 3.8 * random()) AS base_followers,
                               -0.002 + 0.012 * random() AS growth, 0.05 + 0.75 * random() AS reach,
                               0.05 + 0.85 * random() AS post_chance, 0.02 + 0.10 * random() AS engagement
                        FROM {Partner._meta.db_table}
                        WHERE id BETWEEN %(low)s AND %(high)s
                        ORDER BY id
                    ) AS profile
                ) AS partner_day
            ) AS with_posts
        ) AS with_views
    """
    start = today - dt.timedelta(days=days)
    return insert_per_partner(sql, {"start": start, "days": days}, METRIC_CHUNK, "metrics", rate=True)


def load_enrolments() -> int:
    """About ENROLMENTS_PER_PARTNER applications per partner (removed partners cannot apply), each pair once,
    in every status, with the eligibility snapshot eligibility.evaluate() would store for the partner's
    current statistics. Minors are never approved; approvals that fail a soft rule carry an override."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from partnerships.models import Enrolment, Partner, PartnerStatistics, Program

    programs = list(Program.objects.order_by("pk"))
    rules = [
        (
            program.pk, list(program.allowed_kinds or []), list(program.allowed_countries or []),
            ", ".join(Partner.Kind(kind).label for kind in program.allowed_kinds) if program.allowed_kinds else "any",
            ", ".join(program.allowed_countries) if program.allowed_countries else "any",
            program.min_age, program.min_followers, program.min_views_30d, program.min_posts_30d,
            program.require_good_standing,
        )
        for program in programs
    ]
    manager_id = get_user_model().objects.get(username=BENCH_MANAGER).pk
    status_case = "CASE " + " ".join(f"WHEN r_status < {share} THEN '{status}'" for status, share in STATUS_DRAW[:-1])
    status_case += f" ELSE '{STATUS_DRAW[-1][0]}' END"
    number = "to_char({}, 'FM999,999,999,999,990')"

    def rule(code: str, label: str, value: str, threshold: str, passed: str, hard: bool = False) -> str:
        return (f"jsonb_build_object('rule', '{code}', 'label', '{label}', 'value', {value}, "
                f"'threshold', {threshold}, 'passed', {passed}, 'hard', {'true' if hard else 'false'})")

    snapshot = "jsonb_build_array(" + ", ".join([
        rule("kind", "Partner kind", "kind_label", "kinds_threshold", "kind_passed"),
        rule("country", "Country", "country", "countries_threshold", "country_passed"),
        rule("age", "Minimum age", "age_value",
             "CASE WHEN organisation THEN 'n/a for organisations' ELSE '≥ ' || min_age || ' years' END",
             "age_passed", hard=True),
        rule("good_standing", "Good standing", "status_label",
             "CASE WHEN good_standing THEN 'Active' ELSE 'any' END", "standing_passed"),
        rule("followers", "Followers", number.format("followers"), "'≥ ' || " + number.format("min_followers"),
             "followers >= min_followers"),
        rule("views_30d", "Views, last 30 days", number.format("views"), "'≥ ' || " + number.format("min_views"),
             "views >= min_views"),
        rule("posts_30d", "Posts, last 30 days", number.format("posts"), "'≥ ' || " + number.format("min_posts"),
             "posts >= min_posts"),
    ]) + ")"
    decided = "status IN ('approved', 'suspended', 'ended')"
    sql = f"""
        INSERT INTO {Enrolment._meta.db_table}
            (partner_id, program_id, status, submitted_at, decided_at, decided_by_id, decision_reason,
             eligibility, eligibility_passed, eligibility_evaluated_at, eligibility_override_reason, approved_at,
             created_at, updated_at)
        SELECT partner_id, program_id, status, submitted_at,
               CASE WHEN status <> 'submitted' THEN decided_at END,
               CASE WHEN status <> 'submitted' THEN %(manager)s::bigint END,
               CASE status WHEN 'rejected' THEN 'Bench: does not meet the program''s rules'
                           WHEN 'suspended' THEN 'Bench: invalid traffic under investigation'
                           WHEN 'ended' THEN 'Bench: contract ended'
                           WHEN 'withdrawn' THEN 'Bench: partner withdrew the application' ELSE '' END,
               {snapshot}, passed, submitted_at,
               CASE WHEN {decided} AND NOT passed THEN 'Bench: strategic partner' ELSE '' END,
               CASE WHEN {decided} THEN decided_at END,
               submitted_at, CASE WHEN status = 'submitted' THEN submitted_at ELSE decided_at END
        FROM (
            SELECT *, CASE WHEN drawn IN ('approved', 'suspended', 'ended') AND NOT age_passed THEN 'rejected'
                           ELSE drawn END AS status,
                   kind_passed AND country_passed AND age_passed AND standing_passed AND followers >= min_followers
                       AND views >= min_views AND posts >= min_posts AS passed
            FROM (
                SELECT *,
                       cardinality(kinds) = 0 OR kind = ANY(kinds) AS kind_passed,
                       cardinality(countries) = 0 OR country = ANY(countries) AS country_passed,
                       CASE WHEN organisation THEN 'organisation'
                            WHEN date_of_birth IS NOT NULL THEN age_years || ' years'
                            WHEN age_verified THEN 'verified adult' ELSE 'unknown' END AS age_value,
                       CASE WHEN organisation THEN true
                            WHEN date_of_birth IS NOT NULL THEN age_years >= min_age
                            WHEN age_verified THEN min_age <= 18 ELSE min_age = 0 END AS age_passed,
                       NOT good_standing OR partner_status = 'active' AS standing_passed,
                       {status_case} AS drawn,
                       submitted_at + r_decided * interval '20 days' AS decided_at
                FROM (
                    SELECT p.id AS partner_id, p.kind, p.country, p.status AS partner_status, p.date_of_birth,
                           p.age_verified, p.kind IN ('publisher', 'institution') AS organisation,
                           extract(year FROM age(CURRENT_DATE, p.date_of_birth))::int AS age_years,
                           (%(kind_labels)s::text[])[array_position(%(kinds)s::text[], p.kind::text)] AS kind_label,
                           (%(status_labels)s::text[])[array_position(%(statuses)s::text[], p.status::text)]
                               AS status_label,
                           coalesce(s.followers, 0) AS followers, coalesce(s.views_30d, 0) AS views,
                           coalesce(s.posts_30d, 0) AS posts, r.*,
                           random() AS r_status, random() AS r_decided,
                           now() - random() * interval '120 days' AS submitted_at
                    FROM {Partner._meta.db_table} p
                    CROSS JOIN bench_program_rule r
                    LEFT JOIN {PartnerStatistics._meta.db_table} s ON s.partner_id = p.id
                    WHERE p.status <> 'removed' AND random() < %(share)s
                ) AS pair
            ) AS evaluated
        ) AS decided
    """
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TEMPORARY TABLE bench_program_rule (
                program_id bigint, kinds text[], countries text[], kinds_threshold text, countries_threshold text,
                min_age int, min_followers bigint, min_views bigint, min_posts int, good_standing bool)
        """)
        cursor.executemany("INSERT INTO bench_program_rule VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rules)
        cursor.execute(sql, {
            "manager": manager_id, "share": ENROLMENTS_PER_PARTNER / len(programs),
            "kinds": Partner.Kind.values, "kind_labels": [str(label) for label in Partner.Kind.labels],
            "statuses": Partner.Status.values, "status_labels": [str(label) for label in Partner.Status.labels],
        })
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE bench_program_rule")
    return inserted


def check_eligibility_snapshots(sample: int = 200) -> str:
    """Compare generated snapshots with what eligibility.evaluate() computes for the same rows."""
    from partnerships import eligibility
    from partnerships.models import Enrolment, PartnerStatistics

    bounds = Enrolment.objects.order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    ids = random.Random(1).sample(range(first, last + 1), min(sample, last - first + 1))
    same = total = 0
    for enrolment in Enrolment.objects.filter(pk__in=ids).select_related("partner", "program"):
        stats = PartnerStatistics.objects.filter(partner_id=enrolment.partner_id).first()
        expected = [r.as_dict() for r in eligibility.evaluate(partner=enrolment.partner, statistics=stats,
                                                               program=enrolment.program)]
        total += 1
        same += expected == enrolment.eligibility
        if expected != enrolment.eligibility and total - same == 1:
            log(f"  snapshot differs for enrolment {enrolment.pk}: {enrolment.eligibility} != {expected}")
    log(f"  eligibility snapshots equal to eligibility.evaluate(): {same}/{total}")
    return f"{same}/{total}"
