import pytest

from payouts.roles import ensure_group_permissions
from tests.partnerships.factories import UserFactory


@pytest.fixture
def maker(db):
    user = UserFactory(username="batch-maker", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture
def checker(db):
    user = UserFactory(username="batch-checker", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture
def run_approver(db):
    user = UserFactory(username="run-approver", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Bank files under a scratch media root, and the originator the bank files need (the contract's settings)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PAYMENT_ORIGINATOR_NAME = "Creator Partnerships Test"
    settings.PAYMENT_ORIGINATOR_IBAN, settings.PAYMENT_ORIGINATOR_BIC = "DE89370400440532013000", "COBADEFFXXX"
    settings.PAYMENT_ORIGINATOR_ACH_ROUTING, settings.PAYMENT_ORIGINATOR_ACH_ACCOUNT = "021000021", "000123456789"
    settings.PAYMENT_ORIGINATOR_ACH_COMPANY_ID = "1234567890"
