"""Partners: the list managers search all day, and suspend / reinstate with a reason."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from core.admin import LargeTableAdminMixin, ReasonForm, action_over_selected, count_column, perform_posted_form
from core.display import format_compact, format_count, format_percent_points, format_timestamp
from core.importexport import SpreadsheetImportExportMixin
from partnerships.exceptions import PartnershipsError
from partnerships.models import Category, Partner, PartnerStatistics
from partnerships.resources.partners import PartnerResource
from partnerships.selectors import partner_list, partner_summary, partner_timeline
from partnerships.services.partners import (
    PAYOUT_READINESS_PERMISSION,
    SUSPEND_PERMISSION,
    partner_reinstate,
    partner_set_payout_readiness,
    partner_suspend,
)

FOLLOWER_BANDS = {
    "lt10k": ("under 10K", None, 10_000),
    "10k-100k": ("10K–100K", 10_000, 100_000),
    "100k-1m": ("100K–1M", 100_000, 1_000_000),
    "gte1m": ("1M and more", 1_000_000, None),
}


class FollowerBandFilter(admin.SimpleListFilter):
    title = "followers"
    parameter_name = "followers"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in FOLLOWER_BANDS.items()]

    def queryset(self, request, queryset):
        band = FOLLOWER_BANDS.get(self.value() or "")
        if band is None:
            return queryset
        _, low, high = band
        if low is not None:
            queryset = queryset.filter(statistics__followers__gte=low)
        if high is not None:
            queryset = queryset.filter(statistics__followers__lt=high)
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        # Categories change rarely; the list is read on every page of the busiest screen.
        return cache.get_or_set("partnerships:category-choices",
                                lambda: list(Category.objects.values_list("pk", "name")), 60)

    def queryset(self, request, queryset):
        if self.value():
            try:
                return queryset.in_category(int(self.value()))
            except ValueError:
                return queryset.none()
        return queryset


class CountryFilter(admin.SimpleListFilter):
    """Countries present among partners. The distinct list is cached: computing it scans the table."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        countries = cache.get_or_set(
            "partnerships:partner-countries",
            lambda: list(Partner.objects.order_by("country").values_list("country", flat=True).distinct()),
            600,
        )
        return [(code, code) for code in countries]

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


class PayoutReadinessForm(forms.Form):
    tax_form_on_file = forms.BooleanField(required=False)
    identity_verified = forms.BooleanField(required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=2000,
                             help_text="Recorded in the partner's history with your name, e.g. the document checked.")


class StatisticsInline(admin.StackedInline):
    model = PartnerStatistics
    can_delete = False
    extra = 0
    max_num = 0
    verbose_name_plural = "statistics (last 30 days)"
    fields = readonly_fields = (
        "as_of", "followers_count", "views", "qualified_views", "posts", "average_views_per_post", "engagement",
        "likes", "comments", "shares", "refreshed_at",
    )

    followers_count = count_column("followers", "followers")
    views = count_column("views_30d", "views")
    qualified_views = count_column("qualified_views_30d", "qualified views")
    posts = count_column("posts_30d", "posts")
    average_views_per_post = count_column("avg_views_per_post", "average views per post")
    likes = count_column("likes_30d", "likes")
    comments = count_column("comments_30d", "comments")
    shares = count_column("shares_30d", "shares")

    @admin.display(description="engagement rate")
    def engagement(self, obj: PartnerStatistics) -> str:
        return format_percent_points(obj.engagement_rate)


