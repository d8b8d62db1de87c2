"""Brands, their members and tokens, campaigns with their shortlists and invitations, as partnership managers
oversee them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from core.admin import LargeTableAdminMixin
from core.importexport import SpreadsheetExportMixin
from core.money import format_money
from core.money_fields import CurrencyChoiceField, MoneyField, MoneyFormMixin
from partnerships.exceptions import PartnershipsError
from partnerships.marketplace import services as marketplace_services
from partnerships.marketplace.rules import is_brand_admin
from partnerships.marketplace.tokens import token_max_age
from partnerships.models import ApiToken, Brand, BrandMembership, Campaign, Invitation, ShortlistEntry
from partnerships.resources.marketplace import BrandResource, CampaignResource


class MembershipInline(admin.TabularInline):
    model = BrandMembership
    extra = 1
    raw_id_fields = ["user"]


@admin.register(Brand)
class BrandAdmin(SpreadsheetExportMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    # Export only (the README's promise): without the mixin /brand/export/ was read as a brand's id and redirected.
    resource_classes = [BrandResource]


class ShortlistEntryForm(forms.ModelForm):
    class Meta:
        model = ShortlistEntry
        fields = ["partner", "note"]

    def clean_partner(self):
        # Staff shortlisting on a brand's behalf follow the brands' own rule: marketplace creators only.
        partner = self.cleaned_data["partner"]
        if partner:
            try:
                marketplace_services.shortlistable_partner(partner.handle)
            except marketplace_services.MarketplaceError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return partner


class ShortlistInline(admin.TabularInline):
    model = ShortlistEntry
    form = ShortlistEntryForm
    extra = 0
    fields = ["partner", "note", "added_by", "added_at"]
    readonly_fields = ["added_by", "added_at"]
    raw_id_fields = ["partner"]
    ordering = ["added_at", "pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner", "added_by")

    def has_view_permission(self, request, obj=None):
        # The shortlist is part of the campaign: whoever may view the campaign (managers) sees it.
        return request.user.has_perm("partnerships.view_campaign") or super().has_view_permission(request, obj)


class CampaignAdminForm(MoneyFormMixin, forms.ModelForm):
    currency = CurrencyChoiceField()
    budget_minor = MoneyField(label="Budget", minimum=0, help_text="The campaign's whole budget.")

    class Meta:
        model = Campaign
        fields = ["brand", "name", "brief", "budget_minor", "currency", "target_countries", "categories",
                  "followers_min", "followers_max", "min_engagement_rate", "min_avg_views", "deliverables",
                  "starts_on", "ends_on", "status", "created_by"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].keep(self.instance.currency)

    def money_currency(self, data):
        return data.get("currency") or self.instance.currency or None


@admin.register(Campaign)
class CampaignAdmin(SpreadsheetExportMixin, admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "brand", "status", "budget", "starts_on", "ends_on", "created_by"]
    list_filter = ["status", "brand", "currency"]
    list_select_related = ["brand", "created_by"]
    search_fields = ["name", "brand__name"]
    filter_horizontal = ["categories"]
    date_hierarchy = "starts_on"
    inlines = [ShortlistInline]
    resource_classes = [CampaignResource]  # export only: campaigns are the brands' to create

    def save_formset(self, request, form, formset, change):
        if formset.model is not ShortlistEntry:
            return super().save_formset(request, form, formset, change)
        for entry in formset.save(commit=False):
            if entry.added_by_id is None:
                entry.added_by = request.user  # who shortlisted is recorded, here the staff member
            entry.save()
        for entry in formset.deleted_objects:
            entry.delete()
        return None

    @admin.display(description="budget", ordering="budget_minor")
    def budget(self, obj):
        return format_money(obj.budget_minor, obj.currency)

    def has_delete_permission(self, request, obj=None):
        # A campaign creators answered is history: it is closed, never deleted. The bulk delete action asks this
        # for every selected campaign and refuses the whole selection when one is such a campaign.
        if obj is not None and marketplace_services.campaign_answered_invitations([obj.pk]):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Invitation)
class InvitationAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "campaign", "brand", "creator", "fee", "status", "invited_at", "expires_at",
                    "responded_at"]
    list_filter = ["status", "campaign__brand"]
    list_select_related = ["campaign", "campaign__brand", "partner"]
    search_fields = ["=partner__handle", "campaign__name"]
    raw_id_fields = ["partner", "campaign"]
    readonly_fields = ["campaign", "partner", "offered_fee_minor", "currency", "message", "status", "invited_by",
                       "invited_at", "expires_at", "responded_at"]
    actions = ["accept_selected", "decline_selected"]
    ordering = ["-id"]

    def has_add_permission(self, request):
        return False  # brands invite from their pages or the API

    @admin.display(description="brand", ordering="campaign__brand__name")
    def brand(self, obj):
        return obj.campaign.brand

    @admin.display(description="creator", ordering="partner__handle")
    def creator(self, obj):
        return f"@{obj.partner.handle}"

    @admin.display(description="fee", ordering="offered_fee_minor")
    def fee(self, obj):
        return format_money(obj.offered_fee_minor, obj.currency)

    def _answer(self, request, queryset, accept: bool):
        done, skipped = 0, []
        for invitation_id in queryset.values_list("pk", flat=True)[:500]:
            try:
                marketplace_services.invitation_answer(invitation_id=invitation_id, accept=accept, actor=request.user)
                done += 1
            except PartnershipsError as exc:
                skipped.append(str(exc))
        if done:
            self.message_user(request, f"{done} invitation{'' if done == 1 else 's'} "
                                       f"{'accepted' if accept else 'declined'} on the creators' behalf.",
                              messages.SUCCESS)
        for reason in skipped:
            self.message_user(request, f"Skipped: {reason}", messages.WARNING)

    @admin.action(description="Record acceptance (on the creator's behalf)", permissions=["change"])
    def accept_selected(self, request, queryset):
        self._answer(request, queryset, True)

    @admin.action(description="Record refusal (on the creator's behalf)", permissions=["change"])
    def decline_selected(self, request, queryset):
        self._answer(request, queryset, False)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "brand", "user"]

    def clean(self):
        data = super().clean()
        brand, user = data.get("brand"), data.get("user")
        if brand and user and not is_brand_admin(user, brand):
            raise forms.ValidationError(f"{user} is not an admin of {brand}: add them as a brand admin first.")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix_shown", "brand", "user", "role", "created_at", "expires", "last_used_at",
                    "revoked"]
    list_filter = ["brand", "role", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["brand", "user"]
    search_fields = ["name", "prefix", "brand__name", "user__username"]
    readonly_fields = ["prefix", "role", "created_at", "expires", "last_used_at", "revoked_at"]
    fields = ["name", "brand", "user", "prefix", "role", "created_at", "expires", "last_used_at", "revoked_at"]
    raw_id_fields = ["user"]
    actions = ["revoke_selected"]

    @admin.display(description="token")
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description="expires", ordering="created_at")
    def expires(self, obj):
        return obj.created_at + token_max_age() if obj.created_at else "-"

    @admin.display(description="revoked", boolean=True)
    def revoked(self, obj):
        return obj.revoked_at is not None

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of who had access stays

    def save_model(self, request, obj, form, change):
        # The secret is shown once, now; only its digest is stored.
        token, secret = marketplace_services.api_token_create(user=obj.user, brand_id=obj.brand_id, name=obj.name)
        obj.pk = token.pk
        self.message_user(request, format_html(
            "Token created. Copy it now, it will not be shown again: <code>{}</code>", secret), messages.WARNING)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        for token_id in queryset.values_list("pk", flat=True):
            marketplace_services.api_token_revoke(token_id=token_id, actor=request.user)
        self.message_user(request, "Tokens revoked.", messages.SUCCESS)
