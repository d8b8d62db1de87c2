"""On PostgreSQL a large batch writes its bank files in a second thread (its own connection, reading the committed
payments and payees) while the release marks the payments sent and posts the ledger. The outcome is the plain
release's: the same files and postings; and a file that cannot be written leaves nothing posted and no file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from payouts.exceptions import BatchRefused
from payouts.models import LedgerTransaction, Payment, PaymentBatch, PaymentBatchFile
from payouts.services.batches import batch_create, batch_files_directory, batch_release
from tests.payouts.batches.helpers import K, approved_program_run, assert_ledger_balanced, balance, hold, payee

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def draft(settings, run_approver, maker):
    settings.PAYMENT_FILES_BESIDE_POSTINGS_FROM = 1  # every batch takes the two-thread path
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    for partner in partners.values():
        payee(partner)
    return partners, batch_create(currency="USD", rail="ach", actor=maker)


def test_files_written_beside_the_postings_hold_the_batch(draft, checker, monkeypatch):
    from payouts.services import batches

    partners, batch = draft
    threads = []
    beside = batches.beside
    monkeypatch.setattr(batches, "beside", lambda write, post, **kw: threads.append(1) or beside(write, post, **kw))
    released = batch_release(batch_id=batch.pk, actor=checker, expected_count=2,
                             expected_total_minor=batch.control_total_minor)
    assert released.status == PaymentBatch.Status.RELEASED
    [file] = released.files.all()
    assert (file.payments, file.control_total_minor) == (2, 10_000_00)
    text = Path(settings.MEDIA_ROOT, file.path).read_text()
    assert all(payment.end_to_end_id in text for payment in Payment.objects.filter(batch=batch))
    assert set(Payment.objects.filter(batch=batch).values_list("status", flat=True)) == {Payment.Status.SENT}
    assert balance(partners["ana"], K.PARTNER_SENT) == 7_500_00
    assert_ledger_balanced()
    assert threads == [1]  # the two-thread path


def test_a_file_that_cannot_be_written_leaves_nothing_posted(draft, checker, settings):
    _partners, batch = draft
    settings.PAYMENT_ORIGINATOR_ACH_ROUTING = "021000022"  # a wrong check digit: the writer refuses the originator
    transactions = LedgerTransaction.objects.count()
    with pytest.raises(BatchRefused, match="Cannot release"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=2,
                      expected_total_minor=batch.control_total_minor)
    assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.DRAFT
    assert set(Payment.objects.filter(batch=batch).values_list("status", flat=True)) == {Payment.Status.PENDING}
    assert LedgerTransaction.objects.count() == transactions
    assert not PaymentBatchFile.objects.exists()
    assert not batch_files_directory(batch).exists()


def test_a_payee_changed_refuses_the_release_while_its_files_are_being_written(draft, checker, monkeypatch):
    """The payees are checked in the release's transaction while the files are written beside it: the refusal stops
    the writing, and nothing is posted or left on disk."""
    from payouts.services import batches

    partners, batch = draft
    hold(partners["ana"].payee)
    stopped = []
    beside = batches.beside

    def watched(write, post, *, stop):
        try:
            return beside(write, post, stop=stop)
        finally:
            stopped.append(stop.is_set())

    monkeypatch.setattr(batches, "beside", watched)
    transactions = LedgerTransaction.objects.count()
    with pytest.raises(BatchRefused, match="bank details of some partners changed"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=2,
                      expected_total_minor=batch.control_total_minor)
    assert stopped == [True]  # the two-thread path, told to stop
    assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.DRAFT
    assert set(Payment.objects.filter(batch=batch).values_list("status", flat=True)) == {Payment.Status.PENDING}
    assert LedgerTransaction.objects.count() == transactions
    assert not PaymentBatchFile.objects.exists()
    assert not batch_files_directory(batch).exists()
