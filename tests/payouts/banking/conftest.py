from datetime import date

import pytest

from payouts.banking import Originator, PaymentInstruction

EXECUTION_DATE = date(2026, 12, 4)


@pytest.fixture
def originator():
    return Originator(name="Creator Partnerships GmbH", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
                      ach_routing_number="021000021", ach_account_number="000123456789",
                      ach_company_id="1234567890", ach_immediate_destination="021000021",
                      ach_immediate_origin="1234567890")


def sepa_payment(number: int, **changes) -> PaymentInstruction:
    values = {"end_to_end_id": f"B7-P{number:06d}", "amount_minor": 10_000 + number, "currency": "EUR",
              "name": "Jörg Müller-Lüdenscheidt", "iban": "NL91ABNA0417164300", "bic": "ABNANL2A",
              "remittance": "Creator Partnerships November 2026"}
    return PaymentInstruction(**{**values, **changes})


def ach_payment(number: int, **changes) -> PaymentInstruction:
    values = {"end_to_end_id": f"B8-P{number:06d}", "amount_minor": 5_000 + number, "currency": "USD",
              "name": "Ana María Núñez", "routing_number": ("011000015", "021000021", "122105278")[number % 3],
              "account_number": f"{9876543210 + number}", "remittance": "Creator Partnerships November 2026"}
    return PaymentInstruction(**{**values, **changes})
