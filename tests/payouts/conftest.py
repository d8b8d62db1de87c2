"""Fixtures shared by the payouts tests: two finance approvers, eager Celery, August's run computed by the
scheduler, then approved, a CSRF-checking browser for the admin modules (``csrf_client``: pytest-django's
``client`` stays the default of the folder's other modules) and the setting of the modules that load files."""

import pytest
from django.test import Client

from config.celery import app as celery_app
from payouts.models import PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program

R = PayoutRun.Status


@pytest.fixture
def approver(db):
    user = UserFactory(username="approver", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture
def second_approver(db):
    user = UserFactory(username="approver2", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


@pytest.fixture
def eager(monkeypatch):
    """Run Celery tasks in process even when CELERY_BROKER_URL is set (the PostgreSQL CI run)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def csrf_client():
    """A browser: it posts a form with the CSRF token of the page that carried it."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def media_eager_and_permissions(db, settings, tmp_path, eager):
    """Uploaded files under a temporary media root, tasks run in process, the groups' permissions in place."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    ensure_group_permissions()


@pytest.fixture
def computed_run(db) -> PayoutRun:
    """August of a pooled fund of 10,000.00 USD computed by the scheduler: ana has 3 of 4 views, ben 1."""
    program = paying_program()
    member(program, handle="ana", views=3)
    member(program, handle="ben", views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.status == R.COMPUTED, run.error
    return run


@pytest.fixture
def approved_run(computed_run, second_approver) -> PayoutRun:
    return payout_run_approve(run_id=computed_run.pk, actor=second_approver)
