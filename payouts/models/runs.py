"""Payout runs, who made them, their earning lines, and the adjustments runs apply."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from core import periods
from core.money import format_money
from partnerships.models import Partner, Program
from payouts.models.funds import IncomeType
from payouts.models.tax import WithholdingSource


class PayoutRunQuerySet(models.QuerySet):
    def final(self) -> PayoutRunQuerySet:
        """Monthly runs (not month-to-date estimates)."""
        return self.filter(kind=PayoutRun.Kind.FINAL)

    def spending(self) -> PayoutRunQuerySet:
        """Monthly runs that spend from their fund: computed (reserving), approved or paid (payouts.funds)."""
        return self.final().filter(status__in=SPENDING)


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

    objects = PayoutRunQuerySet.as_manager()

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
        return f"{self.month:%B %Y} · {self.program}" + (" (estimate)" if self.kind == self.Kind.ESTIMATE else "")

    @property
    def month_end(self) -> dt.date:
        return periods.month_end(self.month)

    @property
    def spends(self) -> bool:
        """A monthly run computed, approved or paid: it spends from its fund and is reconciled."""
        return self.kind == self.Kind.FINAL and self.status in SPENDING


# The statuses in which a monthly run spends from its fund (payouts.funds defines what it spends).
SPENDING = (PayoutRun.Status.COMPUTED, PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)


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

    # Two indexes besides the primary key, each written for every one of a run's million lines (about 0.8 s per
    # million, bench/payouts.py): the unique (partner, run) below, which also serves a partner's lines (statements,
    # the creator pages, tax years), and on PostgreSQL a BRIN index on run_id (migration 0023, not declared here:
    # SQLite has no BRIN), for the reads of a whole run (totals, settlement, screening, the admin's run filter). A
    # run's lines are written by one statement, so they lie together in the table and a BRIN index, a few pages
    # and almost nothing to write, finds them; a B-tree on (run, partner) cost a third index's writes.
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
    # Why that was withheld (payouts.formulas.settle): the rate in millionths, its source, and the income type and
    # residence country it was looked up with. Database defaults: lines written before tax profiles read "".
    withholding_ppm = models.IntegerField(default=0, db_default=0, help_text="The rate applied × 1,000,000.")
    withholding_source = models.CharField(max_length=10, choices=WithholdingSource.choices, blank=True, default="",
                                          db_default="")
    income_type = models.CharField(max_length=10, choices=IncomeType.choices, blank=True, default="", db_default="")
    tax_country = models.CharField(max_length=2, blank=True, default="", db_default="",
                                   help_text="The residence country of the partner's tax profile, as applied.")
    net_minor = models.BigIntegerField(default=0, help_text="Carried in + gross + adjustments − withholding.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PAYABLE)
    hold_reason = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="Archetype detail (scaled, fund exhausted…).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "run"], name="earning_line_one_per_partner_run"),
            models.CheckConstraint(condition=Q(gross_minor__gte=0) | Q(basis="revenue"),
                                   name="earning_line_gross_not_negative_unless_revenue"),
        ]
        permissions = [("export_earningline", "Can export earning lines and statements to a spreadsheet")]

    def __str__(self) -> str:
        return f"@{self.partner.handle} · {self.run.month:%B %Y} · {self.run.program}"


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
        return f"@{self.partner.handle} · {format_money(self.amount_minor, self.program.currency)} · {self.program}"
