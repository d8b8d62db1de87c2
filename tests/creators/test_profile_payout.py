"""The profile shows the partner's own payout details masked and the tax form's status, read-only."""

import datetime as dt

import pytest

from payouts.models import TaxProfile
from payouts.services.payees import payee_block, payee_save
from tests.creators.test_pages import partner_of
from tests.payouts.payees.conftest import DE_IBAN, NL_IBAN, SEPA, person

pytestmark = pytest.mark.django_db


def test_payout_details_masked_and_tax_status(creator_client, creator):
    keeper = person("keeper", "Payee administrators")
    partner = partner_of(creator)
    payee_save(partner_id=partner.pk, data=SEPA, actor=keeper)
    TaxProfile.objects.create(partner=partner, form_type="W-8BEN", status="received", residence_country="DE",
                              expires_on=dt.date(2029, 12, 31))
    page = creator_client.get("/creators/profile/").content.decode()
    assert "SEPA transfer · EUR · ···3000" in page
    assert DE_IBAN.replace(" ", "") not in page
    assert "5320" not in page
    assert "W-8BEN · Received, not yet validated" in page
    assert "changes go through your partnership manager" in page
    payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=keeper)
    page = creator_client.get("/creators/profile/").content.decode()
    assert "Payments are held after a change of details until" in page
    payee_block(partner_id=partner.pk, reason="AC04")
    page = creator_client.get("/creators/profile/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Payments are stopped" not in page
    assert "Recibido, aún no validado" in page
    assert "Los pagos están detenidos" in page


def test_no_details_yet(creator_client):
    page = creator_client.get("/creators/profile/").content.decode()
    assert "No payout details yet." in page
    assert "No tax form yet." in page
