"""The marketplace bench/search.py searches: partners of every kind in 20 countries (about 40 % opted into brand
deals, 97 % active, people mostly adults, some minors, some without a birth date; organisations without one),
their PartnerStatistics rows, 15 categories with 1-3 per partner, and a brand with its admin user.
"""

from __future__ import annotations

import importlib

from bench.data import PARTNER_CHUNK, insert_numbered, insert_per_partner
from bench.harness import LOAD_SESSION, LoadSteps, execute

FIRST_NAMES = [
    "Ada", "Aiko", "Alba", "Amara", "Anders", "Aria", "Bela", "Bruno", "Carmen", "Chidi", "Dario", "Dina", "Elif",
    "Emil", "Esme", "Farah", "Felix", "Gael", "Greta", "Hana", "Ines", "Ivo", "Jonas", "Juno", "Kai", "Kenji",
    "Lara", "Leon", "Lina", "Luca", "Maya", "Milo", "Nadia", "Nico", "Noor", "Olga", "Omar", "Paz", "Priya",
    "Quinn", "Rafa", "Rosa", "Sami", "Sofia", "Tariq", "Teo", "Uma", "Vera", "Wren", "Yara", "Yusuf", "Zoe",
    "Arjun", "Bianca", "Cyrus", "Dalia", "Ezra", "Freya", "Hugo", "Iris",
]
LAST_NAMES = [
    "Abara", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Costa", "Dubois", "Eriksen", "Ferreira",
    "Fischer", "Garcia", "Greco", "Haddad", "Hansen", "Ito", "Jansen", "Kaur", "Kim", "Kowalski", "Lambert",
    "Larsen", "Lopez", "Martin", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Olsen", "Park", "Patel",
    "Petrov", "Quispe", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Sato", "Tanaka", "Torres", "Varga",
    "Weber", "Wojcik", "Yilmaz", "Zhang", "Adeyemi", "Berg", "Castro", "Dimitrov", "Engel", "Fontaine", "Gomez",
    "Horvat", "Ibrahim", "Jovanovic", "Keller", "Lindqvist", "Mendes", "Nielsen", "Ortega", "Popescu", "Reyes",
    "Suzuki", "Thorsen", "Ueda", "Vidal", "Walsh", "Xu", "Yamada", "Zielinski", "Brandt", "Chavez", "Duarte",
    "Eze", "Fuchs", "Gallo", "Holm", "Iyer",
]
PUBLISHER_SUFFIXES = ["Media", "Studios", "News", "Press", "Network"]
INSTITUTION_PREFIXES = ["Museum", "Institute", "Library", "Foundation", "Academy"]
# 20 slots: US 25 %, GB, BR, IN 10 % each, the others 5 % each.
COUNTRY_SLOTS = ["US", "US", "US", "US", "US", "GB", "GB", "BR", "BR", "IN", "IN", "CA", "FR", "DE", "JP", "MX",
                 "ES", "IT", "AU", "NL"]
CATEGORIES = [  # most popular first: a partner's categories are drawn with a skew towards the start
    ("comedy", "Comedy"), ("gaming", "Gaming"), ("beauty", "Beauty"), ("music", "Music"), ("sports", "Sports"),
    ("food", "Food"), ("tech", "Tech"), ("fashion", "Fashion"), ("travel", "Travel"), ("fitness", "Fitness"),
    ("education", "Education"), ("finance", "Finance"), ("news", "News"), ("science", "Science"),
    ("parenting", "Parenting"),
]


def load_marketplace_database(partners: int) -> dict:
    step = LoadSteps(digits=1)
    trigram = importlib.import_module("partnerships.migrations.0002_search_indexes")

    execute(*LOAD_SESSION)
    step("brand, admin user, membership, categories (ORM)", create_brand_and_categories)
    # The trigram (GIN) indexes are built once after the load rather than updated row by row.
    execute(*(f"DROP INDEX IF EXISTS {name}" for name in trigram.INDEXES))
    step("partners", lambda: load_partners(partners))
    step("partner statistics", load_statistics)
    step("partner categories (1-3 each)", load_categories)
    # The load's session skips triggers (session_replication_role = replica), so the search table (migrations 0022
    # and 0023) is filled here, once, by the latest migration's definition of its rows in one INSERT ... SELECT
    # (the sync function its triggers call took over 6 minutes for a million ids at once).
    names = importlib.import_module("partnerships.migrations.0023_marketplace_creator_names")
    step("marketplace creators (the search table)", lambda: execute(
        f"INSERT INTO {names.TABLE} ({', '.join(names.COLUMNS)}) {names.SELECT}"))
    step("trigram indexes (migration 0002's definitions)",
         lambda: execute(*(f"CREATE INDEX {name} ON {definition}" for name, definition in trigram.INDEXES.items())))
    execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: execute("VACUUM (ANALYZE)"))
    execute("CHECKPOINT")
    return {"steps": step.steps}


def create_brand_and_categories() -> None:
    from django.contrib.auth import get_user_model

    from partnerships.models import Brand, BrandMembership, Category

    user = get_user_model().objects.create_user(username="bench-search", email="bench-search@example.com")
    brand = Brand.objects.create(name="Bench brand", slug="bench-brand")
    BrandMembership.objects.create(brand=brand, user=user, role=BrandMembership.Role.ADMIN)
    Category.objects.bulk_create([Category(slug=slug, name=name) for slug, name in CATEGORIES])


