"""Closed months and stale runs.

A month is *closed* for a program once its monthly run is approved or paid: its inputs (metrics, ad revenue) are
refused from then on, and corrections become adjustments for a later run. A run that is computed but not yet
approved whose inputs change (late metrics or revenue, a new adjustment, a change of terms, fund or tranches) is
*stale*: it cannot be approved until it is computed again.
"""

from __future__ import annotations

import datetime as dt

from payouts.models import PayoutRun


def payout_runs_mark_stale(*, reason: str, program_id: int | None = None, month: dt.date | None = None) -> int:
    """Mark the computed (or computing), not yet approved monthly runs of a program (or of every program) stale, for
    one month or for every month; returns how many were marked. The first reason is kept: it says what changed first."""
    # A run still computing is marked too: if its computation holds the run's row lock, this waits and marks the
    # finished run (it may have read the inputs before they changed); otherwise the computation that clears the mark
    # has not read its inputs yet.
    runs = PayoutRun.objects.final().filter(stale_reason="",
                                            status__in=[PayoutRun.Status.COMPUTED, PayoutRun.Status.COMPUTING])
    if program_id is not None:
        runs = runs.filter(program_id=program_id)
    if month is not None:
        runs = runs.filter(month=month.replace(day=1))
    return runs.update(stale_reason=reason[:300])
