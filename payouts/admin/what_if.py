"""The "What if…" page of a computed run: a form of other terms, and the run's month computed with them beside the run
(payouts.services.what_if), with the per-partner comparison as CSV. The form is sent by GET: a what-if changes
nothing, and the CSV link is the same address."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from core.money import format_money
from core.money_fields import MoneyField, MoneyFormMixin, PercentField
from payouts.exceptions import PayoutsError
from payouts.exports import csv_response
from payouts.models import EarningLine, PayoutRun, ProgramTerms
from payouts.services.what_if import MAX_EXCLUDED, WhatIfInvalid, WhatIfResult, payout_run_what_if
from payouts.transitions import APPROVE_PERMISSION

SHOWN_ROWS = 500
CSV_HEADER = ["partner_id", "handle", "name", "currency", "old_gross_minor", "new_gross_minor", "old_net_minor",
              "new_net_minor", "difference_minor", "old_status", "new_status"]
INTRO = ("Computes the run's month again with the terms below (the program's terms, changed where you change them) "
         "by the same formulas, and compares it with the run partner by partner. Nothing is saved: not the terms, "
         "not the run, not the ledger.")
NOT_ALLOWED = "What-if runs need the permission to approve payout runs."
STALE = ("The run is stale ({reason}): the what-if reads the inputs as they are now, so part of the difference "
         "is the change of inputs, not of terms.")


class WhatIfForm(MoneyFormMixin, forms.Form):
    budget_minor = MoneyField(label="Budget", minimum=0, help_text="The month's budget the formula shares.")
    partner_cap_minor = MoneyField(label="Partner cap", required=False, minimum=1,
                                   help_text="Most one partner earns in the month; empty: no cap.")
    excess_policy = forms.ChoiceField(label="Excess over the cap", choices=ProgramTerms.ExcessPolicy.choices)
    pool_share = PercentField(label="Pool share", help_text="Share of the budget paid to partners.")
    min_views = forms.IntegerField(label="Minimum views", min_value=0, max_value=2**63 - 1)
    revenue_share_rate = PercentField(label="Revenue share")
    revenue_tiers = forms.JSONField(label="Revenue tiers", required=False,
                                    widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                                    help_text='e.g. [{"up_to_minor": 10000000, "rate": "0.70"}, '
                                              '{"up_to_minor": null, "rate": "0.50"}]; empty: the single rate.')
    min_payout_minor = MoneyField(label="Minimum payout", minimum=0)
    excluded = forms.CharField(label="Excluded partners", required=False, max_length=20_000,
                               help_text=f"Partner ids separated by commas (at most {MAX_EXCLUDED:,}): they earn "
                                         "nothing this month, and a pool goes to the others.")

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        self.currency = currency
        super().__init__(*args, **kwargs)

    def money_currency(self, data: dict[str, Any]) -> str | None:
        return self.currency

    def clean_revenue_tiers(self) -> Any:
        tiers = self.cleaned_data["revenue_tiers"]
        return [] if tiers is None else tiers  # emptied: the single rate, as the terms store it

    def clean_excluded(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["excluded"].split(",") if part.strip()]


def _initial(run: PayoutRun, terms: ProgramTerms) -> dict[str, Any]:
    fields = ("partner_cap_minor", "excess_policy", "pool_share", "min_views", "revenue_share_rate", "revenue_tiers",
              "min_payout_minor")
    return {"budget_minor": run.budget_minor, **{name: getattr(terms, name) for name in fields}, "excluded": ""}


def _csv_rows(result: WhatIfResult):
    for row in result.rows:
        yield [row.partner_id, row.handle, row.name, result.currency, row.old_gross, row.new_gross, row.old_net,
               row.new_net, row.difference, row.old_status, row.new_status]


def what_if_view(model_admin: Any, request: Any, run_id: int) -> HttpResponseBase:
    run = get_object_or_404(PayoutRun.objects.select_related("program"), pk=run_id)
    change_url = reverse("admin:payouts_payoutrun_change", args=[run.pk])
    if not request.user.has_perm(APPROVE_PERMISSION):
        model_admin.message_user(request, NOT_ALLOWED, messages.ERROR)
        return HttpResponseRedirect(change_url)
    terms = ProgramTerms.objects.filter(program_id=run.program_id).first()
    initial = _initial(run, terms) if terms is not None else {}
    submitted, csv = "what_if" in request.GET, request.GET.get("format") == "csv"
    form = WhatIfForm(request.GET if submitted else None, initial=initial, currency=run.currency)
    result, refusal = None, ""
    if submitted and form.is_valid():
        changes = {name: value for name, value in form.cleaned_data.items()
                   if name != "excluded" and (name not in initial or value != initial[name])}
        try:
            result = payout_run_what_if(
                run_id=run.pk, terms_changes=changes, excluded_partner_ids=form.cleaned_data["excluded"],
                actor=request.user, row_limit=None if csv else SHOWN_ROWS)
        except WhatIfInvalid as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except PayoutsError as exc:
            form.add_error(None, str(exc))
    elif not submitted:
        refusal = _refusal(run)
    if result is not None and csv:
        return csv_response(f"what-if-{run.program.slug}-{run.month:%Y-%m}.csv", CSV_HEADER, _csv_rows(result))
    return TemplateResponse(request, "admin/payouts/payoutrun/what_if.html", {
        **model_admin.admin_site.each_context(request), "opts": PayoutRun._meta, "run": run, "form": form,
        "title": f"What if…: {run}", "intro": INTRO, "refusal": refusal, "result": result,
        "stale": STALE.format(reason=run.stale_reason) if run.stale_reason else "",
        "totals": _totals(result) if result else [], "largest": _rows(result, result.largest) if result else [],
        "rows": _rows(result, result.rows) if result else [],
        "more_rows": max(0, result.gaining + result.losing + result.unchanged - len(result.rows)) if result else 0,
        "csv_url": f"{request.path}?{urlencode({**request.GET.dict(), 'format': 'csv'})}" if result else "",
    })


def _refusal(run: PayoutRun) -> str:
    if run.kind != PayoutRun.Kind.FINAL or run.status != PayoutRun.Status.COMPUTED:
        return f"{run} is {run.get_status_display().lower()}: a what-if starts from a computed monthly run."
    return ""


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency)


def _signed(amount: int, currency: str) -> str:
    return ("+" if amount > 0 else "") + format_money(amount, currency)


def _totals(result: WhatIfResult) -> list[tuple[str, str, str, str]]:
    c = result.currency
    pairs = [("Lines", result.old.lines, result.new.lines), ("Gross", result.old.gross, result.new.gross),
             ("Net", result.old.net, result.new.net), ("Payable", result.old.payable, result.new.payable),
             ("Spend from the fund", result.old.spend, result.new.spend)]
    return [(label, f"{old:,}", f"{new:,}", f"{new - old:+,}") if label == "Lines"
            else (label, _money(old, c), _money(new, c), _signed(new - old, c)) for label, old, new in pairs]


def _rows(result: WhatIfResult, rows: list) -> list[dict[str, Any]]:
    c = result.currency
    return [{"partner_id": row.partner_id, "handle": row.handle, "name": row.name, "old": _money(row.old_net, c),
             "new": _money(row.new_net, c), "difference": _signed(row.difference, c),
             "old_status": _status(row.old_status), "new_status": _status(row.new_status)} for row in rows]


def _status(value: str) -> str:
    return EarningLine.Status(value).label if value else "no line"
