"""What the formulas read besides the partners' metrics: ad revenue, videos and their daily views."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.money import format_money
from core.validators import CURRENCY_CODE_VALIDATOR
from partnerships.models import Partner
from partnerships.services.rollups import partner_days_of
from payouts.models.video_rollups import VideoDailyViewsQuerySet, video_views_written


class AdRevenue(models.Model):
    """Net ad revenue attributed to a partner's videos on one day, in one currency."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="ad_revenue")
    day = models.DateField()
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    amount_minor = models.BigIntegerField(help_text="Net of invalid traffic; may be negative after refunds.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "day", "currency"], name="ad_revenue_one_row_per_partner_day"),
        ]
        verbose_name_plural = "ad revenue"
        permissions = [
            ("import_adrevenue", "Can import ad revenue (spreadsheet or bulk file)"),
            ("export_adrevenue", "Can export ad revenue to a spreadsheet"),
        ]

    def __str__(self) -> str:
        return f"@{self.partner.handle} · {self.day:%Y-%m-%d} · {format_money(self.amount_minor, self.currency)}"


class Video(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="videos")
    external_id = models.CharField(max_length=64, unique=True)
    posted_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.external_id


class VideoDailyViews(models.Model):
    """One video's qualified views of one day. Every write keeps the monthly rollups
    (payouts.models.video_rollups): save/delete here, bulk writes through VideoDailyViewsQuerySet."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="daily_views")
    day = models.DateField()
    qualified_views = models.PositiveBigIntegerField()

    objects = VideoDailyViewsQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["video", "day"], name="video_views_one_row_per_day")]
        verbose_name_plural = "video daily views"

    def __str__(self) -> str:
        return f"video {self.video} on {self.day:%Y-%m-%d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        stored = VideoDailyViews.objects.filter(pk=self.pk).values_list("video_id", "day") if self.pk else []
        with video_views_written(stored) as touched:
            super().save(*args, **kwargs)
            touched.update(partner_days_of([(self.video_id, self.day)]))

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with video_views_written([(self.video_id, self.day)]):
            return super().delete(*args, **kwargs)
