"""What the browser journey (tests/e2e/test_payment_batch.py) needs from the pages, checked without a browser: the
approved run's page leads to creating a batch, and the partner's page shows a payee blocked by a return and the
returned payment."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from payouts.services.batches import batch_create, batch_release
from payouts.services.statements import statement_import
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import approved_program_run, paid_entry, payee, returned_entry, statement

pytestmark = pytest.mark.django_db


def test_an_approved_run_links_to_the_batch_preview_in_its_currency(client, run_approver, maker):
    run = approved_program_run(run_approver, currency="EUR", views={"ana": 1})
    client.force_login(maker)
    page = client.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()
    link = reverse("admin:payouts_paymentbatch_create") + "?" + urlencode({"currency": "EUR", "rail": "sepa"})
    assert f'href="{link.replace("&", "&amp;")}"' in page
    preview = client.get(link).content.decode()
    assert "Creating now pays <strong>0</strong> payments" in preview  # ana has no payee: left out, with why
    assert "no bank details (payee) on file" in preview


def test_no_batch_link_without_the_permission_to_create_batches(client, run_approver):
    run = approved_program_run(run_approver, views={"ana": 1})
    viewer = UserFactory(username="manager", groups=["Partnership managers"])
    client.force_login(viewer)
    page = client.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()
    assert reverse("admin:payouts_paymentbatch_create") not in page


def test_the_partner_page_shows_the_payee_blocked_by_a_return_and_the_returned_payment(client, run_approver, maker,
                                                                                      checker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    payee(partners["ana"])
    payee(partners["ben"])
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)
    ana, ben = batch.payments.order_by("partner__handle")
    statement_import(data=statement("S-1", paid_entry(ana), returned_entry(ben, "AC04")), file_name="s.xml",
                     actor=checker)
    client.force_login(checker)

    page = client.get(reverse("admin:partnerships_partner_change", args=[partners["ben"].pk])).content.decode()
    assert (f'<strong class="payee-refused" style="color:#c62828">blocked: payment returned: AC04 account closed '
            f"({ben.end_to_end_id})</strong>") in page
    assert (f'<div class="payee-payment" style="color:#c62828">{ben.end_to_end_id} · 2,500.00 USD · '
            f'<a href="{reverse("admin:payouts_paymentbatch_change", args=[batch.pk])}">{batch}</a> · '
            "Returned by the bank (AC04 account closed)</div>") in page
    assert "<label>:</label>" not in page  # the link to the payee's page has a label

    paid = client.get(reverse("admin:partnerships_partner_change", args=[partners["ana"].pk])).content.decode()
    assert f'<div class="payee-payment">{ana.end_to_end_id} · 7,500.00 USD' in paid
    assert "payee-refused" not in paid  # still payable: not in red


def test_the_preview_says_nobody_is_left_out_instead_of_an_empty_table(client, run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 1}, partners=partners)
    payee(partners["ana"])
    client.force_login(maker)
    url = reverse("admin:payouts_paymentbatch_create") + "?" + urlencode({"currency": "USD", "rail": "ach"})
    preview = client.get(url).content.decode()
    assert "Creating now pays <strong>1</strong> payments for <strong>10,000.00 USD</strong>" in preview
    assert "<h3>Left out</h3><p>Nobody: every partner with money waiting in this currency has usable bank details" \
           in preview
    assert "Why left out" not in preview
