"""When the broker is down: a person's "compute" opens the run and says so; the sweeper queues it later."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from config.celery import app
from payouts.exceptions import QueueUnavailable
from payouts.models import EarningLine, PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_request, payout_runs_requeue_stalled
from payouts.tasks import compute_month_task, requeue_stalled_runs_task
from tests.payouts.factories import MONTH, member, paying_program

# Real commits: the task is queued once the run is committed, as in a request (no test transaction around it).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def program(finance):
    ensure_group_permissions()
    program = paying_program()
    member(program, handle="a", views=1_000_000)
    return program


@pytest.fixture
def broker_down(monkeypatch):
    monkeypatch.setattr(compute_month_task, "delay", refuse)


def test_compute_with_the_broker_down_opens_the_run_and_says_it_stays_computing(program, finance, broker_down):
    with pytest.raises(QueueUnavailable, match="stays computing, but the task queue is unavailable"):
        payout_run_request(program_id=program.pk, month=MONTH, actor=finance)
    run = PayoutRun.objects.get()
    assert (run.status, run.started_by) == (PayoutRun.Status.COMPUTING, finance)
    assert not EarningLine.objects.exists()


def test_the_admin_compute_form_shows_the_outage_instead_of_failing(client, program, finance, broker_down):
    client.force_login(finance)
    response = client.post(reverse("admin:payouts_payoutrun_compute"), {"program": program.pk, "month": "2026-08"})
    assert response.status_code == 200
    assert "the task queue is unavailable" in response.content.decode()
    assert PayoutRun.objects.get().status == PayoutRun.Status.COMPUTING


@pytest.fixture
def eager():
    """Tasks run at once, in this process, even where a broker is configured (PostgreSQL runs)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def refuse(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_the_sweeper_queues_runs_left_computing_and_they_complete(program, finance, eager, monkeypatch):
    with monkeypatch.context() as outage:
        outage.setattr(compute_month_task, "delay", refuse)
        with pytest.raises(QueueUnavailable):
            payout_run_request(program_id=program.pk, month=MONTH, actor=finance)
    run = PayoutRun.objects.get()  # the broker is back (eager here: the task runs at once)

    assert payout_runs_requeue_stalled() == []  # too recent: maybe still on its way to a worker
    PayoutRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(minutes=11))
    assert requeue_stalled_runs_task() == [run.pk]

    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPUTED
    assert EarningLine.objects.count() == 1
    assert payout_runs_requeue_stalled(older_than=dt.timedelta(0)) == []  # nothing left computing


def test_the_sweeper_task_name_is_stable():
    assert requeue_stalled_runs_task.name == "payouts.requeue_stalled_runs"
