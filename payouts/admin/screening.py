"""Screening: each program's rules (edited with a reason, versions kept), the flags raised by runs (a read-only list,
filterable by partner: a partner's past flags and decisions), and the flagged lines table of the run page."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdminMixin
from core.money import format_money
from partnerships.models import Partner
from payouts import selectors
from payouts.admin.forms import reason_field
from payouts.admin.history import versions_table
from payouts.exceptions import PayoutsError
from payouts.models import Forfeiture, ScreeningFlag, ScreeningRules
from payouts.services.screening import screening_rules_save

RULE_FIELDS = tuple(field.name for field in ScreeningRules._meta.concrete_fields
                    if field.name not in ("id", "program", "updated_at"))


class ScreeningRulesForm(forms.ModelForm):
    change_reason = reason_field()

    class Meta:
        model = ScreeningRules
        fields = ["program", *RULE_FIELDS]


@admin.register(ScreeningRules)
class ScreeningRulesAdmin(admin.ModelAdmin):
    form = ScreeningRulesForm
    list_display = ["program", "spike_enabled", "spike_score", "engagement_enabled", "engagement_ratio",
                    "share_enabled", "share_jump", "newcomer_enabled", "newcomer_min_share", "updated_at"]
    list_select_related = ["program"]
    readonly_fields = ["versions"]
    fieldsets = [
        (None, {"fields": ["program"], "description": "A program without rules screens with the defaults shown "
                                                      "on a new row. New thresholds apply from the next "
                                                      "computation of a run."}),
        ("A day far above the partner's usual level", {"fields": [
            "spike_enabled", "spike_window_days", "spike_min_days", "spike_min_views", "spike_score"]}),
        ("Views without engagement", {"fields": ["engagement_enabled", "engagement_min_views", "engagement_ratio"]}),
        ("Share of the pool", {"fields": ["share_enabled", "share_min", "share_jump", "share_months"]}),
        ("New or reinstated partners", {"fields": [
            "newcomer_enabled", "newcomer_days", "newcomer_min_share", "newcomer_jump"]}),
        ("This change", {"fields": ["change_reason"]}),
        ("History", {"fields": ["versions"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(["program"] if obj is not None else [])]

    def save_model(self, request, obj, form, change):
        try:
            screening_rules_save(rules=obj, actor=request.user, reason=form.cleaned_data["change_reason"])
        except PayoutsError as exc:  # the form's own validation ran first: a permission refusal
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)

    @admin.display(description="versions")
    def versions(self, obj):
        if obj.pk is None:
            return "No version yet."
        return versions_table([("Rules", selectors.history_records(ScreeningRules, id=obj.pk))],
                              fields={"Rules": RULE_FIELDS})


@admin.register(ScreeningFlag)
class ScreeningFlagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every flag raised, with its decision: filter by partner for a partner's past flags."""

    list_display = ["run", "partner", "rule", "status", "suggested_action", "decided_by", "decided_at",
                    "decision_reason"]
    list_filter = ["status", "rule", "run__program"]
    list_select_related = ["run__program", "partner", "decided_by"]
    search_fields = ["partner__handle", "=partner__id"]
    fields = readonly_fields = ("run", "partner", "rule", "evidence_shown", "suggested_action", "status",
                                "decided_by", "decided_at", "decision_reason", "decisions")

    @admin.display(description="evidence")
    def evidence_shown(self, obj):
        return evidence_list(obj.evidence)

    @admin.display(description="decisions")
    def decisions(self, obj):
        return versions_table([("Flag", selectors.history_records(ScreeningFlag, id=obj.pk))],
                              fields={"Flag": ("status", "decision_reason")})


