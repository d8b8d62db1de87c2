"""Query parameters of the brand API, validated strictly: a malformed value or an unknown parameter is
a 400 that names it, never a silently ignored filter."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from core.validators import COUNTRY_CODE_VALIDATOR
from partnerships.brand_selectors import DEFAULT_ORDERING, CreatorQuery
from partnerships.models import Category, Invitation, Partner

COUNTRY = RegexValidator(COUNTRY_CODE_VALIDATOR.regex, "Use two-letter upper-case country codes, e.g. US.")


class CountryListField(forms.Field):
    widget = forms.SelectMultiple

    def to_python(self, value):
        if not value:
            return []
        items = value if isinstance(value, list | tuple) else [value]
        # Repeated parameters (?country=US&country=GB) or one comma-separated field (a page's text box).
        return [code.strip() for item in items for code in str(item).split(",") if code.strip()]

    def validate(self, value):
        super().validate(value)
        for code in value:
            COUNTRY(code)


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"}})
class CountriesFilter(django_filters.Filter):
    field_class = CountryListField


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def _int(**kwargs):
    return IntegerFilter(min_value=0, max_value=10**15, **kwargs)


class CreatorFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(max_length=100, help_text="Part of a handle or display name (case-insensitive).")
    country = CountriesFilter(help_text="Repeatable two-letter country code.")
    category = django_filters.ModelMultipleChoiceFilter(
        field_name="categories", to_field_name="slug", queryset=Category.objects.all(),
        help_text="Repeatable category slug.")
    kind = django_filters.ChoiceFilter(choices=Partner.Kind.choices)
    followers_min = _int()
    followers_max = _int()
    avg_views_min = _int()
    engagement_rate_min = django_filters.NumberFilter(min_value=0, max_value=100, max_digits=7, decimal_places=2)
    ordering = django_filters.ChoiceFilter(
        choices=[(value, value) for name in ("followers", "avg_views", "engagement_rate")
                 for value in (name, f"-{name}")],
        help_text="followers, avg_views or engagement_rate; prefix - for descending. Default -followers.")

    _form_class = None  # built on first use by validated()

    class Meta:
        model = Partner
        fields: list[str] = []

    def filter_queryset(self, queryset):
        return queryset  # the selector filters; this FilterSet only validates and documents

    def creator_query(self) -> CreatorQuery:
        return creator_query(self.form.cleaned_data)

    @classmethod
    def validated(cls, data) -> tuple[CreatorQuery, str]:
        """The search and its ordering from query parameters, or a ValidationError naming each bad one. Unlike
        an instance, this builds no FilterSet and no form class per request (it runs on every API search)."""
        if cls._form_class is None:
            cls._form_class = cls(queryset=Partner.objects.none()).get_form_class()
        form = cls._form_class(data)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return creator_query(form.cleaned_data), form.cleaned_data.get("ordering") or DEFAULT_ORDERING


def creator_query(data: dict) -> CreatorQuery:
    """A CreatorFilterSet's cleaned data as the selector's query."""
    categories = data.get("category")
    if categories is None or isinstance(categories, QuerySet) and categories.query.is_empty():  # none given
        categories = ()
    return CreatorQuery(
        q=data.get("q") or "", countries=tuple(data.get("country") or ()),
        categories=tuple(category.pk for category in categories), kind=data.get("kind") or "",
        followers_min=data.get("followers_min"), followers_max=data.get("followers_max"),
        avg_views_min=data.get("avg_views_min"), engagement_rate_min=data.get("engagement_rate_min"),
    )


class InvitationFilterSet(django_filters.FilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=lambda request: request.brand_campaigns)
    status = django_filters.ChoiceFilter(choices=Invitation.Status.choices)

    class Meta:
        model = Invitation
        fields = ["campaign", "status"]


def refuse_unknown_parameters(request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ValidationError({name: [f"Unknown query parameter. Allowed: {', '.join(sorted(allowed))}."]
                               for name in unknown})
