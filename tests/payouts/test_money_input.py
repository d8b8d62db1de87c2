"""Money configuration typed in the admin: funds, tranches and terms in major units and percentages, saved through
payouts.configuration with a required reason, every version kept and shown, computed runs made stale."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payouts import configuration
from payouts.configuration import (
    FUND_TOTAL_BELOW_SPENT,
    REASON_REQUIRED,
    RELEASED_ABOVE_TOTAL,
    ConfigurationRefused,
    TrancheChange,
)
from payouts.models import BudgetTranche, Fund, PayoutRun, ProgramTerms
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, paying_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def cfo(db):
    return UserFactory(username="cfo", is_superuser=True)


@pytest.fixture
def client(cfo):
    client = Client()
    client.force_login(cfo)
    return client


@pytest.fixture
def program():
    return paying_program(fund_total=100_000_000_00, month_budget=10_000_00, revenue_share_rate=Decimal("0.5"),
                          min_payout_minor=100_00)


def form_data(form) -> dict:
    """What the browser would post back for a form as the page shows it."""
    data = {}
    for bound in form:
        value = bound.value()
        if bound.field.show_hidden_initial:  # the value the page was shown with, posted back beside the field
            data[bound.html_initial_name] = str(value.pk if isinstance(value, Model) else
                                                "" if value is None else value)
        if isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif value is None:
            continue
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        else:
            data[bound.html_name] = str(value.pk if isinstance(value, Model) else value)
    return data


def page_data(response) -> dict:
    data = form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(form_data(formset.management_form))
        for form in formset.forms:
            data.update(form_data(form))
    return data


def computed_run(program) -> PayoutRun:
    return PayoutRun.objects.create(program=program, month=MONTH, status=PayoutRun.Status.COMPUTED,
                                    currency=program.currency, as_of=MONTH.replace(day=31),
                                    started_at=timezone.now())


# --- funds ---------------------------------------------------------------------------------------------

def test_fund_page_shows_amounts_in_major_units_beside_the_currency(client, program):
    response = client.get(reverse("admin:payouts_fund_change", args=[program.fund.pk]))

    html = response.content.decode()
    assert 'value="100,000,000.00"' in html  # the total, not 10000000000
    assert 'value="10,000.00"' in html  # the tranche
    assert '<span class="money-currency" data-currency="USD">USD</span>' in html
    assert "Reason for this change" in html


def test_fund_total_changed_in_the_admin_keeps_a_version_with_who_why_old_and_new(
        client, cfo, program, django_capture_on_commit_callbacks):
    fund = program.fund
    run = computed_run(program)
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))

    data.update({"total_minor": "150,000,000.00", "change_reason": "Board raised the fund"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    fund.refresh_from_db()
    assert fund.total_minor == 150_000_000_00
    latest, previous = Fund.history.filter(id=fund.pk).order_by("-history_date", "-history_id")[:2]
    assert (latest.history_change_reason, latest.history_user, latest.total_minor, previous.total_minor) == (
        "Board raised the fund", cfo, 150_000_000_00, 100_000_000_00)
    assert BudgetTranche.history.filter(fund_id=fund.pk, history_change_reason="Board raised the fund").count() == 0
    run.refresh_from_db()
    assert run.stale_reason == f"Fund “{fund.name}” changed by cfo: Board raised the fund"

    page = client.get(url).content.decode()
    assert "Board raised the fund" in page
    assert "total: 100,000,000.00 USD → 150,000,000.00 USD" in page


def test_a_change_without_a_reason_is_refused_and_nothing_is_written(client, program):
    fund = program.fund
    run = computed_run(program)
    versions = Fund.history.count()
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))
    data.update({"total_minor": "150,000,000.00", "change_reason": "  "})

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"change_reason": ["This field is required."]}
    fund.refresh_from_db()
    run.refresh_from_db()
    assert (fund.total_minor, Fund.history.count(), run.stale_reason) == (100_000_000_00, versions, "")


def test_a_fund_total_typed_loosely_is_refused_on_the_field(client, program):
    url = reverse("admin:payouts_fund_change", args=[program.fund.pk])
    data = page_data(client.get(url))
    data.update({"total_minor": "100.000.000,00", "change_reason": "typo"})

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["total_minor"] == [
        "“100.000.000,00” looks like a decimal comma; this field takes a point for decimals: type 100000000.00"]
    program.fund.refresh_from_db()
    assert program.fund.total_minor == 100_000_000_00


def test_a_fund_total_below_what_its_runs_spent_is_refused_in_money(client, program):
    fund = program.fund
    Fund.objects.filter(pk=fund.pk).update(spent_minor=60_000_000_00)
    versions = Fund.history.count()
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))
    data.update({"total_minor": "50,000,000.00", "change_reason": "Budget cut"})

    response = client.post(url, data)

    message = FUND_TOTAL_BELOW_SPENT.format(fund=fund.name, total="50,000,000.00 USD", spent="60,000,000.00 USD")
    assert response.context["adminform"].form.errors["total_minor"] == [message]
    fund.refresh_from_db()
    assert (fund.total_minor, Fund.history.count()) == (100_000_000_00, versions)


def test_fund_update_refuses_a_total_below_spent_before_the_database_does(cfo, program):
    fund = program.fund
    Fund.objects.filter(pk=fund.pk).update(spent_minor=60_000_000_00)
    run = computed_run(program)

    with pytest.raises(ConfigurationRefused) as caught:
        configuration.fund_update(fund_id=fund.pk, actor=cfo, reason="Budget cut", total_minor=59_999_999_99)

    assert str(caught.value) == FUND_TOTAL_BELOW_SPENT.format(fund=fund.name, total="59,999,999.99 USD",
                                                              spent="60,000,000.00 USD")
    fund.refresh_from_db()
    run.refresh_from_db()
    assert (fund.total_minor, Fund.history.filter(id=fund.pk).count(), run.stale_reason) == (100_000_000_00, 1, "")


def test_fund_update_needs_a_reason(cfo, program):
    with pytest.raises(ConfigurationRefused, match=REASON_REQUIRED):
        configuration.fund_update(fund_id=program.fund.pk, actor=cfo, reason="", total_minor=1)
    program.fund.refresh_from_db()
    assert program.fund.total_minor == 100_000_000_00


def test_tranches_may_not_release_more_than_the_fund_totals(cfo, program):
    fund = program.fund
    with pytest.raises(ConfigurationRefused) as caught:
        configuration.tranche_save(fund_id=fund.pk, actor=cfo, reason="Next year", starts_on=MONTH.replace(month=9),
                                   ends_on=MONTH.replace(month=12), amount_minor=100_000_000_00)
    assert str(caught.value) == RELEASED_ABOVE_TOTAL.format(fund=fund.name, released="100,010,000.00 USD",
                                                            total="100,000,000.00 USD")
    assert fund.tranches.count() == 1


def test_a_tranche_changed_in_the_fund_page_keeps_its_version(client, cfo, program):
    fund = program.fund
    tranche = fund.tranches.get()
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))
    data.update({"tranches-0-amount_minor": "12,500.00", "change_reason": "August budget raised"})

    response = client.post(url, data)

    assert response.status_code == 302
    tranche.refresh_from_db()
    assert tranche.amount_minor == 12_500_00
    latest = BudgetTranche.history.filter(id=tranche.pk).latest("history_date")
    assert (latest.history_change_reason, latest.history_user, latest.amount_minor) == (
        "August budget raised", cfo, 12_500_00)
    assert Fund.history.filter(id=fund.pk).count() == 1  # the fund itself did not change
    assert "amount: 10,000.00 USD → 12,500.00 USD" in client.get(url).content.decode()


def test_a_new_fund_with_its_tranche_is_created_through_the_service(client, cfo):
    program = paying_program(currency="JPY", month_budget=None)
    Fund.objects.filter(program=program).delete()
    url = reverse("admin:payouts_fund_add")
    data = page_data(client.get(url))
    data.update({"program": str(program.pk), "name": "Yen fund", "currency": "JPY", "total_minor": "1,000,000",
                 "change_reason": "Launch", "tranches-0-starts_on": "2026-08-01",
                 "tranches-0-ends_on": "2026-09-01", "tranches-0-amount_minor": "200,000"})

    response = client.post(url, data)

    assert response.status_code == 302, (response.context["adminform"].form.errors,
                                         response.context["inline_admin_formsets"][0].formset.errors)
    fund = Fund.objects.get(program=program)
    assert (fund.total_minor, list(fund.tranches.values_list("amount_minor", flat=True))) == (1_000_000, [200_000])
    assert {r.history_change_reason for r in Fund.history.filter(id=fund.pk)} == {"Launch"}
    assert BudgetTranche.history.get(fund_id=fund.pk).history_user == cfo


# --- terms ---------------------------------------------------------------------------------------------

def test_terms_page_shows_money_and_percentages_as_people_type_them(client, program):
    response = client.get(reverse("admin:payouts_programterms_change", args=[program.terms.pk]))

    html = response.content.decode()
    assert 'name="revenue_share_rate" value="50%"' in html
    assert 'name="pool_share" value="100%"' in html
    assert 'name="min_payout_minor" value="100.00"' in html


def test_terms_changed_in_the_admin_keep_a_version_and_make_computed_runs_stale(
        client, cfo, program, django_capture_on_commit_callbacks):
    terms = program.terms
    run = computed_run(program)
    url = reverse("admin:payouts_programterms_change", args=[terms.pk])
    data = page_data(client.get(url))
    data.update({"revenue_share_rate": "55 %", "min_payout_minor": "50.00", "partner_cap_minor": "5,000.00",
                 "change_reason": "New contract"})

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    terms.refresh_from_db()
    assert (terms.revenue_share_rate, terms.min_payout_minor, terms.partner_cap_minor) == (
        Decimal("0.55"), 50_00, 5_000_00)
    latest = ProgramTerms.history.filter(id=terms.pk).latest("history_date")
    assert (latest.history_change_reason, latest.history_user) == ("New contract", cfo)
    run.refresh_from_db()
    assert run.stale_reason == "Money terms changed by cfo: New contract"
    page = client.get(url).content.decode()
    for change in ("revenue share rate: 50% → 55%", "min payout: 100.00 USD → 50.00 USD",
                   "partner cap: — → 5,000.00 USD", "New contract"):
        assert change in page


def test_terms_refuse_a_rate_over_100_percent_and_change_nothing(client, program):
    terms = program.terms
    url = reverse("admin:payouts_programterms_change", args=[terms.pk])
    data = page_data(client.get(url))
    data.update({"withholding_rate": "130", "change_reason": "Typo"})

    response = client.post(url, data)

    assert response.context["adminform"].form.errors["withholding_rate"] == [
        "“130” is understood as 130%; it must be between 0% and 100%."]
    assert ProgramTerms.history.filter(id=terms.pk).count() == 1


def test_terms_update_without_a_reason_is_refused(cfo, program):
    with pytest.raises(ConfigurationRefused, match=REASON_REQUIRED):
        configuration.terms_update(terms_id=program.terms.pk, actor=cfo, reason=" ", min_payout_minor=0)
    program.terms.refresh_from_db()
    assert program.terms.min_payout_minor == 100_00


def test_configuration_changers_name_who_changed_a_program_since_a_time(cfo, program):
    since = timezone.now() - dt.timedelta(seconds=1)
    configuration.fund_update(fund_id=program.fund.pk, actor=cfo, reason="r",
                              tranches=[TrancheChange(values={"starts_on": MONTH.replace(month=9),
                                                              "ends_on": MONTH.replace(month=9),
                                                              "amount_minor": 1_00})])
    assert configuration.configuration_changers(program_id=program.pk, since=since) == {cfo.pk}


def test_tranches_over_the_total_are_refused_on_the_page_before_anything_is_saved(client, program):
    fund = program.fund
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))
    data.update({"total_minor": "5,000.00", "change_reason": "Shrink"})

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [RELEASED_ABOVE_TOTAL.format(
        fund=fund.name, released="10,000.00 USD", total="5,000.00 USD")]
    fund.refresh_from_db()
    assert (fund.total_minor, Fund.history.filter(id=fund.pk).count()) == (100_000_000_00, 1)


def test_a_refusal_found_only_under_the_lock_is_reported_and_nothing_is_saved(client, program, monkeypatch):
    fund = program.fund
    name = fund.name
    url = reverse("admin:payouts_fund_change", args=[fund.pk])
    data = page_data(client.get(url))
    data.update({"name": "Renamed", "change_reason": "Rename"})
    real_check = configuration._check_fund_money

    def spent_meanwhile(locked):
        Fund.objects.filter(pk=locked.pk).update(spent_minor=locked.total_minor)  # a run spent it all meanwhile
        locked.spent_minor = locked.total_minor
        locked.total_minor -= 1
        real_check(locked)

    monkeypatch.setattr(configuration, "_check_fund_money", spent_meanwhile)

    response = client.post(url, data, follow=True)

    assert "Nothing was saved: Fund “Renamed” cannot total" in response.content.decode()
    fund.refresh_from_db()
    assert (fund.name, fund.spent_minor, Fund.history.filter(id=fund.pk).count()) == (name, 0, 1)


def test_a_save_changes_only_what_this_person_changed(client, cfo, program):
    terms = program.terms
    url = reverse("admin:payouts_programterms_change", args=[terms.pk])
    data = page_data(client.get(url))
    # Meanwhile someone else changes the withholding rate.
    configuration.terms_update(terms_id=terms.pk, actor=UserFactory(username="other"), reason="Treaty",
                               withholding_rate=Decimal("0.3"))
    data.update({"min_payout_minor": "75.00", "change_reason": "Lower minimum"})

    assert client.post(url, data).status_code == 302

    terms.refresh_from_db()
    assert (terms.min_payout_minor, terms.withholding_rate) == (75_00, Decimal("0.3"))
    latest = ProgramTerms.history.filter(id=terms.pk).latest("history_date")
    assert (latest.history_change_reason, latest.history_user) == ("Lower minimum", cfo)
