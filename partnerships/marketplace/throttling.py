"""Rate limits per brand, the one rule the brand pages and the API both apply.

Every request a brand makes counts against that brand's budget (``BRAND_RATE``), whoever makes it: any member
signed in on the pages or the API, or any of the brand's tokens. Writes (POST, PUT, PATCH, DELETE) count in
addition against a smaller budget of their own (``BRAND_WRITE_RATE``), so reads still pass when writes are spent.
Which brands a request acts for is the marketplace's membership rule (``rules.user_brands``): the token's brand,
or every brand of the signed-in user (a member of two brands spends from both). A request acting for no brand
counts for its user, or for its client address when anonymous.

Counting goes through Django's cache with ``add`` and ``incr`` (atomic on Redis), in fixed windows of the rate's
period: with a shared cache (``CACHE_URL``) every process counts into the same budget; with the in-process cache
each process counts alone, which ``check --deploy`` reports (``partnerships.checks``). A refused request is taken
back out of the count, so hammering while refused does not push the end of the wait further. On Redis the whole
count (every budget, every brand, the taking back) is one small Lua script, run atomically in one round trip: it
runs on every API request and brand page, and the add, exists and incr of each budget were three."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.commands.core import Script

from partnerships.marketplace.rules import user_brands

logger = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ALL_REQUESTS, WRITES = "brand", "brand-write"


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/minute"`` as (600 requests, 60 seconds): DRF's notation, whose period is read by its first letter."""
    number, _, period = rate.partition("/")
    try:
        return int(number), PERIODS[period.strip()[:1]]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"Rate {rate!r} is not '<requests>/<second|minute|hour|day>'.") from exc


def budget_idents(user, token=None, *, anonymous: str = "") -> list[str]:
    """Whose budgets a request spends: its brands' (the token's, or the signed-in user's), else its user's, else
    the anonymous client's (``anonymous``, e.g. its address)."""
    brand_id = getattr(token, "brand_id", None) if token is not None else None
    if brand_id:
        return [f"brand-{brand_id}"]
    if user is not None and user.is_authenticated:
        brand_ids = user_brands(user).order_by("pk").values_list("pk", flat=True)
        return [f"brand-{pk}" for pk in brand_ids] or [f"user-{user.pk}"]
    return [f"anonymous-{anonymous}"]


def _spend(scope: str, rate: tuple[int, int], idents: Sequence[str], now: float) -> int:
    """Count one request against each ident's budget of this scope (``rate``: requests, seconds); 0 if all had
    room, else the seconds until the window ends (and nothing stays counted)."""
    limit, seconds = rate
    window = int(now // seconds)
    keys = [f"throttle:{scope}:{seconds}:{window}:{ident}" for ident in idents]
    counted: list[str] = []
    refused = False
    for key in keys:
        cache.add(key, 0, timeout=seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window
            cache.set(key, 1, timeout=seconds + 1)
            count = 1
        counted.append(key)
        if count > limit:
            refused = True
            break
    if not refused:
        return 0
    for key in counted:
        with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing left to take back
            cache.decr(key)
    return max(1, math.ceil((window + 1) * seconds - now))


# KEYS: every budget's key, scope by scope; ARGV: per scope its number of keys, limit and expiry (seconds). Each key
# is counted (and given its expiry when this request opens its window) until one is past its limit: that scope's
# counts are taken back and the script answers the scope's number (1-based), else 0. The scopes before it keep
# their counts, as the counting one scope after the other in Python does.
SPEND_SCRIPT = """
local first = 1
for scope = 0, #ARGV / 3 - 1 do
  local size, limit, expiry = tonumber(ARGV[scope * 3 + 1]), tonumber(ARGV[scope * 3 + 2]), ARGV[scope * 3 + 3]
  for index = first, first + size - 1 do
    local count = redis.call('INCR', KEYS[index])
    if count == 1 then redis.call('EXPIRE', KEYS[index], expiry) end
    if count > limit then
      for taken = first, index do redis.call('DECR', KEYS[taken]) end
      return scope + 1
    end
  end
  first = first + size
end
return 0
"""


_spend_script: Script | None = None  # made at the first count


def _spend_in_redis(backend: RedisCache, scopes: list[tuple[str, tuple[int, int]]], idents: Sequence[str],
                    now: float) -> int:
    """_spend of each scope in turn, in one round trip (SPEND_SCRIPT); the keys are the cache's own (its prefix and
    version), and the counts plain integers as the cache's incr leaves them."""
    keys, arguments = [], []
    for scope, (limit, seconds) in scopes:
        window = int(now // seconds)
        keys += [backend.make_and_validate_key(f"throttle:{scope}:{seconds}:{window}:{ident}") for ident in idents]
        arguments += [len(idents), limit, seconds + 1]
    # The backend's client for writes (django.core.cache.backends.redis.RedisCacheClient, its connection pool).
    client = backend._cache.get_client(keys[0], write=True)
    global _spend_script
    if _spend_script is None:
        _spend_script = client.register_script(SPEND_SCRIPT)  # run by EVALSHA, loaded into Redis when missing
    refused = int(_spend_script(keys=keys, args=arguments, client=client))
    if not refused:
        return 0
    seconds = scopes[refused - 1][1][1]
    return max(1, math.ceil((int(now // seconds) + 1) * seconds - now))




def spend(idents: Sequence[str], *, method: str, now: float | None = None) -> int:
    """Count one request by ``method`` against the budgets of ``idents``: 0 when it may go on, else the seconds to
    wait (Retry-After). A write spends the write budget first, so a refused write leaves the other untouched.

    When the cache cannot be reached the request goes on, logged: an outage of the counter must not take every
    brand page and API call down with it (the services' own limits still hold)."""
    now = time.time() if now is None else now
    rates = parse_rate(settings.BRAND_RATE), parse_rate(settings.BRAND_WRITE_RATE)  # checked at start (E001)
    scopes = [(ALL_REQUESTS, rates[0])]
    if method.upper() not in SAFE_METHODS:
        scopes.insert(0, (WRITES, rates[1]))
    try:
        backend = caches[DEFAULT_CACHE_ALIAS]
        if isinstance(backend, RedisCache):
            return _spend_in_redis(backend, scopes, idents, now)
        for scope, rate in scopes:
            wait = _spend(scope, rate, idents, now)
            if wait:
                return wait
        return 0
    except Exception:  # the cache backend's own errors (redis.RedisError, OSError): no common base to name
        logger.exception("Rate limits not counted: the cache is unreachable")
        return 0


def throttled_page(request: HttpRequest, wait: int) -> HttpResponse:
    response = render(request, "brands/throttled.html", {"retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def brand_throttle(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A brand page spends its brand's budgets (inside ``login_required``: the user is known); past them it answers
    429 with a page saying when to try again, and Retry-After."""

    @functools.wraps(view)
    def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        idents = budget_idents(request.user, anonymous=request.META.get("REMOTE_ADDR", ""))
        wait = spend(idents, method=request.method or "GET")
        if wait:
            return throttled_page(request, wait)
        return view(request, *args, **kwargs)

    return throttled
