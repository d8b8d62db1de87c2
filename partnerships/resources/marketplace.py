"""Brands and campaigns to spreadsheets, export only."""

from __future__ import annotations

from import_export.fields import Field

from core.money import to_major
from core.spreadsheets import SpreadsheetResource
from partnerships.models import Brand, Campaign
from partnerships.resources.widgets import CategorySlugsWidget


class BrandResource(SpreadsheetResource):
    class Meta:
        model = Brand
        fields = ("slug", "name", "is_active", "created_at")
        export_order = fields


class CampaignResource(SpreadsheetResource):
    brand = Field(attribute="brand__slug", column_name="brand")
    budget = Field(column_name="budget")
    categories = Field(attribute="categories", column_name="categories", widget=CategorySlugsWidget())
    target_countries = Field(column_name="target_countries")

    class Meta:
        model = Campaign
        fields = ("brand", "name", "status", "budget", "currency", "starts_on", "ends_on", "target_countries",
                  "categories", "followers_min", "followers_max", "min_engagement_rate", "min_avg_views",
                  "deliverables", "created_at")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("brand").prefetch_related("categories")

    def dehydrate_budget(self, campaign: Campaign):
        return to_major(campaign.budget_minor, campaign.currency)  # major units, beside the currency column

    def dehydrate_target_countries(self, campaign: Campaign):
        return ", ".join(campaign.target_countries or [])
