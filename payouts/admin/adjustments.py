"""Adjustments: recorded by one finance approver, decided (approved or rejected) by another."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, Value, When
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import ngettext

from core.admin import ReasonForm
from core.money import format_money
from payouts.admin.forms import (
    AdjustmentForm,
)
from payouts.exceptions import PayoutsError
from payouts.models import (
    Adjustment,
)
from payouts.services import adjustments as adjustment_services

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ADJUSTMENTS_DONE = "{adjustments} {done}: {items}."
ADJUSTMENTS_SKIPPED = "{adjustments} skipped:"
ADJUSTMENT_SKIPPED = "{item}: {why}"
# Said on the confirmation page before the click; the service decides (and refuses) under the row lock.
WILL_SKIP_DECIDED = "skipped: already {status}"
WILL_SKIP_CREATOR = "skipped: you created it"


def adjustments(count: int) -> str:
    """'1 adjustment', '3 adjustments'."""
    return ngettext("%(count)d adjustment", "%(count)d adjustments", count) % {"count": count}


class AdjustmentDecision(Protocol):
    """How the confirmation page calls either decision (approve's reason is optional, reject's is not)."""

    def __call__(self, *, adjustment_id: int, actor: User, reason: str) -> Adjustment: ...


ADJUSTMENT_DECISIONS: dict[str, tuple[AdjustmentDecision, str]] = {
    "approve": (adjustment_services.adjustment_approve, "approved"),
    "reject": (adjustment_services.adjustment_reject, "rejected"),
}
# Adjustments awaiting a second approver come first on the list, newest first, then the decided ones.
AWAITING_FIRST = Case(When(status=Adjustment.Status.PENDING, then=Value(0)), default=Value(1))


@admin.register(Adjustment)
class AdjustmentAdmin(admin.ModelAdmin):
    form = AdjustmentForm
    list_display = ["id", "partner", "program", "status_shown", "amount", "reason", "created_by", "decided_by",
                    "held_reason", "applied_run", "created_at"]
    list_select_related = ["partner", "program", "created_by", "decided_by", "applied_run", "applied_run__program"]
    list_filter = ["status", "program"]
    ordering = [AWAITING_FIRST.asc(), "-id"]
    search_fields = ["=partner__handle"]
    raw_id_fields = ["partner"]
    actions = ["approve_selected", "reject_selected"]
    DECIDED_FIELDS = ["partner", "program", "amount", "reason", "status", "created_by", "created_at", "decided_by",
                      "decided_at", "decision_reason", "held_reason", "applied_run"]

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.program.currency)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        if obj.status == Adjustment.Status.PENDING:
            return format_html('<strong style="color:#b26a00">{}</strong>', obj.get_status_display())
        return obj.get_status_display()

    def get_fields(self, request, obj=None):
        return self.DECIDED_FIELDS if obj is not None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.DECIDED_FIELDS if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm(adjustment_services.APPROVE_ADJUSTMENT_PERMISSION)

    def save_model(self, request, obj, form, change):
        created = adjustment_services.adjustment_create(partner_id=obj.partner_id, program_id=obj.program_id,
                                             amount_minor=form.cleaned_data["amount_minor"],
                                             reason=form.cleaned_data["reason"], actor=request.user)
        obj.pk = created.pk

    # --- a second approver decides: each selected adjustment by its own service call ------------------
    @admin.action(description="Approve selected adjustments…", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected adjustments…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, "reject")

    def _item(self, obj) -> str:
        return f"#{obj.pk} @{obj.partner.handle} {format_money(obj.amount_minor, obj.program.currency)}"

    def _decide(self, request, queryset, action: str):
        objects = list(queryset.select_related("partner", "program", "created_by").order_by("id")[:500])
        form = ReasonForm(request.POST if "apply" in request.POST else None, reason_required=action == "reject",
                          show_override=False)
        if "apply" in request.POST and form.is_valid():
            decide, done_word = ADJUSTMENT_DECISIONS[action]
            done, skipped = [], []
            for obj in objects:
                try:
                    decide(adjustment_id=obj.pk, actor=request.user, reason=form.cleaned_data["reason"])
                except PayoutsError as exc:
                    skipped.append((obj, str(exc)))
                else:
                    done.append(obj)
            if done:
                items = ", ".join(self._item(obj) for obj in done)
                done_text = ADJUSTMENTS_DONE.format(adjustments=adjustments(len(done)), done=done_word, items=items)
                self.message_user(request, done_text, messages.SUCCESS)
            if skipped:
                self.message_user(request, ADJUSTMENTS_SKIPPED.format(adjustments=adjustments(len(skipped))),
                                  messages.WARNING)
                for obj, why in skipped:
                    self.message_user(request, ADJUSTMENT_SKIPPED.format(item=self._item(obj), why=why),
                                      messages.WARNING)
            return None
        rows = [(obj, self._item(obj), WILL_SKIP_DECIDED.format(status=obj.get_status_display().lower())
                 if obj.status != Adjustment.Status.PENDING else WILL_SKIP_CREATOR
                 if obj.created_by_id == request.user.pk else "") for obj in objects]
        return TemplateResponse(request, "admin/payouts/adjustment/decide.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "action": action,
            "done": ADJUSTMENT_DECISIONS[action][1],
            "title": f"{action.capitalize()} adjustments", "rows": rows, "objects": objects, "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })
