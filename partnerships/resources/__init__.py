"""What the admin's spreadsheet import and export read and write, per model (django-import-export resources), one
module per area: partners, metrics (and the bulk base payouts' ad revenue shares, rows.py), enrolments and the
marketplace's exports.

Files name things by their natural keys (a partner's handle, a program's or category's slug), never by
database ids. Every export cell is typed and safe (core.spreadsheets).
"""
