"""The bulk ingestion jobs of every kind of file, with their progress, counts and error reports, and the upload
page of each registered kind (ingestion.registry)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ingestion.exceptions import JOB_STOP_REQUESTED, IngestionError
from ingestion.jobs import import_job_cancel, import_job_upload
from ingestion.models import ImportJob
from ingestion.registry import KINDS, may_load
from ingestion.selectors import job_percent, job_state, job_status

POLL_MILLISECONDS = 1500  # how often the job page asks for the job's status while it runs
NO_SUCH_JOB = "There is no import job {id}."


def _with_byte_order_mark(report) -> Iterator[bytes]:
    try:
        yield codecs.BOM_UTF8
        yield from report.chunks()
    finally:
        report.close()


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, optionally gzip-compressed (.csv.gz), UTF-8, with a header row.")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "source_name", "state", "progress", "rows_processed", "rows_loaded",
                    "rows_rejected", "duration", "created_by", "created_at"]
    list_display_links = ["id", "source_name"]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    search_fields = ["source_name"]
    ordering = ["-id"]
    # The state, progress, counts, message and report link are the page's status panel, which follows the job
    # as it runs (change_form.html): repeated here they would go stale beside it.
    fields = readonly_fields = (
        "kind", "source_name", "rows_unchanged", "duration", "started_at", "finished_at", "created_by", "created_at",
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
    @admin.display(description="state", ordering="status")
    def state(self, job: ImportJob):
        return job_state(job)

    @admin.display(description="progress")
    def progress(self, job: ImportJob):
        share = job_percent(job)
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

    # --- pages -----------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/<str:kind>/", view(self.upload_view), name="ingestion_importjob_upload"),
            path("<int:object_id>/report/", view(self.report_view), name="ingestion_importjob_report"),
            path("<int:object_id>/status/", view(self.status_view), name="ingestion_importjob_status"),
            path("<int:object_id>/stop/", view(self.stop_view), name="ingestion_importjob_stop"),
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
        if job is not None:
            extra_context.update({
                "job_status": job_status(job), "poll_milliseconds": POLL_MILLISECONDS,
                "status_url": reverse("admin:ingestion_importjob_status", args=[job.pk]),
                "stop_url": reverse("admin:ingestion_importjob_stop", args=[job.pk]),
                "may_stop": not job.is_final and may_load(request.user, job.kind),
            })
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
            else:  # no "queued" message: the job page says the job's state, and keeps saying it as it changes
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
        report = default_storage.open(job.error_report_path, "rb")
        # A byte order mark first: spreadsheets then open the report as UTF-8 (handles, reasons with quotes).
        response = StreamingHttpResponse(_with_byte_order_mark(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-job-{job.pk}-refused-rows.csv"'
        return response

    def _job_or_404(self, request, object_id: int) -> ImportJob | JsonResponse:
        job = ImportJob.objects.filter(pk=object_id).first()
        if job is None:
            return JsonResponse({"error": NO_SUCH_JOB.format(id=object_id)}, status=404)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def status_view(self, request, object_id: int):
        """The job's state, progress, counts and message as JSON, for the job page's script (staff who may view
        jobs; the admin site's login check comes first)."""
        job = self._job_or_404(request, object_id)
        if isinstance(job, JsonResponse):
            return job
        response = JsonResponse(job_status(job))
        response["Cache-Control"] = "no-store"
        return response

    @method_decorator(require_POST)
    def stop_view(self, request, object_id: int):
        """The Stop button: one service call (ingestion.jobs.import_job_cancel). Answers JSON to the page's
        script, or comes back to the job page for a plain form post."""
        job = self._job_or_404(request, object_id)
        if isinstance(job, JsonResponse):
            return job
        if not may_load(request.user, job.kind):
            raise PermissionDenied
        try:
            job = import_job_cancel(job_id=job.pk, actor=request.user)
        except IngestionError as exc:
            text, level = str(exc), messages.WARNING
            job.refresh_from_db()
        else:
            text, level = (job.message if job.is_final else JOB_STOP_REQUESTED), messages.SUCCESS
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({**job_status(job), "notice": text})
        messages.add_message(request, level, text)
        return HttpResponseRedirect(reverse("admin:ingestion_importjob_change", args=[job.pk]))
