"""Deterministic demo data: the seed programs with their real rules, a few thousand partners of every
kind with 90 days of metrics, and applications in every state, decided through the real services."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone

from partnerships.exceptions import PartnershipsError
from partnerships.models import Brand, BrandMembership, Campaign, Category, DailyMetric, Enrolment, Partner, Program
from partnerships.services.enrolments import (
    enrolment_approve,
    enrolment_end,
    enrolment_reject,
    enrolment_submit,
    enrolment_suspend,
    enrolment_withdraw,
)
from partnerships.services.partners import partner_suspend
from partnerships.services.rollups import metric_rollups_rebuild
from partnerships.services.statistics import partner_statistics_refresh

SEED = 20201  # fixed: the same partners, metrics and decisions on every run
METRIC_DAYS = 90

CATEGORIES = [
    "Comedy", "Education", "Gaming", "Beauty", "Sports", "Music", "Dance", "Food", "Travel", "Fashion",
    "Science", "Pets", "Fitness", "News", "DIY",
]
COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "MX", "IN", "ID", "JP", "CA"]
EU_COUNTRIES = ["AT", "BE", "DE", "ES", "FR", "GB", "IE", "IT", "NL", "PL", "PT", "SE"]
KINDS = [
    (Partner.Kind.CREATOR, 70), (Partner.Kind.PUBLIC_FIGURE, 8), (Partner.Kind.PUBLISHER, 8),
    (Partner.Kind.EDUCATOR, 10), (Partner.Kind.INSTITUTION, 4),
]
FIRST = ["ana", "ben", "chloe", "dev", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena", "maya",
         "nico", "omar", "priya", "quinn", "rosa", "sam", "tara", "uma", "vic", "wen", "xavi", "yara", "zoe"]
TOPIC = ["cooks", "dances", "learns", "plays", "travels", "laughs", "builds", "paints", "lifts", "sings",
         "explains", "reviews"]
ORG_WORDS = ["Daily", "Media", "Academy", "Studio", "Network", "Press", "Institute", "Lab", "Times", "Channel"]

PROGRAMS = [
    {
        "slug": "ad-revenue-share", "name": "Ad revenue share (Pulse)", "archetype": Program.Archetype.REVENUE_SHARE,
        "currency": "USD", "time_zone": "America/Los_Angeles", "min_followers": 100_000, "min_posts_30d": 5,
        "min_age": 18, "allowed_kinds": ["creator", "public_figure", "publisher"],
        "description": "50% of the net ad revenue attributed to the partner's videos.",
    },
    {
        "slug": "us-creator-fund", "name": "US Creator Fund", "archetype": Program.Archetype.POOLED_FUND,
        "currency": "USD", "time_zone": "America/Los_Angeles", "min_followers": 10_000,
        "min_views_30d": 100_000, "min_age": 18, "allowed_countries": ["US"],
        "description": "1B USD over three years, shared by qualified views.",
    },
    {
        "slug": "eu-creator-fund", "name": "European Creator Fund", "archetype": Program.Archetype.POOLED_FUND,
        "currency": "EUR", "time_zone": "Europe/Berlin", "min_followers": 10_000, "min_views_30d": 100_000,
        "min_age": 18, "allowed_countries": EU_COUNTRIES,
        "description": "300M EUR over three years, 70M in the first year.",
    },
    {
        "slug": "educator-fund", "name": "Educator fund (#LearnOnTikTok)", "archetype": Program.Archetype.GRANT,
        "currency": "USD", "time_zone": "UTC", "min_posts_30d": 3, "min_age": 18,
        "allowed_kinds": ["educator", "publisher", "institution"],
        "description": "50M USD of fixed grants to educators, experts, publishers and institutions.",
    },
    {
        "slug": "creator-rewards", "name": "Creator rewards", "archetype": Program.Archetype.RATE_PER_MILLE,
        "currency": "USD", "time_zone": "UTC", "min_followers": 10_000, "min_views_30d": 100_000,
        "min_age": 18, "description": "A rate per 1,000 qualified views of videos over one minute.",
    },
    {
        "slug": "creator-marketplace", "name": "Creator marketplace (brand deals)",
        "archetype": Program.Archetype.BRAND_DEALS, "currency": "USD", "time_zone": "UTC",
        "min_followers": 10_000, "min_views_30d": 1_000, "min_posts_30d": 3, "min_age": 18,
        "description": "Brands find creators who opted in, and invite them to campaigns.",
    },
]

DEMO_USERS = [
    # username, password, superuser, group
    ("admin", "admin", True, None),
    ("manager", "manager", False, "Partnership managers"),
    ("finance", "finance", False, "Finance approvers"),
    ("finance2", "finance2", False, "Finance approvers"),  # the second person: releases what finance creates
]


@dataclass
class SeedSummary:
    partners: int
    metrics: int
    enrolments: dict[str, int]
    logins: list[tuple[str, str, str]]


def _handle(rng: random.Random, kind: str, index: int) -> tuple[str, str]:
    if kind in (Partner.Kind.PUBLISHER, Partner.Kind.INSTITUTION):
        word, other = rng.choice(ORG_WORDS), rng.choice(FIRST).capitalize()
        return f"{other.lower()}.{word.lower()}{index}", f"{other} {word}"
    first, topic = rng.choice(FIRST), rng.choice(TOPIC)
    return f"{first}.{topic}{index}", f"{first.capitalize()} {topic}"


def _users() -> tuple[list[tuple[str, str, str]], User]:
    user_model = get_user_model()
    logins = []
    for username, password, superuser, group_name in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=username, defaults={"is_staff": True})
        user.is_staff, user.is_superuser = True, superuser
        user.set_password(password)
        user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))
        logins.append((username, password, "superuser" if superuser else group_name or ""))
    return logins, user_model.objects.get(username="manager")


def seed_demo(*, partners: int = 3000, today: dt.date | None = None) -> SeedSummary:
    rng = random.Random(SEED)
    today = today or timezone.localdate()
    with transaction.atomic():
        logins, manager = _users()
        categories = [Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})[0]
                      for name in CATEGORIES]
        programs = {}
        for spec in PROGRAMS:
            programs[spec["slug"]] = Program.objects.update_or_create(slug=spec["slug"], defaults=spec)[0]

        kinds, weights = zip(*KINDS, strict=True)
        people = []
        for index in range(partners):
            kind = rng.choices(kinds, weights)[0]
            handle, name = _handle(rng, kind, index)
            organisation = kind in (Partner.Kind.PUBLISHER, Partner.Kind.INSTITUTION)
            birth = None
            if not organisation and rng.random() < 0.85:
                # Mostly adults; a few minors so the age rule has something to refuse.
                adult = rng.random() < 0.97
                age_days = rng.randint(18 * 365 + 5, 60 * 365) if adult else rng.randint(13 * 365, 17 * 365)
                birth = today - dt.timedelta(days=age_days)
            country = rng.choice(EU_COUNTRIES if rng.random() < 0.25 else COUNTRIES)
            people.append(Partner(
                kind=kind, handle=handle, display_name=name, country=country, date_of_birth=birth,
                age_verified=birth is None and not organisation and rng.random() < 0.5,
                tax_form_on_file=rng.random() < 0.8, identity_verified=rng.random() < 0.85,
                opted_into_brand_deals=rng.random() < 0.4,
            ))
        Partner.objects.bulk_create(people, batch_size=1000)
        people = list(Partner.objects.order_by("pk"))
        through = Partner.categories.through
        through.objects.bulk_create(
            [through(partner_id=p.pk, category_id=c.pk)
             for p in people for c in rng.sample(categories, rng.randint(1, 3))],
            batch_size=5000,
        )

        # 270,000 rows: straight through the cursor, the ORM's per-object work would dominate the seed.
        columns = ["partner_id", "day", "views", "qualified_views", "likes", "comments", "shares", "followers",
                   "posts"]
        insert = (f"INSERT INTO {DailyMetric._meta.db_table} ({', '.join(columns)}) "
                  f"VALUES ({', '.join(['%s'] * len(columns))})")
        days = [connection.ops.adapt_datefield_value(today - dt.timedelta(days=METRIC_DAYS - offset))
                for offset in range(METRIC_DAYS)]
        rows, metric_count = [], 0
        with connection.cursor() as cursor:
            for partner in people:
                followers = int(10 ** rng.uniform(3, 6.8))
                reach = rng.uniform(0.05, 0.8)
                post_chance = rng.uniform(0.05, 0.9)
                engagement = rng.uniform(0.02, 0.12)
                growth = rng.uniform(-0.002, 0.01)
                for day in days:
                    followers = max(0, int(followers * (1 + growth)))
                    posts = 1 if rng.random() < post_chance else 0
                    views = int(followers * reach * (1.0 if posts else 0.3) * rng.uniform(0.5, 1.5))
                    engaged = int(views * engagement)
                    likes, comments = int(engaged * 0.8), int(engaged * 0.12)
                    rows.append((partner.pk, day, views, int(views * rng.uniform(0.6, 0.95)), likes, comments,
                                 engaged - likes - comments, followers, posts))
                if len(rows) >= 20_000:
                    cursor.executemany(insert, rows)
                    metric_count += len(rows)
                    rows = []
            cursor.executemany(insert, rows)
            metric_count += len(rows)
        metric_rollups_rebuild()  # the rows went straight into the table: their months are summed once
        partner_statistics_refresh(as_of=today - dt.timedelta(days=1))

    # Applications go through the real services (each in its own transaction, as in production).
    suspended = rng.sample(people, k=max(1, partners // 100))
    for partner in suspended:
        partner_suspend(partner_id=partner.pk, actor=manager, reason="Demo: community guidelines review")
    now = timezone.now()
    applicants = rng.sample(people, k=min(len(people), max(10, partners * 2 // 5)))
    program_list = [programs[slug] for slug in ("ad-revenue-share", "us-creator-fund", "eu-creator-fund",
                                                "educator-fund", "creator-rewards")]
    for index, partner in enumerate(applicants):
        program = program_list[index % len(program_list)]
        try:
            enrolment = enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=manager)
        except PartnershipsError:
            continue
        fate = rng.random()
        # Waiting applications are recent; decided ones go back up to five months, so that members were
        # approved before the months the payout demo computes.
        submitted = now - dt.timedelta(days=rng.randint(0, 30) if fate < 0.45 else rng.randint(35, 150),
                                       minutes=rng.randint(0, 1440))
        decided = submitted + dt.timedelta(days=rng.randint(1, 4))
        Enrolment.objects.filter(pk=enrolment.pk).update(submitted_at=submitted)
        try:
            if fate < 0.45:
                continue  # stays in the queue
            if fate < 0.75:
                enrolment_approve(
                    enrolment_id=enrolment.pk, actor=manager, reason="Demo: meets the program's rules",
                    override_reason="" if enrolment.eligibility_passed else "Demo: strategic partner",
                )
                Enrolment.objects.filter(pk=enrolment.pk).update(approved_at=decided, decided_at=decided)
                if fate > 0.70:
                    enrolment_suspend(enrolment_id=enrolment.pk, actor=manager,
                                               reason="Demo: invalid traffic under investigation")
                elif fate > 0.68:
                    enrolment_end(enrolment_id=enrolment.pk, actor=manager, reason="Demo: contract ended")
            elif fate < 0.93:
                enrolment_reject(enrolment_id=enrolment.pk, actor=manager,
                                          reason="Demo: does not meet the program's rules")
                Enrolment.objects.filter(pk=enrolment.pk).update(decided_at=decided)
            else:
                enrolment_withdraw(enrolment_id=enrolment.pk, actor=manager,
                                            reason="Demo: partner withdrew the application")
        except PartnershipsError:
            continue  # a minor, say: stays submitted for a manager to reject
    logins += _brands(categories)
    counts = {status: Enrolment.objects.filter(status=status).count() for status in Enrolment.Status.values}
    return SeedSummary(partners=len(people), metrics=metric_count, enrolments=counts, logins=logins)


BRANDS = [
    # slug, name, login, campaign, categories, countries, follower range
    ("acme", "Acme Snacks", "acme", "Crunch challenge", ["comedy", "food"], ["US", "GB"], (10_000, 2_000_000)),
    ("nova", "Nova Sports", "nova", "Marathon season", ["sports", "fitness"], [], (50_000, None)),
]


def _brands(categories: list[Category]) -> list[tuple[str, str, str]]:
    """Two brands with a member each, an open campaign each, and a few invitations sent."""
    from partnerships.marketplace import matching, services  # brand code builds on the core models above

    User = get_user_model()
    by_slug = {category.slug: category for category in categories}
    today = timezone.localdate()
    logins = []
    for slug, name, login, campaign_name, category_slugs, countries, (low, high) in BRANDS:
        brand, _ = Brand.objects.get_or_create(slug=slug, defaults={"name": name})
        user, _ = User.objects.get_or_create(username=login, defaults={"is_staff": False})
        user.set_password(login)
        user.save()
        BrandMembership.objects.get_or_create(brand=brand, user=user, defaults={"role": BrandMembership.Role.ADMIN})
        campaign = services.campaign_create(
            user=user, brand_id=brand.pk, name=campaign_name, brief=f"{name} is looking for creators.",
            budget_minor=2_500_000, currency="USD", target_countries=countries, followers_min=low, followers_max=high,
            deliverables="Two short videos and one story", starts_on=today, ends_on=today + dt.timedelta(days=45),
            status=Campaign.Status.OPEN, categories=[by_slug[c] for c in category_slugs])
        for partner in matching.campaign_matches(campaign, limit=3):
            services.invitation_create(user=user, campaign_id=campaign.pk, partner_handle=partner.handle,
                                       offered_fee_minor=50_000, currency="USD", message="We love your work!")
        logins.append((login, login, f"brand user of {name}"))
    return logins
