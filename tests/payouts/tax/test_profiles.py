"""Separation of duties over tax profiles: a partnership manager records a form as received but never validates
one; finance validates, with a reason kept in the history; the treaty table is finance's, audited; a change marks
the computed runs it affects stale."""

import pytest
from django.urls import reverse

from payouts.exceptions import NotPermitted
from payouts.models import IncomeType, PayoutRun, TaxProfile, TreatyRate
from payouts.roles import ensure_group_permissions
from payouts.services.tax import CANNOT_VALIDATE, VALIDATE_PERMISSION, TaxRefused, tax_profile_save, treaty_rate_save
from tests.partnerships.factories import PartnerFactory
from tests.payouts.factories import member, paying_program
from tests.payouts.tax.helpers import F, S, compute, profile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def permissions(db):
    ensure_group_permissions()


@pytest.fixture
def partner(db):
    return PartnerFactory(handle="creator", country="DE")


def test_a_manager_cannot_validate_a_form_and_nothing_is_written(manager, partner):
    with pytest.raises(NotPermitted) as refused:
        tax_profile_save(partner_id=partner.pk, actor=manager, form_type=F.W8BEN, status=S.VALIDATED,
                         residence_country="DE", reason="Looks fine")
    assert str(refused.value) == CANNOT_VALIDATE.format(user=manager, permission=VALIDATE_PERMISSION)
    assert not TaxProfile.objects.filter(partner=partner).exists()


def test_a_manager_records_a_received_form_but_cannot_change_a_validated_one(manager, finance, partner):
    received = tax_profile_save(partner_id=partner.pk, actor=manager, form_type=F.W8BEN, status=S.RECEIVED,
                                residence_country="de", reason="Form arrived by upload")
    assert (received.status, received.residence_country, received.received_at is not None) == (S.RECEIVED, "DE", True)
    validated = tax_profile_save(partner_id=partner.pk, actor=finance, form_type=F.W8BEN, status=S.VALIDATED,
                                 residence_country="DE", reason="Checked against the passport")
    assert (validated.validated_by, validated.status) == (finance, S.VALIDATED)
    with pytest.raises(NotPermitted):
        tax_profile_save(partner_id=partner.pk, actor=manager, form_type=F.W8BEN, status=S.VALIDATED,
                         residence_country="GB", reason="Moved")
    validated.refresh_from_db()
    assert validated.residence_country == "DE"
    reasons = list(validated.history.order_by("history_date").values_list("history_change_reason", "history_user"))
    assert reasons == [("Form arrived by upload", manager.pk), ("Checked against the passport", finance.pk)]


def test_a_validated_form_needs_a_type_and_a_country(finance, partner):
    with pytest.raises(TaxRefused, match="form type"):
        tax_profile_save(partner_id=partner.pk, actor=finance, form_type=F.NONE, status=S.VALIDATED,
                         residence_country="DE", reason="x")
    with pytest.raises(TaxRefused, match="residence country"):
        tax_profile_save(partner_id=partner.pk, actor=finance, form_type=F.W9, status=S.VALIDATED, reason="x")
    with pytest.raises(TaxRefused, match="residence_country"):
        tax_profile_save(partner_id=partner.pk, actor=finance, form_type=F.W9, status=S.VALIDATED,
                         residence_country="USA", reason="x")
    assert not TaxProfile.objects.exists()


def test_the_admin_offers_a_manager_no_validated_status_and_refuses_a_posted_one(client, manager, partner):
    client.force_login(manager)
    url = reverse("admin:payouts_taxprofile_add")
    page = client.get(url).content.decode()
    assert 'value="received"' in page
    assert 'value="validated"' not in page
    response = client.post(url, {"partner": partner.pk, "form_type": F.W8BEN, "status": S.VALIDATED,
                                 "residence_country": "DE", "expires_on": "", "change_reason": "ok"})
    assert response.status_code == 200  # the form again, with the error
    assert "status" in response.context["adminform"].form.errors
    assert not TaxProfile.objects.exists()


