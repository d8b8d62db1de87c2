"""The creator search's parameters, for the API and the brand page alike, free of DRF.

Validated strictly: a malformed value is refused by name (InvalidSearch), never a silently ignored filter."""

from __future__ import annotations

from urllib import parse

from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet

from core.validators import COUNTRY_CODE_VALIDATOR
from partnerships.marketplace.search import CURSOR, DEFAULT_ORDERING, CreatorQuery, InvalidSearch
from partnerships.models import Category, Partner

COUNTRY = RegexValidator(COUNTRY_CODE_VALIDATOR.regex, "Use two-letter country codes, e.g. US.")
ORDERINGS = [value for name in ("followers", "avg_views", "engagement_rate") for value in (name, f"-{name}")]
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
PAGE_SIZE_PARAMETER = "page_size"


class CountryListField(forms.Field):
    widget = forms.SelectMultiple

    def to_python(self, value):
        if not value:
            return []
        items = value if isinstance(value, list | tuple) else [value]
        # Repeated parameters (?country=US&country=GB) or one comma-separated field (a page's text box); codes are
        # stored upper-case, and "us" can only mean US.
        return [code.strip().upper() for item in items for code in str(item).split(",") if code.strip()]

    def validate(self, value):
        super().validate(value)
        for code in value:
            COUNTRY(code)


class AsciiNumberMixin:
    """A number written in ASCII only: Django's number fields also take other scripts' digits (int("١٢٣") is 123),
    which no brand types on purpose; they are refused as the field refuses any other text."""

    def to_python(self, value):
        if isinstance(value, str) and not value.isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")  # type: ignore[attr-defined]
        return super().to_python(value)  # type: ignore[misc]


class AsciiIntegerField(AsciiNumberMixin, forms.IntegerField):
    pass


class AsciiDecimalField(AsciiNumberMixin, forms.DecimalField):
    pass


def _count(**kwargs) -> forms.IntegerField:
    return AsciiIntegerField(required=False, min_value=0, max_value=10**15, **kwargs)


class CreatorSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100,
                        help_text="Part of a handle or display name (case-insensitive).")
    country = CountryListField(required=False, help_text="Repeatable two-letter country code.")
    category = forms.ModelMultipleChoiceField(queryset=Category.objects.all(), to_field_name="slug", required=False,
                                              help_text="Repeatable category slug.")
    kind = forms.ChoiceField(choices=[("", "---------"), *Partner.Kind.choices], required=False)
    followers_min = _count()
    followers_max = _count()
    avg_views_min = _count()
    engagement_rate_min = AsciiDecimalField(required=False, min_value=0, max_value=100, max_digits=7,
                                             decimal_places=2)
    ordering = forms.ChoiceField(
        choices=[("", "---------"), *((value, value) for value in ORDERINGS)], required=False,
        help_text="followers, avg_views or engagement_rate; prefix - for descending. Default -followers.")

    def creator_query(self) -> CreatorQuery:
        """The cleaned parameters as the search's query."""
        return creator_query(self.cleaned_data)

    def search_ordering(self) -> str:
        return self.cleaned_data.get("ordering") or DEFAULT_ORDERING


def creator_query(data: dict) -> CreatorQuery:
    """CreatorSearchForm's cleaned data as the search's query."""
    categories = data.get("category")
    if categories is None or isinstance(categories, QuerySet) and categories.query.is_empty():  # none given
        categories = ()
    return CreatorQuery(
        q=data.get("q") or "", countries=tuple(data.get("country") or ()),
        categories=tuple(category.pk for category in categories), kind=data.get("kind") or "",
        followers_min=data.get("followers_min"), followers_max=data.get("followers_max"),
        avg_views_min=data.get("avg_views_min"), engagement_rate_min=data.get("engagement_rate_min"),
    )


# Every query parameter a search takes: its filters and ordering, and its page's cursor and size.
SEARCH_PARAMETERS = frozenset({*CreatorSearchForm.base_fields, CURSOR, PAGE_SIZE_PARAMETER})


SEARCH_FIELDS = CreatorSearchForm.base_fields
DEFAULT_SEARCH = CreatorQuery(), DEFAULT_ORDERING


def search_from_parameters(data) -> tuple[CreatorQuery, str]:
    """The search and its ordering from query parameters, or InvalidSearch naming each bad one.

    CreatorSearchForm's fields clean each parameter as the bound form would (the same widgets read them, the same
    messages, in the fields' order), but without building a form: a form deep-copies all its fields first, which
    took a third of an API request's CPU. The fields keep no state between calls (the category field filters a new
    queryset each time)."""
    if not any(name in data for name in SEARCH_FIELDS):
        return DEFAULT_SEARCH  # what the form makes of no parameters, without cleaning nine empty values
    cleaned, errors = {}, {}
    for name, field in SEARCH_FIELDS.items():
        try:
            cleaned[name] = field.clean(field.widget.value_from_datadict(data, {}, name))
        except forms.ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise InvalidSearch(errors)
    return creator_query(cleaned), cleaned.get("ordering") or DEFAULT_ORDERING


def page_size(data) -> int:
    """The page size a request asks for (``page_size``, 1 to MAX_PAGE_SIZE), PAGE_SIZE if it asks for none."""
    value = data.get(PAGE_SIZE_PARAMETER)
    if value is None:
        return PAGE_SIZE
    digits = value.isascii() and value.isdigit() and len(value) <= 3  # int() takes other scripts' digits and spaces
    if not digits or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise InvalidSearch({PAGE_SIZE_PARAMETER: [f"Ask for a whole number of results from 1 to {MAX_PAGE_SIZE}."]})
    return int(value)


def with_parameter(url: str, name: str, value: str | None) -> str | None:
    """The URL with one query parameter set (the others kept, sorted), or None without a value: a page's link."""
    if value is None:
        return None
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    parameters = parse.parse_qs(query, keep_blank_values=True)
    parameters[name] = [value]
    return parse.urlunsplit((scheme, netloc, path, parse.urlencode(sorted(parameters.items()), doseq=True), fragment))
