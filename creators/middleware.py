"""The creator pages speak the visitor's language (English or Spanish, from the browser's Accept-Language or the
language cookie); the admin and the brand pages stay in English."""

from __future__ import annotations

from django.utils import translation

PREFIX = "/creators/"


class CreatorLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        response.headers["Vary"] = ", ".join(filter(None, [response.headers.get("Vary"), "Accept-Language"]))
        return response
