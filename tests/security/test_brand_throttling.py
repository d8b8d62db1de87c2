"""Rate limits per brand: every member on the pages and every token on the API spend one budget, writes also spend a
smaller one of their own, and processes sharing a cache share the budget (partnerships.marketplace.throttling).

Rates are per day in these tests, so a window never ends in the middle of one."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import checks
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from partnerships.checks import CACHE_NOT_SHARED, shared_cache_check
from partnerships.marketplace import throttling
from partnerships.models import ApiToken, BrandMembership, Campaign
from tests.marketplace.factories import BrandFactory
from tests.partnerships.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/campaigns/"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                           "LOCATION": "redis://127.0.0.1:6379/14"}}


@pytest.fixture
def rates(settings):
    settings.BRAND_RATE = "5/day"
    settings.BRAND_WRITE_RATE = "2/day"


@pytest.fixture
def carol(brand_a):
    """A second member of brand A (not its admin)."""
    user = UserFactory(username="carol", is_staff=False)
    BrandMembership.objects.create(brand=brand_a, user=user, role=BrandMembership.Role.MEMBER)
    return user


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_members_and_tokens_of_a_brand_share_one_budget_across_pages_and_api(rates, user_a, carol, token_client_a,
                                                                              user_b):
    alice_page, carol_page, carol_api = page_client(user_a), page_client(carol), api_client(carol)
    # Given five requests of brand A, by two members and a token, on the pages and the API
    assert alice_page.get(reverse("brands:campaigns")).status_code == 200
    assert carol_api.get(API).status_code == 200
    assert token_client_a.get(API).status_code == 200
    assert carol_page.get(reverse("brands:campaigns")).status_code == 200
    assert api_client(user_a).get(API).status_code == 200
    # Then the sixth is refused whoever makes it, wherever
    for response in (alice_page.get(reverse("brands:campaigns")), carol_page.get(reverse("brands:campaigns")),
                     carol_api.get(API), token_client_a.get(API)):
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 86_400
    # And brand B's member still has its whole budget, on the pages and the API
    assert page_client(user_b).get(reverse("brands:campaigns")).status_code == 200
    assert api_client(user_b).get(API).status_code == 200


def test_the_api_answers_drf_json_429_with_retry_after(rates, token_client_a):
    for _ in range(5):
        assert token_client_a.get(API).status_code == 200
    response = token_client_a.get(API)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("Request was throttled.")
    assert int(response["Retry-After"]) >= 1


def test_pages_answer_a_readable_429_with_retry_after(rates, user_a):
    client = page_client(user_a)
    for _ in range(5):
        assert client.get(reverse("brands:creators")).status_code == 200
    response = client.get(reverse("brands:creators"))
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 86_400
    html = response.content.decode()
    assert "<h1>Too many requests</h1>" in html
    assert f"try again in {seconds} second" in html


def test_writes_have_their_own_smaller_budget_and_reads_go_on_when_it_is_spent(rates, user_a, carol, campaign_a,
                                                                               token_client_a):
    alice_page, carol_page = page_client(user_a), page_client(carol)
    # Given the two writes brand A may make (a page form and an API call; neither changes the campaign)
    assert alice_page.post(reverse("brands:shortlist_add", args=[campaign_a.pk])).status_code == 302
    assert token_client_a.post("/api/v1/invitations/999999/withdraw/").status_code == 404
    # When another member and the token write again
    refused_page = carol_page.post(reverse("brands:campaign_close", args=[campaign_a.pk]))
    refused_api = token_client_a.post(f"{API}{campaign_a.pk}/archive/")
    # Then both are refused and nothing was written
    assert (refused_page.status_code, refused_api.status_code) == (429, 429)
    assert "Retry-After" in refused_page
    assert "Retry-After" in refused_api
    campaign_a.refresh_from_db()
    assert campaign_a.status == Campaign.Status.OPEN
    # And reads still pass: the refused writes took nothing from the brand's budget (5: 2 writes + these 3)
    assert carol_page.get(reverse("brands:campaigns")).status_code == 200
    assert token_client_a.get(API).status_code == 200
    assert alice_page.get(reverse("brands:campaign", args=[campaign_a.pk])).status_code == 200
    assert token_client_a.get(API).status_code == 429


def test_whose_budget_a_request_spends(user_a, brand_a, brand_b, outsider):
    both = UserFactory(username="dora", is_staff=False)
    for brand in (brand_b, brand_a):
        BrandMembership.objects.create(brand=brand, user=both, role=BrandMembership.Role.MEMBER)
    inactive = BrandFactory(slug="gone", name="Gone", is_active=False)
    BrandMembership.objects.create(brand=inactive, user=outsider, role=BrandMembership.Role.MEMBER)

    assert throttling.budget_idents(user_a) == [f"brand-{brand_a.pk}"]
    # A member of two brands spends from both; with a token, from the token's brand only
    assert throttling.budget_idents(both) == sorted([f"brand-{brand_a.pk}", f"brand-{brand_b.pk}"],
                                                    key=lambda ident: int(ident.split("-")[1]))
    assert throttling.budget_idents(both, ApiToken(brand_id=brand_b.pk)) == [f"brand-{brand_b.pk}"]
    # Acting for no brand (an inactive brand is none): the user's own budget, else the client's address
    assert throttling.budget_idents(outsider) == [f"user-{outsider.pk}"]
    assert throttling.budget_idents(AnonymousUser(), anonymous="203.0.113.9") == ["anonymous-203.0.113.9"]


def test_a_refused_request_is_not_counted(settings):
    settings.BRAND_RATE = "2/day"
    idents = ["brand-424242"]
    now = time.time()
    assert [throttling.spend(idents, method="GET", now=now) for _ in range(2)] == [0, 0]
    waits = [throttling.spend(idents, method="GET", now=now) for _ in range(3)]
    assert all(wait >= 1 for wait in waits)
    key = f"throttle:brand:86400:{int(now // 86400)}:brand-424242"
    assert cache.get(key) == 2
    # The next window starts afresh
    assert throttling.spend(idents, method="GET", now=(int(now // 86400) + 1) * 86400) == 0


def test_parse_rate_refuses_nonsense():
    assert throttling.parse_rate("600/minute") == (600, 60)
    assert throttling.parse_rate("10/d") == (10, 86_400)
    with pytest.raises(ValueError, match="not '<requests>/"):
        throttling.parse_rate("lots/fortnight")


def test_a_rate_setting_that_does_not_parse_is_a_system_check_error_naming_it(settings):
    from partnerships.checks import rate_settings_check

    settings.BRAND_WRITE_RATE = "lots/fortnight"
    errors = rate_settings_check()
    assert [(error.id, error.msg.split(":")[0]) for error in errors] == [("partnerships.E001", "BRAND_WRITE_RATE")]
    settings.BRAND_WRITE_RATE = "120/minute"
    assert rate_settings_check() == []


# --- check --deploy: production must count in a shared cache ---------------------------------------


@override_settings(DEBUG=False, CACHES=LOCMEM)
def test_the_deploy_check_warns_about_a_process_local_cache_in_production():
    assert shared_cache_check() == [CACHE_NOT_SHARED]
    found = checks.run_checks(tags=[checks.Tags.caches], include_deployment_checks=True)
    assert CACHE_NOT_SHARED in found
    # Only with --deploy: development's `check` stays quiet
    assert CACHE_NOT_SHARED not in checks.run_checks(tags=[checks.Tags.caches])


@override_settings(DEBUG=False, CACHES=REDIS_CACHE)
def test_the_deploy_check_is_silent_with_the_redis_cache():
    assert shared_cache_check() == []
    assert CACHE_NOT_SHARED not in checks.run_checks(tags=[checks.Tags.caches], include_deployment_checks=True)


@override_settings(DEBUG=True, CACHES=LOCMEM)
def test_the_deploy_check_is_silent_in_development():
    assert shared_cache_check() == []


# --- across processes: two processes and this one count into one budget in Redis ---------------------

def _redis_url() -> str:
    """TEST_REDIS_URL (to pick a database locally, e.g. redis://127.0.0.1:6379/12), else CACHE_URL when it is Redis,
    else CI's spare database 14."""
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("CACHE_URL", "")
    return url if url.startswith("redis://") else "redis://127.0.0.1:6379/14"


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# A process of its own: Django on the test settings with the shared cache, spending the given budget `attempts` times
# through the throttling rule, and printing how many it was allowed.
SPENDER = """
import sys
import django
django.setup()
from django.conf import settings
settings.CACHES["default"]["KEY_PREFIX"] = sys.argv[1]  # before the first use of the cache: this test's keys only
from partnerships.marketplace import throttling
ident, attempts = sys.argv[2], int(sys.argv[3])
print(sum(1 for _ in range(attempts) if throttling.spend([ident], method="GET") == 0))
"""


def test_separate_processes_share_the_brand_budget_through_redis(settings, user_a, token_client_a):
    url = _redis_url()
    if not _redis_reachable(url):
        if _in_ci():
            pytest.fail(f"Redis must be reachable at {url} in CI")
        pytest.skip(f"needs Redis at {url} (set TEST_REDIS_URL=redis://host:6379/N to choose one; CI has it)")
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    settings.BRAND_RATE = "40/day"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                                   "KEY_PREFIX": prefix}}
    (ident,) = throttling.budget_idents(user_a)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "CACHE_URL": url,
           "BRAND_RATE": "40/day", "PYTHONPATH": str(ROOT)}
    try:
        # Two processes at once, 30 attempts each, against a budget of 40
        children = [subprocess.Popen([sys.executable, "-c", SPENDER, prefix, ident, "30"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [child.communicate(timeout=120) for child in children]
        for child, (_out, err) in zip(children, results, strict=True):
            assert child.returncode == 0, err
        allowed = [int(out.strip()) for out, _err in results]
        # Then together they were allowed exactly the budget: no count lost between processes
        assert sum(allowed) == 40, allowed
        assert all(count > 0 for count in allowed), allowed
        # And this process, serving brand A's page and API, finds the budget spent
        assert page_client(user_a).get(reverse("brands:campaigns")).status_code == 429
        assert token_client_a.get(API).status_code == 429
    finally:  # this test's keys only: the database may hold others'
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def test_an_unreachable_cache_lets_requests_through_and_logs_it(settings, rates, user_a, caplog):
    # Nothing listens on port 1: every cache operation fails as it would during a Redis outage
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.2}}}
    client = page_client(user_a)
    statuses = [client.get(reverse("brands:campaigns")).status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert "Rate limits not counted: the cache is unreachable" in caplog.text