def load_partners(count: int) -> int:
    """Handles like ana.kowalski123 (first name, separator, last name, number: unique); names like Ana Kowalski,
    Kowalski Media (publishers), Museum Kowalski (institutions)."""

    sql = """
        INSERT INTO partnerships_partner
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT kind,
               lower(first_name) || (ARRAY['', '.', '_'])[1 + (n %% 3)::int] || lower(last_name) || n,
               CASE kind WHEN 'publisher' THEN last_name || ' ' || (%(suffixes)s::text[])[1 + (n %% 5)::int]
                         WHEN 'institution' THEN (%(prefixes)s::text[])[1 + (n %% 5)::int] || ' ' || last_name
                         ELSE first_name || ' ' || last_name END,
               country,
               CASE WHEN kind IN ('publisher', 'institution') OR r_age < 0.04 THEN NULL  -- not on file
                    WHEN r_age < 0.10 THEN current_date - (4750 + floor(r_days * 1800))::int  -- minors, 13-17
                    ELSE current_date - (6700 + floor(r_days * 16000))::int END,  -- adults, 18-62
               CASE WHEN kind IN ('publisher', 'institution') THEN false
                    WHEN r_age < 0.04 THEN r_verified < 0.5
                    WHEN r_age < 0.10 THEN false
                    ELSE r_verified < 0.3 END,
               status,
               CASE WHEN status = 'active' THEN '' ELSE 'Bench: community guidelines review' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               random() < 0.9, random() < 0.92, random() < 0.4, created_at, created_at
        FROM (
            SELECT n,
                   CASE WHEN r_kind < 0.60 THEN 'creator' WHEN r_kind < 0.70 THEN 'public_figure'
                        WHEN r_kind < 0.85 THEN 'publisher' WHEN r_kind < 0.95 THEN 'educator'
                        ELSE 'institution' END AS kind,
                   (%(first)s::text[])[1 + floor(random() * %(n_first)s)::int] AS first_name,
                   (%(last)s::text[])[1 + floor(random() * %(n_last)s)::int] AS last_name,
                   (%(countries)s::text[])[1 + floor(random() * %(n_countries)s)::int] AS country,
                   random() AS r_age, random() AS r_days, random() AS r_verified,
                   CASE WHEN r_status < 0.97 THEN 'active' WHEN r_status < 0.99 THEN 'suspended'
                        ELSE 'removed' END AS status,
                   TIMESTAMPTZ '2024-01-01 00:00+00' + random() * interval '900 days' AS created_at
            FROM (SELECT n, random() AS r_kind, random() AS r_status
                  FROM generate_series(%(low)s, %(high)s) AS n) AS draw
        ) AS partner
        ORDER BY n
    """
    params = {"suffixes": PUBLISHER_SUFFIXES, "prefixes": INSTITUTION_PREFIXES, "first": FIRST_NAMES,
              "n_first": len(FIRST_NAMES), "last": LAST_NAMES, "n_last": len(LAST_NAMES),
              "countries": COUNTRY_SLOTS, "n_countries": len(COUNTRY_SLOTS)}
    return insert_numbered(sql, count, params)


def load_statistics() -> int:
    """Followers log-distributed 100..10,000,000 (skewed to small accounts), 0-60 posts in 30 days, average views
    a share of followers, engagement 0.50..15.00 % (skewed low)."""

    sql = """
        INSERT INTO partnerships_partnerstatistics
            (partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d, comments_30d, shares_30d,
             posts_30d, avg_views_per_post, engagement_rate, refreshed_at)
        SELECT id, current_date - 1, followers, avg_views * posts, round(avg_views * posts * 0.9)::bigint,
               round(avg_views * posts * er / 100 * 0.80)::bigint, round(avg_views * posts * er / 100 * 0.15)::bigint,
               round(avg_views * posts * er / 100 * 0.05)::bigint, posts, avg_views, er,
               now() - random() * interval '20 hours'
        FROM (
            SELECT id, followers, posts, er,
                   CASE WHEN posts = 0 THEN 0
                        ELSE greatest(1, round(followers * (0.02 + 0.6 * r_reach ^ 2)))::bigint END AS avg_views
            FROM (
                SELECT id, round(100 * 10 ^ (5 * random() ^ 1.3))::bigint AS followers,
                       floor(60.99 * random() ^ 1.5)::int AS posts,
                       round((0.5 + 14.5 * random() ^ 2)::numeric, 2) AS er, random() AS r_reach
                FROM partnerships_partner WHERE id BETWEEN %(low)s AND %(high)s
            ) AS draw
        ) AS statistics
    """
    return insert_per_partner(sql, {}, PARTNER_CHUNK, "statistics")


def load_categories() -> int:

    from partnerships.models import Category

    ids = list(Category.objects.filter(slug__in=[slug for slug, _ in CATEGORIES]).values_list("slug", "pk"))
    by_slug = dict(ids)
    sql = """
        INSERT INTO partnerships_partner_categories (partner_id, category_id)
        SELECT DISTINCT p.id, (%(ids)s::bigint[])[1 + floor(%(n)s * random() ^ 1.6)::int]
        FROM partnerships_partner p
        CROSS JOIN LATERAL generate_series(1, 1 + ((p.id * 7919 + floor(random() * 3)::bigint) %% 3)::int) AS k
        WHERE p.id BETWEEN %(low)s AND %(high)s
    """
    params = {"ids": [by_slug[slug] for slug, _ in CATEGORIES], "n": len(CATEGORIES)}
    return insert_per_partner(sql, params, PARTNER_CHUNK, "category rows")
