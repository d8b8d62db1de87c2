"""The earnings page lists the partner's own payments with their status in words, and never another partner's."""

import pytest
from django.utils import timezone

from payouts.models.batches import Payment, PaymentBatch
from tests.creators.conftest import make_creator
from tests.creators.test_pages import partner_of
from tests.partnerships.factories import UserFactory

pytestmark = pytest.mark.django_db


def payment(partner, amount_minor, status, key, **fields):
    batch = PaymentBatch.objects.create(currency="EUR", rail="sepa", created_by=UserFactory())
    return Payment.objects.create(batch=batch, partner=partner, currency="EUR", amount_minor=amount_minor,
                                  end_to_end_id=key, status=status, **fields)


def test_payments_with_their_status_and_only_the_partners_own(creator_client, creator):
    now = timezone.now()
    payment(partner_of(creator), 120_00, Payment.Status.SENT, "E2E-1", sent_at=now)
    payment(partner_of(creator), 80_00, Payment.Status.RETURNED, "E2E-2", sent_at=now,
            reason_code="AC04", reason="Account closed")
    payment(partner_of(make_creator()), 999_00, Payment.Status.PAID, "E2E-3", sent_at=now, settled_at=now)
    page = creator_client.get("/creators/earnings/").content.decode()
    assert "120.00 EUR · Sent to the bank" in page
    assert "80.00 EUR · Returned by the bank" in page
    assert "Account closed" in page
    assert "999.00" not in page


def test_payments_in_spanish(creator_client, creator):
    payment(partner_of(creator), 1_500_00, Payment.Status.RETURNED, "E2E-9", sent_at=timezone.now())
    page = creator_client.get("/creators/earnings/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Pagos" in page
    assert "Devuelto por el banco" in page
    assert "Returned by the bank" not in page


def release(batch):
    """What payouts.services.batches releases do: the payments marked sent in bulk, then the batch saved."""
    now = timezone.now()
    Payment.objects.filter(batch=batch).update(status=Payment.Status.SENT, sent_at=now)
    batch.status, batch.released_at = PaymentBatch.Status.RELEASED, now
    batch.save(update_fields=["status", "released_at"])


def test_payment_sent_then_returned_mail_once_each(smtp, creator, django_capture_on_commit_callbacks):
    from payouts.models import StatementImport

    sent = payment(partner_of(creator), 120_00, Payment.Status.PENDING, "E2E-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        release(sent.batch)
    [message] = smtp.to(creator.email)
    assert message["Subject"] == "[Creator Partnerships] Payment sent: 120.00 EUR"
    assert "http://127.0.0.1:8000/creators/earnings/" in smtp.text(message)
    for callback in callbacks:  # the task delivered twice
        callback()
    assert len(smtp.to(creator.email)) == 1
    statement = StatementImport.objects.create(identifier="STMT-1", kind="camt053", file_name="s.xml", sha256="0" * 64,
                                               imported_by=UserFactory())
    Payment.objects.filter(pk=sent.pk).update(status=Payment.Status.RETURNED, returned_statement=statement,
                                              reason="Account closed")
    statement.returned_count = 1
    with django_capture_on_commit_callbacks(execute=True):
        statement.save(update_fields=["paid_count", "returned_count", "unmatched_count"])
    returned = smtp.to(creator.email)[-1]
    assert returned["Subject"] == "[Creator Partnerships] Payment returned: 120.00 EUR"
    assert "Account closed" in smtp.text(returned)
    assert len(smtp.to(creator.email)) == 2


def test_every_paid_partner_with_an_account_is_told_however_large_the_batch(smtp, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    """Payments are read a page at a time (a small page here) and only for partners with a creator account; none is
    skipped past a page boundary, and partners without an account cost nothing."""
    from creators.services import notifications

    monkeypatch.setattr(notifications, "PAGE", 2)
    creators = [make_creator() for _ in range(5)]
    batch = PaymentBatch.objects.create(currency="EUR", rail="sepa", created_by=UserFactory())
    for number, creator in enumerate(creators):
        Payment.objects.create(batch=batch, partner=partner_of(creator), currency="EUR", amount_minor=10_00 + number,
                               end_to_end_id=f"E2E-P{number}", status=Payment.Status.PENDING)
    from tests.partnerships.factories import PartnerFactory

    for number in range(3):  # partners nobody signs in for
        Payment.objects.create(batch=batch, partner=PartnerFactory(), currency="EUR", amount_minor=5_00,
                               end_to_end_id=f"E2E-X{number}", status=Payment.Status.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        release(batch)
    for number, creator in enumerate(creators):
        [message] = smtp.to(creator.email)
        assert message["Subject"] == f"[Creator Partnerships] Payment sent: 10.{number:02d} EUR"
