"""What the form fuzz (test_fuzz_forms) found, one regression test each (issue 15): a refusal naming the field,
never a 500, nothing written."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule

from core.validators import PLAN_DATE_RANGE
from partnerships.models import Campaign
from payouts.models import ProgramTerms
from payouts.models.funds import RPM_NOT_AN_OBJECT, TIERS_NOT_A_LIST
from tests.marketplace.api.test_campaigns import campaign_payload
from tests.payouts.factories import paying_program

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value", "message"), [
    ("revenue_tiers", "1E+999999", TIERS_NOT_A_LIST),
    ("revenue_tiers", [1, 2], TIERS_NOT_A_LIST),
    ("rpm_by_country", 99999.99, RPM_NOT_AN_OBJECT),
    ("rpm_by_country", "{}", RPM_NOT_AN_OBJECT),
    ("rpm_by_country", {"US": "1E+999999"}, "above 1,000,000"),
])
def test_terms_of_the_wrong_json_shape_or_rate_are_a_field_error(field, value, message):
    terms = paying_program().terms
    setattr(terms, field, value)
    with pytest.raises(ValidationError) as refused:
        terms.clean()
    assert message in refused.value.message_dict[field][0]


def test_the_terms_admin_refuses_a_json_string_and_keeps_the_terms(client, superuser):
    terms = paying_program().terms
    client.force_login(superuser)
    url = reverse("admin:payouts_programterms_change", args=[terms.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    response = client.post(url, {**data, "rpm_by_country": '"{}"', "change_reason": "fuzz"})
    assert response.status_code == 200
    assert RPM_NOT_AN_OBJECT in response.content.decode().replace("&quot;", '"')
    assert ProgramTerms.objects.get(pk=terms.pk).rpm_by_country == terms.rpm_by_country


def test_a_crontab_typed_wrong_re_renders_with_its_errors(client, superuser):
    client.force_login(superuser)
    before = CrontabSchedule.objects.count()
    response = client.post(reverse("admin:django_celery_beat_crontabschedule_add"),
                           {"minute": "-1", "hour": "*", "day_of_month": "*", "month_of_year": "*",
                            "day_of_week": "*", "timezone": "UTC"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["minute"]
    assert CrontabSchedule.objects.count() == before


def test_a_campaign_engagement_minimum_above_100_percent_is_refused_on_the_page(client, user_a, brand_a):
    client.force_login(user_a)
    response = client.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Loose", "currency": "USD", "budget": "100.00", "followers_min": "0",
        "min_engagement_rate": "99999.99", "min_avg_views": "0", "starts_on": "2030-01-01",
        "ends_on": "2030-02-01", "status": "draft"})
    assert response.status_code == 400  # the page re-renders the form with its errors
    assert "min_engagement_rate" in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_a_campaign_engagement_minimum_above_100_percent_is_refused_by_the_api(api_a, brand_a, categories):
    response = api_a.post("/api/v1/campaigns/", campaign_payload(min_engagement_rate="99999.99"), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["min_engagement_rate"]
    assert not Campaign.objects.exists()
    assert api_a.post("/api/v1/campaigns/", campaign_payload(min_engagement_rate="100"),
                      format="json").status_code == 201
    assert Campaign.objects.get().min_engagement_rate == Decimal("100")


@pytest.mark.parametrize("currency", ["XXX", "XTS", "XAU"])
def test_a_campaign_in_a_code_that_is_no_currency_is_refused(api_a, client, user_a, brand_a, categories, currency):
    assert api_a.post("/api/v1/campaigns/", campaign_payload(currency=currency),
                      format="json").status_code == 400
    client.force_login(user_a)
    response = client.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Loose", "currency": currency, "budget": "100.00", "followers_min": "0",
        "min_engagement_rate": "1", "min_avg_views": "0", "starts_on": "2030-01-01", "ends_on": "2030-02-01",
        "status": "draft"})
    assert "currency" in response.context["form"].errors
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("starts_on", "ends_on", "field"), [
    ("0001-01-01", "2030-02-01", "starts_on"), ("2030-01-01", "9999-12-31", "ends_on"),
    ("1999-12-31", "2030-02-01", "starts_on")])
def test_a_campaign_dated_outside_a_plausible_range_is_refused_naming_the_field(
        api_a, client, user_a, brand_a, categories, starts_on, ends_on, field):
    response = api_a.post("/api/v1/campaigns/", campaign_payload(starts_on=starts_on, ends_on=ends_on),
                          format="json")
    assert (response.status_code, response.json()) == (400, {field: [PLAN_DATE_RANGE]})
    client.force_login(user_a)
    page = client.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Loose", "currency": "USD", "budget": "100.00", "followers_min": "0",
        "min_engagement_rate": "1", "min_avg_views": "0", "starts_on": starts_on, "ends_on": ends_on,
        "status": "draft"})
    assert page.context["form"].errors[field] == [PLAN_DATE_RANGE]
    assert not Campaign.objects.exists()
    assert api_a.post("/api/v1/campaigns/", campaign_payload(starts_on="2100-12-30", ends_on="2100-12-31"),
                      format="json").status_code == 201
