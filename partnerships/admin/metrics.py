"""Data in: daily metrics (list, spreadsheet import and export), and the bulk ingestion jobs of every kind of
file, with their progress, counts and error reports."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

import partnerships.ingest.metrics  # noqa: F401 (registers the metrics kind of ingestion)
from core.admin import LargeTableAdminMixin
from core.importexport import SpreadsheetImportExportMixin
from partnerships.exceptions import PartnershipsError
from partnerships.ingest import guards
from partnerships.ingest.admin_mixins import ClosedPeriodAdminMixin
from partnerships.ingest.jobs import KINDS, import_job_upload, may_load
from partnerships.models import DailyMetric, ImportJob
from partnerships.resources.metrics import DailyMetricResource

RUNNING = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
REFRESH_SECONDS = 2


class DailyMetricForm(guards.ClosedPeriodFormMixin, forms.ModelForm):
    """A month closed for payouts is not edited here either (partnerships.ingest.guards)."""

    period_input = guards.DAILY_METRICS

    class Meta:
        model = DailyMetric
        fields = ["partner", "day", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]


@admin.register(DailyMetric)
class DailyMetricAdmin(ClosedPeriodAdminMixin, SpreadsheetImportExportMixin, LargeTableAdminMixin, admin.ModelAdmin):
    form = DailyMetricForm
    period_input = guards.DAILY_METRICS
    list_display = ["partner", "day", "views", "qualified_views", "likes", "comments", "shares", "followers",
                    "posts"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    # The newest rows first by primary key: an index scan, where ordering by day would sort millions of rows.
    ordering = ["-id"]
    resource_classes = [DailyMetricResource]
    skip_admin_log = True  # a file of 50,000 rows is one import, not 50,000 log entries
    import_export_change_list_template = "admin/partnerships/bulk_upload_change_list.html"

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if may_load(request.user, ImportJob.Kind.METRICS):
            extra_context["bulk_upload_url"] = reverse("admin:partnerships_importjob_upload",
                                                       args=[ImportJob.Kind.METRICS])
        return super().changelist_view(request, extra_context)


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, optionally gzip-compressed (.csv.gz), UTF-8, with a header row.")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "source_name", "status", "progress", "rows_processed", "rows_loaded",
                    "rows_rejected", "duration", "created_by", "created_at"]
    list_display_links = ["id", "source_name"]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    search_fields = ["source_name"]
    ordering = ["-id"]
    fields = readonly_fields = [
        "kind", "source_name", "status", "progress", "message", "rows_processed", "rows_loaded", "rows_unchanged",
        "rows_rejected", "error_report", "duration", "started_at", "finished_at", "created_by", "created_at",
    ]
    change_form_template = "admin/partnerships/importjob/change_form.html"
    change_list_template = "admin/partnerships/importjob/change_list.html"

    def has_add_permission(self, request):
        return False  # jobs come from uploads and commands

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- columns ---------------------------------------------------------------------------------
    @admin.display(description="progress")
    def progress(self, job: ImportJob):
        if job.status == ImportJob.Status.SUCCEEDED:
            share = 100
        elif job.bytes_total:
            share = min(100, round(100 * job.bytes_processed / job.bytes_total))
        else:
            share = 0
        return format_html('<progress value="{}" max="100" style="width:8em"></progress> {}%', share, share)

    @admin.display(description="duration")
    def duration(self, job: ImportJob):
        if job.started_at is None:
            return "—"
        seconds = ((job.finished_at or timezone.now()) - job.started_at).total_seconds()
        return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"

    @admin.display(description="rows unchanged")
    def rows_unchanged(self, job: ImportJob):
        if job.status != ImportJob.Status.SUCCEEDED:
            return "—"
        return f"{job.rows_processed - job.rows_loaded - job.rows_rejected:,}"

    @admin.display(description="error report")
    def error_report(self, job: ImportJob):
        if not job.error_report_path:
            return "—"
        url = reverse("admin:partnerships_importjob_report", args=[job.pk])
        return format_html('<a href="{}">Download the {} refused row(s) with row, column and reason (CSV)</a>',
                           url, f"{job.rows_rejected:,}")

    # --- pages -----------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/<str:kind>/", view(self.upload_view), name="partnerships_importjob_upload"),
            path("<int:object_id>/report/", view(self.report_view), name="partnerships_importjob_report"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["uploads"] = [
            (kind.label, reverse("admin:partnerships_importjob_upload", args=[kind.kind]))
            for kind in KINDS.values() if may_load(request.user, kind.kind)
        ]
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = extra_context or {}
        extra_context["refresh_seconds"] = REFRESH_SECONDS if job is not None and job.status in RUNNING else None
        return super().change_view(request, object_id, form_url, extra_context)

    def upload_view(self, request, kind: str):
        registered = KINDS.get(kind)
        if registered is None:
            raise Http404(f"No bulk ingestion for “{kind}”.")
        if not may_load(request.user, kind):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = import_job_upload(kind=kind, uploaded_file=form.cleaned_data["file"], actor=request.user)
            except PartnershipsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{job}: queued. This page follows its progress.")
                return HttpResponseRedirect(reverse("admin:partnerships_importjob_change", args=[job.pk]))
        return TemplateResponse(request, "admin/partnerships/importjob/upload.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": f"Upload a {registered.label} file", "columns": registered.columns,
        })

    def report_view(self, request, object_id: int):
        job = get_object_or_404(ImportJob, pk=object_id)
        # The report repeats the file's values: only those who may view jobs and load that kind of file.
        if not self.has_view_permission(request, job) or not may_load(request.user, job.kind):
            raise PermissionDenied
        if not job.error_report_path or not default_storage.exists(job.error_report_path):
            raise Http404("This job has no error report.")
        return FileResponse(default_storage.open(job.error_report_path, "rb"), as_attachment=True,
                            filename=f"import-job-{job.pk}-errors.csv", content_type="text/csv; charset=utf-8")
