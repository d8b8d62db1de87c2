"""The marketplace's rules, by their outcome: who brands may find (through the ORM and through the SQL the search
statements use, compiled from the same rule), and who acts for which brand."""

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from partnerships.marketplace import rules, services
from partnerships.marketplace.search import CreatorQuery, creator_page
from partnerships.models import Brand, BrandMembership, Invitation, Partner
from tests.marketplace.factories import ELIGIBLE, make_partners

pytestmark = pytest.mark.django_db
VISIBLE = {"ana", "ben", "cleo", "dan.media"}


def found_by_sql(**aliases) -> set[str]:
    """The handles marketplace_sql lets through, in a statement of its own with the given table aliases."""
    partner, statistics = aliases.get("partner", "p"), aliases.get("statistics", "s")
    rule, params = rules.marketplace_sql(**aliases)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {partner}.handle FROM {Partner._meta.db_table} {partner} "
                       f"JOIN partnerships_partnerstatistics {statistics} ON {statistics}.partner_id = {partner}.id "
                       f"WHERE {rule}", params)
        return {handle for (handle,) in cursor.fetchall()}


def test_brands_find_the_marketplace_creators_and_nobody_else(creators, hidden):
    assert set(rules.marketplace_partners().values_list("handle", flat=True)) == VISIBLE
    assert found_by_sql() == VISIBLE
    assert found_by_sql(partner="creator", statistics="stats") == VISIBLE
    assert {row["handle"] for row in creator_page(CreatorQuery(), size=100)[0]} == VISIBLE


@pytest.mark.parametrize(("change", "found"), [
    ({}, True),
    ({"born": 0}, True),  # of age today
    ({"born": 1}, False),  # a day short
    ({"born": None, "age_verified": True}, True),
    ({"born": None, "age_verified": False}, False),
    ({"born": None, "kind": Partner.Kind.PUBLISHER}, True),
    ({"born": None, "kind": Partner.Kind.INSTITUTION}, True),
    ({"born": None, "kind": Partner.Kind.EDUCATOR}, False),
    ({"opted_in": False}, False),
    ({"status": Partner.Status.SUSPENDED}, False),
    ({"status": Partner.Status.REMOVED}, False),
    ({"followers": 9_999}, False),
    ({"views": 999}, False),
    ({"posts": 2}, False),
])
def test_each_marketplace_rule_at_its_boundary(change, found):
    make_partners([{**ELIGIBLE, **change}])
    rows, _ = creator_page(CreatorQuery())
    assert len(rows) == int(found)
    assert rules.marketplace_partners().count() == int(found)
    assert len(found_by_sql()) == int(found)


def test_the_thresholds_follow_the_settings_and_the_compiled_rule_is_kept(creators, hidden):
    assert rules.marketplace_sql() is rules.marketplace_sql()  # compiled once, not per search
    with override_settings(MARKETPLACE_MIN_FOLLOWERS=150_000):
        assert found_by_sql() == {"cleo", "dan.media"}
        assert set(rules.marketplace_partners().values_list("handle", flat=True)) == {"cleo", "dan.media"}
    with override_settings(MARKETPLACE_MIN_AGE=16):  # a 17-year-old is of age; a birth date is then required
        assert "minor" in found_by_sql()
    assert found_by_sql() == VISIBLE


# --- membership -----------------------------------------------------------------------------------

def test_a_user_acts_for_the_active_brands_they_belong_to_and_a_token_for_its_own(user_a, brand_a, brand_b,
                                                                                  token_a):
    other = Brand.objects.create(slug="other", name="Other")
    other.memberships.create(user=user_a, role=BrandMembership.Role.MEMBER)
    assert set(rules.user_brands(user_a)) == {brand_a, other}
    token = user_a.api_tokens.get()
    assert set(rules.user_brands(user_a, token)) == {brand_a}
    Brand.objects.filter(pk=other.pk).update(is_active=False)
    assert set(rules.user_brands(user_a)) == {brand_a}
    assert not rules.user_brands(user_a).filter(pk=brand_b.pk).exists()


def test_an_inactive_brand_acts_for_nobody_in_the_services(user_a, brand_a, campaign_a, creators):
    invitation = services.invitation_create(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben",
                                            offered_fee_minor=1_000, currency="USD")
    Brand.objects.filter(pk=brand_a.pk).update(is_active=False)
    for refused in (lambda: services.brand_for(user_a, brand_a.pk),
                    lambda: services.campaign_archive(user=user_a, campaign_id=campaign_a.pk),
                    lambda: services.invitation_withdraw(user=user_a, invitation_id=invitation.pk)):
        with pytest.raises(services.NotFound):
            refused()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.INVITED


def test_the_pages_refuse_a_user_of_no_active_brand(client, user_a, brand_a):
    Brand.objects.filter(pk=brand_a.pk).update(is_active=False)
    client.force_login(user_a)
    assert client.get(reverse("brands:creators")).status_code == 404
