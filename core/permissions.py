"""Who may do what, and why: the two checks every service makes before it acts.

Each app raises its own error class (its callers catch that), so the class is a parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from django.db.models import Model


class Actor(Protocol):
    """Who acts: a user with permissions (a user model with PermissionsMixin, or AnonymousUser)."""

    @property
    def is_active(self) -> bool: ...

    def has_perm(self, perm: str, obj: Model | None = None) -> bool: ...  # as PermissionsMixin declares it


NO_PERMISSION = "{user} may not {action}: it needs the permission “{permission}”."
REASON_REQUIRED = "A reason is required to {action}."


def require_permission(actor: Actor | None, permission: str, action: str, *,
                       error: type[Exception]) -> None:
    """Refuse (raise `error`) unless an active `actor` holds `permission`; `action` completes "may not …"."""
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise error(NO_PERMISSION.format(user=actor or "An anonymous user", action=action, permission=permission))


def require_reason(reason: str | None, action: str, *, error: type[Exception]) -> str:
    """The reason, stripped; refuse (raise `error`) when there is none. `action` completes "A reason is required
    to …"."""
    reason = (reason or "").strip()
    if not reason:
        raise error(REASON_REQUIRED.format(action=action))
    return reason
