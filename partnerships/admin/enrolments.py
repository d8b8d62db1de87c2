"""The application queue: managers review applications and decide them, one by one or in bulk."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from core.admin import (
    LargeTableAdminMixin,
    ReasonForm,
    TitledChangelistMixin,
    action_over_selected,
    perform_posted_form,
)
from core.importexport import SpreadsheetExportMixin
from partnerships import eligibility
from partnerships.exceptions import PartnershipsError
from partnerships.models import Enrolment
from partnerships.resources.enrolments import EnrolmentResource
from partnerships.selectors import application_queue
from partnerships.services.enrolments import (
    ENROLMENT_ACTIONS,
    BulkReport,
    enrolment_check_can_apply,
    enrolment_evaluate_eligibility,
    enrolment_submit,
    enrolments_decide,
)
from partnerships.transitions import BULK_ACTIONS, DECIDE_PERMISSION, ENROLMENT_TRANSITIONS, enrolment_actions_allowed


def applications(count: int) -> str:
    """'1 application', '3 applications'."""
    return ngettext("%(count)d application", "%(count)d applications", count) % {"count": count}


class EnrolmentAddForm(forms.ModelForm):
    """Record an application on a partner's behalf; the same checks as the service, shown on the form."""

    class Meta:
        model = Enrolment
        fields = ["partner", "program"]

    def clean(self):
        data = super().clean()
        partner, program = data.get("partner"), data.get("program")
        if partner and program:
            try:
                enrolment_check_can_apply(partner=partner, program=program, now=timezone.now())
            except PartnershipsError as exc:
                raise ValidationError(str(exc)) from exc
        return data

    def validate_constraints(self, exclude=None):
        return None  # enrolment_check_can_apply reports the live-enrolment rule with a clearer message


