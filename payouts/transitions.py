"""Which action a payout run allows from which state: the one table that the run page's buttons read and that the
services' status guards are meant to read too (``run_action_refusal`` gives the same message as their refusal).

It says only what the run's state allows. Who may act (permissions, four eyes) and whether the run reconciles are
the services' checks, made under the run's row lock; the admin hides what they would refuse, they still refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass

from payouts.exceptions import RUN_STALE, WRONG_STATUS
from payouts.models import PayoutRun

S, K = PayoutRun.Status, PayoutRun.Kind

# The permissions of the run actions (the services' APPROVE_PERMISSION, PAY_PERMISSION and COMPUTE_PERMISSION hold
# the same names; tests/payouts/test_run_review_admin.py pins that they agree).
APPROVE_PERMISSION = "payouts.approve_payoutrun"
PAY_PERMISSION = "payouts.pay_payoutrun"
COMPUTE_PERMISSION = "payouts.compute_payoutrun"


@dataclass(frozen=True)
class RunTransition:
    sources: tuple[str, ...]  # statuses the action starts from
    permission: str
    done: str  # how the refusal names the result: "only computed runs can be {done}"
    kinds: tuple[str, ...] = (K.FINAL, K.ESTIMATE)
    stale_sources: tuple[str, ...] = ()  # statuses it starts from only when the run is stale (computing again)
    refuses_stale: bool = False  # never from a stale run (approving what no longer matches its inputs)

    def allows(self, run: PayoutRun) -> bool:
        if run.kind not in self.kinds:
            return False
        if run.status in self.stale_sources:
            return bool(run.stale_reason)
        if run.status not in self.sources:
            return False
        return not (self.refuses_stale and run.stale_reason)


# In the order the run page offers them.
RUN_ACTIONS: dict[str, RunTransition] = {
    "approve": RunTransition(sources=(S.COMPUTED,), permission=APPROVE_PERMISSION, done="approved",
                             kinds=(K.FINAL,), refuses_stale=True),
    "pay": RunTransition(sources=(S.APPROVED,), permission=PAY_PERMISSION, done="marked paid", kinds=(K.FINAL,)),
    "cancel": RunTransition(sources=(S.COMPUTING, S.COMPUTED, S.FAILED), permission=COMPUTE_PERMISSION,
                            done="cancelled"),
    "recompute": RunTransition(sources=(S.COMPUTING, S.FAILED), stale_sources=(S.COMPUTED,),
                               permission=COMPUTE_PERMISSION, done="computed again"),
}


def run_actions_allowed(run: PayoutRun) -> list[str]:
    """The actions the run's state allows, in the order of ``RUN_ACTIONS`` (whoever asks)."""
    return [action for action, transition in RUN_ACTIONS.items() if transition.allows(run)]


def run_action_refusal(run: PayoutRun, action: str) -> str:
    """Why the run's state refuses ``action`` ("" when it allows it), in the words of the services' refusals."""
    transition = RUN_ACTIONS[action]
    if transition.allows(run):
        return ""
    if run.status in transition.sources and transition.refuses_stale and run.stale_reason:
        return RUN_STALE.format(run=run, reason=run.stale_reason)
    if run.kind not in transition.kinds:
        return f"Run {run} is an estimate; only monthly runs are {transition.done}."
    allowed = [*transition.sources, *(f"{status} and stale" for status in transition.stale_sources)]
    return WRONG_STATUS.format(action=action if action != "pay" else "mark paid", run=run,
                               status=run.get_status_display().lower(), allowed=" or ".join(allowed),
                               done=transition.done)
