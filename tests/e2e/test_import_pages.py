"""Imports in a real browser: a failed preview shows its problems as a table (line as the spreadsheet numbers
it, column, value, reason) and keeps the file for a retry; a job page follows its job without reloading and has
a Stop button."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from ingestion.models import ImportJob
from partnerships.models import DailyMetric
from tests.e2e.conftest import admin_login
from tests.partnerships.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timezone.localdate() - dt.timedelta(days=1)
HEADER = "handle,date,views,qualified_views,likes,comments,shares,followers,posts"


def line(handle: str, views: int = 1000) -> str:
    return f"{handle},{DAY},{views},0,50,5,2,20000,1"


def test_a_failed_preview_shows_the_problems_table_and_retries_with_the_same_file(page, screenshot):
    UserFactory(username="manager", groups=["Partnership managers"])
    PartnerFactory(handle="alice")
    content = "\n".join([HEADER, line("alice"), "", line("bob"), line("alice", views=-3),
                         line("<b>" + "x" * 150)]) + "\n"
    admin_login(page, "manager")
    page.goto(reverse("admin:partnerships_dailymetric_import"))
    page.select_option("#id_format", label="csv")
    page.set_input_files("#id_import_file", files=[
        {"name": "october.csv", "mimeType": "text/csv", "buffer": content.encode()}])
    page.click("input[type=submit]")

    table = page.locator("table.import-problems-table")
    table.wait_for()
    rows = [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in table.locator("tbody tr").all()]
    assert [row[:3] for row in rows] == [["4", "handle", "bob"], ["5", "views", "-3"],
                                         ["6", "handle", "<b>" + "x" * 76 + "…"]]
    assert "no partner has the handle “bob”" in rows[0][3]
    assert table.is_visible()
    # a long value (in the value column and inside its reason) wraps: the page does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.inner_text("[data-kept-file]") == "october.csv"
    screenshot(page, "import-preview")

    # the data the problems point to is corrected (bob joins; the file is fixed for the other rows next)
    PartnerFactory(handle="bob")
    page.click("button:text-is('Retry with the same file')")
    page.locator("table.import-problems-table").wait_for()
    assert page.locator("table.import-problems-table tbody tr").count() == 2  # bob's row is fine now
    assert DailyMetric.objects.count() == 0


def test_the_job_page_follows_the_job_without_reloading_and_can_stop_it(page, screenshot):
    UserFactory(username="manager", groups=["Partnership managers"])
    job = ImportJob.objects.create(kind="metrics", source_name="seven.csv", status=ImportJob.Status.RUNNING,
                                   started_at=timezone.now(), bytes_total=1000, bytes_processed=100,
                                   message="Reading the file…")
    other = ImportJob.objects.create(kind="metrics", source_name="big.csv", status=ImportJob.Status.RUNNING,
                                     started_at=timezone.now(), bytes_total=1000, bytes_processed=10)
    admin_login(page, "manager")
    page.goto(reverse("admin:ingestion_importjob_change", args=[job.pk]))
    assert page.inner_text("[data-field=state]") == "Running — 10%"
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    page.evaluate("window.loadedOnce = true")  # lost if the page reloads

    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.SUCCEEDED, finished_at=timezone.now(), rows_processed=7, rows_loaded=2,
        rows_rejected=5, bytes_processed=1000, error_report_path="import-reports/job-1-errors.csv",
        message="7 rows read: 2 loaded (new or changed), 0 unchanged, 5 rejected (see the error report).")

    expect(page.locator("[data-field=state]")).to_have_text("Completed — 5 rows refused")
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("[data-field=report]").is_visible()
    assert page.locator("[data-field=stop]").count() == 0  # ended: nothing to stop
    assert page.inner_text("[data-field=rows_rejected]") == "5"
    screenshot(page, "import-job-completed")

    page.goto(reverse("admin:ingestion_importjob_change", args=[other.pk]))
    page.evaluate("window.loadedOnce = true")
    page.click("[data-field=stop]")
    expect(page.locator("[data-field=state]")).to_have_text(re.compile(r"^Stopping — \d+%$"))
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("[data-field=stop]").is_disabled()
    other.refresh_from_db()
    assert other.cancel_requested_at is not None
    assert other.status == ImportJob.Status.RUNNING  # the worker (none here) ends it at its next step
