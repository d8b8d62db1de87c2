"""The creator search's table: one row per marketplace candidate, kept by the database itself.

A row per partner who opted into brand deals, is active and has statistics (the marketplace rule's conditions that
depend neither on the day nor on the settings), with the columns brands filter and order by and every column the
marketplace rule reads. The search (partnerships.marketplace.search) applies the whole rule and the brand's filters
to this one table and walks an index in the page's order, instead of walking a statistics index and looking up each
partner (70-150 ms at 1,000,000 partners for the selective searches).

Triggers written by migration 0022 (the names added by 0023) keep it: after any insert, update or delete of
partners or statistics (the ORM's saves, querysets' updates, the statistics refreshes' set-based statements, bulk
loads), the rows of the partners concerned are written again from their partner and statistics rows. On PostgreSQL
the triggers are per statement, with transition tables, so a refresh of 1,000,000 statistics is one set-based upsert;
on SQLite they are per row.
Nothing in Python writes this table."""

from __future__ import annotations

from django.db import models

from partnerships.models.partners import Partner


class MarketplaceCreator(models.Model):
    """A partner's copy of its rule and search columns (Partner's and PartnerStatistics' names and meanings)."""

    # No foreign key: the triggers remove a partner's row in the statement that deletes the partner.
    partner_id = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=20, choices=Partner.Kind.choices)
    country = models.CharField(max_length=2)
    date_of_birth = models.DateField(null=True)
    age_verified = models.BooleanField()
    opted_into_brand_deals = models.BooleanField()
    status = models.CharField(max_length=20, choices=Partner.Status.choices)
    followers = models.BigIntegerField()
    views_30d = models.BigIntegerField()
    posts_30d = models.IntegerField()
    avg_views_per_post = models.BigIntegerField()
    engagement_rate = models.DecimalField(max_digits=7, decimal_places=2)
    # The names a text search matches (migration 0023), so that it reads this table alone.
    handle = models.CharField(max_length=40)
    display_name = models.CharField(max_length=120)

    class Meta:
        verbose_name = "marketplace creator (search table)"

    def __str__(self) -> str:
        return f"search row of partner {self.partner_id}"
