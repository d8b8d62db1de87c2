"""The README's promise: brands and campaigns export from the admin (CSV and XLSX) for whoever holds the export
permission. Before, /admin/partnerships/brand/export/ was read as the change page of a brand with id "export"
and redirected to the list (issue 15)."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from partnerships.models import Brand, Campaign
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import CategoryFactory
from tests.partnerships.test_import_export import CSV_FORMAT, XLSX_FORMAT, export, url, user_with

pytestmark = pytest.mark.django_db
BRAND_COLUMNS = ["slug", "name", "is_active", "created_at"]
CAMPAIGN_COLUMNS = ["brand", "name", "status", "budget", "currency", "starts_on", "ends_on", "target_countries",
                    "categories", "followers_min", "followers_max", "min_engagement_rate", "min_avg_views",
                    "deliverables", "created_at"]


@pytest.fixture
def campaign(db):
    campaign = CampaignFactory(brand=BrandFactory(slug="acme", name="Acme"), name="Back to school",
                               budget_minor=123456, currency="USD", target_countries=["US", "GB"])
    campaign.categories.set([CategoryFactory(slug="comedy")])
    return campaign


def csv_rows(content: bytes) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    return list(reader.fieldnames or []), list(reader)


def test_a_manager_exports_brands_as_csv_with_the_expected_columns(client, manager, campaign):
    client.force_login(manager)
    assert url(Brand, "export") in client.get(url(Brand, "changelist")).content.decode()
    columns, rows = csv_rows(export(client, Brand, CSV_FORMAT))
    assert columns == BRAND_COLUMNS
    assert [(row["slug"], row["name"]) for row in rows] == [("acme", "Acme")]


def test_a_manager_exports_campaigns_as_csv_and_xlsx_with_the_expected_columns(client, manager, campaign):
    client.force_login(manager)
    assert url(Campaign, "export") in client.get(url(Campaign, "changelist")).content.decode()
    columns, rows = csv_rows(export(client, Campaign, CSV_FORMAT))
    assert columns == CAMPAIGN_COLUMNS
    assert [(r["brand"], r["name"], r["budget"], r["currency"], r["target_countries"], r["categories"])
            for r in rows] == [("acme", "Back to school", "1234.56", "USD", "US, GB", "comedy")]
    sheet = openpyxl.load_workbook(io.BytesIO(export(client, Campaign, XLSX_FORMAT))).active
    header, first = [list(row) for row in sheet.iter_rows(min_row=1, max_row=2, values_only=True)]
    assert header == CAMPAIGN_COLUMNS
    assert Decimal(str(first[header.index("budget")])) == Decimal("1234.56")


def test_without_the_export_permission_there_is_no_button_and_no_export(client, campaign):
    client.force_login(user_with("view_brand", "view_campaign", username="viewer"))
    for model in (Brand, Campaign):
        assert url(model, "export") not in client.get(url(model, "changelist")).content.decode()
        assert client.get(url(model, "export")).status_code == 403
