"""On PostgreSQL: people saving or confirming one partner's bank details at once give one result."""

import threading

import pytest
from django.db import connection

from payouts.models import Payee
from payouts.payees import PayeeRefused
from payouts.services.payees import payee_confirm, payee_save
from tests.payouts.payees.conftest import NL_IBAN, SEPA

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(calls):
    barrier, results, errors = threading.Barrier(len(calls)), [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_two_people_adding_the_first_details_at_once_make_one_payee_with_no_hold(
        partner, payee_admin, other_payee_admin):
    results, errors = at_once([
        lambda: payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin),
        lambda: payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=other_payee_admin),
    ])
    assert errors == []
    assert len({payee.pk for payee in results}) == 1
    payee = Payee.objects.get()
    # The second one changed the first one's details: a change of account, so it holds.
    assert payee.history.count() == 2
    assert payee.hold_until is not None
    assert payee.changed_by in (payee_admin, other_payee_admin)


def test_two_confirmations_at_once_confirm_once(partner, payee_admin, approver):
    from tests.payouts.payees.conftest import person

    second = person("approver2", "Finance approvers")
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    results, errors = at_once([lambda: payee_confirm(partner_id=partner.pk, actor=approver),
                               lambda: payee_confirm(partner_id=partner.pk, actor=second)])
    assert len(results) == 1
    assert [type(error) for error in errors] == [PayeeRefused]
    assert "already confirmed" in str(errors[0])
    payee = Payee.objects.get()
    assert payee.hold_until is None
    assert payee.history.count() == 3
