"""Admin building blocks shared by every changelist of the back-office."""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar

from celery.schedules import ParseException
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import CrontabSchedule

from core.display import format_count, money_html


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]  # pages of any model
    """A paginator that never counts a large table row by row.

    On PostgreSQL, an unfiltered list takes the table's size from pg_class and a filtered one takes the
    planner's estimate; either is used only when it is above ADMIN_ESTIMATED_COUNT_THRESHOLD. Below
    that, and on SQLite, it counts exactly. Large lists are browsed by filtering, so an estimate of
    "about 1,000,000" is what a person needs there."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                estimate = self._estimate(queryset, connection)
                if estimate is not None and estimate >= settings.ADMIN_ESTIMATED_COUNT_THRESHOLD:
                    return estimate
        return super().count

    @staticmethod
    def _estimate(queryset: QuerySet[Any], connection: BaseDatabaseWrapper) -> int | None:
        with connection.cursor() as cursor:
            if not queryset.query.where:
                # A partitioned table's own reltuples is not kept (autovacuum analyses only its partitions): the sum
                # of its partitions' (those never analysed, -1, left out; none analysed: no estimate).
                cursor.execute(
                    "SELECT CASE WHEN c.relkind <> 'p' THEN c.reltuples::bigint ELSE ("
                    " SELECT SUM(p.reltuples)::bigint FROM pg_partition_tree(c.oid) t"
                    " JOIN pg_class p ON p.oid = t.relid WHERE t.isleaf AND p.reltuples >= 0) END"
                    " FROM pg_class c WHERE c.oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
                return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            return int(plan[0]["Plan"]["Plan Rows"])


class LargeTableAdminMixin:
    """Changelist settings for tables with millions of rows: no second count, estimated paging."""

    paginator: ClassVar[type] = EstimatedCountPaginator  # as ModelAdmin declares it
    show_full_result_count = False
    list_per_page = 50


class TitledChangelistMixin:
    """A list titled by what it holds ("Applications"), not Django's "Select enrolment to change"."""

    changelist_title: ClassVar[str | None] = None

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if self.changelist_title:
            extra_context = {"title": self.changelist_title, "subtitle": None, **(extra_context or {})}
        response: HttpResponse = super().changelist_view(request, extra_context)  # type: ignore[misc]  # a ModelAdmin's
        return response


def money_column(field: str, description: str, *, currency: str = "currency", ordering: str | None = None
                 ) -> Callable[[Any, Model], str]:
    """A changelist or read-only column showing an amount in minor units (``field``) in the row's currency (the
    attribute path ``currency``, e.g. "run.currency"), as people read money: beside its currency, on one line,
    right-aligned (core.display.money_html)."""
    amount_of, currency_of = attrgetter(field), attrgetter(currency)

    @admin.display(description=description, ordering=ordering)
    def column(self: Any, obj: Model) -> str:  # self: the ModelAdmin the column is set on
        return money_html(amount_of(obj), currency_of(obj))

    return column


def count_column(field: str, description: str, *, ordering: str | None = None) -> Callable[[Any, Model], str]:
    """A changelist or read-only column showing a count with thousands separators, right-aligned
    (core.display.format_count): Django shows a bare integer field as "14518531"."""

    @admin.display(description=description, ordering=ordering)
    def column(self: Any, obj: Model) -> str:
        return format_html('<span class="num">{}</span>', format_count(getattr(obj, field)))

    return column


class ReadOnlyAdminMixin:
    """A list and pages to read only: rows are written by services, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReasonForm(forms.Form):
    """The intermediate page of every decision: a reason, and for approvals an eligibility override."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        help_text="Recorded with the decision and shown in the history.",
    )
    override_reason = forms.CharField(
        label="Eligibility override reason",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        required=False,
        help_text="Required to approve an application that fails an eligibility rule (minimum age cannot be "
        "overridden).",
    )

    def __init__(self, *args: Any, reason_required: bool, show_override: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required
        if not show_override:
            del self.fields["override_reason"]


def action_over_selected(action: str, *, description: str, permission: str,
                         handler: str = "_bulk") -> Callable[..., HttpResponse | None]:
    """An admin action named ``<action>_selected`` that hands the selected rows and ``action`` to the ModelAdmin's
    ``handler`` (which shows the intermediate page, then calls the service per row). Declared in a ModelAdmin's
    body: ``approve_selected = action_over_selected("approve", description=..., permission="decide")``."""

    def selected(modeladmin: admin.ModelAdmin[Any], request: HttpRequest,
                 queryset: QuerySet[Any]) -> HttpResponse | None:
        bulk: Callable[[HttpRequest, QuerySet[Any], str], HttpResponse | None] = getattr(modeladmin, handler)
        return bulk(request, queryset, action)

    selected.__name__ = selected.__qualname__ = f"{action}_selected"
    return admin.action(description=description, permissions=[permission])(selected)


def perform_posted_form(request: HttpRequest, form: forms.Form, perform: Callable[[dict[str, Any]], object], *,
                        refusal: type[Exception], success: str, redirect_to: str) -> HttpResponse | None:
    """The submit of an admin's intermediate page: when the form is posted and valid, ``perform`` its cleaned data;
    a ``refusal`` becomes the form's error (nothing else said), anything else a success message and a redirect to
    ``redirect_to``. None when the page is to be shown (again)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        perform(form.cleaned_data)
    except refusal as exc:
        form.add_error(None, str(exc))
        return None
    messages.success(request, success)
    return HttpResponseRedirect(redirect_to)


class CrontabScheduleAdmin(beat_admin.CrontabScheduleAdmin):  # type: ignore[misc]  # the package ships no types
    """django-celery-beat's own admin, except that a schedule typed wrong shows its errors: the package describes
    the schedule in words by parsing it, which on a re-rendered form with an invalid field (e.g. "-1") raised a 500."""

    fields = ("schedule_in_words", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("schedule_in_words",)

    @admin.display(description="Human readable")
    def schedule_in_words(self, schedule: CrontabSchedule) -> str:
        try:
            return str(schedule.human_readable)
        except (ValueError, ParseException):
            return "—"


admin.site.unregister(CrontabSchedule)
admin.site.register(CrontabSchedule, CrontabScheduleAdmin)
