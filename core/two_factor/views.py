"""The two-factor pages of the admin site: a person's own enrolment page and the verify (step-up) page.

Both are wrapped by the admin site's ``admin_view`` (signed-in staff only; see core.two_factor.urls). A device
being set up is unconfirmed until a code from it is typed; replacing or removing a confirmed device takes a current
code from it, so a stolen password alone cannot swap in the thief's app.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.second_factor import second_factor_verified
from core.two_factor.devices import (
    DEVICE_NAME,
    NO_DEVICE,
    base32_secret,
    check_code,
    confirmed_device,
    mark_session_verified,
    pending_device,
    qr_svg,
)
from core.two_factor.forms import CodeForm

MAX_NEXT_LENGTH = 2000
ENROLLED = "Your authenticator app is set up, and this session is verified: money actions are allowed."
REMOVED = "Your authenticator app is removed: money actions are refused until you set one up again."
REPLACING = ("Scan the new code below and type a code from the new app to finish; your current app keeps working "
             "until then.")
ALREADY_ENROLLED = "You already have an authenticator app: replace it with a code from it."
VERIFIED = "Code verified: this session may approve and pay until you sign out."


def safe_next(request: HttpRequest) -> str:
    """The ``next`` address sent with the request when it stays on this site; otherwise empty."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if (candidate and len(candidate) <= MAX_NEXT_LENGTH
            and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return candidate
    return ""


def with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def enrol_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    next_url = safe_next(request)
    here = with_next(reverse("two-factor"), next_url)
    form = CodeForm(request.POST or None)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if request.method == "POST":
        response = _enrol_action(request, action, form, here=here, next_url=next_url)
        if response is not None:
            return response
    confirmed, pending = confirmed_device(user), pending_device(user)
    return TemplateResponse(request, "admin/two_factor/enrol.html", {
        **admin.site.each_context(request), "title": "Two-factor authentication",
        "confirmed": confirmed, "pending": pending, "form": form, "action": action, "next": next_url,
        "verified": second_factor_verified(user),
        "verify_url": with_next(reverse("two-factor-verify"), next_url),
        **({"secret": base32_secret(pending), "config_url": pending.config_url,
            # our own SVG of the app's address: paths only, nothing of the person's typing
            "qr": mark_safe(qr_svg(pending.config_url))} if pending else {}),  # noqa: S308
    })


def _enrol_action(request: HttpRequest, action: str, form: CodeForm, *, here: str,
                  next_url: str) -> HttpResponse | None:
    """Carry out a posted button of the enrolment page; None to show the page again (with the form's errors)."""
    user = request.user
    confirmed, pending = confirmed_device(user), pending_device(user)
    if action == "start":
        if confirmed is not None:
            messages.error(request, ALREADY_ENROLLED)
        elif pending is None:
            TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        return HttpResponseRedirect(here)
    if action == "cancel":
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return HttpResponseRedirect(here)
    device = pending if action == "confirm" else confirmed if action in ("replace", "remove") else None
    if device is None:
        return HttpResponseRedirect(here)  # a stale page's button: show the page as it is now
    if not form.is_valid():
        return None
    error = check_code(device, form.cleaned_data["code"])
    if error:
        form.add_error("code", error)
        return None
    if action == "confirm":
        with transaction.atomic():
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        mark_session_verified(request, device)
        messages.success(request, ENROLLED)
        return HttpResponseRedirect(next_url or here)
    with transaction.atomic():
        if action == "remove":
            TOTPDevice.objects.filter(user=user).delete()
        else:
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    messages.success(request, REMOVED if action == "remove" else REPLACING)
    return HttpResponseRedirect(here)


def verify_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    device = confirmed_device(request.user)
    if device is None:
        messages.warning(request, NO_DEVICE)
        return HttpResponseRedirect(with_next(reverse("two-factor"), next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        error = check_code(device, form.cleaned_data["code"])
        if error:
            form.add_error("code", error)
        else:
            mark_session_verified(request, device)
            messages.success(request, VERIFIED)
            return HttpResponseRedirect(next_url or reverse("admin:index"))
    return TemplateResponse(request, "admin/two_factor/verify.html", {
        **admin.site.each_context(request), "title": "Verify a code", "form": form, "next": next_url,
        "verified": second_factor_verified(request.user),
    })
