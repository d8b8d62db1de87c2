"""Bank details are validated strictly and normalised; every error names the field and the reason."""

import pytest

from payouts.payees import PayeeInvalid, payee_details_clean
from tests.payouts.payees.conftest import ACH, DE_IBAN, SEPA


def errors_of(data) -> dict[str, str]:
    with pytest.raises(PayeeInvalid) as caught:
        payee_details_clean(data)
    return caught.value.errors


def test_a_valid_iban_is_normalised_and_its_bic_and_last4_filled():
    details = payee_details_clean({**SEPA, "iban": " de89 3704-0044 0532 0130 00 ", "currency": "eur"})
    assert details.iban == "DE89370400440532013000"
    assert details.currency == "EUR"
    assert details.bic == "COBADEFFXXX"  # schwifty's bank registry, for the IBAN's bank code
    assert details.last4 == "3000"
    assert details.routing_number is None
    assert details.account_number is None


def test_an_iban_with_a_wrong_checksum_is_refused_with_the_digits_to_check():
    errors = errors_of({**SEPA, "iban": "DE88 3704 0044 0532 0130 00"})
    assert errors == {"iban": "IBAN DE88 3704 0044 0532 0130 00: checksum does not match — check the digits."}


def test_an_iban_of_the_wrong_length_for_its_country_is_refused():
    errors = errors_of({**SEPA, "iban": "DE89 3704 0044 0532 0130 0"})
    assert errors == {"iban": "IBAN DE89 3704 0044 0532 0130 0: 21 characters, but an IBAN from DE has 22."}


def test_an_iban_from_outside_the_sepa_zone_is_refused_for_sepa():
    errors = errors_of({**SEPA, "iban": "TR330006100519786457841326"})
    assert errors == {"iban": "IBAN TR33 0006 1005 1978 6457 8413 26: TR is not in the SEPA zone; use the Other "
                              "rail for this account."}


def test_an_unknown_iban_country_is_refused():
    assert "“XX” is not a country that issues IBANs" in errors_of({**SEPA, "iban": "XX89370400440532013000"})["iban"]


def test_a_bic_from_another_country_than_the_iban_is_refused():
    errors = errors_of({**SEPA, "bic": "BNPAFRPP"})
    assert errors == {"bic": "BIC BNPAFRPP: the bank is in FR but the IBAN is from DE; check both."}


def test_a_malformed_bic_is_refused():
    assert errors_of({**SEPA, "bic": "DEUTDEFF5"})["bic"].startswith("BIC DEUTDEFF5: a BIC is 8 or 11")


def test_sepa_needs_euros():
    assert errors_of({**SEPA, "currency": "USD"}) == {
        "currency": "Currency: SEPA credit transfer pays in EUR only, not USD."}


def test_a_valid_aba_routing_number_passes():
    details = payee_details_clean({**ACH, "routing_number": "0110 0001 5", "account_number": "12-3456-789"})
    assert details.routing_number == "011000015"
    assert details.account_number == "123456789"
    assert details.last4 == "6789"
    assert details.iban is None
    assert details.bic == ""


def test_a_routing_number_with_a_bad_check_digit_is_refused():
    assert errors_of({**ACH, "routing_number": "011000016"}) == {
        "routing_number": "Routing number 011000016: the ABA check digit does not match — check the digits."}


def test_a_routing_number_that_is_not_nine_digits_is_refused():
    assert errors_of({**ACH, "routing_number": "01100001"})["routing_number"].endswith("is 9 digits.")


@pytest.mark.parametrize("account", ["123", "123456789012345678", "12345A"])
def test_an_ach_account_number_is_4_to_17_digits(account):
    assert errors_of({**ACH, "account_number": account})["account_number"].startswith(
        "Account number: a US account number is 4 to 17 digits")


def test_ach_needs_dollars_and_no_iban():
    errors = errors_of({**ACH, "currency": "EUR", "iban": DE_IBAN})
    assert errors == {"currency": "Currency: ACH pays in USD only, not EUR.",
                      "iban": "IBAN: not used for ACH; leave it empty or choose the rail it belongs to."}


def test_the_other_rail_takes_any_currency_in_circulation_and_an_account_number():
    details = payee_details_clean({"rail": "other", "currency": "gbp", "account_holder": "Cleo Day",
                                   "account_number": "GB33 BUKB 2020 1555 5555 55", "bic": "BUKBGB22"})
    assert (details.currency, details.account_number, details.bic, details.last4) == (
        "GBP", "GB33BUKB20201555555555", "BUKBGB22", "5555")
    assert errors_of({"rail": "other", "currency": "XYZ", "account_holder": "C", "account_number": "1234"}) == {
        "currency": "Currency: “XYZ” is not a currency in circulation; use a three-letter code such as USD."}


def test_the_holder_is_required_bounded_and_plain_text():
    assert errors_of({**SEPA, "account_holder": "  "}) == {
        "account_holder": "Account holder: required for every rail."}
    assert errors_of({**SEPA, "account_holder": "A" * 141}) == {
        "account_holder": "Account holder: 141 characters is too long (at most 140)."}
    assert errors_of({**SEPA, "account_holder": "Anna\u202eSchmidt"}) == {
        "account_holder": "Account holder: holds an invisible or control character (RIGHT-TO-LEFT OVERRIDE); type "
                          "the name as plain text."}
    assert payee_details_clean({**SEPA, "account_holder": " Anna \u00a0 Schmidt "}).account_holder == "Anna Schmidt"


def test_an_unknown_rail_and_huge_input_are_refused_before_parsing():
    assert errors_of({**SEPA, "rail": "swift"}) == {"rail": "Rail: “swift” is not one of sepa, ach, other."}
    assert errors_of({**SEPA, "iban": "DE" * 10_000})["iban"] == "IBAN: 20000 characters is too long (at most 80)."
