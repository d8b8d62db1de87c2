from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partnerships.demo import seed_demo
from partnerships.models import Partner


class Command(BaseCommand):
    help = "Fill an empty database with deterministic demo data (refuses to run unless DEBUG is on)."

    def add_arguments(self, parser):
        parser.add_argument("--partners", type=int, default=3000, help="How many partners to create.")

    def handle(self, *args, partners: int, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG on: it creates users with known passwords.")
        if Partner.objects.exists():
            raise CommandError("The database already has partners; seed_demo only fills an empty database.")
        summary = seed_demo(partners=partners)
        self.stdout.write(self.style.SUCCESS(
            f"Created {summary.partners:,} partners, {summary.metrics:,} daily metric rows, applications: "
            + ", ".join(f"{count} {status}" for status, count in summary.enrolments.items())
        ))
        for username, password, role in summary.logins:
            self.stdout.write(f"  login {username} / {password}  ({role})")
