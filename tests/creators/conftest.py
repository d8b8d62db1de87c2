import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from allauth.account.models import EmailAddress

from config.celery import app as celery_app
from creators.models import CreatorMembership
from creators.roles import ensure_group_permissions
from tests.partnerships.factories import PartnerFactory, UserFactory


@pytest.fixture
def manager(db):
    """A partnership manager, with the portal's permission even after a transactional test flushed the groups."""
    user = UserFactory(username="manager", groups=["Partnership managers"])
    ensure_group_permissions()
    return user


@pytest.fixture(autouse=True)
def _eager_tasks(monkeypatch):
    """Notification tasks run in process even where a broker is configured (the PostgreSQL run)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def make_creator(partner=None, email=None):
    partner = partner or PartnerFactory()
    email = email or f"{partner.handle}@example.org"
    user = UserFactory(username=email, email=email, is_staff=False)
    CreatorMembership.objects.create(user=user, partner=partner)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def creator(db):
    return make_creator()


@pytest.fixture
def other_creator(db):
    return make_creator()


@pytest.fixture
def creator_client(client, creator):
    client.force_login(creator, backend="django.contrib.auth.backends.ModelBackend")
    return client


class Inbox:
    """What a real SMTP server received: each message's envelope recipients and parsed message."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address):
        return [message for recipients, message in self.messages if address in recipients]

    @staticmethod
    def text(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp(settings):
    """An SMTP server on the loopback, started for the test; Django sends to it over SMTP."""
    inbox = Inbox()
    with socket.socket() as probe:  # a free port on the loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    yield inbox
    controller.stop()
