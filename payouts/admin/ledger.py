"""The ledger, read-only: transactions with their entries, and accounts with their balance."""

from __future__ import annotations

from django.contrib import admin

from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, money_column
from core.money import format_money
from payouts import ledger
from payouts.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    readonly_fields = ("account", "amount")
    fields = readonly_fields
    amount = money_column("amount_minor", "amount", currency="account.currency")  # not "249772223" minor units
    can_delete = False
    extra = 0
    max_num = 0

    def get_queryset(self, request):
        # Each entry names its account by owner ("@handle · Program", "fund …"): loaded with the entries.
        return super().get_queryset(request).select_related("account__partner", "account__program", "account__fund")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "description", "run", "created_by", "created_at"]
    list_select_related = ["run", "run__program", "created_by"]
    search_fields = ["=key"]
    ordering = ["-id"]
    inlines = [EntryInline]

    def get_inline_instances(self, request, obj=None):
        # A run's approval can hold a million entries: the inline shows them only for small transactions.
        if obj is not None and obj.entries.count() > 200:
            return []
        return super().get_inline_instances(request, obj)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "currency", "fund", "partner", "program"]
    list_filter = ["kind", "currency"]
    list_select_related = ["fund", "partner", "program"]
    search_fields = ["=partner__handle"]
    readonly_fields = ["balance"]
    ordering = ["-id"]

    @admin.display(description="balance")
    def balance(self, obj):
        return format_money(ledger.balance(obj), obj.currency)
