"""The admin's spreadsheet import and export: a preview that lists every problem by row, column and reason and
writes nothing; a confirmation that writes every row or none; separate import and export permissions; and
exports a spreadsheet opens safely (formulas neutralised, numbers as numbers, empty as empty)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import importexport
from core.files import EXPORT_TOO_LARGE, FILE_MISSING_COLUMNS, SPREADSHEET_NOT_UTF8, TOO_MANY_ROWS
from core.spreadsheets import SafeCSV, SafeXLSX, safe_cell
from ingestion.exceptions import (
    BAD_DATE,
    DUPLICATE_LINE,
    NEGATIVE_COUNT,
    QUALIFIED_ABOVE_VIEWS,
    UNKNOWN_CATEGORY,
    UNKNOWN_PARTNER,
)
from partnerships.models import Brand, Campaign, DailyMetric, Partner, PartnerStatistics
from partnerships.resources.marketplace import CampaignResource
from partnerships.resources.metrics import DailyMetricResource
from partnerships.resources.partners import PartnerResource
from tests.partnerships.factories import (
    CategoryFactory,
    DailyMetricFactory,
    EnrolmentFactory,
    PartnerFactory,
    UserFactory,
)

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
DAY = timezone.localdate() - dt.timedelta(days=1)
CSV_FORMAT, XLSX_FORMAT = "0", "1"
FORMULAS = ["=1+1", '==HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


pytestmark = pytest.mark.usefixtures("media_and_eager_tasks", "empty_cache")


# --- helpers --------------------------------------------------------------------------------------

def url(model: type, view: str) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")


def csv_bytes(rows, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def metric(handle, day=DAY, views=1000, qualified=800, likes=50, comments=5, shares=2, followers=20_000, posts=1):
    return [handle, str(day), views, qualified, likes, comments, shares, followers, posts]


def preview(client, model, content: bytes, *, name="file.csv", fmt=CSV_FORMAT):
    return client.post(url(model, "import"), {
        "resource": "0", "format": fmt, "import_file": SimpleUploadedFile(name, content),
    })


def confirm(client, model, response):
    form = response.context["confirm_form"]
    return client.post(url(model, "process_import"), {name: form.initial[name] for name in form.initial})


def errors_by_row(response) -> dict[int, dict[str, list[str]]]:
    result = response.context["result"]
    return {row.number: row.error_dict for row in result.invalid_rows}


def metric_rows() -> list[tuple]:
    return sorted(DailyMetric.objects.values_list("partner__handle", "day", "views", "qualified_views"))


def user_with(*codenames: str, username: str):
    user = UserFactory(username=username)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def partners(db):
    return {handle: PartnerFactory(handle=handle) for handle in ("alice", "bob")}


# --- permissions ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "view"), [(Partner, "import"), (Partner, "export"), (DailyMetric, "import"),
                                             (DailyMetric, "export")])
def test_a_staff_user_without_the_permission_gets_403(client, model, view, finance):
    client.force_login(finance)  # may view partners and metrics, may not import or export them

    assert client.get(url(model, "changelist")).status_code == 200
    assert client.get(url(model, view)).status_code == 403
    assert client.post(url(model, view), {"format": CSV_FORMAT}).status_code == 403


def test_process_import_refuses_without_the_permission(client, finance, partners):
    client.force_login(finance)
    response = client.post(url(DailyMetric, "process_import"), {"import_file_name": "x", "original_file_name": "x.csv",
                                                               "format": CSV_FORMAT, "resource": "0"})
    assert response.status_code == 403
    assert DailyMetric.objects.count() == 0


def test_buttons_follow_the_permissions(client, manager, finance):
    client.force_login(finance)
    page = client.get(url(Partner, "changelist")).content.decode()
    assert url(Partner, "import") not in page
    assert url(Partner, "export") not in page

    client.force_login(manager)
    page = client.get(url(Partner, "changelist")).content.decode()
    assert url(Partner, "import") in page
    assert url(Partner, "export") in page


def test_import_and_export_are_separate_permissions(client, db):
    importer = user_with("view_dailymetric", "import_dailymetric", username="importer")
    client.force_login(importer)

    page = client.get(url(DailyMetric, "changelist")).content.decode()
    assert url(DailyMetric, "import") in page
    assert url(DailyMetric, "export") not in page
    assert client.get(url(DailyMetric, "import")).status_code == 200
    assert client.get(url(DailyMetric, "export")).status_code == 403


def test_enrolments_are_exported_never_imported(client, manager):
    from partnerships.models import Enrolment

    client.force_login(manager)
    assert client.get(url(Enrolment, "export")).status_code == 200
    assert url(Enrolment, "export") in client.get(url(Enrolment, "changelist")).content.decode()
    with pytest.raises(Exception, match="NoReverseMatch|Reverse"):
        url(Enrolment, "import")


# --- preview: every problem, nothing written -------------------------------------------------------

def test_metrics_preview_lists_every_error_by_row_and_column_and_writes_nothing(client, manager, partners):
    DailyMetricFactory(partner=partners["bob"], day=DAY, views=1)
    content = csv_bytes([
        metric("alice"),                          # 1 fine
        metric("nobody"),                         # 2 unknown partner
        metric("alice", day="2026-02-30"),        # 3 bad date
        metric("bob", views=-3),                  # 4 negative views
        metric("alice"),                          # 5 duplicate of row 1
        metric("bob", views=5, qualified=9),      # 6 qualified views above views
    ])
    before = metric_rows()
    client.force_login(manager)

    response = preview(client, DailyMetric, content)

    assert response.status_code == 200
    assert "confirm_form" not in response.context
    assert errors_by_row(response) == {
        2: {"handle": [UNKNOWN_PARTNER.format(value="nobody")]},
        3: {"date": [BAD_DATE.format(value="2026-02-30")]},
        4: {"views": [NEGATIVE_COUNT.format(value=-3)]},
        5: {"handle, date": [DUPLICATE_LINE.format(first=2, key="handle and date")]},  # row 1 is line 2
        6: {"qualified_views": [QUALIFIED_ABOVE_VIEWS.format(qualified=9, views=5)]},
    }
    page = response.content.decode()
    assert "no partner has the handle “nobody”" in page
    assert metric_rows() == before


def test_partner_preview_reports_an_unknown_category_and_model_rules(client, manager, db):
    CategoryFactory(slug="comedy")
    content = csv_bytes([
        ["new.one", "New One", "creator", "US", "", "comedy"],
        ["bad.cat", "Bad Cat", "creator", "US", "", "comedy, knitting"],
        ["org", "An Org", "publisher", "FR", "1990-01-01", ""],
        ["lower", "Lower", "creator", "us", "", ""],
    ], header=["handle", "display_name", "kind", "country", "date_of_birth", "categories"])
    client.force_login(manager)

    response = preview(client, Partner, content)

    errors = errors_by_row(response)
    assert set(errors) == {2, 3, 4}
    assert errors[2] == {"categories": [UNKNOWN_CATEGORY.format(slugs="knitting", known="comedy")]}
    assert "Publishers and institutions are organisations" in str(errors[3])
    assert "country" in errors[4]
    assert Partner.objects.count() == 0


def test_a_valid_preview_writes_nothing_and_offers_the_confirmation(client, manager, partners):
    DailyMetricFactory(partner=partners["bob"], day=DAY, views=1, qualified_views=0)
    before = metric_rows()
    client.force_login(manager)

    response = preview(client, DailyMetric, csv_bytes([metric("alice"), metric("bob")]))

    assert "confirm_form" in response.context
    result = response.context["result"]
    assert (result.totals["new"], result.totals["update"]) == (1, 1)
    assert "1 → 1000" in response.content.decode()  # bob's views, old → new
    assert metric_rows() == before


# --- confirm: all rows or none ---------------------------------------------------------------------

def test_confirm_writes_every_row_and_refreshes_statistics(client, manager, partners,
                                                           django_capture_on_commit_callbacks):
    client.force_login(manager)
    response = preview(client, DailyMetric, csv_bytes([metric("alice", views=1000), metric("bob", views=2000)]))

    with django_capture_on_commit_callbacks(execute=True):
        done = confirm(client, DailyMetric, response)

    assert done.status_code == 302
    assert metric_rows() == [("alice", DAY, 1000, 800), ("bob", DAY, 2000, 800)]
    assert PartnerStatistics.objects.get(partner=partners["bob"]).views_30d == 2000


def test_unchanged_rows_are_skipped_and_not_rewritten(client, manager, partners):
    DailyMetricFactory(partner=partners["alice"], **dict(zip(
        ["day", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"],
        [DAY, 1000, 800, 50, 5, 2, 20_000, 1], strict=True)))
    client.force_login(manager)

    response = preview(client, DailyMetric, csv_bytes([metric("alice")]))

    assert response.context["result"].totals["skip"] == 1


def test_a_confirm_that_meets_an_error_writes_nothing(client, manager, partners):
    DailyMetricFactory(partner=partners["alice"], day=DAY - dt.timedelta(1), views=7)
    client.force_login(manager)
    response = preview(client, DailyMetric, csv_bytes([metric("alice"), metric("bob", views=3000)]))
    Partner.objects.filter(handle="bob").update(handle="bobby")  # between preview and confirm
    before = metric_rows()

    done = confirm(client, DailyMetric, response)

    assert done.status_code == 302
    assert metric_rows() == before  # not even alice's valid row
    messages = [str(m) for m in done.wsgi_request._messages]
    assert messages[0].startswith("Nothing was imported: rows with errors: 1.")
    assert "no partner has the handle “bob”" in messages[0]


def test_partner_confirm_creates_and_updates_by_handle_with_history(client, manager, db):
    existing = PartnerFactory(handle="known", display_name="Old name", country="US", tax_form_on_file=False)
    CategoryFactory(slug="comedy")
    CategoryFactory(slug="music")
    content = csv_bytes([["known", "New name", "creator", "DE", "", "music", "yes"],
                         ["fresh", "Fresh", "educator", "FR", "1990-05-01", "comedy, music", "no"]],
                        header=["handle", "display_name", "kind", "country", "date_of_birth", "categories",
                                "tax_form_on_file"])
    client.force_login(manager)

    response = preview(client, Partner, content, name="partners-nov.csv")
    assert errors_by_row(response) == {}
    confirm(client, Partner, response)

    existing.refresh_from_db()
    # Payout readiness is finance's (partner_set_payout_readiness): an import never sets it.
    assert (existing.display_name, existing.country, existing.tax_form_on_file) == ("New name", "DE", False)
    assert [c.slug for c in existing.categories.all()] == ["music"]
    fresh = Partner.objects.get(handle="fresh")
    assert (fresh.kind, fresh.date_of_birth, sorted(c.slug for c in fresh.categories.all())) == (
        "educator", dt.date(1990, 5, 1), ["comedy", "music"])
    change = existing.history.latest("history_date")
    assert (change.history_user, change.history_change_reason) == (manager, "Imported from partners-nov.csv")


def test_the_import_never_resets_the_id_sequence(client, manager, partners):
    # django-import-export resets it to max(id) after an import; two imports at once then collide (#2166).
    client.force_login(manager)
    response = preview(client, DailyMetric, csv_bytes([metric("alice")]))

    with CaptureQueriesContext(connection) as queries:
        confirm(client, DailyMetric, response)

    assert DailyMetric.objects.count() == 1
    assert not [q for q in queries.captured_queries if "setval" in q["sql"].lower()
                or "sqlite_sequence" in q["sql"].lower()]


def test_the_import_reads_no_partner_per_row(partners):
    # Each row's description (DailyMetric.__str__, "@handle on day") read the row's partner: one query per row,
    # four fifths of a 10,000-row import's time (bench/ingest.py). The queries must not grow with the rows.
    def queries(rows: int) -> int:
        dataset = SafeCSV(encoding="utf-8-sig").create_dataset(
            csv_bytes([metric(handle, day=DAY - dt.timedelta(days=back)) for back in range(rows)
                       for handle in partners]))
        with CaptureQueriesContext(connection) as captured:
            result = DailyMetricResource().import_data(dataset, dry_run=True, use_transactions=True,
                                                       retain_instance_in_row_result=True)
        assert not result.has_errors()
        assert not result.has_validation_errors()
        assert {row.object_repr for row in result.rows} >= {f"@alice on {DAY:%Y-%m-%d}", f"@bob on {DAY:%Y-%m-%d}"}
        return len(captured)

    assert queries(6) == queries(1)


# --- files refused before the preview --------------------------------------------------------------

def test_a_file_above_the_row_limit_is_sent_to_bulk_ingestion(client, manager, partners, settings):
    settings.ADMIN_IMPORT_MAX_ROWS = 2
    client.force_login(manager)

    three = [metric("alice"), metric("bob"), metric("alice", day=DAY - dt.timedelta(1))]
    response = preview(client, DailyMetric, csv_bytes(three))

    assert response.context["form"].errors["import_file"] == [TOO_MANY_ROWS.format(
        limit=2, how=DailyMetricResource.bulk_hint)]
    assert "result" not in response.context


def test_a_non_utf8_file_is_refused_with_its_line(client, manager, partners):
    client.force_login(manager)
    content = csv_bytes([metric("alice")]) + "café,x\n".encode("latin-1")

    response = preview(client, DailyMetric, content)

    assert response.context["form"].errors["import_file"] == [SPREADSHEET_NOT_UTF8.format(bytes="0xE9", line=3)]


def test_a_missing_column_is_refused_before_the_preview(client, manager, partners):
    client.force_login(manager)
    response = preview(client, DailyMetric, csv_bytes([metric("alice")[:-1]], header=HEADER[:-1]))
    assert response.context["form"].errors["import_file"] == [FILE_MISSING_COLUMNS.format(
        missing="posts", expected=", ".join(HEADER))]


def test_a_zero_byte_upload_is_refused(client, manager):
    client.force_login(manager)
    response = preview(client, DailyMetric, b"")
    assert response.context["form"].errors["import_file"] == ["The submitted file is empty."]


def test_an_xlsx_file_imports_with_number_and_date_cells(client, manager, partners):
    client.force_login(manager)
    rows = [["alice", DAY, 1000, 800, 50, 5, 2, 20000, 1], ["bob", dt.datetime.combine(DAY, dt.time()), 7.0, 0,
                                                             0, 0, 0, 10, 0]]
    response = preview(client, DailyMetric, xlsx_bytes(rows), name="m.xlsx", fmt=XLSX_FORMAT)
    assert errors_by_row(response) == {}

    confirm(client, DailyMetric, response)

    assert metric_rows() == [("alice", DAY, 1000, 800), ("bob", DAY, 7, 0)]


# --- exports -------------------------------------------------------------------------------------

def export_form(client, model, fmt, query=""):
    """The export page's form as a person submits it: every column of the first resource ticked."""
    form = client.get(url(model, "export") + query).context["form"]
    ticked = {name: "on" for name, field in form.fields.items()
              if getattr(field, "is_selectable_field", False) and field.resource_index == 0}
    return client.post(url(model, "export") + query, {"format": fmt, "resource": "0", **ticked})


