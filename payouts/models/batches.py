"""Payment batches: one payment per partner and currency, sent to the bank in its files, and the bank statements
that say which payments were paid and which came back.

A payment covers earning lines of approved runs (``PaymentItem``, one row per line): a line is covered by at most
one payment, ever (a database constraint). A draft batch that is cancelled deletes its payments and items, so its
lines can go into another batch; a returned payment keeps its items (its money went back to the partner's payable
balance, which a later run carries into a new line). Bank details are never copied here: the files are written from
the encrypted ``Payee`` at release; a payment keeps only the masked last four characters and when the payee's
details last changed (a change after the batch was made refuses its release).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from partnerships.models import Partner, Program
from payouts.models.payees import Payee
from payouts.models.runs import EarningLine, PayoutRun

RAIL_CURRENCY = {Payee.Rail.SEPA: "EUR", Payee.Rail.ACH: "USD"}  # "other" takes any currency


class PaymentBatch(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft, awaiting release"
        RELEASED = "released", "Released to the bank"
        CLOSED = "closed", "Closed (every payment paid or returned)"
        CANCELLED = "cancelled", "Cancelled before release"

    currency = models.CharField(max_length=3)
    rail = models.CharField(max_length=8, choices=Payee.Rail.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    payment_count = models.IntegerField(default=0)
    control_total_minor = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "payment batches"
        indexes = [models.Index(fields=["status", "currency"], name="payment_batch_status_idx")]
        permissions = [("release_paymentbatch", "Can release a payment batch created by someone else")]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.currency}, {self.rail})"


class PaymentBatchRelease(models.Model):
    """The release of a large batch (PAYMENT_BATCH_BACKGROUND_FROM payments or more), asked for in the admin and
    carried out by a compute worker (payouts.services.batch_jobs): who asked, what they confirmed, how it went. A
    request in a web process would outlast the web timeout; the worker runs the same ``batch_release``."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued for a worker"
        DONE = "done", "Released"
        FAILED = "failed", "Failed"

    batch = models.OneToOneField(PaymentBatch, on_delete=models.CASCADE, related_name="release_request")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    expected_count = models.IntegerField(help_text="The count the approver typed back.")
    expected_total_minor = models.BigIntegerField(help_text="The control total the approver typed back.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the release was refused (the batch stays a draft).")

    def __str__(self) -> str:
        return f"release of {self.batch}: {self.get_state_display().lower()}"


