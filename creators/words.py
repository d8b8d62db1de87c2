"""The words the creator pages show for facts that other apps store in English (rule labels and values, statuses):
translated here, so the pages read entirely in the visitor's language."""

from __future__ import annotations

import re

from django.utils import formats, timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.money import format_money_for_reader
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
PAYMENT_STATUSES = {
    "pending": _("Pending: not yet sent to the bank"), "sent": _("Sent to the bank"), "paid": _("Paid"),
    "returned": _("Returned by the bank"), "failed": _("Failed"),
}
RAILS = {"sepa": _("SEPA transfer"), "ach": _("ACH transfer"), "other": _("Bank transfer")}
TAX_FORMS = {"W-9": "W-9", "W-8BEN": "W-8BEN", "W-8BEN-E": "W-8BEN-E", "none": _("none")}
TAX_STATUSES = {"missing": _("Missing"), "received": _("Received, not yet validated"), "validated": _("Validated"),
                "expired": _("Expired")}
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


def money(amount_minor: int, currency: str) -> str:
    """An amount for the visitor: the house format in English ("1,500.00 USD"), the locale's elsewhere
    ("1.500,00 USD" in Spanish), always with the currency's own decimals and its ISO code."""
    return format_money_for_reader(amount_minor, currency)


# For e-mail contexts built before the recipient's language is chosen: formatted when the template renders.
lazy_money = lazy(money, str)


def date(value) -> str:
    """A date (or a datetime, in the current time zone) in the visitor's locale's format; empty for none."""
    if value is None:
        return ""
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):
        value = timezone.localtime(value).date()
    return formats.date_format(value, "DATE_FORMAT")


lazy_date = lazy(date, str)
