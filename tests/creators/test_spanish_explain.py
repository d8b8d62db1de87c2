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
    assert spanish[0].startswith("Parte del fondo: 250 de 1.000 visualizaciones válidas")


def test_spanish_explanation_uses_spanish_number_formats(creator):
    """Counts, amounts and percents inside a Spanish explanation use Spanish separators; the English one keeps the
    house format (the admin reads it)."""
    line = approved_line(partner_of(creator))
    with translation.override("es"):
        steps = explain(line, line.run, "pooled_fund")
    assert steps[0] == ("Parte del fondo: 250 de 1.000 visualizaciones válidas (25,0000\u00a0%) de un presupuesto de "
                        "1.000,00 USD.")
    assert "Saldo: 250,00 USD." in steps


@pytest.mark.parametrize(("language", "amount_minor", "currency", "text"), [
    ("en", 1_234_567, "USD", "12,345.67 USD"), ("es", 1_234_567, "USD", "12.345,67 USD"),
    ("es", 1_234_567, "BHD", "1.234,567 BHD"), ("es", 1_234_567, "JPY", "1.234.567 JPY"),
    ("es", 1_234_567, "HUF", "12.345,67 HUF"),  # ISO 4217's two decimals, as stored, not CLDR's none
])
def test_money_for_the_reader(language, amount_minor, currency, text):
    from core.money import format_money_for_reader

    with translation.override(language):
        assert format_money_for_reader(amount_minor, currency) == text


@pytest.mark.parametrize(("part", "whole", "english", "spanish"), [
    (1, 3, "33.3333%", "33,3333\u00a0%"), (2, 3, "66.6667%", "66,6667\u00a0%"), (0, 0, "0%", "0,0000\u00a0%"),
    (1, 1, "100.0000%", "100,0000\u00a0%"),
])
def test_share_for_the_reader_is_exact(part, whole, english, spanish):
    from core.money import format_share_for_reader

    with translation.override("en"):
        assert format_share_for_reader(part, whole) == english
    with translation.override("es"):
        assert format_share_for_reader(part, whole) == spanish


def test_a_hold_the_formulas_wrote_reads_in_spanish(creator):
    line = approved_line(partner_of(creator))
    line.status, line.hold_reason = "held", "identity not verified; tax form expired"
    with translation.override("es"):
        steps = explain(line, line.run, "pooled_fund")
    assert "Retenido: identidad no verificada; formulario fiscal caducado." in " ".join(steps)
    line.hold_reason = "waiting for the contract"  # typed by a person: shown as typed
    with translation.override("es"):
        assert "Retenido: waiting for the contract." in " ".join(explain(line, line.run, "pooled_fund"))
    with translation.override("en"):
        line.hold_reason = "identity not verified; tax form expired"
        assert "Held: identity not verified; tax form expired." in " ".join(explain(line, line.run, "pooled_fund"))
