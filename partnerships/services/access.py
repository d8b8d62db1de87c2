"""The permission and reason checks of the partnerships services, raising the app's own errors."""

from __future__ import annotations

from collections.abc import Callable

from core import permissions
from core.permissions import Actor
from partnerships.exceptions import NotPermitted, ReasonRequired


def require_permission(actor: Actor | None, permission: str, action: str) -> None:
    permissions.require_permission(actor, permission, action, error=NotPermitted)


def require_reason(reason: str, action: str) -> str:
    return permissions.require_reason(reason, action, error=ReasonRequired)


# Who acts for a partner themselves (the creator portal registers its memberships in its AppConfig.ready; this app
# never imports it): such a user may take the partner's own actions (withdraw, answer an invitation) on that
# partner's rows only, without a staff permission.
PartnerActorRule = Callable[[Actor, int], bool]
_partner_actor_rules: list[PartnerActorRule] = []


def register_partner_actor_rule(rule: PartnerActorRule) -> None:
    if rule not in _partner_actor_rules:
        _partner_actor_rules.append(rule)


def acts_for_partner(actor: Actor | None, partner_id: int) -> bool:
    return actor is not None and actor.is_active and any(rule(actor, partner_id) for rule in _partner_actor_rules)
