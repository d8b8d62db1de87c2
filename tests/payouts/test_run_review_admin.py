"""Reviewing a run before approving or paying it: the reconciliation on its page, stale runs, the makers who cannot
approve, what the confirmations say will be paid, the one table of run actions, and the second approver's
decisions on adjustments."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from core.money import format_money
from payouts import transitions
from payouts.admin.adjustments import (
    ADJUSTMENT_SKIPPED,
    ADJUSTMENTS_DONE,
    ADJUSTMENTS_SKIPPED,
    WILL_SKIP_CREATOR,
    WILL_SKIP_DECIDED,
)
from payouts.admin.review import (
    CANNOT_APPROVE,
    CHECKS_FAIL,
    FIRST_RUN,
    NO_MAKERS,
    RUN_STALE_BANNER,
    YOU_CANNOT_APPROVE,
    change_from_previous,
    signed_money,
    signed_percent,
)
from payouts.exceptions import (
    ADJUSTMENT_DECIDED,
    ADJUSTMENT_FOUR_EYES,
    ADJUSTMENT_MADE_STALE,
    FOUR_EYES,
    NOT_RECONCILED,
    RUN_STALE,
    PayoutsError,
)
from payouts.ledger import post_pairs
from payouts.models import Adjustment, LedgerAccount, PayoutRun, PayoutRunMaker
from payouts.roles import ensure_group_permissions
from payouts.services.adjustments import adjustment_approve, adjustment_create, adjustment_reject
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve, payout_run_cancel, payout_run_mark_paid
from payouts.transitions import APPROVE_PERMISSION, COMPUTE_PERMISSION, PAY_PERMISSION
from tests.partnerships.factories import DailyMetricFactory, UserFactory
from tests.payouts.factories import MONTH, TrancheFactory, member, paying_program
from tests.payouts.test_admin import (
    MAX_PAGE_QUERIES,
    act_url,
    count_queries,
    ledger_state,
    lines_state,
    messages_of,
    partner_of,
    run_state,
    run_url,
    submit,
)
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db
R = PayoutRun.Status
SEPTEMBER = dt.date(2026, 9, 1)
CHECK_ROW = re.compile(r'<tr class="check-(ok|failed)"( style="color:#c62828")?><td>(.*?)</td><td class="money">(.*?)'
                       r'</td><td class="money">(.*?)</td><td>(.*?)</td></tr>')
LEDGER_ROW = re.compile(r'<tr( style="color:#c62828")?><td>(.*?)</td><td class="money">(.*?)</td>'
                        r'<td class="money">(.*?)</td><td>(.*?)</td></tr>')


def check_rows(response) -> list[tuple]:
    """The reconciliation table: (✔ or ✘, red?, label, expected, actual, result)."""
    return [("✔" if ok == "ok" else "✘", bool(red), *(html.unescape(cell) for cell in cells))
            for ok, red, *cells in CHECK_ROW.findall(response.content.decode())]


def ledger_rows(response) -> list[tuple]:
    table = response.content.decode().split('<table class="ledger-summary">')[1].split("</table>")[0]
    return [(bool(red), *(html.unescape(cell) for cell in cells)) for red, *cells in LEDGER_ROW.findall(table)]


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def finance_user(username: str):
    user = UserFactory(username=username, groups=["Finance approvers"])
    ensure_group_permissions()
    return user


def adjustment(program, partner, creator, amount_minor: int = 5_00) -> Adjustment:
    return adjustment_create(partner_id=partner.pk, program_id=program.pk, amount_minor=amount_minor,
                                      reason="Missed bonus", actor=creator)


def adjustments_state() -> list[tuple]:
    return list(Adjustment.objects.order_by("pk").values_list("pk", "status", "decided_by", "decision_reason"))


# --- the one table of run actions -----------------------------------------------------------------

@pytest.mark.parametrize(("status", "stale", "kind", "allowed"), [
    (R.COMPUTING, "", "final", ["cancel", "recompute"]),
    (R.COMPUTED, "", "final", ["approve", "cancel"]),
    (R.COMPUTED, "late metrics", "final", ["cancel", "recompute"]),
    (R.APPROVED, "", "final", ["pay"]),
    (R.PAID, "", "final", []),
    (R.FAILED, "", "final", ["cancel", "recompute"]),
    (R.CANCELLED, "", "final", []),
    (R.COMPUTED, "", "estimate", ["cancel"]),
])
def test_run_actions_allowed_follow_the_one_table(status, stale, kind, allowed):
    run = PayoutRun(status=status, stale_reason=stale, kind=kind)

    assert transitions.run_actions_allowed(run) == allowed


def test_the_table_names_the_services_permissions():
    assert {action: transition.permission for action, transition in transitions.RUN_ACTIONS.items()} == {
        "approve": APPROVE_PERMISSION, "pay": PAY_PERMISSION,
        "cancel": COMPUTE_PERMISSION, "recompute": COMPUTE_PERMISSION}


@pytest.mark.parametrize(("fixture", "action"), [("approved_run", "approve"), ("computed_run", "pay"),
                                                 ("approved_run", "cancel")])
def test_the_tables_refusal_says_what_the_service_says(request, fixture, action, second_approver):
    run = request.getfixturevalue(fixture)
    call = {"approve": lambda: payout_run_approve(run_id=run.pk, actor=second_approver),
            "pay": lambda: payout_run_mark_paid(run_id=run.pk, actor=second_approver, reference="B-1"),
            "cancel": lambda: payout_run_cancel(run_id=run.pk, actor=second_approver, reason="x")}[action]

    with pytest.raises(PayoutsError) as refused:
        call()

    assert transitions.run_action_refusal(run, action) == str(refused.value)
    assert transitions.run_action_refusal(run, transitions.run_actions_allowed(run)[0]) == ""


def test_the_tables_refusal_of_a_stale_run_says_what_the_service_says(computed_run, second_approver):
    PayoutRun.objects.filter(pk=computed_run.pk).update(stale_reason="late metrics")
    computed_run.refresh_from_db()

    with pytest.raises(PayoutsError) as refused:
        payout_run_approve(run_id=computed_run.pk, actor=second_approver)

    assert str(refused.value) == RUN_STALE.format(run=computed_run, reason="late metrics")
    assert transitions.run_action_refusal(computed_run, "approve") == str(refused.value)


# --- reconciliation on the run's page -------------------------------------------------------------

def test_a_computed_run_reconciles_and_its_ledger_is_not_posted_yet(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(computed_run))

    assert check_rows(response) == [
        ("✔", False, "Lines add up to the run's gross", "10,000.00 USD", "10,000.00 USD", "✔"),
        ("✔", False, "Lines add up to the run's balance", "10,000.00 USD", "10,000.00 USD", "✔"),
        ("✔", False, "Spend within what the fund may spend this month", "at most 10,000.00 USD", "10,000.00 USD", "✔"),
        ("✔", False, "Lines carrying in a balance the ledger no longer holds (or another run carries)", "0", "0", "✔"),
        ("✔", False, "Payable lines whose partner is now held", "0", "0", "✔"),
    ]
    assert ledger_rows(response) == [
        (False, "Owed before (carried in)", "0.00 USD", "—", "—"),
        (False, "Posted by this run (gross + adjustments − withholding)", "10,000.00 USD", "not posted",
         f"run:{computed_run.pk}:approve"),
        (False, "In payment", "10,000.00 USD", "not posted", f"run:{computed_run.pk}:in-payment"),
        (False, "Paid", "0.00 USD", "not posted", f"run:{computed_run.pk}:pay"),
    ]
    assert "✔ All 5 checks hold." in page_text(response)
    assert "Totals check" not in page_text(response)


def test_an_approved_run_reconciles_with_the_ledger_and_its_payment_file(csrf_client, approver, approved_run):
    ana, ben = partner_of(approved_run, "ana"), partner_of(approved_run, "ben")
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(approved_run))

    assert [row[:3] for row in check_rows(response)] == [
        ("✔", False, "Lines add up to the run's gross"), ("✔", False, "Lines add up to the run's balance"),
        ("✔", False, "Posted to partners at approval"), ("✔", False, "Taken from the fund at approval"),
        ("✔", False, "Put into payment at approval"), ("✔", False, "Payment file: control total"),
        ("✔", False, "Payable lines no longer covered by the partner's in-payment balance"),
    ]
    assert ledger_rows(response)[1:] == [
        (False, "Posted by this run (gross + adjustments − withholding)", "10,000.00 USD", "10,000.00 USD",
         f"run:{approved_run.pk}:approve"),
        (False, "In payment", "10,000.00 USD", "10,000.00 USD", f"run:{approved_run.pk}:in-payment"),
        (False, "Paid", "0.00 USD", "not posted", f"run:{approved_run.pk}:pay"),
    ]
    assert f"2 payees · control total 10,000.00 USD · hash total {ana.pk + ben.pk}" in page_text(response)


def test_a_paid_run_reconciles_with_what_was_paid_out(csrf_client, approver, approved_run):
    payout_run_mark_paid(run_id=approved_run.pk, actor=approver, reference="BATCH-1")
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(approved_run))

    assert check_rows(response)[-1] == ("✔", False, "Paid out", "10,000.00 USD", "10,000.00 USD", "✔")
    assert all(row[0] == "✔" for row in check_rows(response))
    assert ledger_rows(response)[3] == (False, "Paid", "10,000.00 USD", "10,000.00 USD", f"run:{approved_run.pk}:pay")


def move_in_payment_away(run: PayoutRun, handle: str, amount_minor: int) -> None:
    """Someone posts a correction that takes part of a partner's in-payment balance back to payable."""
    partner = partner_of(run, handle)
    accounts = {account.kind: account.pk
                for account in LedgerAccount.objects.filter(partner=partner, program=run.program)}
    post_pairs(key=f"manual:{handle}", description="Moved by hand",
               pairs=[(accounts[LedgerAccount.Kind.PARTNER_IN_PAYMENT], -amount_minor),
                      (accounts[LedgerAccount.Kind.PARTNER_PAYABLE], amount_minor)])


