"""The admin's import preview shows its problems: a table of line (as the spreadsheet numbers it, the header
being line 1, for CSV and XLSX alike), column, value (shortened, escaped) and reason, before anything else; and
after a failed preview the file is kept for a retry, in this session only."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.importpreview import KEPT_UPLOAD_GONE, SHOWN_VALUE_CHARACTERS, ImportProblem, shown_value
from ingestion.exceptions import BAD_HANDLE, DUPLICATE_LINE, NEGATIVE_COUNT, UNKNOWN_PARTNER
from partnerships.models import DailyMetric
from tests.partnerships.factories import PartnerFactory

pytestmark = pytest.mark.usefixtures("media_and_eager_tasks", "empty_cache")

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
DAY = timezone.localdate() - dt.timedelta(days=1)
CSV_FORMAT, XLSX_FORMAT = "0", "1"
IMPORT_URL = "admin:partnerships_dailymetric_import"


def metric(handle, views=1000, qualified=800):
    return [handle, str(DAY), views, qualified, 50, 5, 2, 20_000, 1]


def csv_bytes(lines: list[list | None]) -> bytes:
    """None: a blank line (which the reader skips, and which is still a line of the spreadsheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for line in lines:
        if line is None:
            buffer.write("\n")
        else:
            writer.writerow(line)
    return buffer.getvalue().encode()


def xlsx_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def preview(client, content: bytes, *, name="metrics.csv", fmt=CSV_FORMAT):
    return client.post(reverse(IMPORT_URL), {"resource": "0", "format": fmt,
                                             "import_file": SimpleUploadedFile(name, content)})


def retry(client, token: str, fmt=CSV_FORMAT):
    return client.post(reverse(IMPORT_URL), {"resource": "0", "format": fmt, "kept_file": token})


@pytest.fixture
def alice(db):
    return PartnerFactory(handle="alice")


# --- the lines people see in their spreadsheet --------------------------------------------------

def test_csv_problems_name_the_spreadsheet_line_counting_the_header_and_blank_lines(client, manager, alice):
    content = csv_bytes([
        metric("alice"),                # line 2
        None,                           # line 3: blank
        metric("nobody"),               # line 4
        metric("alice", views=-3),      # line 5
    ])
    client.force_login(manager)

    response = preview(client, content)

    assert response.context["problems"] == [
        ImportProblem(4, "handle", "nobody", UNKNOWN_PARTNER.format(value="nobody")),
        ImportProblem(5, "views", "-3", NEGATIVE_COUNT.format(value=-3)),
    ]
    assert response.context["problem_count"] == 2
    assert DailyMetric.objects.count() == 0


def test_a_duplicate_names_the_line_of_the_first(client, manager, alice):
    client.force_login(manager)

    response = preview(client, csv_bytes([metric("alice"), metric("alice", views=7, qualified=0)]))

    assert response.context["problems"] == [
        ImportProblem(3, "handle, date", f"alice, {DAY}", DUPLICATE_LINE.format(first=2, key="handle and date"))]


def test_xlsx_problems_name_the_sheet_row(client, manager, alice):
    content = xlsx_bytes([metric("alice"), metric("alice", views=-1), metric("ghost")])
    client.force_login(manager)

    response = preview(client, content, name="metrics.xlsx", fmt=XLSX_FORMAT)

    assert [(p.line, p.column, p.value) for p in response.context["problems"]] == [
        (3, "views", "-1"), (4, "handle", "ghost")]


# --- the table ---------------------------------------------------------------------------------

def test_the_problems_table_comes_first_with_line_column_value_and_reason(client, manager, alice):
    hostile = "<script>alert(1)</script>" + "x" * 200
    client.force_login(manager)

    response = preview(client, csv_bytes([metric("alice"), metric(hostile)]))

    page = response.content.decode()
    assert "Nothing can be imported yet: 1 problem</h2>" in page
    table = page[page.index('<table class="import-problems-table">'):]
    table = table[: table.index("</table>")]
    assert "<th scope=\"col\">Line</th><th scope=\"col\">Column</th><th scope=\"col\">Value</th>" in table
    shown = shown_value(hostile)
    assert len(shown) == SHOWN_VALUE_CHARACTERS
    assert shown.endswith("…")
    assert "<td>3</td>" in table
    assert "<td>handle</td>" in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;xxx" in table
    assert "<script>alert" not in page
    assert "x" * 100 not in table  # shortened
    assert "lower-case letters" in table  # the reason, in full view (not behind a badge)
    assert BAD_HANDLE.split("”")[0].split("“")[0] in table
    assert page.index("import-problems-table") < page.index('enctype="multipart/form-data"')
    assert "validation-error-count" not in page  # the stock badge is gone


# --- the file kept for a retry -------------------------------------------------------------------

def test_a_failed_preview_keeps_the_file_and_a_retry_uses_it(client, manager, alice):
    client.force_login(manager)
    failed = preview(client, csv_bytes([metric("alice"), metric("bob")]), name="october.csv")
    kept = failed.context["kept_upload"]
    page = failed.content.decode()
    assert kept.name == "october.csv"
    assert f'name="kept_file" value="{kept.token}"' in page
    assert "Retry with the same file" in page
    assert 'name="import_file" required' not in page  # the page may go without choosing the file again

    PartnerFactory(handle="bob")  # the data the problem pointed to is corrected
    retried = retry(client, kept.token)

    assert "confirm_form" in retried.context
    assert retried.context["confirm_form"].initial["original_file_name"] == "october.csv"
    confirmed = client.post(reverse("admin:partnerships_dailymetric_process_import"),
                            retried.context["confirm_form"].initial)
    assert confirmed.status_code == 302
    assert sorted(DailyMetric.objects.values_list("partner__handle", flat=True)) == ["alice", "bob"]


def test_a_new_file_wins_over_the_kept_one(client, manager, alice):
    client.force_login(manager)
    kept = preview(client, csv_bytes([metric("nobody")])).context["kept_upload"]

    response = client.post(reverse(IMPORT_URL), {"resource": "0", "format": CSV_FORMAT, "kept_file": kept.token,
                                                 "import_file": SimpleUploadedFile("new.csv", csv_bytes(
                                                     [metric("alice")]))})

    assert "confirm_form" in response.context
    assert response.context["confirm_form"].initial["original_file_name"] == "new.csv"


def test_the_kept_file_is_this_sessions_only(client, manager, alice):
    client.force_login(manager)
    kept = preview(client, csv_bytes([metric("nobody")])).context["kept_upload"]
    other = Client()
    other.force_login(manager)  # the same person in another browser: another session

    response = retry(other, kept.token)

    assert "confirm_form" not in response.context
    assert response.context["kept_upload_gone"] == KEPT_UPLOAD_GONE
    assert "import_file" in response.context["form"].errors
    assert DailyMetric.objects.count() == 0


@pytest.mark.parametrize("token", ["é" * 30, "\x00", "x" * 10_000, " "])
def test_a_hostile_token_is_a_kept_file_gone_not_an_error(client, manager, alice, token):
    client.force_login(manager)
    preview(client, csv_bytes([metric("nobody")]))

    response = retry(client, token)

    assert response.status_code in (200, 400)  # a NUL byte may be refused as a bad request
    if response.status_code == 200:
        assert "confirm_form" not in response.context
    assert DailyMetric.objects.count() == 0


def test_an_expired_kept_file_is_not_used(client, manager, alice):
    client.force_login(manager)
    kept = preview(client, csv_bytes([metric("nobody")])).context["kept_upload"]
    session = client.session
    entries = session["kept_imports"]
    entries["partnerships.DailyMetric"]["expires"] = 0
    session["kept_imports"] = entries
    session.save()

    response = retry(client, kept.token)

    assert response.context["kept_upload_gone"] == KEPT_UPLOAD_GONE
    assert "confirm_form" not in response.context


def test_a_clean_preview_keeps_nothing(client, manager, alice):
    client.force_login(manager)

    response = preview(client, csv_bytes([metric("alice")]))

    assert "confirm_form" in response.context
    assert "kept_upload" not in response.context
    assert not client.session.get("kept_imports")


def test_a_problem_of_the_whole_row_has_no_column_and_the_whole_files_come_first():
    import tablib
    from django.core.exceptions import ValidationError
    from import_export.results import Error, Result

    from core.importpreview import import_problems

    dataset = tablib.Dataset(["alice", "1"], ["bob", "2"], headers=["handle", "views"])
    dataset.spreadsheet_lines = [2, 5]  # blank lines 3 and 4 were skipped by the reader
    result = Result()
    result.append_invalid_row(2, {"handle": "bob", "views": "2"}, ValidationError({"row": ["expected 2 values"]}))
    result.append_base_error(Error(ValueError("The header lacks these columns: date.")))

    assert import_problems(result, dataset, {}) == [
        ImportProblem(None, "", "", "The header lacks these columns: date."),
        ImportProblem(5, "", "", "expected 2 values"),
    ]
