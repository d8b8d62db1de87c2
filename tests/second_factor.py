"""Test helper: a client whose session verified a TOTP second factor, as after signing in with a code."""

from __future__ import annotations

from django_otp.plugins.otp_totp.models import TOTPDevice


def verified_client(client, user):
    """Sign ``client`` in as ``user`` with a confirmed TOTP device verified in the session."""
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client
