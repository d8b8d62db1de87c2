"""Login throttling: 30 wrong passwords lock the username + address, after which the right one fails too, on the
admin's login and the brand pages'; deleting the lockout in the admin lets the user in again."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from tests.partnerships.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGINS = {"admin": "admin:login", "brands": "brands:login"}


@pytest.fixture
def victim(db):
    return UserFactory(username="victim", is_staff=True)


def sign_in(client, login, password):
    return client.post(reverse(LOGINS[login]), {"username": "victim", "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("login", LOGINS)
def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in(client, victim, login):
    for _ in range(30):
        sign_in(client, login, "wrong")
    assert not signed_in(client)

    response = sign_in(client, login, "pw")

    assert response.status_code == 429
    assert not signed_in(client)
    body = response.content.decode()
    assert "it is locked" in body
    assert "Try again at" in body
    attempt = AccessAttempt.objects.get(username="victim")
    assert attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT


@pytest.mark.parametrize("login", LOGINS)
def test_a_few_wrong_passwords_do_not_lock(client, victim, login):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, login, "wrong")
    sign_in(client, login, "pw")
    assert signed_in(client)
    assert not AccessAttempt.objects.filter(username="victim").exists()  # reset on success


def test_the_lock_is_per_username_and_address(client, victim):
    for _ in range(30):
        sign_in(client, "brands", "wrong")
    response = client.post(reverse("brands:login"), {"username": "victim", "password": "pw"},
                           REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 302
    # A forged X-Forwarded-For does not change whose failures count.
    client.logout()
    response = client.post(reverse("brands:login"), {"username": "victim", "password": "pw"},
                           HTTP_X_FORWARDED_FOR="10.0.0.9")
    assert response.status_code == 429


def test_lockouts_are_listed_and_cleared_in_the_admin(client, victim, superuser):
    for _ in range(30):
        sign_in(client, "brands", "wrong")
    attempt = AccessAttempt.objects.get(username="victim")

    staff = client.__class__()
    staff.force_login(superuser)
    listing = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "victim" in listing.content.decode()
    response = staff.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()

    response = sign_in(client, "brands", "pw")
    assert response.status_code == 302
    assert signed_in(client)
