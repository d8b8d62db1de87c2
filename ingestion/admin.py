"""The bulk ingestion jobs of every kind of file, with their progress, counts and error reports, and the upload
page of each registered kind (ingestion.registry)."""

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

from ingestion.exceptions import IngestionError
from ingestion.jobs import import_job_upload
from ingestion.models import ImportJob
from ingestion.registry import KINDS, may_load

RUNNING = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
REFRESH_SECONDS = 2


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
    fields = readonly_fields = (
        "kind", "source_name", "status", "progress", "message", "rows_processed", "rows_loaded", "rows_unchanged",
        "rows_rejected", "error_report", "duration", "started_at", "finished_at", "created_by", "created_at",
    )
    change_form_template = "admin/ingestion/importjob/change_form.html"
    change_list_template = "admin/ingestion/importjob/change_list.html"

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
        url = reverse("admin:ingestion_importjob_report", args=[job.pk])
        return format_html('<a href="{}">Download the {} refused row(s) with row, column and reason (CSV)</a>',
                           url, f"{job.rows_rejected:,}")

    # --- pages -----------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/<str:kind>/", view(self.upload_view), name="ingestion_importjob_upload"),
            path("<int:object_id>/report/", view(self.report_view), name="ingestion_importjob_report"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["uploads"] = [
            (kind.label, reverse("admin:ingestion_importjob_upload", args=[kind.kind]))
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
            except IngestionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{job}: queued. This page follows its progress.")
                return HttpResponseRedirect(reverse("admin:ingestion_importjob_change", args=[job.pk]))
        return TemplateResponse(request, "admin/ingestion/importjob/upload.html", {
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
