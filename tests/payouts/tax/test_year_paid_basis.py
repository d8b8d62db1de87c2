"""The year-end export on the paid basis: a line counts in the year its payment reached the partner (the statement's
booking date, else the day the payment was marked paid; a run paid by hand: its paid_at), not when its run was
approved; a line whose money went back on the balance (its payment returned, or the line held) counts when the later
line that carries it in is paid. The same rows from the command and the admin page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Sum
from django.urls import reverse

from partnerships.models import Partner
from payouts.models import EarningLine, Payee, Payment, PayoutRun, StatementLine
from payouts.roles import ensure_group_permissions
from payouts.services.batches import batch_create, batch_release
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
from payouts.services.statements import statement_import
from payouts.tax_year import HEADER, parse_basis, tax_year_figures
from tests.payouts.batches.conftest import _media, checker, maker, run_approver  # noqa: F401 - the fixtures
from tests.payouts.batches.helpers import (
    approved_program_run,
    august_with_bens_payment_returned,
    paid_entry,
    payee,
    returned_entry,
    statement,
)
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = pytest.mark.django_db
DECEMBER = dt.datetime(2026, 12, 20, 15, 0, tzinfo=dt.UTC)
SEPTEMBER = dt.date(2026, 9, 1)


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


def release_and_book(maker, checker, *, handle: str, booked: str) -> Payment:  # noqa: F811
    """A batch of every approved line, released; the statement books ``handle``'s payment paid on ``booked``."""
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=batch.payments.count(),
                  expected_total_minor=batch.control_total_minor)
    payment = Payment.objects.get(batch=batch, partner__handle=handle)
    data = statement(f"STMT-{batch.pk}", paid_entry(payment)).replace(b"2026-11-02", booked.encode())
    statement_import(data=data, file_name=f"s{batch.pk}.xml", actor=checker)
    return payment


def test_a_returned_line_counts_when_the_next_run_carrying_it_in_is_paid(run_approver, maker, checker):  # noqa: F811
    program, ana, ben, august, returned = august_with_bens_payment_returned(run_approver, maker, checker)
    ben_august = line_sums(run=august, partner=ben)
    assert by_handle(2026, "paid") == {"ana": (*line_sums(run=august, partner=ana), 1)}

    Payee.objects.filter(partner=ben).update(blocked_reason="")  # the details fixed
    september = payout_run_compute(program_id=program.pk, month=SEPTEMBER)
    assert september.lines.get(partner=ben).carried_in_minor == returned.amount_minor
    payout_run_approve(run_id=september.pk, actor=run_approver)
    assert "ben" not in by_handle(2026, "paid")
    assert "ben" not in by_handle(2027, "paid")

    release_and_book(maker, checker, handle="ben", booked="2027-01-04")
    # ben's August line reached him in January 2027, with the September line that carried it (no gross of its own)
    assert by_handle(2027, "paid") == {"ben": (*line_sums(partner=ben), 2)}
    assert line_sums(partner=ben) == ben_august
    assert "ben" not in by_handle(2026, "paid")
    assert by_handle(2026, "approved")["ben"] == (*ben_august, 2)  # the approved basis is unchanged


def test_a_held_line_counts_when_the_line_carrying_it_in_is_paid(run_approver, maker, checker):  # noqa: F811
    program = paying_program(months=2, hold_without_identity=True)
    cy = member(program, handle="cy", views=2, identity_verified=False)
    dee = member(program, handle="dee", views=2, identity_verified=True)
    payee(cy)
    payee(dee)
    august = payout_run_approve(run_id=payout_run_compute(program_id=program.pk, month=MONTH).pk, actor=run_approver)
    assert august.lines.get(partner=cy).status == EarningLine.Status.HELD
    release_and_book(maker, checker, handle="dee", booked="2026-11-20")
    assert set(by_handle(2026, "paid")) == {"dee"}  # cy's held line has not reached cy

    Partner.objects.filter(pk=cy.pk).update(identity_verified=True)
    september = payout_run_compute(program_id=program.pk, month=SEPTEMBER)
    assert september.lines.get(partner=cy).carried_in_minor == august.lines.get(partner=cy).net_minor
    payout_run_approve(run_id=september.pk, actor=run_approver)
    release_and_book(maker, checker, handle="cy", booked="2026-12-30")
    assert by_handle(2026, "paid")["cy"] == (*line_sums(partner=cy), 2)
    assert line_sums(partner=cy) == line_sums(run=august, partner=cy)
    assert by_handle(2027, "paid") == {}
