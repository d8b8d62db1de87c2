"""The permission and reason checks of the partnerships services, raising the app's own errors."""

from __future__ import annotations

from core import permissions
from core.permissions import Actor
from partnerships.exceptions import NotPermitted, ReasonRequired


def require_permission(actor: Actor | None, permission: str, action: str) -> None:
    permissions.require_permission(actor, permission, action, error=NotPermitted)


def require_reason(reason: str, action: str) -> str:
    return permissions.require_reason(reason, action, error=ReasonRequired)
