"""What a partner's own people change about the partner: the public fields brands see, the brand-deal opt-in and
the contact e-mail; and their own notification preferences."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from creators.exceptions import CreatorsError
from creators.models import NotificationPreference, PartnerContact
from creators.selectors import user_acts_for_partner
from partnerships.models import Category, Partner

NOT_YOUR_PARTNER = "You do not act for this partner."


@transaction.atomic
def partner_profile_update(*, partner_id: int, actor: User, display_name: str,
                           opted_into_brand_deals: bool, categories: list[Category], contact_email: str) -> Partner:
    """Change the partner's public profile; the partner's history records who (the creator's user) and what."""
    if not user_acts_for_partner(actor, partner_id):
        raise CreatorsError(NOT_YOUR_PARTNER)
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    changed = []
    if partner.display_name != display_name:
        changed.append("display name")
    if partner.opted_into_brand_deals != opted_into_brand_deals:
        changed.append("brand deals " + ("opted in" if opted_into_brand_deals else "opted out"))
    partner.display_name, partner.opted_into_brand_deals = display_name, opted_into_brand_deals
    partner._history_user = actor  # type: ignore[attr-defined]
    partner._change_reason = "Creator portal: " + (", ".join(changed) or "profile saved")  # type: ignore[attr-defined]
    partner.save(update_fields=["display_name", "opted_into_brand_deals", "updated_at"])
    if {category.pk for category in categories} != set(partner.categories.values_list("pk", flat=True)):
        partner.categories.set(categories)
    contact, _ = PartnerContact.objects.get_or_create(partner=partner)
    if contact.email != contact_email:
        contact.email = contact_email
        contact.save(update_fields=["email", "updated_at"])
    return partner


@transaction.atomic
def notification_preferences_update(*, user: User, application_decided: bool, invitation_received: bool,
                                    invitation_answered: bool, statements: bool = True,
                                    language: str = "") -> NotificationPreference:
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    preference.application_decided = application_decided
    preference.invitation_received = invitation_received
    preference.invitation_answered = invitation_answered
    preference.statements = statements
    preference.language = language
    preference.save()
    return preference
