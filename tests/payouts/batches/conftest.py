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
    settings.MEDIA_ROOT = str(tmp_path / "media")
