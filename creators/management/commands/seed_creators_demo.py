"""A creator login for the demo: the demo partner with the most to see (approved earnings, then brand deals) gets a
user who signs in at /creators/ with a verified e-mail address. Idempotent; DEBUG only (a known password)."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q

from creators.models import CreatorMembership
from partnerships.models import Partner

EMAIL = "creator@example.org"
PASSWORD = "creator"  # noqa: S105  (the demo's, like admin/admin)


class Command(BaseCommand):
    help = "Give a demo partner a creator login (creator@example.org / creator) and print it."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_creators_demo sets a known password: run it with DEBUG=true.")
        User = get_user_model()
        user = User.objects.filter(username=EMAIL).first()
        if user is None:
            partner = (Partner.objects.filter(status=Partner.Status.ACTIVE)
                       .annotate(lines=Count("earning_lines", filter=Q(earning_lines__run__status__in=[
                           "approved", "paid"])))
                       .order_by("-lines", "-opted_into_brand_deals", "handle").first())
            if partner is None:
                raise CommandError("No active partner: run seed_demo first.")
            user = User(username=EMAIL, email=EMAIL)
            user.set_password(PASSWORD)
            user.save()
            CreatorMembership.objects.create(user=user, partner=partner)
            EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
        partner = user.creator_membership.partner
        self.stdout.write(f"  login {EMAIL} / {PASSWORD}  (creator of @{partner.handle}: "
                          f"http://127.0.0.1:8000/creators/)")
