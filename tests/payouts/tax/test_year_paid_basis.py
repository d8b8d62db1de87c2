"""The year-end export on the paid basis: a line counts in the year its payment reached the partner (the statement's
booking date, else the day the payment was marked paid; a run paid by hand: its paid_at), not when its run was
approved; a returned payment's lines never count as paid. The same rows from the command and the admin page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Sum
from django.urls import reverse

from payouts.models import EarningLine, Payment, PayoutRun, StatementLine
from payouts.roles import ensure_group_permissions
from payouts.services.batches import batch_create, batch_release
from payouts.services.settlement import payout_run_mark_paid
from payouts.services.statements import statement_import
from payouts.tax_year import HEADER, parse_basis, tax_year_figures
from tests.payouts.batches.conftest import _media, checker, maker, run_approver  # noqa: F401 - the fixtures
from tests.payouts.batches.helpers import approved_program_run, paid_entry, payee, returned_entry, statement

pytestmark = pytest.mark.django_db
DECEMBER = dt.datetime(2026, 12, 20, 15, 0, tzinfo=dt.UTC)


def line_sums(**filters) -> tuple[int, int]:
    sums = EarningLine.objects.filter(**filters).aggregate(gross=Sum(F("gross_minor") + F("adjustments_minor")),
                                                           withheld=Sum("withholding_minor"))
    return int(sums["gross"]), int(sums["withheld"])


def by_handle(year: int, basis: str) -> dict[str, tuple[int, int, int]]:
    return {row.handle: (row.gross_minor, row.withheld_minor, row.lines) for row in tax_year_figures(year, basis)}


@pytest.fixture
def december_run_paid_in_january(run_approver, maker, checker):  # noqa: F811
    """A run approved on 20 December 2026 paying ana and ben; the January statement books ana's payment paid on
    4 January 2027 and returns ben's."""
    partners: dict = {}
    run = approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    PayoutRun.objects.filter(pk=run.pk).update(approved_at=DECEMBER)
    for partner in partners.values():
        payee(partner)
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)
    ana, ben = (Payment.objects.get(batch=batch, partner__handle=handle) for handle in ("ana", "ben"))
    data = statement("STMT-JAN", paid_entry(ana), returned_entry(ben))
    statement_import(data=data.replace(b"2026-11-02", b"2027-01-04"), file_name="s.xml", actor=checker)
    assert StatementLine.objects.get(payment=ana).booking_date == dt.date(2027, 1, 4)
    return run, ana, ben


def test_approved_in_december_paid_in_january_counts_in_the_next_year_only_when_paid(december_run_paid_in_january):
    run, ana, _ben = december_run_paid_in_january
    ana_line = line_sums(run=run, partner__handle="ana")
    ben_line = line_sums(run=run, partner__handle="ben")
    assert ana_line[0] > 0
    assert ben_line[0] > 0

    assert by_handle(2026, "approved") == {"ana": (*ana_line, 1), "ben": (*ben_line, 1)}
    assert by_handle(2027, "approved") == {}
    assert by_handle(2026, "paid") == {}
    # ben's payment came back: his line is not paid (its net returns through a later run, without new gross)
    assert by_handle(2027, "paid") == {"ana": (*ana_line, 1)}
    assert Payment.objects.get(pk=ana.pk).settled_at.year == 2026  # marked paid today: the booking date wins


def test_without_a_booking_date_the_day_it_was_marked_paid_counts(december_run_paid_in_january):
    _run, ana, _ben = december_run_paid_in_january
    StatementLine.objects.filter(payment=ana).update(booking_date=None)
    Payment.objects.filter(pk=ana.pk).update(settled_at=dt.datetime(2027, 12, 31, 23, 30, tzinfo=dt.UTC))
    assert set(by_handle(2027, "paid")) == {"ana"}
    Payment.objects.filter(pk=ana.pk).update(settled_at=dt.datetime(2028, 1, 1, 0, 30, tzinfo=dt.UTC))
    assert by_handle(2027, "paid") == {}
    assert set(by_handle(2028, "paid")) == {"ana"}


def test_a_run_paid_by_hand_counts_when_it_was_marked_paid(run_approver):  # noqa: F811
    run = approved_program_run(run_approver, views={"cy": 1})
    assert by_handle(2026, "paid") == {}  # approved, not paid
    payout_run_mark_paid(run_id=run.pk, actor=run_approver, reference="WIRE-1")
    PayoutRun.objects.filter(pk=run.pk).update(paid_at=dt.datetime(2027, 1, 2, tzinfo=dt.UTC))
    assert by_handle(2027, "paid") == {"cy": (*line_sums(run=run), 1)}
    assert by_handle(2026, "paid") == {}


def test_the_command_takes_the_basis_and_refuses_a_bad_one(december_run_paid_in_january):
    out = io.StringIO()
    call_command("tax_year_export", "--year", "2027", "--basis", "paid", stdout=out, stderr=io.StringIO())
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == ["ana"]
    for bad in ("Paid", "booked", "", "paid;", "x" * 1000):
        with pytest.raises(CommandError, match="The basis is 'approved' .* or 'paid'"):
            call_command("tax_year_export", "--year", "2027", "--basis", bad, stdout=io.StringIO())
        with pytest.raises(ValueError, match="The basis is"):
            parse_basis(bad)


def test_the_admin_page_offers_the_basis_beside_the_year(client, december_run_paid_in_january, finance):
    ensure_group_permissions()
    url = reverse("admin:payouts_taxprofile_year_export")
    client.force_login(finance)
    assert 'name="basis"' in client.get(url).content.decode()
    response = client.get(url, {"year": "2027", "basis": "paid"})
    assert response["Content-Disposition"].endswith('tax-year-2027-paid.csv"')
    assert [line.split(",")[0] for line in b"".join(response.streaming_content).decode().splitlines()] == [
        "handle", "ana"]
    approved = client.get(url, {"year": "2026"})  # no basis: today's export
    assert len(b"".join(approved.streaming_content).decode().splitlines()) == 3
    refused = client.get(url, {"year": "2027", "basis": "booked"})
    assert refused.status_code == 200
    assert "basis" in refused.context["form"].errors
