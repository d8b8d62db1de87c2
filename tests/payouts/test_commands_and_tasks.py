"""The month's work outside the admin: the management commands, the beat schedule the migration installs and
the Celery tasks it runs (in process here: ``eager`` forces that even when CELERY_BROKER_URL is set)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from core import periods
from partnerships.models import Program
from payouts.exceptions import MONTH_NOT_ENDED, NO_PAYMENT_FILE, RunRefused
from payouts.management.commands.compute_payouts import ACTOR_REQUIRED
from payouts.models import EarningLine, PayoutRun
from payouts.months import previous_month, program_today
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from payouts.tasks import compute_month_task, compute_previous_month_task, estimate_month_to_date_task
from tests.partnerships.factories import DailyMetricFactory, ProgramFactory, UserFactory
from tests.payouts.factories import MONTH, FundFactory, TermsFactory, TrancheFactory, member, paying_program

pytestmark = pytest.mark.django_db
R = PayoutRun.Status
MONTHLY = "Compute last month's payouts (monthly, 1st)"
DAILY = "Estimate month-to-date earnings (daily)"


@pytest.fixture
def august(db) -> Program:
    """A pooled fund of 10,000.00 USD for August 2026: ana has 3 of 4 qualified views, ben 1."""
    program = paying_program()
    member(program, handle="ana", views=3)
    member(program, handle="ben", views=1)
    return program


def fund_month(program: Program, month: dt.date, *, months: int = 1) -> Program:
    """Give ``program`` a fund, money terms and 10,000.00 USD a month from ``month`` for ``months`` months."""
    fund = FundFactory(program=program)
    last = month
    for _ in range(months - 1):
        last = periods.next_month(last)
    TrancheFactory(fund=fund, starts_on=month, ends_on=last, amount_minor=10_000_00 * months)
    TermsFactory(program=program)
    return program


def member_in(program: Program, month: dt.date, *, handle: str, views: int, day: dt.date | None = None):
    """A member approved before ``month`` began, with ``views`` qualified views on ``day`` (the 15th)."""
    approved_at = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
    return member(program, handle=handle, views=views, day=day or month.replace(day=15), approved_at=approved_at)


def lines_of(run: PayoutRun) -> dict[str, tuple[int, int]]:
    return dict((handle, (views, gross)) for handle, views, gross in EarningLine.objects.filter(run=run)
                .values_list("partner__handle", "basis_value", "gross_minor"))


def freeze(monkeypatch, moment: dt.datetime) -> None:
    """Stop the clock the services read (``timezone.now``) at ``moment``."""
    monkeypatch.setattr(timezone, "now", lambda: moment)


# --- compute_payouts --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def operator(db):
    """The finance approver who runs the commands by hand."""
    user = UserFactory(username="operator", groups=["Finance approvers"])
    ensure_group_permissions()
    return user


def test_compute_payouts_computes_the_month_and_prints_a_summary(august, operator):
    out = io.StringIO()

    call_command("compute_payouts", august.slug, "--month", "2026-08", "--actor", "operator", stdout=out)

    run = PayoutRun.objects.get()
    assert (run.program, run.month, run.kind, run.status, run.started_by) == (
        august, MONTH, PayoutRun.Kind.FINAL, R.COMPUTED, operator)
    assert lines_of(run) == {"ana": (3, 7_500_00), "ben": (1, 2_500_00)}
    assert out.getvalue() == (f"August 2026 · {august.name}: Computed, awaiting approval; 2 lines, "
                              "gross 10,000.00 USD, payable 10,000.00 USD\n")


def test_compute_payouts_needs_the_operating_user_and_writes_nothing_without_one(august):
    with pytest.raises(CommandError) as refused:
        call_command("compute_payouts", august.slug, "--month", "2026-08", stdout=io.StringIO())
    assert str(refused.value) == ACTOR_REQUIRED
    with pytest.raises(CommandError, match="^--actor 'nobody' is not an active user.$"):
        call_command("compute_payouts", august.slug, "--month", "2026-08", "--actor", "nobody")
    assert PayoutRun.objects.count() == 0


def test_whoever_runs_the_command_cannot_approve_the_run(august, operator):
    call_command("compute_payouts", august.slug, "--month", "2026-08", "--actor", "operator", stdout=io.StringIO())
    run = PayoutRun.objects.get()

    with pytest.raises(RunRefused, match="^operator started the run and so cannot approve it"):
        payout_run_approve(run_id=run.pk, actor=operator)

    run.refresh_from_db()
    assert (run.status, run.approved_by) == (R.COMPUTED, None)
    colleague = UserFactory(username="colleague", groups=["Finance approvers"])
    assert payout_run_approve(run_id=run.pk, actor=colleague).status == R.APPROVED


def test_compute_payouts_twice_leaves_one_run(august):
    call_command("compute_payouts", august.slug, "--month", "2026-08", "--actor", "operator", stdout=io.StringIO())
    first = PayoutRun.objects.get()
    lines = list(EarningLine.objects.order_by("id").values_list("id", "gross_minor"))

    call_command("compute_payouts", august.slug, "--month", "2026-08", "--actor", "operator", stdout=io.StringIO())

    assert list(PayoutRun.objects.values_list("pk", flat=True)) == [first.pk]
    assert list(EarningLine.objects.order_by("id").values_list("id", "gross_minor")) == lines


def test_compute_payouts_without_a_month_computes_the_month_that_ended_in_the_programs_time_zone():
    program = ProgramFactory(time_zone="Asia/Tokyo")
    month = previous_month(program)
    fund_month(program, month)
    member_in(program, month, handle="ana", views=5)

    call_command("compute_payouts", program.slug, "--actor", "operator", stdout=io.StringIO())

    run = PayoutRun.objects.get()
    assert (run.month, run.status) == (month, R.COMPUTED)
    assert lines_of(run) == {"ana": (5, 10_000_00)}


def test_compute_payouts_refuses_an_unknown_slug():
    with pytest.raises(CommandError, match="^No program with slug “no-such-program”.$"):
        call_command("compute_payouts", "no-such-program", "--month", "2026-08")
    assert PayoutRun.objects.count() == 0


@pytest.mark.parametrize("month", ["2026-13", "August", "2026-08-15", "2026/08"])
def test_compute_payouts_refuses_a_malformed_month(august, month):
    with pytest.raises(CommandError) as refused:
        call_command("compute_payouts", august.slug, "--month", month, "--actor", "operator")
    assert str(refused.value) == f"--month {month!r} is not a month; use YYYY-MM."
    assert PayoutRun.objects.count() == 0


def test_compute_payouts_refuses_a_month_not_ended_and_creates_nothing(august):
    today = program_today(august)
    this_month = today.replace(day=1)

    with pytest.raises(CommandError) as refused:
        call_command("compute_payouts", august.slug, "--month", f"{this_month:%Y-%m}", "--actor", "operator")

    assert str(refused.value) == MONTH_NOT_ENDED.format(month=this_month, tz="UTC", today=today,
                                                        next=periods.next_month(this_month))
    assert PayoutRun.objects.count() == 0
    assert EarningLine.objects.count() == 0


def test_compute_payouts_refuses_a_month_without_budget(august):
    with pytest.raises(CommandError) as refused:
        call_command("compute_payouts", august.slug, "--month", "2026-05", "--actor", "operator")

    assert str(refused.value) == (f"Fund “{august.name} fund” has no budget for May 2026: add a budget tranche "
                                  "covering that month.")
    assert PayoutRun.objects.count() == 0
    assert EarningLine.objects.count() == 0


# --- export_run -------------------------------------------------------------------------------------

def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


def test_export_run_writes_the_payment_file_of_an_approved_run(august, approver, tmp_path):
    run = payout_run_compute(program_id=august.pk, month=MONTH)
    payout_run_approve(run_id=run.pk, actor=approver)
    ana_line, ben_line = EarningLine.objects.filter(run=run).order_by("partner__handle")
    path = tmp_path / "payments.csv"
    err = io.StringIO()

    call_command("export_run", run.pk, "payments", str(path), stderr=err)

    assert read_csv(path) == [
        ["partner", "display_name", "amount", "currency", "reference"],
        ["ana", "Ana", "7500.00", "USD", f"CP-{run.pk}-{ana_line.pk}"],
        ["ben", "Ben", "2500.00", "USD", f"CP-{run.pk}-{ben_line.pk}"],
    ]
    assert err.getvalue() == "2 rows written.\n"


def test_export_run_writes_the_statements_of_a_computed_run(august, tmp_path):
    run = payout_run_compute(program_id=august.pk, month=MONTH)
    path = tmp_path / "statements.csv"

    call_command("export_run", run.pk, "statements", str(path), stderr=io.StringIO())

    rows = read_csv(path)
    assert [row[0] for row in rows] == ["partner", "ana", "ben"]
    assert rows[1][-1] == ("Share of the pool: 3 of 4 qualified views (75.0000%) of a 10,000.00 USD budget. "
                           "Balance: 7,500.00 USD. Payable.")


def test_export_run_refuses_the_payment_file_of_an_unapproved_run(august, tmp_path):
    run = payout_run_compute(program_id=august.pk, month=MONTH)
    path = tmp_path / "payments.csv"

    with pytest.raises(CommandError) as refused:
        call_command("export_run", run.pk, "payments", str(path))

    assert str(refused.value) == NO_PAYMENT_FILE.format(run=run, status="computed, awaiting approval")
    assert not path.exists()


def test_export_run_refuses_an_unknown_run(tmp_path):
    path = tmp_path / "statements.csv"

    with pytest.raises(CommandError, match="^No payout run with id 999999.$"):
        call_command("export_run", 999_999, "statements", str(path))

    assert not path.exists()


# --- the beat schedule and the task names -----------------------------------------------------------
# Plain `db` tests: a transactional test flushes the rows the migration wrote.

def test_the_migration_schedules_the_monthly_run_and_the_daily_estimate():
    scheduled = {
        (task.name, task.task, task.crontab.minute, task.crontab.hour, task.crontab.day_of_month,
         task.crontab.month_of_year, task.crontab.day_of_week, str(task.crontab.timezone), task.enabled)
        for task in PeriodicTask.objects.filter(name__in=[MONTHLY, DAILY]).select_related("crontab")
    }
    assert scheduled == {
        (MONTHLY, "payouts.compute_previous_month", "0", "12", "1", "*", "*", "UTC", True),
        (DAILY, "payouts.estimate_month_to_date", "45", "2", "*", "*", "*", "UTC", True),
    }


def test_the_scheduled_tasks_exist_under_those_names():
    names = set(PeriodicTask.objects.filter(name__in=[MONTHLY, DAILY]).values_list("task", flat=True))
    assert names == {"payouts.compute_previous_month", "payouts.estimate_month_to_date"}
    assert names <= set(celery_app.tasks)


def test_task_names_are_pinned():
    assert (compute_month_task.name, compute_previous_month_task.name, estimate_month_to_date_task.name) == (
        "payouts.compute_month", "payouts.compute_previous_month", "payouts.estimate_month_to_date")


def test_the_eager_fixture_runs_tasks_in_process(eager):
    assert celery_app.conf.task_always_eager is True
    assert compute_month_task.app is celery_app


# --- compute_previous_month_task ----------------------------------------------------------------------

@pytest.fixture
def two_paying_programs() -> list[Program]:
    """Two paying programs on either side of UTC, each funded for the month that ended in its time zone,
    with one member who had views then; beside them a brand-deals program and one without a fund."""
    programs = []
    for time_zone, handle in (("Europe/Berlin", "berlin.member"), ("America/Los_Angeles", "la.member")):
        program = ProgramFactory(time_zone=time_zone)
        month = previous_month(program)
        fund_month(program, month)
        member_in(program, month, handle=handle, views=7)
        programs.append(program)
    TermsFactory(program=ProgramFactory(archetype=Program.Archetype.BRAND_DEALS))
    TermsFactory(program=ProgramFactory())
    return programs


def test_compute_previous_month_task_computes_every_paying_program(eager, two_paying_programs):
    result = compute_previous_month_task.delay()

    assert result.get() == 2
    runs = PayoutRun.objects.order_by("program_id")
    assert [(run.program, run.month, run.kind, run.status, run.started_by) for run in runs] == [
        (program, previous_month(program), PayoutRun.Kind.FINAL, R.COMPUTED, None)
        for program in two_paying_programs
    ]
    assert [lines_of(run) for run in runs] == [{"berlin.member": (7, 10_000_00)}, {"la.member": (7, 10_000_00)}]


def test_compute_previous_month_task_twice_gives_one_run_per_program(eager, two_paying_programs):
    compute_previous_month_task.delay()
    runs = list(PayoutRun.objects.order_by("id").values_list("id", "program_id", "month", "status", "computed_at"))
    lines = list(EarningLine.objects.order_by("id").values_list("id", "gross_minor"))

    compute_previous_month_task.delay()

    assert list(PayoutRun.objects.order_by("id").values_list("id", "program_id", "month", "status",
                                                             "computed_at")) == runs
    assert len(runs) == 2
    assert list(EarningLine.objects.order_by("id").values_list("id", "gross_minor")) == lines


def beat_moment(year: int, month: int) -> dt.datetime:
    """When the monthly schedule the migration installed fires in that month."""
    crontab = PeriodicTask.objects.select_related("crontab").get(name=MONTHLY).crontab
    moment = dt.datetime(year, month, int(crontab.day_of_month), int(crontab.hour), int(crontab.minute),
                         tzinfo=crontab.timezone)
    return moment.astimezone(dt.UTC)


def test_at_the_beats_time_a_utc_program_gets_the_month_that_just_ended(eager, monkeypatch):
    december, january = dt.date(2026, 12, 1), dt.date(2027, 1, 1)
    program = fund_month(ProgramFactory(time_zone="UTC"), december, months=2)
    member_in(program, december, handle="ana", views=1, day=dt.date(2027, 1, 15))
    freeze(monkeypatch, beat_moment(2027, 2))

    compute_previous_month_task.delay()

    assert list(PayoutRun.objects.values_list("month", "status")) == [(january, R.COMPUTED)]


def test_at_the_beats_time_a_los_angeles_program_gets_the_month_that_just_ended(eager, monkeypatch):
    december, january = dt.date(2026, 12, 1), dt.date(2027, 1, 1)
    program = fund_month(ProgramFactory(time_zone="America/Los_Angeles"), december, months=2)
    ana = member_in(program, december, handle="ana", views=1, day=dt.date(2026, 12, 15))
    DailyMetricFactory(partner=ana, day=dt.date(2027, 1, 15), views=1, qualified_views=1)
    freeze(monkeypatch, beat_moment(2027, 2))

    compute_previous_month_task.delay()

    assert list(PayoutRun.objects.filter(month=january).values_list("status", flat=True)) == [R.COMPUTED]


# --- estimate_month_to_date_task ----------------------------------------------------------------------

@pytest.fixture
def this_month_program() -> Program:
    """A paying program funded for the current month, with ana's 1 qualified view today."""
    program = ProgramFactory()
    this_month = program_today(program).replace(day=1)
    fund_month(program, this_month)
    member_in(program, this_month, handle="ana", views=1, day=program_today(program))
    return program


