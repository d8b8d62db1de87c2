"""The payee admin: masked for a finance approver (list, page, export, partner page), plain on the page for a payee
administrator; changing details needs a second factor; a second person confirms a change and the hold lifts."""

import html

import pytest
from django.urls import reverse

from payouts.models import Payee
from payouts.services.payees import payee_save
from tests.payouts.payees.conftest import NL_IBAN, SEPA
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db

FULL = ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "Anna Schmidt"]


def text(response) -> str:
    return html.unescape(response.content.decode())


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def payee(partner, payee_admin) -> Payee:
    return payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin, reason="onboarding")


def form_data(partner, **changes) -> dict:
    return {"partner_handle": partner.handle, "rail": "sepa", "currency": "EUR", "account_holder": "Anna Schmidt",
            "iban": SEPA["iban"], "bic": "", "routing_number": "", "account_number": "", "reason": "e-mail", **changes}


def test_a_finance_approver_sees_masked_details_in_list_page_export_and_partner_page(client, approver, payee):
    client.force_login(approver)
    pages = {
        "list": text(client.get(reverse("admin:payouts_payee_changelist"))),
        "page": text(client.get(reverse("admin:payouts_payee_change", args=[payee.pk]))),
        "partner": text(client.get(reverse("admin:partnerships_partner_change", args=[payee.partner_id]))),
    }
    export = client.get(reverse("admin:payouts_payee_export"))
    assert export.status_code == 200
    pages["export"] = streamed(export)
    for name, page in pages.items():
        assert "··· 3000" in page if name == "page" else "···3000" in page, name
        for plaintext in FULL:
            assert plaintext not in page, f"{plaintext} shown on the {name}"
    assert "DE··· 3000" in pages["page"]
    assert "A··· S···" in pages["page"]
    assert "anna,sepa,EUR,···3000,COBADEFFXXX,payable" in pages["export"]
    assert "Change bank details" not in pages["page"]


def test_a_payee_administrator_reads_the_details_in_full_on_the_page_but_not_in_list_trail_or_export(
        client, payee_admin, payee):
    client.force_login(payee_admin)
    page = text(client.get(reverse("admin:payouts_payee_change", args=[payee.pk])))
    assert "DE89 3704 0044 0532 0130 00" in page
    assert "Anna Schmidt" in page
    trail = page.split("Audit trail")[1]
    assert "DE89370400440532013000" not in trail
    assert "Anna Schmidt" not in trail
    assert "DE··· 3000" in trail
    assert "onboarding" in trail
    assert "DE89" not in text(client.get(reverse("admin:payouts_payee_changelist")))
    assert "DE89" not in streamed(client.get(reverse("admin:payouts_payee_export")))


def test_changing_details_without_a_second_factor_is_refused_and_changes_nothing(client, payee_admin, payee):
    client.force_login(payee_admin)
    url = reverse("admin:payouts_payee_details") + f"?partner={payee.partner_id}"
    assert "needs a second factor" in text(client.get(url))
    response = client.post(url, form_data(payee.partner, iban=NL_IBAN))
    assert response.status_code == 403
    assert "Changing bank details needs a second factor" in text(response)
    payee.refresh_from_db()
    assert (payee.iban, payee.hold_until, payee.history.count()) == ("DE89370400440532013000", None, 1)


def test_a_change_in_the_admin_holds_and_a_second_person_confirms_it(client, payee_admin, approver, payee):
    verified_client(client, payee_admin)
    url = reverse("admin:payouts_payee_details") + f"?partner={payee.partner_id}"
    response = client.post(url, form_data(payee.partner, iban=NL_IBAN, reason="partner's signed letter"))
    assert response.status_code == 302, text(response)
    payee.refresh_from_db()
    assert (payee.iban, payee.changed_by) == (NL_IBAN, payee_admin)
    assert payee.hold_until is not None
    page = text(client.get(reverse("admin:payouts_payee_change", args=[payee.pk])))
    assert "held until" in page
    assert "Confirm change" not in page  # a payee administrator does not confirm

    client.logout()
    verified_client(client, approver)
    page = text(client.get(reverse("admin:payouts_payee_change", args=[payee.pk])))
    assert "Confirm change…" in page
    response = client.post(reverse("admin:payouts_payee_confirm", args=[payee.pk]), {"reason": "called back"})
    assert response.status_code == 302
    payee.refresh_from_db()
    assert (payee.confirmed_by, payee.hold_until) == (approver, None)
    trail = text(client.get(reverse("admin:payouts_payee_change", args=[payee.pk]))).split("Audit trail")[1]
    assert "called back (Change of bank details confirmed; hold lifted.)" in trail
    assert "partner's signed letter" in trail
    assert "NL··· 4300" in trail
    assert NL_IBAN not in trail


