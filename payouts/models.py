"""Money: funds and their budget tranches, program money terms, revenue and video inputs, payout runs,
earning lines, adjustments and the append-only double-entry ledger.

Every amount is an integer number of minor units (cents) of the row's currency. Rates are Decimals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core import periods
from core.money import exponent
from core.validators import CURRENCY_CODE_VALIDATOR
from partnerships.models import Partner, Program

RATE_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]


class Fund(models.Model):
    """The money a program pays from: a total, released month by month through budget tranches."""

    program = models.OneToOneField(Program, on_delete=models.PROTECT, related_name="fund")
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    total_minor = models.BigIntegerField(help_text="The whole fund, in minor units (cents).")
    rollover_unspent = models.BooleanField(
        default=True, help_text="Unspent monthly budget rolls over to the next month; otherwise it lapses."
    )
    spent_minor = models.BigIntegerField(
        default=0, editable=False,
        help_text="What the fund's computed, approved and paid monthly runs spend (payouts.funds keeps it).")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(total_minor__gte=0), name="fund_total_not_negative",
                                   violation_error_message="A fund's total cannot be negative."),
            models.CheckConstraint(condition=Q(total_minor__gte=F("spent_minor")), name="fund_total_covers_spend",
                                   violation_error_message="A fund's total cannot be below what its runs spent."),
            models.CheckConstraint(condition=Q(spent_minor__gte=0), name="fund_spent_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.program_id and self.currency and self.program.currency != self.currency:
            raise ValidationError({"currency": f"The program pays in {self.program.currency}; the fund must too."})


class BudgetTranche(models.Model):
    """A slice of the fund released evenly over the months from ``starts_on`` to ``ends_on`` inclusive."""

    fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="tranches")
    starts_on = models.DateField(help_text="First month (its first day).")
    ends_on = models.DateField(help_text="Last month (its first day).")
    amount_minor = models.BigIntegerField()

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="tranche_amount_not_negative",
                                   violation_error_message="A budget tranche cannot be negative."),
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="tranche_ends_after_start",
                                   violation_error_message="A tranche must end on or after its first month."),
        ]

    def __str__(self) -> str:
        return f"{self.starts_on:%Y-%m} to {self.ends_on:%Y-%m}"

    @property
    def months(self) -> int:
        return (self.ends_on.year - self.starts_on.year) * 12 + self.ends_on.month - self.starts_on.month + 1

    def clean(self) -> None:
        for name in ("starts_on", "ends_on"):
            value = getattr(self, name)
            if value and value.day != 1:
                raise ValidationError({name: "Use the first day of a month."})


class ProgramTerms(models.Model):
    """A program's money terms. Which fields apply depends on the program's archetype."""

    class ExcessPolicy(models.TextChoices):
        REDISTRIBUTE = "redistribute", "Redistribute to uncapped partners"
        RETAIN = "retain", "Return to the fund"

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="terms")
    # pooled fund
    pool_share = models.DecimalField(max_digits=7, decimal_places=6, default=Decimal("1"), validators=RATE_VALIDATORS,
                                     help_text="Share of the monthly budget paid to partners (1 = all of it).")
    min_views = models.PositiveBigIntegerField(default=0, help_text="Qualified views in the month to take part.")
    partner_cap_minor = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                               help_text="Most one partner earns in a month, in minor units.")
    excess_policy = models.CharField(max_length=20, choices=ExcessPolicy.choices, default=ExcessPolicy.REDISTRIBUTE)
    # revenue share
    revenue_share_rate = models.DecimalField(max_digits=7, decimal_places=6, default=Decimal("0.5"),
                                             validators=RATE_VALIDATORS)
    revenue_tiers = models.JSONField(
        default=list, blank=True,
        help_text='Optional year-to-date tiers, e.g. [{"up_to_minor": 10000000, "rate": "0.70"}, '
                  '{"up_to_minor": null, "rate": "0.50"}]. Empty: the single rate above.',
    )
    # rate per 1,000 views
    rpm_by_country = models.JSONField(
        default=dict, blank=True,
        help_text='Rate per 1,000 qualified views in major units by country, with "*" as the default: '
                  '{"US": "0.80", "*": "0.40"}.',
    )
    rpm_multiplier = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("1"),
                                         validators=[MinValueValidator(Decimal("0"))])
    min_video_qualified_views = models.PositiveIntegerField(default=1000)
    min_video_duration_seconds = models.PositiveIntegerField(default=60, help_text="Only longer videos earn.")
    video_cap_minor = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    # grant
    grant_monthly_minor = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    # all programs
    min_payout_minor = models.BigIntegerField(default=0, validators=[MinValueValidator(0)],
                                              help_text="Balances below this roll over to the next month.")
    withholding_rate = models.DecimalField(max_digits=7, decimal_places=6, default=Decimal("0"),
                                           validators=RATE_VALIDATORS)
    hold_without_tax_form = models.BooleanField(default=True)
    hold_without_identity = models.BooleanField(default=True)
    hold_when_suspended = models.BooleanField(default=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        verbose_name = verbose_name_plural = "program money terms"

    def __str__(self) -> str:
        return f"Money terms of {self.program}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            self.tiers()
        except (ValueError, TypeError, ArithmeticError) as exc:
            errors["revenue_tiers"] = str(exc)
        try:
            self.rpm_table()
        except (ValueError, TypeError, ArithmeticError) as exc:
            errors["rpm_by_country"] = str(exc)
        archetype = self.program.archetype if self.program_id else None
        if archetype == Program.Archetype.GRANT and not self.grant_monthly_minor:
            errors["grant_monthly_minor"] = "A grant program needs its fixed monthly amount."
        if "rpm_by_country" not in errors and self.program_id and self.rpm_by_country:
            try:
                self.rpm_exact(exponent(self.program.currency))
            except ValueError as exc:
                errors["rpm_by_country"] = str(exc)
        if archetype == Program.Archetype.RATE_PER_MILLE and not self.rpm_by_country:
            errors["rpm_by_country"] = "A rate-per-1,000-views program needs at least one rate (\"*\" for any country)."
        if errors:
            raise ValidationError(errors)

    def tiers(self) -> list[tuple[int | None, Decimal]]:
        """Year-to-date tiers as (upper bound in minor units or None, rate), validated."""
        if not self.revenue_tiers:
            return [(None, Decimal(self.revenue_share_rate))]
        tiers, previous = [], 0
        for index, tier in enumerate(self.revenue_tiers, start=1):
            bound, rate = tier.get("up_to_minor"), Decimal(str(tier.get("rate")))
            if not rate.is_finite() or not Decimal("0") <= rate <= Decimal("1"):
                raise ValueError(f"Tier {index}: rate {rate} is not between 0 and 1.")
            if rate != rate.quantize(Decimal("0.000001")):
                raise ValueError(f"Tier {index}: rate {rate} has more than six decimals, which payouts cannot apply "
                                 "exactly.")
            if bound is not None and (not isinstance(bound, int) or bound <= previous):
                raise ValueError(f"Tier {index}: up_to_minor must be a whole number above {previous}.")
            if bound is None and index != len(self.revenue_tiers):
                raise ValueError(f"Tier {index}: only the last tier may be open-ended (up_to_minor null).")
            tiers.append((bound, rate))
            previous = bound or previous
        if tiers[-1][0] is not None:
            raise ValueError("The last tier must be open-ended (up_to_minor null).")
        return tiers

    def rpm_exact(self, currency_exponent: int) -> None:
        """Payouts compute a video's earnings in thousandths of a minor unit per 1,000 views: a rate (times the
        multiplier) finer than that would be rounded, so it is refused."""
        for country, rate in self.rpm_table().items():
            scaled = rate * Decimal(10) ** currency_exponent * 1000 * Decimal(self.rpm_multiplier)
            if scaled != scaled.to_integral_value():
                raise ValueError(f"The rate for {country} ({rate}) is finer than payouts compute exactly (a thousandth "
                                 f"of a minor unit per 1,000 views): use at most {currency_exponent + 3} decimals.")

    def rpm_table(self) -> dict[str, Decimal]:
        table = {}
        for country, rate in (self.rpm_by_country or {}).items():
            if country != "*" and (len(country) != 2 or not country.isupper()):
                raise ValueError(f"{country!r} is not a two-letter country code or \"*\".")
            value = Decimal(str(rate))
            if not value.is_finite() or value < 0:
                raise ValueError(f"The rate for {country} ({rate}) is not a positive number.")
            table[country] = value
        return table


class AdRevenue(models.Model):
    """Net ad revenue attributed to a partner's videos on one day, in one currency."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="ad_revenue")
    day = models.DateField()
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    amount_minor = models.BigIntegerField(help_text="Net of invalid traffic; may be negative after refunds.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "day", "currency"], name="ad_revenue_one_row_per_partner_day"),
        ]
        verbose_name_plural = "ad revenue"
        permissions = [
            ("import_adrevenue", "Can import ad revenue (spreadsheet or bulk file)"),
            ("export_adrevenue", "Can export ad revenue to a spreadsheet"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.day} {self.amount_minor} {self.currency}"


class Video(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="videos")
    external_id = models.CharField(max_length=64, unique=True)
    posted_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.external_id


class VideoDailyViews(models.Model):
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="daily_views")
    day = models.DateField()
    qualified_views = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["video", "day"], name="video_views_one_row_per_day")]
        verbose_name_plural = "video daily views"

    def __str__(self) -> str:
        return f"video {self.video_id} on {self.day}"


