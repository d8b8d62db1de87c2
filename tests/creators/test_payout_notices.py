"""Security notices when a partner's payout details change: a change of account and a block after a returned payment
mail every user of the partner once (whatever the preferences); the first details and a confirmation mail nobody."""

import pytest

from creators.models import Notification, NotificationPreference
from payouts.services.payees import payee_block, payee_confirm, payee_save
from tests.creators.conftest import make_creator
from tests.payouts.payees.conftest import NL_IBAN, SEPA, person

pytestmark = pytest.mark.django_db


@pytest.fixture
def keepers(db):
    return person("keeper", "Payee administrators"), person("approver", "Finance approvers")


def test_a_change_of_bank_details_sends_a_security_notice_once(smtp, creator, keepers,
                                                                django_capture_on_commit_callbacks):
    keeper, approver = keepers
    partner_id = creator.creator_membership.partner_id
    NotificationPreference.objects.create(user=creator, statements=False, application_decided=False)
    with django_capture_on_commit_callbacks(execute=True):
        payee_save(partner_id=partner_id, data=SEPA, actor=keeper)
    assert smtp.to(creator.email) == []  # the first details: nothing changed
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        payee_save(partner_id=partner_id, data={**SEPA, "iban": NL_IBAN}, actor=keeper)
    [message] = smtp.to(creator.email)
    assert message["Subject"] == "[Creator Partnerships] Security notice about your account"
    assert "The bank details your payments go to were changed" in smtp.text(message)
    assert "http://127.0.0.1:8000/creators/profile/" in smtp.text(message)
    for callback in callbacks:  # the task delivered twice: still one e-mail
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        payee_save(partner_id=partner_id, data={**SEPA, "iban": NL_IBAN, "bic": "ABNANL2A"}, actor=keeper)
        payee_confirm(partner_id=partner_id, actor=approver)
    assert len(smtp.to(creator.email)) == 1  # same account re-saved, a confirmation: no notice
    assert Notification.objects.filter(user=creator, kind=Notification.Kind.SECURITY).count() == 1


def test_a_block_after_a_return_tells_every_user_of_the_partner(smtp, creator, keepers,
                                                                django_capture_on_commit_callbacks):
    keeper, _ = keepers
    partner = creator.creator_membership.partner
    colleague = make_creator(partner=partner, email="colleague@example.org")
    outsider = make_creator()
    payee_save(partner_id=partner.pk, data=SEPA, actor=keeper)
    with django_capture_on_commit_callbacks(execute=True):
        payee_block(partner_id=partner.pk, reason="AC04 account closed")
    for user in (creator, colleague):
        [message] = smtp.to(user.email)
        assert "came back" in smtp.text(message)
    assert smtp.to(outsider.email) == []
