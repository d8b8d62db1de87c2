"""Payment batches: creation per currency and rail (with who is left out and why), maker-checker release with the
confirmed count and control total, the bank files and the ledger."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings

from payouts.banking.nacha_parse import parse_nacha
from payouts.exceptions import BatchRefused, RunRefused
from payouts.models import (
    LedgerEntry,
    Payment,
    PaymentBatch,
    PaymentBatchExclusion,
    PaymentItem,
    PayoutRun,
)
from payouts.services.batches import batch_cancel, batch_create, batch_preview, batch_release
from payouts.services.settlement import payout_run_mark_paid
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory
from tests.payouts.batches.helpers import (
    K,
    approved_program_run,
    assert_ledger_balanced,
    balance,
    hold,
    payee,
)
from tests.payouts.factories import MONTH

pytestmark = pytest.mark.django_db


@pytest.fixture
def usd_world(run_approver):
    """Two approved USD programs: ana (ACH payee) is in both; ben has no payee, cat changed her bank details
    (held), dan's last payment came back (blocked), eve is paid by SEPA in EUR."""
    partners: dict = {}
    first = approved_program_run(run_approver, views={"ana": 4, "ben": 1, "cat": 1, "dan": 1, "eve": 1},
                                 partners=partners)
    second = approved_program_run(run_approver, views={"ana": 1, "ben": 1}, partners=partners)
    payee(partners["ana"])
    held = payee(partners["cat"])
    hold(held)
    payee(partners["dan"], blocked_reason="payment returned: AC04 account closed (CP1-4)")
    payee(partners["eve"], rail="sepa", currency="EUR")
    return partners, first, second


def test_create_pays_one_payment_per_partner_across_programs_and_lists_who_is_left_out(usd_world, maker):
    partners, first, second = usd_world
    ana_lines = sum(line.net_minor for run in (first, second) for line in run.lines.filter(partner=partners["ana"]))

    batch = batch_create(currency="USD", rail="ach", actor=maker)

    payment = Payment.objects.get(batch=batch)
    assert (payment.partner, payment.amount_minor, payment.status) == (partners["ana"], ana_lines, "pending")
    assert payment.end_to_end_id == f"CP{batch.pk}-{partners['ana'].pk}"
    assert payment.masked_account.startswith("···")
    assert payment.payee_last4
    assert (batch.payment_count, batch.control_total_minor, batch.status) == (1, ana_lines, "draft")
    assert set(PaymentItem.objects.filter(payment=payment).values_list("run_id", flat=True)) == {first.pk, second.pk}
    reasons = dict(PaymentBatchExclusion.objects.filter(batch=batch).values_list("partner__handle", "reason"))
    assert reasons == {
        "ben": "no bank details (payee) on file",
        "cat": "bank details changed: held until the change is confirmed by a second person or the hold ends",
        "dan": "payee blocked: payment returned: AC04 account closed (CP1-4)",
        "eve": "payee is paid by another rail (sepa)",
    }
    assert LedgerEntry.objects.filter(transaction__key__startswith="batch:").count() == 0  # a draft posts nothing


def test_preview_shows_the_same_as_creating(usd_world, maker):
    preview = batch_preview(currency="USD", rail="ach")
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    assert (preview.payments, preview.total_minor) == (batch.payment_count, batch.control_total_minor)
    assert {x.partner for x in preview.left_out} == {"ben", "cat", "dan", "eve"}


def test_creating_twice_covers_no_cent_twice(usd_world, maker, checker):
    first = batch_create(currency="USD", rail="ach", actor=maker)
    items = PaymentItem.objects.count()
    with pytest.raises(BatchRefused, match="Nothing to pay in USD by ach"):
        batch_create(currency="USD", rail="ach", actor=checker)
    assert PaymentItem.objects.count() == items
    assert PaymentBatch.objects.exclude(pk=first.pk).count() == 0  # the refused one rolled back


def test_a_cancelled_draft_frees_its_lines_for_a_new_batch(usd_world, maker):
    first = batch_create(currency="USD", rail="ach", actor=maker)
    batch_cancel(batch_id=first.pk, actor=maker, reason="wrong day")
    second = batch_create(currency="USD", rail="ach", actor=maker)
    assert second.control_total_minor == first.control_total_minor
    assert PaymentBatch.objects.get(pk=first.pk).status == "cancelled"


