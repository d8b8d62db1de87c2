"""Forfeiting a line held by screening, for good: the program's setting sends its amount back to the fund or to the
other partners next month; the ledger balances, the fund's totals stay exact to the cent, forfeiting twice posts
once, and anything but a line held by screening in an approved run is refused with nothing changed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.money import format_money
from partnerships.models import DailyMetric
from payouts import ledger
from payouts.exceptions import NotPermitted, RunRefused
from payouts.funds import FundPosition
from payouts.models import (
    EarningLine,
    Forfeiture,
    ForfeiturePolicy,
    Fund,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PayoutRun,
    ProgramTerms,
)
from payouts.services.forfeiture import earning_line_forfeit
from payouts.services.runs import payout_run_compute
from payouts.services.screening import screening_line_hold
from payouts.services.settlement import payout_run_approve
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program
from tests.payouts.test_screening import compute, flags, history, set_day
from tests.security.hostile import HOSTILE

pytestmark = pytest.mark.django_db
SEPTEMBER = MONTH.replace(month=9)
BUDGET = 10_000_00


def held_and_approved(manager, approver, *, policy, rollover=False):
    """August: a spiky and a steady partner share 100.00; the spike is held by screening and the run approved.
    The fund does not roll over unless asked, so where a forfeited amount goes shows in September's budget."""
    program = paying_program(month_budget=BUDGET, months=2, fund_total=50_000_00, rollover=rollover)
    ProgramTerms.objects.filter(program=program).update(forfeiture_policy=policy)
    spiky, steady = member(program, handle="spiky"), member(program, handle="steady")
    history(spiky)
    history(steady)
    set_day(spiky, MONTH.replace(day=15), 5_000_000)
    run = compute(program)
    assert set(flags(run)) == {spiky.pk}
    line = screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="bought views")
    payout_run_approve(run_id=run.pk, actor=approver)
    DailyMetric.objects.create(partner=steady, day=SEPTEMBER.replace(day=10), views=1_000, qualified_views=1_000)
    return run, EarningLine.objects.get(pk=line.pk), steady


def payable_of(line) -> int:
    account = LedgerAccount.objects.get(kind=LedgerAccount.Kind.PARTNER_PAYABLE, partner_id=line.partner_id,
                                        program_id=line.run.program_id)
    return ledger.balance(account)


def fund_budget_balance(fund) -> int:
    return ledger.balance(ledger.fund_account(fund, LedgerAccount.Kind.FUND_BUDGET))


@pytest.mark.parametrize(("policy", "september_budget_extra"), [
    (ForfeiturePolicy.RETURN_TO_FUND, 0), (ForfeiturePolicy.REDISTRIBUTE, "line")])
def test_forfeiture_follows_the_program_setting_and_the_funds_totals_stay_exact(
        manager, approver, finance, policy, september_budget_extra):
    run, line, steady = held_and_approved(manager, approver, policy=policy)
    fund = Fund.objects.get(program=run.program)
    assert line.net_minor > 0
    assert payable_of(line) == line.net_minor
    spent_before, budget_balance_before = fund.spent_minor, fund_budget_balance(fund)
    assert budget_balance_before == fund.total_minor - spent_before  # approval took the run's spend

    forfeiture = earning_line_forfeit(line_id=line.pk, actor=approver, reason="fake views confirmed")

    fund.refresh_from_db()
    assert (forfeiture.amount_minor, forfeiture.policy, forfeiture.forfeited_by) == (line.net_minor, policy, approver)
    assert payable_of(line) == 0
    assert fund.spent_minor == spent_before - line.net_minor
    assert fund_budget_balance(fund) == budget_balance_before + line.net_minor == fund.total_minor - fund.spent_minor
    assert FundPosition(fund).invariant_breaches() == []
    line.refresh_from_db()
    assert (line.status, line.hold_reason) == (EarningLine.Status.HELD, "forfeited: fake views confirmed")
    assert forfeiture.budget_month == (SEPTEMBER if policy == ForfeiturePolicy.REDISTRIBUTE else None)

    # September: the fund does not roll over, so only a redistributed amount joins the month's own release
    september = payout_run_compute(program_id=run.program_id, month=SEPTEMBER, actor=finance)
    extra = line.net_minor if september_budget_extra == "line" else 0
    assert september.status == PayoutRun.Status.COMPUTED, september.error
    assert september.budget_minor == BUDGET + extra
    lines = dict(EarningLine.objects.filter(run=september).values_list("partner_id", "gross_minor"))
    assert lines == {steady.pk: BUDGET + extra}  # the forfeited partner has nothing left to carry in
    fund.refresh_from_db()
    assert fund.spent_minor == spent_before - line.net_minor + september.spend_minor


def test_returned_to_a_fund_that_rolls_over_it_is_unspent_budget_like_any_other(manager, approver, finance):
    run, line, steady = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND, rollover=True)
    august_unspent = BUDGET - run.spend_minor
    earning_line_forfeit(line_id=line.pk, actor=approver, reason="fake views confirmed")
    september = payout_run_compute(program_id=run.program_id, month=SEPTEMBER, actor=finance)
    assert september.budget_minor == BUDGET + august_unspent + line.net_minor


def test_forfeiting_twice_posts_once(manager, approver):
    run, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.REDISTRIBUTE)
    first = earning_line_forfeit(line_id=line.pk, actor=approver, reason="fake views confirmed")
    entries, spent = LedgerEntry.objects.count(), Fund.objects.get(program=run.program).spent_minor
    second = earning_line_forfeit(line_id=line.pk, actor=approver, reason="again")
    assert (second.pk, second.reason) == (first.pk, "fake views confirmed")
    assert LedgerEntry.objects.count() == entries
    assert LedgerTransaction.objects.filter(key=f"line:{line.pk}:forfeit").count() == 1
    assert Forfeiture.objects.count() == 1
    assert Fund.objects.get(program=run.program).spent_minor == spent


