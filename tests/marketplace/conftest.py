import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from partnerships.marketplace import services
from partnerships.models import BrandMembership, Campaign, Partner
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import CategoryFactory, PartnerFactory, PartnerStatisticsFactory, UserFactory


def creator(handle, *, followers=50_000, views=200_000, posts=10, avg_views=20_000, engagement="4.50",
            categories=(), opted_in=True, **fields):
    partner = PartnerFactory(handle=handle, opted_into_brand_deals=opted_in, **fields)
    PartnerStatisticsFactory(partner=partner, followers=followers, views_30d=views, posts_30d=posts,
                             avg_views_per_post=avg_views, engagement_rate=engagement)
    if categories:
        partner.categories.set(categories)
    return partner


@pytest.fixture
def categories(db):
    return {slug: CategoryFactory(slug=slug) for slug in ("comedy", "gaming", "beauty", "sports")}


@pytest.fixture
def creators(categories):
    return {
        "ana": creator("ana", followers=10_000, avg_views=5_000, engagement="2.00", country="US",
                       categories=[categories["comedy"]]),
        "ben": creator("ben", followers=120_000, avg_views=40_000, engagement="6.25", country="FR",
                       categories=[categories["gaming"], categories["comedy"]]),
        "cleo": creator("cleo", followers=2_000_000, avg_views=900_000, engagement="3.10", country="US",
                        kind=Partner.Kind.PUBLIC_FIGURE, categories=[categories["beauty"]]),
        "dan.media": creator("dan.media", followers=300_000, avg_views=60_000, engagement="1.00", country="GB",
                             kind=Partner.Kind.PUBLISHER, date_of_birth=None, categories=[categories["sports"]]),
    }


@pytest.fixture
def hidden(categories):
    """Partners a brand must never find."""
    today = timezone.localdate()
    return {
        "optedout": creator("optedout", opted_in=False),
        "suspended": creator("suspended", status=Partner.Status.SUSPENDED),
        "minor": creator("minor", date_of_birth=today.replace(year=today.year - 17)),
        "small": creator("small", followers=9_999),
        "quiet": creator("quiet", posts=2),
        "unseen": creator("unseen", views=999),
    }


@pytest.fixture
def brand_a(db):
    return BrandFactory(slug="acme", name="Acme")


@pytest.fixture
def brand_b(db):
    return BrandFactory(slug="nova", name="Nova")


@pytest.fixture
def user_a(brand_a):
    user = UserFactory(username="alice", is_staff=False)
    BrandMembership.objects.create(brand=brand_a, user=user, role=BrandMembership.Role.ADMIN)
    return user


@pytest.fixture
def user_b(brand_b):
    user = UserFactory(username="bob", is_staff=False)
    BrandMembership.objects.create(brand=brand_b, user=user, role=BrandMembership.Role.ADMIN)
    return user


@pytest.fixture
def campaign_a(brand_a, user_a, categories):
    campaign = CampaignFactory(brand=brand_a, name="Acme summer", status=Campaign.Status.OPEN,
                               target_countries=["US"], followers_min=10_000, followers_max=500_000)
    campaign.categories.set([categories["comedy"]])
    return campaign


@pytest.fixture
def campaign_b(brand_b, user_b):
    return CampaignFactory(brand=brand_b, name="Nova secret launch", status=Campaign.Status.OPEN)


@pytest.fixture
def api_a(user_a):
    client = APIClient()
    client.force_authenticate(user_a)
    return client


@pytest.fixture
def token_a(user_a, brand_a):
    token, secret = services.api_token_create(user=user_a, brand_id=brand_a.pk, name="ci")
    return secret


@pytest.fixture
def token_client_a(token_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_a}")
    return client


def days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)
