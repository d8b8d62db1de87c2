"""What brands see. Only public fields: no birth date, tax or identity status, payout data."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import CURRENCIES, MAX_MINOR
from core.validators import COUNTRY_CODE_VALIDATOR, HANDLE_REGEX
from partnerships.models import Brand, Campaign, Category, Invitation, Partner, ShortlistEntry

MINOR_UNITS_INVALID = "Give a whole number of minor units in digits 0-9 (e.g. 150000 for 1,500.00 USD)."


class MinorUnitsField(serializers.IntegerField):
    """An amount in minor units: a JSON integer, or (in a form body) ASCII digits. DRF's IntegerField also takes
    '100.0' and other scripts' digits ('١٠٠'), which int() reads; an amount is never guessed at."""

    default_error_messages = {"invalid": MINOR_UNITS_INVALID}
    DIGITS = re.compile(r"-?[0-9]{1,20}", re.ASCII)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (isinstance(data, int) or (isinstance(data, str)
                                                                     and self.DIGITS.fullmatch(data))):
            self.fail("invalid")
        return super().to_internal_value(data)


class CreatorSerializer(serializers.ModelSerializer):
    categories = serializers.SerializerMethodField()
    followers = serializers.IntegerField(source="statistics.followers", read_only=True)
    avg_views = serializers.IntegerField(source="statistics.avg_views_per_post", read_only=True)
    engagement_rate = serializers.DecimalField(source="statistics.engagement_rate", max_digits=7, decimal_places=2,
                                               read_only=True, coerce_to_string=False)
    posts_30d = serializers.IntegerField(source="statistics.posts_30d", read_only=True)

    class Meta:
        model = Partner
        fields = ["handle", "display_name", "kind", "country", "categories", "followers", "avg_views",
                  "engagement_rate", "posts_30d"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.SlugField()))
    def get_categories(self, partner: Partner) -> list[str]:
        return [category.slug for category in partner.categories.all()]


class ScorePartSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="0 to 1")
    weight = serializers.IntegerField()
    points = serializers.FloatField()
    reason = serializers.CharField()


class BreakdownSerializer(serializers.Serializer):
    category_fit = ScorePartSerializer()
    country_fit = ScorePartSerializer()
    follower_fit = ScorePartSerializer()
    engagement = ScorePartSerializer()
    average_views = ScorePartSerializer()
    recent_activity = ScorePartSerializer()


class MatchSerializer(serializers.Serializer):
    creator = CreatorSerializer()
    score = serializers.FloatField(help_text="0 to 100")
    breakdown = BreakdownSerializer()


class SimilarCreatorSerializer(CreatorSerializer):
    shared_categories = serializers.IntegerField(read_only=True)

    class Meta(CreatorSerializer.Meta):
        fields = [*CreatorSerializer.Meta.fields, "shared_categories"]
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    brand = serializers.SlugRelatedField(slug_field="slug", queryset=Brand.objects.none())
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                              queryset=Category.objects.all())
    target_countries = serializers.ListField(child=serializers.RegexField(COUNTRY_CODE_VALIDATOR.regex), required=False,
                                             allow_empty=True)
    min_engagement_rate = serializers.DecimalField(max_digits=7, decimal_places=2, required=False,
                                                   min_value=Decimal("0"), max_value=Decimal("100"),
                                                   coerce_to_string=False)
    currency = serializers.ChoiceField(choices=CURRENCIES, help_text="ISO 4217 code of a currency in circulation.")
    budget_minor = MinorUnitsField(min_value=0, max_value=MAX_MINOR,
                                   help_text="The budget in minor units of the campaign's currency.")

    class Meta:
        model = Campaign
        fields = ["id", "brand", "name", "brief", "budget_minor", "currency", "target_countries", "categories",
                  "followers_min", "followers_max", "min_engagement_rate", "min_avg_views", "deliverables",
                  "starts_on", "ends_on", "status", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def __init__(self, *args, brands=None, **kwargs):
        super().__init__(*args, **kwargs)
        if brands is not None:
            self.fields["brand"].queryset = brands  # another brand's slug is "not found", like a typo

    def validate(self, attrs):
        instance = self.instance
        starts = attrs.get("starts_on", getattr(instance, "starts_on", None))
        ends = attrs.get("ends_on", getattr(instance, "ends_on", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": "The end date is before the start date."})
        low = attrs.get("followers_min", getattr(instance, "followers_min", 0)) or 0
        high = attrs.get("followers_max", getattr(instance, "followers_max", None))
        if high is not None and high < low:
            raise serializers.ValidationError({"followers_max": "The maximum is below followers_min."})
        return attrs


class InvitationSerializer(serializers.ModelSerializer):
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.none())
    creator: serializers.SlugRelatedField[Partner] = serializers.SlugRelatedField(
        source="partner", slug_field="handle", read_only=True)
    partner_handle = serializers.CharField(write_only=True, max_length=40)
    currency = serializers.ChoiceField(choices=CURRENCIES, help_text="ISO 4217 code: the campaign's currency.")
    offered_fee_minor = MinorUnitsField(min_value=0, max_value=MAX_MINOR,
                                        help_text="The fee offered, in minor units of the campaign's currency.")

    class Meta:
        model = Invitation
        fields = ["id", "campaign", "creator", "partner_handle", "offered_fee_minor", "currency", "message",
                  "status", "invited_at", "expires_at", "responded_at", "answer_message"]
        read_only_fields = ["id", "creator", "status", "invited_at", "expires_at", "responded_at", "answer_message"]

    def __init__(self, *args, campaigns=None, **kwargs):
        super().__init__(*args, **kwargs)
        if campaigns is not None:
            self.fields["campaign"].queryset = campaigns


class ShortlistEntrySerializer(serializers.ModelSerializer):
    creator = CreatorSerializer(source="partner", read_only=True)
    # From selectors.campaign_shortlist: a member's username, or "Platform staff" (never a staff identity).
    added_by = serializers.CharField(source="added_by_name", read_only=True)

    class Meta:
        model = ShortlistEntry
        fields = ["id", "creator", "note", "added_by", "added_at"]
        read_only_fields = fields


class ShortlistAddSerializer(serializers.Serializer):
    handle = serializers.RegexField(HANDLE_REGEX, max_length=40, help_text="The creator's handle.")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


MARKETPLACE_RULES = (
    f"Only creators who opted into brand deals, are active, {settings.MARKETPLACE_MIN_AGE}+ and have at least "
    f"{settings.MARKETPLACE_MIN_FOLLOWERS:,} followers, {settings.MARKETPLACE_MIN_VIEWS_30D:,} views and "
    f"{settings.MARKETPLACE_MIN_POSTS_30D} posts in the last 30 days are listed."
)