def _nothing_changed(entries: int) -> None:
    assert LedgerEntry.objects.count() == entries
    assert not Forfeiture.objects.exists()


def test_a_payable_line_is_not_forfeited(manager, approver):
    run, _, steady = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND)
    payable = EarningLine.objects.get(run=run, partner=steady)
    entries = LedgerEntry.objects.count()
    with pytest.raises(RunRefused, match="only a line held by screening in an approved or paid monthly run"):
        earning_line_forfeit(line_id=payable.pk, actor=approver, reason="no")
    _nothing_changed(entries)


def test_a_held_line_of_a_run_not_yet_approved_is_not_forfeited(manager):
    program = paying_program()
    spiky = member(program, handle="spiky")
    history(spiky)
    history(member(program, handle="steady"))
    set_day(spiky, MONTH.replace(day=15), 5_000_000)
    run = compute(program)
    line = screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="bought views")
    finance = UserFactory(username="finance2", groups=["Finance approvers"])
    entries = LedgerEntry.objects.count()
    with pytest.raises(RunRefused, match="held in a computed, awaiting approval run"):
        earning_line_forfeit(line_id=line.pk, actor=finance, reason="no")
    _nothing_changed(entries)


def test_forfeiture_needs_a_reason_and_finances_permission(manager, approver):
    _, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND)
    entries = LedgerEntry.objects.count()
    with pytest.raises(RunRefused, match="A reason is required"):
        earning_line_forfeit(line_id=line.pk, actor=approver, reason=" ")
    with pytest.raises(NotPermitted):
        earning_line_forfeit(line_id=line.pk, actor=manager, reason="fake")
    _nothing_changed(entries)


def test_a_balance_carried_into_a_later_run_is_forfeited_there_not_here(manager, approver, finance):
    run, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND)
    later = payout_run_compute(program_id=run.program_id, month=SEPTEMBER, actor=finance)
    assert EarningLine.objects.get(run=later, partner_id=line.partner_id).carried_in_minor == line.net_minor
    entries = LedgerEntry.objects.count()
    with pytest.raises(RunRefused, match=f"was carried into run {later.pk}"):
        earning_line_forfeit(line_id=line.pk, actor=approver, reason="fake")
    _nothing_changed(entries)


def test_finance_forfeits_from_the_lines_list_with_a_reason(manager, approver, csrf_client):
    run, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.REDISTRIBUTE)
    csrf_client.force_login(approver)
    lines = csrf_client.get(reverse("admin:payouts_earningline_changelist")).content.decode()
    url = reverse("admin:payouts_forfeiture_line", args=[line.pk])
    assert lines.count("forfeit…") == 1
    assert url in lines
    form_page = csrf_client.get(url)
    token = form_page.cookies["csrftoken"].value
    assert "to the other partners next month" in form_page.content.decode()
    refused = csrf_client.post(url, {"reason": "", "csrfmiddlewaretoken": token})
    assert refused.status_code == 200
    assert not Forfeiture.objects.exists()  # the form asks for the reason first
    response = csrf_client.post(url, {"reason": "fake views confirmed", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    forfeiture = Forfeiture.objects.get()
    assert (forfeiture.line_id, forfeiture.reason) == (line.pk, "fake views confirmed")
    listing = csrf_client.get(reverse("admin:payouts_forfeiture_changelist")).content.decode()
    assert "fake views confirmed" in listing
    partner_page = csrf_client.get(reverse("admin:partnerships_partner_change", args=[line.partner_id]))
    assert f"{format_money(line.net_minor, 'USD')}: fake views confirmed" in partner_page.content.decode()
    again = csrf_client.post(url, {"reason": "twice", "csrfmiddlewaretoken": token})
    assert again.status_code == 302
    assert Forfeiture.objects.count() == 1


def test_a_manager_cannot_open_the_forfeit_page(manager, approver, client):
    _, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND)
    client.force_login(manager)
    assert client.get(reverse("admin:payouts_forfeiture_line", args=[line.pk])).status_code == 403
    assert client.post(reverse("admin:payouts_forfeiture_line", args=[line.pk]), {"reason": "x"}).status_code == 403
    assert not Forfeiture.objects.exists()


def test_hostile_reasons_are_refused_with_the_forms_error_never_a_500(manager, approver, csrf_client):
    """Every hostile value as the reason: a NUL byte is a 400 before the view, an empty or over-long reason the form's
    error, and nothing is forfeited on a refusal; the first acceptable reason forfeits the line once."""
    _, line, _ = held_and_approved(manager, approver, policy=ForfeiturePolicy.RETURN_TO_FUND)
    csrf_client.force_login(approver)
    url = reverse("admin:payouts_forfeiture_line", args=[line.pk])
    token = csrf_client.get(url).cookies["csrftoken"].value
    accepted = None
    for value in HOSTILE:
        entries = LedgerEntry.objects.count()
        response = csrf_client.post(url, {"reason": value, "csrfmiddlewaretoken": token})
        if "\x00" in value:
            assert response.status_code == 400, value
        elif not value.strip() or len(value) > 1000:
            assert response.status_code == 200, value
            assert response.context["form"].errors["reason"], value
        else:
            assert response.status_code == 302, value
            accepted = accepted or value
        if accepted is None or accepted != value:
            assert LedgerEntry.objects.count() == entries, value  # a refusal, or the line already forfeited
    assert Forfeiture.objects.get().reason == accepted
