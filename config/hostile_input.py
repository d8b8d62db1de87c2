"""Refuse text no database column can hold before any view sees it.

PostgreSQL cannot store a NUL character in text (psycopg raises ``DataError``), and a lone UTF-16 surrogate (which
only a JSON ``\\ud800`` escape can produce) cannot be encoded at all; both reached the database from handles, notes,
messages and admin search and filter parameters and became 500s. Checking every form and serializer field would
leave the next one out, so this middleware checks the path, every query-string parameter, every form field and,
under the API, every string and key of a JSON body, and answers 400 naming the parameter: JSON under the API
(the shape of a DRF validation error), plain text elsewhere.

A body too large or malformed is left alone here: the view refuses it with its own, clearer error."""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponseBadRequest, JsonResponse

API_PREFIX = "/api/"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_TYPES = ("application/json",)
UNSTORABLE = "{name} contains a character that cannot be stored (a NUL byte or a lone surrogate); remove it."
PATH = "path"
BODY = "body"


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a character no database column accepts: NUL, or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_bad_in_query(query) -> str | None:
    for key, values in query.lists():
        if unstorable(key):
            return BODY if not key else repr(key.replace("\x00", ""))
        if any(unstorable(value) for value in values):
            return key
    return None


def _first_bad_in_json(value, name: str) -> str | None:
    if isinstance(value, str):
        return name if unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                return name
            found = _first_bad_in_json(item, key)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _first_bad_in_json(item, name)
            if found:
                return found
    return None


class UnstorableTextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = self.first_bad_parameter(request)
        if name is None:
            return self.get_response(request)
        message = UNSTORABLE.format(name=name)
        if request.path.startswith(API_PREFIX):
            return JsonResponse({name: [message]}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")

    def first_bad_parameter(self, request) -> str | None:
        if unstorable(request.path):
            return PATH
        found = _first_bad_in_query(request.GET)
        if found or request.method in ("GET", "HEAD", "OPTIONS"):
            return found
        content_type = request.content_type or ""
        if not request.path.startswith(API_PREFIX):
            # Pages: the CSRF check reads the form next anyway and fails the same way on a broken body.
            return _first_bad_in_query(request.POST) if content_type in FORM_TYPES else None
        # The API: DRF reads the body itself and answers JSON for one too large or malformed, so a body that
        # cannot be read is left to it. Multipart is scanned as bytes (the API takes no files): parsing it here
        # would consume the stream DRF needs.
        try:
            if content_type == "application/x-www-form-urlencoded":
                return _first_bad_in_query(request.POST)
            if content_type == "multipart/form-data":
                return BODY if b"\x00" in request.body else None
            if content_type in JSON_TYPES:
                return _first_bad_in_json(json.loads(request.body or b"null"), BODY)
        except (RequestDataTooBig, TooManyFieldsSent, ValueError):
            return None
        return None
