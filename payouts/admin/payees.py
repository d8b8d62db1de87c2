"""Payees: partners' bank details, masked unless the person holds payouts.view_payee_details.

The list, the export and the audit trail never show more than the last four characters; the page shows the
details in full to those who may read them. Details are changed through payee_save (a money action: the second
factor is required) and a change is confirmed by a second person through payee_confirm. The partner's page shows
the payee (masked) and its hold through PayeeInline.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import ReadOnlyAdminMixin
from core.display import format_timestamp
from core.money import format_money
from core.second_factor import SecondFactorRequired, require_second_factor, second_factor_verified
from partnerships.models import Partner
from payouts import selectors
from payouts.admin.review import RED
from payouts.exports import csv_response
from payouts.models import Payee, Payment
from payouts.payees import (
    DETAIL_FIELDS,
    FIELD_LABELS,
    MASKS,
    PayeeInvalid,
    PayeeRefused,
    payee_payable_q,
    payee_status,
    shown,
)
from payouts.services.payees import payee_confirm, payee_save

CHANGE_ACTION = "Changing bank details"
CONFIRM_ACTION = "Confirming a change of bank details"
PLAIN_FIELDS = ("rail", "currency", "last4", "hold_until", "blocked_reason", "changed_at", "confirmed_at",
                "partner__handle", "partner__display_name")
TRAIL_FIELDS = ("rail", "currency", "account_holder", "iban", "bic", "routing_number", "account_number",
                "hold_until", "confirmed_at", "blocked_reason")
EXPORT_HEADER = ["partner", "rail", "currency", "account", "bic", "status", "changed_at", "confirmed_at"]
NO_PARTNER = "There is no partner with the handle “{handle}”."
ID = re.compile(r"[0-9]{1,18}")  # a row id in a URL: ASCII digits, within bigint


def can_read_details(request) -> bool:
    return request.user.has_perm("payouts.view_payee_details")


class PayeeForm(forms.Form):
    """What a person types; payouts.payees validates it (the errors come back per field)."""

    partner_handle = forms.CharField(max_length=40, label="Partner handle")
    rail = forms.ChoiceField(choices=Payee.Rail.choices)
    currency = forms.CharField(max_length=8, help_text="EUR for SEPA, USD for ACH, any for Other.")
    account_holder = forms.CharField(max_length=280, label="Account holder")
    iban = forms.CharField(max_length=80, required=False, label="IBAN", help_text="SEPA only.")
    bic = forms.CharField(max_length=80, required=False, label="BIC",
                          help_text="Optional; filled from the IBAN's bank when known.")
    routing_number = forms.CharField(max_length=80, required=False, label="Routing number", help_text="ACH only.")
    account_number = forms.CharField(max_length=80, required=False, label="Account number",
                                     help_text="ACH and Other.")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
                             help_text="Why the details change (e.g. the partner's e-mailed request, ticket id); "
                                       "kept in the audit trail.")


class ConfirmForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
                             help_text="How you checked the change (e.g. called the partner back on a known number).")


class PayeeStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "payable"

    def lookups(self, request, model_admin):
        return [("held", "held after a change"), ("blocked", "blocked after a return"), ("payable", "payable")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "held":
            return queryset.filter(hold_until__gt=now)
        if self.value() == "blocked":
            return queryset.exclude(blocked_reason="")
        if self.value() == "payable":
            return queryset.filter(payee_payable_q(now))
        return queryset


def _trail_value(name: str, value) -> str:
    """A value of a past version: details masked (whoever looks), dates to the minute."""
    if value is None or value == "":
        return "—"
    if name in MASKS:
        return MASKS[name](value)
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    return f"{value:%Y-%m-%d}" if isinstance(value, dt.date) else str(value)


@admin.register(Payee)
class PayeeAdmin(admin.ModelAdmin):
    list_display = ["partner", "rail", "currency", "account", "status"]
    list_filter = [PayeeStatusFilter, "rail", "currency"]
    list_select_related = ["partner"]
    search_fields = ["^partner__handle"]
    search_help_text = "Start of the partner's handle"
    ordering = ["partner__handle"]
    change_list_template = "admin/payouts/payee/change_list.html"
    actions = ["confirm_selected"]

    def get_queryset(self, request):
        # The encrypted columns are not even read for lists and exports: they show the last four only.
        return super().get_queryset(request).only("id", "partner_id", *PLAIN_FIELDS)

    @admin.display(description="account")
    def account(self, obj):
        return obj.masked_account

    @admin.display(description="status")
    def status(self, obj):
        text = payee_status(obj, timezone.now())
        return format_html('<span style="color:#c62828">{}</span>', text) if not text.startswith("payable") else text

    def has_delete_permission(self, request, obj=None):
        return False  # bank details are changed, never deleted: the trail must stay whole

    def has_confirm_permission(self, request):
        return request.user.has_perm("payouts.confirm_payee")

    @admin.action(description="Confirm the change of bank details of the selected payees", permissions=["confirm"])
    def confirm_selected(self, request, queryset):
        """Each payee on its own: those that cannot be confirmed (no pending change, changed by you) are listed."""
        try:
            require_second_factor(request.user, CONFIRM_ACTION)
        except SecondFactorRequired as exc:
            messages.error(request, str(exc))
            return None
        done, skipped = [], []
        for payee in queryset.select_related("partner"):
            try:
                payee_confirm(partner_id=payee.partner_id, actor=request.user)
            except PayeeRefused as exc:
                skipped.append(f"@{payee.partner.handle}: {exc}")
            else:
                done.append(f"@{payee.partner.handle}")
        if done:
            messages.success(request, f"Confirmed and released from the hold: {', '.join(done)}.")
        if skipped:
            messages.warning(request, "Not confirmed: " + " | ".join(skipped))

    # --- pages -------------------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("details/", view(self.details_view), name="payouts_payee_details"),
            path("<int:object_id>/confirm/", view(self.confirm_view), name="payouts_payee_confirm"),
            path("export/", view(self.export_view), name="payouts_payee_export"),
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:payouts_payee_details"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not ID.fullmatch(str(object_id)):
            raise Http404
        payee = get_object_or_404(Payee.objects.select_related("partner", "changed_by", "confirmed_by"),
                                  pk=int(object_id))
        if not self.has_view_permission(request, payee):
            raise PermissionDenied
        full = can_read_details(request)
        rows = [(FIELD_LABELS[name], shown(name, getattr(payee, name), full=full) or "—")
                for name in ("rail", "currency", "account_holder", "iban", "bic", "routing_number",
                             "account_number")]
        rows[0] = ("Rail", payee.get_rail_display())
        pending = payee.changed_at is not None and payee.confirmed_at is None
        return TemplateResponse(request, "admin/payouts/payee/page.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "payee": payee, "original": payee,
            "title": f"Bank details of @{payee.partner.handle}", "rows": rows, "full": full,
            "status": payee_status(payee, timezone.now()), "trail": self.trail(payee),
            "can_change": self.has_change_permission(request, payee),
            "can_confirm": pending and request.user.has_perm("payouts.confirm_payee")
            and payee.changed_by_id != request.user.pk,
            "pending": pending,
        })

    def details_view(self, request):
        """Add or change a partner's details (?partner=<id> for a change); saved by payee_save."""
        partner = None
        if ID.fullmatch(request.GET.get("partner", "")):
            partner = get_object_or_404(Partner, pk=int(request.GET["partner"]))
        payee = Payee.objects.filter(partner=partner).first() if partner is not None else None
        if not (self.has_change_permission(request) if payee else self.has_add_permission(request)):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = PayeeForm(request.POST)
            try:
                require_second_factor(request.user, CHANGE_ACTION)
            except SecondFactorRequired as exc:  # refused, said on the page with what was typed kept
                form.add_error(None, str(exc))
                status = 403
            if status == 200 and form.is_valid():
                data = form.cleaned_data
                target = Partner.objects.filter(handle=data["partner_handle"].strip().lstrip("@").lower()).first()
                if target is None:
                    form.add_error("partner_handle", NO_PARTNER.format(handle=data["partner_handle"]))
                else:
                    try:
                        saved = payee_save(partner_id=target.pk, data=data, actor=request.user,
                                           reason=data["reason"])
                    except PayeeInvalid as exc:
                        for name, message in exc.errors.items():
                            form.add_error(name if name in form.fields else None, message)
                    else:
                        messages.success(request, f"Saved the bank details of @{target.handle}: "
                                                  f"{payee_status(saved, timezone.now())}.")
                        return HttpResponseRedirect(reverse("admin:payouts_payee_change", args=[saved.pk]))
        else:
            initial = {"partner_handle": partner.handle if partner else "", "rail": payee.rail if payee else "",
                       "currency": payee.currency if payee else "", "bic": payee.bic if payee else ""}
            if payee is not None and can_read_details(request):
                initial.update({name: getattr(payee, name) or "" for name in DETAIL_FIELDS})
            form = PayeeForm(initial=initial)
            if not second_factor_verified(request.user):
                messages.warning(request, f"{CHANGE_ACTION} needs a second factor: verify a code from your "
                                          "authenticator app before saving.")
        return TemplateResponse(request, "admin/payouts/payee/details.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "payee": payee,
            "title": f"Bank details of @{partner.handle}" if partner else "Add bank details",
            "retype": payee is not None and not can_read_details(request),
        }, status=status)

    def confirm_view(self, request, object_id: int):
        payee = get_object_or_404(Payee.objects.select_related("partner", "changed_by"), pk=object_id)
        if not request.user.has_perm("payouts.confirm_payee"):
            raise PermissionDenied
        form = ConfirmForm(request.POST or None)
        status = 200
        if request.method == "POST" and form.is_valid():
            try:
                require_second_factor(request.user, CONFIRM_ACTION)
                payee_confirm(partner_id=payee.partner_id, actor=request.user, reason=form.cleaned_data["reason"])
            except SecondFactorRequired as exc:
                form.add_error(None, str(exc))
                status = 403
            except PayeeRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Confirmed the change of @{payee.partner.handle}'s bank details; "
                                          "the hold is lifted.")
                return HttpResponseRedirect(reverse("admin:payouts_payee_change", args=[payee.pk]))
        return TemplateResponse(request, "admin/payouts/payee/confirm.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "payee": payee, "form": form,
            "title": f"Confirm the change of @{payee.partner.handle}'s bank details",
            "status": payee_status(payee, timezone.now()),
        }, status=status)

    def export_view(self, request):
        """The list as it is filtered, as CSV: masked (last four) for everyone; bank files are the batches'."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        now = timezone.now()
        rows = ([payee.partner.handle, payee.rail, payee.currency, payee.masked_account, payee.bic,
                 payee_status(payee, now), payee.changed_at, payee.confirmed_at]
                for payee in queryset.only("id", "partner_id", "bic", *PLAIN_FIELDS).iterator(chunk_size=2000))
        return csv_response(f"payees-{now:%Y%m%d}.csv", EXPORT_HEADER, rows)

    @staticmethod
    def trail(payee: Payee):
        """Every version: when, who, why, and old → new of what changed, masked whoever looks."""
        records = selectors.history_records(Payee, id=payee.pk)
        rows, previous = [], None
        for record in records:
            changes = []
            for name in TRAIL_FIELDS:
                old: object = getattr(previous, name) if previous is not None else None
                new = getattr(record, name)
                if previous is None and new in (None, "") or old == new:
                    continue
                changes.append((FIELD_LABELS.get(name, name.replace("_", " ")), _trail_value(name, old),
                                _trail_value(name, new)))
            previous = record
            rows.append((format_timestamp(record.history_date),
                         record.history_user.get_username() if record.history_user else "—",
                         record.history_change_reason or "—",
                         format_html_join(mark_safe("<br>"), "{}: {} → {}", changes)))
        rows.reverse()
        return format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)


class PayeeInline(ReadOnlyAdminMixin, admin.StackedInline):
    """On the partner's page: the payee, masked, with its hold, and a link to its page."""

    model = Payee
    fields = ["rail", "currency", "account", "status", "payments", "page"]
    readonly_fields = ["rail", "currency", "account", "status", "payments", "page"]
    can_delete = False
    extra = 0
    verbose_name = verbose_name_plural = "Bank details (payee)"

    def get_queryset(self, request):
        # Not super(): it asks has_view_permission without the partner, which is False here by design.
        return Payee.objects.only("id", "partner_id", *PLAIN_FIELDS[:-2])

    def has_view_permission(self, request, obj=None):
        # Not on the add page (a partner being added has no payee; a shown inline would demand its formset's data).
        return obj is not None and request.user.has_perm("payouts.view_payee")

    @admin.display(description="account")
    def account(self, obj):
        return obj.masked_account

    @admin.display(description="status")
    def status(self, obj):
        text = payee_status(obj, timezone.now())  # blocked or held: in red, it stops the partner's payments
        return text if text.startswith("payable") else format_html('<strong class="payee-refused" style="{}">{}'
                                                                   "</strong>", RED, text)

    @admin.display(description="latest payments")
    def payments(self, obj):
        """The partner's last payments with their batch and outcome: a returned one (in red) says why."""
        latest = Payment.objects.filter(partner_id=obj.partner_id).select_related("batch").order_by("-pk")[:5]
        if not latest:
            return "none yet"
        return format_html_join("", '<div class="payee-payment"{}>{} · {} · <a href="{}">{}</a> · {}{}</div>', (
            (format_html(' style="{}"', RED) if p.status in (Payment.Status.RETURNED, Payment.Status.FAILED) else "",
             p.end_to_end_id, format_money(p.amount_minor, p.currency),
             reverse("admin:payouts_paymentbatch_change", args=[p.batch_id]), p.batch, p.get_status_display(),
             f" ({p.reason or p.reason_code})" if p.reason or p.reason_code else "") for p in latest))

    @admin.display(description="pages")
    def page(self, obj):
        return format_html('<a href="{}">Bank details, audit trail and confirmation</a>',
                           reverse("admin:payouts_payee_change", args=[obj.pk]))


# The partner's page is partnerships' (which never imports payouts): the inline is added to it from here.
_partner_admin = type(admin.site.get_model_admin(Partner))
_partner_admin.inlines = [*_partner_admin.inlines, PayeeInline]
