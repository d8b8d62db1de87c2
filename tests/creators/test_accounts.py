"""Creator accounts: claim links (single use, expiry, permission), sign-in by e-mail under /creators/ with its own
rate limit, no open sign-up, and the admin's and brand pages' sign-ins as before."""

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from creators.exceptions import CreatorsError
from creators.models import ClaimInvitation, CreatorMembership
from creators.services.claims import claim_invitation_accept, claim_invitation_send, token_digest
from tests.partnerships.factories import PartnerFactory, UserFactory

GOOD_PASSWORD = "correct horse battery staple 42"


def send_link(partner, actor, email="new.creator@example.org", capture=None):
    with capture(execute=True):
        claim = claim_invitation_send(partner_id=partner.pk, email=email, actor=actor)
    sent = [message for message in mail.outbox if email in message.to][-1]
    token = re.search(r"/creators/claim/([^/\s]+)/", sent.body).group(1)
    return claim, token, sent


@pytest.mark.django_db
def test_a_manager_sends_a_link_and_only_its_hash_is_stored(manager, django_capture_on_commit_callbacks):
    partner = PartnerFactory(handle="maya")
    claim, token, sent = send_link(partner, manager, capture=django_capture_on_commit_callbacks)
    assert sent.subject == "[Creator Partnerships] Your account for @maya"
    assert f"http://127.0.0.1:8000/creators/claim/{token}/" in sent.body
    assert claim.token_digest == token_digest(token)
    assert token not in claim.token_digest
    assert claim.expires_at == pytest.approx(timezone.now() + dt.timedelta(days=7), abs=dt.timedelta(minutes=1))


@pytest.mark.django_db
def test_someone_without_the_permission_sends_nothing(outsider, django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CreatorsError, match="may not send"):
        claim_invitation_send(partner_id=partner.pk, email="x@example.org", actor=outsider)
    assert not ClaimInvitation.objects.exists()
    assert not mail.outbox


