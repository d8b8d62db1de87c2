from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payouts.demo import seed_payouts_demo
from payouts.models import Fund


class Command(BaseCommand):
    help = "Add demo funds, money terms, revenue, videos and payout runs (after seed_demo; DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_payouts_demo only runs with DEBUG on.")
        if Fund.objects.exists():
            raise CommandError("Funds already exist; seed_payouts_demo only fills an empty payouts side.")
        for slug, summary in seed_payouts_demo(today=timezone.localdate()).items():
            self.stdout.write(f"  {slug}: {summary}")