def export(client, model, fmt, query="") -> bytes:
    response = export_form(client, model, fmt, query)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment"), response.content[:300]
    return response.content


def test_csv_export_neutralises_formulas_keeps_numbers_and_empty_cells(client, manager):
    for index, name in enumerate(FORMULAS):
        PartnerFactory(handle=f"p{index}", display_name=name, date_of_birth=None)
    client.force_login(manager)

    content = export(client, Partner, CSV_FORMAT).decode("utf-8-sig")

    rows = list(csv.DictReader(io.StringIO(content, newline="")))
    assert [row["display_name"] for row in rows] == ["'" + name for name in FORMULAS]
    assert {row["date_of_birth"] for row in rows} == {""}  # empty, never "None"
    assert {row["tax_form_on_file"] for row in rows} == {"True"}


def test_xlsx_export_neutralises_formulas_keeps_numbers_and_empty_cells(client, manager):
    for index, name in enumerate(FORMULAS):
        partner = PartnerFactory(handle=f"p{index}", display_name=name, date_of_birth=None)
        DailyMetricFactory(partner=partner, day=DAY, views=1000 + index, qualified_views=10)
    client.force_login(manager)

    partners_sheet = openpyxl.load_workbook(io.BytesIO(export(client, Partner, XLSX_FORMAT))).active
    metrics_sheet = openpyxl.load_workbook(io.BytesIO(export(client, DailyMetric, XLSX_FORMAT))).active

    header = [cell.value for cell in partners_sheet[1]]
    name, birth = header.index("display_name"), header.index("date_of_birth")
    rows = list(partners_sheet.iter_rows(min_row=2))
    # (Older openpyxl reads a carriage return back as a line feed, newer keeps it; what matters is the apostrophe.)
    assert sorted(row[name].value.replace("\r", "\n") for row in rows) == sorted(
        "'" + f.replace("\r", "\n") for f in FORMULAS)
    assert {row[name].data_type for row in rows} == {"s"}  # text, never a formula ("f")
    assert {row[birth].value for row in rows} == {None}  # an empty cell, not the text "None"
    header = [cell.value for cell in metrics_sheet[1]]
    views = [row[header.index("views")] for row in metrics_sheet.iter_rows(min_row=2)]
    assert sorted(cell.value for cell in views) == list(range(1000, 1000 + len(FORMULAS)))
    assert {cell.data_type for cell in views} == {"n"}
    days = {row[header.index("date")].value for row in metrics_sheet.iter_rows(min_row=2)}
    assert days == {dt.datetime.combine(DAY, dt.time())}  # a date cell


