"""System checks for what the payouts app needs from the deployment."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

PAYEE_DATA_KEY_MISSING = checks.Error(
    "PAYEE_DATA_KEY is not set: payees' bank details cannot be encrypted or read (every payee page and payment "
    "batch would fail).",
    hint="Set PAYEE_DATA_KEY to a long random secret, kept apart from the database and its backups, e.g. "
         "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'. To rotate it, list the new key first: "
         "PAYEE_DATA_KEY=new,old.",
    id="payouts.E001",
)


@checks.register(checks.Tags.security, deploy=True)
def payee_data_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """With DEBUG off (production), the key that encrypts bank details must be set (no default there)."""
    if settings.DEBUG:
        return []
    keys = settings.SALT_KEY if isinstance(settings.SALT_KEY, list) else [settings.SALT_KEY]
    if not [key for key in keys if key]:
        return [PAYEE_DATA_KEY_MISSING]
    return []


@checks.register()
def payee_hold_days_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A negative hold would release a changed account at once: the setting must be 0 or more days."""
    days = settings.PAYEE_CHANGE_HOLD_DAYS
    if not isinstance(days, int) or days < 0:
        return [checks.Error(f"PAYEE_CHANGE_HOLD_DAYS is {days!r}; it must be a whole number of days, 0 or more.",
                             hint="7 is the default: a changed bank account waits a week unless a second person "
                                  "confirms the change.", id="payouts.E002")]
    return []
