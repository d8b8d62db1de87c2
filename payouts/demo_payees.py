"""Demo bank details: every member of a paying program gets a payee, so payment batches can be made in the demo.

Partners in a EUR program are paid by SEPA to an IBAN generated for a real bank code of their country (German
for countries without one here); the others by ACH to real, check-digit-valid ABA routing numbers. The numbers
are well-formed but belong to no one. One partner's details were just changed by the demo's payee administrator,
so finance can see a held payee and confirm the change.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from schwifty import IBAN
from simple_history.utils import bulk_create_with_history

from partnerships.models import Enrolment, Partner
from payouts.models import Payee
from payouts.payees import payee_details_clean
from payouts.services.payees import payee_save

PAYEE_ADMIN = ("payees", "payees")  # username, password: a member of "Payee administrators"
BANKS = {"DE": ("37040044", None), "NL": ("ABNA", None), "AT": ("19043", None), "BE": ("539", None)}
ROUTING_NUMBERS = ["011000015", "021000021", "026009593", "121000248", "111000025", "071000013"]


def _iban(partner: Partner) -> str:
    country = partner.country if partner.country in BANKS else "DE"
    bank_code, _ = BANKS[country]
    width = {"DE": 10, "NL": 10, "AT": 11, "BE": 7}[country]
    return str(IBAN.generate(country, bank_code=bank_code, account_code=f"{partner.pk:0{width}d}"[-width:]))


def _details(partner: Partner, currency: str) -> dict[str, object]:
    data: dict[str, object] = {"account_holder": partner.display_name, "currency": currency}
    if currency == "EUR":
        data.update(rail="sepa", iban=_iban(partner))
    else:
        data.update(rail="ach", routing_number=ROUTING_NUMBERS[partner.pk % len(ROUTING_NUMBERS)],
                    account_number=f"{4_000_000_000 + partner.pk}")
    return data


def seed_demo_payees() -> str:
    """Payees for the members of paying programs that have none; returns a line for the demo's summary."""
    user_model = get_user_model()
    admin, _ = user_model.objects.get_or_create(username=PAYEE_ADMIN[0], defaults={"is_staff": True})
    admin.set_password(PAYEE_ADMIN[1])
    admin.save()
    admin.groups.add(Group.objects.get(name="Payee administrators"))

    members = (Enrolment.objects.filter(status=Enrolment.Status.APPROVED, partner__payee__isnull=True)
               .exclude(program__currency="").values_list("partner_id", "program__currency"))
    currency_of: dict[int, str] = {}
    for partner_id, currency in members:
        if currency_of.get(partner_id) != "EUR":  # a partner in a EUR program is paid in euros
            currency_of[partner_id] = "EUR" if currency == "EUR" else "USD"
    partners = Partner.objects.in_bulk(list(currency_of))
    payees = [Payee(partner=partners[partner_id], **payee_details_clean(_details(partners[partner_id], currency))
                    .as_fields())
              for partner_id, currency in sorted(currency_of.items())]
    with transaction.atomic():
        bulk_create_with_history(payees, Payee, batch_size=1000, default_user=admin,
                                 default_change_reason="Demo bank details.")
        held = next((payee for payee in payees if payee.currency == "EUR"), None)
        if held is not None:
            data = {**_details(held.partner, "EUR"), "account_holder": f"{held.partner.display_name} Ltd"}
            payee_save(partner_id=held.partner_id, data=data, actor=admin,
                       reason="Demo: the partner asked to be paid to their company's account")
    sepa = sum(payee.rail == Payee.Rail.SEPA for payee in payees)
    return (f"{len(payees)} payees ({sepa} SEPA in EUR, {len(payees) - sepa} ACH in USD); "
            f"@{held.partner.handle if held else '—'} held after a change; payee administrator "
            f"{PAYEE_ADMIN[0]}/{PAYEE_ADMIN[1]}")
