"""Paying real money through the admin, in a real browser: a finance approver creates a payment batch from an
approved run's page; a second finance approver signs in with a code from their authenticator app, releases it
(typing back the count and control total shown), downloads the SEPA file, uploads the bank's status report (both
transfers accepted: they stay sent) and then its statement (one
payment paid, one returned: account closed) and finds the returned partner's bank details blocked on the
partner's page. Only the data before the journey (partners, payees, the approved run) is made by services."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from lxml import etree

from partnerships.roles import ensure_groups
from payouts.banking import StatementEntry
from payouts.banking.camt_build import build_camt053
from payouts.banking.pain002_build import TransactionStatus, build_pain002
from payouts.models import LedgerAccount, Payee, Payment, PaymentBatch, PayoutRun, StatementImport
from payouts.roles import ensure_group_permissions
from tests.e2e.conftest import admin_login
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import approved_program_run, assert_ledger_balanced, balance, payee
from tests.second_factor import current_code

pytestmark = pytest.mark.django_db(transaction=True)

PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"


@pytest.fixture(autouse=True)
def _bank_settings(settings, tmp_path):
    """Bank files under a scratch media root, and who pays (the live server runs in this process)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PAYMENT_ORIGINATOR_NAME = "Creator Partnerships Test"
    settings.PAYMENT_ORIGINATOR_IBAN, settings.PAYMENT_ORIGINATOR_BIC = "DE89370400440532013000", "COBADEFFXXX"


def text_of(page, selector: str, *texts: str) -> str:
    content = page.inner_text(selector)
    for text in texts:
        assert text in content, f"{text!r} not in {selector}: {content!r}"
    return content


