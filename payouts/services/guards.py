"""The guards every run service starts with: the actor's permission and what the run's state allows."""

from __future__ import annotations

from core import permissions
from payouts.exceptions import NotPermitted, RunRefused
from payouts.models import PayoutRun
from payouts.transitions import run_action_refusal


def require_permission(actor: permissions.Actor | None, permission: str, action: str) -> None:
    permissions.require_permission(actor, permission, action, error=NotPermitted)


def refuse_transition(run: PayoutRun, action: str) -> None:
    """The run's state must allow the action (payouts.transitions, the table the admin's buttons read too)."""
    refusal = run_action_refusal(run, action)
    if refusal:
        raise RunRefused(refusal)
