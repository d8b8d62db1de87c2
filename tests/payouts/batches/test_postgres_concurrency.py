"""On PostgreSQL, two people at once: two releases of the same batch give one release; the same statement (or pain.002
status report) imported twice at once gives one set of postings; two creations at once cover each line once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from payouts.exceptions import PayoutsError, StatementAlreadyImported
from payouts.models import (
    LedgerTransaction,
    Payment,
    PaymentBatch,
    PaymentBatchFile,
    PaymentItem,
    StatementImport,
    StatementLine,
)
from payouts.services.batches import batch_create, batch_release
from payouts.services.statements import statement_import
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import (
    approved_program_run,
    assert_ledger_balanced,
    paid_entry,
    payee,
    returned_entry,
    statement,
    status_report,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(*calls):
    """Run the calls in threads started together; return (results, errors)."""
    barrier, results, errors = threading.Barrier(len(calls)), [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def released_batch(maker, checker) -> PaymentBatch:
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)
    return batch


@pytest.fixture
def ready(run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    for partner in partners.values():
        payee(partner)
    return partners


def test_two_creations_at_once_cover_each_line_once(ready, maker, checker):
    results, errors = at_once(lambda: batch_create(currency="USD", rail="ach", actor=maker),
                              lambda: batch_create(currency="USD", rail="ach", actor=checker))
    assert len(results) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], PayoutsError)
    assert "Nothing to pay" in str(errors[0])
    assert PaymentBatch.objects.count() == 1
    assert PaymentItem.objects.count() == 2


def test_two_releases_at_once_give_one_release(ready, maker, checker):
    other = UserFactory(username="third-approver", groups=["Finance approvers"])
    batch = batch_create(currency="USD", rail="ach", actor=maker)

    def release(user):
        return lambda: batch_release(batch_id=batch.pk, actor=user, expected_count=2,
                                     expected_total_minor=batch.control_total_minor)

    results, errors = at_once(release(checker), release(other))

    assert len(results) == 1
    assert len(errors) == 1
    assert "only draft batches can be released" in str(errors[0])
    assert LedgerTransaction.objects.filter(key=f"batch:{batch.pk}:release").count() == 1
    assert PaymentBatchFile.objects.filter(batch=batch).count() == 1
    assert set(Payment.objects.values_list("status", flat=True)) == {"sent"}
    assert_ledger_balanced()


def test_the_same_statement_imported_twice_at_once_posts_once(ready, maker, checker):
    released_batch(maker, checker)
    ana, ben = Payment.objects.order_by("partner__handle")
    data = statement("STMT-X", paid_entry(ana), returned_entry(ben))
    keys_before = LedgerTransaction.objects.count()

    results, errors = at_once(lambda: statement_import(data=data, file_name="a.xml", actor=checker),
                              lambda: statement_import(data=data, file_name="b.xml", actor=maker))

    assert len(results) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], StatementAlreadyImported)
    assert StatementImport.objects.count() == 1
    imported = StatementImport.objects.get()
    assert LedgerTransaction.objects.count() == keys_before + 2
    assert set(LedgerTransaction.objects.filter(key__startswith="statement:").values_list("key", flat=True)) == {
        f"statement:{imported.pk}:paid", f"statement:{imported.pk}:returned"}
    assert dict(Payment.objects.values_list("partner__handle", "status")) == {"ana": "paid", "ben": "returned"}
    assert_ledger_balanced()


def test_the_same_status_report_imported_twice_at_once_fails_once(ready, maker, checker):
    batch = released_batch(maker, checker)
    ana, ben = Payment.objects.order_by("partner__handle")
    data = status_report("PSR-X", batch.pk, (ana, "RJCT", "AC04"), (ben, "ACSC"))
    keys_before = LedgerTransaction.objects.count()

    results, errors = at_once(lambda: statement_import(data=data, file_name="a.xml", actor=checker),
                              lambda: statement_import(data=data, file_name="b.xml", actor=maker))

    assert len(results) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], StatementAlreadyImported)
    assert StatementImport.objects.count() == 1
    assert LedgerTransaction.objects.count() == keys_before + 1
    assert LedgerTransaction.objects.filter(key=f"statement:{StatementImport.objects.get().pk}:failed").count() == 1
    assert dict(Payment.objects.values_list("partner__handle", "status")) == {"ana": "failed", "ben": "sent"}
    assert_ledger_balanced()


def test_two_reports_rejecting_the_same_payment_at_once_fail_it_once(ready, maker, checker):
    batch = released_batch(maker, checker)
    ana = Payment.objects.order_by("partner__handle").first()

    results, errors = at_once(
        lambda: statement_import(data=status_report("PSR-A", batch.pk, (ana, "RJCT", "AC04")), file_name="a.xml",
                                 actor=checker),
        lambda: statement_import(data=status_report("PSR-B", batch.pk, (ana, "RJCT", "AC04")), file_name="b.xml",
                                 actor=maker))

    assert errors == []
    assert sorted(imported.failed_count for imported in results) == [0, 1]
    assert sorted(StatementLine.objects.values_list("result", flat=True)) == ["already", "failed"]
    assert LedgerTransaction.objects.filter(key__endswith=":failed").count() == 1
    assert Payment.objects.get(pk=ana.pk).status == "failed"
    assert_ledger_balanced()
