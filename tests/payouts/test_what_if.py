"""What-if runs (payouts.services.what_if): the same formula SQL as a computation, compared with the computed run,
and nothing written anywhere."""

import pytest
from django.urls import reverse
from django.utils.html import strip_tags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerships.models import Program
from payouts.exceptions import NotPermitted, RunRefused
from payouts.models import (
    Adjustment,
    EarningLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PayoutRun,
    ProgramTerms,
    ScreeningFlag,
)
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.what_if import WhatIfInvalid, payout_run_what_if
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program, revenue, video

PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LINE_FIELDS = ("partner_id", "gross_minor", "net_minor", "status")


@pytest.fixture
def actor(db):
    user = UserFactory(username="what-if", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


def _lines(run):
    return sorted(EarningLine.objects.filter(run=run).values_list(*LINE_FIELDS))


def _counts():
    return {model.__name__: model.objects.count() for model in (
        PayoutRun, EarningLine, LedgerEntry, LedgerTransaction, LedgerAccount, ScreeningFlag, Adjustment,
        ProgramTerms, ProgramTerms.history.model)}


@PROFILE
@given(views=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6),
       # From 1: a month of budget 0 with a cap fails to compute (the split caps everyone when nothing is shared).
       budget=st.integers(min_value=1, max_value=10**10),
       cap=st.none() | st.integers(min_value=1, max_value=10**9),
       retain=st.booleans(), min_payout=st.integers(min_value=0, max_value=10**6),
       min_views=st.integers(min_value=0, max_value=10**6))
def test_what_if_with_the_live_terms_gives_the_computed_lines(actor, views, budget, cap, retain, min_payout,
                                                             min_views):
    program = paying_program(month_budget=budget, partner_cap_minor=cap, min_payout_minor=min_payout,
                             min_views=min_views,
                             excess_policy="retain" if retain else "redistribute")
    for index, count in enumerate(views):
        member(program, handle=f"p{program.pk}x{index}", views=count)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.status == PayoutRun.Status.COMPUTED, run.error

    result = payout_run_what_if(run_id=run.pk, terms_changes={}, actor=actor)

    assert [(r.partner_id, r.new_gross, r.new_net, r.new_status) for r in result.rows] == _lines(run)
    assert [(r.partner_id, r.old_gross, r.old_net, r.old_status) for r in result.rows] == _lines(run)
    assert result.new == result.old
    assert (result.old.lines, result.old.gross, result.old.net, result.old.spend) == (
        run.line_count, run.total_gross_minor, run.total_net_minor, run.spend_minor)
    assert (result.gaining, result.losing, result.unchanged, result.largest) == (0, 0, len(result.rows), [])


def test_a_revenue_share_what_if_with_the_live_terms_changes_nothing_and_a_new_rate_scales(actor):
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=None, revenue_share_rate="0.5")
    revenue(member(program, handle="ana"), 1_000_01)
    revenue(member(program, handle="ben"), 300_00)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    same = payout_run_what_if(run_id=run.pk, terms_changes={}, actor=actor)
    assert [(r.partner_id, r.new_gross, r.new_net, r.new_status) for r in same.rows] == _lines(run)

    higher = payout_run_what_if(run_id=run.pk, terms_changes={"revenue_share_rate": "0.7"}, actor=actor)
    assert [(r.handle, r.old_gross, r.new_gross) for r in higher.rows] == [
        ("ana", 500_00, 700_01), ("ben", 150_00, 210_00)]  # 700.007 rounds half to even: 700.01
    assert (higher.gaining, higher.losing) == (2, 0)


@pytest.mark.parametrize("archetype", [Program.Archetype.RATE_PER_MILLE, Program.Archetype.GRANT])
def test_other_archetypes_with_the_live_terms_give_the_computed_lines(actor, archetype):
    program = paying_program(archetype, rpm_by_country={"*": "0.40"}, grant_monthly_minor=300_00,
                             video_cap_minor=None)
    for handle, views in (("ana", 12_345), ("ben", 2_000)):
        video(member(program, handle=handle, views=views), views=views)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    assert run.line_count == 2

    result = payout_run_what_if(run_id=run.pk, terms_changes={}, actor=actor)

    assert [(r.partner_id, r.new_gross, r.new_net, r.new_status) for r in result.rows] == _lines(run)
    assert result.new == result.old
    unreachable = payout_run_what_if(run_id=run.pk, terms_changes={"min_payout_minor": 10**9}, actor=actor)
    assert {r.new_status for r in unreachable.rows} == {EarningLine.Status.CARRIED_OVER}