class PaymentBatchCreation(models.Model):
    """The creation of a large batch (its preview showed PAYMENT_BATCH_BACKGROUND_FROM payments or more), asked for in
    the admin and carried out by a compute worker with the figures the person saw (payouts.services.batch_jobs).
    One is waiting per currency and rail at a time (a partial unique constraint)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued for a worker"
        DONE = "done", "Created"
        FAILED = "failed", "Failed"

    currency = models.CharField(max_length=3)
    rail = models.CharField(max_length=8, choices=Payee.Rail.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    expected_count = models.IntegerField(help_text="The payments the preview showed.")
    expected_total_minor = models.BigIntegerField(help_text="The total the preview showed.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the batch was not created (nothing was).")
    batch = models.OneToOneField(PaymentBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["currency", "rail"], condition=Q(state="queued"),
                                               name="payment_batch_creation_one_queued")]

    def __str__(self) -> str:
        return f"{self.currency} by {self.rail}, asked at {self.requested_at:%Y-%m-%d %H:%M}"


class PaymentBatchFile(models.Model):
    """A bank file written at release: where it is under MEDIA_ROOT, what it holds and its SHA-256."""

    batch = models.ForeignKey(PaymentBatch, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=400, help_text="Relative to MEDIA_ROOT.")
    payments = models.IntegerField()
    control_total_minor = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "name"], name="payment_batch_file_name_once")]

    def __str__(self) -> str:
        return self.name


class PaymentBatchExclusion(models.Model):
    """A partner with something to pay in the batch's currency whom the batch left out, and why."""

    batch = models.ForeignKey(PaymentBatch, on_delete=models.CASCADE, related_name="exclusions")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    reason = models.CharField(max_length=300)

    def __str__(self) -> str:
        return f"@{self.partner.handle}: {self.reason}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (batch not released)"
        SENT = "sent", "Sent to the bank"
        PAID = "paid", "Paid"
        RETURNED = "returned", "Returned by the bank"
        FAILED = "failed", "Failed"

    # Indexes are few on purpose: a batch inserts a million payments and its release and statement rewrite each one,
    # and every index is written each time (bench/batches.py). batch_id is served by the (batch, partner) constraint;
    # the statement columns are indexed only where set.
    # batch and partner are written only by batch_create's one INSERT ... SELECT, from the batch it has just created
    # and the partners of constrained lines and payees it joins, and neither a batch with payments nor a partner is
    # ever deleted (PROTECT): a deferred database check of each again (400,000 at the commit of a 200,000-payment
    # batch, about a third of its time) adds nothing but time.
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="payments", db_index=False,
                              db_constraint=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="payments", db_constraint=False)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    end_to_end_id = models.CharField(max_length=35)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason_code = models.CharField(max_length=8, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    payee_last4 = models.CharField(max_length=4, blank=True, help_text="Masked account, for display only.")
    payee_changed_at = models.DateTimeField(null=True, blank=True,
                                            help_text="When the payee's details last changed, as the batch saw it.")
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    paid_statement = models.ForeignKey("StatementImport", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", db_index=False)
    returned_statement = models.ForeignKey("StatementImport", null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "partner"], name="payment_one_per_partner_batch"),
            # A constraint rather than unique=True: no second (LIKE) index on PostgreSQL; ids are matched exactly.
            models.UniqueConstraint(fields=["end_to_end_id"], name="payment_end_to_end_id_once"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["paid_statement"], name="payment_paid_statement_idx",
                         condition=Q(paid_statement__isnull=False)),
            models.Index(fields=["returned_statement"], name="payment_returned_stmt_idx",
                         condition=Q(returned_statement__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.end_to_end_id

    @property
    def masked_account(self) -> str:
        return f"···{self.payee_last4}" if self.payee_last4 else ""


class PaymentItem(models.Model):
    """What a payment pays: one earning line of an approved run (its in-payment amount)."""

    # Every column is written by batch_create's one INSERT ... SELECT joining the payments it just inserted to the
    # earning lines (whose own constraints hold their run, program and partner), and nothing deletes a line that a
    # payment covers (PROTECT; an approved run's lines are immutable): the database checks no reference again at
    # commit (5 checks per item, 1,000,000 for 200,000 payees). "At most one payment per line" stays a unique index.
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="items", db_constraint=False)
    line = models.OneToOneField(EarningLine, on_delete=models.PROTECT, related_name="payment_item",
                                db_constraint=False, help_text="A line is covered by at most one payment.")
    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payment_items", db_constraint=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                db_index=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                db_index=False)
    amount_minor = models.BigIntegerField()

    def __str__(self) -> str:
        return f"line {self.line_id} in payment {self.payment_id}"


class StatementImport(models.Model):
    """A bank statement (camt.053 / camt.054) or status report (pain.002) read once: the same file (its identifier)
    is never applied twice."""

    identifier = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)
    entry_count = models.IntegerField(default=0)
    paid_count = models.IntegerField(default=0)
    returned_count = models.IntegerField(default=0)
    failed_count = models.IntegerField(default=0, help_text="Payments a pain.002 status report rejected.")
    unmatched_count = models.IntegerField(default=0)

    class Meta:
        permissions = [("import_statement", "Can import bank statements")]

    def __str__(self) -> str:
        return f"statement {self.identifier}"


class StatementLine(models.Model):
    """One entry of an imported statement and what it matched."""

    class Result(models.TextChoices):
        PAID = "paid", "Paid"
        RETURNED = "returned", "Returned"
        ALREADY = "already", "Already recorded (no change)"
        FAILED = "failed", "Failed (rejected by the bank)"
        RECORDED = "recorded", "Status recorded (the payment stays sent)"
        UNMATCHED = "unmatched", "Unmatched: for a person to look at"

    statement = models.ForeignKey(StatementImport, on_delete=models.CASCADE, related_name="lines")
    position = models.IntegerField()
    end_to_end_id = models.CharField(max_length=35, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=10)
    reason_code = models.CharField(max_length=8, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    booking_date = models.DateField(null=True, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(max_length=10, choices=Result.choices)
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"entry {self.position} of {self.statement}"
