"""The tables and status values that the payouts SQL names, taken once from the models: a renamed table or a
changed choice value reaches every statement (formulas, settlement, ledger, reconciliation, services)."""

from __future__ import annotations

from partnerships.models import DailyMetric, Enrolment, EnrolmentSuspension, MonthlyMetricRollup, Partner, Program
from payouts.models.batches import Payment, PaymentItem
from payouts.models.inputs import AdRevenue, Video, VideoDailyViews
from payouts.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from payouts.models.runs import Adjustment, EarningLine, PayoutRun
from payouts.models.tax import TaxProfile, TreatyRate
from payouts.models.video_rollups import VideoMonthlyViews


def quoted(*values: str) -> str:
    """Our own choices' values as SQL string literals (they hold no quote), comma-separated."""
    return ", ".join(f"'{value}'" for value in values)


LINE_TABLE = EarningLine._meta.db_table
RUN_TABLE = PayoutRun._meta.db_table
ADJUSTMENT_TABLE = Adjustment._meta.db_table
ACCOUNT_TABLE = LedgerAccount._meta.db_table
TRANSACTION_TABLE = LedgerTransaction._meta.db_table
ENTRY_TABLE = LedgerEntry._meta.db_table
AD_REVENUE_TABLE = AdRevenue._meta.db_table
VIDEO_TABLE = Video._meta.db_table
VIDEO_VIEWS_TABLE = VideoDailyViews._meta.db_table
VIDEO_ROLLUP_TABLE = VideoMonthlyViews._meta.db_table
PARTNER_TABLE = Partner._meta.db_table
PROGRAM_TABLE = Program._meta.db_table
ENROLMENT_TABLE = Enrolment._meta.db_table
SUSPENSION_TABLE = EnrolmentSuspension._meta.db_table
DAILY_METRIC_TABLE = DailyMetric._meta.db_table
ROLLUP_TABLE = MonthlyMetricRollup._meta.db_table
PAYMENT_TABLE = Payment._meta.db_table
PAYMENT_ITEM_TABLE = PaymentItem._meta.db_table

# Status values as SQL literals.
PAYABLE = quoted(EarningLine.Status.PAYABLE)
HELD = quoted(EarningLine.Status.HELD)
CARRIED_OVER = quoted(EarningLine.Status.CARRIED_OVER)
PAID = quoted(EarningLine.Status.PAID)
FINAL = quoted(PayoutRun.Kind.FINAL)
COMPUTED = quoted(PayoutRun.Status.COMPUTED)
ADJUSTMENT_APPROVED = quoted(Adjustment.Status.APPROVED)
PARTNER_ACTIVE = quoted(Partner.Status.ACTIVE)
# A live membership: approved, or suspended now (at most one per partner and program).
LIVE_MEMBERSHIP = quoted(Enrolment.Status.APPROVED, Enrolment.Status.SUSPENDED)

TAX_PROFILE_TABLE = TaxProfile._meta.db_table
TREATY_TABLE = TreatyRate._meta.db_table
