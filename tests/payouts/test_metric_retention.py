"""Retiring old months of daily metrics (issue 18, partnerships.services.partitions with payouts.metric_retention):
a month no computation can read again is detached into the archive schema with every row, and every run's lines,
statements and ledger amounts stay what they were; a month an open run or an unclosed pooled month still reads is
kept, with the reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from core.sql import fetchone
from partnerships.models import DailyMetric, MonthlyMetricRollup
from partnerships.services import partitions
from partnerships.services.rollups import metric_rollups_mismatches
from payouts.models import EarningLine, LedgerEntry, PayoutRun
from payouts.selectors import partner_statement, run_statement_rows, statement_row
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_mark_paid
from tests.partnerships.factories import DailyMetricFactory
from tests.payouts.factories import MONTH, TrancheFactory, member, paying_program

pytestmark = pytest.mark.postgres
TODAY = dt.date(2026, 12, 4)  # August (MONTH) is four months back
LINE_FIELDS = ("run_id", "partner_id", "status", "basis_value", "gross_minor", "adjustments_minor",
               "carried_in_minor", "withholding_minor", "net_minor", "hold_reason")


def money_and_statements() -> dict:
    """Everything a retirement must leave as it was: runs, lines, statements (per partner and per run), the ledger."""
    runs = list(PayoutRun.objects.order_by("pk").values_list(
        "pk", "status", "total_gross_minor", "total_net_minor", "total_payable_minor", "line_count", "spend_minor"))
    lines = list(EarningLine.objects.order_by("pk").values_list(*LINE_FIELDS))
    statements = {}
    for line in EarningLine.objects.select_related("run", "partner"):
        statements[(line.partner_id, line.run_id)] = [statement_row(run, row, steps) for run, row, steps in
                                                      partner_statement(line.partner, line.run.month)]
    per_run = {run.pk: list(run_statement_rows(run)) for run in PayoutRun.objects.all()}
    ledger = list(LedgerEntry.objects.values("account_id").annotate(total=Sum("amount_minor")).order_by("account_id"))
    return {"runs": runs, "lines": lines, "statements": statements, "per_run": per_run, "ledger": ledger}


def test_retiring_a_paid_month_keeps_every_run_statement_and_ledger_amount(approved_run, approver):
    payout_run_mark_paid(run_id=approved_run.pk, actor=approver, reference="BANK-1")
    DailyMetricFactory(partner=EarningLine.objects.first().partner, day=dt.date(2026, 7, 31), views=9,
                       qualified_views=9)  # July: a month before, retired with August
    august_rows = sorted(DailyMetric.objects.filter(day__gte=MONTH, day__lt=dt.date(2026, 9, 1)).values_list(
        "id", "partner_id", "day", "views", "qualified_views"))
    assert MonthlyMetricRollup.objects.filter(month=MONTH).exists()
    before = money_and_statements()

    outcome = partitions.metric_partitions_retire(keep_months=3, today=TODAY)  # keeps September to December

    assert [(month, archive) for month, archive, _ in outcome.retired] == [
        (dt.date(2026, 7, 1), "metric_archive.partnerships_dailymetric_y2026m07"),
        (dt.date(2026, 8, 1), "metric_archive.partnerships_dailymetric_y2026m08")]
    assert outcome.refused == []
    assert money_and_statements() == before
    assert not DailyMetric.objects.filter(day__lt=dt.date(2026, 9, 1)).exists()
    archived = fetchone("SELECT array_agg(ARRAY[id, partner_id, views, qualified_views] ORDER BY id) "
                        "FROM metric_archive.partnerships_dailymetric_y2026m08")[0]
    assert archived == [[row_id, partner, views, qualified] for row_id, partner, _, views, qualified in august_rows]
    assert not MonthlyMetricRollup.objects.filter(month__lt=dt.date(2026, 9, 1)).exists()
    assert metric_rollups_mismatches() == []
    assert set(partitions.archived_months()) == {dt.date(2026, 7, 1), dt.date(2026, 8, 1)}
    # A late row of a retired month goes to the default partition; retiring again adds it to the archive.
    DailyMetricFactory(day=dt.date(2026, 8, 2))
    assert [rows for _, _, rows in partitions.metric_partitions_retire(keep_months=3, today=TODAY).retired] == [1]
    assert fetchone("SELECT count(*) FROM metric_archive.partnerships_dailymetric_y2026m08")[0] == 3


def test_a_month_an_open_run_reads_is_kept_with_the_reason(computed_run):
    outcome = partitions.metric_partitions_retire(keep_months=3, today=TODAY)

    assert outcome.retired == []
    [(month, why)] = outcome.refused
    assert month == MONTH
    assert f"run {computed_run.pk} of" in why
    assert "is computed, not approved yet" in why
    assert DailyMetric.objects.filter(day__gte=MONTH, day__lt=dt.date(2026, 9, 1)).count() == 2


def test_the_screening_window_of_an_unclosed_month_keeps_the_months_before_it(approved_run):
    # September is in the fund's tranches with no approved run: computing it reads September and, for screening,
    # the 90 days before its last day, which reach back into August.
    TrancheFactory(fund=approved_run.program.fund, starts_on=dt.date(2026, 9, 1), ends_on=dt.date(2026, 9, 1))
    DailyMetricFactory(day=dt.date(2026, 5, 10))  # May: before any window, retired

    outcome = partitions.metric_partitions_retire(keep_months=3, today=TODAY)

    assert [month for month, _, _ in outcome.retired] == [dt.date(2026, 5, 1)]
    [(month, why)] = outcome.refused
    assert month == MONTH
    assert "has no approved run for 2026-09" in why
    assert "from 2026-07-03 to 2026-09-30" in why


def test_retention_off_or_out_of_range(db, settings):
    settings.METRIC_RETENTION_MONTHS = 0
    assert partitions.metric_partitions_retire(today=TODAY).retired == []
    for wrong in (-1, 1201, "3", True):
        with pytest.raises(ValueError, match="METRIC_RETENTION_MONTHS must be a whole number of months"):
            partitions.metric_partitions_retire(keep_months=wrong, today=TODAY)


def test_a_pooled_month_still_computes_after_older_months_retired(db):
    program = paying_program()
    member(program, handle="ana", views=3)
    DailyMetricFactory(day=dt.date(2025, 1, 5))
    partitions.metric_partitions_retire(keep_months=12, today=TODAY)  # January 2025 goes

    run = payout_run_compute(program_id=program.pk, month=MONTH)

    assert run.status == PayoutRun.Status.COMPUTED, run.error
    assert EarningLine.objects.get(run=run).basis_value == 3
