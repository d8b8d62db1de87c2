"""Finance's screens: funds and budgets, runs to review, approve and pay, lines, statements, adjustments, the
ledger and the inputs. One module per area; importing the package registers them all."""

from django.contrib import admin

from payouts.admin import (  # noqa: F401 (they register)
    adjustments,
    batches,
    forfeiture,
    funds,
    inputs,
    ledger,
    lines,
    payees,
    runs,
    screening,
    statements,
    tax,
)

# The admin's front page opens on the dashboard (payouts.dashboard), above the usual list of apps.
admin.site.index_template = "admin/dashboard.html"
