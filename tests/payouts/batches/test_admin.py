"""The batch pages: list, create (with who is left out), release behind a second factor and a second person,
file download, statement upload and its result, and the reconciliation page."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from payouts.models import Payment, PaymentBatch, StatementImport
from payouts.services.batches import batch_create, batch_release
from payouts.services.statements import statement_import
from tests.payouts.batches.helpers import approved_program_run, paid_entry, payee, returned_entry, statement
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def submit(client, url: str, data: dict | None = None):
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), **(data or {})})


@pytest.fixture
def draft(run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1, "cy": 1}, partners=partners)
    payee(partners["ana"])
    payee(partners["ben"])
    return batch_create(currency="USD", rail="ach", actor=maker)


def test_create_page_shows_who_is_left_out_then_creates(browser, run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    payee(partners["ana"])
    browser.force_login(maker)
    url = reverse("admin:payouts_paymentbatch_create")
    preview = submit(browser, url, {"currency": "usd", "rail": "ach", "preview": "1"})
    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Creating now pays <strong>1</strong> payments for <strong>7,500.00 USD</strong>" in text
    assert "<td>ben</td>" in text
    assert "no bank details (payee) on file" in text
    assert 'name="previewed" value="USD:ach:1:750000"' in text  # the create button creates what was shown
    created = browser.post(url, {"csrfmiddlewaretoken": str(preview.context["csrf_token"]), "currency": "USD",
                                 "rail": "ach", "previewed": "USD:ach:1:750000", "create": "1"})
    batch = PaymentBatch.objects.get()
    assert created.status_code == 302
    assert created["Location"] == reverse("admin:payouts_paymentbatch_change", args=[batch.pk])
    page = browser.get(created["Location"]).content.decode()
    assert "···" in page
    assert "no bank details (payee) on file" in page
    assert "021000021" not in page  # never the full account


def test_release_without_a_second_factor_is_refused(browser, draft, checker):
    browser.force_login(checker)
    url = reverse("admin:payouts_paymentbatch_release", args=[draft.pk])
    assert browser.get(url).status_code == 403
    assert browser.post(url, {"payments": "2", "control_total": "10,000.00"}).status_code == 403
    assert PaymentBatch.objects.get(pk=draft.pk).status == "draft"


def test_release_by_its_creator_is_refused_on_the_page(browser, draft, maker):
    verified_client(browser, maker)
    response = submit(browser, reverse("admin:payouts_paymentbatch_release", args=[draft.pk]),
                      {"payments": "2", "control_total": "8,333.33"})
    assert response.status_code == 200
    assert "and so cannot release it" in response.content.decode()
    assert PaymentBatch.objects.get(pk=draft.pk).status == "draft"


def test_release_with_a_second_factor_then_download_and_statement_upload(browser, draft, checker):
    verified_client(browser, checker)
    url = reverse("admin:payouts_paymentbatch_release", args=[draft.pk])
    page = browser.get(url)
    shown = page.content.decode()
    total = f"{draft.control_total_minor // 100:,}.{draft.control_total_minor % 100:02d}"
    assert f'<td class="control-total">{total} USD</td>' in shown
    wrong = browser.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), "payments": "2",
                               "control_total": "1.00"})
    assert "You confirmed 2 payments for 1.00 USD" in wrong.content.decode()
    done = browser.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), "payments": "2",
                              "control_total": total})
    assert done.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "released"

    written = draft.files.get()
    download = browser.get(reverse("admin:payouts_paymentbatch_file", args=[draft.pk, written.pk]))
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == written.sha256

    ana, ben = Payment.objects.filter(batch=draft).order_by("partner__handle")
    data = statement("UP-1", paid_entry(ana), returned_entry(ben, "AC04"), ("NOPE-1", 1_00, "USD", "paid"))
    upload_url = reverse("admin:payouts_statementimport_upload")
    page = browser.get(upload_url)
    result = browser.post(upload_url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]),
                                       "statement": SimpleUploadedFile("camt.xml", data, "application/xml")},
                          follow=True)
    text = result.content.decode()
    assert "1 paid, 1 returned, 1 unmatched" in text
    assert 'class="entry-unmatched" style="color:#c62828"' in text
    assert "AC04 account closed" in text
    again = browser.post(upload_url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]),
                                      "statement": SimpleUploadedFile("camt.xml", data, "application/xml")},
                         follow=True)
    assert "was already imported" in again.content.decode()
    assert StatementImport.objects.count() == 1

    reconciliation = browser.get(reverse("admin:payouts_paymentbatch_reconciliation", args=[draft.pk]))
    assert reconciliation.status_code == 200
    assert "✔ All" in reconciliation.content.decode()


def test_statement_upload_needs_a_second_factor(browser, checker):
    browser.force_login(checker)
    assert browser.get(reverse("admin:payouts_statementimport_upload")).status_code == 403


def test_a_malformed_statement_shows_an_error_not_a_500(browser, checker):
    verified_client(browser, checker)
    response = submit(browser, reverse("admin:payouts_statementimport_upload"),
                      {"statement": SimpleUploadedFile("x.xml", b"<not xml", "application/xml")})
    assert response.status_code == 200
    assert "x.xml: " in response.content.decode()
    assert not StatementImport.objects.exists()


def test_file_download_needs_the_release_permission(browser, draft, checker, outsider, maker):
    batch_release(batch_id=draft.pk, actor=checker, expected_count=2, expected_total_minor=draft.control_total_minor)
    written = draft.files.get()
    browser.force_login(outsider)
    assert browser.get(reverse("admin:payouts_paymentbatch_file", args=[draft.pk, written.pk])).status_code in (302,
                                                                                                                403)


def test_list_filters_and_batch_page(browser, draft, checker):
    browser.force_login(checker)
    listing = browser.get(reverse("admin:payouts_paymentbatch_changelist") + "?status__exact=draft&currency=USD")
    assert listing.status_code == 200
    assert str(draft) in listing.content.decode()
    page = browser.get(reverse("admin:payouts_paymentbatch_change", args=[draft.pk]))
    assert page.status_code == 200
    assert "Release…" in page.content.decode()


def test_the_run_page_does_not_offer_mark_paid_for_a_run_in_a_batch(browser, draft, checker):
    run = draft.payments.first().items.first().run
    browser.force_login(checker)
    page = browser.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()
    assert reverse("admin:payouts_payoutrun_act", args=[run.pk, "pay"]) not in page
    assert reverse("admin:payouts_payoutrun_act", args=[run.pk, "cancel"]) not in page  # approved: never cancelled


def test_the_reconciliation_page_shows_a_difference_in_red(browser, draft, checker):
    batch_release(batch_id=draft.pk, actor=checker, expected_count=2, expected_total_minor=draft.control_total_minor)
    ana = Payment.objects.filter(batch=draft).order_by("partner__handle").first()
    statement_import(data=statement("RED-1", (ana, ana.amount_minor - 1, "USD", "paid")), file_name="r.xml",
                     actor=checker)
    browser.force_login(checker)
    page = browser.get(reverse("admin:payouts_paymentbatch_reconciliation", args=[draft.pk])).content.decode()
    assert f' class="differs" style="color:#c62828"><td>{ana.end_to_end_id}</td>' in page


def test_create_makes_what_the_preview_showed_or_nothing(browser, run_approver, maker):
    """Money changed between the preview and the click (ben's bank details arrived): nothing is created and the page
    shows the new figures; a currency typed after the preview is previewed, not created."""
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    payee(partners["ana"])
    browser.force_login(maker)
    url = reverse("admin:payouts_paymentbatch_create")
    seen = "USD:ach:1:750000"
    payee(partners["ben"])
    changed = submit(browser, url, {"currency": "USD", "rail": "ach", "previewed": seen, "create": "1"})
    text = changed.content.decode()
    assert not PaymentBatch.objects.exists()
    assert ("it is now 2 payments for 10,000.00 USD, and you saw 1 for 7,500.00 USD. Nothing was created" in text)
    assert 'name="previewed" value="USD:ach:2:1000000"' in text
    other = submit(browser, url, {"currency": "EUR", "rail": "sepa", "previewed": seen, "create": "1"})
    assert not PaymentBatch.objects.exists()
    assert "The currency or rail changed since the preview" in other.content.decode()
    created = submit(browser, url, {"currency": "USD", "rail": "ach", "previewed": "USD:ach:2:1000000", "create": "1"})
    assert created.status_code == 302
    assert PaymentBatch.objects.get().payment_count == 2
