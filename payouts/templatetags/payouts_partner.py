"""The money part of the partner page's summary ({% load payouts_partner %}): partnerships never imports payouts,
so the partner's template asks payouts for it."""

from __future__ import annotations

from django import template
from django.utils import timezone

from partnerships.models import Partner
from payouts.selectors import PartnerPayoutSummary, partner_payout_summary

register = template.Library()


@register.simple_tag
def partner_payouts(partner: Partner) -> PartnerPayoutSummary | None:
    """{% partner_payouts original as payouts %}: this year's months earned and paid, and screening flags."""
    if partner is None or partner.pk is None:
        return None
    return partner_payout_summary(partner, year=timezone.now().year)


@register.filter
def by_currency(summary: PartnerPayoutSummary) -> list[tuple[str, int, int]]:
    """[(currency, earned, paid)] in currency order, for a table of the year's money."""
    return [(currency, summary.earned[currency], summary.paid.get(currency, 0)) for currency in sorted(summary.earned)]
