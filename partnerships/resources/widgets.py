"""Cells shared by several resources: a value read by one of bulk ingestion's parsers, categories by slug."""

from __future__ import annotations

from import_export.widgets import ManyToManyWidget, Widget

from ingestion.exceptions import UNKNOWN_CATEGORY
from ingestion.fields import display
from partnerships.models import Category


class ParsedWidget(Widget):
    """Import through one of the shared parsers (same reasons as bulk ingestion); export the typed value."""

    def __init__(self, parse, **kwargs):
        super().__init__(**kwargs)
        self.parse = parse

    def clean(self, value, row=None, **kwargs):
        return self.parse(value)

    def render(self, value, obj=None, **kwargs):
        return value


class CategorySlugsWidget(ManyToManyWidget):
    """Categories as comma-separated slugs. An unknown slug is an error (the stock widget drops it silently)."""

    def __init__(self) -> None:
        super().__init__(Category, separator=",", field="slug")
        self._by_slug: dict[str, Category] | None = None

    def clean(self, value, row=None, **kwargs):
        if self._by_slug is None:  # a short list: read once per import
            self._by_slug = {category.slug: category for category in Category.objects.all()}
        slugs = [slug.strip() for slug in str(value or "").split(self.separator) if slug.strip()]
        unknown = [slug for slug in slugs if slug not in self._by_slug]
        if unknown:
            known = ", ".join(sorted(self._by_slug)[:5]) or "comedy"
            raise ValueError(UNKNOWN_CATEGORY.format(slugs=", ".join(map(display, unknown)), known=known))
        return [self._by_slug[slug] for slug in dict.fromkeys(slugs)]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return ", ".join(sorted(category.slug for category in value.all()))
