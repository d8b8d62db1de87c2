"""Enrolments to spreadsheets, export only: applications change through decisions."""

from __future__ import annotations

from import_export.fields import Field

from core.spreadsheets import SpreadsheetResource
from partnerships.models import Enrolment


class EnrolmentResource(SpreadsheetResource):
    partner = Field(attribute="partner__handle", column_name="partner")
    program = Field(attribute="program__slug", column_name="program")
    decided_by = Field(attribute="decided_by__username", column_name="decided_by")

    class Meta:
        model = Enrolment
        fields = ("partner", "program", "status", "submitted_at", "eligibility_passed", "decided_by", "decided_at",
                  "decision_reason", "eligibility_override_reason", "approved_at")
        export_order = fields
