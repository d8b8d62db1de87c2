"""A person's TOTP device: which one counts, checking a code against it under its row lock, and its QR code.

django-otp throttles every TOTPDevice (OTP_TOTP_THROTTLE_FACTOR): after n wrong codes in a row the device refuses
any code, the right one too, for factor × 2^(n-1) seconds; a code is accepted once only (its time step is recorded).
"""

from __future__ import annotations

import datetime as dt
from base64 import b32encode
from typing import Any

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import VerifyNotAllowed
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "authenticator app"

WRONG_CODE = "That code is not right (or was already used): type the 6 digits your authenticator app shows now."
TOO_MANY_TRIES = ("Too many wrong codes in a row ({count}): codes are refused until {until} UTC. Wait, then type "
                  "the code your app shows then.")
NO_DEVICE = "You have no authenticator app set up: set one up on your two-factor page first."


def confirmed_device(user: Any, *, for_update: bool = False) -> TOTPDevice | None:
    """The device a person verifies codes with (the confirmed one; the oldest if a test gave them several)."""
    devices = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")
    return (devices.select_for_update() if for_update else devices).first()


def pending_device(user: Any) -> TOTPDevice | None:
    """The device being set up: created, its secret shown, not yet confirmed by a code."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def check_code(device: TOTPDevice, code: str) -> str | None:
    """None when ``code`` is the device's current code; otherwise why not (wrong, or throttled until when).

    The device is locked for the check so two tries at once cannot both use one code or dodge the throttle; a
    wrong code's count is committed whatever the caller does next."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        allowed, extra = locked.verify_is_allowed()
        if not allowed:
            return throttled_message(extra or {})
        verified = locked.verify_token(code)
    if verified:
        device.refresh_from_db()
        return None
    return WRONG_CODE


def throttled_message(extra: dict[str, Any]) -> str:
    if extra.get("reason") != VerifyNotAllowed.N_FAILED_ATTEMPTS:
        return "Codes for this device are refused for now: try again later."
    until = extra.get("locked_until") or timezone.now()
    return TOO_MANY_TRIES.format(count=extra.get("failure_count", 0),
                                 until=until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"))


def mark_session_verified(request: Any, device: TOTPDevice) -> None:
    """The session now counts as verified with ``device`` (a new session key: the session gained a privilege)."""
    request.session.cycle_key()
    otp_login(request, device)


def base32_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed, in groups of four for reading."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[index:index + 4] for index in range(0, len(secret), 4))


def qr_svg(data: str) -> str:
    """``data`` as a QR code in an inline <svg> element (no image URL and no script: the CSP allows it)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=16, border=2)
    svg = str(image.to_string(encoding="unicode"))
    return svg[svg.index("<svg"):]


def enrol_fixed_device(user: Any, *, key_hex: str) -> TOTPDevice:
    """``user``'s confirmed device with the secret ``key_hex``, for demo data only (a secret that is printed is
    no secret): replaces any device the person had."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(key=key_hex, confirmed=True).delete()
        device, _ = TOTPDevice.objects.get_or_create(user=user, key=key_hex, confirmed=True,
                                                     defaults={"name": DEVICE_NAME})
    return device
