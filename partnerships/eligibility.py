"""Evaluate a program's eligibility rule for one partner.

The result suggests; a person decides. Every rule is reported, passing or not, with the partner's
value and the threshold, so a manager sees why. The age rule is *hard*: no override can pay a minor.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import asdict, dataclass

from django.utils import timezone
from django.utils.translation import ngettext

from partnerships.models import Partner, PartnerStatistics, Program


@dataclass(frozen=True)
class RuleResult:
    rule: str
    label: str
    value: str
    threshold: str
    passed: bool
    hard: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def age_on(date_of_birth: dt.date, today: dt.date) -> int:
    years = today.year - date_of_birth.year
    if (today.month, today.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def program_today(program: Program) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(program.time_zone)).date()


def _age_rule(partner: Partner, program: Program, today: dt.date) -> RuleResult:
    threshold = f"≥ {program.min_age} years"
    if partner.is_organisation:
        return RuleResult("age", "Minimum age", "organisation", "n/a for organisations", True, hard=True)
    if partner.date_of_birth is not None:
        age = age_on(partner.date_of_birth, today)
        return RuleResult("age", "Minimum age", f"{age} years", threshold, age >= program.min_age, hard=True)
    if partner.age_verified:
        return RuleResult("age", "Minimum age", "verified adult", threshold, program.min_age <= 18, hard=True)
    return RuleResult("age", "Minimum age", "unknown", threshold, program.min_age == 0, hard=True)


def evaluate(*, partner: Partner, statistics: PartnerStatistics | None, program: Program) -> list[RuleResult]:
    today = program_today(program)
    followers = statistics.followers if statistics else 0
    views = statistics.views_30d if statistics else 0
    posts = statistics.posts_30d if statistics else 0
    kinds = program.allowed_kinds or []
    countries = program.allowed_countries or []
    return [
        RuleResult(
            "kind",
            "Partner kind",
            partner.get_kind_display(),
            ", ".join(Partner.Kind(k).label for k in kinds) if kinds else "any",
            not kinds or partner.kind in kinds,
        ),
        RuleResult(
            "country",
            "Country",
            partner.country,
            ", ".join(countries) if countries else "any",
            not countries or partner.country in countries,
        ),
        _age_rule(partner, program, today),
        RuleResult(
            "good_standing",
            "Good standing",
            partner.get_status_display(),
            "Active" if program.require_good_standing else "any",
            not program.require_good_standing or partner.status == Partner.Status.ACTIVE,
        ),
        RuleResult("followers", "Followers", f"{followers:,}", f"≥ {program.min_followers:,}",
                   followers >= program.min_followers),
        RuleResult("views_30d", "Views, last 30 days", f"{views:,}", f"≥ {program.min_views_30d:,}",
                   views >= program.min_views_30d),
        RuleResult("posts_30d", "Posts, last 30 days", f"{posts:,}", f"≥ {program.min_posts_30d:,}",
                   posts >= program.min_posts_30d),
    ]


def short_label(rules: list[dict]) -> str:
    """A queue cell that fits: 'passes', 'fails 2 rules' or 'not evaluated' (the rules are on the object page)."""
    if not rules:
        return "not evaluated"
    failed = sum(1 for rule in rules if not rule["passed"])
    if not failed:
        return "passes"
    return ngettext("fails %(count)d rule", "fails %(count)d rules", failed) % {"count": failed}


def summarise(rules: list[dict]) -> str:
    """One line for the queue: 'all 7 rules pass' or the labels that fail."""
    if not rules:
        return "not evaluated"
    failed = [rule["label"] for rule in rules if not rule["passed"]]
    if not failed:
        return f"all {len(rules)} rules pass"
    return "fails: " + ", ".join(failed)
