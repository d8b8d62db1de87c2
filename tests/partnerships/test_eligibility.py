"""Each eligibility rule at its boundary. The rule suggests; the snapshot records every rule."""

import datetime as dt

import pytest
from django.utils import timezone

from partnerships.eligibility import age_on, evaluate, summarise
from partnerships.models import Partner
from tests.partnerships.factories import PartnerFactory, PartnerStatisticsFactory, ProgramFactory


def rules_by_name(partner, program, statistics=None):
    return {rule.rule: rule for rule in evaluate(partner=partner, statistics=statistics, program=program)}


@pytest.mark.parametrize(("followers", "passed"), [(100_000, True), (99_999, False), (100_001, True)])
def test_followers_boundary(db, followers, passed):
    program = ProgramFactory(min_followers=100_000)
    stats = PartnerStatisticsFactory(followers=followers)
    rule = rules_by_name(stats.partner, program, stats)["followers"]
    assert rule.passed is passed
    assert rule.value == f"{followers:,}"
    assert rule.threshold == "≥ 100,000"


@pytest.mark.parametrize(("views", "passed"), [(100_000, True), (99_999, False)])
def test_views_30d_boundary(db, views, passed):
    stats = PartnerStatisticsFactory(views_30d=views)
    assert rules_by_name(stats.partner, ProgramFactory(min_views_30d=100_000), stats)["views_30d"].passed is passed


@pytest.mark.parametrize(("posts", "passed"), [(5, True), (4, False)])
def test_posts_30d_boundary(db, posts, passed):
    stats = PartnerStatisticsFactory(posts_30d=posts)
    assert rules_by_name(stats.partner, ProgramFactory(min_posts_30d=5), stats)["posts_30d"].passed is passed


def test_partner_without_statistics_counts_as_zero(db):
    partner = PartnerFactory()
    rules = rules_by_name(partner, ProgramFactory(min_followers=1))
    assert rules["followers"].passed is False
    assert rules["followers"].value == "0"


def birthday_years_ago(years: int, *, days_after: int = 0) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) + dt.timedelta(days=days_after)


def test_eighteenth_birthday_today_passes(db):
    partner = PartnerFactory(date_of_birth=birthday_years_ago(18))
    rule = rules_by_name(partner, ProgramFactory(min_age=18))["age"]
    assert rule.passed is True
    assert rule.value == "18 years"


def test_seventeen_year_old_is_refused_and_the_rule_is_hard(db):
    partner = PartnerFactory(date_of_birth=birthday_years_ago(18, days_after=1))
    rule = rules_by_name(partner, ProgramFactory(min_age=18))["age"]
    assert rule.passed is False
    assert rule.value == "17 years"
    assert rule.hard is True


def test_age_uses_the_programs_time_zone(db, monkeypatch):
    # 2026-03-01 03:00 UTC is already 1 March in Tokyo but still 28 February in Los Angeles.
    instant = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    monkeypatch.setattr("partnerships.eligibility.timezone.now", lambda: instant)
    partner = PartnerFactory(date_of_birth=dt.date(2008, 3, 1))
    assert rules_by_name(partner, ProgramFactory(time_zone="Asia/Tokyo"))["age"].passed is True
    assert rules_by_name(partner, ProgramFactory(time_zone="America/Los_Angeles"))["age"].passed is False


def test_age_on_counts_whole_years():
    assert age_on(dt.date(2008, 3, 1), dt.date(2026, 2, 28)) == 17
    assert age_on(dt.date(2008, 3, 1), dt.date(2026, 3, 1)) == 18
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17


def test_organisation_has_no_age_and_passes(db):
    partner = PartnerFactory(kind=Partner.Kind.PUBLISHER, date_of_birth=None)
    rule = rules_by_name(partner, ProgramFactory(min_age=18))["age"]
    assert (rule.passed, rule.value) == (True, "organisation")


def test_age_verified_adult_without_birth_date(db):
    verified = PartnerFactory(date_of_birth=None, age_verified=True)
    unknown = PartnerFactory(date_of_birth=None, age_verified=False)
    program = ProgramFactory(min_age=18)
    assert rules_by_name(verified, program)["age"].passed is True
    assert rules_by_name(unknown, program)["age"].passed is False
    assert rules_by_name(verified, ProgramFactory(min_age=21))["age"].passed is False


def test_allowed_kinds_and_countries(db):
    program = ProgramFactory(allowed_kinds=["educator", "institution"], allowed_countries=["DE", "FR"])
    educator_in_de = PartnerFactory(kind=Partner.Kind.EDUCATOR, country="DE")
    creator_in_us = PartnerFactory(kind=Partner.Kind.CREATOR, country="US")
    assert rules_by_name(educator_in_de, program)["kind"].passed is True
    assert rules_by_name(educator_in_de, program)["country"].passed is True
    assert rules_by_name(creator_in_us, program)["kind"].passed is False
    assert rules_by_name(creator_in_us, program)["country"].passed is False
    assert rules_by_name(creator_in_us, ProgramFactory())["country"].threshold == "any"


def test_good_standing(db):
    program = ProgramFactory(require_good_standing=True)
    suspended = PartnerFactory(status=Partner.Status.SUSPENDED)
    assert rules_by_name(suspended, program)["good_standing"].passed is False
    assert rules_by_name(suspended, ProgramFactory(require_good_standing=False))["good_standing"].passed is True


def test_summary_lists_failing_labels(db):
    stats = PartnerStatisticsFactory(followers=10)
    rules = [rule.as_dict() for rule in evaluate(partner=stats.partner, statistics=stats,
                                                 program=ProgramFactory(min_followers=100))]
    assert summarise(rules) == "fails: Followers"
    assert summarise([]) == "not evaluated"
    assert summarise([r for r in rules if r["passed"]]) == "all 6 rules pass"
