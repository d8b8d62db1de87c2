"""The payouts admin as a finance approver uses it: every page renders in a bounded number of queries, a run
is computed, reviewed, approved, paid or cancelled from its page, exports are exact and spreadsheet-safe,
and people without the permission change nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import periods
from core.money import MONEY_TOO_MANY_DECIMALS
from core.permissions import NO_PERMISSION
from payouts.exceptions import ADJUSTMENT_ZERO, FOUR_EYES, MONTH_NOT_ENDED
from payouts.models import (
    Adjustment,
    AdRevenue,
    EarningLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PayoutRun,
    ProgramTerms,
)
from payouts.months import program_today
from payouts.services.adjustments import adjustment_create
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from payouts.transitions import APPROVE_PERMISSION
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program, revenue, video
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db
R = PayoutRun.Status
# Session, user, permissions, the page's own reads. The heaviest page (a ledger transaction with its
# entries inline, for a non-superuser) needs 13 today; a page whose count grows with rows fails this fast.
MAX_PAGE_QUERIES = 15


# --- fixtures and helpers -------------------------------------------------------------------------

def submit(csrf_client, url: str, data: dict | None = None):
    """Open the page and post its form (the act forms have no field but the token, so never an empty body)."""
    page = csrf_client.get(url)
    assert page.status_code == 200
    return csrf_client.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), **(data or {})})


def act_url(run: PayoutRun, action: str) -> str:
    return reverse("admin:payouts_payoutrun_act", args=[run.pk, action])


def run_url(run: PayoutRun) -> str:
    return reverse("admin:payouts_payoutrun_change", args=[run.pk])


def statement_url(partner, month: str = "2026-08") -> str:
    return reverse("admin:payouts_statement", args=[partner.pk, month])


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def run_state(run: PayoutRun) -> tuple:
    run.refresh_from_db()
    return (run.status, run.started_by_id, run.approved_by_id, run.approved_at, run.paid_by_id, run.paid_at,
            run.payment_reference, run.cancelled_reason, run.computed_at, run.total_gross_minor)


def lines_state(run: PayoutRun) -> list[tuple]:
    return list(EarningLine.objects.filter(run=run).order_by("partner__handle")
                .values_list("partner__handle", "gross_minor", "net_minor", "status"))


def ledger_state() -> tuple[list[str], int]:
    return list(LedgerTransaction.objects.order_by("id").values_list("key", flat=True)), LedgerEntry.objects.count()


def ledger_is_balanced() -> bool:
    per_transaction = LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor"))
    return all(row["total"] == 0 for row in per_transaction) and (
        LedgerEntry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0) == 0


def payable_balances(run: PayoutRun, kind: str = LedgerAccount.Kind.PARTNER_PAYABLE) -> dict[str, int]:
    rows = (LedgerEntry.objects.filter(account__kind=kind, account__program=run.program)
            .values_list("account__partner__handle").annotate(total=Sum("amount_minor")))
    return dict(rows)


def partner_of(run: PayoutRun, handle: str):
    return EarningLine.objects.select_related("partner").get(run=run, partner__handle=handle).partner


# --- 1. smoke: every page renders, in a bounded number of queries ---------------------------------

@pytest.fixture
def one_of_each(approved_run, approver):
    """An approved run (so the ledger has transactions and accounts), an adjustment, revenue and a video."""
    ana = partner_of(approved_run, "ana")
    adjustment_create(partner_id=ana.pk, program_id=approved_run.program_id, amount_minor=5_00,
                               reason="Missed bonus", actor=approver)
    revenue(ana, 12_34)
    clip = video(ana, views=1_500)
    program = approved_run.program
    line = EarningLine.objects.get(run=approved_run, partner=ana)
    transaction = LedgerTransaction.objects.get(key=f"run:{approved_run.pk}:approve")
    account = LedgerAccount.objects.get(kind=LedgerAccount.Kind.PARTNER_PAYABLE, partner=ana)
    return {
        "fund changelist": reverse("admin:payouts_fund_changelist"),
        "fund": reverse("admin:payouts_fund_change", args=[program.fund.pk]),
        "terms changelist": reverse("admin:payouts_programterms_changelist"),
        "terms": reverse("admin:payouts_programterms_change", args=[ProgramTerms.objects.get(program=program).pk]),
        "run changelist": reverse("admin:payouts_payoutrun_changelist"),
        "run": run_url(approved_run),
        "line changelist": reverse("admin:payouts_earningline_changelist"),
        "line": reverse("admin:payouts_earningline_change", args=[line.pk]),
        "adjustment changelist": reverse("admin:payouts_adjustment_changelist"),
        "adjustment add": reverse("admin:payouts_adjustment_add"),
        "transaction changelist": reverse("admin:payouts_ledgertransaction_changelist"),
        "transaction": reverse("admin:payouts_ledgertransaction_change", args=[transaction.pk]),
        "account changelist": reverse("admin:payouts_ledgeraccount_changelist"),
        "account": reverse("admin:payouts_ledgeraccount_change", args=[account.pk]),
        "revenue changelist": reverse("admin:payouts_adrevenue_changelist"),
        "revenue": reverse("admin:payouts_adrevenue_change", args=[AdRevenue.objects.get().pk]),
        "video changelist": reverse("admin:payouts_video_changelist"),
        "video": reverse("admin:payouts_video_change", args=[clip.pk]),
        "compute form": reverse("admin:payouts_payoutrun_compute"),
        "approve page": act_url(approved_run, "approve"),
        "pay page": act_url(approved_run, "pay"),
        "cancel page": act_url(approved_run, "cancel"),
        "recompute page": act_url(approved_run, "recompute"),
        "statement": statement_url(ana),
        "statement csv": statement_url(ana) + "?format=csv",
        "payment file": reverse("admin:payouts_payoutrun_payment_file", args=[approved_run.pk]),
        "statements csv": reverse("admin:payouts_payoutrun_statements", args=[approved_run.pk]),
    }


PAGES = [
    "fund changelist", "fund", "terms changelist", "terms", "run changelist", "run", "line changelist", "line",
    "adjustment changelist", "adjustment add", "transaction changelist", "transaction", "account changelist",
    "account", "revenue changelist", "revenue", "video changelist", "video", "compute form", "approve page",
    "pay page", "cancel page", "recompute page", "statement", "statement csv", "payment file", "statements csv",
]
CSV_PAGES = {"statement csv", "payment file", "statements csv"}


@pytest.fixture(params=["superuser", "approver"])
def finance_user(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_bounded_queries(csrf_client, finance_user, one_of_each, page, django_assert_max_num_queries):
    csrf_client.force_login(finance_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = csrf_client.get(one_of_each[page])
        body = b"".join(response.streaming_content) if response.streaming else response.content  # CSV reads lazily

    assert response.status_code == 200
    assert response["Content-Type"] == ("text/csv; charset=utf-8" if page in CSV_PAGES else "text/html; charset=utf-8")
    assert body


def test_every_page_of_the_smoke_test_is_built(one_of_each):
    assert sorted(one_of_each) == sorted(PAGES)


def build_runs(count: int, *, suffix: str) -> None:
    """``count`` approved runs of their own programs, each started and approved by its own user (so a
    missing select_related on a user or the program shows), with two lines each."""
    for index in range(count):
        program = paying_program()
        member(program, handle=f"a.{suffix}.{index}", views=3)
        member(program, handle=f"b.{suffix}.{index}", views=1)
        starter = UserFactory(username=f"starter.{suffix}.{index}", groups=["Finance approvers"])
        checker = UserFactory(username=f"checker.{suffix}.{index}", groups=["Finance approvers"])
        run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
        payout_run_approve(run_id=run.pk, actor=checker)


def count_queries(csrf_client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = csrf_client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("model_name", ["payoutrun", "earningline"])
def test_changelist_queries_do_not_grow_with_the_number_of_rows(csrf_client, approver, model_name):
    url = reverse(f"admin:payouts_{model_name}_changelist")
    csrf_client.force_login(approver)
    build_runs(2, suffix="few")
    csrf_client.get(url)  # warm the per-process caches (content types, templates)
    few = count_queries(csrf_client, url)

    build_runs(12, suffix="many")
    many = count_queries(csrf_client, url)

    assert (PayoutRun.objects.count(), EarningLine.objects.count()) == (14, 28)
    assert many == few


# --- 2. reviewing a run -----------------------------------------------------------------------------

def test_a_finance_user_approves_a_run_the_scheduler_computed(csrf_client, approver, computed_run):
    assert computed_run.started_by is None
    verified_client(csrf_client, approver)  # money actions need a verified second factor

    response = submit(csrf_client, act_url(computed_run, "approve"))

    assert response.status_code == 302
    assert response["Location"] == run_url(computed_run)
    assert messages_of(response) == [("success", f"{computed_run}: approve done.")]
    computed_run.refresh_from_db()
    assert (computed_run.status, computed_run.approved_by) == (R.APPROVED, approver)
    # What the partners earned is posted and moved into payment (the payment file), none left payable.
    assert payable_balances(computed_run) == {"ana": 0, "ben": 0}
    assert payable_balances(computed_run, LedgerAccount.Kind.PARTNER_IN_PAYMENT) == {"ana": 7_500_00, "ben": 2_500_00}
    assert ledger_is_balanced()


@pytest.mark.parametrize("action", ["approve", "pay", "cancel", "recompute"])
def test_opening_an_action_page_changes_nothing(csrf_client, approver, computed_run, action):
    csrf_client.force_login(approver)
    before = run_state(computed_run), lines_state(computed_run), ledger_state()

    response = csrf_client.get(act_url(computed_run, action))

    assert response.status_code == 200
    assert response.context["run"] == computed_run
    assert (run_state(computed_run), lines_state(computed_run), ledger_state()) == before
    assert ledger_state() == ([], 0)


def test_whoever_started_a_run_cannot_approve_it_and_nothing_changes(csrf_client, approver, eager,
                                                                     django_capture_on_commit_callbacks):
    program = paying_program()
    member(program, handle="ana", views=3)
    verified_client(csrf_client, approver)  # money actions need a verified second factor
    with django_capture_on_commit_callbacks(execute=True):
        submit(csrf_client, reverse("admin:payouts_payoutrun_compute"), {"program": program.pk, "month": "2026-08"})
    run = PayoutRun.objects.get(program=program)
    assert (run.status, run.started_by) == (R.COMPUTED, approver)
    before = run_state(run), lines_state(run)

    response = submit(csrf_client, act_url(run, "approve"))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [FOUR_EYES.format(user=approver, role="started the run")]
    assert (run_state(run), lines_state(run)) == before
    assert ledger_state() == ([], 0)


def test_another_approver_may_approve_a_run_someone_started(csrf_client, approver, second_approver, eager,
                                                            django_capture_on_commit_callbacks):
    program = paying_program()
    member(program, handle="ana", views=3)
    csrf_client.force_login(approver)
    with django_capture_on_commit_callbacks(execute=True):
        submit(csrf_client, reverse("admin:payouts_payoutrun_compute"), {"program": program.pk, "month": "2026-08"})
    run = PayoutRun.objects.get(program=program)
    verified_client(csrf_client, second_approver)  # money actions need a verified second factor

    response = submit(csrf_client, act_url(run, "approve"))

    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.status, run.started_by, run.approved_by) == (R.APPROVED, approver, second_approver)


def test_mark_paid_without_a_reference_is_a_form_error_and_changes_nothing(csrf_client, approver, approved_run):
    verified_client(csrf_client, approver)  # money actions need a verified second factor
    before = run_state(approved_run), lines_state(approved_run), ledger_state()

    response = submit(csrf_client, act_url(approved_run, "pay"), {"reference": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reference": ["This field is required."]}
    assert (run_state(approved_run), lines_state(approved_run), ledger_state()) == before
    assert approved_run.status == R.APPROVED


def test_mark_paid_with_a_reference_pays_the_run(csrf_client, approver, approved_run):
    verified_client(csrf_client, approver)  # money actions need a verified second factor

    response = submit(csrf_client, act_url(approved_run, "pay"), {"reference": "BATCH-2026-08"})

    assert response.status_code == 302
    approved_run.refresh_from_db()
    assert (approved_run.status, approved_run.paid_by, approved_run.payment_reference) == (
        R.PAID, approver, "BATCH-2026-08")
    assert lines_state(approved_run) == [("ana", 7_500_00, 7_500_00, "paid"), ("ben", 2_500_00, 2_500_00, "paid")]
    assert payable_balances(approved_run) == {"ana": 0, "ben": 0}
    assert ledger_is_balanced()


def test_cancel_without_a_reason_is_a_form_error_and_changes_nothing(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)
    before = run_state(computed_run), lines_state(computed_run)

    response = submit(csrf_client, act_url(computed_run, "cancel"), {"reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert (run_state(computed_run), lines_state(computed_run)) == before
    assert computed_run.status == R.COMPUTED


def test_cancel_with_a_reason_cancels_the_run(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)

    response = submit(csrf_client, act_url(computed_run, "cancel"), {"reason": "Metrics were re-delivered"})

    assert response.status_code == 302
    computed_run.refresh_from_db()
    assert computed_run.status == R.CANCELLED
    assert computed_run.cancelled_reason.startswith("Metrics were re-delivered (by approver at ")
    assert ledger_state() == ([], 0)


def test_an_unknown_action_changes_nothing(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)
    before = run_state(computed_run)

    response = csrf_client.get(act_url(computed_run, "delete"))

    assert response.status_code == 302
    assert response["Location"] == run_url(computed_run)
    assert messages_of(response) == [("error", "Unknown action “delete”.")]
    assert run_state(computed_run) == before


# --- 3. the compute form ----------------------------------------------------------------------------

def test_compute_form_computes_the_month_and_shows_the_run(csrf_client, approver, eager,
                                                          django_capture_on_commit_callbacks):
    program = paying_program()
    member(program, handle="ana", views=3)
    member(program, handle="ben", views=1)
    csrf_client.force_login(approver)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = submit(csrf_client, reverse("admin:payouts_payoutrun_compute"),
                               {"program": program.pk, "month": "2026-08"})

    run = PayoutRun.objects.get()
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    assert (run.program, run.month, run.kind, run.status, run.started_by) == (
        program, MONTH, PayoutRun.Kind.FINAL, R.COMPUTED, approver)
    assert lines_state(run) == [("ana", 7_500_00, 7_500_00, "payable"), ("ben", 2_500_00, 2_500_00, "payable")]


def test_compute_form_refuses_a_month_not_ended_and_creates_no_run(csrf_client, approver, eager,
                                                                  django_capture_on_commit_callbacks):
    program = paying_program()
    member(program, handle="ana", views=3)
    today = program_today(program)
    this_month = today.replace(day=1)
    csrf_client.force_login(approver)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = submit(csrf_client, reverse("admin:payouts_payoutrun_compute"),
                               {"program": program.pk, "month": f"{this_month:%Y-%m}"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [MONTH_NOT_ENDED.format(
        month=this_month, tz="UTC", today=today, next=periods.next_month(this_month))]
    assert "has not ended yet in UTC" in response.content.decode()
    assert callbacks == []
    assert PayoutRun.objects.count() == 0


# --- 4. what the run page and the exports show ------------------------------------------------------

def test_run_page_says_that_pooled_lines_sum_to_the_budget_and_that_the_run_reconciles(csrf_client, approver,
                                                                                      computed_run):
    csrf_client.force_login(approver)

    response = csrf_client.get(run_url(computed_run))

    assert response.status_code == 200
    # The budget line describes; the ✔ belongs to the reconciliation's checks (tests/payouts/test_run_review_admin).
    assert "lines sum to the budget: 10,000.00 USD" in response.content.decode()
    assert "✔ All 5 checks hold." in response.content.decode()
    assert response.context["run_actions"] == ["approve", "cancel"]
    assert response.context["can_export"] is True


def test_payment_file_has_one_row_per_payable_line_with_a_unique_reference(csrf_client, approver, approved_run):
    ana_line = EarningLine.objects.get(run=approved_run, partner__handle="ana")
    ben_line = EarningLine.objects.get(run=approved_run, partner__handle="ben")
    csrf_client.force_login(approver)

    response = csrf_client.get(reverse("admin:payouts_payoutrun_payment_file", args=[approved_run.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="payments-{approved_run.program.slug}-2026-08.csv"'
    assert csv_rows(response) == [
        ["partner", "display_name", "amount", "currency", "reference"],
        ["ana", "Ana", "7500.00", "USD", f"CP-{approved_run.pk}-{ana_line.pk}"],
        ["ben", "Ben", "2500.00", "USD", f"CP-{approved_run.pk}-{ben_line.pk}"],
    ]


def test_statements_csv_explains_every_line(csrf_client, approver, approved_run):
    program_name = approved_run.program.name
    csrf_client.force_login(approver)

    response = csrf_client.get(reverse("admin:payouts_payoutrun_statements", args=[approved_run.pk]))

    assert csv_rows(response) == [
        ["partner", "display_name", "program", "month", "status", "basis", "basis_value", "gross", "adjustments",
         "carried_in", "withholding", "net", "currency", "hold_reason", "explanation"],
        ["ana", "Ana", program_name, "2026-08", "Payable", "Qualified views", "3", "7500.00", "0.00", "0.00", "0.00",
         "7500.00", "USD", "", "Share of the pool: 3 of 4 qualified views (75.0000%) of a 10,000.00 USD budget. "
                              "Balance: 7,500.00 USD. Payable."],
        ["ben", "Ben", program_name, "2026-08", "Payable", "Qualified views", "1", "2500.00", "0.00", "0.00", "0.00",
         "2500.00", "USD", "", "Share of the pool: 1 of 4 qualified views (25.0000%) of a 10,000.00 USD budget. "
                              "Balance: 2,500.00 USD. Payable."],
    ]


def test_statement_page_shows_how_the_amount_was_reached(csrf_client, approver, approved_run):
    ana = partner_of(approved_run, "ana")
    csrf_client.force_login(approver)

    response = csrf_client.get(statement_url(ana))

    assert response.status_code == 200
    assert [entry["steps"] for entry in response.context["entries"]] == [[
        "Share of the pool: 3 of 4 qualified views (75.0000%) of a 10,000.00 USD budget.",
        "Balance: 7,500.00 USD.",
        "Payable.",
    ]]
    assert ("<li>Share of the pool: 3 of 4 qualified views (75.0000%) of a 10,000.00 USD budget.</li>"
            in response.content.decode())


def test_statement_csv_has_the_partners_line(csrf_client, approver, approved_run):
    ana = partner_of(approved_run, "ana")
    csrf_client.force_login(approver)

    rows = csv_rows(csrf_client.get(statement_url(ana) + "?format=csv"))

    assert [row[:8] for row in rows[1:]] == [
        ["ana", "Ana", approved_run.program.name, "2026-08", "Payable", "Qualified views", "3", "7500.00"]]


def test_statement_of_a_malformed_month_redirects_with_an_error(csrf_client, approver, approved_run):
    ana = partner_of(approved_run, "ana")
    csrf_client.force_login(approver)

    response = csrf_client.get(statement_url(ana, "2026-13"))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:payouts_earningline_changelist")
    assert messages_of(response) == [("error", "“2026-13” is not a month (use YYYY-MM).")]


@pytest.mark.parametrize("export", ["payment_file", "statements"])
def test_a_display_name_that_looks_like_a_formula_is_neutralised(csrf_client, approver, second_approver, export):
    program = paying_program()
    member(program, handle="mallory", views=1, display_name="=HYPERLINK(1)")
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    payout_run_approve(run_id=run.pk, actor=second_approver)
    csrf_client.force_login(approver)

    rows = csv_rows(csrf_client.get(reverse(f"admin:payouts_payoutrun_{export}", args=[run.pk])))

    assert [row[:2] for row in rows[1:]] == [["mallory", "'=HYPERLINK(1)"]]


# --- 5. permissions ---------------------------------------------------------------------------------

def test_a_manager_sees_runs_but_is_offered_no_action(csrf_client, manager, computed_run):
    csrf_client.force_login(manager)

    listing = csrf_client.get(reverse("admin:payouts_payoutrun_changelist"))
    page = csrf_client.get(run_url(computed_run))

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [computed_run]
    assert "Compute a month" not in listing.content.decode()
    assert page.status_code == 200
    assert (page.context["run_actions"], page.context["can_export"]) == ([], False)
    assert act_url(computed_run, "approve") not in page.content.decode()
    assert "Payment file (CSV)" not in page.content.decode()


def test_a_manager_cannot_approve_and_nothing_changes(csrf_client, manager, computed_run):
    verified_client(csrf_client, manager)  # money actions need a verified second factor
    before = run_state(computed_run), lines_state(computed_run)

    response = submit(csrf_client, act_url(computed_run, "approve"))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [NO_PERMISSION.format(
        user=manager, action="approve payout runs", permission=APPROVE_PERMISSION)]
    assert (run_state(computed_run), lines_state(computed_run)) == before
    assert ledger_state() == ([], 0)


@pytest.mark.parametrize("export", ["payment_file", "statements"])
def test_exports_are_refused_without_the_pay_permission(csrf_client, manager, approved_run, export):
    csrf_client.force_login(manager)

    response = csrf_client.get(reverse(f"admin:payouts_payoutrun_{export}", args=[approved_run.pk]))

    assert response.status_code == 302
    assert response["Location"] == run_url(approved_run)
    assert not response.streaming
    assert response["Content-Type"] != "text/csv; charset=utf-8"
    assert messages_of(response) == [("error", "Exports need the permission to pay runs.")]


def test_the_payment_file_of_an_unapproved_run_is_refused(csrf_client, approver, computed_run):
    csrf_client.force_login(approver)

    response = csrf_client.get(reverse("admin:payouts_payoutrun_payment_file", args=[computed_run.pk]))

    assert response.status_code == 302
    assert not response.streaming


@pytest.mark.parametrize("query", ["", "?format=csv"])
def test_a_staff_user_without_payouts_permissions_cannot_read_a_statement(csrf_client, outsider, approved_run, query):
    ana = partner_of(approved_run, "ana")
    csrf_client.force_login(outsider)

    response = csrf_client.get(statement_url(ana) + query)

    assert response.status_code in (302, 403)
    assert not response.streaming
    assert "7,500.00" not in response.content.decode()


# --- 6. adjustments ---------------------------------------------------------------------------------

def adjustment_form(program, partner, amount: str) -> dict:
    return {"partner": partner.pk, "program": program.pk, "reason": "Invalid traffic found late", "amount": amount}


def test_adjustment_form_records_a_negative_amount_in_minor_units(csrf_client, approver):
    program = paying_program()
    partner = member(program, handle="ana")
    csrf_client.force_login(approver)

    response = submit(csrf_client, reverse("admin:payouts_adjustment_add"), adjustment_form(program, partner, "-25.00"))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:payouts_adjustment_changelist")
    assert list(Adjustment.objects.values_list("partner", "program", "amount_minor", "reason", "created_by",
                                               "applied_run")) == [
        (partner.pk, program.pk, -25_00, "Invalid traffic found late", approver.pk, None)]


def test_adjustment_with_more_decimals_than_the_currency_is_a_form_error(csrf_client, approver):
    program = paying_program()
    partner = member(program, handle="ana")
    csrf_client.force_login(approver)

    response = submit(csrf_client, reverse("admin:payouts_adjustment_add"), adjustment_form(program, partner, "1.234"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"amount": [MONEY_TOO_MANY_DECIMALS.format(
        text="1.234", places=3, currency="USD", allowed=2, suggestion="1.23")]}
    assert Adjustment.objects.count() == 0


def test_adjustment_of_zero_is_a_form_error(csrf_client, approver):
    program = paying_program()
    partner = member(program, handle="ana")
    csrf_client.force_login(approver)

    response = submit(csrf_client, reverse("admin:payouts_adjustment_add"), adjustment_form(program, partner, "0.00"))

    assert response.status_code == 200
    assert ADJUSTMENT_ZERO in response.content.decode()
    assert Adjustment.objects.count() == 0


@pytest.mark.parametrize("amount", ["Infinity", "1e30"])
def test_an_amount_out_of_range_is_a_form_error(csrf_client, approver, amount):
    program = paying_program()
    partner = member(program, handle="ana")
    csrf_client.force_login(approver)

    response = submit(csrf_client, reverse("admin:payouts_adjustment_add"), adjustment_form(program, partner, amount))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["amount"]
    assert Adjustment.objects.count() == 0
