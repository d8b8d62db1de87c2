import sys

from django.core.management.base import BaseCommand, CommandError

from payouts import selectors
from payouts.exceptions import PayoutsError
from payouts.exports import write_csv
from payouts.models import PayoutRun


class Command(BaseCommand):
    help = "Write a run's statements or its payment file as CSV (to a file, or standard output with -)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("kind", choices=["statements", "payments"])
        parser.add_argument("output", help="File path, or - for standard output.")

    def handle(self, *args, run_id: int, kind: str, output: str, **options):
        run = PayoutRun.objects.select_related("program").filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No payout run with id {run_id}.")
        try:
            header, rows = ((selectors.STATEMENT_HEADER, selectors.run_statement_rows(run)) if kind == "statements"
                            else (selectors.PAYMENT_HEADER, selectors.payment_rows(run)))
        except PayoutsError as exc:
            raise CommandError(str(exc)) from exc
        if output == "-":
            count = write_csv(sys.stdout, header, rows)
        else:
            with open(output, "w", newline="", encoding="utf-8") as stream:
                count = write_csv(stream, header, rows)
        self.stderr.write(f"{count} rows written.")