@admin.register(Partner)
class PartnerAdmin(SpreadsheetImportExportMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["handle", "display_name", "kind", "country", "followers", "views_30d", "programs", "status"]
    list_filter = ["kind", CountryFilter, CategoryFilter, "status", FollowerBandFilter]
    search_fields = ["handle", "display_name"]
    search_help_text = "Part of a handle or display name"
    ordering = ["handle"]
    actions = ["suspend_selected", "reinstate_selected"]
    filter_horizontal = ["categories"]
    inlines = [StatisticsInline]
    # Payout readiness is finance's, changed only through its own page with a reason (payout_readiness_view).
    readonly_fields = ["status", "status_reason", "status_changed_by", "status_changed_at", "timeline",
                       "created_at", "tax_form_on_file", "identity_verified"]
    fieldsets = [
        (None, {"fields": ["handle", "display_name", "kind", "country", "categories"]}),
        ("Age", {"fields": ["date_of_birth", "age_verified"],
                 "description": "People only: publishers and institutions are organisations."}),
        ("Payout readiness", {"fields": ["tax_form_on_file", "identity_verified"]}),
        ("Brand deals", {"fields": ["opted_into_brand_deals"]}),
        ("Standing", {"fields": ["status", "status_reason", "status_changed_by", "status_changed_at"]}),
        ("History", {"fields": ["timeline", "created_at"]}),
    ]
    change_form_template = "admin/partnerships/partner/change_form.html"
    resource_classes = [PartnerResource]  # spreadsheet import (by handle, with history) and export

    def get_queryset(self, request):
        return partner_list()

    @staticmethod
    def _statistics(obj: Partner) -> PartnerStatistics | None:
        try:
            return obj.statistics
        except PartnerStatistics.DoesNotExist:
            return None

    @admin.display(description="followers", ordering="statistics__followers")
    def followers(self, obj: Partner):
        stats = self._statistics(obj)
        return format_html('<span class="num">{}</span>', format_compact(stats.followers)) if stats else "—"

    @admin.display(description="views, 30 days", ordering="statistics__views_30d")
    def views_30d(self, obj: Partner):
        stats = self._statistics(obj)
        return format_html('<span class="num">{}</span>', format_count(stats.views_30d)) if stats else "—"

    @admin.display(description="programs")
    def programs(self, obj: Partner):
        live = getattr(obj, "live_enrolments", [])
        return ", ".join(f"{e.program.name} ({e.status})" for e in live) or "—"

    @admin.display(description="changes of the partner and its enrolments")
    def timeline(self, obj: Partner):
        if obj.pk is None:
            return "—"
        events = partner_timeline(obj)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((format_timestamp(e["at"]), e["who"] or "system", e["subject"], e["change"], e["reason"])
             for e in events),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Change</th><th>Reason</th></tr>"
            "</thead><tbody>{}</tbody></table>", rows,
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a partner with history is removed (status), never deleted

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm(SUSPEND_PERMISSION)

    # --- suspend / reinstate ------------------------------------------------------------------
    ACTIONS = {"suspend": partner_suspend, "reinstate": partner_reinstate}
    DONE = {"suspend": "suspended", "reinstate": "reinstated"}

    def has_payout_readiness_permission(self, request) -> bool:
        return request.user.has_perm(PAYOUT_READINESS_PERMISSION)

    def get_urls(self):
        return [
            path("<int:object_id>/payout-readiness/", self.admin_site.admin_view(self.payout_readiness_view),
                 name="partnerships_partner_payout_readiness"),
            path("<int:object_id>/standing/<str:action>/", self.admin_site.admin_view(self.standing_view),
                 name="partnerships_partner_standing"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_suspend"] = self.has_suspend_permission(request)
        extra_context["can_change_payout_readiness"] = self.has_payout_readiness_permission(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["summary"] = partner_summary(obj)  # the page's own object: no second read of the partner
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _standing_page(self, request, action, partners, form, bulk):
        return TemplateResponse(request, "admin/partnerships/partner/standing.html", {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "title": f"{action.capitalize()} partner{'s' if bulk else ''}",
            "action": action, "partners": partners, "form": form, "bulk": bulk,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    def standing_view(self, request, object_id: int, action: str):
        partner = get_object_or_404(Partner, pk=object_id)
        change_url = reverse("admin:partnerships_partner_change", args=[partner.pk])
        if action not in self.ACTIONS or not self.has_suspend_permission(request):
            messages.error(request, "You may not change this partner's standing.")
            return HttpResponseRedirect(change_url)
        form = ReasonForm(request.POST or None, reason_required=True, show_override=False)
        done = perform_posted_form(
            request, form, lambda data: self.ACTIONS[action](partner_id=partner.pk, actor=request.user,
                                                             reason=data["reason"]),
            refusal=PartnershipsError, success=f"@{partner.handle}: {action} done.", redirect_to=change_url)
        return done or self._standing_page(request, action, [partner], form, bulk=False)

    def payout_readiness_view(self, request, object_id: int):
        """Finance records the tax form and identity checks, with a reason, through the service."""
        if not self.has_payout_readiness_permission(request):
            raise PermissionDenied(PAYOUT_READINESS_PERMISSION)
        partner = get_object_or_404(Partner, pk=object_id)
        initial = {"tax_form_on_file": partner.tax_form_on_file, "identity_verified": partner.identity_verified}
        form = PayoutReadinessForm(request.POST or None, initial=initial)
        done = perform_posted_form(
            request, form, lambda data: partner_set_payout_readiness(partner_id=partner.pk, actor=request.user, **data),
            refusal=PartnershipsError, success=f"@{partner.handle}: payout readiness recorded.",
            redirect_to=reverse("admin:partnerships_partner_change", args=[partner.pk]))
        if done:
            return done
        return TemplateResponse(request, "admin/partnerships/partner/payout_readiness.html", {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "title": f"Payout readiness of @{partner.handle}", "partner": partner,
            "form": form,
        })

    def _bulk(self, request, queryset, action: str):
        partners = list(queryset.order_by("pk")[:500])
        form = ReasonForm(request.POST if "apply" in request.POST else None, reason_required=True,
                          show_override=False)
        if "apply" in request.POST and form.is_valid():
            done, skipped = [], []
            for partner in partners:
                try:
                    self.ACTIONS[action](partner_id=partner.pk, actor=request.user,
                                         reason=form.cleaned_data["reason"])
                    done.append(partner.handle)
                except PartnershipsError as exc:
                    skipped.append(f"@{partner.handle}: {exc}")
            if done:
                messages.success(request, ngettext("%(count)d partner %(done)s.", "%(count)d partners %(done)s.",
                                          len(done)) % {"count": len(done), "done": self.DONE[action]})
            for line in skipped:
                messages.warning(request, f"Skipped {line}")
            return None
        return self._standing_page(request, action, partners, form, bulk=True)

    suspend_selected = action_over_selected("suspend", description="Suspend selected partners…", permission="suspend")
    reinstate_selected = action_over_selected("reinstate", description="Reinstate selected partners…",
                                              permission="suspend")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        cache.delete("partnerships:category-choices")  # the partner list's filter shows it at once