def test_a_run_whose_ledger_disagrees_shows_the_failed_check_in_red_with_its_difference(csrf_client, approver,
                                                                                        approved_run):
    move_in_payment_away(approved_run, "ana", 100_00)
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(approved_run))

    rows = check_rows(response)
    assert rows[-1] == ("✘", True, "Payable lines no longer covered by the partner's in-payment balance", "0", "1",
                        "✘ difference 1")
    assert [row[0] for row in rows[:-1]] == ["✔"] * 6
    assert CHECKS_FAIL.format(failed=1, count=7) in page_text(response)
    assert 'style="color:#c62828"><strong>' in response.content.decode()


def test_marking_paid_a_run_that_does_not_reconcile_is_a_form_error_and_changes_nothing(csrf_client, approver,
                                                                                        approved_run):
    move_in_payment_away(approved_run, "ana", 100_00)
    verified_client(csrf_client, approver)  # money actions need a verified second factor
    before = run_state(approved_run), lines_state(approved_run), ledger_state()

    response = submit(csrf_client, act_url(approved_run, "pay"), {"reference": "BATCH-1"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [NOT_RECONCILED.format(
        action="mark paid", run=approved_run, checks="Payable lines no longer covered by the partner's in-payment "
                                                     "balance (expected 0, found 1)")]
    assert (run_state(approved_run), lines_state(approved_run), ledger_state()) == before


# --- stale runs -----------------------------------------------------------------------------------

@pytest.fixture
def stale_run(computed_run, approver, second_approver) -> PayoutRun:
    """An adjustment approved after computing: the run no longer includes every approved input."""
    created = adjustment(computed_run.program, partner_of(computed_run, "ana"), approver)
    adjustment_approve(adjustment_id=created.pk, actor=second_approver)
    computed_run.refresh_from_db()
    assert computed_run.stale_reason == ADJUSTMENT_MADE_STALE.format(
        adjustment=created, amount="5.00 USD", user=second_approver)
    return computed_run


def test_a_stale_run_shows_why_and_offers_compute_again_but_not_approve(csrf_client, stale_run):
    checker = finance_user("checker")
    csrf_client.force_login(checker)

    response = csrf_client.get(run_url(stale_run))

    text = page_text(response)
    assert response.context["stale_banner"] == RUN_STALE_BANNER.format(reason=stale_run.stale_reason)
    assert f'<p class="errornote run-stale" role="alert">{RUN_STALE_BANNER.format(reason=stale_run.stale_reason)}' \
           in text
    assert response.context["run_actions"] == ["cancel", "recompute"]
    assert f'<a href="{act_url(stale_run, "recompute")}">Compute again…</a>' in text
    assert act_url(stale_run, "approve") not in text


def test_approving_a_stale_run_anyway_is_a_form_error_and_changes_nothing(csrf_client, stale_run):
    checker = finance_user("checker")
    verified_client(csrf_client, checker)  # money actions need a verified second factor
    before = run_state(stale_run), lines_state(stale_run), ledger_state()

    response = submit(csrf_client, act_url(stale_run, "approve"))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [RUN_STALE.format(run=stale_run,
                                                                            reason=stale_run.stale_reason)]
    assert (run_state(stale_run), lines_state(stale_run), ledger_state()) == before


def test_compute_again_brings_a_stale_run_up_to_date_and_its_asker_may_not_approve_it(
        csrf_client, stale_run, eager, django_capture_on_commit_callbacks):
    checker = finance_user("checker")
    csrf_client.force_login(checker)

    with django_capture_on_commit_callbacks(execute=True):
        response = submit(csrf_client, act_url(stale_run, "recompute"))

    assert response.status_code == 302
    stale_run.refresh_from_db()
    assert (stale_run.status, stale_run.stale_reason) == (R.COMPUTED, "")
    assert lines_state(stale_run) == [("ana", 7_496_25, 7_501_25, "payable"), ("ben", 2_498_75, 2_498_75, "payable")]
    page = csrf_client.get(run_url(stale_run))
    assert page.context["run_actions"] == ["cancel"]
    assert page.context["makers_note"] == CANNOT_APPROVE.format(
        makers="checker (asked for the run to be computed again), approver (created an adjustment the run applies)")


# --- makers ---------------------------------------------------------------------------------------

@pytest.fixture
def run_with_makers() -> PayoutRun:
    """finance1 started the run; finance2 created an adjustment (finance3 approved it) that the run applies."""
    finance1, finance2, finance3 = finance_user("finance1"), finance_user("finance2"), finance_user("finance3")
    program = paying_program()
    ana = member(program, handle="ana", views=3)
    member(program, handle="ben", views=1)
    created = adjustment(program, ana, finance2)
    adjustment_approve(adjustment_id=created.pk, actor=finance3)
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=finance1)
    assert run.status == R.COMPUTED, run.error
    return run


@pytest.mark.parametrize("maker", ["finance1", "finance2"])
def test_the_makers_are_listed_and_approve_is_not_offered_to_them(csrf_client, run_with_makers, maker):
    csrf_client.force_login(UserFactory(username=maker))

    response = csrf_client.get(run_url(run_with_makers))

    note = CANNOT_APPROVE.format(makers="finance1 (started the run), finance2 (created an adjustment the run applies)")
    assert response.context["makers_note"] == note
    assert response.context["you_cannot_approve"] == YOU_CANNOT_APPROVE
    assert response.context["run_actions"] == ["cancel"]
    assert f'<p class="run-makers">{note} <strong>{YOU_CANNOT_APPROVE}</strong></p>' in page_text(response)
    assert act_url(run_with_makers, "approve") not in page_text(response)


def test_someone_else_is_shown_the_makers_and_offered_approve(csrf_client, run_with_makers):
    csrf_client.force_login(UserFactory(username="finance3"))  # approved the adjustment: not a maker of the run

    response = csrf_client.get(run_url(run_with_makers))

    assert response.context["makers_note"] == CANNOT_APPROVE.format(
        makers="finance1 (started the run), finance2 (created an adjustment the run applies)")
    assert response.context["you_cannot_approve"] == ""
    assert response.context["run_actions"] == ["approve", "cancel"]


def test_a_maker_who_posts_approve_anyway_is_refused_by_the_service_and_nothing_changes(csrf_client, run_with_makers):
    finance2 = UserFactory(username="finance2")
    verified_client(csrf_client, finance2)  # money actions need a verified second factor
    before = run_state(run_with_makers), lines_state(run_with_makers), ledger_state()

    response = submit(csrf_client, act_url(run_with_makers, "approve"))

    assert response.context["form"].non_field_errors() == [FOUR_EYES.format(
        user=finance2, role=PayoutRunMaker.Role.ADJUSTMENT.label)]
    assert (run_state(run_with_makers), lines_state(run_with_makers), ledger_state()) == before


def test_a_run_the_scheduler_started_says_anyone_may_approve_it(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(computed_run))

    assert (response.context["makers_note"], response.context["run_actions"]) == (NO_MAKERS, ["approve", "cancel"])


# --- what the confirmations say will be paid ------------------------------------------------------

def confirmation(response) -> tuple[str, str, str]:
    return response.context["to_pay"], response.context["payees"], response.context["change"]


def test_the_first_runs_confirmations_show_total_payees_and_first_run(csrf_client, approver, computed_run,
                                                                      second_approver):
    csrf_client.force_login(approver)

    approve_page = csrf_client.get(act_url(computed_run, "approve"))
    payout_run_approve(run_id=computed_run.pk, actor=second_approver)
    pay_page = csrf_client.get(act_url(computed_run, "pay"))

    first = FIRST_RUN.format(program=computed_run.program)
    assert confirmation(approve_page) == confirmation(pay_page) == ("10,000.00 USD", "2", first)
    assert (f'<tr><th>To be paid</th><td class="to-pay">10,000.00 USD</td></tr>'
            f'\n    <tr><th>Payees</th><td class="payees">2</td></tr>'
            f'\n    <tr><th>Change from the previous run</th><td class="change">{first}</td></tr>'
            in page_text(approve_page))


@pytest.fixture
def september_run(approved_run) -> PayoutRun:
    """August (10,000.00 USD to two payees) is approved; September releases 12,000.00 USD to three."""
    program = approved_run.program
    TrancheFactory(fund=program.fund, starts_on=SEPTEMBER, ends_on=SEPTEMBER, amount_minor=12_000_00)
    for handle in ("ana", "ben"):
        DailyMetricFactory(partner=partner_of(approved_run, handle), day=SEPTEMBER.replace(day=15), views=1,
                           qualified_views=1)
    member(program, handle="cat", views=1, day=SEPTEMBER.replace(day=15))
    run = payout_run_compute(program_id=program.pk, month=SEPTEMBER)
    assert (run.status, run.total_payable_minor) == (R.COMPUTED, 12_000_00), run.error
    return run


def test_the_confirmation_shows_the_change_from_the_previous_approved_month(csrf_client, approver, september_run):
    csrf_client.force_login(approver)

    response = csrf_client.get(act_url(september_run, "approve"))

    assert confirmation(response) == ("12,000.00 USD", "3", "+2,000.00 USD (+20.0%) from August 2026 (10,000.00 USD)")


def test_a_later_month_is_never_the_previous_run(csrf_client, approver, september_run):
    """Only approved or paid months before the run's own count: September computed after August changes nothing
    on August's confirmation."""
    previous = PayoutRun.objects.get(program=september_run.program, month=MONTH)
    csrf_client.force_login(approver)

    response = csrf_client.get(act_url(previous, "pay"))

    assert confirmation(response) == ("10,000.00 USD", "2", FIRST_RUN.format(program=previous.program))


@pytest.mark.parametrize(("previous_payable", "text"), [
    (12_000_00, "−2,000.00 USD (−16.7%) from August 2026 (12,000.00 USD)"),
    (10_000_00, "0.00 USD (0.0%) from August 2026 (10,000.00 USD)"),
    (0, "+10,000.00 USD from August 2026, which paid nothing"),
])
def test_the_change_from_the_previous_month_down_level_or_from_nothing(approved_run, previous_payable, text):
    PayoutRun.objects.filter(pk=approved_run.pk).update(total_payable_minor=previous_payable)
    september = PayoutRun(program=approved_run.program, month=SEPTEMBER, currency="USD")

    assert change_from_previous(september, 10_000_00) == text


@pytest.mark.parametrize(("part", "whole", "text"), [(2_000_00, 10_000_00, "+20.0%"), (-1, 3, "−33.3%"),
                                                     (0, 5, "0.0%"), (1, 1_000, "+0.1%"), (1, 20_000, "0.0%"),
                                                     (1, 2_000, "0.0%")])
def test_signed_percent(part, whole, text):
    assert signed_percent(part, whole) == text


def test_signed_money():
    assert [signed_money(amount, "USD") for amount in (2_000_00, -25_00, 0)] == ["+2,000.00 USD", "−25.00 USD",
                                                                                  "0.00 USD"]
    assert format_money(-25_00, "USD") == "−25.00 USD"


# --- bounded queries ------------------------------------------------------------------------------

def runs_page_queries(csrf_client, members: int, suffix: str, second_approver) -> tuple[int, int]:
    program = paying_program()
    for index in range(members):
        member(program, handle=f"{suffix}{index}", views=index + 1)
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=finance_user(f"starter{suffix}"))
    computed = count_queries(csrf_client, run_url(run))
    payout_run_approve(run_id=run.pk, actor=second_approver)
    return computed, count_queries(csrf_client, run_url(run))


