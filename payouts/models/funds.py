"""What a program pays from and on which terms: funds, their budget tranches and the program's money terms.

Every amount is an integer number of minor units (cents) of the row's currency. Rates are Decimals.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core.money import exponent
from core.validators import CURRENCY_CODE_VALIDATOR
from partnerships.models import Program

RATE_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]


class IncomeType(models.TextChoices):
    """What a program's payments are, for the treaty table and the year-end filings (1042-S income codes)."""

    ROYALTIES = "royalties", "Royalties"
    SERVICES = "services", "Services"
    OTHER = "other", "Other income"


class MissingFormPolicy(models.TextChoices):
    """What a program does with a partner whose tax form is missing, not validated or expired."""

    STATUTORY = "statutory", "Pay, withholding at the statutory rate"
    HOLD = "hold", "Hold the line until a valid form is on file"


class ForfeiturePolicy(models.TextChoices):
    """Where a held pooled-fund line's amount goes when it is finally forfeited (payouts.services.forfeiture)."""

    RETURN_TO_FUND = "fund", "Back to the fund (unspent budget of its month)"
    REDISTRIBUTE = "redistribute", "To the other partners next month (added to the next month's pool)"


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


# JSON typed into the admin can be any JSON value: a string, a number, a list of numbers. The shapes are checked
# before anything reads them, so a wrong shape is a form error rather than an AttributeError.
TIERS_NOT_A_LIST = ('Revenue tiers are a list of objects, e.g. [{"up_to_minor": 10000000, "rate": "0.70"}, '
                    '{"up_to_minor": null, "rate": "0.50"}].')
RPM_NOT_AN_OBJECT = 'Rates by country are an object of country code to rate, e.g. {"US": "0.80", "*": "0.40"}.'
RPM_MAX = Decimal(1_000_000)  # per 1,000 views, in major units: far above any rate, and exact when scaled to minor


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
                                           validators=RATE_VALIDATORS,
                                           help_text="Flat rate withheld from partners who have no tax profile.")
    hold_without_tax_form = models.BooleanField(
        default=True, help_text="Hold the lines of a partner without a tax profile whose \"tax form on file\" is off.")
    # tax (payouts.models.tax): the profile and treaty table choose each line's rate; withholding_rate above is the
    # flat rate of partners who have no tax profile yet (the behaviour before profiles, unchanged for them).
    income_type = models.CharField(max_length=10, choices=IncomeType.choices, default=IncomeType.OTHER,
                                   help_text="What the program's payments are, for the treaty rate and tax filings.")
    domestic_withholding_rate = models.DecimalField(
        max_digits=7, decimal_places=6, default=Decimal("0"), validators=RATE_VALIDATORS,
        help_text="Withheld from partners with a validated W-9 (US persons); usually 0.")
    statutory_withholding_rate = models.DecimalField(
        max_digits=7, decimal_places=6, default=Decimal("0.30"), validators=RATE_VALIDATORS,
        help_text="Withheld without a treaty rate or a valid form (30% for US payers).")
    missing_form_policy = models.CharField(
        max_length=10, choices=MissingFormPolicy.choices, default=MissingFormPolicy.HOLD,
        help_text="A partner with a tax profile whose form is missing, not validated or expired.")
    forfeiture_policy = models.CharField(
        max_length=12, choices=ForfeiturePolicy.choices, default=ForfeiturePolicy.RETURN_TO_FUND,
        help_text="Pooled funds: where a held line's amount goes when it is finally forfeited. Back to the fund, it "
                  "is unspent budget of the line's month (it rolls over only if the fund rolls over); to the other "
                  "partners, it is added to the pool of the next month not yet computed.")
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
        if not isinstance(self.revenue_tiers, list) or not all(isinstance(tier, dict) for tier in self.revenue_tiers):
            raise ValueError(TIERS_NOT_A_LIST)
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
        table: dict[str, Decimal] = {}
        if not self.rpm_by_country:
            return table
        if not isinstance(self.rpm_by_country, dict):
            raise ValueError(RPM_NOT_AN_OBJECT)
        for country, rate in self.rpm_by_country.items():
            if country != "*" and (len(country) != 2 or not country.isupper()):
                raise ValueError(f"{country!r} is not a two-letter country code or \"*\".")
            value = Decimal(str(rate))
            if not value.is_finite() or value < 0:
                raise ValueError(f"The rate for {country} ({rate}) is not a positive number.")
            if value > RPM_MAX:
                raise ValueError(f"The rate for {country} ({rate}) is above {RPM_MAX:,}, the most per 1,000 views.")
            table[country] = value
        return table
