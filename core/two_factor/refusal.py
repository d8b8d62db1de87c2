"""How an admin view answers a money action refused for want of a second factor: an error message that says why,
with a link to the verify page (or the enrolment page, for a person with no app yet) that comes back to
``return_to``, and a redirect there. Nothing was done: the check comes before the service call."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.second_factor import SecondFactorRequired, require_second_factor, second_factor_verified
from core.two_factor.devices import confirmed_device
from core.two_factor.views import with_next


def second_factor_link(request: HttpRequest, return_to: str) -> SafeString:
    """A link to verify a code (or to set up an app first) that comes back to ``return_to``."""
    if confirmed_device(request.user) is not None:
        return format_html('<a href="{}">Verify a code now</a>', with_next(reverse("two-factor-verify"), return_to))
    return format_html('<a href="{}">Set up your authenticator app</a>', with_next(reverse("two-factor"), return_to))


def second_factor_refused(request: HttpRequest, error: SecondFactorRequired, *,
                          return_to: str) -> HttpResponseRedirect:
    """The refusal as an admin error message with its way forward, and a redirect to ``return_to``."""
    messages.error(request, format_html("{} {}", str(error), second_factor_link(request, return_to)))
    return HttpResponseRedirect(return_to)


def refuse_without_second_factor(request: HttpRequest, action: str, *,
                                 return_to: str) -> HttpResponseRedirect | None:
    """``require_second_factor(request.user, action)``, answered as ``second_factor_refused``; None when allowed."""
    try:
        require_second_factor(request.user, action)
    except SecondFactorRequired as exc:
        return second_factor_refused(request, exc, return_to=return_to)
    return None


def warn_second_factor_needed(request: HttpRequest, action: str, *, return_to: str) -> None:
    """On a confirmation page shown before a money action: say now that a code will be needed, with the link."""
    if not second_factor_verified(request.user):
        messages.warning(request, format_html("{} needs a verified code from your authenticator app in this "
                                              "session. {}", action, second_factor_link(request, return_to)))
