"""pain.002 status reports through the statement upload: a rejection fails its payment exactly as a failure recorded
by hand (money back on payable, an account reason blocks the payee), an acceptance is recorded and the payment stays
sent, anything doubtful is listed for a person; the same report twice changes nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payouts.exceptions import StatementAlreadyImported, StatementRefused
from payouts.models import LedgerEntry, LedgerTransaction, Payee, Payment, PaymentBatch, StatementImport
from payouts.services.statements import payment_mark_failed, statement_import
from tests.payouts.batches.helpers import K, assert_ledger_balanced, balance, paid_entry, statement, status_report
from tests.payouts.batches.test_statements import released  # noqa: F401 - the fixture
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db
P = Payment.Status


def statuses(batch) -> dict[str, str]:
    return dict(Payment.objects.filter(batch=batch).values_list("partner__handle", "status"))


def test_a_rejection_fails_the_payment_like_a_failure_by_hand_and_the_rest_is_recorded_or_listed(
        released, checker):  # noqa: F811
    partners, _run, batch, payments = released
    ana, ben = payments["ana"], payments["ben"]
    data = status_report("PSR-1", batch.pk, (ana, "RJCT", "AC04"), (ben, "ACSC"), ("CP999-1", "RJCT", "AC01"),
                         (ben, "RJCT", "AM04", ben.amount_minor + 1, "USD"))

    imported = statement_import(data=data, file_name="pain002.xml", actor=checker)

    assert (imported.kind, imported.identifier) == ("pain.002", "pain.002 PSR-1")
    assert (imported.failed_count, imported.unmatched_count, imported.paid_count) == (1, 2, 0)
    lines = list(imported.lines.values_list("position", "end_to_end_id", "result", "reason_code"))
    assert lines == [(1, ana.end_to_end_id, "failed", "AC04"), (2, ben.end_to_end_id, "recorded", ""),
                     (3, "CP999-1", "unmatched", "AC01"), (4, ben.end_to_end_id, "unmatched", "AM04")]
    assert "differs from payment" in imported.lines.get(position=4).message
    ana.refresh_from_db()
    assert (ana.status, ana.reason_code) == (P.FAILED, "AC04")
    assert ana.reason.startswith("AC04 account closed: pain.002 PSR-1")
    assert statuses(batch)["ben"] == P.SENT
    # The same movement and hold as payment_mark_failed: sent -> payable, the payee blocked (an account reason)
    assert (balance(partners["ana"], K.PARTNER_SENT), balance(partners["ana"], K.PARTNER_PAYABLE)) == (0, 7_500_00)
    assert (balance(partners["ben"], K.PARTNER_SENT), balance(partners["ben"], K.PARTNER_PAYABLE)) == (2_500_00, 0)
    assert LedgerTransaction.objects.filter(key=f"statement:{imported.pk}:failed").count() == 1
    assert "payment failed: AC04 account closed" in Payee.objects.get(partner=partners["ana"]).blocked_reason
    assert Payee.objects.get(partner=partners["ben"]).blocked_reason == ""
    assert_ledger_balanced()

    entries = LedgerEntry.objects.count()
    with pytest.raises(StatementAlreadyImported):
        statement_import(data=data, file_name="again.xml", actor=checker)
    assert LedgerEntry.objects.count() == entries
    assert StatementImport.objects.count() == 1
    assert statuses(batch) == {"ana": P.FAILED, "ben": P.SENT}


def test_a_second_report_repeating_a_rejection_and_rejecting_a_paid_payment_changes_nothing(
        released, checker):  # noqa: F811
    _partners, _run, batch, payments = released
    ana, ben = payments["ana"], payments["ben"]
    payment_mark_failed(payment_id=ana.pk, reason_code="AC01", reason="portal", actor=checker)
    statement_import(data=statement("STMT-P", paid_entry(ben)), file_name="s.xml", actor=checker)
    entries = LedgerEntry.objects.count()

    imported = statement_import(data=status_report("PSR-2", batch.pk, (ana, "RJCT", "AC01"), (ben, "RJCT", "AC04"),
                                                   (ben, "ACSC")), file_name="p.xml", actor=checker)

    assert list(imported.lines.values_list("result", flat=True)) == ["already", "unmatched", "already"]
    assert "recorded as paid" in imported.lines.get(position=2).message
    assert LedgerEntry.objects.count() == entries
    assert statuses(batch) == {"ana": P.FAILED, "ben": P.PAID}
    assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.CLOSED


def test_a_whole_message_rejected_is_listed_for_a_person_not_guessed(released, checker):  # noqa: F811
    _partners, _run, batch, payments = released
    entries = LedgerEntry.objects.count()
    data = status_report("PSR-3", batch.pk, (payments["ana"], ""), group_status="RJCT", group_reason="FF01")

    imported = statement_import(data=data, file_name="p.xml", actor=checker)

    assert list(imported.lines.values_list("outcome", "result", "reason_code")) == [
        ("review", "unmatched", "FF01"), ("review", "unmatched", "")]
    assert f"the whole message batch-{batch.pk}-001 rejected" in imported.lines.get(position=1).message
    assert (imported.failed_count, imported.unmatched_count) == (0, 2)
    assert LedgerEntry.objects.count() == entries
    assert statuses(batch) == {"ana": P.SENT, "ben": P.SENT}


def test_a_status_about_another_batchs_message_or_a_draft_is_listed(released, checker, maker):  # noqa: F811
    _partners, _run, batch, payments = released
    data = status_report("PSR-4", batch.pk + 1, (payments["ana"], "RJCT", "AC04"))
    [line] = statement_import(data=data, file_name="p.xml", actor=checker).lines.all()
    assert line.result == "unmatched"
    assert f"was sent in batch {batch.pk}'s files" in line.message
    assert statuses(batch)["ana"] == P.SENT


def test_a_rejection_without_a_reason_code_fails_with_narr_and_does_not_block(released, checker):  # noqa: F811
    partners, _run, batch, payments = released
    statement_import(data=status_report("PSR-5", batch.pk, (payments["ben"], "RJCT")), file_name="p.xml",
                     actor=checker)
    ben = Payment.objects.get(pk=payments["ben"].pk)
    assert (ben.status, ben.reason_code) == (P.FAILED, "NARR")
    assert Payee.objects.get(partner=partners["ben"]).blocked_reason == ""
    assert_ledger_balanced()


def test_a_malformed_report_is_refused_naming_the_element_and_changes_nothing(released, checker):  # noqa: F811
    _partners, _run, batch, payments = released
    data = status_report("PSR-6", batch.pk, (payments["ana"], "RJCT", "AC04"), (payments["ben"], "OKAY"))
    with pytest.raises(StatementRefused, match=r"p\.xml: Entry 2 .*TxSts 'OKAY' is not an ISO 20022 payment status"):
        statement_import(data=data, file_name="p.xml", actor=checker)
    assert StatementImport.objects.count() == 0
    assert statuses(batch) == {"ana": P.SENT, "ben": P.SENT}


def test_the_upload_page_takes_a_status_report_with_a_second_factor(client, released, checker):  # noqa: F811
    _partners, _run, batch, payments = released
    url = reverse("admin:payouts_statementimport_upload")
    client.force_login(checker)
    assert client.get(url).status_code == 403  # no second factor
    verified_client(client, checker)
    assert "pain.002" in client.get(url).content.decode()
    data = status_report("PSR-7", batch.pk, (payments["ana"], "RJCT", "MS03"))
    response = client.post(url, {"statement": SimpleUploadedFile("p.xml", data, "text/xml")}, follow=True)
    assert response.status_code == 200
    assert "0 paid, 0 returned, 1 failed, 0 unmatched" in response.content.decode()
    assert statuses(batch)["ana"] == P.FAILED


def rejected_batch_queries(count: int, run_approver, maker, checker) -> tuple[int, PaymentBatch, StatementImport]:
    """A released batch of ``count`` payments, every one rejected by one status report (FF01: not about the account);
    returns the number of queries the import took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payouts.services.batches import batch_create, batch_release
    from tests.payouts.batches.helpers import approved_program_run, payee

    partners: dict = {}
    approved_program_run(run_approver, views={f"p{count}-{n:03d}": n + 1 for n in range(count)}, partners=partners)
    for partner in partners.values():
        payee(partner)
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=count,
                  expected_total_minor=batch.control_total_minor)
    data = status_report(f"PSR-MASS-{count}", batch.pk,
                         *((payment, "RJCT", "FF01") for payment in batch.payments.order_by("pk")))
    with CaptureQueriesContext(connection) as queries:
        imported = statement_import(data=data, file_name="mass.xml", actor=checker)
    return len(queries), PaymentBatch.objects.get(pk=batch.pk), imported


def test_a_report_rejecting_a_whole_batch_fails_every_payment_in_statements_that_do_not_grow_with_it(
        run_approver, maker, checker):
    few, small, _ = rejected_batch_queries(3, run_approver, maker, checker)
    many, batch, imported = rejected_batch_queries(60, run_approver, maker, checker)

    assert many == few  # the same statements for 60 rejections as for 3
    assert imported.failed_count == 60
    assert set(batch.payments.values_list("status", "reason_code")) == {(P.FAILED, "FF01")}
    assert batch.status == PaymentBatch.Status.CLOSED
    assert small.status == PaymentBatch.Status.CLOSED
    assert LedgerTransaction.objects.filter(key=f"statement:{imported.pk}:failed").count() == 1
    for partner_id in batch.payments.values_list("partner_id", flat=True):
        assert balance(partner_id, K.PARTNER_SENT) == 0
    assert sum(balance(partner_id, K.PARTNER_PAYABLE) for partner_id in batch.payments.values_list(
        "partner_id", flat=True)) == batch.control_total_minor
    assert not Payee.objects.exclude(blocked_reason="").exists()  # FF01 is not about the account
    assert_ledger_balanced()