def test_other_rail_and_currency_get_their_own_batch(run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, currency="EUR", views={"eva": 3, "finn": 1}, partners=partners)
    payee(partners["eva"], rail="sepa", currency="EUR")
    payee(partners["finn"], rail="other", currency="EUR")
    sepa = batch_create(currency="EUR", rail="sepa", actor=maker)
    other = batch_create(currency="EUR", rail="other", actor=maker)
    assert list(sepa.payments.values_list("partner__handle", flat=True)) == ["eva"]
    assert list(other.payments.values_list("partner__handle", flat=True)) == ["finn"]
    assert sepa.control_total_minor == 7_500_00
    assert other.control_total_minor == 2_500_00


@pytest.mark.parametrize(("currency", "rail", "message"), [
    ("USD", "sepa", "The sepa rail pays in EUR only, not USD."),
    ("EUR", "ach", "The ach rail pays in USD only, not EUR."),
    ("XXQ", "other", "'XXQ' is not a currency"),
    ("USD", "wire", "'wire' is not a payment rail"),
])
def test_create_refuses_a_rail_and_currency_that_do_not_go_together(maker, currency, rail, message):
    with pytest.raises(BatchRefused, match=message):
        batch_create(currency=currency, rail=rail, actor=maker)
    assert not PaymentBatch.objects.exists()


def test_creating_needs_the_permission(usd_world, outsider):
    with pytest.raises(Exception, match="may not create payment batches"):
        batch_create(currency="USD", rail="ach", actor=outsider)


def test_its_creator_cannot_release_it(usd_world, maker):
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    with pytest.raises(BatchRefused, match="created batch .* and so cannot release it"):
        batch_release(batch_id=batch.pk, actor=maker, expected_count=batch.payment_count,
                      expected_total_minor=batch.control_total_minor)
    batch.refresh_from_db()
    assert batch.status == "draft"
    assert not batch.files.exists()
    assert not Payment.objects.exclude(status="pending").exists()


def test_a_wrong_confirmed_total_is_refused(usd_world, maker, checker):
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    with pytest.raises(BatchRefused, match="You confirmed 1 payments for"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=1,
                      expected_total_minor=batch.control_total_minor + 1)
    with pytest.raises(BatchRefused, match="You confirmed 2 payments"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=2,
                      expected_total_minor=batch.control_total_minor)
    assert PaymentBatch.objects.get(pk=batch.pk).status == "draft"


def test_release_writes_the_files_marks_payments_sent_and_moves_in_payment_to_sent(usd_world, maker, checker):
    partners, *_ = usd_world
    ana = partners["ana"]
    in_payment_before = balance(ana, K.PARTNER_IN_PAYMENT)
    batch = batch_create(currency="USD", rail="ach", actor=maker)

    batch_release(batch_id=batch.pk, actor=checker, expected_count=1, expected_total_minor=batch.control_total_minor)

    batch.refresh_from_db()
    assert (batch.status, batch.released_by) == ("released", checker)
    (written,) = batch.files.all()
    path = Path(settings.MEDIA_ROOT) / written.path
    assert path.parent == Path(settings.MEDIA_ROOT) / "payment_files" / str(batch.pk)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == written.sha256
    assert (written.payments, written.control_total_minor) == (1, batch.control_total_minor)
    assert Payment.objects.get(batch=batch).status == "sent"
    assert balance(ana, K.PARTNER_IN_PAYMENT) == in_payment_before - batch.control_total_minor
    assert balance(ana, K.PARTNER_SENT) == batch.control_total_minor
    assert_ledger_balanced()
    with pytest.raises(BatchRefused, match="it is released to the bank; only draft batches can be released"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=1,
                      expected_total_minor=batch.control_total_minor)


def test_an_organisation_is_paid_by_a_ccd_entry_and_a_person_by_ppd(run_approver, maker, checker):
    pub = PartnerFactory(handle="pub", kind="publisher", date_of_birth=None)
    DailyMetricFactory(partner=pub, day=MONTH.replace(day=15), views=1, qualified_views=1)
    partners = {"pub": pub}
    approved_program_run(run_approver, views={"ana": 3, "pub": 1}, partners=partners)
    payee(partners["ana"])
    payee(partners["pub"])
    batch = batch_create(currency="USD", rail="ach", actor=maker)

    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)

    (written,) = PaymentBatch.objects.get(pk=batch.pk).files.all()
    parsed = parse_nacha((Path(settings.MEDIA_ROOT) / written.path).read_text())
    by_id = {payment.end_to_end_id: payment.organisation for payment in parsed.payments}
    assert by_id == {f"CP{batch.pk}-{partners['ana'].pk}": False, f"CP{batch.pk}-{partners['pub'].pk}": True}
    assert parsed.batch_count == 2
    assert_ledger_balanced()


