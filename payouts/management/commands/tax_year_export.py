
from django.core.management.base import BaseCommand, CommandError

from payouts.tax_year import APPROVED, parse_basis, parse_year, tax_year_write_csv


class Command(BaseCommand):
    help = ("Write the year-end tax figures (gross, withheld, net per partner, program and income type, for the "
            "runs approved in the year, or with --basis paid for the lines paid in the year) as CSV, to a file or "
            "standard output.")

    def add_arguments(self, parser):
        parser.add_argument("--year", required=True, help="The tax year, e.g. 2026.")
        parser.add_argument("--basis", default=APPROVED,
                            help="approved (the default: the lines of the runs approved in the year) or paid (the "
                                 "lines whose payment reached the partner in the year).")
        parser.add_argument("--output", default="-", help="File path, or - (the default) for standard output.")

    def handle(self, *args, year: str, basis: str, output: str, **options):
        try:
            tax_year, tax_basis = parse_year(year), parse_basis(basis)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if output == "-":
            count = tax_year_write_csv(self.stdout, tax_year, tax_basis)
        else:
            with open(output, "w", newline="", encoding="utf-8") as stream:
                count = tax_year_write_csv(stream, tax_year, tax_basis)
        self.stderr.write(f"{count} rows written for {tax_year} ({tax_basis}).")
