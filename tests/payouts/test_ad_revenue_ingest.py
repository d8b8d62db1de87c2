"""Ad revenue in: bulk ingestion and the admin's spreadsheet import refuse a currency the partner's revenue-share
program does not pay in and a month already approved for payout, parse amounts exactly into minor units, and
change nothing when loaded again. Money out: earning lines and statements exported in major units, as numbers."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from core import money
from core.money import MONEY_TOO_MANY_DECIMALS
from ingestion.exceptions import DUPLICATE_ROW, UNKNOWN_PARTNER
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.models import Program
from payouts.exceptions import CURRENCY_NOT_PROGRAM, MONTH_CLOSED, NOT_REVENUE_SHARE_MEMBER
from payouts.ingest import ad_revenue_ingest
from payouts.models import AdRevenue, EarningLine, PayoutRun
from payouts.services.runs import payout_run_compute
from payouts.tasks import ingest_ad_revenue_task
from tests.partnerships.factories import PartnerFactory, ProgramFactory
from tests.payouts.factories import MONTH, member, paying_program

HEADER = ["handle", "date", "amount", "currency"]
DAY = MONTH.replace(day=10)


pytestmark = pytest.mark.usefixtures("media_eager_and_permissions")


@pytest.fixture
def pulse(db) -> Program:
    """A USD revenue-share program with ana and ben; eve is in a EUR one; pat only in a pooled fund."""
    program = paying_program(Program.Archetype.REVENUE_SHARE)
    member(program, handle="ana")
    member(program, handle="ben")
    member(paying_program(Program.Archetype.REVENUE_SHARE, currency="EUR"), handle="eve")
    member(paying_program(), handle="pat")
    return program


def write(tmp_path: Path, rows, *, header=HEADER, name="revenue.csv", compress=False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def ingest(path: str) -> ImportJob:
    job = import_job_create(kind=ImportJob.Kind.AD_REVENUE, source_name=Path(path).name, file_path=path)
    return ad_revenue_ingest(job_id=job.pk)


def revenue() -> dict[tuple, int]:
    return {(r.partner.handle, r.day, r.currency): r.amount_minor for r in AdRevenue.objects.select_related("partner")}


def report(job: ImportJob) -> list[tuple]:
    with default_storage.open(job.error_report_path, "rb") as handle:
        rows = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        return [(int(row["row"]), row["column"], row["reason"]) for row in rows]


def approve_month(program: Program, month=MONTH) -> PayoutRun:
    return PayoutRun.objects.create(program=program, month=month, kind=PayoutRun.Kind.FINAL,
                                    status=PayoutRun.Status.APPROVED, currency=program.currency,
                                    as_of=month.replace(day=28), started_at=timezone.now())


# --- bulk ingestion --------------------------------------------------------------------------------

def test_amounts_load_exactly_in_minor_units_and_refunds_may_be_negative(pulse, tmp_path):
    job = ingest(write(tmp_path, [["ana", DAY, "34.57", "USD"], ["ben", DAY, "-1.05", "USD"],
                                  ["eve", DAY, "1,000.10", "EUR"]], compress=True))

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 3, 0)
    assert revenue() == {("ana", DAY, "USD"): 3457, ("ben", DAY, "USD"): -105, ("eve", DAY, "EUR"): 100010}


def test_every_refused_row_says_why_and_only_good_rows_load(pulse, tmp_path):
    july = approve_month(pulse, MONTH.replace(month=7))
    rows = [
        ["ana", DAY, "10.00", "USD"],                        # 1 good
        ["eve", DAY, "10.00", "USD"],                        # 2 eve's program pays in EUR
        ["pat", DAY, "10.00", "USD"],                        # 3 no revenue-share membership
        ["ana", DAY, "10.001", "USD"],                       # 4 more decimals than USD has
        ["ana", DAY, "ten", "USD"],                          # 5 not an amount
        ["ana", DAY, "1", "usd"],                            # 6 not a currency code
        ["ghost", DAY, "1", "USD"],                          # 7 unknown partner
        ["ana", DAY, "11.00", "USD"],                        # 8 duplicate of row 1
        ["ben", MONTH.replace(month=7, day=3), "5", "USD"],  # 9 July is approved already
        ["ben", DAY, "5", "USD"],                            # 10 good
    ]
    job = ingest(write(tmp_path, rows))

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 10, 2, 8)
    assert revenue() == {("ana", DAY, "USD"): 1000, ("ben", DAY, "USD"): 500}
    reasons = report(job)
    assert reasons[0] == (2, "currency", CURRENCY_NOT_PROGRAM.format(currency="USD", expected="EUR"))
    assert reasons[1] == (3, "currency", NOT_REVENUE_SHARE_MEMBER)
    assert [(row, column) for row, column, _ in reasons[2:5]] == [(4, "amount"), (5, "amount"), (6, "currency")]
    assert reasons[5] == (7, "handle", UNKNOWN_PARTNER.format(value="ghost"))
    assert reasons[6] == (8, "handle, date, currency",
                          DUPLICATE_ROW.format(first=1, key="handle and date and currency"))
    assert reasons[7] == (9, "date", MONTH_CLOSED.format(month=MONTH.replace(month=7), program=pulse.name,
                                                         run=july.pk, status="approved"))


def test_loading_the_same_file_again_changes_nothing(pulse, tmp_path):
    path = write(tmp_path, [["ana", DAY, "34.57", "USD"], ["ben", DAY, "2", "USD"]])
    ingest(path)
    before = (revenue(), list(AdRevenue.objects.order_by("pk").values_list("pk", flat=True)))

    again = ingest(path)

    assert (again.rows_loaded, again.rows_rejected) == (0, 0)
    assert (revenue(), list(AdRevenue.objects.order_by("pk").values_list("pk", flat=True))) == before


def test_ingested_revenue_is_what_the_revenue_share_run_pays(pulse, tmp_path):
    ingest(write(tmp_path, [["ana", DAY, "34.57", "USD"], ["ben", DAY + dt.timedelta(1), "10.00", "USD"]]))

    run = payout_run_compute(program_id=pulse.pk, month=MONTH)

    gross = dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "gross_minor"))
    assert gross == {"ana": 1728, "ben": 500}  # 50 % of 34.57 = 17.285, half-even once: 17.28


def test_the_command_and_the_task(pulse, tmp_path):
    out = io.StringIO()
    call_command("ingest_ad_revenue", write(tmp_path, [["ana", DAY, "1.00", "USD"]]), stdout=out)
    assert "1 loaded (new or changed)" in out.getvalue()

    assert ingest_ad_revenue_task.name == "payouts.ingest_ad_revenue"
    job = import_job_create(kind=ImportJob.Kind.AD_REVENUE, source_name="r.csv",
                            file_path=write(tmp_path, [["ben", DAY, "2.00", "USD"]], name="r.csv"))
    assert ingest_ad_revenue_task.delay(job.pk).get() == "succeeded"
    assert revenue()[("ben", DAY, "USD")] == 200


def test_finance_uploads_ad_revenue_in_the_admin_and_managers_may_not(client, pulse, finance, manager, tmp_path,
                                                                        django_capture_on_commit_callbacks):
    upload_url = reverse("admin:ingestion_importjob_upload", args=["ad_revenue"])
    content = Path(write(tmp_path, [["ana", DAY, "3.00", "USD"], ["eve", DAY, "1.00", "USD"]])).read_bytes()
    client.force_login(manager)
    assert client.post(upload_url, {"file": SimpleUploadedFile("r.csv", content)}).status_code == 403

    client.force_login(finance)
    assert "Upload ad revenue file…" in client.get(reverse("admin:ingestion_importjob_changelist")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(upload_url, {"file": SimpleUploadedFile("r.csv", content)})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert (job.kind, job.status, job.rows_loaded, job.rows_rejected, job.created_by) == (
        "ad_revenue", "succeeded", 1, 1, finance)
    assert client.get(reverse("admin:ingestion_importjob_report", args=[job.pk])).status_code == 200
    client.force_login(manager)  # may follow jobs, may not read ad revenue's report
    assert client.get(reverse("admin:ingestion_importjob_report", args=[job.pk])).status_code == 403


# --- the admin's spreadsheet import ------------------------------------------------------------------

def preview(client, content: bytes):
    return client.post(reverse("admin:payouts_adrevenue_import"), {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile("r.csv", content)})


def test_spreadsheet_import_applies_the_same_money_rules(client, pulse, finance):
    august = approve_month(pulse)
    client.force_login(finance)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, ["ana", DAY, "1.00", "USD"], ["eve", DAY, "1.00", "USD"],
                                  ["ben", MONTH.replace(month=9, day=2), "1.001", "USD"]])

    response = preview(client, buffer.getvalue().encode())

    errors = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert errors == {
        1: {"date": [MONTH_CLOSED.format(month=DAY, program=pulse.name, run=august.pk, status="approved")]},
        2: {"currency": [CURRENCY_NOT_PROGRAM.format(currency="USD", expected="EUR")]},
        3: {"amount": [MONEY_TOO_MANY_DECIMALS.format(text="1.001", places=3, currency="USD", allowed=2,
                                                      suggestion="1.00")]},
    }
    assert AdRevenue.objects.count() == 0


def test_spreadsheet_import_confirms_amounts_in_minor_units(client, pulse, finance):
    september = MONTH.replace(month=9, day=2)
    AdRevenue.objects.create(partner=PartnerFactory._meta.model.objects.get(handle="ana"), day=september,
                             currency="USD", amount_minor=100)
    client.force_login(finance)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, ["ana", september, "12.34", "USD"], ["ben", september, "0.5", "USD"]])

    response = preview(client, buffer.getvalue().encode())
    assert "1.00 → 12.34" in response.content.decode()
    form = response.context["confirm_form"]
    client.post(reverse("admin:payouts_adrevenue_process_import"), form.initial)

    assert revenue() == {("ana", september, "USD"): 1234, ("ben", september, "USD"): 50}


# --- exports ---------------------------------------------------------------------------------------

def export(client, model_name: str, fmt: str, resource: str = "0"):
    url = reverse(f"admin:payouts_{model_name}_export")
    form = client.get(url).context["form"]
    ticked = {name: "on" for name, field in form.fields.items()
              if getattr(field, "is_selectable_field", False) and field.resource_index == int(resource)}
    return client.post(url, {"format": fmt, "resource": resource, **ticked})


@pytest.fixture
def computed(pulse) -> PayoutRun:
    AdRevenue.objects.create(partner=pulse.enrolments.get(partner__handle="ana").partner, day=DAY, currency="USD",
                             amount_minor=3457)
    return payout_run_compute(program_id=pulse.pk, month=MONTH)


def test_earning_lines_export_money_as_numbers_in_major_units(client, finance, computed):
    client.force_login(finance)

    response = export(client, "earningline", "1")

    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    rows = {row[header.index("partner")].value: row for row in sheet.iter_rows(min_row=2)}
    gross = rows["ana"][header.index("gross")]
    assert (gross.value, gross.data_type) == (17.28, "n")
    assert rows["ana"][header.index("currency")].value == "USD"
    assert rows["ana"][header.index("month")].value == MONTH.strftime("%Y-%m")
    assert rows["ana"][header.index("hold_reason")].value is None  # empty, not "None"


def test_statements_export_carries_the_explanation(client, finance, computed):
    client.force_login(finance)

    response = export(client, "earningline", "0", resource="1")

    rows = {row["partner"]: row for row in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))}
    assert rows["ana"]["gross"] == "17.28"
    assert rows["ana"]["explanation"].startswith("Revenue share of 34.57 USD")


def test_ad_revenue_export_shows_amounts_in_major_units(client, finance, pulse):
    AdRevenue.objects.create(partner=PartnerFactory._meta.model.objects.get(handle="ana"), day=DAY,
                             currency="USD", amount_minor=-105)
    client.force_login(finance)

    content = export(client, "adrevenue", "0").content.decode("utf-8-sig")

    assert list(csv.DictReader(io.StringIO(content))) == [
        {"handle": "ana", "date": DAY.isoformat(), "amount": "-1.05", "currency": "USD"}]


def test_managers_may_not_export_earning_lines(client, manager, computed):
    client.force_login(manager)
    assert client.get(reverse("admin:payouts_earningline_export")).status_code == 403
    assert client.get(reverse("admin:payouts_adrevenue_import")).status_code == 403


def test_payouts_money_is_partnerships_money():
    assert money.EXPONENTS is money.EXPONENTS
    assert money.to_major(123456, "KWD") == Decimal("123.456")


def test_no_program_no_membership_message_for_a_pooled_fund_member(pulse, tmp_path):
    ProgramFactory()
    job = ingest(write(tmp_path, [["pat", DAY, "1", "USD"]]))
    assert report(job) == [(1, "currency", NOT_REVENUE_SHARE_MEMBER)]
