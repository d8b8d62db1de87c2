"""Tax profiles (a partner's form, its status and expiry, the residence country), the treaty table, and finance's
year-end export. Saves go through payouts.services.tax with a reason; validating a form is finance's."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core.money import format_percent
from core.money_fields import PercentField
from partnerships.models import Partner
from payouts import selectors
from payouts.admin.forms import reason_field
from payouts.admin.history import versions_table
from payouts.exceptions import PayoutsError
from payouts.exports import csv_response
from payouts.models import TaxProfile, TreatyRate
from payouts.services.tax import VALIDATE_PERMISSION, tax_profile_save, treaty_rate_delete, treaty_rate_save
from payouts.tax_year import APPROVED, BASES, EARLIEST_YEAR, HEADER, LATEST_YEAR, tax_year_file_name, tax_year_rows

PROFILE_FIELDS = ("form_type", "status", "residence_country", "expires_on")
EXPORT_PERMISSION = "payouts.export_tax_year"
EXPIRING_DAYS = 90


class ServiceAdminMixin:
    """A refusal found by the service on save (a permission, a profile that does not hold together) is reported on
    the page and nothing is written."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except PayoutsError as exc:
            messages.error(request, f"Nothing was saved: {exc}")
            return HttpResponseRedirect(request.get_full_path())


class TaxProfileForm(forms.ModelForm):
    change_reason = reason_field()
    can_validate = False  # set per request by TaxProfileAdmin.get_form

    class Meta:
        model = TaxProfile
        fields = ["partner", *PROFILE_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" in self.fields and not self.can_validate:
            self.fields["status"].choices = [choice for choice in self.fields["status"].choices
                                             if choice[0] != TaxProfile.Status.VALIDATED]
            self.fields["status"].help_text = "Validating a form is finance's check."


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("expired", "Expired (by date)"), ("soon", f"Expiring within {EXPIRING_DAYS} days"),
                ("none", "No expiry date")]

    def queryset(self, request, queryset):
        today = timezone.now().date()
        if self.value() == "expired":
            return queryset.filter(expires_on__lt=today)
        if self.value() == "soon":
            return queryset.filter(expires_on__gte=today, expires_on__lte=today + dt.timedelta(days=EXPIRING_DAYS))
        if self.value() == "none":
            return queryset.filter(expires_on__isnull=True)
        return queryset


@admin.register(TaxProfile)
class TaxProfileAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = TaxProfileForm
    list_display = ["partner", "form_type", "status", "residence_country", "expires_on", "validated_by",
                    "updated_at"]
    list_filter = ["status", "form_type", ExpiryFilter, "residence_country"]
    list_select_related = ["partner", "validated_by"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    raw_id_fields = ["partner"]
    readonly_fields = ["received_at", "validated_by", "validated_at", "versions"]
    fieldsets = [
        (None, {"fields": ["partner", *PROFILE_FIELDS]}),
        ("Checks", {"fields": ["received_at", "validated_by", "validated_at"]}),
        ("This change", {"fields": ["change_reason"]}),
        ("History", {"fields": ["versions"]}),
    ]
    change_list_template = "admin/payouts/taxprofile/change_list.html"

    def can_validate(self, request) -> bool:
        return request.user.has_perm(VALIDATE_PERMISSION)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.can_validate = self.can_validate(request)
        return form

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(["partner"] if obj is not None else [])]

    def has_change_permission(self, request, obj=None) -> bool:
        # A validated form is finance's: others may read it, not change it (the service refuses them too).
        if obj is not None and obj.status == TaxProfile.Status.VALIDATED and not self.can_validate(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a profile's history is evidence for filings: set it missing, never delete it

    @admin.display(description="versions of this profile")
    def versions(self, obj):
        if obj.pk is None:
            return "—"
        return versions_table([("Tax profile", selectors.history_records(TaxProfile, id=obj.pk))],
                              fields={"Tax profile": (*PROFILE_FIELDS, "validated_by")})

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        partner = obj.partner if change else data["partner"]
        profile = tax_profile_save(partner_id=partner.pk, actor=request.user, reason=data["change_reason"],
                                   **{name: data.get(name, getattr(obj, name)) for name in PROFILE_FIELDS})
        obj.pk = profile.pk

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        reason_label = str(form.fields["change_reason"].label)
        for entry in message:
            if "changed" in entry:
                entry["changed"]["fields"] = [name for name in entry["changed"]["fields"] if name != reason_label]
        return message

    def get_urls(self):
        return [
            path("partner/<int:partner_id>/", self.admin_site.admin_view(self.partner_view),
                 name="payouts_taxprofile_partner"),
            path("year-end-export/", self.admin_site.admin_view(self.year_export_view),
                 name="payouts_taxprofile_year_export"),
        ] + super().get_urls()

    def partner_view(self, request, partner_id: int):
        """The partner page's link: the partner's profile, or a new one for them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        partner = get_object_or_404(Partner, pk=partner_id)
        profile = TaxProfile.objects.filter(partner=partner).first()
        if profile is not None:
            return HttpResponseRedirect(reverse("admin:payouts_taxprofile_change", args=[profile.pk]))
        if not self.has_add_permission(request):
            messages.info(request, f"@{partner.handle} has no tax profile.")
            return HttpResponseRedirect(reverse("admin:payouts_taxprofile_changelist"))
        return HttpResponseRedirect(reverse("admin:payouts_taxprofile_add") + f"?partner={partner.pk}")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export_tax_year": request.user.has_perm(EXPORT_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def year_export_view(self, request):
        """Finance downloads a year's figures (payouts.tax_year) as CSV."""
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied(EXPORT_PERMISSION)
        form = YearForm(request.GET if "year" in request.GET else None,
                        initial={"year": timezone.now().year - 1, "basis": APPROVED})
        if form.is_bound and form.is_valid():
            year, basis = form.cleaned_data["year"], form.cleaned_data["basis"]
            return csv_response(tax_year_file_name(year, basis), HEADER, tax_year_rows(year, basis))
        return TemplateResponse(request, "admin/payouts/taxprofile/year_export.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": "Year-end tax export",
        })