def test_a_what_if_never_writes_to_live_tables(actor, django_capture_on_commit_callbacks):
    program = paying_program()
    member(program, handle="ana", views=3)
    member(program, handle="ben", views=1)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    before, lines, terms = _counts(), _lines(run), ProgramTerms.objects.filter(program=program).values().get()
    stored = PayoutRun.objects.filter(pk=run.pk).values().get()

    with django_capture_on_commit_callbacks() as callbacks:
        result = payout_run_what_if(run_id=run.pk, terms_changes={"partner_cap_minor": 1_000_00, "budget_minor": 50_00,
                                                                   "min_payout_minor": 10_00},
                                    excluded_partner_ids=[partner_id_of(program, "ben")], actor=actor)

    assert result.new.gross != result.old.gross  # it did compute something else
    assert callbacks == []
    assert _counts() == before
    assert _lines(run) == lines
    assert ProgramTerms.objects.filter(program=program).values().get() == terms
    assert PayoutRun.objects.filter(pk=run.pk).values().get() == stored


def partner_id_of(program, handle):
    return program.enrolments.get(partner__handle=handle).partner_id


@pytest.mark.parametrize(("policy", "ana", "ben"), [("redistribute", 5_000_00, 5_000_00),
                                                     ("retain", 5_000_00, 2_500_00)])
def test_a_lower_cap_moves_money_as_computed_by_hand(actor, computed_run, policy, ana, ben):
    # 10,000.00 USD shared 3:1: ana 7,500.00, ben 2,500.00. Capped at 5,000.00, ana's excess 2,500.00 goes to ben
    # (redistribute) or back to the fund (retain).
    result = payout_run_what_if(run_id=computed_run.pk,
                                terms_changes={"partner_cap_minor": "500000", "excess_policy": policy}, actor=actor)

    assert [(r.handle, r.old_net, r.new_net, r.difference) for r in result.rows] == [
        ("ana", 7_500_00, ana, ana - 7_500_00), ("ben", 2_500_00, ben, ben - 2_500_00)]
    assert (result.old.gross, result.new.gross) == (10_000_00, ana + ben)
    assert (result.old.spend, result.new.spend) == (10_000_00, ana + ben)
    assert result.losing == 1
    assert result.gaining == (1 if policy == "redistribute" else 0)
    assert result.largest[0].handle == "ana"
    assert result.changes == {"partner_cap_minor": 5_000_00, "excess_policy": policy}


def test_an_excluded_partner_leaves_the_pool_to_the_others(actor, computed_run):
    ana = computed_run.program.enrolments.get(partner__handle="ana").partner_id
    result = payout_run_what_if(run_id=computed_run.pk, terms_changes={}, excluded_partner_ids=[str(ana)],
                                actor=actor)
    assert [(r.handle, r.old_net, r.new_net) for r in result.rows] == [
        ("ana", 7_500_00, 0), ("ben", 2_500_00, 10_000_00)]
    assert result.excluded_partner_ids == (ana,)


def test_a_row_limit_keeps_the_first_partners_and_every_total(actor, computed_run):
    result = payout_run_what_if(run_id=computed_run.pk, terms_changes={"partner_cap_minor": 5_000_00}, actor=actor,
                                row_limit=1)
    assert [row.handle for row in result.rows] == ["ana"]
    assert (result.gaining, result.losing, result.new.lines) == (1, 1, 2)
    assert [row.handle for row in result.largest] == ["ana", "ben"]


def test_a_smaller_budget_and_a_minimum_payout(actor, computed_run):
    result = payout_run_what_if(run_id=computed_run.pk, terms_changes={"budget_minor": 400, "min_payout_minor": 200},
                                actor=actor)
    # 4.00 shared 3:1: ana 3.00, payable; ben's 1.00 is under the 2.00 minimum: carried over.
    assert [(r.handle, r.old_status, r.new_net, r.new_status) for r in result.rows] == [
        ("ana", "payable", 300, "payable"), ("ben", "payable", 100, "carried_over")]
    assert result.budget_minor == 400


@pytest.mark.parametrize(("changes", "excluded", "field", "words"), [
    ({"withholding_rate": "0.1"}, (), "withholding_rate", "not a term a what-if can change"),
    ({"partner_cap_minor": 0}, (), "partner_cap_minor", "greater than or equal to 1"),
    ({"partner_cap_minor": "lots"}, (), "partner_cap_minor", "must be an integer"),
    ({"partner_cap_minor": 2**63}, (), "partner_cap_minor", "less than or equal to"),
    ({"excess_policy": "keep"}, (), "excess_policy", "not a valid choice"),
    ({"pool_share": "1.5"}, (), "pool_share", "less than or equal to 1"),
    ({"revenue_tiers": [{"up_to_minor": 5, "rate": "2"}]}, (), "revenue_tiers", "not between 0 and 1"),
    ({"budget_minor": -1}, (), "budget_minor", "whole number of minor units"),
    ({"budget_minor": 1.5}, (), "budget_minor", "whole number of minor units"),
    ({"min_payout_minor": -1}, (), "min_payout_minor", "greater than or equal to 0"),
    ({}, ["x"], "excluded_partner_ids", "partner ids"),
    ({}, [999_999_999], "excluded_partner_ids", "No partner has the id 999999999"),
    ({}, range(1, 1002), "excluded_partner_ids", "at most 1,000"),
])
def test_invalid_changes_are_refused_naming_the_field(actor, computed_run, changes, excluded, field, words):
    before = _counts()
    with pytest.raises(WhatIfInvalid) as caught:
        payout_run_what_if(run_id=computed_run.pk, terms_changes=changes, excluded_partner_ids=excluded, actor=actor)
    assert words in " ".join(caught.value.message_dict[field])
    assert _counts() == before


