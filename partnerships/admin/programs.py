from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from simple_history.admin import SimpleHistoryAdmin

from core.money_fields import CurrencyChoiceField
from core.validators import bad_country_codes
from partnerships.models import Enrolment, Partner, Program


class ProgramForm(forms.ModelForm):
    """Eligibility lists as people edit them: kinds as checkboxes, countries as a comma-separated list."""

    allowed_kinds = forms.MultipleChoiceField(
        choices=Partner.Kind.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="None ticked means every kind may apply.",
    )
    allowed_countries = forms.CharField(
        required=False, help_text="Two-letter codes separated by commas, e.g. DE, FR, GB. Empty means everywhere.",
    )
    currency = CurrencyChoiceField(help_text="What the program pays in (ISO 4217); its fund must be in it too.")

    class Meta:
        model = Program
        fields = [
            "name", "slug", "description", "archetype", "currency", "time_zone", "is_open", "min_followers",
            "min_views_30d", "min_posts_30d", "min_age", "allowed_kinds", "allowed_countries",
            "require_good_standing", "reapply_cooldown_days",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].keep(self.instance.currency)
        if self.instance.pk:
            self.initial["allowed_countries"] = ", ".join(self.instance.allowed_countries or [])

    def clean_allowed_countries(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_countries") or ""
        codes = [code.strip().upper() for code in raw.replace(";", ",").split(",") if code.strip()]
        bad = bad_country_codes(codes)
        if bad:
            raise forms.ValidationError(f"Not two-letter country codes: {', '.join(str(code) for code in bad)}.")
        return sorted(set(codes))


@admin.register(Program)
class ProgramAdmin(SimpleHistoryAdmin):
    form = ProgramForm
    list_display = ["name", "slug", "archetype", "currency", "is_open", "waiting", "members"]
    list_filter = ["archetype", "is_open", "currency"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "archetype", "currency", "time_zone", "is_open"]}),
        ("Eligibility rule", {"fields": [
            "min_followers", "min_views_30d", "min_posts_30d", "min_age", "allowed_kinds", "allowed_countries",
            "require_good_standing", "reapply_cooldown_days",
        ]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            waiting_count=Count("enrolments", filter=Q(enrolments__status=Enrolment.Status.SUBMITTED)),
            member_count=Count("enrolments", filter=Q(enrolments__status=Enrolment.Status.APPROVED)),
        )

    @admin.display(description="applications waiting", ordering="waiting_count")
    def waiting(self, obj):
        return obj.waiting_count

    @admin.display(description="approved members", ordering="member_count")
    def members(self, obj):
        return obj.member_count

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