def test_export_takes_the_lists_filters(client, manager):
    PartnerFactory(handle="in.us", country="US")
    PartnerFactory(handle="in.de", country="DE")
    client.force_login(manager)

    content = export(client, Partner, CSV_FORMAT, "?country=DE").decode("utf-8-sig")

    assert [row["handle"] for row in csv.DictReader(io.StringIO(content))] == ["in.de"]


def test_an_export_above_the_limit_is_refused(client, manager, monkeypatch):
    monkeypatch.setattr(importexport, "EXPORT_MAX_ROWS", 1)
    PartnerFactory.create_batch(2)
    client.force_login(manager)

    response = export_form(client, Partner, CSV_FORMAT)

    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert [str(m) for m in response.wsgi_request._messages] == [EXPORT_TOO_LARGE.format(limit=1)]


def test_exports_name_things_by_natural_keys(client, manager):
    from partnerships.models import Enrolment

    enrolment = EnrolmentFactory(partner__handle="dana", program__slug="creator-fund")
    client.force_login(manager)

    rows = list(csv.DictReader(io.StringIO(export(client, Enrolment, CSV_FORMAT).decode("utf-8-sig"))))

    assert (rows[0]["partner"], rows[0]["program"], rows[0]["status"]) == ("dana", "creator-fund", enrolment.status)


