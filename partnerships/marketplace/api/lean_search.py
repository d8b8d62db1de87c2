"""GET /api/v1/creators/ with an API token, answered without DRF's dispatch, byte for byte as the DRF view answers.

The creator search is what integrations call most, and DRF's request wrapping, negotiation, permission and
throttle classes, serializers and renderer cost about as much CPU as everything else of a request together. For the
requests integrations make (GET, ``Authorization: Token <secret>``, JSON or anything accepted, no ``format``
parameter) this path runs the same steps in the same order with the same code: the token's authentication
(BrandTokenAuthentication's one statement), the brand's budget (throttling.spend, one round trip on Redis), the
parameters (params), the page (search_cache, which here keeps the page's rows as the JSON they are answered with)
and answers what the DRF view would: the same body, status, Allow and Vary headers, and DRF's own exceptions and
exception handler for 400, 401 and 429. Every other request (a session, no or another authorization, another
method, an Accept that could pick the browsable API) goes to the DRF view unchanged. The middleware runs for both.

Revocation stays exact: the token is read from the database on every request, before anything else. The request's
first statement also stands in for the connection's health check (CONN_HEALTH_CHECKS' ``SELECT 1``): a persistent
connection found broken by it is closed and the statement run once more on a new one, as the check would have."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import APIException, AuthenticationFailed, Throttled, ValidationError

from partnerships.marketplace import params, search, search_cache, throttling
from partnerships.marketplace.api.authentication import BrandTokenAuthentication
from partnerships.marketplace.api.errors import api_exception_handler
from partnerships.marketplace.api.filters import unknown_parameters

# What DRF's negotiation answers with JSONRenderer (the first renderer): no header, anything, or JSON itself.
JSON_ACCEPTED = frozenset({None, "*/*", "application/json"})
FORMAT_PARAMETER = "format"  # DRF's URL_FORMAT_OVERRIDE: the DRF view picks the renderer by it
AUTHENTICATION = BrandTokenAuthentication()


def render_json(value) -> bytes:
    """What DRF's JSONRenderer makes of plain values with the default settings (UNICODE_JSON, COMPACT_JSON,
    STRICT_JSON)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def token_key(request: HttpRequest) -> str | None:
    """The token of a well-formed ``Authorization: Token <secret>`` header; None for anything else (which
    TokenAuthentication either skips or refuses with its own message: the DRF view answers those)."""
    parts = get_authorization_header(request).split()  # type: ignore[arg-type]  # it reads request.headers only
    if len(parts) != 2 or parts[0].lower() != AUTHENTICATION.keyword.lower().encode():
        return None
    try:
        return parts[1].decode()
    except UnicodeError:
        return None


def takes(request: HttpRequest) -> str | None:
    """The token if this path answers the request, else None (the DRF view does)."""
    if request.method != "GET" or request.META.get("HTTP_ACCEPT") not in JSON_ACCEPTED:
        return None
    if FORMAT_PARAMETER in request.GET:
        return None
    return token_key(request)


def authenticate(key: str):
    """The token's user and token (BrandTokenAuthentication), its statement doubling as the health check."""
    # django-stubs leave out these two attributes of BaseDatabaseWrapper (Django 4.1's CONN_HEALTH_CHECKS).
    reused = connection.connection is not None and connection.health_check_enabled  # type: ignore[attr-defined]
    if reused:
        connection.health_check_done = True  # type: ignore[attr-defined]  # the statement below tells instead
    try:
        return AUTHENTICATION.authenticate_credentials(key)
    except (OperationalError, InterfaceError):
        if not reused:
            raise
        connection.close()  # broken since its last request (a database restart): what the health check would do
        return AUTHENTICATION.authenticate_credentials(key)


def render_results(rows: list[dict]) -> bytes:
    return render_json(search.creator_rows(rows))


def answer(request: HttpRequest, key: str, headers: dict[str, str]) -> HttpResponse:
    try:
        user, token = authenticate(key)
        request.user = user  # as DRF leaves it for the middleware after the view
        wait = throttling.spend([f"brand-{token.brand_id}"], method="GET")
        if wait:
            raise Throttled(wait)
        data = request.GET
        unknown = unknown_parameters(data, params.SEARCH_PARAMETERS)
        if unknown:
            raise ValidationError(unknown)
        try:
            query, ordering = params.search_from_parameters(data)
            size = params.page_size(data)
            results, next_cursor, previous_cursor = search_cache.cached_rendered_page(
                query, ordering, cursor=data.get(search.CURSOR), size=size, render=render_results)
        except search.InvalidSearch as exc:
            raise ValidationError(exc.errors) from exc
    except APIException as exc:
        return error_response(exc, headers)
    base_url = request.build_absolute_uri()
    links = [render_json(params.with_parameter(base_url, search.CURSOR, cursor))
             for cursor in (next_cursor, previous_cursor)]
    body = b'{"next":%s,"previous":%s,"results":%s}' % (links[0], links[1], results)
    return HttpResponse(body, content_type="application/json", headers=headers)


def error_response(exc: APIException, headers: dict[str, str]) -> HttpResponse:
    """The DRF view's answer to an exception: its handler's data, status and headers, rendered as its JSON."""
    if isinstance(exc, AuthenticationFailed):
        exc.auth_header = AUTHENTICATION.keyword  # type: ignore[attr-defined]  # as APIView does (authenticate_header)
    response = api_exception_handler(exc, {"request": None, "view": None})
    return HttpResponse(render_json(response.data), status=response.status_code, content_type="application/json",
                        headers={**{name: value for name, value in response.items() if name != "Content-Type"},
                                 **headers})


def with_lean_path(drf_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The DRF view (as_view()'s function), answering the requests this path takes itself. Its attributes (the view
    class for the schema, csrf_exempt) are the DRF view's."""
    view_class = drf_view.cls  # type: ignore[attr-defined]
    instance = view_class(**drf_view.initkwargs)  # type: ignore[attr-defined]
    instance.setup(HttpRequest())  # as for each request: HEAD answered as GET, so allowed
    headers = dict(instance.default_response_headers)  # Allow, and Vary: Accept (more than one renderer)

    def creator_search(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = takes(request)
        if key is None:
            return drf_view(request, *args, **kwargs)
        return answer(request, key, headers)

    creator_search.__dict__.update(drf_view.__dict__)
    creator_search.__name__ = creator_search.__qualname__ = getattr(drf_view, "__name__", "creator_search")
    creator_search.__doc__ = drf_view.__doc__
    return creator_search
