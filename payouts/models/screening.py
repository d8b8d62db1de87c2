"""Invalid-traffic screening: each program's rules and thresholds (data, admin-edited, audited), and the flags a
computed monthly run raises on its lines, with the evidence that tripped them and a partnership manager's decision.

In a pooled fund every cent one partner takes comes out of every other partner's share: a run with a flag nobody
reviewed cannot be approved (payouts.services.settlement), and a held line is not paid (payouts.services.screening).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from partnerships.models import Partner, Program
from payouts.models.funds import ForfeiturePolicy
from payouts.models.runs import EarningLine, PayoutRun


def _between(low: str, high: str) -> list:
    return [MinValueValidator(Decimal(low)), MaxValueValidator(Decimal(high))]


class ScreeningRules(models.Model):
    """A program's screening thresholds. A program without a row screens with these fields' defaults
    (``ScreeningRules.for_program``), which flag nothing in normal traffic and flag the planted anomalies of the demo.
    """

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="screening_rules")

    spike_enabled = models.BooleanField("flag spikes", default=True)
    spike_window_days = models.PositiveSmallIntegerField(
        "spike: window (days)", default=90, validators=[MinValueValidator(14), MaxValueValidator(365)],
        help_text="The partner's usual level: median and median absolute deviation of its daily qualified views "
                  "over this many days up to the month's last day.")
    spike_min_days = models.PositiveSmallIntegerField(
        "spike: days of history needed", default=14, validators=[MinValueValidator(3), MaxValueValidator(365)],
        help_text="Fewer days with figures in the window: not scored (the new-partner rule looks at them).")
    spike_min_views = models.PositiveBigIntegerField(
        "spike: floor (views a day)", default=50_000, validators=[MaxValueValidator(10**15)],
        help_text="A day below this many qualified views is never a spike: small accounts are not flagged for noise.")
    spike_score = models.DecimalField(
        "spike: robust score", max_digits=7, decimal_places=2, default=Decimal("40"),
        validators=_between("1", "99999"),
        help_text="Flag a day whose (views − median) / (1.4826 × MAD) reaches this. The spread is at least a tenth "
                  "of the median, so a partner with a flat history is not flagged for an ordinary good day.")

    engagement_enabled = models.BooleanField("flag views without engagement", default=True)
    engagement_min_views = models.PositiveBigIntegerField(
        "engagement: floor (views in the month)", default=100_000, validators=[MaxValueValidator(10**15)],
        help_text="Partners with fewer views in the month are not judged on engagement.")
    engagement_ratio = models.DecimalField(
        "engagement: share of the norm", max_digits=4, decimal_places=3, default=Decimal("0.100"),
        validators=_between("0.001", "1"),
        help_text="Flag when likes + comments + shares per view in the month are below this fraction of both the "
                  "partner's own rate (the window's earlier days) and the program's rate this month.")

    share_enabled = models.BooleanField("flag jumps in share of the pool", default=True)
    share_min = models.DecimalField(
        "share: floor", max_digits=5, decimal_places=4, default=Decimal("0.0200"), validators=_between("0", "1"),
        help_text="A line below this share of the run's total is never flagged (0.02 = 2%).")
    share_jump = models.DecimalField(
        "share: jump (times)", max_digits=6, decimal_places=2, default=Decimal("3.00"),
        validators=_between("1", "9999"),
        help_text="Flag a share above this many times the partner's largest share in its previous months.")
    share_months = models.PositiveSmallIntegerField(
        "share: months looked back", default=6, validators=[MinValueValidator(1), MaxValueValidator(36)])

    newcomer_enabled = models.BooleanField("flag new or reinstated partners with sudden volume", default=True)
    newcomer_days = models.PositiveSmallIntegerField(
        "new partner: days", default=60, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Joined (approved) or reinstated within this many days before the month's end.")
    newcomer_min_share = models.DecimalField(
        "new partner: share", max_digits=5, decimal_places=4, default=Decimal("0.2500"),
        validators=_between("0", "1"),
        help_text="Flag such a partner whose line takes at least this share of the run's total ...")
    newcomer_jump = models.DecimalField(
        "new partner: jump (times)", max_digits=6, decimal_places=2, default=Decimal("5.00"),
        validators=_between("1", "9999"),
        help_text="... and whose daily qualified views in the month are at least this many times its daily views in "
                  "the spike window's days before the month (or who has no figures before the month).")

    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"],
                                history_change_reason_field=models.TextField(null=True))

    class Meta:
        verbose_name = "screening rules"
        verbose_name_plural = "screening rules"

    def __str__(self) -> str:
        return f"screening rules of {self.program}"

    @classmethod
    def for_program(cls, program: Program) -> ScreeningRules:
        """The program's rules, or (unsaved) the defaults."""
        return cls.objects.filter(program=program).first() or cls(program=program)


