"""The API answers JSON whatever goes wrong with a request's body.

Django refuses a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE, or with more fields or files than
DATA_UPLOAD_MAX_NUMBER_FIELDS / DATA_UPLOAD_MAX_NUMBER_FILES, with exceptions that DRF does not handle, so they
reached Django's HTML 400 page; here they become a JSON 413 or 400 naming the limit."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.views import exception_handler

BODY_TOO_LARGE = (
    "The request body is {length:,} bytes; the API accepts at most {limit:,} (DATA_UPLOAD_MAX_MEMORY_SIZE)."
)
TOO_MANY_FIELDS = "The request has more fields than the API accepts ({limit:,}, DATA_UPLOAD_MAX_NUMBER_FIELDS)."
TOO_MANY_FILES = "The request has more files than the API accepts ({limit:,}, DATA_UPLOAD_MAX_NUMBER_FILES)."


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_body_too_large"


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        request = context.get("request")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        exc = RequestBodyTooLarge(BODY_TOO_LARGE.format(length=length, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
    elif isinstance(exc, TooManyFieldsSent):
        exc = ParseError(TOO_MANY_FIELDS.format(limit=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS))
    elif isinstance(exc, TooManyFilesSent):
        exc = ParseError(TOO_MANY_FILES.format(limit=settings.DATA_UPLOAD_MAX_NUMBER_FILES))
    return exception_handler(exc, context)
