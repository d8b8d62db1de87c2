"""manage.py metric_partitions [--ensure [--months-ahead N]] [--retire [--keep-months N]]: the daily metrics' monthly
partitions on PostgreSQL (partnerships.services.partitions). Without an option it lists them: each attached month,
the rows in the default partition, and the archived months. --ensure creates this month's and the next ones'
partitions (what the beat task does daily); --retire archives the months older than the last N (default
METRIC_RETENTION_MONTHS) that nothing needs, and names each month it keeps and why."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from partnerships.services import partitions


class Command(BaseCommand):
    help = "List, create ahead (--ensure) or archive (--retire) the daily metrics' monthly partitions (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--ensure", action="store_true", help="Create this and the next months' partitions.")
        parser.add_argument("--months-ahead", type=int, default=None,
                            help="Months after this one (default METRIC_PARTITION_MONTHS_AHEAD).")
        parser.add_argument("--retire", action="store_true", help="Archive the months older than the kept ones.")
        parser.add_argument("--keep-months", type=int, default=None,
                            help="Months kept attached, this one included (default METRIC_RETENTION_MONTHS; 0: all).")

    def handle(self, *args, **options):
        if not partitions.partitioned():
            raise CommandError(partitions.NOT_PARTITIONED.format(action="do"))
        try:
            if options["ensure"]:
                ensured = partitions.metric_partitions_ensure(months_ahead=options["months_ahead"])
                made = ", ".join(f"{month:%Y-%m}" for month in ensured.created) or "none (all there)"
                self.stdout.write(f"Partitions created: {made}; rows moved from the default partition: "
                                  f"{ensured.moved_rows:,}.")
            if options["retire"]:
                retired = partitions.metric_partitions_retire(keep_months=options["keep_months"])
                for month, archive, rows in retired.retired:
                    self.stdout.write(f"Archived {month:%Y-%m}: {rows:,} rows in {archive}.")
                for _, why in retired.refused:
                    self.stdout.write(f"Kept {why}")
                if not retired.retired and not retired.refused:
                    self.stdout.write("Nothing to archive.")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not options["ensure"] and not options["retire"]:
            self._list()

    def _list(self) -> None:
        for month, name in sorted(partitions.metric_partitions().items()):
            self.stdout.write(f"{month:%Y-%m}  {name}")
        self.stdout.write(f"default partition: {partitions.default_partition_rows():,} rows")
        for month, archive in sorted(partitions.archived_months().items()):
            self.stdout.write(f"{month:%Y-%m}  {archive} (archived)")
