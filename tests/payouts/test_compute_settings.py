"""The settings a payout month's statements run with on PostgreSQL: work_mem for sorts of a million partners, and no
JIT compilation (it cost seconds per month, more than it won back), for the computation's transaction only."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from core.sql import fetchone
from payouts.models import PayoutRun
from payouts.services import runs
from payouts.services.runs import payout_run_compute
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the settings must be gone once the computation commits
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings"),
]


def test_the_lines_are_written_without_jit_and_with_the_payout_work_mem(monkeypatch):
    # given: a pooled month with one member, and a look at the session's settings when the lines are written
    program = paying_program()
    member(program, views=1_000)
    seen = {}
    write_lines = runs.write_lines

    def looking(*args, **kwargs):
        seen["jit"], seen["work_mem"] = fetchone("SELECT current_setting('jit'), current_setting('work_mem')")
        return write_lines(*args, **kwargs)

    monkeypatch.setattr(runs, "write_lines", looking)
    jit_before = fetchone("SELECT current_setting('jit')")[0]

    # when
    run = payout_run_compute(program_id=program.pk, month=MONTH)

    # then: set for the computation only
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    assert seen == {"jit": "off", "work_mem": settings.PAYOUT_WORK_MEM}
    assert fetchone("SELECT current_setting('jit')")[0] == jit_before
