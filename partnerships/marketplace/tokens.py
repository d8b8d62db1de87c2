"""API tokens of brand integrations: the secret given once, the SHA-256 digest stored, the age they last.

The services create tokens with these, the API's authentication checks them, the admin shows their expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings

TOKEN_BYTES = 32


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "cp_" + secrets.token_urlsafe(TOKEN_BYTES)


def token_max_age() -> dt.timedelta:
    return dt.timedelta(days=settings.API_TOKEN_MAX_AGE_DAYS)
