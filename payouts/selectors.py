"""Reads shared by the admin, the management commands and the exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Sum

from core.money import to_major
from partnerships.models import DailyMetric, Partner
from payouts.exceptions import NO_PAYMENT_FILE, RunRefused
from payouts.explain import explain_line
from payouts.models import (
    EarningLine,
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentItem,
    PayoutRun,
    PayoutRunMaker,
    ScreeningFlag,
    ScreeningRules,
)

STATEMENT_HEADER = ["partner", "display_name", "program", "month", "status", "basis", "basis_value", "gross",
                    "adjustments", "carried_in", "withholding", "net", "currency", "hold_reason", "explanation"]
PAYMENT_HEADER = ["partner", "display_name", "amount", "currency", "reference"]


def run_lines(run: PayoutRun) -> QuerySet[EarningLine]:
    return EarningLine.objects.filter(run=run).select_related("partner").order_by("partner__handle")


def partner_statement(partner: Partner, month: dt.date) -> list[tuple[PayoutRun, EarningLine, list[str]]]:
    """The partner's lines of every monthly run of that month, with explanations."""
    lines = (EarningLine.objects.filter(partner=partner, run__month=month, run__kind=PayoutRun.Kind.FINAL)
             .exclude(run__status=PayoutRun.Status.CANCELLED)
             .select_related("run", "run__program", "run__program__terms").order_by("run__program__name"))
    return [(line.run, line, explain_line(line, line.run)) for line in lines]


def statement_row(run: PayoutRun, line: EarningLine, steps: list[str]) -> list:
    currency = run.currency
    return [line.partner.handle, line.partner.display_name, run.program.name, run.month.strftime("%Y-%m"),
            line.get_status_display(), line.get_basis_display(), line.basis_value, to_major(line.gross_minor, currency),
            to_major(line.adjustments_minor, currency), to_major(line.carried_in_minor, currency),
            to_major(line.withholding_minor, currency), to_major(line.net_minor, currency), currency,
            line.hold_reason, " ".join(steps)]


def run_statement_rows(run: PayoutRun) -> Iterator[list]:
    """Every line of a run as statement rows, streamed in chunks (a run may have a million lines)."""
    for line in run_lines(run).iterator(chunk_size=5000):
        yield statement_row(run, line, explain_line(line, run))


def payment_rows(run: PayoutRun) -> Iterator[list]:
    """The bank file: one row per line paid in this run, with a reference unique to the line. Only an
    approved (or paid) run has one: a computed run has not passed its second pair of eyes."""
    if run.status not in (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID):
        raise RunRefused(NO_PAYMENT_FILE.format(run=run, status=run.get_status_display().lower()))
    return _payment_rows(run)


def _payment_rows(run: PayoutRun) -> Iterator[list]:
    status = EarningLine.Status.PAID if run.status == PayoutRun.Status.PAID else EarningLine.Status.PAYABLE
    for line in run_lines(run).filter(status=status).iterator(chunk_size=5000):
        yield [line.partner.handle, line.partner.display_name, to_major(line.net_minor, run.currency), run.currency,
               f"CP-{run.pk}-{line.pk}"]


# --- reviewing a run ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunLedgerSummary:
    """What a run's lines say it moves, beside what its ledger transactions moved (None: not posted)."""

    owed_before: int  # carried in: balances owed from earlier months
    posted: int  # gross + adjustments − withholding: what approving posts to the partners
    in_payment: int  # balance of the lines in the payment file (payable, or paid once paid)
    paid: int  # balance of the paid lines
    posted_in_ledger: int | None  # run:<id>:approve, on the partners' payable accounts
    in_payment_in_ledger: int | None  # run:<id>:in-payment, on the partners' in-payment accounts
    paid_in_ledger: int | None  # run:<id>:pay, on the fund's paid-out account


# Which account kind of which of the run's transactions each ledger figure reads.
LEDGER_EVENTS = {
    "approve": LedgerAccount.Kind.PARTNER_PAYABLE,
    "in-payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT,
    "pay": LedgerAccount.Kind.PAID_OUT,
}


def run_ledger_summary(run: PayoutRun) -> RunLedgerSummary:
    """Two aggregates whatever the number of lines: one over the run's lines, one over its three ledger
    transactions (skipped before approval, when there is none)."""
    lines = EarningLine.objects.filter(run_id=run.pk).aggregate(
        owed_before=Sum("carried_in_minor"),
        posted=Sum(F("gross_minor") + F("adjustments_minor") - F("withholding_minor")),
        in_payment=Sum("net_minor", filter=Q(status__in=[EarningLine.Status.PAYABLE, EarningLine.Status.PAID])),
        paid=Sum("net_minor", filter=Q(status=EarningLine.Status.PAID)),
    )
    posted: dict[tuple[str, str], int] = {}
    if run.status in (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID):
        keys = {f"run:{run.pk}:{event}": event for event in LEDGER_EVENTS}
        rows = (LedgerEntry.objects
                .filter(transaction__key__in=list(keys), account__kind__in=list(LEDGER_EVENTS.values()))
                .values_list("transaction__key", "account__kind").annotate(total=Sum("amount_minor")).order_by())
        posted = {(keys[key], kind): int(total) for key, kind, total in rows}

    def in_ledger(event: str) -> int | None:
        return posted.get((event, LEDGER_EVENTS[event]))

    paid_in_ledger = in_ledger("pay")
    if paid_in_ledger is None and run.status == PayoutRun.Status.PAID:
        # paid through payment batches: the bank statements' postings moved what its paid payments cover
        paid_in_ledger = int(PaymentItem.objects.filter(run=run, payment__status=Payment.Status.PAID).aggregate(
            total=Sum("amount_minor"))["total"] or 0)
    return RunLedgerSummary(
        owed_before=int(lines["owed_before"] or 0), posted=int(lines["posted"] or 0),
        in_payment=int(lines["in_payment"] or 0), paid=int(lines["paid"] or 0),
        posted_in_ledger=in_ledger("approve"), in_payment_in_ledger=in_ledger("in-payment"),
        paid_in_ledger=paid_in_ledger)


