"""The admin as partnership managers use it: every page renders in a bounded number of queries, the lists
search and filter, decisions (one by one and in bulk) ask for a reason and report what they skipped, and
people without the permission change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ingestion.models import ImportJob
from partnerships import services
from partnerships.exceptions import ALREADY_DECIDED, CANNOT_TRANSITION, HARD_RULE_FAILED, OVERRIDE_REQUIRED
from partnerships.models import Category, DailyMetric, Enrolment, Partner, Program
from tests.partnerships.factories import (
    CategoryFactory,
    DailyMetricFactory,
    EnrolmentFactory,
    PartnerFactory,
    PartnerStatisticsFactory,
    ProgramFactory,
    UserFactory,
)

S = Enrolment.Status
# Brand matching's admin pages are covered by tests/brands/test_admin.py.
BRAND_MODELS = {"brand", "campaign", "invitation", "apitoken"}
# The import job moved to the ingestion app; its pages keep the coverage they had here.
COVERED_APPS = {"partnerships", "ingestion"}
ADMIN_MODELS = {
    model._meta.model_name: model for model in admin.site._registry
    if model._meta.app_label in COVERED_APPS and model._meta.model_name not in BRAND_MODELS
}
PARTNERSHIPS_ADMIN_MODELS = sorted(ADMIN_MODELS)
OTHER_ADMIN_MODELS = sorted(
    model._meta.label for model in admin.site._registry if model._meta.app_label not in COVERED_APPS
)
# Queries a page may make: session, user, permissions, the page's own reads. A page whose count grows
# with its rows breaks these long before it reaches production's millions.
MAX_PAGE_QUERIES = 12


@pytest.fixture(autouse=True)
def _empty_cache():
    """The country filter caches its choices; a test must not see the countries of the previous one."""
    cache.clear()
    yield
    cache.clear()


# --- helpers --------------------------------------------------------------------------------------

def admin_url(model: type, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def decide_url(enrolment: Enrolment, action: str) -> str:
    return reverse("admin:partnerships_enrolment_decide", args=[enrolment.pk, action])


def standing_url(partner: Partner, action: str) -> str:
    return reverse("admin:partnerships_partner_standing", args=[partner.pk, action])


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def listed_handles(response) -> set[str]:
    return {partner.handle for partner in listed(response)}


def enrolment_state(enrolment: Enrolment) -> tuple:
    enrolment.refresh_from_db()
    return (enrolment.status, enrolment.decided_by_id, enrolment.decided_at, enrolment.decision_reason,
            enrolment.eligibility_override_reason, enrolment.eligibility, enrolment.updated_at,
            enrolment.history.count())


def partner_state(partner: Partner) -> tuple:
    partner.refresh_from_db()
    return (partner.status, partner.status_reason, partner.status_changed_by_id, partner.status_changed_at,
            partner.updated_at, partner.history.count())


def submitted(program: Program, *, followers: int, handle: str | None = None, actor=None) -> Enrolment:
    """A real application: yesterday's metrics give the partner ``followers``, then the service submits it
    (which refreshes the statistics and stores the eligibility snapshot)."""
    partner = PartnerFactory(**({"handle": handle} if handle else {}))
    DailyMetricFactory(partner=partner, followers=followers, views=1_000, qualified_views=800, posts=3)
    return services.enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=actor)


def build_rows(count: int, *, suffix: str) -> None:
    """``count`` rows of every partnerships model, with everything the changelists display or prefetch:
    statistics, categories, daily metrics, live enrolments (so the "programs" column has content) and
    deciders (so a missing select_related on decided_by would show)."""
    for index in range(count):
        category = CategoryFactory(slug=f"cat-{suffix}-{index}")
        program = ProgramFactory(slug=f"prog-{suffix}-{index}", name=f"Program {suffix} {index}")
        partner = PartnerFactory(handle=f"p.{suffix}.{index}", country=("US", "DE", "FR")[index % 3])
        partner.categories.add(category)
        PartnerStatisticsFactory(partner=partner, followers=1_000 * (index + 1), views_30d=10 * index)
        DailyMetricFactory(partner=partner, followers=1_000 * (index + 1))
        status = (S.SUBMITTED, S.APPROVED, S.SUSPENDED)[index % 3]
        if status == S.SUBMITTED:
            EnrolmentFactory(partner=partner, program=program, status=status)
        else:
            EnrolmentFactory(partner=partner, program=program, status=status, decided_at=timezone.now(),
                             decided_by=UserFactory(username=f"decider.{suffix}.{index}"))
        EnrolmentFactory(partner=partner, program=ProgramFactory(), status=S.APPROVED)
        ImportJob.objects.create(kind=ImportJob.Kind.METRICS, source_name=f"metrics-{suffix}-{index}.csv",
                                 created_by=UserFactory(username=f"uploader.{suffix}.{index}"))


def count_queries(client, url: str) -> int:
    cache.clear()  # the cached country list would otherwise make the second request cheaper
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def one_of_each(manager):
    """One realistic object of every partnerships model: an application submitted through the service
    (so it has statistics, a snapshot and history) by a partner with a category."""
    program = ProgramFactory(name="Creator Fund", min_followers=10_000)
    enrolment = submitted(program, followers=25_000, handle="dancing.dani", actor=manager)
    category = CategoryFactory(slug="comedy", name="Comedy")
    enrolment.partner.categories.add(category)
    return {
        "partner": enrolment.partner,
        "category": category,
        "program": program,
        "enrolment": enrolment,
        "dailymetric": DailyMetric.objects.get(partner=enrolment.partner),
        "importjob": ImportJob.objects.create(kind=ImportJob.Kind.METRICS, source_name="metrics.csv",
                                              created_by=manager),
    }


@pytest.fixture(params=["superuser", "manager"])
def staff_user(request):
    return request.getfixturevalue(request.param)


# --- 1. smoke: every page renders, in a bounded number of queries ---------------------------------

def test_every_partnerships_model_registered_in_the_admin_is_covered_here():
    assert PARTNERSHIPS_ADMIN_MODELS == ["category", "dailymetric", "enrolment", "importjob", "partner", "program"]


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_changelist_renders_in_bounded_queries(client, staff_user, one_of_each, model_name,
                                               django_assert_max_num_queries):
    model = type(one_of_each[model_name])
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert listed(response) == [one_of_each[model_name]]


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_change_page_renders_in_bounded_queries(client, staff_user, one_of_each, model_name,
                                                django_assert_max_num_queries):
    obj = one_of_each[model_name]
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(type(obj), "change", obj.pk))

    assert response.status_code == 200
    assert response.context["original"] == obj


@pytest.mark.parametrize("label", OTHER_ADMIN_MODELS)
def test_changelists_of_other_apps_render_for_a_superuser(client, superuser, label):
    model = next(model for model in admin.site._registry if model._meta.label == label)
    client.force_login(superuser)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_changelist_queries_do_not_grow_with_the_number_of_rows(client, manager, model_name):
    model = ADMIN_MODELS[model_name]
    url = admin_url(model, "changelist")
    client.force_login(manager)
    build_rows(3, suffix="a")
    client.get(url)  # warm the per-process caches (content types, templates)
    few = count_queries(client, url)

    build_rows(27, suffix="b")
    many = count_queries(client, url)

    assert model.objects.count() == {"enrolment": 60, "program": 60}.get(model_name, 30)
    assert many == few


def test_enrolment_history_page_queries_do_not_grow_with_the_number_of_changes(client, manager, second_manager):
    enrolment = submitted(ProgramFactory(), followers=20_000, actor=manager)
    services.enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    url = admin_url(Enrolment, "history", enrolment.pk)
    client.force_login(manager)
    client.get(url)
    few = count_queries(client, url)

    for turn in range(10):
        actor = manager if turn % 2 else second_manager
        services.enrolment_suspend(enrolment_id=enrolment.pk, actor=actor, reason=f"Review {turn}")
        services.enrolment_reinstate(enrolment_id=enrolment.pk, actor=actor, reason=f"Cleared {turn}")
    many = count_queries(client, url)

    assert enrolment.history.count() == 22
    assert many == few


def test_partner_change_page_queries_do_not_grow_with_the_timeline(client, manager, second_manager):
    enrolment = submitted(ProgramFactory(), followers=20_000, actor=manager)
    partner = enrolment.partner
    services.partner_suspend(partner_id=partner.pk, actor=manager, reason="First review")
    services.partner_reinstate(partner_id=partner.pk, actor=manager, reason="First clearance")
    url = admin_url(Partner, "change", partner.pk)
    client.force_login(manager)
    client.get(url)
    few = count_queries(client, url)

    services.enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    for turn in range(5):
        actor = manager if turn % 2 else second_manager
        services.partner_suspend(partner_id=partner.pk, actor=actor, reason=f"Review {turn}")
        services.partner_reinstate(partner_id=partner.pk, actor=actor, reason=f"Cleared {turn}")
        services.enrolment_submit(partner_id=partner.pk, program_id=ProgramFactory().pk, actor=actor)
    many = count_queries(client, url)

    assert partner.history.count() == 13
    assert Enrolment.history.filter(partner_id=partner.pk).count() == 7
    assert many == few


def test_enrolment_add_page_renders(client, staff_user, django_assert_max_num_queries):
    ProgramFactory()
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(Enrolment, "add"))

    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"partner", "program"}


def test_enrolment_history_page_renders_in_bounded_queries(client, staff_user, one_of_each,
                                                           django_assert_max_num_queries):
    enrolment = one_of_each["enrolment"]
    services.enrolment_reject(enrolment_id=enrolment.pk, actor=UserFactory(groups=["Partnership managers"]),
                              reason="Too early")
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(Enrolment, "history", enrolment.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_decide_page_renders_in_bounded_queries(client, staff_user, one_of_each, action,
                                                django_assert_max_num_queries):
    enrolment = one_of_each["enrolment"]
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(decide_url(enrolment, action))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/enrolment/decide.html"


def test_standing_page_renders_in_bounded_queries(client, staff_user, one_of_each,
                                                  django_assert_max_num_queries):
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(standing_url(one_of_each["partner"], "suspend"))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/partner/standing.html"


def test_partner_changelist_shows_statistics_and_live_programs(client, manager, one_of_each):
    partner = one_of_each["partner"]
    EnrolmentFactory(partner=partner, program=ProgramFactory(name="Grant Round"), status=S.ENDED)
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"))

    html = response.content.decode()
    assert '<td class="field-followers">25,000</td>' in html
    assert '<td class="field-programs">Creator Fund (submitted)</td>' in html  # the ended one is not live


# --- 2. the partner list: search and filters ------------------------------------------------------

@pytest.fixture
def partner_directory():
    comedy, education = CategoryFactory(slug="comedy", name="Comedy"), CategoryFactory(slug="education")
    dani = PartnerFactory(handle="dancing.dani", display_name="Dani Dances", country="US")
    dani.categories.add(comedy)
    PartnerStatisticsFactory(partner=dani, followers=100_000)
    carl = PartnerFactory(handle="cooking.carl", display_name="Carl Cooks", country="DE")
    carl.categories.add(education)
    PartnerStatisticsFactory(partner=carl, followers=999_999)
    PartnerStatisticsFactory(partner=PartnerFactory(handle="big.news", kind=Partner.Kind.PUBLISHER,
                                                    date_of_birth=None, country="GB"), followers=1_000_000)
    PartnerStatisticsFactory(partner=PartnerFactory(handle="prof.pat", kind=Partner.Kind.EDUCATOR,
                                                    status=Partner.Status.SUSPENDED, country="DE"),
                             followers=99_999)
    PartnerFactory(handle="new.nina", country="FR")  # no statistics yet
    return {"comedy": comedy, "education": education}


ALL_HANDLES = {"dancing.dani", "cooking.carl", "big.news", "prof.pat", "new.nina"}


def test_partner_list_without_filters_lists_everyone(client, manager, partner_directory):
    client.force_login(manager)

    assert listed_handles(client.get(admin_url(Partner, "changelist"))) == ALL_HANDLES


@pytest.mark.parametrize(
    ("query", "handles"),
    [
        pytest.param({"q": "ing.da"}, {"dancing.dani"}, id="handle-fragment"),
        pytest.param({"q": "cooks"}, {"cooking.carl"}, id="display-name-fragment"),
        pytest.param({"kind__exact": "educator"}, {"prof.pat"}, id="kind"),
        pytest.param({"country": "DE"}, {"cooking.carl", "prof.pat"}, id="country"),
        pytest.param({"status__exact": "suspended"}, {"prof.pat"}, id="status"),
        pytest.param({"followers": "100k-1m"}, {"dancing.dani", "cooking.carl"}, id="followers-100k-1m"),
        pytest.param({"followers": "gte1m"}, {"big.news"}, id="followers-gte1m"),
        pytest.param({"followers": "10k-100k"}, {"prof.pat"}, id="followers-10k-100k"),
        pytest.param({"country": "DE", "status__exact": "active"}, {"cooking.carl"}, id="country-and-status"),
    ],
)
def test_partner_list_filters_narrow_the_list(client, manager, partner_directory, query, handles):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"), query)

    assert listed_handles(response) == handles
    html = response.content.decode()
    assert {handle for handle in ALL_HANDLES if f">{handle}</a>" in html} == handles


@pytest.mark.parametrize(("category", "handles"), [("comedy", {"dancing.dani"}), ("education", {"cooking.carl"})])
def test_partner_list_category_filter(client, manager, partner_directory, category, handles):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"), {"category": partner_directory[category].pk})

    assert listed_handles(response) == handles


def test_partner_list_country_filter_offers_the_countries_present(client, manager, partner_directory):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"))

    country_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "country")
    assert country_filter.lookup_choices == [("DE", "DE"), ("FR", "FR"), ("GB", "GB"), ("US", "US")]


# --- 3. the application queue ---------------------------------------------------------------------

@pytest.fixture
def queue(manager):
    """Two programs; in the strict one an eligible and a failing application, in the open one an
    application that a manager rejected."""
    strict = ProgramFactory(name="Creator Fund", min_followers=100_000)
    relaxed = ProgramFactory(name="Rising Stars")
    eligible = submitted(strict, followers=200_000, handle="dancing.dani")
    failing = submitted(strict, followers=50_000, handle="cooking.carl")
    rejected = submitted(relaxed, followers=5_000, handle="prof.pat")
    services.enrolment_reject(enrolment_id=rejected.pk, actor=manager, reason="Off-topic content")
    return {"strict": strict, "relaxed": relaxed, "eligible": eligible, "failing": failing, "rejected": rejected}


def test_queue_filters_by_program(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"program__id__exact": queue["strict"].pk})

    assert {e.pk for e in listed(response)} == {queue["eligible"].pk, queue["failing"].pk}


@pytest.mark.parametrize(("status", "expected"), [("submitted", {"eligible", "failing"}), ("rejected", {"rejected"})])
def test_queue_filters_by_status(client, manager, queue, status, expected):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"status__exact": status})

    assert {e.pk for e in listed(response)} == {queue[name].pk for name in expected}


def test_queue_filters_by_eligibility(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"eligible": "no"})

    assert [e.pk for e in listed(response)] == [queue["failing"].pk]


def test_queue_searches_by_exact_handle(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"q": "cooking.carl"})

    assert [e.pk for e in listed(response)] == [queue["failing"].pk]


def test_queue_shows_the_eligibility_summary_of_each_application(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"program__id__exact": queue["strict"].pk})

    html = response.content.decode()
    assert html.count("all 7 rules pass") == 1
    assert html.count("fails: Followers<") == 1


# --- 4. bulk decisions with the intermediate page -------------------------------------------------

def bulk(client, action: str, enrolments, **extra):
    data = {"action": f"{action}_selected", ACTION_CHECKBOX_NAME: [e.pk for e in enrolments], **extra}
    return client.post(admin_url(Enrolment, "changelist"), data)


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_bulk_first_post_asks_for_a_reason_and_changes_nothing(client, manager, queue, action):
    selected = [queue["eligible"], queue["failing"], queue["rejected"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(manager)

    response = bulk(client, action, selected)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/enrolment/decide.html"
    assert 'name="reason"' in response.content.decode()
    assert [e.pk for e in response.context["objects"]] == sorted(e.pk for e in selected)
    assert [enrolment_state(e) for e in selected] == before
    assert messages_of(response) == []


def test_bulk_approve_page_offers_an_override_when_an_application_fails_a_rule(client, manager, queue):
    client.force_login(manager)

    response = bulk(client, "approve", [queue["eligible"], queue["failing"]])

    assert "override_reason" in response.context["form"].fields
    assert response.context["failing"] == [queue["failing"]]


def test_bulk_approve_page_has_no_override_when_every_application_passes(client, manager, queue):
    client.force_login(manager)

    response = bulk(client, "approve", [queue["eligible"]])

    assert "override_reason" not in response.context["form"].fields


def test_bulk_approve_approves_eligible_and_reports_each_skip_with_its_reason(client, manager, queue):
    eligible, failing, rejected = queue["eligible"], queue["failing"], queue["rejected"]
    failing_before, rejected_before = enrolment_state(failing), enrolment_state(rejected)
    client.force_login(manager)

    response = bulk(client, "approve", [eligible, failing, rejected], apply="1", reason="Strong audience")

    assert response.status_code == 302
    eligible.refresh_from_db()
    assert (eligible.status, eligible.decided_by, eligible.decision_reason) == (S.APPROVED, manager,
                                                                               "Strong audience")
    assert eligible.eligibility_override_reason == ""
    assert enrolment_state(failing) == failing_before
    assert enrolment_state(rejected) == rejected_before
    already = ALREADY_DECIDED.format(status="rejected", who=manager, when=rejected.decided_at) + " " + \
        CANNOT_TRANSITION.format(action="approve", status="rejected", allowed="submitted", done="approved")
    assert messages_of(response) == [
        ("success", f"1 application(s) approved: #{eligible.pk} @dancing.dani."),
        ("warning", "2 application(s) skipped:"),
        ("warning", f"#{failing.pk} @cooking.carl: " + OVERRIDE_REQUIRED.format(rules="Followers")),
        ("warning", f"#{rejected.pk} @prof.pat: {already}"),
    ]


def test_bulk_approve_records_the_decision_in_history(client, manager, queue):
    eligible = queue["eligible"]
    client.force_login(manager)

    bulk(client, "approve", [eligible], apply="1", reason="Strong audience")

    latest = eligible.history.latest()
    assert (latest.status, latest.history_user, latest.history_change_reason) == (
        S.APPROVED, manager, "Approved: Strong audience")
    assert eligible.history.count() == 2


def test_bulk_approve_with_an_override_approves_a_failing_application_and_records_the_override(
    client, manager, queue
):
    failing = queue["failing"]
    client.force_login(manager)

    response = bulk(client, "approve", [failing], apply="1", reason="Niche but engaged",
                    override_reason="Followers grow 20% a month")

    assert response.status_code == 302
    failing.refresh_from_db()
    assert (failing.status, failing.decided_by, failing.eligibility_override_reason) == (
        S.APPROVED, manager, "Followers grow 20% a month")
    latest = failing.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        manager, "Approved: Niche but engaged (eligibility override: Followers grow 20% a month)")
    assert messages_of(response) == [("success", f"1 application(s) approved: #{failing.pk} @cooking.carl.")]


def test_bulk_approve_override_cannot_approve_a_minor(client, manager):
    program = ProgramFactory(name="Creator Fund")
    minor = PartnerFactory(handle="young.yan", date_of_birth=timezone.localdate() - dt.timedelta(days=12 * 365))
    enrolment = services.enrolment_submit(partner_id=minor.pk, program_id=program.pk)
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = bulk(client, "approve", [enrolment], apply="1", reason="Great content",
                    override_reason="Parents agreed")

    assert response.status_code == 302
    assert enrolment_state(enrolment) == before
    assert messages_of(response) == [
        ("warning", "1 application(s) skipped:"),
        ("warning", f"#{enrolment.pk} @young.yan: " + HARD_RULE_FAILED.format(rules="Minimum age")),
    ]


def test_bulk_reject_rejects_submitted_and_skips_the_already_rejected(client, second_manager, manager, queue):
    eligible, failing, rejected = queue["eligible"], queue["failing"], queue["rejected"]
    rejected_before = enrolment_state(rejected)
    client.force_login(second_manager)

    response = bulk(client, "reject", [eligible, failing, rejected], apply="1", reason="Program is full")

    assert response.status_code == 302
    for enrolment in (eligible, failing):
        enrolment.refresh_from_db()
        assert (enrolment.status, enrolment.decided_by, enrolment.decision_reason) == (
            S.REJECTED, second_manager, "Program is full")
        latest = enrolment.history.latest()
        assert (latest.history_user, latest.history_change_reason) == (second_manager, "Rejected: Program is full")
    assert enrolment_state(rejected) == rejected_before
    already = ALREADY_DECIDED.format(status="rejected", who=manager, when=rejected.decided_at) + " " + \
        CANNOT_TRANSITION.format(action="reject", status="rejected", allowed="submitted", done="rejected")
    assert messages_of(response) == [
        ("success", f"2 application(s) rejected: #{eligible.pk} @dancing.dani, #{failing.pk} @cooking.carl."),
        ("warning", "1 application(s) skipped:"),
        ("warning", f"#{rejected.pk} @prof.pat: {already}"),
    ]


def test_bulk_reject_without_a_reason_shows_an_error_and_changes_nothing(client, manager, queue):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(manager)

    response = bulk(client, "reject", selected, apply="1", reason="  ")

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert [enrolment_state(e) for e in selected] == before
    assert messages_of(response) == []


# --- 5. one decision at a time --------------------------------------------------------------------

def test_decide_page_get_shows_a_form_and_changes_nothing(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.get(decide_url(enrolment, "reject"))

    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["reason"]
    assert response.context["form"].is_bound is False
    assert enrolment_state(enrolment) == before


def test_decide_page_post_with_a_reason_decides(client, manager, queue):
    enrolment = queue["eligible"]
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "reject"), {"reason": "Audience outside our markets"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.decided_by, enrolment.decision_reason) == (
        S.REJECTED, manager, "Audience outside our markets")
    assert messages_of(response) == [("success", f"Application #{enrolment.pk} of @dancing.dani: reject done.")]


def test_decide_page_reject_without_a_reason_is_refused_and_changes_nothing(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "reject"), {"reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert enrolment_state(enrolment) == before


def test_decide_page_approve_of_a_failing_application_without_override_is_refused(client, manager, queue):
    enrolment = queue["failing"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"), {"reason": "Looks good", "override_reason": ""})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [OVERRIDE_REQUIRED.format(rules="Followers")]
    assert enrolment_state(enrolment) == before


def test_decide_page_approve_with_an_override_records_it(client, manager, queue):
    enrolment = queue["failing"]
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"),
                           {"reason": "Looks good", "override_reason": "Partner of a flagship show"})

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.eligibility_override_reason) == (S.APPROVED, "Partner of a flagship show")


def test_decide_page_can_approve_a_not_yet_evaluated_failing_application_with_an_override(client, manager):
    enrolment = EnrolmentFactory(program=ProgramFactory(min_followers=100_000), eligibility=[],
                                 eligibility_passed=None)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"),
                           {"reason": "Looks good", "override_reason": "Partner of a flagship show"})

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.eligibility_override_reason) == (S.APPROVED, "Partner of a flagship show")


def test_decide_page_for_an_unknown_action_redirects_with_an_error(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "delete"), {"reason": "x"})

    assert response.status_code == 302
    assert messages_of(response) == [("error", "Unknown decision “delete”.")]
    assert enrolment_state(enrolment) == before


def test_history_page_lists_the_decision_with_who_and_why(client, manager, queue):
    enrolment = queue["eligible"]
    client.force_login(manager)
    client.post(decide_url(enrolment, "reject"), {"reason": "Audience outside our markets"})

    response = client.get(admin_url(Enrolment, "history", enrolment.pk))

    assert response.status_code == 200
    records = list(response.context["page_obj"])
    assert [(r.status, r.history_user, r.history_change_reason) for r in records] == [
        (S.REJECTED, manager, "Rejected: Audience outside our markets"),
        (S.SUBMITTED, None, "Application submitted"),
    ]
    assert "Rejected: Audience outside our markets" in response.content.decode()


def test_change_page_offers_the_decisions_the_manager_may_take(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "change", queue["eligible"].pk))

    assert response.context["decision_actions"] == ["approve", "reject", "withdraw"]
    assert decide_url(queue["eligible"], "approve") in response.content.decode()


# --- the add page records an application through the service --------------------------------------

def test_adding_an_enrolment_submits_it_through_the_service(client, manager):
    partner = PartnerFactory(handle="dancing.dani")
    DailyMetricFactory(partner=partner, followers=150_000)
    program = ProgramFactory(min_followers=100_000)
    client.force_login(manager)

    response = client.post(admin_url(Enrolment, "add"), {"partner": partner.pk, "program": program.pk})

    assert response.status_code == 302
    enrolment = Enrolment.objects.get()
    assert (enrolment.partner, enrolment.program, enrolment.status, enrolment.eligibility_passed) == (
        partner, program, S.SUBMITTED, True)
    history = enrolment.history.get()
    assert (history.history_user, history.history_change_reason) == (manager, "Application submitted")


def test_adding_an_enrolment_to_a_closed_program_shows_the_refusal_and_saves_nothing(client, manager):
    partner = PartnerFactory()
    program = ProgramFactory(name="Creator Fund", is_open=False)
    client.force_login(manager)

    response = client.post(admin_url(Enrolment, "add"), {"partner": partner.pk, "program": program.pk})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "The program “Creator Fund” is closed to new applications."]
    assert Enrolment.objects.count() == 0
    assert Enrolment.history.count() == 0


# --- 6. permissions -------------------------------------------------------------------------------

def test_outsider_cannot_open_the_application_queue(client, outsider, queue):
    client.force_login(outsider)

    response = client.get(admin_url(Enrolment, "changelist"))

    assert response.status_code == 403


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_outsider_bulk_action_changes_nothing(client, outsider, queue, action):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(outsider)

    response = bulk(client, action, selected, apply="1", reason="Because", override_reason="Because")

    assert response.status_code == 403
    assert [enrolment_state(e) for e in selected] == before


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_outsider_decide_post_redirects_with_an_error_and_changes_nothing(client, outsider, queue, action):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(outsider)

    response = client.post(decide_url(enrolment, action), {"reason": "Because"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    assert messages_of(response) == [("error", f"You may not {action} applications.")]
    assert enrolment_state(enrolment) == before


@pytest.mark.parametrize("model", [Partner, Enrolment, Program, Category, DailyMetric])
def test_finance_can_view_the_lists(client, finance, one_of_each, model):
    client.force_login(finance)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model_name", ["partner", "enrolment"])
def test_finance_can_view_partners_and_enrolments(client, finance, one_of_each, model_name):
    obj = one_of_each[model_name]
    client.force_login(finance)

    response = client.get(admin_url(type(obj), "change", obj.pk))

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


def test_finance_is_not_offered_bulk_decisions(client, finance, queue):
    client.force_login(finance)

    response = client.get(admin_url(Enrolment, "changelist"))

    offered = [name for name, _ in response.context["cl"].model_admin.get_action_choices(response.wsgi_request)]
    assert "approve_selected" not in offered
    assert "reject_selected" not in offered
    assert "approve_selected" not in response.content.decode()


def test_finance_is_not_offered_decisions_on_the_change_page(client, finance, queue):
    enrolment = queue["eligible"]
    client.force_login(finance)

    response = client.get(admin_url(Enrolment, "change", enrolment.pk))

    assert response.context["decision_actions"] == []
    assert "/decide/" not in response.content.decode()


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_finance_bulk_action_changes_nothing(client, finance, queue, action):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(finance)

    response = bulk(client, action, selected, apply="1", reason="Because", override_reason="Because")

    # Finance has no action at all, so the admin ignores the posted one and shows the list again.
    assert response.status_code == 200
    assert "admin/change_list.html" in [template.name for template in response.templates]
    assert messages_of(response) == []
    assert [enrolment_state(e) for e in selected] == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_finance_decide_url_redirects_with_an_error_and_changes_nothing(client, finance, queue, method):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(finance)

    response = getattr(client, method)(decide_url(enrolment, "approve"), {"reason": "Because"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    assert messages_of(response) == [("error", "You may not approve applications.")]
    assert enrolment_state(enrolment) == before


@pytest.mark.parametrize("user_fixture", ["finance", "outsider"])
def test_standing_url_without_permission_redirects_with_an_error_and_changes_nothing(
    client, request, queue, user_fixture
):
    partner = queue["eligible"].partner
    before = partner_state(partner)
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.post(standing_url(partner, "suspend"), {"reason": "Because"})

    assert response.status_code == 302
    assert messages_of(response) == [("error", "You may not change this partner's standing.")]
    assert partner_state(partner) == before


def test_finance_is_not_offered_suspend_on_the_partner_page(client, finance, queue):
    partner = queue["eligible"].partner
    client.force_login(finance)

    response = client.get(admin_url(Partner, "change", partner.pk))

    assert response.context["can_suspend"] is False
    assert standing_url(partner, "suspend") not in response.content.decode()


@pytest.mark.parametrize("user_fixture", ["finance", "outsider"])
def test_reevaluate_without_the_decide_permission_changes_nothing(client, request, queue, user_fixture):
    enrolment = queue["failing"]
    DailyMetricFactory(partner=enrolment.partner, day=timezone.localdate(), followers=500_000)
    before = enrolment_state(enrolment)
    client.force_login(request.getfixturevalue(user_fixture))

    client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[enrolment.pk]))

    assert enrolment_state(enrolment) == before


def test_reevaluate_of_an_unknown_enrolment_is_not_found(client, manager):
    client.force_login(manager)

    response = client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[999_999]))

    assert response.status_code == 404


def test_manager_reevaluates_eligibility_from_the_change_page(client, manager, queue):
    enrolment = queue["failing"]
    DailyMetricFactory(partner=enrolment.partner, day=timezone.localdate(), followers=500_000)
    client.force_login(manager)

    response = client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[enrolment.pk]))

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.eligibility_passed is True
    assert enrolment.history.latest().history_user == manager
    assert messages_of(response) == [("success", "Eligibility re-evaluated: all 7 rules pass.")]


# --- 7. suspend and reinstate a partner -----------------------------------------------------------

def test_standing_page_get_shows_a_form_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.get(standing_url(partner, "suspend"))

    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["reason"]
    assert partner_state(partner) == before


def test_partner_page_offers_suspend_to_a_manager(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)

    response = client.get(admin_url(Partner, "change", partner.pk))

    html = response.content.decode()
    assert standing_url(partner, "suspend") in html
    assert standing_url(partner, "reinstate") not in html


def test_suspend_with_a_reason_records_who_and_why(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)

    response = client.post(standing_url(partner, "suspend"), {"reason": "Fake followers detected"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Partner, "change", partner.pk)
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason, partner.status_changed_by) == (
        Partner.Status.SUSPENDED, "Fake followers detected", manager)
    assert partner.status_changed_at is not None
    latest = partner.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (manager, "Suspend: Fake followers detected")
    assert messages_of(response) == [("success", "@dancing.dani: suspend done.")]


def test_partner_page_history_shows_the_suspension_reason(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)
    client.post(standing_url(partner, "suspend"), {"reason": "Fake followers detected"})

    response = client.get(admin_url(Partner, "change", partner.pk))

    html = response.content.decode()
    assert "<td>Suspend: Fake followers detected</td>" in html
    assert "status: active → suspended" in html
    assert standing_url(partner, "reinstate") in html


def test_reinstate_with_a_reason_restores_the_partner(client, manager, second_manager, one_of_each):
    partner = one_of_each["partner"]
    services.partner_suspend(partner_id=partner.pk, actor=second_manager, reason="Fake followers detected")
    client.force_login(manager)

    response = client.post(standing_url(partner, "reinstate"), {"reason": "Audit cleared the account"})

    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason, partner.status_changed_by) == (
        Partner.Status.ACTIVE, "Audit cleared the account", manager)
    page = client.get(admin_url(Partner, "change", partner.pk)).content.decode()
    assert "<td>Reinstate: Audit cleared the account</td>" in page
    assert "<td>Suspend: Fake followers detected</td>" in page


def test_suspend_without_a_reason_is_refused_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.post(standing_url(partner, "suspend"), {"reason": " "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert partner_state(partner) == before


def test_reinstate_of_an_active_partner_is_refused_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.post(standing_url(partner, "reinstate"), {"reason": "Just in case"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["@dancing.dani is already active."]
    assert partner_state(partner) == before


def test_bulk_suspend_first_post_asks_for_a_reason_and_changes_nothing(client, manager, partner_directory):
    partners = list(Partner.objects.filter(handle__in=["dancing.dani", "prof.pat"]))
    before = [partner_state(p) for p in partners]
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"),
                           {"action": "suspend_selected", ACTION_CHECKBOX_NAME: [p.pk for p in partners]})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/partner/standing.html"
    assert 'name="reason"' in response.content.decode()
    assert [partner_state(p) for p in partners] == before


def test_bulk_suspend_suspends_and_skips_the_already_suspended(client, manager, partner_directory):
    dani, pat = Partner.objects.get(handle="dancing.dani"), Partner.objects.get(handle="prof.pat")
    pat_before = partner_state(pat)
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"), {
        "action": "suspend_selected", ACTION_CHECKBOX_NAME: [dani.pk, pat.pk], "apply": "1",
        "reason": "Bought followers",
    })

    assert response.status_code == 302
    dani.refresh_from_db()
    assert (dani.status, dani.status_reason, dani.status_changed_by) == (
        Partner.Status.SUSPENDED, "Bought followers", manager)
    assert partner_state(pat) == pat_before
    assert messages_of(response) == [
        ("success", "1 partner(s): suspend done."),
        ("warning", "Skipped @prof.pat: @prof.pat is already suspended."),
    ]


def test_bulk_suspend_without_a_reason_changes_nothing(client, manager, partner_directory):
    partners = list(Partner.objects.all())
    before = [partner_state(p) for p in partners]
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"), {
        "action": "suspend_selected", ACTION_CHECKBOX_NAME: [p.pk for p in partners], "apply": "1", "reason": "",
    })

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert [partner_state(p) for p in partners] == before


# --- 8. the partner page's timeline ---------------------------------------------------------------

def test_partner_page_shows_the_timeline_of_enrolment_decisions(client, manager, second_manager):
    program = ProgramFactory(name="Creator Fund")
    enrolment = submitted(program, followers=20_000, handle="dancing.dani", actor=second_manager)
    services.enrolment_reject(enrolment_id=enrolment.pk, actor=manager, reason="Audience outside our markets")
    client.force_login(manager)

    response = client.get(admin_url(Partner, "change", enrolment.partner_id))

    html = response.content.decode()
    assert "<td>manager</td><td>Enrolment in Creator Fund</td><td>status rejected</td>" \
        "<td>Rejected: Audience outside our markets</td>" in html
    assert "<td>manager2</td><td>Enrolment in Creator Fund</td><td>created (submitted)</td>" \
        "<td>Application submitted</td>" in html


def test_timeline_lists_newest_first(client, manager):
    program = ProgramFactory(name="Creator Fund")
    enrolment = submitted(program, followers=20_000, handle="dancing.dani", actor=manager)
    services.enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="Welcome")
    services.enrolment_suspend(enrolment_id=enrolment.pk, actor=manager, reason="Paused for review")
    client.force_login(manager)

    html = client.get(admin_url(Partner, "change", enrolment.partner_id)).content.decode()

    positions = [html.index(text) for text in ("Suspended: Paused for review", "Approved: Welcome",
                                               "Application submitted")]
    assert positions == sorted(positions)