def test_the_run_page_reads_a_bounded_number_of_queries_whatever_its_lines(csrf_client, approver, second_approver):
    csrf_client.force_login(approver)
    runs_page_queries(csrf_client, 2, "warm", second_approver)  # per-process caches (content types, templates)

    few = runs_page_queries(csrf_client, 2, "few", second_approver)
    many = runs_page_queries(csrf_client, 30, "many", second_approver)

    assert few == many
    assert max(many) <= MAX_PAGE_QUERIES


# --- the second approver decides adjustments ------------------------------------------------------

@pytest.fixture
def three_adjustments(approver, second_approver):
    """One by each approver awaiting a decision, and one approver2 already rejected."""
    program = paying_program()
    ana, ben = member(program, handle="ana"), member(program, handle="ben")
    by_approver = adjustment(program, ana, approver, 25_00)
    by_second = adjustment(program, ben, second_approver, -10_00)
    rejected = adjustment(program, ben, approver, 7_00)
    adjustment_reject(adjustment_id=rejected.pk, actor=second_approver, reason="Duplicate")
    return by_approver, by_second, rejected


def changelist_url() -> str:
    return reverse("admin:payouts_adjustment_changelist")


def choose(csrf_client, action: str, adjustments, data: dict | None = None):
    page = csrf_client.get(changelist_url())
    return csrf_client.post(changelist_url(), {
        "csrfmiddlewaretoken": str(page.context["csrf_token"]), "action": action,
        "_selected_action": [str(item.pk) for item in adjustments], **(data or {})})