class YearForm(forms.Form):
    year = forms.IntegerField(min_value=EARLIEST_YEAR, max_value=LATEST_YEAR,
                              help_text="Every partner's gross, withheld and net per program and income type, for the "
                                        "monthly runs approved in that year, or paid in it (the basis).")
    basis = forms.ChoiceField(choices=[(key, f"{key}: {words}") for key, words in BASES.items()], required=False,
                              help_text="approved: the lines of the runs approved in the year (when they were "
                                        "credited and withheld); paid: the lines whose payment reached the partner "
                                        "in the year.")

    def clean_basis(self) -> str:
        return self.cleaned_data["basis"] or APPROVED  # a link with only the year keeps today's export


class TreatyRateForm(forms.ModelForm):
    rate = PercentField(label="Rate", help_text="Withheld from residents of the country for this income type.")
    change_reason = reason_field()

    class Meta:
        model = TreatyRate
        fields = ["residence_country", "income_type", "rate"]


@admin.register(TreatyRate)
class TreatyRateAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = TreatyRateForm
    list_display = ["residence_country", "income_type", "rate_shown"]
    list_filter = ["income_type"]
    search_fields = ["=residence_country"]
    readonly_fields = ["versions"]
    fieldsets = [
        (None, {"fields": ["residence_country", "income_type", "rate"]}),
        ("This change", {"fields": ["change_reason"]}),
        ("History", {"fields": ["versions"]}),
    ]
    actions = None  # deleting goes one row at a time, through the service

    @admin.display(description="rate", ordering="rate")
    def rate_shown(self, obj):
        return format_percent(obj.rate)

    @admin.display(description="versions of this rate")
    def versions(self, obj):
        if obj.pk is None:
            return "—"
        return versions_table([("Treaty rate", selectors.history_records(TreatyRate, id=obj.pk))],
                              fields={"Treaty rate": ("residence_country", "income_type", "rate")}, percents=("rate",))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        treaty = treaty_rate_save(actor=request.user, treaty_rate_id=obj.pk if change else None,
                                  residence_country=data["residence_country"], income_type=data["income_type"],
                                  rate=data["rate"], reason=data["change_reason"])
        obj.pk = treaty.pk

    def delete_model(self, request, obj):
        treaty_rate_delete(actor=request.user, treaty_rate_id=obj.pk,
                           reason=f"Deleted in the admin by {request.user.get_username()}")
