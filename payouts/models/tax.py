"""Tax: each partner's tax profile (which form, its status and expiry, the residence country) and the treaty table
giving the withholding rate per residence country and income type.

The run's SQL (payouts.formulas.settle) joins both tables to choose each line's rate; see ``WithholdingSource`` for
every rule. A partner with no profile keeps the program's flat rate and its "tax form on file" hold (the behaviour
before profiles existed), so no tax fact is invented for anyone.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core.validators import COUNTRY_CODE_VALIDATOR
from partnerships.models import Partner
from payouts.models.funds import RATE_VALIDATORS, IncomeType, MissingFormPolicy

__all__ = ["IncomeType", "MissingFormPolicy", "TaxProfile", "TreatyRate", "WithholdingSource"]


class WithholdingSource(models.TextChoices):
    """Why a line was withheld at its rate (recorded on the line, shown by payouts.explain)."""

    FLAT = "flat", "no tax profile: the program's flat rate"
    DOMESTIC = "domestic", "W-9: the program's domestic rate"
    TREATY = "treaty", "treaty"
    NO_TREATY = "no_treaty", "no treaty: statutory rate"
    MISSING = "missing", "no validated tax form: statutory rate"
    EXPIRED = "expired", "tax form expired: statutory rate"


class TaxProfile(models.Model):
    """A partner's tax documentation. Only a validated form that has not expired by a run's month end lowers the
    rate; validating one is finance's (``partnerships.change_payout_readiness``), never a partnership manager's."""

    class FormType(models.TextChoices):
        W9 = "W-9", "W-9 (US person)"
        W8BEN = "W-8BEN", "W-8BEN (foreign individual)"
        W8BENE = "W-8BEN-E", "W-8BEN-E (foreign entity)"
        NONE = "none", "None"

    class Status(models.TextChoices):
        MISSING = "missing", "Missing"
        RECEIVED = "received", "Received, not validated"
        VALIDATED = "validated", "Validated"
        EXPIRED = "expired", "Expired"

    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="tax_profile")
    form_type = models.CharField(max_length=10, choices=FormType.choices, default=FormType.NONE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.MISSING, db_index=True)
    residence_country = models.CharField(max_length=2, blank=True, validators=[COUNTRY_CODE_VALIDATOR],
                                         help_text="Country of tax residence (ISO 3166), as the form states.")
    expires_on = models.DateField(null=True, blank=True,
                                  help_text="Last day the form is valid (a W-8 lasts until the end of the third "
                                            "calendar year after signing); empty when it does not expire.")
    received_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    validated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"],
                                history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["missing", "expired"]) | ~Q(form_type="none"),
                name="tax_profile_received_form_has_a_type",
                violation_error_message="A received or validated form has a form type (W-9, W-8BEN or W-8BEN-E)."),
            models.CheckConstraint(
                condition=~Q(status="validated") | (~Q(residence_country="") & Q(validated_by__isnull=False)),
                name="tax_profile_validated_has_country_and_validator",
                violation_error_message="A validated form names the residence country and who validated it."),
        ]
        permissions = [("export_tax_year", "Can export the year-end tax figures of partners")]

    def __str__(self) -> str:
        return f"Tax profile of {self.partner}"

    def valid_on(self, day: dt.date) -> bool:
        """Validated and not expired on ``day`` (the SQL in payouts.formulas.settle says the same)."""
        return self.status == self.Status.VALIDATED and (self.expires_on is None or self.expires_on >= day)


class TreatyRate(models.Model):
    """The withholding rate a tax treaty gives residents of a country for one income type. Finance's data: edited
    in the admin with a reason, every version kept."""

    residence_country = models.CharField(max_length=2, validators=[COUNTRY_CODE_VALIDATOR])
    income_type = models.CharField(max_length=10, choices=IncomeType.choices)
    rate = models.DecimalField(max_digits=7, decimal_places=6, validators=RATE_VALIDATORS,
                               help_text="Withholding rate for residents of the country, e.g. 15% for royalties.")

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        ordering = ["residence_country", "income_type"]
        constraints = [
            models.UniqueConstraint(fields=["residence_country", "income_type"],
                                    name="treaty_rate_one_per_country_type",
                                    violation_error_message="This country already has a rate for that income type."),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=1), name="treaty_rate_between_0_and_1"),
        ]

    def __str__(self) -> str:
        return f"{self.residence_country} {self.get_income_type_display().lower()}: {self.rate}"