def test_two_finance_approvers_pay_a_run_through_a_sepa_batch_and_a_return_blocks_the_payee(page, screenshot):
    run_approver = UserFactory(username="run-approver", groups=["Finance approvers"])
    maker = UserFactory(username="maker", groups=["Finance approvers"])
    checker = UserFactory(username="checker", groups=["Finance approvers"])
    maker_app = TOTPDevice.objects.create(user=maker, name="phone", confirmed=True)
    checker_app = TOTPDevice.objects.create(user=checker, name="phone", confirmed=True)
    ensure_groups()  # a browser test before this one flushed the tables: the groups' permissions again
    ensure_group_permissions()
    partners: dict = {}
    run = approved_program_run(run_approver, currency="EUR", views={"ana": 3, "ben": 1}, partners=partners)
    ana, ben = partners["ana"], partners["ben"]
    payee(ana, rail="sepa", currency="EUR")
    payee(ben, rail="sepa", currency="EUR")

    # 1. The maker opens the approved run and creates a batch from it: the preview says what it pays.
    admin_login(page, "maker", code=current_code(maker_app))
    page.goto(reverse("admin:payouts_payoutrun_change", args=[run.pk]))
    text_of(page, "#content-main", "Approved")
    page.click(".object-tools a:text-is('Create a payment batch…')")
    text_of(page, "#content-main", "Creating now pays 2 payments for 10,000.00 EUR")
    screenshot(page, "batch-create-preview")
    page.click("input[type=submit][value='Create batch']")
    text_of(page, ".messagelist", "created: 2 payments, 10,000.00 EUR", "A second finance approver releases it")
    batch = PaymentBatch.objects.get()
    assert (batch.status, batch.created_by, batch.currency, batch.rail) == ("draft", maker, "EUR", "sepa")
    assert (batch.payment_count, batch.control_total_minor) == (2, 10_000_00)

    # The maker may not release what they created.
    page.click("a:text-is('Release…')")
    text_of(page, "#content-main", f"You created {batch}: another finance approver must release it.")

    # 2. The checker signs in with the code their app shows (computed here from the device's key) and releases it.
    page.context.clear_cookies()
    admin_login(page, "checker", code=current_code(checker_app))
    page.goto(reverse("admin:payouts_paymentbatch_change", args=[batch.pk]))
    page.click("a:text-is('Release…')")
    assert page.inner_text("td.count") == "2"
    shown_total = page.inner_text("td.control-total")
    assert shown_total == "10,000.00 EUR"
    screenshot(page, "batch-release")
    page.fill("#id_payments", "2")
    page.fill("#id_control_total", "1,000.00")  # misread: refused, nothing released
    page.click("input[type=submit][value=Release]")
    text_of(page, "#content-main", "You confirmed 2 payments for 1,000.00 EUR")
    assert PaymentBatch.objects.get(pk=batch.pk).status == "draft"
    page.fill("#id_payments", "2")
    page.fill("#id_control_total", shown_total.removesuffix(" EUR"))
    page.click("input[type=submit][value=Release]")
    text_of(page, ".messagelist", "released: its bank files are ready to download")
    batch.refresh_from_db()
    assert (batch.status, batch.released_by) == ("released", checker)
    assert sorted(Payment.objects.filter(batch=batch).values_list("partner__handle", "status", "amount_minor")) == [
        ("ana", "sent", 7_500_00), ("ben", "sent", 2_500_00)]
    assert_ledger_balanced()

    # 3. The SEPA file: a pain.001 with the batch's count and control total, one transfer per end-to-end id.
    written = batch.files.get()
    with page.expect_download() as download_info:
        page.click(f"a:text-is('{written.name}')")
    data = download_info.value.path().read_bytes()
    document = etree.fromstring(data)
    assert document.tag == f"{PAIN}Document"
    header = document.find(f"{PAIN}CstmrCdtTrfInitn/{PAIN}GrpHdr")
    assert (header.findtext(f"{PAIN}NbOfTxs"), header.findtext(f"{PAIN}CtrlSum")) == ("2", "10000.00")
    e2e_ids = {e.text for e in document.iter(f"{PAIN}EndToEndId")}
    payments = {p.partner.handle: p for p in Payment.objects.filter(batch=batch).select_related("partner")}
    assert e2e_ids == {p.end_to_end_id for p in payments.values()}

    # 3b. The bank's status report (pain.002) on the file: both transfers accepted; the payments stay sent.
    report = build_pain002("PSR-2026-11-01", f"batch-{batch.pk}-001", [
        TransactionStatus(end_to_end_id=payments["ana"].end_to_end_id, status="ACSC", currency="EUR"),
        TransactionStatus(end_to_end_id=payments["ben"].end_to_end_id, status="ACCP", currency="EUR")])
    page.goto(reverse("admin:payouts_paymentbatch_changelist"))
    page.click(".object-tools a:text-is('Upload a bank statement…')")
    page.set_input_files("#id_statement", files=[{"name": "pain002.xml", "mimeType": "application/xml",
                                                  "buffer": report}])
    page.click("input[type=submit][value=Import]")
    text_of(page, ".messagelist", "0 paid, 0 returned, 0 failed, 0 unmatched")
    text_of(page, "#content-main", "accepted by the bank", payments["ana"].end_to_end_id,
            payments["ben"].end_to_end_id)
    assert dict(Payment.objects.values_list("partner__handle", "status")) == {"ana": "sent", "ben": "sent"}

    # 4. The bank's statement: ana's payment paid, ben's back with AC04 (account closed).
    day = dt.date(2026, 11, 2)
    camt = build_camt053(identifier="STMT-2026-11-02", entries=[
        StatementEntry(end_to_end_id=payments["ana"].end_to_end_id, amount_minor=7_500_00, currency="EUR",
                       outcome="paid", reference="BANK-1", booking_date=day, position=1),
        StatementEntry(end_to_end_id=payments["ben"].end_to_end_id, amount_minor=2_500_00, currency="EUR",
                       outcome="returned", reason_code="AC04", reference="BANK-2", booking_date=day, position=2)])
    page.goto(reverse("admin:payouts_paymentbatch_changelist"))
    page.click(".object-tools a:text-is('Upload a bank statement…')")
    page.set_input_files("#id_statement", files=[{"name": "camt053.xml", "mimeType": "application/xml",
                                                  "buffer": camt}])
    page.click("input[type=submit][value=Import]")
    text_of(page, ".messagelist", "1 paid, 1 returned, 0 unmatched")
    entries = text_of(page, "table.statement-entries", payments["ana"].end_to_end_id,
                      payments["ben"].end_to_end_id, "AC04 account closed")
    assert re.search(rf"{payments['ana'].end_to_end_id}\s+7,500.00 EUR\s+paid\s+Paid", entries), entries
    assert re.search(rf"{payments['ben'].end_to_end_id}\s+2,500.00 EUR\s+returned\s+Returned", entries), entries
    screenshot(page, "statement-result")
    assert StatementImport.objects.get(kind="camt.053").identifier.endswith("STMT-2026-11-02")
    assert dict(Payment.objects.values_list("partner__handle", "status")) == {"ana": "paid", "ben": "returned"}
    assert Payment.objects.get(partner=ben).reason_code == "AC04"

    # 5. Ben's page: his bank details are blocked by the return, and his money is back on payable.
    page.goto(reverse("admin:partnerships_partner_change", args=[ben.pk]))
    text_of(page, ".payee-refused", "blocked: payment returned: AC04 account closed", payments["ben"].end_to_end_id)
    text_of(page, ".payee-payment", payments["ben"].end_to_end_id, "2,500.00 EUR", str(batch),
            "Returned by the bank (AC04 account closed)")
    screenshot(page, "partner-blocked")
    screenshot(page, "partner")
    assert Payee.objects.get(partner=ben).blocked_reason.startswith("payment returned")
    assert Payee.objects.get(partner=ana).blocked_reason == ""
    K = LedgerAccount.Kind
    assert balance(ben, K.PARTNER_PAYABLE) == 2_500_00
    assert balance(ben, K.PARTNER_SENT) == 0
    assert (balance(ana, K.PARTNER_SENT), balance(ana, K.PARTNER_PAYABLE)) == (0, 0)
    assert_ledger_balanced()
    assert PayoutRun.objects.get(pk=run.pk).status == PayoutRun.Status.PAID  # every payment settled
