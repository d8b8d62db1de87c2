import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.money import format_money
from partnerships.models import Program
from payouts.exceptions import PayoutsError
from payouts.months import previous_month
from payouts.services.runs import payout_run_compute

ACTOR_REQUIRED = ("A monthly run started from the command line needs --actor USERNAME (who is running it): the "
                  "scheduler's runs come from the beat, and four eyes need to know who started this one.")


class Command(BaseCommand):
    help = "Compute a program's month (the same service the scheduler and the admin use). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("program", help="Program slug, e.g. us-creator-fund.")
        parser.add_argument("--month", help="YYYY-MM; default: the month that just ended in the program's time zone.")
        parser.add_argument("--estimate", action="store_true", help="Month-to-date estimate instead of the final run.")
        parser.add_argument(
            "--actor", help="Username of the person running this (required for a monthly run): the run is recorded as "
                            "started by them, so they cannot approve it. Estimates may run without one.")

    def handle(self, *args, program: str, month: str | None, estimate: bool, actor: str | None, **options):
        try:
            program_obj = Program.objects.get(slug=program)
        except Program.DoesNotExist as exc:
            raise CommandError(f"No program with slug “{program}”.") from exc
        try:
            first = dt.date.fromisoformat(f"{month}-01") if month else previous_month(program_obj)
        except ValueError as exc:
            raise CommandError(f"--month {month!r} is not a month; use YYYY-MM.") from exc
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor, is_active=True).first()
            if user is None:
                raise CommandError(f"--actor {actor!r} is not an active user.")
        elif not estimate:
            raise CommandError(ACTOR_REQUIRED)
        try:
            run = payout_run_compute(program_id=program_obj.pk, month=first, actor=user,
                                     kind="estimate" if estimate else "final")
        except PayoutsError as exc:
            raise CommandError(str(exc)) from exc
        if run.status == "failed":
            raise CommandError(f"{run} failed: {run.error}")
        gross = format_money(run.total_gross_minor, run.currency)
        payable = format_money(run.total_payable_minor, run.currency)
        self.stdout.write(self.style.SUCCESS(
            f"{run}: {run.get_status_display()}; {run.line_count} lines, gross {gross}, payable {payable}"
        ))
