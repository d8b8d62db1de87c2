"""People around bank details: two payee administrators (who keep them) and two finance approvers (who see them
masked and confirm changes), and the details a partner starts with."""

import pytest

from payouts.roles import ensure_group_permissions
from tests.partnerships.factories import PartnerFactory, UserFactory

# Valid test accounts: Commerzbank's documented example IBAN, and ABA routing numbers whose check digit holds.
DE_IBAN = "DE89 3704 0044 0532 0130 00"
NL_IBAN = "NL91ABNA0417164300"
ROUTING = "011000015"
OTHER_ROUTING = "021000021"

SEPA = {"rail": "sepa", "currency": "EUR", "account_holder": "Anna Schmidt", "iban": DE_IBAN}
ACH = {"rail": "ach", "currency": "USD", "account_holder": "Ben Carter", "routing_number": ROUTING,
       "account_number": "123456789"}


def person(username: str, group: str):
    ensure_group_permissions()  # the groups, also where a test flushed them
    return UserFactory(username=username, groups=[group])


@pytest.fixture
def payee_admin(db):
    return person("keeper", "Payee administrators")


@pytest.fixture
def other_payee_admin(db):
    return person("keeper2", "Payee administrators")


@pytest.fixture
def approver(db):
    return person("approver", "Finance approvers")


@pytest.fixture
def partner(db):
    return PartnerFactory(handle="anna", country="DE")
