"""The creator portal in the admin: claim links (sent from a partner's page, or by adding a partner with an e-mail
address), memberships, and the notifications sent."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from creators.exceptions import CreatorsError
from creators.models import ClaimInvitation, CreatorMembership, Notification
from creators.services.claims import SEND_PERMISSION, claim_invitation_send
from partnerships.admin.partners import PartnerAdmin
from partnerships.models import Partner


class ClaimEmailForm(forms.Form):
    email = forms.EmailField(label="E-mail address to send the account link to")


class PartnerAddForm(forms.ModelForm):
    claim_email = forms.EmailField(
        required=False, label="Creator account e-mail",
        help_text="If given, an account claim link is e-mailed to this address once the partner is saved.")

    class Meta:
        model = Partner
        exclude: list[str] = []  # the admin's fieldsets choose the fields


class PortalPartnerAdmin(PartnerAdmin):
    """The partner admin, plus the creator portal's claim links."""

    actions = [*PartnerAdmin.actions, "send_claim_link"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PartnerAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            fieldsets = [*fieldsets, ("Creator account", {"fields": ["claim_email"]})]
        return fieldsets

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        email = form.cleaned_data.get("claim_email") if not change else None
        if email:
            try:
                claim_invitation_send(partner_id=obj.pk, email=email, actor=request.user)
            except CreatorsError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"An account link was sent to {email}.", messages.SUCCESS)

    def has_send_claim_permission(self, request) -> bool:
        return request.user.has_perm(SEND_PERMISSION)

    @admin.action(description="Send a creator account link…", permissions=["send_claim"])
    def send_claim_link(self, request, queryset):
        partner = queryset.first()
        if queryset.count() != 1 or partner is None:
            self.message_user(request, "Select exactly one partner to send an account link.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:creators_partner_claim_link", args=[partner.pk]))

    def get_urls(self):
        return [path("<int:object_id>/claim-link/", self.admin_site.admin_view(self.claim_link_view),
                     name="creators_partner_claim_link"), *super().get_urls()]

    def claim_link_view(self, request, object_id: int):
        if not self.has_send_claim_permission(request):
            raise PermissionDenied
        partner = Partner.objects.filter(pk=object_id).first()
        if partner is None:
            return HttpResponseRedirect(reverse("admin:partnerships_partner_changelist"))
        form = ClaimEmailForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                claim_invitation_send(partner_id=partner.pk, email=form.cleaned_data["email"], actor=request.user)
            except CreatorsError as exc:
                form.add_error("email", str(exc))
            else:
                self.message_user(request, f"An account link for @{partner.handle} was sent to "
                                           f"{form.cleaned_data['email']}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:partnerships_partner_change", args=[partner.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Send an account link for @{partner.handle}",
                   "form": form, "partner": partner, "opts": self.model._meta}
        return render(request, "admin/creators/claim_link.html", context)


admin.site.unregister(Partner)
admin.site.register(Partner, PortalPartnerAdmin)


@admin.register(ClaimInvitation)
class ClaimInvitationAdmin(admin.ModelAdmin):
    list_display = ["partner", "email", "created_by", "created_at", "expires_at", "claimed_at"]
    list_select_related = ["partner", "created_by"]
    search_fields = ["partner__handle", "email"]
    readonly_fields = ["partner", "email", "created_by", "created_at", "expires_at", "claimed_at", "claimed_by"]
    exclude = ["token_digest"]

    def has_add_permission(self, request) -> bool:
        return False  # sent from the partner's page: the token exists only in the e-mail


@admin.register(CreatorMembership)
class CreatorMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "created_at"]
    list_select_related = ["user", "partner"]
    search_fields = ["user__email", "partner__handle"]
    raw_id_fields = ["user", "partner"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "email", "subject", "sent_at", "skipped_reason"]
    list_filter = ["kind"]
    search_fields = ["email", "event_key"]
    readonly_fields = ["event_key", "kind", "user", "email", "subject", "created_at", "sent_at", "skipped_reason"]

    def has_add_permission(self, request) -> bool:
        return False
