"""Which action an enrolment allows from which status: the one table that the enrolment services check, that the
admin's buttons and bulk actions read, and that the tests parametrize over.

It says only what the enrolment's status allows and who may ask. Eligibility (a failing rule needs an override, a
hard rule cannot be overridden) is the approval service's own check, made under the enrolment's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from partnerships.exceptions import ALREADY_DECIDED, CANNOT_TRANSITION
from partnerships.models import Enrolment

DECIDE_PERMISSION = "partnerships.decide_enrolment"
WITHDRAW_PERMISSION = "partnerships.change_enrolment"


@dataclass(frozen=True)
class Transition:
    action: str
    done: str  # how a refusal names the result: "only submitted ones can be {done}"
    sources: tuple[str, ...]  # statuses the action starts from
    target: str
    permission: str
    reason_required: bool
    in_bulk: bool = False  # offered as an admin action over selected applications

    def allows(self, enrolment: Enrolment) -> bool:
        return enrolment.status in self.sources


S = Enrolment.Status
# In the order the application's page offers them.
ENROLMENT_TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("approve", "approved", (S.SUBMITTED,), S.APPROVED, DECIDE_PERMISSION, False, in_bulk=True),
        Transition("reject", "rejected", (S.SUBMITTED,), S.REJECTED, DECIDE_PERMISSION, True, in_bulk=True),
        Transition("suspend", "suspended", (S.APPROVED,), S.SUSPENDED, DECIDE_PERMISSION, True),
        Transition("reinstate", "reinstated", (S.SUSPENDED,), S.APPROVED, DECIDE_PERMISSION, True),
        Transition("end", "ended", (S.APPROVED, S.SUSPENDED), S.ENDED, DECIDE_PERMISSION, True),
        Transition("withdraw", "withdrawn", (S.SUBMITTED, S.APPROVED, S.SUSPENDED), S.WITHDRAWN,
                   WITHDRAW_PERMISSION, False),
    )
}
BULK_ACTIONS = tuple(action for action, transition in ENROLMENT_TRANSITIONS.items() if transition.in_bulk)


def enrolment_actions_allowed(enrolment: Enrolment, user=None) -> list[str]:
    """The actions the enrolment's status allows, in the table's order; with ``user``, only those they may take."""
    return [
        action for action, transition in ENROLMENT_TRANSITIONS.items()
        if transition.allows(enrolment) and (user is None or user.has_perm(transition.permission))
    ]


def enrolment_action_refusal(enrolment: Enrolment, action: str) -> str:
    """Why the enrolment's status refuses ``action`` ("" when it allows it), in the words of the services' refusal:
    who decided it last, when there was a decision, then which statuses the action starts from."""
    transition = ENROLMENT_TRANSITIONS[action]
    if transition.allows(enrolment):
        return ""
    refusal = CANNOT_TRANSITION.format(action=action, status=enrolment.status,
                                       allowed=" or ".join(transition.sources), done=transition.done)
    if enrolment.decided_by is not None and enrolment.decided_at is not None:
        decided = ALREADY_DECIDED.format(status=enrolment.status, who=enrolment.decided_by, when=enrolment.decided_at)
        return f"{decided} {refusal}"
    return refusal