def test_the_list_puts_adjustments_awaiting_approval_first_and_highlights_them(csrf_client, second_approver,
                                                                              three_adjustments):
    by_approver, by_second, rejected = three_adjustments
    csrf_client.force_login(second_approver)

    response = csrf_client.get(changelist_url())

    assert list(response.context["cl"].result_list) == [by_second, by_approver, rejected]
    text = page_text(response)
    assert text.count('<strong style="color:#b26a00">Awaiting a second approver</strong>') == 2
    assert ">−10.00 USD<" in text
    assert "approve_selected" in response.context["action_form"].fields["action"].choices.__str__()


def test_approve_selected_asks_for_confirmation_first_and_changes_nothing(csrf_client, second_approver,
                                                                         three_adjustments):
    csrf_client.force_login(second_approver)
    before = adjustments_state()

    response = choose(csrf_client, "approve_selected", three_adjustments)

    assert response.status_code == 200
    assert [(item.pk, skip) for item, _, skip in response.context["rows"]] == [
        (three_adjustments[0].pk, ""), (three_adjustments[1].pk, WILL_SKIP_CREATOR),
        (three_adjustments[2].pk, WILL_SKIP_DECIDED.format(status="rejected"))]
    assert adjustments_state() == before


def test_approve_selected_approves_what_it_may_and_says_why_it_skipped_the_rest(csrf_client, second_approver,
                                                                               three_adjustments):
    by_approver, by_second, rejected = three_adjustments
    csrf_client.force_login(second_approver)

    response = choose(csrf_client, "approve_selected", three_adjustments, {"apply": "1", "reason": ""})

    assert response.status_code == 302
    assert messages_of(response) == [
        ("success", ADJUSTMENTS_DONE.format(adjustments="1 adjustment", done="approved",
                                            items=f"#{by_approver.pk} @ana 25.00 USD")),
        ("warning", ADJUSTMENTS_SKIPPED.format(adjustments="2 adjustments")),
        ("warning", ADJUSTMENT_SKIPPED.format(item=f"#{by_second.pk} @ben −10.00 USD",
                                              why=ADJUSTMENT_FOUR_EYES.format(user=second_approver))),
        ("warning", ADJUSTMENT_SKIPPED.format(item=f"#{rejected.pk} @ben 7.00 USD", why=ADJUSTMENT_DECIDED.format(
            adjustment=rejected, status="Rejected"))),
    ]
    assert adjustments_state() == [
        (by_approver.pk, "approved", second_approver.pk, ""),
        (by_second.pk, "pending", None, ""),
        (rejected.pk, "rejected", second_approver.pk, "Duplicate"),
    ]


