"""Behind a trusted proxy the client's address is the one the proxy saw (config/forwarded.py): lockouts and
throttles count each client, and nobody else can choose the address their failures count for."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from config.forwarded import forwarded_client
from tests.partnerships.factories import UserFactory

PROXY = frozenset({"127.0.0.1"})


@pytest.mark.parametrize(("meta", "trusted", "client"), [
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, PROXY, "203.0.113.9"),
    # the last address is the one the trusted proxy added; earlier ones are the client's claims
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.0.0.1, 203.0.113.9"}, PROXY, "203.0.113.9"),
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "2001:db8::7"}, PROXY, "2001:db8::7"),
    ({"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, frozenset({"*"}), "203.0.113.9"),
    # not from a trusted proxy, no proxy trusted, no header, or a header that is not an address: not believed
    ({"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, PROXY, None),
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, frozenset(), None),
    ({"REMOTE_ADDR": "127.0.0.1"}, PROXY, None),
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "evil\x00host"}, PROXY, None),
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1" * 10_000}, PROXY, None),
])
def test_the_forwarded_address_is_believed_only_from_a_trusted_proxy(meta, trusted, client):
    assert forwarded_client(meta, trusted) == client


@pytest.mark.django_db
def test_behind_the_proxy_each_client_is_locked_out_on_its_own(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    UserFactory(username="victim", is_staff=True)
    url = reverse("brands:login")

    def sign_in(address: str, password: str):
        return client.post(url, {"username": "victim", "password": password}, REMOTE_ADDR="127.0.0.1",
                           HTTP_X_FORWARDED_FOR=address)

    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        sign_in("203.0.113.66", "wrong")
    assert sign_in("203.0.113.66", "pw").status_code == 429  # the attacker's address is locked
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}

    assert sign_in("198.51.100.7", "pw").status_code == 302  # the owner, from elsewhere behind the same proxy


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_client_cannot_pick_its_address(client, settings):
    settings.TRUSTED_PROXIES = []
    UserFactory(username="victim", is_staff=True)
    for number in range(settings.AXES_FAILURE_LIMIT + 1):  # a new claimed address each time: still one lockout
        client.post(reverse("brands:login"), {"username": "victim", "password": "wrong"},
                    HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}
