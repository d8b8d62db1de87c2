import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from partnerships.models import Program
from payouts.exceptions import PayoutsError
from payouts.money import format_money
from payouts.services import payout_run_compute, previous_month


class Command(BaseCommand):
    help = "Compute a program's month (the same service the scheduler and the admin use). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("program", help="Program slug, e.g. us-creator-fund.")
        parser.add_argument("--month", help="YYYY-MM; default: the month that just ended in the program's time zone.")
        parser.add_argument("--estimate", action="store_true", help="Month-to-date estimate instead of the final run.")

    def handle(self, *args, program: str, month: str | None, estimate: bool, **options):
        try:
            program_obj = Program.objects.get(slug=program)
        except Program.DoesNotExist as exc:
            raise CommandError(f"No program with slug “{program}”.") from exc
        try:
            first = dt.date.fromisoformat(f"{month}-01") if month else previous_month(program_obj)
        except ValueError as exc:
            raise CommandError(f"--month {month!r} is not a month; use YYYY-MM.") from exc
        try:
            run = payout_run_compute(program_id=program_obj.pk, month=first, kind="estimate" if estimate else "final")
        except PayoutsError as exc:
            raise CommandError(str(exc)) from exc
        if run.status == "failed":
            raise CommandError(f"{run} failed: {run.error}")
        gross = format_money(run.total_gross_minor, run.currency)
        payable = format_money(run.total_payable_minor, run.currency)
        self.stdout.write(self.style.SUCCESS(
            f"{run}: {run.get_status_display()}; {run.line_count} lines, gross {gross}, payable {payable}"
        ))