def test_campaign_export_shows_money_in_major_units_beside_its_currency(db):
    brand = Brand.objects.create(name="Acme", slug="acme")
    campaign = Campaign.objects.create(brand=brand, name="=launch", budget_minor=1_234_567, currency="USD",
                                       starts_on=DAY, ends_on=DAY, target_countries=["US", "CA"])
    campaign.categories.add(CategoryFactory(slug="music"))
    Campaign.objects.create(brand=brand, name="Yen", budget_minor=5000, currency="JPY", starts_on=DAY, ends_on=DAY)

    book = openpyxl.load_workbook(io.BytesIO(SafeXLSX().export_data(
        CampaignResource().export(Campaign.objects.order_by("pk"), force_native_type=True))))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    first, second = (list(row) for row in sheet.iter_rows(min_row=2))

    assert first[header.index("budget")].value == 12345.67
    assert first[header.index("budget")].data_type == "n"
    assert (first[header.index("currency")].value, second[header.index("budget")].value) == ("USD", 5000)
    assert first[header.index("name")].value == "'=launch"
    assert (first[header.index("brand")].value, first[header.index("categories")].value,
            first[header.index("target_countries")].value) == ("acme", "music", "US, CA")


def test_the_formats_sanitise_whatever_resource_produced_the_cells():
    import tablib

    dataset = tablib.Dataset(["=1+1", None, 5], headers=["text", "empty", "number"])
    assert SafeCSV().export_data(dataset).splitlines() == ["text,empty,number", "'=1+1,,5"]
    assert safe_cell("==x") == "'==x"
    assert safe_cell(-3) == -3


def test_resources_are_the_admins():
    from django.contrib import admin

    assert admin.site._registry[Partner].resource_classes == [PartnerResource]
    assert admin.site._registry[DailyMetric].resource_classes == [DailyMetricResource]
