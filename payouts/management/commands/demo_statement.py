"""A bank statement (camt.053) for a released payment batch, for trying the statement upload in the demo: every
payment paid except the first, returned with AC04 (account closed). DEBUG only: in real life the bank sends it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from payouts.banking import StatementEntry
from payouts.banking.camt_build import build_camt053
from payouts.models import PaymentBatch

REFUSED = "demo_statement makes up a bank statement: it runs only with DEBUG on (local development and the demo)."
MAX_PAYMENTS = 10_000


class Command(BaseCommand):
    help = "Print a camt.053 statement for a released batch: all paid, the first payment returned (AC04)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", type=int)

    def handle(self, *args: Any, batch_id: int, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(REFUSED)
        batch = PaymentBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"No payment batch {batch_id}.")
        if batch.status != PaymentBatch.Status.RELEASED:
            raise CommandError(f"{batch} is {batch.get_status_display().lower()}: only a released batch is paid by "
                               "the bank. Release it first.")
        payments = list(batch.payments.order_by("pk")[:MAX_PAYMENTS])
        today = timezone.localdate()
        entries = [StatementEntry(end_to_end_id=p.end_to_end_id, amount_minor=p.amount_minor, currency=p.currency,
                                  outcome="returned" if index == 0 else "paid",
                                  reason_code="AC04" if index == 0 else "", reference=f"DEMO-{p.end_to_end_id}",
                                  booking_date=today, position=index + 1)
                   for index, p in enumerate(payments)]
        data = build_camt053(entries=entries, identifier=f"DEMO-{batch.pk}-{timezone.now():%Y%m%d%H%M%S}")
        self.stdout.write(data.decode())
