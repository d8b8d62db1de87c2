"""Money: funds and their budget tranches, program money terms, revenue and video inputs, payout runs,
earning lines, adjustments, payees and the append-only double-entry ledger (one module each; import from here)."""

from payouts.models.batches import (
    RAIL_CURRENCY,
    Payment,
    PaymentBatch,
    PaymentBatchCreation,
    PaymentBatchExclusion,
    PaymentBatchFile,
    PaymentBatchRelease,
    PaymentItem,
    StatementImport,
    StatementLine,
)
from payouts.models.funds import RATE_VALIDATORS, BudgetTranche, ForfeiturePolicy, Fund, IncomeType, ProgramTerms
from payouts.models.inputs import AdRevenue, Video, VideoDailyViews
from payouts.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from payouts.models.payees import Payee
from payouts.models.runs import SPENDING, Adjustment, EarningLine, PayoutRun, PayoutRunMaker
from payouts.models.screening import Forfeiture, ScreeningFlag, ScreeningRules
from payouts.models.tax import MissingFormPolicy, TaxProfile, TreatyRate, WithholdingSource
from payouts.models.video_rollups import VideoDailyViewsQuerySet, VideoMonthlyViews

__all__ = [
    "RAIL_CURRENCY", "RATE_VALIDATORS", "SPENDING", "AdRevenue", "Adjustment", "BudgetTranche", "EarningLine",
    "Forfeiture", "ForfeiturePolicy", "Fund", "IncomeType", "LedgerAccount", "LedgerEntry", "LedgerTransaction",
    "MissingFormPolicy", "Payee",
    "Payment", "PaymentBatch", "PaymentBatchCreation", "PaymentBatchExclusion", "PaymentBatchFile",
    "PaymentBatchRelease", "PaymentItem",
    "PayoutRun",
    "PayoutRunMaker", "ProgramTerms", "ScreeningFlag", "ScreeningRules",
    "StatementImport", "StatementLine", "TaxProfile", "TreatyRate", "Video",
    "VideoDailyViews", "VideoDailyViewsQuerySet", "VideoMonthlyViews", "WithholdingSource",
]