@dataclass(frozen=True)
class RunMaker:
    user_id: int
    username: str
    roles: tuple[str, ...]  # "started the run", "created an adjustment the run applies"…


def run_makers(run: PayoutRun) -> list[RunMaker]:
    """Who may not approve the run and why, in the order they became makers (one query; load the run with its
    started_by)."""
    makers: dict[int, tuple[str, list[str]]] = {}
    if run.started_by is not None:  # runs started before makers were recorded have no "started" row
        makers[run.started_by.pk] = (run.started_by.get_username(), [PayoutRunMaker.Role.STARTED.label])
    for maker in PayoutRunMaker.objects.filter(run_id=run.pk).select_related("user").order_by("created_at", "pk"):
        _, roles = makers.setdefault(maker.user_id, (maker.user.get_username(), []))
        if maker.get_role_display() not in roles:
            roles.append(maker.get_role_display())
    return [RunMaker(user_id=user_id, username=username, roles=tuple(roles))
            for user_id, (username, roles) in makers.items()]


def previous_paying_run(run: PayoutRun) -> PayoutRun | None:
    """The program's latest monthly run before this one's month that was approved or paid."""
    return (PayoutRun.objects.final().filter(program_id=run.program_id, month__lt=run.month,
                                             status__in=[PayoutRun.Status.APPROVED, PayoutRun.Status.PAID])
            .order_by("-month").first())


def history_records(model, **lookups) -> list:
    """The versions (django-simple-history) of ``model``'s rows matching ``lookups``, oldest first, with their
    author: what the fund and terms pages show as history."""
    return list(model.history.filter(**lookups).select_related("history_user").order_by("history_date", "history_id"))


@dataclass(frozen=True)
class FlaggedLine:
    """A line screening flagged, as the run page shows it: its flags (rule, evidence, suggested action), the
    decision on them, and the partner's daily qualified views over the spike window."""

    partner_id: int
    partner: str
    line_status: str
    net_minor: int
    flags: list
    status: str
    decided_by: str
    decision_reason: str
    daily_views: list


def run_flagged_lines(run: PayoutRun) -> list[FlaggedLine]:
    """The run's flagged lines, those awaiting review first, then by partner (a handful of rows: screening flags
    only what trips its thresholds)."""
    flags = list(ScreeningFlag.objects.filter(run=run).select_related("partner", "decided_by")
                 .order_by("partner_id", "rule"))
    if not flags:
        return []
    partner_ids = sorted({flag.partner_id for flag in flags})
    lines = {line.partner_id: line for line in EarningLine.objects.filter(run=run, partner_id__in=partner_ids)
             .only("partner_id", "status", "net_minor")}
    window = ScreeningRules.for_program(run.program).spike_window_days
    start = run.as_of - dt.timedelta(days=window - 1)
    daily: dict[int, list] = {}
    for partner_id, day, views in (DailyMetric.objects.filter(partner_id__in=partner_ids, day__gte=start,
                                                              day__lte=run.as_of)
                                   .order_by("partner_id", "day").values_list("partner_id", "day", "qualified_views")):
        daily.setdefault(partner_id, []).append((day, views))
    result = []
    for partner_id in partner_ids:
        own = [flag for flag in flags if flag.partner_id == partner_id]
        line = lines.get(partner_id)
        first = own[0]
        result.append(FlaggedLine(
            partner_id=partner_id, partner=str(first.partner), line_status=line.status if line else "",
            net_minor=line.net_minor if line else 0, flags=own, status=first.status,
            decided_by=str(first.decided_by or ""), decision_reason=first.decision_reason,
            daily_views=daily.get(partner_id, [])))
    result.sort(key=lambda item: (item.status != ScreeningFlag.Status.PENDING, item.partner_id))
    return result


@dataclass(frozen=True)
class PartnerPayoutSummary:
    year: int
    earned: dict[str, int]  # currency → gross + adjustments of the year's approved or paid monthly runs
    paid: dict[str, int]  # currency → balance of the lines those runs paid
    open_flags: int  # screening flags awaiting review
    flags: int  # every screening flag of the partner


def partner_payout_summary(partner: Partner, *, year: int) -> PartnerPayoutSummary:
    """What the partner page leads with about money: the year's months earned and paid, by currency, and how often
    screening flagged the partner. Two aggregate queries, whatever the number of runs."""
    totals = (EarningLine.objects.filter(partner=partner, run__kind=PayoutRun.Kind.FINAL, run__month__year=year,
                                         run__status__in=(PayoutRun.Status.APPROVED, PayoutRun.Status.PAID))
              .values("run__currency").order_by("run__currency")
              .annotate(earned=Sum(F("gross_minor") + F("adjustments_minor")),
                        paid=Sum("net_minor", filter=Q(status=EarningLine.Status.PAID))))
    flags = ScreeningFlag.objects.filter(partner=partner).aggregate(
        flags=Count("pk"), open_flags=Count("pk", filter=Q(status=ScreeningFlag.Status.PENDING)))
    return PartnerPayoutSummary(
        year=year, earned={row["run__currency"]: row["earned"] or 0 for row in totals},
        paid={row["run__currency"]: row["paid"] or 0 for row in totals},
        open_flags=flags["open_flags"], flags=flags["flags"])