def test_only_a_computed_monthly_run_and_only_finance(actor, approved_run, manager):
    with pytest.raises(RunRefused, match="approved"):
        payout_run_what_if(run_id=approved_run.pk, terms_changes={}, actor=actor)
    estimate = payout_run_compute(program_id=approved_run.program_id, month=MONTH, kind=PayoutRun.Kind.ESTIMATE)
    with pytest.raises(RunRefused, match="estimate"):
        payout_run_what_if(run_id=estimate.pk, terms_changes={}, actor=actor)
    with pytest.raises(NotPermitted):
        payout_run_what_if(run_id=approved_run.pk, terms_changes={}, actor=manager)


# --- the admin page -------------------------------------------------------------------------------------------------

def _what_if_url(run):
    return reverse("admin:payouts_payoutrun_what_if", args=[run.pk])


def test_the_run_page_links_to_what_if_for_finance_only(csrf_client, approver, computed_run, manager):
    csrf_client.force_login(approver)
    assert _what_if_url(computed_run) in csrf_client.get(reverse("admin:payouts_payoutrun_change",
                                                                 args=[computed_run.pk])).content.decode()
    csrf_client.force_login(manager)
    page = csrf_client.get(reverse("admin:payouts_payoutrun_change", args=[computed_run.pk]))
    assert page.status_code == 200
    assert _what_if_url(computed_run) not in page.content.decode()
    refused = csrf_client.get(_what_if_url(computed_run), {"what_if": "1", "budget_minor": "1"})
    assert refused.status_code == 302


def test_the_what_if_page_shows_the_lower_cap_and_exports_the_comparison(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)
    page = csrf_client.get(_what_if_url(computed_run))
    assert page.status_code == 200
    form = page.context["form"]
    query = {"what_if": "1", "excluded": ""}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        if name != "excluded":
            query[name] = "" if value is None else field.prepare_value(value) if name != "revenue_tiers" else ""
    query.update({"partner_cap_minor": "5,000.00", "excess_policy": "retain"})

    result = csrf_client.get(_what_if_url(computed_run), query)

    assert result.status_code == 200, result.context["form"].errors
    assert result.context["result"].changes == {"partner_cap_minor": 5_000_00, "excess_policy": "retain"}
    text = strip_tags(result.content.decode())
    assert "Partners: 0 gain, 1 loses, 1 unchanged." in " ".join(text.split())
    assert "−2,500.00 USD" in text
    assert [(row["handle"], row["old_status"], row["new_status"]) for row in result.context["rows"]] == [
        ("ana", "Payable", "Payable"), ("ben", "Payable", "Payable")]
    csv = csrf_client.get(_what_if_url(computed_run), {**query, "format": "csv"})
    rows = [line.split(",") for line in b"".join(csv.streaming_content).decode().splitlines()]
    assert rows[0][:2] == ["partner_id", "handle"]
    assert [(row[1], row[6], row[7], row[8]) for row in rows[1:]] == [
        ("ana", "750000", "500000", "-250000"), ("ben", "250000", "250000", "0")]


def test_the_what_if_page_names_a_bad_field_and_says_the_run_is_stale(csrf_client, approver, computed_run):
    PayoutRun.objects.filter(pk=computed_run.pk).update(stale_reason="the terms changed")
    csrf_client.force_login(approver)
    assert "The run is stale (the terms changed)" in csrf_client.get(_what_if_url(computed_run)).content.decode()
    response = csrf_client.get(_what_if_url(computed_run), {"what_if": "1", "partner_cap_minor": "-3",
                                                            "budget_minor": "lots"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "partner_cap_minor" in errors
    assert "budget_minor" in errors
    assert response.context["result"] is None


HOSTILE = ["1E+999999", "Infinity", "NaN", "٢٠٠", "12\x0034", "9" * 400, "-0", "1,2,3", "x" * 10_000]


def test_hostile_values_in_any_what_if_field_are_named_never_a_500(csrf_client, approver, computed_run):
    """Every field of the what-if form, one at a time, with values a person or a script could send: the page answers
    with the form's errors (or a result; a NUL byte in the address is a 400 before the view), never a 500, and
    nothing live is written."""
    csrf_client.force_login(approver)
    form = csrf_client.get(_what_if_url(computed_run)).context["form"]
    before = _counts()
    for name in form.fields:
        for value in HOSTILE:
            response = csrf_client.get(_what_if_url(computed_run), {"what_if": "1", name: value})
            if "\x00" in value:
                assert response.status_code == 400, (name, value)
                continue
            assert response.status_code == 200, (name, value)
            assert response.context["form"].errors or response.context["result"] is not None, (name, value)
    assert _counts() == before
