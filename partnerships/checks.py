"""System checks for what the marketplace needs from the deployment."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from partnerships.marketplace.throttling import parse_rate

# Caches whose counts are not shared by the web processes (or, for the dummy one, not kept at all): the per-brand
# throttle (partnerships.marketplace.throttling) would let each process grant the whole budget.
PROCESS_LOCAL_CACHES = frozenset({
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
})
CACHE_NOT_SHARED = checks.Warning(
    "The default cache is not shared between processes, so each web process counts the per-brand rate limits "
    "(BRAND_RATE, BRAND_WRITE_RATE) alone and a brand gets its budget once per process.",
    hint="Set CACHE_URL to a Redis database every web process reaches, e.g. redis://redis.internal:6379/1.",
    id="partnerships.W001",
)


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """With DEBUG off (production), the default cache must be one all processes share."""
    if settings.DEBUG:
        return []
    if settings.CACHES.get("default", {}).get("BACKEND") in PROCESS_LOCAL_CACHES:
        return [CACHE_NOT_SHARED]
    return []


@checks.register()
def rate_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The per-brand rates must parse: a typo would otherwise surface only when the first brand request comes."""
    errors: list[checks.CheckMessage] = []
    for name in ("BRAND_RATE", "BRAND_WRITE_RATE"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", hint="Write it as e.g. 600/minute.",
                                       id="partnerships.E001"))
    return errors
