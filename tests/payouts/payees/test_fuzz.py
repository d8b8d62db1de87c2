"""The payee forms with hostile strings (tests/security's fuzzing): never a 500, and nothing written on refusal —
for a payee administrator who verified a second factor, so the posts reach the validation and the service."""

import pytest
from django.urls import reverse

from payouts.services.payees import payee_save
from tests.payouts.payees.conftest import SEPA
from tests.second_factor import verified_client
from tests.security.test_fuzz_forms import FAILURES, _field_names, _initial, _typed_names, alone, fuzz

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def every_failure_reported():
    FAILURES.clear()
    yield
    assert not FAILURES, "\n".join(dict.fromkeys(FAILURES))


def test_the_payee_forms_never_fail_and_write_nothing_on_refusal(client, partner, payee_admin, approver):
    payee = payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    verified_client(client, payee_admin)
    for url in (reverse("admin:payouts_payee_details"),
                reverse("admin:payouts_payee_details") + f"?partner={partner.pk}"):
        form = client.get(url).context["form"]
        fuzz(client, url, _field_names(form), base=_initial(form))
        alone(client, url, _typed_names(form), {**_initial(form), "partner_handle": partner.handle,
                                                 "account_holder": "Anna Schmidt", "currency": "EUR",
                                                 "iban": SEPA["iban"], "reason": "fuzz"})
    client.logout()
    verified_client(client, approver)
    url = reverse("admin:payouts_payee_confirm", args=[payee.pk])
    form = client.get(url).context["form"]
    fuzz(client, url, _field_names(form))
    for query in ({"q": "\x00"}, {"payable": "x" * 5000}, {"rail__exact": "'"}):
        assert client.get(reverse("admin:payouts_payee_changelist"), query).status_code < 500
        assert client.get(reverse("admin:payouts_payee_export"), query).status_code < 500


def test_odd_ids_in_payee_urls_are_not_found_not_errors(client, payee_admin, partner):
    client.force_login(payee_admin)
    for odd in ("²", "٣", "9" * 30, "-1", "abc"):
        assert client.get(reverse("admin:payouts_payee_details"), {"partner": odd}).status_code in (200, 404)
        assert client.get(f"/admin/payouts/payee/{odd}/change/").status_code in (302, 404)
    assert client.get(reverse("admin:payouts_payee_change", args=[10**17])).status_code == 404
