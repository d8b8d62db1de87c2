"""Money actions need a second factor: approving runs, releasing payment batches, changing payee details and
importing bank statements are refused unless the person verified a TOTP code in this session (django-otp's
OTPMiddleware sets ``request.user.is_verified()``).

The check is made where a person acts (admin views, pages): a service called by a command or a task has no
session and no second factor to show.

How a money action's admin view uses it (payouts.admin.runs.PayoutRunAdmin.act_view does this for approving and
marking paid): check BEFORE calling the service, and answer a refusal with core.two_factor.refusal, which turns
it into an admin error message with a link to verify a code (or to set up an app first) that comes back to
``return_to``, and a redirect there; nothing is done::

    from core.two_factor.refusal import refuse_without_second_factor, second_factor_refused

    if request.method == "POST":
        refused = refuse_without_second_factor(request, "Releasing a batch", return_to=request.get_full_path())
        if refused is not None:
            return refused
        batch_release(batch_id=..., actor=request.user)

    # or, where require_second_factor is already called (e.g. inside a form's handling):
    try:
        require_second_factor(request.user, "Importing a statement")
    except SecondFactorRequired as exc:
        return second_factor_refused(request, exc, return_to=request.get_full_path())

``warn_second_factor_needed(request, action, return_to=...)`` on the GET of a confirmation page says beforehand
that a code will be needed. Where people get a verified session: /admin/two-factor/ (enrol, replace, remove) and
/admin/two-factor/verify/?next=... (step-up), or the admin login's "Authenticator code" field. In tests:
tests.second_factor.verified_client(client, user), and current_code(device) for a real code.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

SECOND_FACTOR_REQUIRED = (
    "{action} needs a second factor: verify a code from your authenticator app in this session (at sign-in "
    "or on the verify page; set the app up on your two-factor page first), then try again."
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