class ScreeningFlagInline(ReadOnlyAdminMixin, admin.TabularInline):
    """On the partner's page: every flag screening raised on the partner's lines, newest run first, with the
    decision (who, when, why). Read-only: flags are raised by computing and decided on the run's page."""

    model = ScreeningFlag
    fields = readonly_fields = ("run_link", "rule", "evidence_shown", "status", "decided_by", "decided_at",
                                "decision_reason", "forfeited")
    can_delete = False
    extra = 0
    verbose_name = "screening flag"
    verbose_name_plural = "Screening flags and decisions"

    def get_queryset(self, request):
        # Not super(): it asks has_view_permission without the partner, which is False here by design.
        # The line's forfeiture, if any, in the same query (the partner's page keeps a fixed number of queries).
        forfeiture = Forfeiture.objects.filter(run_id=OuterRef("run_id"), partner_id=OuterRef("partner_id"))
        return (ScreeningFlag.objects.select_related("run__program", "decided_by")
                .annotate(forfeited_minor=Subquery(forfeiture.values("amount_minor")[:1]),
                          forfeited_reason=Subquery(forfeiture.values("reason")[:1]))
                .order_by("-run__month", "-run_id", "rule"))

    def has_view_permission(self, request, obj=None):
        return obj is not None and request.user.has_perm("payouts.view_screeningflag")

    @admin.display(description="run")
    def run_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:payouts_payoutrun_change", args=[obj.run_id]),
                           obj.run)

    @admin.display(description="evidence")
    def evidence_shown(self, obj):
        return evidence_list(obj.evidence)

    @admin.display(description="forfeited")
    def forfeited(self, obj):
        if obj.forfeited_minor is None:
            return "—"
        return f"{format_money(obj.forfeited_minor, obj.run.currency)}: {obj.forfeited_reason}"


# The partner's page is partnerships' (which never imports payouts): the inline is added to it from here.
_partner_admin = type(admin.site.get_model_admin(Partner))
_partner_admin.inlines = [*_partner_admin.inlines, ScreeningFlagInline]


def evidence_list(evidence: dict):
    return format_html_join("; ", "{}: {}", ((key.replace("_", " "), "—" if value is None else value)
                                             for key, value in evidence.items()))


def views_chart(daily: list) -> str:
    """A small line of the partner's daily qualified views, with the same figures in words for screen readers."""
    if not daily:
        return "no daily figures"
    width, height = 180, 36
    top = max(views for _, views in daily) or 1
    step = width / max(1, len(daily) - 1)
    points = " ".join(f"{index * step:.1f},{height - 2 - (views / top) * (height - 4):.1f}"
                      for index, (_, views) in enumerate(daily))
    peak_day, peak = max(daily, key=lambda item: item[1])
    ordered = sorted(views for _, views in daily)
    words = (f"Daily qualified views {daily[0][0]:%Y-%m-%d} to {daily[-1][0]:%Y-%m-%d}: median "
             f"{ordered[len(ordered) // 2]:,}, highest {peak:,} on {peak_day:%Y-%m-%d}")
    return format_html('<svg class="views-chart" width="{}" height="{}" role="img" aria-label="{}"><title>{}</title>'
                       '<polyline fill="none" stroke="currentColor" stroke-width="1" points="{}"/></svg>',
                       width, height, words, words, points)


def flagged_lines_table(run, lines, *, can_review: bool):
    """The run page's flagged lines, awaiting review first: partner, line, flags with evidence and suggested
    action, the decision, the views chart and the Hold / Clear links."""
    from django.urls import reverse  # noqa: PLC0415 (URLs are ready once the admin renders)

    if not lines:
        return ""
    rows = []
    for line in lines:
        links = ""
        if can_review:
            links = format_html_join(" · ", '<a href="{}">{}</a>', (
                (reverse("admin:payouts_payoutrun_screening", args=[run.pk, line.partner_id, action]), label)
                for action, label in (("hold", "Hold…"), ("clear", "Clear…"))))
        flags = format_html_join("", "<li><strong>{}</strong> ({}): {}</li>", (
            (flag.get_rule_display(), flag.get_suggested_action_display().lower(), evidence_list(flag.evidence))
            for flag in line.flags))
        decision = dict(ScreeningFlag.Status.choices)[line.status]
        if line.decided_by:
            decision = f"{decision} by {line.decided_by}: {line.decision_reason}"
        rows.append((line.partner, line.line_status, format_money(line.net_minor, run.currency), flags, decision,
                     views_chart(line.daily_views), links))
    body = format_html_join("", "<tr><td>{}</td><td>{} · {}</td><td><ul>{}</ul></td><td>{}</td><td>{}</td>"
                                "<td>{}</td></tr>", rows)
    return format_html('<table class="screening-flags"><caption>Flagged by screening</caption><thead><tr>'
                       "<th>Partner</th><th>Line</th><th>Flags and evidence</th><th>Decision</th>"
                       "<th>Daily views</th><th></th></tr></thead><tbody>{}</tbody></table>", body)
