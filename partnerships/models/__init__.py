"""Who takes part: partners, programs, applications (enrolments) and the metrics they are judged on; the brand
marketplace's models beside them.

Models hold fields, constraints and pure query filters. Every write goes through partnerships.services.
Each module below holds one area; this package lists them all, as Django expects of an app's models.
"""

from partnerships.models.marketplace import (
    CAMPAIGN_BRIEF_MAX,
    CAMPAIGN_DELIVERABLES_MAX,
    CAMPAIGN_NAME_MAX,
    INVITATION_MESSAGE_MAX,
    SHORTLIST_NOTE_MAX,
    ApiToken,
    Brand,
    BrandMembership,
    Campaign,
    Invitation,
    ShortlistEntry,
    length_at_most,
)
from partnerships.models.partners import Category, DailyMetric, Partner, PartnerQuerySet, PartnerStatistics
from partnerships.models.programs import (
    Enrolment,
    EnrolmentQuerySet,
    EnrolmentSuspension,
    Program,
    validate_time_zone,
)
from partnerships.models.rollups import DailyMetricQuerySet, MonthlyMetricRollup, StatisticsChange
from partnerships.models.search import MarketplaceCreator

__all__ = [
    "CAMPAIGN_BRIEF_MAX", "CAMPAIGN_DELIVERABLES_MAX", "CAMPAIGN_NAME_MAX", "INVITATION_MESSAGE_MAX",
    "SHORTLIST_NOTE_MAX", "ApiToken", "Brand", "BrandMembership", "Campaign", "Category", "DailyMetric", "Enrolment",
    "DailyMetricQuerySet", "EnrolmentQuerySet", "EnrolmentSuspension", "Invitation", "MarketplaceCreator",
    "MonthlyMetricRollup", "Partner", "PartnerQuerySet",
    "PartnerStatistics", "Program", "ShortlistEntry", "StatisticsChange", "length_at_most", "validate_time_zone",
]
