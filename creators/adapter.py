"""django-allauth, the creator portal's way: nobody signs up (accounts are claimed from a link), signing in lands on
the creator pages, and allauth's e-mails (password reset, verification) are sent by a Celery task after the
transaction commits."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction

from core.tasks import enqueue


class CreatorAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def get_login_redirect_url(self, request) -> str:
        return "/creators/"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = getattr(self, "request", None)
        context = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        message = self.render_mail(template_prefix, email, context)
        html = next((content for content, mimetype in getattr(message, "alternatives", [])
                     if mimetype == "text/html"), "")
        subject, text, to = message.subject, str(message.body), email
        transaction.on_commit(lambda: enqueue("creators.send_email", to, subject, text, str(html)))
