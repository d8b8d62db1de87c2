"""Two at once on the real database: one claim link used twice at the same instant makes one account; one event's
notification task running twice at the same instant sends one e-mail."""

import pytest
from django.contrib.auth import get_user_model

from creators.models import ClaimInvitation, Notification
from creators.services.claims import claim_invitation_accept, token_digest
from creators.services.notifications import notification_send
from tests.creators.conftest import make_creator
from tests.partnerships.factories import PartnerFactory
from tests.partnerships.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("repeat", range(3))
def test_a_link_used_twice_at_once_makes_one_account(repeat):
    partner = PartnerFactory()
    token = f"token-{repeat}-abcdefghijklmnopqrstuvwxyz"
    ClaimInvitation.objects.create(partner=partner, email=f"twice{repeat}@example.org",
                                   token_digest=token_digest(token),
                                   expires_at="2100-01-01T00:00:00Z")
    outcomes = run_together(lambda: claim_invitation_accept(token=token, password="a long good password 1"),
                            lambda: claim_invitation_accept(token=token, password="a long good password 2"))
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert "already used" in next(detail for kind, detail in outcomes if kind == "refused")
    assert get_user_model().objects.filter(email=f"twice{repeat}@example.org").count() == 1


@pytest.mark.parametrize("repeat", range(3))
def test_one_event_sent_by_two_workers_at_once_is_one_email(smtp, repeat):
    user = make_creator()

    def send():
        return notification_send(event_key=f"test:{repeat}", kind=Notification.Kind.SECURITY, email=user.email,
                                 user=user, template="security", context={"what": "Test notice", "link": "x"})

    outcomes = run_together(send, send)
    assert [kind for kind, _ in outcomes] == ["ok", "ok"]
    assert len(smtp.to(user.email)) == 1
    assert Notification.objects.get(event_key=f"test:{repeat}").sent_at is not None