def test_a_validated_profile_is_read_only_for_a_manager(client, manager, partner):
    validated = profile(partner, F.W8BEN, country="DE")
    client.force_login(manager)
    url = reverse("admin:payouts_taxprofile_change", args=[validated.pk])
    assert client.get(url).status_code == 200  # may read it
    response = client.post(url, {"form_type": F.W8BEN, "status": S.RECEIVED, "residence_country": "GB",
                                 "expires_on": "", "change_reason": "moved"})
    assert response.status_code == 403
    validated.refresh_from_db()
    assert (validated.status, validated.residence_country) == (S.VALIDATED, "DE")


def test_finance_validates_in_the_admin_and_the_page_shows_the_history(client, finance, partner):
    client.force_login(finance)
    response = client.post(reverse("admin:payouts_taxprofile_add"), {
        "partner": partner.pk, "form_type": F.W8BEN, "status": S.VALIDATED, "residence_country": "DE",
        "expires_on": "2028-12-31", "change_reason": "W-8BEN signed 2025-03-02, checked"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = TaxProfile.objects.get(partner=partner)
    assert (saved.status, saved.validated_by) == (S.VALIDATED, finance)
    page = client.get(reverse("admin:payouts_taxprofile_change", args=[saved.pk])).content.decode()
    assert "W-8BEN signed 2025-03-02, checked" in page
    # the partner page links to it
    partner_page = client.get(reverse("admin:partnerships_partner_change", args=[partner.pk])).content.decode()
    link = reverse("admin:payouts_taxprofile_partner", args=[partner.pk])
    assert link in partner_page
    assert client.get(link)["Location"] == reverse("admin:payouts_taxprofile_change", args=[saved.pk])


def test_treaty_rates_are_finances_and_audited(client, finance, manager):
    client.force_login(finance)
    response = client.post(reverse("admin:payouts_treatyrate_add"), {
        "residence_country": "IN", "income_type": IncomeType.ROYALTIES, "rate": "15",
        "change_reason": "Treaty art. 12"})
    assert response.status_code == 302
    row = TreatyRate.objects.get(residence_country="IN")
    assert str(row.rate) == "0.150000"
    assert row.history.get().history_change_reason == "Treaty art. 12"
    client.force_login(manager)
    response = client.post(reverse("admin:payouts_treatyrate_change", args=[row.pk]), {
        "residence_country": "IN", "income_type": IncomeType.ROYALTIES, "rate": "0", "change_reason": "x"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert str(row.rate) == "0.150000"


def test_a_duplicate_treaty_row_is_refused_with_a_clear_error(finance):
    treaty_rate_save(actor=finance, residence_country="IN", income_type=IncomeType.ROYALTIES, rate="0.15",
                     reason="Treaty")
    with pytest.raises(TaxRefused, match="already has a rate"):
        treaty_rate_save(actor=finance, residence_country="IN", income_type=IncomeType.ROYALTIES, rate="0.10",
                         reason="Again")
    assert TreatyRate.objects.count() == 1


def test_a_profile_change_marks_the_computed_runs_with_the_partners_line_stale(
        finance, django_capture_on_commit_callbacks):
    program = paying_program()
    partner = member(program, handle="p", views=1)
    other_program = paying_program()
    member(other_program, handle="q", views=1)
    run, other = compute(program), compute(other_program)
    with django_capture_on_commit_callbacks(execute=True):
        tax_profile_save(partner_id=partner.pk, actor=finance, form_type=F.W8BEN, status=S.VALIDATED,
                         residence_country="DE", reason="Validated")
    assert PayoutRun.objects.get(pk=run.pk).stale_reason.startswith("Tax profile of @p changed by finance")
    assert PayoutRun.objects.get(pk=other.pk).stale_reason == ""