def test_estimate_task_creates_an_estimate_of_the_current_month(eager, this_month_program):
    today = program_today(this_month_program)

    assert estimate_month_to_date_task.delay().get() == 1

    run = PayoutRun.objects.get()
    assert (run.program, run.month, run.kind, run.status, run.as_of, run.started_by) == (
        this_month_program, today.replace(day=1), PayoutRun.Kind.ESTIMATE, R.COMPUTED, today, None)
    assert lines_of(run) == {"ana": (1, 10_000_00)}


def test_estimate_task_again_recomputes_the_same_run_with_new_metrics(eager, this_month_program):
    today = program_today(this_month_program)
    estimate_month_to_date_task.delay()
    first = PayoutRun.objects.get()
    member_in(this_month_program, today.replace(day=1), handle="ben", views=3, day=today)

    estimate_month_to_date_task.delay()

    run = PayoutRun.objects.get()
    assert (run.pk, run.kind, run.status) == (first.pk, PayoutRun.Kind.ESTIMATE, R.COMPUTED)
    assert lines_of(run) == {"ana": (1, 2_500_00), "ben": (3, 7_500_00)}
    assert run.total_gross_minor == 10_000_00


def test_estimate_task_ignores_programs_that_do_not_pay_monthly(eager):
    TermsFactory(program=ProgramFactory(archetype=Program.Archetype.BRAND_DEALS))

    assert estimate_month_to_date_task.delay().get() == 0

    assert PayoutRun.objects.count() == 0


