"""Screening a monthly run: each rule on both sides of its threshold, the planted anomalies of the demo flagged and
its normal month not, approval refused while a flag is unreviewed, and a manager's hold or clear (with a reason,
kept in the flags' history; a held line is not paid)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from partnerships.demo import seed_demo
from partnerships.models import DailyMetric
from payouts.admin.screening import RULE_FIELDS
from payouts.demo import SPIKE_PROGRAM, seed_payouts_demo
from payouts.exceptions import RunRefused
from payouts.models import EarningLine, PayoutRun, ScreeningFlag, ScreeningRules
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.screening import screening_line_clear, screening_line_hold
from payouts.services.settlement import payout_run_approve
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, TrancheFactory, member, paying_program

pytestmark = pytest.mark.django_db
Rule = ScreeningFlag.Rule
WINDOW = [MONTH + dt.timedelta(days=offset) for offset in range(-59, 31)]  # 90 days up to 31 August


def history(partner, *, views=100_000, rate="0.05", month_rate=None, days=WINDOW):
    """A steady partner: ``views`` a day, likes at ``rate`` per view (``month_rate`` in August)."""
    DailyMetric.objects.bulk_create([DailyMetric(
        partner=partner, day=day, views=views, qualified_views=views,
        likes=int(views * float(month_rate if month_rate is not None and day >= MONTH else rate))) for day in days])


def set_day(partner, day, views):
    DailyMetric.objects.filter(partner=partner, day=day).update(views=views, qualified_views=views)


def compute(program) -> PayoutRun:
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return run


def flags(run, rule=None):
    found = ScreeningFlag.objects.filter(run=run, **({"rule": rule} if rule else {}))
    return {flag.partner_id: flag for flag in found}


@pytest.fixture
def manager(db):
    ensure_group_permissions()
    return UserFactory(username="manager", groups=["Partnership managers"])


# --- a day far above the partner's usual level -----------------------------------------------------------------
@pytest.mark.parametrize(("spike", "flagged"), [(499_999, False), (500_000, True)])
def test_a_spike_is_flagged_from_a_score_of_40_over_the_partners_median(spike, flagged):
    # Given a flat 100,000 a day: MAD 0, so the spread is its floor, a tenth of the median (10,000)
    program = paying_program()
    partner, other = member(program), member(program)
    history(partner)
    history(other)
    set_day(partner, MONTH.replace(day=15), spike)
    run = compute(program)
    found = flags(run, Rule.SPIKE)
    assert (partner.pk in found) is flagged
    assert other.pk not in found
    if flagged:
        assert {key: found[partner.pk].evidence[key] for key in ("day", "qualified_views", "median", "mad", "score")} \
            == {"day": "2026-08-15", "qualified_views": 500_000, "median": 100_000, "mad": 0, "score": 40}
        assert found[partner.pk].suggested_action == ScreeningFlag.Action.HOLD


def test_a_small_account_is_not_flagged_for_noise_below_the_floor():
    program = paying_program()
    small = member(program)
    history(small, views=100)
    set_day(small, MONTH.replace(day=15), 49_999)  # a score of ~5,000, but under the 50,000 floor
    assert flags(compute(program)) == {}


# --- views without engagement ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("month_rate", "flagged"), [("0.003", False), ("0.002", True)])
def test_views_without_engagement_below_a_tenth_of_the_program_and_own_rate(month_rate, flagged):
    # Program rate in August = (0.05 + r) / 2: flagged below r ≈ 0.00263; the partner's own earlier rate is 0.05
    program = paying_program()
    normal, subject = member(program), member(program)
    history(normal)
    history(subject, month_rate=month_rate)
    found = flags(compute(program), Rule.NO_ENGAGEMENT)
    assert (subject.pk in found) is flagged
    assert normal.pk not in found
    if flagged:
        assert found[subject.pk].evidence["own_rate_before"] == 0.05
        assert found[subject.pk].evidence["engagements"] == 200 * 31


# --- a jump in share of the pool -------------------------------------------------------------------------------
@pytest.mark.parametrize(("august", "flagged"), [(29, False), (31, True)])
def test_a_share_above_three_times_the_previous_largest_share_is_flagged(august, flagged, approver):
    july = MONTH.replace(month=7)
    program = paying_program()
    TrancheFactory(fund=program.fund, starts_on=july, ends_on=july, amount_minor=10_000_00)
    long_ago = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # not new members
    subject = member(program, views=10, day=july.replace(day=3), approved_at=long_ago)
    other = member(program, views=90, day=july.replace(day=3), approved_at=long_ago)
    payout_run_approve(run_id=payout_run_compute(program_id=program.pk, month=july).pk, actor=approver)
    DailyMetric.objects.create(partner=subject, day=MONTH.replace(day=3), views=august, qualified_views=august)
    DailyMetric.objects.create(partner=other, day=MONTH.replace(day=3), views=100 - august,
                               qualified_views=100 - august)
    found = flags(compute(program), Rule.SHARE_JUMP)
    assert (subject.pk in found) is flagged
    if flagged:
        assert (found[subject.pk].evidence["share"], found[subject.pk].evidence["largest_previous_share"]) \
            == (0.31, 0.1)


# --- new partners with sudden volume ---------------------------------------------------------------------------
@pytest.mark.parametrize(("views_before", "flagged"), [(20_001, False), (20_000, True)])
def test_a_new_partner_with_five_times_its_earlier_volume_is_flagged(views_before, flagged):
    program = paying_program()
    old = member(program)
    history(old)
    new = member(program, approved_at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC))
    history(new, days=[day for day in WINDOW if day < MONTH], views=views_before)
    history(new, days=[day for day in WINDOW if day >= MONTH])  # 100,000 a day: 5× 20,000
    found = flags(compute(program), Rule.NEWCOMER)
    assert (new.pk in found) is flagged
    assert old.pk not in found


# --- the demo: a normal month raises nothing, the planted anomalies are flagged ---------------------------------
def test_demo_normal_month_raises_no_flag_and_planted_spike_and_bot_are_flagged():
    ensure_group_permissions()
    today = dt.date(2026, 11, 20)
    seed_demo(partners=300, today=today)
    seed_payouts_demo(today=today)
    september = PayoutRun.objects.filter(month=dt.date(2026, 9, 1))
    assert september.count() == 5
    assert not ScreeningFlag.objects.filter(run__in=september).exists()
    october = ScreeningFlag.objects.filter(run__month=dt.date(2026, 10, 1))
    spike = october.get(rule=Rule.SPIKE)
    assert spike.run.program.slug == SPIKE_PROGRAM
    assert spike.evidence["day"] == "2026-10-15"
    assert spike.evidence["score"] > 100
    bot = october.exclude(partner=spike.partner).get(rule=Rule.NO_ENGAGEMENT)
    assert (bot.evidence["engagements"], bot.run.program.slug) == (0, "eu-creator-fund")
    assert set(october.values_list("partner_id", flat=True)) == {spike.partner_id, bot.partner_id}


# --- review before approval ------------------------------------------------------------------------------------
@pytest.fixture
def flagged_run(db):
    program = paying_program()
    spiky, steady = member(program, handle="spiky"), member(program, handle="steady")
    history(spiky)
    history(steady)
    set_day(spiky, MONTH.replace(day=15), 5_000_000)
    run = compute(program)
    assert set(flags(run)) == {spiky.pk}
    return run, spiky, steady


def test_approval_is_refused_while_a_flag_is_unreviewed(flagged_run, approver):
    run, spiky, _ = flagged_run
    with pytest.raises(RunRefused, match=r"flagged lines nobody has reviewed yet: 1 "):
        payout_run_approve(run_id=run.pk, actor=approver)
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPUTED


@pytest.mark.parametrize("action", [screening_line_hold, screening_line_clear])
def test_hold_and_clear_need_a_reason_and_change_nothing_without_one(flagged_run, manager, action):
    run, spiky, _ = flagged_run
    with pytest.raises(RunRefused, match="A reason is required"):
        action(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="  ")
    assert ScreeningFlag.objects.get(run=run).status == ScreeningFlag.Status.PENDING
    assert EarningLine.objects.get(run=run, partner=spiky).status == EarningLine.Status.PAYABLE


def test_a_held_line_is_not_paid_and_the_run_is_approved(flagged_run, manager, approver):
    run, spiky, steady = flagged_run
    payable_before = run.total_payable_minor
    line = screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="bought views")
    assert (line.status, line.hold_reason) == (EarningLine.Status.HELD, "screening: bought views")
    run = payout_run_approve(run_id=run.pk, actor=approver)
    assert run.status == PayoutRun.Status.APPROVED
    assert run.total_payable_minor == payable_before - line.net_minor
    assert set(EarningLine.objects.filter(run=run, status=EarningLine.Status.PAYABLE)
               .values_list("partner_id", flat=True)) == {steady.pk}
    flag = ScreeningFlag.objects.get(run=run)
    assert (flag.status, flag.decided_by, flag.decision_reason) == (ScreeningFlag.Status.HELD, manager, "bought views")
    assert [h.status for h in flag.history.order_by("history_date")] == ["pending", "held"]


def test_clearing_a_held_line_gives_back_its_status_and_keeps_the_history(flagged_run, manager, approver):
    run, spiky, _ = flagged_run
    screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="checking")
    line = screening_line_clear(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="verified campaign")
    assert (line.status, line.hold_reason) == (EarningLine.Status.PAYABLE, "")
    flag = ScreeningFlag.objects.get(run=run)
    assert [h.status for h in flag.history.order_by("history_date")] == ["pending", "held", "cleared"]
    assert flag.history.latest().history_change_reason == "Cleared by manager: verified campaign"
    run.refresh_from_db()
    assert run.total_payable_minor == run.total_net_minor
    assert payout_run_approve(run_id=run.pk, actor=approver).status == PayoutRun.Status.APPROVED


def test_a_finance_approver_cannot_hold_a_line(flagged_run, approver):
    run, spiky, _ = flagged_run
    with pytest.raises(Exception, match="review_screeningflag"):
        screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=approver, reason="x")


# --- the run page ----------------------------------------------------------------------------------------------
def test_the_run_page_lists_flagged_lines_with_evidence_chart_and_a_hold_that_needs_a_reason(flagged_run, manager,
                                                                                           csrf_client):
    run, spiky, _ = flagged_run
    csrf_client.force_login(manager)
    page = csrf_client.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()
    assert "Screening flagged 1 line awaiting review" in page
    assert "@spiky" in page
    assert "score: 490" in page
    assert 'class="views-chart"' in page
    assert "highest 5,000,000 on 2026-08-15" in page
    hold_url = reverse("admin:payouts_payoutrun_screening", args=[run.pk, spiky.pk, "hold"])
    assert hold_url in page
    form_page = csrf_client.get(hold_url)
    token = form_page.cookies["csrftoken"].value
    refused = csrf_client.post(hold_url, {"reason": "", "csrfmiddlewaretoken": token})
    assert refused.status_code == 200
    assert ScreeningFlag.objects.get(run=run).status == ScreeningFlag.Status.PENDING
    done = csrf_client.post(hold_url, {"reason": "bought views", "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert ScreeningFlag.objects.get(run=run).status == ScreeningFlag.Status.HELD
    page = csrf_client.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()
    assert "awaiting review" not in page
    assert "Held by manager: bought views" in page


def test_a_manager_changes_a_programs_rules_with_a_reason_and_the_version_is_kept(manager, csrf_client):
    program = paying_program()
    csrf_client.force_login(manager)
    add_url = reverse("admin:payouts_screeningrules_add")
    token = csrf_client.get(add_url).cookies["csrftoken"].value
    fields = {field: getattr(ScreeningRules(), field) for field in RULE_FIELDS}
    data = {**{key: value for key, value in fields.items() if value is not False}, "program": program.pk,
            "csrfmiddlewaretoken": token}
    refused = csrf_client.post(add_url, {**data, "spike_score": "0", "change_reason": "tighter"})
    assert refused.status_code == 200  # below 1: the field says so, nothing saved
    assert "Ensure this value is greater than or equal to 1" in refused.content.decode()
    assert not ScreeningRules.objects.exists()
    saved = csrf_client.post(add_url, {**data, "spike_score": "25", "change_reason": "tighter after a campaign"})
    assert saved.status_code == 302
    rules = ScreeningRules.objects.get(program=program)
    assert rules.spike_score == 25
    version = rules.history.get()
    assert (version.history_user, version.history_change_reason) == (manager, "tighter after a campaign")
    page = csrf_client.get(reverse("admin:payouts_screeningrules_change", args=[rules.pk])).content.decode()
    assert "tighter after a campaign" in page


def test_the_flags_list_shows_a_partners_past_flags(flagged_run, manager, client):
    run, spiky, _ = flagged_run
    screening_line_clear(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="verified")
    client.force_login(manager)
    page = client.get(reverse("admin:payouts_screeningflag_changelist") + "?q=spiky").content.decode()
    assert "verified" in page
    flag = ScreeningFlag.objects.get(run=run)
    detail = client.get(reverse("admin:payouts_screeningflag_change", args=[flag.pk])).content.decode()
    assert "score: 490" in detail
    assert "verified" in detail


def test_the_partners_page_shows_its_past_flags_and_decisions_read_only(flagged_run, manager, client):
    run, spiky, steady = flagged_run
    screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="bought views")
    client.force_login(manager)
    page = client.get(reverse("admin:partnerships_partner_change", args=[spiky.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Screening flags and decisions" in html
    assert "A day far above the partner&#x27;s usual level" in html
    assert reverse("admin:payouts_payoutrun_change", args=[run.pk]) in html
    assert "score: 490" in html
    assert ">Held<" in html
    assert ">manager<" in html
    assert "bought views" in html
    assert 'name="screening_flags-TOTAL_FORMS"' in html  # the inline is there ...
    assert "screening_flags-0-DELETE" not in html  # ... and nothing in it can be deleted or added
    assert "Add another screening flag" not in html
    other = client.get(reverse("admin:partnerships_partner_change", args=[steady.pk])).content.decode()
    assert "bought views" not in other
    assert "score: 490" not in other


def test_a_held_amount_stays_reserved_next_month_until_a_manager_clears_it(flagged_run, manager, approver):
    run, spiky, _ = flagged_run
    line = screening_line_hold(run_id=run.pk, partner_id=spiky.pk, actor=manager, reason="bought views")
    payout_run_approve(run_id=run.pk, actor=approver)
    september = MONTH.replace(month=9)
    TrancheFactory(fund=run.program.fund, starts_on=september, ends_on=september, amount_minor=10_000_00)
    later = payout_run_compute(program_id=run.program_id, month=september)
    flag = ScreeningFlag.objects.get(run=later)
    assert (flag.partner_id, flag.rule) == (spiky.pk, Rule.HELD_BEFORE)
    assert flag.evidence == {"carried_in_minor": line.gross_minor - line.withholding_minor, "held_in_run": run.pk,
                             "held_month": "2026-08", "hold_reason": "bought views"}
    with pytest.raises(RunRefused, match="nobody has reviewed"):
        payout_run_approve(run_id=later.pk, actor=approver)
    screening_line_clear(run_id=later.pk, partner_id=spiky.pk, actor=manager, reason="traffic verified")
    later = payout_run_approve(run_id=later.pk, actor=approver)
    assert EarningLine.objects.get(run=later, partner=spiky).status == EarningLine.Status.PAYABLE
