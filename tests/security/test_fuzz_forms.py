"""Every brand page form and every admin add/change form, fuzzed with hostile strings (issue 15): never a 500,
and a refused form (re-rendered with errors, or a 4xx) writes nothing.

Each form's visible fields take every value of hostile.HOSTILE once (a rotation, so every field meets every
value in len(HOSTILE) requests), then a few hypothesis-drawn values (derandomized, a fixed number). Django's test
client skips CSRF checks, so the posts reach the forms."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from django import forms
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.registry import KINDS
from partnerships.models import Enrolment
from partnerships.transitions import ENROLMENT_TRANSITIONS
from tests.partnerships.factories import EnrolmentFactory
from tests.payouts.factories import paying_program
from tests.security.hostile import ALONE, TEN_MB, hostile_strings, rotations, row_counts

pytestmark = pytest.mark.django_db
DRAWN_EXAMPLES = 2  # hypothesis examples per form, after the rotation


def refused(response) -> bool:
    """A re-rendered form with errors, or a client error: nothing may have been written."""
    return response.status_code >= 400 or (response.status_code == 200 and "error" in response.content.decode())


FAILURES: list[str] = []  # collected, so one run reports every form that fails rather than the first


@pytest.fixture(autouse=True)
def every_failure_reported():
    FAILURES.clear()
    yield
    assert not FAILURES, "\n".join(dict.fromkeys(FAILURES))


def post_and_check(client, url: str, data: dict) -> None:
    before = row_counts()
    try:
        response = client.post(url, data)
    except Exception as error:  # the test client re-raises what became a 500
        FAILURES.append(f"{url}: {type(error).__name__}: {error!s:.200} ← {data!r:.200}")
        return
    if response.status_code >= 500 or b"Traceback" in response.content:
        FAILURES.append(f"{url}: {response.status_code} ← {data!r:.200}")
    elif refused(response) and row_counts() != before:
        FAILURES.append(f"{url}: wrote on refusal ← {data!r:.200}")


def fuzz(client, url: str, names: list[str], base: dict | None = None) -> None:
    for values in rotations(names):
        post_and_check(client, url, {**(base or {}), **values})

    @given(values=st.fixed_dictionaries({name: hostile_strings() for name in names}))
    @settings(max_examples=DRAWN_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def drawn(values):
        post_and_check(client, url, {**(base or {}), **values})

    drawn()


def alone(client, url: str, names: list[str], valid: dict) -> None:
    """One hostile value in an otherwise valid form: what gets past a field reaches the model and the database."""
    for name in names:
        for value in ALONE:
            post_and_check(client, url, {**valid, name: value})


# -- the brand pages ------------------------------------------------------------------------------------------------

CAMPAIGN_FIELDS = ["brand", "name", "brief", "currency", "budget", "target_countries", "categories", "followers_min",
                   "followers_max", "min_engagement_rate", "min_avg_views", "deliverables", "starts_on", "ends_on",
                   "status"]


@pytest.fixture
def brand_admin(client, user_a):
    client.force_login(user_a)
    return client


def test_the_brand_forms_never_fail_and_write_nothing_on_refusal(brand_admin, brand_a, campaign_a, creators):
    valid = {"brand": brand_a.pk, "name": "Fuzz", "currency": "USD", "budget": "100.00", "followers_min": "0",
             "min_engagement_rate": "1", "min_avg_views": "0", "starts_on": "2030-01-01", "ends_on": "2030-02-01",
             "status": "draft"}
    fuzz(brand_admin, reverse("brands:campaigns"), CAMPAIGN_FIELDS)
    alone(brand_admin, reverse("brands:campaigns"), CAMPAIGN_FIELDS, valid)
    fuzz(brand_admin, reverse("brands:invite", args=[campaign_a.pk]), ["handle", "fee", "message", "from"],
         base={"handle": "ana", "fee": "10.00"})
    fuzz(brand_admin, reverse("brands:shortlist_add", args=[campaign_a.pk]), ["handle", "note"],
         base={"handle": "ana"})
    fuzz(brand_admin, reverse("brands:creators_shortlist"), ["campaign", "handle", "note", "next"],
         base={"campaign": campaign_a.pk, "handle": "ana"})


SEARCH_FIELDS = ["q", "country", "category", "kind", "followers_min", "followers_max", "avg_views_min",
                 "engagement_rate_min", "ordering", "cursor", "page_size"]


def test_the_brand_search_filters_never_fail(brand_admin, creators):
    for values in rotations(SEARCH_FIELDS):
        response = brand_admin.get(reverse("brands:creators"), values)
        assert response.status_code < 500, values


def test_the_brand_login_never_fails(client, user_a):
    fuzz(client, reverse("brands:login"), ["username", "password"])


@pytest.mark.parametrize("url", ["brands:campaigns", "brands:login", "admin:login"])
def test_a_ten_megabyte_form_is_refused_cleanly(brand_admin, url):
    before = row_counts()
    response = brand_admin.post(reverse(url), {"name": TEN_MB})
    assert response.status_code in (400, 413)
    assert row_counts() == before


# -- the admin ------------------------------------------------------------------------------------------------------

def _field_names(form: forms.BaseForm) -> list[str]:
    """The POST names of a form's fields: one per field, one per sub-widget of a multi-widget (date + time)."""
    names = []
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.HiddenInput) or field.disabled:
            continue
        if isinstance(widget, forms.MultiWidget):
            names += [form.add_prefix(name) + suffix for suffix in widget.widgets_names]
        else:
            names.append(form.add_prefix(name))
    return names


