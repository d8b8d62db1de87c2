"""Forfeitures: the read-only record of held lines forfeited for good, and finance's page to forfeit one (with a
reason; payouts.services.forfeiture does it, under the program's setting)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import ReadOnlyAdminMixin, money_column, perform_posted_form
from core.money import format_money
from payouts.exceptions import PayoutsError
from payouts.models import EarningLine, Forfeiture, ForfeiturePolicy, PayoutRun, ProgramTerms
from payouts.services.forfeiture import FORFEIT_PERMISSION, FORFEITABLE_RUNS, earning_line_forfeit

INTRO = ("Forfeit {partner}'s held line in {run} for good: its {amount} leaves the partner's balance. This program's "
         "setting: {policy}. It cannot be undone.")


class ForfeitForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                             help_text="Required: recorded with the forfeiture.")


def forfeitable(line: EarningLine) -> bool:
    """Worth offering the page for (the service decides, under its locks)."""
    return line.status == EarningLine.Status.HELD and line.run.status in FORFEITABLE_RUNS


@admin.register(Forfeiture)
class ForfeitureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "run", "amount", "policy", "budget_month", "forfeited_by", "created_at", "reason"]
    list_filter = ["policy", "program"]
    list_select_related = ["partner", "run__program", "forfeited_by"]
    search_fields = ["partner__handle", "=partner__id"]

    amount = money_column("amount_minor", "amount", currency="run.currency")

    def get_urls(self):
        return [path("line/<int:line_id>/", self.admin_site.admin_view(self.forfeit_view),
                     name="payouts_forfeiture_line")] + super().get_urls()

    def forfeit_view(self, request, line_id: int):
        if not request.user.has_perm(FORFEIT_PERMISSION):
            raise PermissionDenied
        line = get_object_or_404(EarningLine.objects.select_related("run__program", "partner"), pk=line_id)
        run = line.run
        terms = ProgramTerms.objects.filter(program=run.program).first()
        policy = terms.get_forfeiture_policy_display() if terms else dict(ForfeiturePolicy.choices)["fund"]
        form = ForfeitForm(request.POST or None)
        done = perform_posted_form(request, form, lambda data: earning_line_forfeit(
            line_id=line.pk, actor=request.user, reason=data["reason"]), refusal=PayoutsError,
            success=f"Partner {line.partner_id}'s held line in {run} was forfeited.",
            redirect_to=reverse("admin:payouts_forfeiture_changelist"))
        if done is not None:
            return done
        return TemplateResponse(request, "admin/payouts/payoutrun/action.html", {
            **self.admin_site.each_context(request), "opts": PayoutRun._meta, "form": form, "run": run,
            "title": f"Forfeit partner {line.partner}'s line in {run}", "submit": "Forfeit the line",
            "intro": INTRO.format(partner=line.partner, run=run, amount=format_money(line.net_minor, run.currency),
                                  policy=policy.lower()),
        })

