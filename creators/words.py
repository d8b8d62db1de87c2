"""The words the creator pages show for facts that other apps store in English (rule labels and values, statuses):
translated here, so the pages read entirely in the visitor's language."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from partnerships.eligibility import RuleResult

RULE_LABELS = {
    "kind": _("Partner kind"), "country": _("Country"), "age": _("Minimum age"), "good_standing": _("Good standing"),
    "followers": _("Followers"), "views_30d": _("Views, last 30 days"), "posts_30d": _("Posts, last 30 days"),
}
WORDS = {
    "any": _("any"), "organisation": _("organisation"), "n/a for organisations": _("n/a for organisations"),
    "unknown": _("unknown"), "verified adult": _("verified adult"), "Active": _("Active"),
    "Suspended": _("Suspended"), "Removed": _("Removed"), "Creator": _("Creator"), "Public figure": _("Public figure"),
    "Publisher": _("Publisher"), "Educator": _("Educator"), "Institution": _("Institution"),
}
STATUSES = {
    "submitted": _("Submitted"), "approved": _("Approved"), "rejected": _("Rejected"), "withdrawn": _("Withdrawn"),
    "suspended": _("Suspended"), "ended": _("Ended"), "invited": _("Invited"), "accepted": _("Accepted"),
    "declined": _("Declined"), "expired": _("Expired"), "payable": _("Payable"), "held": _("Held"),
    "carried_over": _("Carried over"), "paid": _("Paid"),
}
YEARS = re.compile(r"^(≥ )?(\d+) years$")


def word(text: str) -> str:
    """A value or threshold of a rule in the visitor's language: known words, "N years", lists of kinds."""
    if text in WORDS:
        return str(WORDS[text])
    match = YEARS.match(text)
    if match:
        years = int(match.group(2))
        return (match.group(1) or "") + ngettext("%(years)d year", "%(years)d years", years) % {"years": years}
    if ", " in text and all(part in WORDS for part in text.split(", ")):
        return ", ".join(str(WORDS[part]) for part in text.split(", "))
    return text


def rule_row(rule: RuleResult) -> dict:
    return {"label": RULE_LABELS.get(rule.rule, rule.label), "value": word(rule.value),
            "threshold": word(rule.threshold), "passed": rule.passed}


def status(code: str) -> str:
    return str(STATUSES.get(code, code))