class ScreeningFlag(models.Model):
    """One rule tripped by one partner's line in a monthly run. A manager's decision (hold or clear, with a reason)
    is recorded on every flag of the line; the history keeps each change."""

    class Rule(models.TextChoices):
        SPIKE = "spike", "A day far above the partner's usual level"
        NO_ENGAGEMENT = "no_engagement", "Views without engagement"
        SHARE_JUMP = "share_jump", "Share of the pool far above previous months"
        NEWCOMER = "newcomer", "New or reinstated partner with sudden volume"
        HELD_BEFORE = "held_before", "Carries in a balance held by screening"

    class Action(models.TextChoices):
        HOLD = "hold", "Hold the line until the traffic is verified"
        REVIEW = "review", "Review the partner's traffic before paying"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        HELD = "held", "Held"
        CLEARED = "cleared", "Cleared"

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="screening_flags")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="screening_flags")
    rule = models.CharField(max_length=20, choices=Rule.choices)
    evidence = models.JSONField(default=dict, help_text="The numbers that tripped the rule, and its thresholds.")
    suggested_action = models.CharField(max_length=10, choices=Action.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # What the line was before a hold, so clearing a held line gives back exactly what settlement had decided.
    line_status_before = models.CharField(max_length=12, blank=True)
    line_hold_reason_before = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "partner", "rule"], name="screening_flag_once")]
        indexes = [models.Index(fields=["run", "status"], name="screening_flag_run_idx"),
                   models.Index(fields=["partner", "run"], name="screening_flag_partner_idx")]
        permissions = [("review_screeningflag", "Can hold or clear lines flagged by screening")]

    def __str__(self) -> str:
        return f"{self.get_rule_display()}: @{self.partner.handle} in {self.run}"


class Forfeiture(models.Model):
    """A line held by screening, finally forfeited: what it left on the partner's payable balance (its net) went
    back to the fund's budget in the ledger, and the fund counts it as unspent: in the line's month (back to the
    fund), or in the pool of ``budget_month`` (to the other partners). One per line; append-only, it is the
    decision's record (who, when, why)."""

    line = models.OneToOneField(EarningLine, on_delete=models.PROTECT, related_name="forfeiture",
                                db_constraint=False)
    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="forfeitures")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="forfeitures")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="forfeitures")
    amount_minor = models.BigIntegerField(help_text="The line's net, taken off the partner's payable balance.")
    policy = models.CharField(max_length=12, choices=ForfeiturePolicy.choices)
    month = models.DateField(help_text="The forfeited line's month: its spend is reduced by the amount.")
    budget_month = models.DateField(null=True, blank=True,
                                    help_text="To the other partners: the month whose pool the amount is added to.")
    reason = models.TextField()
    forfeited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="forfeiture_positive")]
        indexes = [models.Index(fields=["program", "month"], name="forfeiture_program_month_idx")]

    def __str__(self) -> str:
        return f"forfeiture of @{self.partner.handle}'s line in {self.run}"