class PayoutRun(models.Model):
    """One program's month: computing → computed → approved → paid, or failed / cancelled."""

    class Status(models.TextChoices):
        COMPUTING = "computing", "Computing"
        COMPUTED = "computed", "Computed, awaiting approval"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        FINAL = "final", "Monthly run"
        ESTIMATE = "estimate", "Month-to-date estimate"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="payout_runs")
    month = models.DateField(help_text="First day of the month.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FINAL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPUTING)
    currency = models.CharField(max_length=3)
    as_of = models.DateField(help_text="Last day of input used: the month's last day, or today for estimates.")
    budget_minor = models.BigIntegerField(default=0, help_text="What this month could spend.")
    total_gross_minor = models.BigIntegerField(default=0)
    total_net_minor = models.BigIntegerField(default=0)
    total_adjustments_minor = models.BigIntegerField(default=0)
    total_payable_minor = models.BigIntegerField(default=0)
    line_count = models.IntegerField(default=0)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", help_text="Empty: started by the scheduler.")
    started_at = models.DateTimeField()
    computed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_reference = models.CharField(max_length=120, blank=True)
    cancelled_reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    spend_minor = models.BigIntegerField(
        default=0, help_text="What the run takes from its fund: the sum over lines of gross + adjustments where "
                             "positive (a line that takes money back is a receivable, never budget).")
    stale_reason = models.CharField(
        max_length=300, blank=True,
        help_text="Set when the month's inputs changed after computing: the run must be computed again.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "month", "kind"], condition=~Q(status="cancelled"),
                name="payout_run_one_per_program_month",
                violation_error_message="This program already has a run for that month.",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="payout_run_month_is_first_day"),
        ]
        indexes = [models.Index(fields=["status", "month"], name="payout_run_status_idx")]
        permissions = [
            ("approve_payoutrun", "Can approve payout runs"),
            ("pay_payoutrun", "Can mark payout runs paid and export payment files"),
            ("compute_payoutrun", "Can start and cancel payout runs"),
        ]

    def __str__(self) -> str:
        return f"{self.program} {self.month:%Y-%m}" + (" (estimate)" if self.kind == self.Kind.ESTIMATE else "")

    @property
    def month_end(self) -> dt.date:
        return periods.month_end(self.month)


