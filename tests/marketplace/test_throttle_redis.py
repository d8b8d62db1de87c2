"""The brand throttle on a real Redis (the cache production uses): one round trip per request, the same answers as
the counting of the other cache backends, and the creator search's round trips (the Redis of CELERY_BROKER_URL,
with a key prefix of the test's own; skipped without one)."""

import os
import uuid

import pytest
import redis
from django.core.cache import caches

from partnerships.marketplace import throttling

URL = "/api/v1/creators/"
REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")
pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not REDIS_URL.startswith("redis://"), reason="CELERY_BROKER_URL is not a Redis")]


@pytest.fixture
def prefix(settings) -> str:
    """The default cache on Redis, its keys under a prefix no other test or run shares."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": prefix}}
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def commands_sent(prefix: str, action) -> list[str]:
    """The commands clients sent to Redis (not those a script ran inside it) about keys under ``prefix`` while
    ``action`` ran, as Redis' MONITOR saw them."""
    marker = f"{prefix}:end-{uuid.uuid4().hex}"
    with redis.Redis.from_url(REDIS_URL).monitor() as monitor:
        action()
        redis.Redis.from_url(REDIS_URL).echo(marker)
        sent = []
        while marker not in (command := monitor.next_command())["command"]:
            if command["client_type"] != "lua" and prefix in command["command"]:
                sent.append(command["command"].split()[0].upper())
    return sent


def test_a_request_is_counted_in_one_round_trip(prefix):
    throttling.spend(["brand-1"], method="GET")  # the script is loaded into Redis at its first use
    assert commands_sent(prefix, lambda: throttling.spend(["brand-1"], method="GET")) == ["EVALSHA"]
    assert commands_sent(prefix, lambda: throttling.spend(["brand-1", "brand-2"], method="POST")) == ["EVALSHA"]


@pytest.mark.parametrize("cache_seconds", [0, 30])
def test_a_token_search_makes_one_round_trip_and_one_more_for_the_cached_page(
        settings, prefix, token_client_a, creators, cache_seconds):
    settings.SEARCH_CACHE_SECONDS = cache_seconds
    assert token_client_a.get(URL).status_code == 200  # loads the script, stores the page
    sent = commands_sent(prefix, lambda: token_client_a.get(URL))
    assert sent == (["EVALSHA"] if cache_seconds == 0 else ["EVALSHA", "MGET"])


def test_redis_counts_as_the_other_backends_do(settings, prefix):
    """The same requests against the same budgets, on Redis (the script) and in local memory (add and incr): the
    same waits, and the same counts left, refused requests taken back."""
    settings.BRAND_RATE, settings.BRAND_WRITE_RATE = "4/minute", "2/minute"
    start = 6_000_000.0  # the start of a minute's window
    requests = [(["brand-1"], "POST"), (["brand-1", "brand-2"], "GET"), (["brand-1"], "POST"),
                (["brand-1"], "POST"), (["brand-2", "brand-1"], "GET"), (["brand-1"], "GET"), (["brand-2"], "GET"),
                (["brand-1"], "DELETE"), (["brand-2"], "PATCH"), (["brand-2"], "GET"), (["brand-2"], "GET"),
                (["brand-2"], "POST")]

    def run() -> tuple[list[int], dict]:
        waits = [throttling.spend(idents, method=method, now=start + index * 3.25)
                 for index, (idents, method) in enumerate(requests)]
        counts = {f"{scope}:{brand}": caches["default"].get(f"throttle:{scope}:60:100000:brand-{brand}")
                  for scope in ("brand", "brand-write") for brand in (1, 2)}
        return waits, counts

    on_redis = run()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"{prefix}-local"}}
    in_memory = run()
    assert on_redis == in_memory
    # Refused: brand 1's third write (its write budget), its fifth request, its third write again, brand 2's fifth
    # and sixth requests, and its write that passed its write budget but not its brand budget (the write stays
    # counted, as when the budgets are counted one after the other).
    assert on_redis[0] == [0, 0, 0, 51, 0, 44, 0, 38, 0, 31, 28, 25]
    assert on_redis[1] == {"brand:1": 4, "brand:2": 4, "brand-write:1": 2, "brand-write:2": 2}