@pytest.mark.django_db
def test_claiming_creates_the_account_signs_in_and_the_link_works_once(client, manager,
                                                                       django_capture_on_commit_callbacks):
    partner = PartnerFactory(handle="maya")
    _, token, _ = send_link(partner, manager, capture=django_capture_on_commit_callbacks)
    page = client.get(f"/creators/claim/{token}/")
    assert page.status_code == 200
    assert "@maya" in page.content.decode()
    response = client.post(f"/creators/claim/{token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/creators/programs/"
    user = get_user_model().objects.get(email="new.creator@example.org")
    assert CreatorMembership.objects.get(user=user).partner == partner
    assert EmailAddress.objects.get(user=user).verified
    assert client.get("/creators/programs/").status_code == 200  # signed in
    client.logout()
    again = client.post(f"/creators/claim/{token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert get_user_model().objects.filter(email="new.creator@example.org").count() == 1


@pytest.mark.django_db
def test_an_expired_link_is_refused_and_creates_nothing(client, manager, django_capture_on_commit_callbacks):
    _, token, _ = send_link(PartnerFactory(), manager, capture=django_capture_on_commit_callbacks)
    ClaimInvitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.post(f"/creators/claim/{token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not get_user_model().objects.filter(email="new.creator@example.org").exists()


@pytest.mark.django_db
def test_an_unknown_or_absurd_token_is_refused(client):
    assert client.get("/creators/claim/nope/").status_code == 410
    assert client.get("/creators/claim/" + "a" * 5000 + "/").status_code == 410


@pytest.mark.django_db
def test_a_weak_password_is_refused_by_djangos_validators(client, manager, django_capture_on_commit_callbacks):
    _, token, _ = send_link(PartnerFactory(), manager, capture=django_capture_on_commit_callbacks)
    response = client.post(f"/creators/claim/{token}/", {"password1": "12345678", "password2": "12345678"})
    assert response.status_code == 400
    assert "too common" in response.content.decode()
    assert ClaimInvitation.objects.get().claimed_at is None


@pytest.mark.django_db
def test_the_service_refuses_a_second_use(manager, django_capture_on_commit_callbacks):
    _, token, _ = send_link(PartnerFactory(), manager, capture=django_capture_on_commit_callbacks)
    claim_invitation_accept(token=token, password=GOOD_PASSWORD)
    with pytest.raises(CreatorsError, match="already used"):
        claim_invitation_accept(token=token, password=GOOD_PASSWORD)


@pytest.mark.django_db
def test_creators_sign_in_by_email_and_land_on_their_pages(client, creator):
    creator.set_password(GOOD_PASSWORD)
    creator.save()
    response = client.post("/creators/account/login/", {"login": creator.email, "password": GOOD_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/creators/"


@pytest.mark.django_db
def test_failed_sign_ins_are_rate_limited_the_right_password_too(client, creator):
    creator.set_password(GOOD_PASSWORD)
    creator.save()
    for _ in range(3):
        assert client.post("/creators/account/login/", {"login": creator.email, "password": "wrong"}).status_code == 200
    response = client.post("/creators/account/login/", {"login": creator.email, "password": GOOD_PASSWORD})
    assert response.status_code != 302
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_there_is_no_open_sign_up(client):
    response = client.get("/creators/account/signup/")
    assert "Sign Up Closed" in response.content.decode() or response.status_code in (403, 404)
    client.post("/creators/account/signup/", {"email": "me@example.org", "password1": GOOD_PASSWORD})
    assert not get_user_model().objects.filter(email="me@example.org").exists()


@pytest.mark.django_db
def test_creator_pages_send_strangers_to_the_creator_sign_in(client):
    response = client.get("/creators/programs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/creators/account/login/")


@pytest.mark.django_db
def test_a_signed_in_brand_or_staff_user_is_no_creator(client, manager):
    client.force_login(manager)
    assert client.get("/creators/programs/").status_code == 404


@pytest.mark.django_db
def test_brand_and_admin_sign_ins_keep_working_and_axes_still_locks(client):
    UserFactory(username="acme", is_staff=False)
    assert client.post("/brands/login/", {"username": "acme", "password": "pw"}).status_code == 302
    client.logout()
    UserFactory(username="boss", is_superuser=True)
    assert client.post("/admin/login/", {"username": "boss", "password": "pw"}).status_code == 302
    client.logout()
    for _ in range(5):
        client.post("/brands/login/", {"username": "acme", "password": "wrong"})
    assert client.post("/brands/login/", {"username": "acme", "password": "pw"}).status_code == 429


@pytest.mark.django_db
def test_password_reset_mails_a_link_after_commit(client, creator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/creators/account/password/reset/", {"email": creator.email})
    assert response.status_code == 302
    sent = [message for message in mail.outbox if creator.email in message.to]
    assert len(sent) == 1
    assert "/creators/account/password/reset/key/" in sent[0].body


@pytest.mark.django_db
def test_a_manager_sends_a_link_from_the_admin(client, manager, django_capture_on_commit_callbacks):
    partner = PartnerFactory(handle="maya")
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/partnerships/partner/{partner.pk}/claim-link/", {"email": "m@example.org"})
    assert response.status_code == 302
    assert ClaimInvitation.objects.get().email == "m@example.org"
    assert mail.outbox[-1].to == ["m@example.org"]


@pytest.mark.django_db
def test_the_admin_link_page_needs_the_permission(client, outsider):
    client.force_login(outsider)
    partner = PartnerFactory()
    assert client.post(f"/admin/partnerships/partner/{partner.pk}/claim-link/",
                       {"email": "m@example.org"}).status_code == 403
    assert not ClaimInvitation.objects.exists()


@pytest.mark.django_db
def test_adding_a_partner_with_an_address_sends_the_link(client, superuser, django_capture_on_commit_callbacks):
    client.force_login(superuser)  # partners are added by whoever may add them (imports, mostly)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/partnerships/partner/add/", {
            "handle": "newbie", "display_name": "Newbie", "kind": "creator", "country": "US",
            "date_of_birth": "1990-01-01", "claim_email": "newbie@example.org",
            "statistics-TOTAL_FORMS": "0", "statistics-INITIAL_FORMS": "0"})
    assert response.status_code == 302, [ln for ln in response.content.decode().splitlines() if "error" in ln][:20]
    claim = ClaimInvitation.objects.get()
    assert claim.partner.handle == "newbie"
    assert claim.created_by == superuser
    assert mail.outbox[-1].to == ["newbie@example.org"]
