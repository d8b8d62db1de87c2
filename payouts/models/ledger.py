"""The append-only double-entry ledger: accounts, balanced transactions and their entries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.money import format_money
from partnerships.models import Partner, Program
from payouts.models.funds import Fund
from payouts.models.runs import PayoutRun


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        FUND_SOURCE = "fund_source", "Fund commitment (source of a fund's money)"
        FUND_BUDGET = "fund_budget", "Fund budget (unspent)"
        PARTNER_PAYABLE = "partner_payable", "Owed to a partner (not yet in a payment)"
        PARTNER_IN_PAYMENT = "partner_in_payment", "In payment to a partner (approved run, not yet paid)"
        PARTNER_SENT = "partner_sent", "Sent to the bank for a partner (released batch, not yet paid or returned)"
        FUND_RECEIVABLE = "fund_receivable", "Owed back by partners (receivable, never budget)"
        PAID_OUT = "paid_out", "Paid out"
        WITHHOLDING = "withholding", "Tax withheld"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    # No row-by-row foreign keys on PostgreSQL: a batch's first release opens a *sent* account per partner, a
    # million in one statement, whose deferred checks took longer than the insert. Checked once per statement by
    # triggers instead (migration 0019); partner accounts (fund NULL) stay out of the fund's index.
    fund = models.ForeignKey(Fund, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts",
                             db_constraint=False, db_index=False)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts",
                                db_constraint=False)
    program = models.ForeignKey(Program, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts",
                                db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "currency", "fund"], condition=Q(partner__isnull=True),
                                    name="ledger_account_one_per_fund_kind"),
            models.UniqueConstraint(fields=["kind", "currency", "partner", "program"],
                                    condition=Q(partner__isnull=False), name="ledger_account_one_per_partner_program"),
        ]
        indexes = [models.Index(fields=["fund"], condition=Q(fund__isnull=False), name="ledger_account_fund_idx")]

    def __str__(self) -> str:
        owner = f"{self.partner} · {self.program}" if self.partner_id else f"fund {self.fund}"
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

    # On PostgreSQL the references are checked once per INSERT statement by a trigger (migration 0015), not row by row:
    # a release posts two entries per payment in one statement, and the row-by-row checks at commit were a fifth of
    # its time. Entries and transactions are append-only; an account with entries cannot be deleted.
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries",
                                    db_constraint=False)
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_constraint=False)
    amount_minor = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_entry_not_zero")]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{format_money(self.amount_minor, self.account.currency)} on {self.account}"