class PayoutRunMaker(models.Model):
    """Someone whose act put money into a run: who started it, asked for its recompute, or created an adjustment or
    a term change it applies. None of them may approve it (four eyes)."""

    class Role(models.TextChoices):
        STARTED = "started", "started the run"
        RECOMPUTED = "recomputed", "asked for the run to be computed again"
        ADJUSTMENT = "adjustment", "created an adjustment the run applies"
        TERMS = "terms", "changed the terms, fund or tranches the run applies"

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="makers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=12, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user", "role"], name="payout_run_maker_once")]

    def __str__(self) -> str:
        return f"{self.user} {self.get_role_display()}"


class EarningLine(models.Model):
    """One partner's result in a run, with the facts that explain it."""

    class Status(models.TextChoices):
        PAYABLE = "payable", "Payable"
        HELD = "held", "Held"
        CARRIED_OVER = "carried_over", "Carried over"
        PAID = "paid", "Paid"

    class Basis(models.TextChoices):
        VIEWS = "views", "Qualified views"
        REVENUE = "revenue", "Net ad revenue (minor units)"
        GRANT = "grant", "Fixed grant"
        NONE = "none", "Adjustment only"

    # No single-column indexes: (run, partner) and (partner, run) below serve both lookups, and every index
    # more is written for each of a run's million lines.
    # No per-row foreign-key constraints either: on PostgreSQL their checks (a lookup and a lock of the partner's
    # row for each line) cost more than computing the month. Migration 0006 enforces the same references with
    # set-based triggers instead: one check per INSERT statement, deletions of a partner or run with lines
    # refused, an advisory lock ordering the two.
    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="lines", db_index=False,
                            db_constraint=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="earning_lines", db_index=False,
                                db_constraint=False)
    basis = models.CharField(max_length=10, choices=Basis.choices)
    basis_value = models.BigIntegerField(default=0, help_text="The partner's views or revenue for the month.")
    basis_total = models.BigIntegerField(default=0, help_text="The pool's total basis (pooled funds).")
    weight = models.BigIntegerField(default=0, help_text="What the split divided by (internal).")
    gross_minor = models.BigIntegerField(default=0)
    capped = models.BooleanField(default=False)
    rounding_minor = models.IntegerField(default=0, help_text="Cents added by largest-remainder rounding.")
    remainder = models.BigIntegerField(default=0, help_text="Left after flooring the exact share (internal).")
    adjustments_minor = models.BigIntegerField(default=0)
    carried_in_minor = models.BigIntegerField(default=0, help_text="Unpaid balance from earlier months.")
    withholding_minor = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField(default=0, help_text="Carried in + gross + adjustments − withholding.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PAYABLE)
    hold_reason = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="Archetype detail (scaled, fund exhausted…).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "partner"], name="earning_line_one_per_partner_run"),
            models.CheckConstraint(condition=Q(gross_minor__gte=0) | Q(basis="revenue"),
                                   name="earning_line_gross_not_negative_unless_revenue"),
        ]
        indexes = [models.Index(fields=["partner", "run"], name="earning_line_partner_idx")]
        permissions = [("export_earningline", "Can export earning lines and statements to a spreadsheet")]

    def __str__(self) -> str:
        return f"line {self.pk} of run {self.run_id}"