class EligibilityFilter(admin.SimpleListFilter):
    title = "eligibility"
    parameter_name = "eligible"

    def lookups(self, request, model_admin):
        return [("yes", "All rules pass"), ("no", "Fails a rule"), ("unknown", "Not evaluated")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(eligibility_passed=True)
        if value == "no":
            return queryset.filter(eligibility_passed=False)
        if value == "unknown":
            return queryset.filter(eligibility_passed__isnull=True)
        return queryset


@admin.register(Enrolment)
class EnrolmentAdmin(TitledChangelistMixin, SpreadsheetExportMixin, LargeTableAdminMixin, SimpleHistoryAdmin):
    # What fits at 1440 px with the deciding column whole: eligibility as a short label, its rules on the page.
    list_display = ["id", "partner_link", "program", "status", "submitted_at", "eligibility_summary", "decided_by"]
    list_display_links = ["id"]
    date_hierarchy = "submitted_at"
    changelist_title = "Applications"
    list_filter = ["status", "program", EligibilityFilter]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle, e.g. dancing.dani"
    ordering = ["-submitted_at", "-id"]
    # The bulk decisions are the transition table's (each has its <action>_selected method below).
    actions = [*(f"{action}_selected" for action in BULK_ACTIONS), "reevaluate_selected"]
    raw_id_fields = ["partner"]
    readonly_fields = [
        "partner", "program", "status", "submitted_at", "eligibility_table", "eligibility_evaluated_at",
        "decided_by", "decided_at", "decision_reason", "eligibility_override_reason", "approved_at",
    ]
    fieldsets = [
        (None, {"fields": ["partner", "program", "status", "submitted_at"]}),
        ("Eligibility", {"fields": ["eligibility_table", "eligibility_evaluated_at", "eligibility_override_reason"]}),
        ("Last decision", {"fields": ["decided_by", "decided_at", "decision_reason", "approved_at"]}),
    ]
    change_form_template = "admin/partnerships/enrolment/change_form.html"
    object_history_list_template = "admin/partnerships/enrolment/history_list.html"
    resource_classes = [EnrolmentResource]  # export only: applications change through decisions

    # --- queryset and columns -----------------------------------------------------------------
    def get_queryset(self, request):
        return application_queue()

    @admin.display(description="partner", ordering="partner__handle")
    def partner_link(self, obj: Enrolment):
        url = reverse("admin:partnerships_partner_change", args=[obj.partner_id])
        return format_html('<a href="{}">@{}</a>', url, obj.partner.handle)

    @admin.display(description="eligibility")
    def eligibility_summary(self, obj: Enrolment):
        label = eligibility.short_label(obj.eligibility)
        kind = "pass" if label == "passes" else "fail" if label.startswith("fails") else "unknown"
        return format_html('<span class="label-{}" title="{}">{}</span>', kind,
                           eligibility.summarise(obj.eligibility), label)

    @admin.display(description="rules")
    def eligibility_table(self, obj: Enrolment):
        if not obj.eligibility:
            return "Not evaluated yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td style='color:{}'>{}</td></tr>",
            (
                (rule["label"], rule["value"], rule["threshold"], "#2e7d32" if rule["passed"] else "#c62828",
                 ("pass" if rule["passed"] else "FAIL") + (" (cannot be overridden)" if rule.get("hard")
                                                             and not rule["passed"] else ""))
                for rule in obj.eligibility
            ),
        )
        return format_html(
            "<table><thead><tr><th>Rule</th><th>Partner's value</th><th>Threshold</th><th>Result</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- permissions --------------------------------------------------------------------------
    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # decisions are history; an application is withdrawn or ended, never deleted

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = EnrolmentAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["partner", "program"]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # every field is read-only; changes happen through decisions
        created = enrolment_submit(
            partner_id=obj.partner_id, program_id=obj.program_id, actor=request.user
        )
        obj.pk, obj.status, obj.submitted_at = created.pk, created.status, created.submitted_at

    # --- decisions ----------------------------------------------------------------------------
    def get_urls(self):
        custom = [
            path("<int:object_id>/decide/<str:action>/", self.admin_site.admin_view(self.decide_view),
                 name="partnerships_enrolment_decide"),
            path("<int:object_id>/reevaluate/", self.admin_site.admin_view(self.reevaluate_view),
                 name="partnerships_enrolment_reevaluate"),
        ]
        return custom + super().get_urls()

    def available_actions(self, request, obj: Enrolment) -> list[str]:
        return enrolment_actions_allowed(obj, request.user)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["decision_actions"] = self.available_actions(request, obj)
        # Every field of an application is read-only: it changes through its decision buttons, so no Save bar.
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)

    def _decision_page(self, request, *, action: str, objects, form, bulk: bool):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{action.capitalize()} {'applications' if bulk else 'application'}",
            "action": action,
            "done": ENROLMENT_TRANSITIONS[action].done,
            "objects": objects,
            "form": form,
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "failing": [obj for obj in objects if obj.eligibility_passed is False],
        }
        return TemplateResponse(request, "admin/partnerships/enrolment/decide.html", context)

    def _form(self, request, action: str, objects, data=None) -> ReasonForm:
        transition = ENROLMENT_TRANSITIONS[action]
        # Not yet evaluated counts as possibly failing: approval evaluates it and may need the override.
        show_override = action == "approve" and any(obj.eligibility_passed is not True for obj in objects)
        return ReasonForm(data, reason_required=transition.reason_required, show_override=show_override)

    def decide_view(self, request, object_id: int, action: str):
        if action not in ENROLMENT_TRANSITIONS:
            messages.error(request, f"Unknown decision “{action}”.")
            return HttpResponseRedirect(reverse("admin:partnerships_enrolment_changelist"))
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        change_url = reverse("admin:partnerships_enrolment_change", args=[obj.pk])
        if not request.user.has_perm(ENROLMENT_TRANSITIONS[action].permission):
            messages.error(request, f"You may not {action} applications.")
            return HttpResponseRedirect(change_url)
        form = self._form(request, action, [obj], request.POST if request.method == "POST" else None)

        def decide(data):
            kwargs = {"enrolment_id": obj.pk, "actor": request.user, "reason": data["reason"]}
            if action == "approve":
                kwargs["override_reason"] = data.get("override_reason", "")
            return ENROLMENT_ACTIONS[action](**kwargs)

        done = perform_posted_form(request, form, decide, refusal=PartnershipsError, redirect_to=change_url,
                                   success=f"Application #{obj.pk} of @{obj.partner.handle}: {action} done.")
        return done or self._decision_page(request, action=action, objects=[obj], form=form, bulk=False)

    def reevaluate_view(self, request, object_id: int):
        enrolment = get_object_or_404(self.get_queryset(request), pk=object_id)
        change_url = reverse("admin:partnerships_enrolment_change", args=[enrolment.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        try:
            enrolment = enrolment_evaluate_eligibility(enrolment_id=enrolment.pk, actor=request.user)
        except PartnershipsError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Eligibility re-evaluated: {eligibility.summarise(enrolment.eligibility)}.")
        return HttpResponseRedirect(change_url)

    def _bulk(self, request, queryset, action: str):
        objects = list(queryset.select_related("partner", "program").order_by("id")[:500])
        if "apply" in request.POST:
            form = self._form(request, action, objects, request.POST)
            if form.is_valid():
                try:
                    report = enrolments_decide(
                        enrolment_ids=[obj.pk for obj in objects], action=action, actor=request.user,
                        reason=form.cleaned_data["reason"],
                        override_reason=form.cleaned_data.get("override_reason", ""),
                    )
                except PartnershipsError as exc:
                    form.add_error(None, str(exc))
                else:
                    self._report(request, action, report, objects)
                    return None
        else:
            form = self._form(request, action, objects)
        return self._decision_page(request, action=action, objects=objects, form=form, bulk=True)

    def _report(self, request, action: str, report: BulkReport, objects) -> None:
        handles = {obj.pk: obj.partner.handle for obj in objects}
        done = ENROLMENT_TRANSITIONS[action].done
        if report.done:
            messages.success(request, f"{applications(len(report.done))} {done}: "
                             + ", ".join(f"#{e.pk} @{handles[e.pk]}" for e in report.done) + ".")
        if report.skipped:
            messages.warning(request, f"{applications(len(report.skipped))} skipped:")
            for enrolment_id, why in report.skipped:
                messages.warning(request, f"#{enrolment_id} @{handles[enrolment_id]}: {why}")

    approve_selected = action_over_selected("approve", description="Approve selected applications…",
                                            permission="decide")
    reject_selected = action_over_selected("reject", description="Reject selected applications…", permission="decide")

    @admin.action(description="Re-evaluate eligibility of selected applications", permissions=["decide"])
    def reevaluate_selected(self, request, queryset):
        count = 0
        for enrolment_id in queryset.values_list("pk", flat=True)[:500]:
            enrolment_evaluate_eligibility(enrolment_id=enrolment_id, actor=request.user)
            count += 1
        messages.success(request, f"Eligibility re-evaluated for {applications(count)}.")
