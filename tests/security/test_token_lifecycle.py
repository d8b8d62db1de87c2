"""Token lifecycle: tokens expire, carry the membership and role they were issued for, die when either changes
(re-adding a removed user never revives one), record their last use at most once a minute, and the admin shows it."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from partnerships.marketplace import services
from partnerships.marketplace.api import authentication
from partnerships.models import ApiToken, BrandMembership

pytestmark = pytest.mark.django_db
URL = "/api/v1/campaigns/"


@pytest.fixture
def issued(user_a, brand_a):
    token, secret = services.api_token_create(user=user_a, brand_id=brand_a.pk, name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return token, client


def test_a_token_carries_the_membership_and_role_it_was_issued_for(issued, user_a, brand_a):
    token, client = issued
    membership = BrandMembership.objects.get(user=user_a, brand=brand_a)
    assert (token.membership_id, token.role) == (membership.pk, BrandMembership.Role.ADMIN)
    assert client.get(URL).status_code == 200


def test_authentication_is_one_statement_when_last_use_is_fresh(issued):
    token, client = issued
    secret = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        authentication.BrandTokenAuthentication().authenticate_credentials(secret)
    assert len(queries) == 1


@override_settings(API_TOKEN_MAX_AGE_DAYS=90)
def test_a_token_expires_after_the_max_age(issued):
    token, client = issued
    BrandMembership.objects.filter(pk=token.membership_id).update(role_since=timezone.now() - dt.timedelta(days=365))
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - dt.timedelta(days=89, hours=23))
    assert client.get(URL).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - dt.timedelta(days=90, minutes=1))

    response = client.get(URL)

    assert response.status_code == 401
    assert response.json()["detail"] == authentication.EXPIRED.format(days=90)


def test_demoting_the_user_stops_the_token_and_promoting_again_does_not_revive_it(issued, user_a, brand_a):
    token, client = issued
    membership = BrandMembership.objects.get(user=user_a, brand=brand_a)
    membership.role = BrandMembership.Role.MEMBER
    membership.save()

    response = client.post(URL, {}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == authentication.ROLE_CHANGED

    membership.role = BrandMembership.Role.ADMIN
    membership.save()
    assert client.get(URL).status_code == 401


def test_saving_a_membership_without_changing_the_role_keeps_the_token(issued, user_a, brand_a):
    token, client = issued
    membership = BrandMembership.objects.get(user=user_a, brand=brand_a)
    membership.save()
    assert client.get(URL).status_code == 200


def test_demoting_in_the_admin_stops_the_token(issued, user_a, brand_a, superuser):
    token, client = issued
    membership = BrandMembership.objects.get(user=user_a, brand=brand_a)
    staff = Client()
    staff.force_login(superuser)
    response = staff.post(reverse("admin:partnerships_brand_change", args=[brand_a.pk]), {
        "name": brand_a.name, "slug": brand_a.slug, "is_active": "on",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk, "memberships-0-brand": brand_a.pk, "memberships-0-user": user_a.pk,
        "memberships-0-role": "member",
    })
    assert response.status_code == 302
    assert BrandMembership.objects.get(pk=membership.pk).role == BrandMembership.Role.MEMBER
    assert client.get(URL).status_code == 401


def test_re_adding_a_removed_user_never_revives_an_old_token(issued, user_a, brand_a):
    token, client = issued
    BrandMembership.objects.filter(user=user_a, brand=brand_a).delete()
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["detail"] == authentication.NOT_A_MEMBER
    assert ApiToken.objects.filter(pk=token.pk).exists()  # the record of who had access stays

    BrandMembership.objects.create(user=user_a, brand=brand_a, role=BrandMembership.Role.ADMIN)

    assert client.get(URL).status_code == 401
    _new, secret = services.api_token_create(user=user_a, brand_id=brand_a.pk, name="again")
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert fresh.get(URL).status_code == 200


def test_last_use_is_written_at_most_once_a_minute(issued):
    token, client = issued
    assert client.get(URL).status_code == 200
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get(URL)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(seconds=61))
    client.get(URL)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_the_admin_shows_role_expiry_and_last_use(issued, superuser):
    token, client = issued
    client.get(URL)
    staff = Client()
    staff.force_login(superuser)
    html = staff.get(reverse("admin:partnerships_apitoken_changelist")).content.decode()
    assert "column-last_used_at" in html
    assert "column-expires" in html
    assert "column-role" in html
    detail = staff.get(reverse("admin:partnerships_apitoken_change", args=[token.pk])).content.decode()
    assert "Last used at" in detail
