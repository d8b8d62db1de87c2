"""The demo gives its paying partners valid bank details (EUR by SEPA, USD by ACH) and one held change."""

from django.utils import timezone

from partnerships.demo import seed_demo
from payouts.demo_payees import seed_demo_payees
from payouts.models import Payee
from payouts.payees import payee_details_clean, payee_payable_refusal
from payouts.roles import ensure_group_permissions


def test_demo_partners_get_valid_payees_and_one_is_held(db):
    ensure_group_permissions()
    seed_demo(partners=80)
    summary = seed_demo_payees()
    payees = list(Payee.objects.select_related("partner"))
    assert payees
    assert {payee.rail for payee in payees} == {"sepa", "ach"}
    for payee in payees:
        assert (payee.rail, payee.currency) in {("sepa", "EUR"), ("ach", "USD")}
        payee_details_clean({name: getattr(payee, name) for name in (
            "rail", "currency", "account_holder", "iban", "bic", "routing_number", "account_number")})
    held = [payee for payee in payees if payee_payable_refusal(payee, timezone.now())]
    assert len(held) == 1
    assert f"@{held[0].partner.handle} held after a change" in summary
    assert seed_demo_payees().startswith("0 payees")  # a second run adds nothing
