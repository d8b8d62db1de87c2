"""Query parameters of the brand API, validated strictly: a malformed value or an unknown parameter is
a 400 that names it, never a silently ignored filter. The creator search's own parameters are the brand page's
(params.CreatorSearchForm); here they are documented for the schema."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import cast

import django_filters
from django import forms
from drf_spectacular.plumbing import build_choice_description_list
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from partnerships.marketplace.params import PAGE_SIZE_PARAMETER, CreatorSearchForm
from partnerships.models import Invitation


def _documented(name: str, schema: dict, **kwargs) -> OpenApiParameter:
    """A search parameter as the schema shows it, its description (and choices) from the search form's field."""
    field = CreatorSearchForm.base_fields[name]
    choices: list[tuple[object, object]] = []
    # Fixed choices only: a model's (categories) are data, not part of the schema.
    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
        # Setting choices normalises them to (value, label) pairs; django-stubs types the getter as the setter's input.
        fixed = cast("Iterable[tuple[object, object]]", field.choices)
        choices = [(value, label) for value, label in fixed if value]
    parts = [str(field.help_text)] if field.help_text else []
    if choices:
        parts.append(build_choice_description_list(choices))
        kwargs["enum"] = [value for value, _label in choices]
    # An empty description is left out of the schema, as None was.
    return OpenApiParameter(name, schema, description="\n\n".join(parts), **kwargs)


STRING, NUMBER = {"type": "string"}, {"type": "number"}
CREATOR_SEARCH_PARAMETERS = [
    _documented("q", STRING),
    _documented("country", {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"}}),
    _documented("category", {"type": "array", "items": STRING}, explode=True, style="form"),
    _documented("kind", STRING),
    *(_documented(name, NUMBER) for name in ("followers_min", "followers_max", "avg_views_min", "engagement_rate_min")),
    _documented("ordering", STRING),
    OpenApiParameter(PAGE_SIZE_PARAMETER, int, description="Results per page, at most 200."),
]


class InvitationFilterSet(django_filters.FilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=lambda request: request.brand_campaigns)
    status = django_filters.ChoiceFilter(choices=Invitation.Status.choices)

    class Meta:
        model = Invitation
        fields = ["campaign", "status"]


def unknown_parameters(query, allowed: Collection[str]) -> dict[str, list[str]]:
    """Each parameter of ``query`` (a QueryDict) not in ``allowed``, with the message the API answers for it."""
    unknown = sorted(set(query) - set(allowed))
    return {name: [f"Unknown query parameter. Allowed: {', '.join(sorted(allowed))}."] for name in unknown}


def refuse_unknown_parameters(request, allowed: Collection[str]) -> None:
    unknown = unknown_parameters(request.query_params, allowed)
    if unknown:
        raise ValidationError(unknown)
