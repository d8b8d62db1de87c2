"""The current authenticator code of a person's device, for local development and the demo only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import totp

from core.two_factor.devices import confirmed_device, pending_device

REFUSED = "totp_code prints a second factor's code: it runs only with DEBUG on (local development and the demo)."


class Command(BaseCommand):
    help = "Print the current TOTP code of a user's authenticator device (refuses unless DEBUG is on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(REFUSED)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user “{username}”.")
        device = confirmed_device(user) or pending_device(user)
        if device is None:
            raise CommandError(f"{username} has no authenticator device: set one up on /admin/two-factor/.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
