from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from partnerships.models import Partner
from payouts.demo import enrol_demo_second_factor


class Command(BaseCommand):
    help = "Migrate, add demo data to an empty database, print the logins and run the development server."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-server", action="store_true", help="Set up only; do not start the server.")

    def handle(self, *args, addrport: str, no_server: bool, **options):
        if not settings.DEBUG:
            raise CommandError("demo runs the development server with demo users: start it with DEBUG=true.")
        call_command("migrate", verbosity=0)
        if Partner.objects.exists():
            self.stdout.write("Demo data already present; logins: admin/admin, manager/manager, finance/finance, "
                              "finance2/finance2, payees/payees.")
        else:
            self.stdout.write("Creating demo data (takes under a minute)…")
            call_command("seed_demo", stdout=self.stdout)
            self.stdout.write("Computing demo payouts…")
            call_command("seed_payouts_demo", stdout=self.stdout)
        for line in enrol_demo_second_factor():
            self.stdout.write(line)
        call_command("seed_creators_demo", stdout=self.stdout)  # the creator portal's login (creators app)
        self.stdout.write(self.style.SUCCESS(f"Open http://{addrport}/admin/ and sign in with a login above."))
        if not no_server:
            call_command("runserver", addrport, use_reloader=False)
