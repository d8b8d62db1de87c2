"""Token authentication for brand integrations: ``Authorization: Token <secret>``.

Only the SHA-256 digest of a token is stored, so a leaked database does not leak usable tokens; a revoked
token is refused. The token carries its brand: requests made with it act for that brand only. It also carries the
membership and role it was issued for: it stops working when its user leaves the brand (re-adding them makes a new
membership, which never revives it) or when their role changes, and API_TOKEN_MAX_AGE_DAYS after it was created."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from partnerships.marketplace.tokens import token_digest, token_max_age
from partnerships.models import ApiToken, Brand, BrandMembership

LAST_USED_EVERY = dt.timedelta(minutes=1)
User = get_user_model()


# The token, its user, brand and membership in one hand-written statement: it runs on every API request, and the ORM's
# building of the same join cost more CPU than the database spent on it. It reports whether the token is past its
# age, whether the membership it was issued for still exists with the same role given no later than the token
# (so removing someone from a brand, re-adding them or changing their role disables their tokens at once), and
# whether last_used_at is older than a minute (written at most once a minute).
TOKEN_SQL = f"""
    SELECT t.id, t.name, t.prefix, t.user_id, t.brand_id, t.role, b.is_active,
           u.username, u.is_active, u.is_staff, u.is_superuser,
           CASE WHEN t.last_used_at IS NULL OR t.last_used_at < %s THEN 1 ELSE 0 END,
           CASE WHEN t.created_at < %s THEN 1 ELSE 0 END,
           CASE WHEN m.id IS NULL THEN 0 WHEN m.role = t.role AND m.role_since <= t.created_at THEN 1 ELSE 2 END
    FROM {ApiToken._meta.db_table} t
    JOIN {Brand._meta.db_table} b ON b.id = t.brand_id
    JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = t.user_id
    LEFT JOIN {BrandMembership._meta.db_table} m
           ON m.id = t.membership_id AND m.brand_id = t.brand_id AND m.user_id = t.user_id
    WHERE t.digest = %s AND t.revoked_at IS NULL
"""
EXPIRED = "This token expired (tokens last {days} days): a brand admin can create a new one."
NOT_A_MEMBER = "This token's user is no longer the member of its brand it was issued for."
ROLE_CHANGED = "This token's user changed role in its brand since it was issued: a new token is needed."


def loaded(model, db: str, values: dict):
    """An instance with only these fields loaded; any other field is read from the database when first used."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(db, names, [values[name] for name in names])


class BrandTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(TOKEN_SQL, [connection.ops.adapt_datetimefield_value(now - LAST_USED_EVERY),
                                       connection.ops.adapt_datetimefield_value(now - token_max_age()),
                                       token_digest(key)])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        (token_id, name, prefix, user_id, brand_id, role, brand_active, username, *flags,
         stale, expired, membership) = row
        user_active, is_staff, is_superuser = (bool(flag) for flag in flags)
        if expired:
            raise exceptions.AuthenticationFailed(EXPIRED.format(days=settings.API_TOKEN_MAX_AGE_DAYS))
        if membership == 0:
            raise exceptions.AuthenticationFailed(NOT_A_MEMBER)
        if membership == 2:
            raise exceptions.AuthenticationFailed(ROLE_CHANGED)
        if not user_active or not brand_active:
            raise exceptions.AuthenticationFailed("The token's user or brand is inactive.")
        user = loaded(User, connection.alias, {User._meta.pk.attname: user_id, "username": username,
                                               "is_active": user_active, "is_staff": is_staff,
                                               "is_superuser": is_superuser})
        token = loaded(ApiToken, connection.alias, {"id": token_id, "name": name, "prefix": prefix,
                                                     "user_id": user_id, "brand_id": brand_id, "role": role,
                                                     "revoked_at": None})
        token.user = user
        if stale:
            ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
        return user, token