def test_a_payee_changed_after_the_batch_was_made_refuses_its_release(usd_world, maker, checker):
    partners, *_ = usd_world
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    hold(partners["ana"].payee)
    with pytest.raises(BatchRefused, match="bank details of some partners changed"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=1,
                      expected_total_minor=batch.control_total_minor)
    assert not batch.files.exists()


def test_a_run_in_a_batch_cannot_be_marked_paid_by_hand(usd_world, maker, checker):
    _partners, first, _second = usd_world
    batch_create(currency="USD", rail="ach", actor=maker)
    with pytest.raises(RunRefused, match="is covered by payment batch"):
        payout_run_mark_paid(run_id=first.pk, actor=checker, reference="BANK-1")
    assert PayoutRun.objects.get(pk=first.pk).status == "approved"


def test_a_sepa_batch_is_released_in_euros(run_approver, maker, checker):
    partners: dict = {}
    approved_program_run(run_approver, currency="EUR", views={"eva": 3, "finn": 1}, partners=partners)
    for partner in partners.values():
        payee(partner, rail="sepa", currency="EUR")
    batch = batch_create(currency="EUR", rail="sepa", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=10_000_00)
    (written,) = batch.files.all()
    assert (written.payments, written.control_total_minor) == (2, 10_000_00)
    assert set(batch.payments.values_list("status", flat=True)) == {"sent"}
    assert_ledger_balanced()


def test_a_second_ach_batch_the_same_day_goes_on_with_the_next_file_modifier(run_approver, maker, checker):
    """A bank refuses a second NACHA file of the day with the same file ID modifier: the second batch's file is B."""
    from pathlib import Path

    from django.conf import settings

    from payouts.services.batches import batch_files_directory
    from tests.payouts.batches.helpers import approved_program_run, payee

    names = []
    for handle in ["ana", "ben"]:  # two programs' runs, each paid by its own batch
        partners: dict = {}
        approved_program_run(run_approver, views={handle: 1}, partners=partners)
        payee(partners[handle])
        batch = batch_create(currency="USD", rail="ach", actor=maker)
        batch_release(batch_id=batch.pk, actor=checker, expected_count=1,
                      expected_total_minor=batch.control_total_minor)
        [file] = batch.files.all()
        assert Path(settings.MEDIA_ROOT, file.path).parent == batch_files_directory(batch).resolve()
        names.append(Path(settings.MEDIA_ROOT, file.path).read_text()[33])
    assert names == ["A", "B"]


def test_a_sepa_file_the_schema_refuses_refuses_the_release(run_approver, maker, checker, monkeypatch):
    """Release checks SEPA files against the ISO schema (PAYMENT_FILE_SCHEMA_CHECK: each batch's first file by
    default): a file that does not validate stops the release, and nothing is posted or kept."""
    from payouts.banking import sepa
    from payouts.models import LedgerTransaction
    from payouts.services.batches import batch_files_directory

    checked = []
    monkeypatch.setattr(sepa, "schema_errors", lambda path: checked.append(path) or ["line 9: Element 'IBAN': no"])
    partners: dict = {}
    approved_program_run(run_approver, currency="EUR", views={"eva": 1}, partners=partners)
    payee(partners["eva"], rail="sepa", currency="EUR")
    batch = batch_create(currency="EUR", rail="sepa", actor=maker)
    transactions = LedgerTransaction.objects.count()
    with pytest.raises(BatchRefused, match="does not validate against .*line 9: Element 'IBAN'"):
        batch_release(batch_id=batch.pk, actor=checker, expected_count=1, expected_total_minor=10_000_00)
    assert len(checked) == 1
    assert LedgerTransaction.objects.count() == transactions
    assert set(batch.payments.values_list("status", flat=True)) == {"pending"}
    assert not batch_files_directory(batch).exists()
