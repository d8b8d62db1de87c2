"""Two people acting on the same record at the same moment, on the real database's row locks."""

import threading

import pytest
from django.db import connection

from partnerships.exceptions import PartnershipsError
from partnerships.models import Enrolment
from partnerships.services.enrolments import enrolment_approve, enrolment_reject, enrolment_submit
from tests.partnerships.factories import EnrolmentFactory, PartnerFactory, ProgramFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    """Run each call in its own thread (own connection), released at the same instant by a barrier."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def runner(index, call):
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except PartnershipsError as exc:
            outcomes[index] = ("refused", str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("repeat", range(3))
def test_concurrent_approve_and_reject_leave_one_decision(manager, second_manager, repeat):
    enrolment = EnrolmentFactory()

    outcomes = run_together(
        lambda: enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="yes"),
        lambda: enrolment_reject(enrolment_id=enrolment.pk, actor=second_manager, reason="no"),
    )

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["ok", "refused"]
    loser_message = next(detail for kind, detail in outcomes if kind == "refused")
    assert "This application was already" in loser_message
    enrolment.refresh_from_db()
    assert enrolment.status in (Enrolment.Status.APPROVED, Enrolment.Status.REJECTED)
    decisions = enrolment.history.exclude(status=Enrolment.Status.SUBMITTED)
    assert decisions.count() == 1
    assert decisions.get().status == enrolment.status


def test_concurrent_submissions_create_one_application(manager):
    partner, program = PartnerFactory(), ProgramFactory()

    outcomes = run_together(*[
        (lambda: enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=manager))
        for _ in range(3)
    ])

    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused", "refused"]
    assert Enrolment.objects.filter(partner=partner, program=program).count() == 1


def test_the_database_itself_refuses_a_second_live_enrolment(db):
    from django.db import IntegrityError, transaction

    live = EnrolmentFactory(status=Enrolment.Status.APPROVED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrolment.objects.create(partner=live.partner, program=live.program, status=Enrolment.Status.SUBMITTED,
                                 submitted_at=live.submitted_at)
    # Ended enrolments do not count: history may hold many.
    EnrolmentFactory(partner=live.partner, program=live.program, status=Enrolment.Status.ENDED)
    EnrolmentFactory(partner=live.partner, program=live.program, status=Enrolment.Status.ENDED)
    assert Enrolment.objects.filter(partner=live.partner).count() == 3