def test_the_daily_estimate_counts_the_days_since_it_was_first_computed(eager, monkeypatch):
    march = dt.date(2027, 3, 1)
    program = fund_month(ProgramFactory(), march)
    ana = member_in(program, march, handle="ana", views=1, day=dt.date(2027, 3, 9))
    freeze(monkeypatch, dt.datetime(2027, 3, 10, 2, 45, tzinfo=dt.UTC))
    estimate_month_to_date_task.delay()
    DailyMetricFactory(partner=ana, day=dt.date(2027, 3, 10), views=2, qualified_views=2)
    DailyMetricFactory(partner=ana, day=dt.date(2027, 3, 11), views=4, qualified_views=4)
    freeze(monkeypatch, dt.datetime(2027, 3, 12, 2, 45, tzinfo=dt.UTC))

    estimate_month_to_date_task.delay()

    run = PayoutRun.objects.get()
    assert (run.as_of, lines_of(run)) == (dt.date(2027, 3, 12), {"ana": (7, 10_000_00)})


def test_estimate_task_skips_a_program_without_budget_this_month(eager):
    program = ProgramFactory()
    fund_month(program, dt.date(2020, 1, 1))

    assert estimate_month_to_date_task.delay().get() == 0

    assert PayoutRun.objects.count() == 0