def test_confirming_without_a_second_factor_is_refused(client, payee_admin, approver, payee):
    payee_save(partner_id=payee.partner_id, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    client.force_login(approver)
    response = client.post(reverse("admin:payouts_payee_confirm", args=[payee.pk]), {"reason": ""})
    assert response.status_code == 403
    payee.refresh_from_db()
    assert payee.confirmed_at is None


def test_the_admin_form_shows_each_fields_error_and_saves_nothing(client, payee_admin, partner):
    verified_client(client, payee_admin)
    response = client.post(reverse("admin:payouts_payee_details"),
                           form_data(partner, iban="DE88 3704 0044 0532 0130 00", currency="USD"))
    page = text(response)
    assert response.status_code == 200
    assert "IBAN DE88 3704 0044 0532 0130 00: checksum does not match — check the digits." in page
    assert "Currency: SEPA credit transfer pays in EUR only, not USD." in page
    assert not Payee.objects.exists()


def test_first_details_added_in_the_admin_set_no_hold(client, payee_admin, partner):
    verified_client(client, payee_admin)
    assert client.get(reverse("admin:payouts_payee_add")).status_code == 302
    response = client.post(reverse("admin:payouts_payee_details"), form_data(partner, partner_handle="@Anna"))
    assert response.status_code == 302
    payee = Payee.objects.get(partner=partner)
    assert (payee.hold_until, payee.last4) == (None, "3000")


def test_a_finance_approver_cannot_open_the_change_form(client, approver, payee):
    verified_client(client, approver)
    url = reverse("admin:payouts_payee_details") + f"?partner={payee.partner_id}"
    assert client.get(url).status_code == 403
    assert client.post(url, form_data(payee.partner, iban=NL_IBAN)).status_code == 403


def test_the_list_shows_holds_finds_by_handle_and_confirms_selected_with_a_second_factor(
        client, payee_admin, approver, payee):
    from tests.partnerships.factories import PartnerFactory

    other = payee_save(partner_id=PartnerFactory(handle="zed").pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=payee.partner_id, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    client.force_login(approver)
    url = reverse("admin:payouts_payee_changelist")
    listing = text(client.get(url, {"q": "an"}))
    assert "held until" in listing
    assert "zed" not in listing
    assert text(client.get(url, {"payable": "held"})).count("held until") == 1
    selected = {"action": "confirm_selected", "_selected_action": [payee.pk, other.pk]}
    refused = text(client.post(url, selected, follow=True))  # no second factor
    assert "Confirming a change of bank details needs a second factor" in refused
    payee.refresh_from_db()
    assert payee.hold_until is not None
    verified_client(client, approver)
    page = text(client.post(url, selected, follow=True))
    assert "Confirmed and released from the hold: @anna." in page
    assert "@zed: The bank details of" in page
    assert "have no unconfirmed change." in page
    payee.refresh_from_db()
    assert payee.hold_until is None


def test_people_without_payee_permissions_see_no_payee_anywhere(client, payee):
    from tests.partnerships.factories import UserFactory

    manager = UserFactory(username="manager", groups=["Partnership managers"])
    client.force_login(manager)
    assert client.get(reverse("admin:payouts_payee_changelist")).status_code == 403
    assert client.get(reverse("admin:payouts_payee_change", args=[payee.pk])).status_code == 403
    assert client.get(reverse("admin:payouts_payee_export")).status_code == 403
    partner_page = text(client.get(reverse("admin:partnerships_partner_change", args=[payee.partner_id])))
    assert "Bank details" not in partner_page
    assert "···3000" not in partner_page
