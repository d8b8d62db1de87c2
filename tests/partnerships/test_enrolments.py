"""The application workflow: submit, decide, and every refusal changing nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from partnerships.exceptions import ApplicationRefused, NotPermitted, ReasonRequired, TransitionError
from partnerships.models import Enrolment, Partner
from partnerships.services.enrolments import (
    ENROLMENT_ACTIONS,
    enrolment_approve,
    enrolment_evaluate_eligibility,
    enrolment_reject,
    enrolment_submit,
    enrolments_decide,
)
from partnerships.services.partners import partner_reinstate, partner_suspend
from partnerships.transitions import ENROLMENT_TRANSITIONS, enrolment_action_refusal, enrolment_actions_allowed
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory, ProgramFactory

S = Enrolment.Status
LEGAL = {
    (S.SUBMITTED, "approve"): S.APPROVED,
    (S.SUBMITTED, "reject"): S.REJECTED,
    (S.SUBMITTED, "withdraw"): S.WITHDRAWN,
    (S.APPROVED, "suspend"): S.SUSPENDED,
    (S.APPROVED, "end"): S.ENDED,
    (S.APPROVED, "withdraw"): S.WITHDRAWN,
    (S.SUSPENDED, "reinstate"): S.APPROVED,
    (S.SUSPENDED, "end"): S.ENDED,
    (S.SUSPENDED, "withdraw"): S.WITHDRAWN,
}
ILLEGAL = [(status, action) for status in S.values for action in ENROLMENT_TRANSITIONS
           if (status, action) not in LEGAL]


def snapshot(enrolment: Enrolment) -> tuple:
    enrolment.refresh_from_db()
    return (enrolment.status, enrolment.decided_by_id, enrolment.decision_reason, enrolment.updated_at,
            enrolment.history.count())


# --- submit ---------------------------------------------------------------------------------------

def test_submit_stores_a_snapshot_of_every_rule_and_a_history_row(manager):
    partner = PartnerFactory()
    DailyMetricFactory(partner=partner, followers=150_000, views=500, posts=2)
    program = ProgramFactory(min_followers=100_000, min_posts_30d=5)

    enrolment = enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=manager)

    assert enrolment.status == S.SUBMITTED
    rules = {rule["rule"]: rule for rule in enrolment.eligibility}
    assert set(rules) == {"kind", "country", "age", "good_standing", "followers", "views_30d", "posts_30d"}
    assert rules["followers"] == {"rule": "followers", "label": "Followers", "value": "150,000",
                                  "threshold": "≥ 100,000", "passed": True, "hard": False}
    assert rules["posts_30d"]["passed"] is False
    assert enrolment.eligibility_passed is False
    history = enrolment.history.get()
    assert (history.history_user, history.history_change_reason) == (manager, "Application submitted")


def test_submit_to_a_closed_program_is_refused_and_saves_nothing(manager):
    partner, program = PartnerFactory(), ProgramFactory(is_open=False, name="Closed Fund")
    with pytest.raises(ApplicationRefused, match="“Closed Fund” is closed to new applications"):
        enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=manager)
    assert Enrolment.objects.count() == 0
    assert Enrolment.history.count() == 0


def test_second_live_application_is_refused(manager):
    existing = EnrolmentFactory(status=S.APPROVED)
    with pytest.raises(ApplicationRefused, match=r"already has a live application .* \(status: approved\)"):
        enrolment_submit(partner_id=existing.partner_id, program_id=existing.program_id)
    assert Enrolment.objects.count() == 1


def test_removed_partner_cannot_apply(db):
    partner = PartnerFactory(status=Partner.Status.REMOVED, handle="gone")
    with pytest.raises(ApplicationRefused, match="@gone has been removed"):
        enrolment_submit(partner_id=partner.pk, program_id=ProgramFactory().pk)
    assert Enrolment.objects.count() == 0


def test_rejected_partner_waits_out_the_cooldown(manager):
    program = ProgramFactory(reapply_cooldown_days=30)
    rejected = EnrolmentFactory(program=program)
    enrolment_reject(enrolment_id=rejected.pk, actor=manager, reason="Too few posts")
    Enrolment.objects.filter(pk=rejected.pk).update(decided_at=timezone.now() - dt.timedelta(days=29))

    with pytest.raises(ApplicationRefused, match=r"may re-apply from .* \(30-day cool-down\)"):
        enrolment_submit(partner_id=rejected.partner_id, program_id=program.pk)
    assert Enrolment.objects.count() == 1

    Enrolment.objects.filter(pk=rejected.pk).update(decided_at=timezone.now() - dt.timedelta(days=30, seconds=1))
    again = enrolment_submit(partner_id=rejected.partner_id, program_id=program.pk)
    assert again.status == S.SUBMITTED
    assert Enrolment.objects.count() == 2


# --- transitions ----------------------------------------------------------------------------------

def test_the_transition_table_is_the_workflow_above_and_every_action_has_its_service():
    table = {(status, action): transition.target
             for action, transition in ENROLMENT_TRANSITIONS.items() for status in transition.sources}
    assert table == LEGAL
    assert list(ENROLMENT_ACTIONS) == list(ENROLMENT_TRANSITIONS)


@pytest.mark.parametrize("start", S.values)
def test_the_table_allows_from_each_status_exactly_the_legal_actions(db, start):
    enrolment = EnrolmentFactory(status=start)
    assert enrolment_actions_allowed(enrolment) == [action for (status, action) in LEGAL if status == start]



@pytest.mark.parametrize(("start", "action"), list(LEGAL))
def test_every_legal_transition_records_who_when_and_why(manager, start, action):
    enrolment = EnrolmentFactory(status=start)
    before = enrolment.history.count()

    result = ENROLMENT_ACTIONS[action](enrolment_id=enrolment.pk, actor=manager, reason="Checked by hand")

    enrolment.refresh_from_db()
    assert enrolment.status == result.status == LEGAL[(start, action)]
    assert enrolment.decided_by == manager
    assert enrolment.decision_reason == "Checked by hand"
    assert enrolment.decided_at is not None
    assert enrolment.history.count() == before + 1
    latest = enrolment.history.first()
    assert latest.history_user == manager
    assert latest.history_change_reason.endswith("Checked by hand")


@pytest.mark.parametrize(("start", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(manager, start, action):
    enrolment = EnrolmentFactory(status=start)
    before = snapshot(enrolment)
    with pytest.raises(TransitionError, match=f"Cannot {action} an application that is {start}") as refused:
        ENROLMENT_ACTIONS[action](enrolment_id=enrolment.pk, actor=manager, reason="Because")
    assert snapshot(enrolment) == before
    assert str(refused.value) == enrolment_action_refusal(enrolment, action)  # what the admin would say


@pytest.mark.parametrize("action", ["reject", "suspend", "reinstate", "end"])
def test_decisions_that_need_a_reason_refuse_a_blank_one(manager, action):
    start = {"reject": S.SUBMITTED, "suspend": S.APPROVED, "reinstate": S.SUSPENDED, "end": S.APPROVED}[action]
    enrolment = EnrolmentFactory(status=start)
    before = snapshot(enrolment)
    with pytest.raises(ReasonRequired, match=f"A reason is required to {action} an application"):
        ENROLMENT_ACTIONS[action](enrolment_id=enrolment.pk, actor=manager, reason="   ")
    assert snapshot(enrolment) == before


@pytest.mark.parametrize("user_fixture", ["outsider", "finance"])
def test_a_user_without_the_permission_cannot_decide(request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    enrolment = EnrolmentFactory()
    before = snapshot(enrolment)
    with pytest.raises(NotPermitted, match="may not approve applications: it needs the permission"):
        enrolment_approve(enrolment_id=enrolment.pk, actor=user, reason="ok")
    assert snapshot(enrolment) == before


def test_a_second_decision_names_the_first(manager, second_manager):
    enrolment = EnrolmentFactory()
    enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="Good fit")
    with pytest.raises(TransitionError, match="already approved by manager"):
        enrolment_reject(enrolment_id=enrolment.pk, actor=second_manager, reason="Not a fit")
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.decided_by) == (S.APPROVED, manager)


# --- eligibility override ---------------------------------------------------------------------------

def failing_application(manager, **program_rules):
    partner = PartnerFactory()
    DailyMetricFactory(partner=partner, followers=99_999)
    program = ProgramFactory(min_followers=100_000, **program_rules)
    return enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=manager)


def test_approving_a_failing_application_needs_an_override(manager):
    enrolment = failing_application(manager)
    assert enrolment.eligibility_passed is False
    before = snapshot(enrolment)
    with pytest.raises(TransitionError, match="fails Followers. Approving it needs an explicit eligibility override"):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="ok")
    assert snapshot(enrolment) == before


def test_override_is_recorded(manager):
    enrolment = failing_application(manager)
    enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="Rising star",
                               override_reason="Growing 5% a week; manager's call")
    enrolment.refresh_from_db()
    assert enrolment.status == S.APPROVED
    assert enrolment.eligibility_override_reason == "Growing 5% a week; manager's call"
    assert "eligibility override: Growing 5% a week" in enrolment.history.first().history_change_reason


def test_override_is_ignored_when_every_rule_passes(manager):
    enrolment = EnrolmentFactory(eligibility_passed=True)
    enrolment_approve(enrolment_id=enrolment.pk, actor=manager, override_reason="not needed")
    enrolment.refresh_from_db()
    assert enrolment.eligibility_override_reason == ""


def test_a_minor_cannot_be_approved_even_with_an_override(manager):
    today = timezone.localdate()
    partner = PartnerFactory(date_of_birth=today.replace(year=today.year - 17))
    enrolment = enrolment_submit(partner_id=partner.pk, program_id=ProgramFactory(min_age=18).pk)
    before = snapshot(enrolment)
    with pytest.raises(TransitionError, match="fails Minimum age, which cannot be overridden"):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager, override_reason="please")
    assert snapshot(enrolment) == before


def test_reevaluation_updates_the_snapshot(manager):
    enrolment = failing_application(manager)
    DailyMetricFactory(partner=enrolment.partner, day=timezone.localdate(), followers=100_000)
    enrolment_evaluate_eligibility(enrolment_id=enrolment.pk, actor=manager)
    enrolment.refresh_from_db()
    assert enrolment.eligibility_passed is True


# --- bulk -----------------------------------------------------------------------------------------

def test_bulk_decision_reports_done_and_skipped_with_reasons(manager):
    ok = EnrolmentFactory()
    already = EnrolmentFactory(status=S.REJECTED)
    failing = failing_application(manager)

    report = enrolments_decide(enrolment_ids=[ok.pk, already.pk, failing.pk], action="approve",
                                        actor=manager, reason="Batch review")

    assert [e.pk for e in report.done] == [ok.pk]
    skipped = dict(report.skipped)
    assert set(skipped) == {already.pk, failing.pk}
    assert "Cannot approve an application that is rejected" in skipped[already.pk]
    assert "needs an explicit eligibility override" in skipped[failing.pk]
    statuses = dict(Enrolment.objects.values_list("pk", "status"))
    assert statuses == {ok.pk: S.APPROVED, already.pk: S.REJECTED, failing.pk: S.SUBMITTED}


def test_bulk_rejection_without_a_reason_attempts_nothing(manager):
    enrolments = EnrolmentFactory.create_batch(3)
    with pytest.raises(ReasonRequired):
        enrolments_decide(enrolment_ids=[e.pk for e in enrolments], action="reject", actor=manager,
                                   reason="")
    assert set(Enrolment.objects.values_list("status", flat=True)) == {S.SUBMITTED}


def test_bulk_by_a_user_without_permission_attempts_nothing(outsider):
    enrolment = EnrolmentFactory()
    with pytest.raises(NotPermitted):
        enrolments_decide(enrolment_ids=[enrolment.pk], action="approve", actor=outsider, reason="x")
    assert snapshot(enrolment)[0] == S.SUBMITTED


# --- partner standing -----------------------------------------------------------------------------

def test_suspend_and_reinstate_a_partner(manager):
    partner = PartnerFactory(handle="dani")
    partner_suspend(partner_id=partner.pk, actor=manager, reason="Fake engagement")
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason, partner.status_changed_by) == (
        Partner.Status.SUSPENDED, "Fake engagement", manager)
    assert partner.history.first().history_change_reason == "Suspend: Fake engagement"

    partner_reinstate(partner_id=partner.pk, actor=manager, reason="Appeal upheld")
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason) == (Partner.Status.ACTIVE, "Appeal upheld")


def test_partner_standing_refusals_change_nothing(manager, outsider):
    partner = PartnerFactory(handle="dani")
    with pytest.raises(ReasonRequired):
        partner_suspend(partner_id=partner.pk, actor=manager, reason="")
    with pytest.raises(NotPermitted):
        partner_suspend(partner_id=partner.pk, actor=outsider, reason="x")
    with pytest.raises(TransitionError, match="@dani is already active"):
        partner_reinstate(partner_id=partner.pk, actor=manager, reason="x")
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE
    assert partner.history.count() == 1  # only its creation


def test_reevaluation_needs_the_decide_permission(finance):
    enrolment = EnrolmentFactory(eligibility_passed=False)
    before = snapshot(enrolment)
    with pytest.raises(NotPermitted, match="may not re-evaluate eligibility"):
        enrolment_evaluate_eligibility(enrolment_id=enrolment.pk, actor=finance)
    assert snapshot(enrolment) == before