class Adjustment(models.Model):
    """A manual correction (late invalid traffic, a missed payment). It takes effect only once a second finance
    approver approves it; the partner's next monthly run then applies it, or holds it with a reason when the fund
    cannot cover it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second approver"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="adjustments")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="adjustments")
    amount_minor = models.BigIntegerField(help_text="Negative takes money back.")
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_run = models.ForeignKey(PayoutRun, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="adjustments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    held_reason = models.CharField(max_length=300, blank=True,
                                   help_text="Why the last run did not apply it (the fund could not cover it).")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="adjustment_not_zero"),
            models.CheckConstraint(condition=Q(applied_run__isnull=True) | Q(status="approved"),
                                   name="adjustment_applied_only_when_approved"),
        ]
        permissions = [("approve_adjustment", "Can approve or reject adjustments created by someone else")]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.amount_minor}"


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        FUND_SOURCE = "fund_source", "Fund commitment (source of a fund's money)"
        FUND_BUDGET = "fund_budget", "Fund budget (unspent)"
        PARTNER_PAYABLE = "partner_payable", "Owed to a partner (not yet in a payment)"
        PARTNER_IN_PAYMENT = "partner_in_payment", "In payment to a partner (approved run, not yet paid)"
        FUND_RECEIVABLE = "fund_receivable", "Owed back by partners (receivable, never budget)"
        PAID_OUT = "paid_out", "Paid out"
        WITHHOLDING = "withholding", "Tax withheld"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    fund = models.ForeignKey(Fund, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    program = models.ForeignKey(Program, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "currency", "fund"], condition=Q(partner__isnull=True),
                                    name="ledger_account_one_per_fund_kind"),
            models.UniqueConstraint(fields=["kind", "currency", "partner", "program"],
                                    condition=Q(partner__isnull=False), name="ledger_account_one_per_partner_program"),
        ]

    def __str__(self) -> str:
        owner = f"partner {self.partner_id} / program {self.program_id}" if self.partner_id else f"fund {self.fund_id}"
        return f"{self.get_kind_display()} {self.currency} ({owner})"


class LedgerTransaction(models.Model):
    """A balanced set of entries. ``key`` makes posting idempotent: the same event posts once."""

    key = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=200)
    run = models.ForeignKey(PayoutRun, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class LedgerEntry(models.Model):
    """Append-only. Positive and negative amounts of one transaction sum to zero (checked by PostgreSQL)."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_minor = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_entry_not_zero")]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.amount_minor} on account {self.account_id}"