def test_reject_selected_without_a_reason_is_a_form_error_and_changes_nothing(csrf_client, second_approver,
                                                                             three_adjustments):
    csrf_client.force_login(second_approver)
    before = adjustments_state()

    response = choose(csrf_client, "reject_selected", three_adjustments[:1], {"apply": "1", "reason": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert adjustments_state() == before


def test_reject_selected_records_the_reason_and_skips_the_creator(csrf_client, approver, three_adjustments):
    by_approver, by_second, _ = three_adjustments
    csrf_client.force_login(approver)

    response = choose(csrf_client, "reject_selected", [by_approver, by_second], {"apply": "1", "reason": "Not owed"})

    assert messages_of(response) == [
        ("success", ADJUSTMENTS_DONE.format(adjustments="1 adjustment", done="rejected",
                                            items=f"#{by_second.pk} @ben −10.00 USD")),
        ("warning", ADJUSTMENTS_SKIPPED.format(adjustments="1 adjustment")),
        ("warning", ADJUSTMENT_SKIPPED.format(item=f"#{by_approver.pk} @ana 25.00 USD",
                                              why=ADJUSTMENT_FOUR_EYES.format(user=approver))),
    ]
    assert adjustments_state()[:2] == [(by_approver.pk, "pending", None, ""),
                                       (by_second.pk, "rejected", approver.pk, "Not owed")]


def test_without_the_approve_adjustment_permission_the_actions_are_not_offered_and_change_nothing(
        csrf_client, manager, three_adjustments):
    csrf_client.force_login(manager)
    before = adjustments_state()

    page = csrf_client.get(changelist_url())
    response = choose(csrf_client, "approve_selected", three_adjustments[:2], {"apply": "1", "reason": ""})

    assert page.context["action_form"] is None
    assert response.status_code == 200
    assert adjustments_state() == before


def test_the_adjustment_list_reads_a_bounded_number_of_queries(csrf_client, approver, second_approver):
    csrf_client.force_login(second_approver)
    program = paying_program()

    def add(count: int, suffix: str) -> None:
        for index in range(count):
            creator = finance_user(f"{suffix}{index}")
            created = adjustment(program, member(program, handle=f"{suffix}.p{index}"), creator)
            if index % 2:
                adjustment_approve(adjustment_id=created.pk, actor=approver)

    add(2, "few")
    csrf_client.get(changelist_url())
    few = count_queries(csrf_client, changelist_url())
    add(12, "many")
    many = count_queries(csrf_client, changelist_url())

    assert Adjustment.objects.count() == 14
    assert many == few <= MAX_PAGE_QUERIES


def test_an_adjustments_page_shows_who_decided_it_and_why(csrf_client, approver, three_adjustments):
    rejected = three_adjustments[2]
    csrf_client.force_login(approver)

    response = csrf_client.get(reverse("admin:payouts_adjustment_change", args=[rejected.pk]))

    assert response.status_code == 200
    fields = {field.field["name"]: field.contents() for fieldset in response.context["adminform"]
              for line in fieldset for field in line}
    assert {name: html.unescape(strip_tags(fields[name])) for name in ("amount", "status", "created_by", "decided_by",
                                                           "decision_reason")} == {
        "amount": "7.00 USD", "status": "Rejected", "created_by": "approver", "decided_by": "approver2",
        "decision_reason": "Duplicate"}