def _typed_names(form: forms.BaseForm) -> list[str]:
    """The fields a person types into (not a choice or a tick box): where a value gets past a parser or not."""
    return [form.add_prefix(name) for name, field in form.fields.items()
            if not isinstance(field, forms.ChoiceField | forms.ModelChoiceField | forms.BooleanField)
            and not isinstance(field.widget, forms.HiddenInput | forms.MultiWidget) and not field.disabled]


def _initial(form: forms.BaseForm) -> dict:
    """The form as shown, posted back unchanged: the base a single hostile field is put into."""
    data: dict = {}
    for name, field in form.fields.items():
        value = form[name].value()  # already as the widget shows it
        if value is None or value is False or isinstance(field.widget, forms.MultiWidget):
            continue
        if isinstance(field, forms.JSONField) and not isinstance(value, str):
            value = json.dumps(value)
        data[form.add_prefix(name)] = "on" if value is True else value
    return data


def _management(response) -> dict:
    """Empty inline formsets: a post must carry their management forms or Django refuses it outright."""
    data = {}
    for inline in response.context.get("inline_admin_formsets") or ():
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def admin_form_urls(objects: Iterable) -> list[str]:
    urls = []
    for model in admin.site._registry:
        urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add"))
    for obj in objects:
        urls.append(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk]))
    return urls


@pytest.fixture
def admin_data(superuser, brand_a, campaign_a, creators):
    program = paying_program()
    enrolment = EnrolmentFactory(program=program, partner=creators["ana"], status=Enrolment.Status.SUBMITTED)
    return [brand_a, campaign_a, creators["ana"], program, program.terms, program.fund, enrolment, superuser]


def test_every_admin_form_never_fails_and_writes_nothing_on_refusal(client, superuser, admin_data):
    client.force_login(superuser)
    fuzzed = 0
    for url in admin_form_urls(admin_data):
        page = client.get(url)
        if page.status_code in (302, 403):  # adding is not permitted here (e.g. the ledger)
            continue
        assert page.status_code == 200, url
        form = page.context["adminform"].form
        names, base = _field_names(form), {**_initial(form), **_management(page)}
        fuzz(client, url, names, base=_management(page))
        if "/change/" in url:
            alone(client, url, _typed_names(form), base)
        fuzzed += 1
    assert fuzzed >= 20


def custom_admin_urls(partner, enrolment) -> list[str]:
    """The admin's own views with a form: compute a run, readiness, standing, decisions, imports upload."""
    return [reverse("admin:payouts_payoutrun_compute"), reverse("admin:payouts_paymentbatch_create"),
            reverse("admin:partnerships_partner_payout_readiness", args=[partner.pk]),
            reverse("admin:partnerships_partner_standing", args=[partner.pk, "suspend"]),
            *(f"/admin/partnerships/enrolment/{enrolment.pk}/decide/{action}/" for action in ENROLMENT_TRANSITIONS),
            *(reverse("admin:ingestion_importjob_upload", args=[kind]) for kind in KINDS)]


def test_the_admin_custom_views_never_fail_and_write_nothing_on_refusal(client, superuser, admin_data, creators):
    client.force_login(superuser)
    enrolment = next(obj for obj in admin_data if isinstance(obj, Enrolment))
    fuzzed = 0
    for url in custom_admin_urls(creators["ben"], enrolment):
        page = client.get(url)
        if page.status_code != 200 or not page.context or "form" not in page.context:
            continue
        form = page.context["form"]
        names = _field_names(form)
        fuzz(client, url, names, base=_initial(form))
        alone(client, url, _typed_names(form), _initial(form))
        file_fields = [name for name, field in form.fields.items() if isinstance(field, forms.FileField)]
        for name in file_fields:  # a 300-character file name of NUL bytes
            upload = SimpleUploadedFile("x" * 300 + ".csv", b"\x00" * 1000, content_type="text/csv")
            post_and_check(client, url, {**_initial(form), name: upload})
        fuzzed += 1
    assert fuzzed >= 6
    for month in ("9999-12", "10000-01", "0000-01", "٢٠٢٦-٠١", "2026-13"):  # the statement's month is in its path
        response = client.get(reverse("admin:payouts_statement", args=[creators["ben"].pk, month]))
        assert response.status_code < 500, month
