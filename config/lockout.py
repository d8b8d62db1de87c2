"""What a locked-out sign-in sees, and whose address counts (django-axes hooks, named in settings).

A sign-in refused because its username and address are locked answers 429 with the time the lock ends, on the
admin's and the brand pages' login alike; the right password is refused too until then."""

from __future__ import annotations

import datetime as dt

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

LOCKED = ("Too many failed sign-ins for this account from your address: it is locked. "
          "Try again at {until} UTC, or ask an administrator to clear the lockout.")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def client_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The username axes counts failures for: the admin's and brand pages' "username", or the e-mail address a
    creator signs in with (django-allauth authenticates with "email")."""
    if credentials:
        return credentials.get("username") or credentials.get("email")
    data = getattr(request, "POST", {}) or {}
    return data.get("username") or data.get("login")


def locked_until(request: HttpRequest, username: str):
    last = (AccessAttempt.objects.filter(username=username, ip_address=client_ip(request))
            .order_by("-attempt_time").values_list("attempt_time", flat=True).first())
    cool_off = get_cool_off(request)
    return (last or timezone.now()) + cool_off if cool_off else None


def lockout_message(request: HttpRequest, credentials: dict | None) -> str:
    until = locked_until(request, get_client_username(request, credentials) or "")
    when = until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if until else "a later time"
    return LOCKED.format(until=when)


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    message = lockout_message(request, credentials)
    html = render_to_string("locked.html", {"message": message}, request=request)
    return HttpResponse(html, status=429)
