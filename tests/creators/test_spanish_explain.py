"""The earnings explanation (payouts.explain, shared with the admin) reads in Spanish on a Spanish earnings page and
stays word for word English elsewhere."""

import pytest
from django.utils import translation

from payouts.explain import explain
from tests.creators.test_pages import approved_line, partner_of

pytestmark = pytest.mark.django_db


def test_spanish_earnings_page_explains_in_spanish(creator_client, creator):
    approved_line(partner_of(creator))
    page = creator_client.get("/creators/earnings/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Saldo: " in page
    assert "Pagadero." in page
    assert "Balance: " not in page
    assert "Payable." not in page


def test_english_explanation_is_unchanged(creator):
    line = approved_line(partner_of(creator))
    with translation.override("en"):
        steps = explain(line, line.run, "pooled_fund")
    assert steps[0] == "Share of the pool: 250 of 1,000 qualified views (25.0000%) of a 1,000.00 USD budget."
    assert steps[-2:] == ["Balance: 250.00 USD.", "Payable."]
    with translation.override("es"):
        spanish = explain(line, line.run, "pooled_fund")
    assert spanish[0].startswith("Parte del fondo: 250 de 1,000 visualizaciones válidas")
