"""Token authentication for brand integrations: ``Authorization: Token <secret>``.

Only the SHA-256 digest of a token is stored, so a leaked database does not leak usable tokens; a revoked
token is refused. The token carries its brand: requests made with it act for that brand only."""

from __future__ import annotations

import hashlib
import secrets

from django.db.models import F
from django.utils import timezone
from rest_framework import authentication, exceptions

from partnerships.models import ApiToken

TOKEN_BYTES = 32


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "cp_" + secrets.token_urlsafe(TOKEN_BYTES)


class BrandTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):
        # The same query checks the token's user is still a member of its brand: removing someone from a
        # brand disables their tokens at once.
        token = (ApiToken.objects.select_related("user", "brand")
                 .filter(digest=token_digest(key), brand__memberships__user=F("user")).first())
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if not token.user.is_active or not token.brand.is_active:
            raise exceptions.AuthenticationFailed("The token's user or brand is inactive.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most one write a minute
        return token.user, token
