"""Money actions need a second factor: approving runs, releasing payment batches, changing payee details and
importing bank statements are refused unless the person verified a TOTP code in this session (django-otp's
OTPMiddleware sets ``request.user.is_verified()``).

The check is made where a person acts (admin views, pages): a service called by a command or a task has no
session and no second factor to show.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

SECOND_FACTOR_REQUIRED = (
    "{action} needs a second factor: sign in with the code from your authenticator app "
    "(set one up on your two-factor page), then try again."
)


def second_factor_verified(user: Any) -> bool:
    """True when ``user`` (a request's user) verified a second factor in this session."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified is not None and is_verified())


class SecondFactorRequired(PermissionDenied):
    pass


def require_second_factor(user: Any, action: str) -> None:
    """Refuse ``action`` (e.g. "Approving a run") for a person with no verified second factor."""
    if not second_factor_verified(user):
        raise SecondFactorRequired(SECOND_FACTOR_REQUIRED.format(action=action))
