"""The client's address behind a trusted proxy: ``REMOTE_ADDR`` becomes the address the proxy saw.

Behind nginx (config/nginx.conf) every request comes from the proxy's address, so login lockouts (per username and
address, config/lockout.py), the anonymous API throttle and the page throttles would count every client as one. The
proxy sets ``X-Forwarded-For`` to its peer's address; this middleware believes it only when the request comes from
a proxy the deployment trusts — the same rule gunicorn applies to the scheme: ``FORWARDED_ALLOW_IPS`` (addresses,
or ``*``), or ``127.0.0.1`` with ``TRUST_X_FORWARDED_PROTO=true`` — and takes the last address of the header (the
one the trusted proxy added; earlier ones are whatever the client claimed). A value that is not an IP address is
ignored. From anyone else the header means nothing, so a client cannot pick the address its failures count for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

MAX_HEADER = 1_000  # characters of X-Forwarded-For read at most


def trusted_proxies() -> frozenset[str]:
    return frozenset(getattr(settings, "TRUSTED_PROXIES", ()))


def forwarded_client(meta: dict, trusted: frozenset[str]) -> str | None:
    """The client's address if the peer (REMOTE_ADDR) is a trusted proxy and the header ends in a valid address."""
    peer = meta.get("REMOTE_ADDR", "")
    if not trusted or ("*" not in trusted and peer not in trusted):
        return None
    header = meta.get("HTTP_X_FORWARDED_FOR", "")[:MAX_HEADER]
    last = header.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


class ForwardedClientMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        client = forwarded_client(request.META, trusted_proxies())
        if client is not None:
            request.META["REMOTE_ADDR"] = client
        return self.get_response(request)
