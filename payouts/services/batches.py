"""Payment batches: create (finance picks a currency and rail), release (a second person, who confirms the count
and control total), cancel a draft. Statements (payouts.services.statements) then settle the payments.

How the money moves in the ledger (per partner, program and currency):

- approving a run moved each payable line's balance *payable* → *in payment* (payouts.services.settlement);
- creating a batch posts nothing: it only records which lines each payment covers (``PaymentItem``, a line in at
  most one payment, a database constraint), so a draft can be cancelled and no cent is claimed twice;
- releasing a batch moves what its payments cover from *in payment* → *sent* (``partner_sent``, a new account kind:
  money in a bank file, not yet confirmed), in one balanced transaction keyed ``batch:<id>:release``;
- a paid statement entry moves the payment's amount *sent* → the program's *paid out*; a return moves it *sent*
  (or, when the bank had already booked it paid, *paid out*) back to *payable*, where the next run carries it in.

So each cent is at any time on exactly one of payable, in payment, sent or paid out; it is in at most one live
payment (the line it came from is covered once, and a returned cent comes back only through a new run's line).
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.money import UnknownCurrency, exponent, format_money
from core.permissions import require_reason
from core.sql import analyze, beside, datetime_param, execute, fetchall, work_mem_for_transaction
from payouts import banking, ledger
from payouts.exceptions import (
    BATCH_CONFIRMATION_DIFFERS,
    BATCH_FOUR_EYES,
    BATCH_NOTHING_TO_PAY,
    BATCH_PAYEES_CHANGED,
    BATCH_PREVIEW_CHANGED,
    BATCH_RAIL_CURRENCY,
    BATCH_UNKNOWN_CURRENCY,
    BATCH_UNKNOWN_RAIL,
    BATCH_WRONG_STATUS,
    BatchRefused,
)
from payouts.formulas.tables import (
    ACCOUNT_TABLE,
    LINE_TABLE,
    PARTNER_TABLE,
    PAYABLE,
    PAYMENT_ITEM_TABLE,
    PAYMENT_TABLE,
    RUN_TABLE,
    quoted,
)
from payouts.models import (
    RAIL_CURRENCY,
    LedgerAccount,
    Payee,
    Payment,
    PaymentBatch,
    PaymentBatchExclusion,
    PaymentBatchFile,
    PaymentItem,
    PayoutRun,
)
from payouts.services.batch_instructions import batch_instructions
from payouts.services.guards import require_permission

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CREATE_PERMISSION = "payouts.add_paymentbatch"
RELEASE_PERMISSION = "payouts.release_paymentbatch"
B = PaymentBatch.Status

ITEM_TABLE = PAYMENT_ITEM_TABLE
PAYEE_TABLE = Payee._meta.db_table
EXCLUSION_TABLE = PaymentBatchExclusion._meta.db_table
# A batch's statements sort and hash a row or two per payment: a million of them fit in memory at this size.
BATCH_WORK_MEM_MB = 64
APPROVED_FINAL = f"r.kind = {quoted(PayoutRun.Kind.FINAL)} AND r.status = {quoted(PayoutRun.Status.APPROVED)}"


def payee_refusal_sql(now_param: str = "%(now)s") -> str:
    """SQL over the payee ``p`` (LEFT JOINed) for the batch's %(rail)s and %(currency)s: why the partner cannot be
    paid now ('' when they can). Blocked and held are payouts.payees' definitions (PAYEE_PAYABLE_SQL: a confirmed
    change has no hold_until), spelt out here to name the reason."""
    return f"""CASE WHEN p.id IS NULL THEN 'no bank details (payee) on file'
        WHEN p.blocked_reason <> '' THEN 'payee blocked: ' || p.blocked_reason
        WHEN p.hold_until > {now_param}
             THEN 'bank details changed: held until the change is confirmed by a second person or the hold ends'
        WHEN p.rail <> %(rail)s THEN 'payee is paid by another rail (' || p.rail || ')'
        WHEN p.currency <> %(currency)s THEN 'payee is paid in ' || p.currency
        ELSE '' END"""


# Each partner's payable lines of approved monthly runs in the currency that no payment covers yet, with the reason
# the partner cannot be paid now ('' when they can).
CANDIDATES = f"""SELECT l.partner_id, SUM(l.net_minor) AS amount, MAX({payee_refusal_sql()}) AS reason,
        MAX(COALESCE(p.last4, '')) AS last4, MAX(p.changed_at) AS changed_at
    FROM {LINE_TABLE} l JOIN {RUN_TABLE} r ON r.id = l.run_id
    LEFT JOIN {PAYEE_TABLE} p ON p.partner_id = l.partner_id
    WHERE {APPROVED_FINAL} AND r.currency = %(currency)s AND l.status = {PAYABLE}
      AND NOT EXISTS (SELECT 1 FROM {ITEM_TABLE} i WHERE i.line_id = l.id)
    GROUP BY l.partner_id"""


@dataclass(frozen=True)
class LeftOut:
    partner_id: int
    partner: str
    amount_minor: int
    reason: str


@dataclass(frozen=True)
class BatchPreview:
    currency: str
    rail: str
    payments: int
    total_minor: int
    left_out: list[LeftOut]

    @property
    def key(self) -> str:
        """What the person saw, carried by the create form: "EUR:sepa:1200:5000000"."""
        return f"{self.currency}:{self.rail}:{self.payments}:{self.total_minor}"


def check_currency_and_rail(currency: str, rail: str) -> tuple[str, str]:
    currency, rail = (currency or "").strip().upper(), (rail or "").strip().lower()
    try:
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise UnknownCurrency(currency)
        exponent(currency)
    except UnknownCurrency:
        raise BatchRefused(BATCH_UNKNOWN_CURRENCY.format(currency=currency)) from None
    if rail not in Payee.Rail.values:
        raise BatchRefused(BATCH_UNKNOWN_RAIL.format(rail=rail, rails=", ".join(Payee.Rail.values)))
    expected = RAIL_CURRENCY.get(rail)  # type: ignore[call-overload]
    if expected and expected != currency:
        raise BatchRefused(BATCH_RAIL_CURRENCY.format(rail=rail, expected=expected, currency=currency))
    return currency, rail


def batch_preview(*, currency: str, rail: str, limit: int = 200) -> BatchPreview:
    """What creating a batch now would pay, and whom it would leave out and why (at most ``limit`` of them)."""
    currency, rail = check_currency_and_rail(currency, rail)
    params = {"currency": currency, "rail": rail, "now": datetime_param(timezone.now())}
    payments, total = (int(v or 0) for v in fetchall(
        f"SELECT COUNT(*), SUM(c.amount) FROM ({CANDIDATES}) c WHERE c.reason = ''", params)[0])
    rows = fetchall(f"""SELECT c.partner_id, pa.handle, c.amount, c.reason FROM ({CANDIDATES}) c
        JOIN {PARTNER_TABLE} pa ON pa.id = c.partner_id WHERE c.reason <> ''
        ORDER BY c.partner_id LIMIT {int(limit)}""", params)
    left_out = [LeftOut(int(p), str(h), int(a), str(r)) for p, h, a, r in rows]
    return BatchPreview(currency, rail, payments, total, left_out)


@transaction.atomic
def batch_create(*, currency: str, rail: str, actor: User, expected: tuple[int, int] | None = None) -> PaymentBatch:
    """A draft batch paying, in ``currency`` by ``rail``, one payment per partner: the sum of the partner's payable
    lines of approved monthly runs that no payment covers yet, across runs and programs. Partners without a payee,
    with a payee of another rail or currency, held by a change of bank details or blocked by a return are left out
    and recorded with the reason (``batch.exclusions``). In a handful of set-based statements under the row locks of
    the currency's approved runs, so two creations (or a creation and a "mark paid") never cover a line twice; a
    second creation finds nothing left and is refused. ``expected`` (count, total) is what the person saw in the
    preview: a batch that would pay anything else is refused and nothing is created."""
    require_permission(actor, CREATE_PERMISSION, "create payment batches")
    currency, rail = check_currency_and_rail(currency, rail)
    list(PayoutRun.objects.select_for_update().filter(kind=PayoutRun.Kind.FINAL, status=PayoutRun.Status.APPROVED,
                                                      currency=currency).order_by("pk").values_list("pk", flat=True))
    work_mem_for_transaction(BATCH_WORK_MEM_MB)
    batch = PaymentBatch.objects.create(currency=currency, rail=rail, created_by=actor)
    params = {"currency": currency, "rail": rail, "now": datetime_param(timezone.now()), "batch": batch.pk,
              "prefix": f"CP{batch.pk}-", "pending": Payment.Status.PENDING}
    payments = f"""INSERT INTO {PAYMENT_TABLE} (batch_id, partner_id, currency, amount_minor, end_to_end_id, status,
                                                reason_code, reason, payee_last4, payee_changed_at)
        SELECT %(batch)s, c.partner_id, %(currency)s, c.amount, %(prefix)s || CAST(c.partner_id AS TEXT), %(pending)s,
               '', '', c.last4, c.changed_at
        FROM {{candidates}} c WHERE c.reason = '' ORDER BY c.partner_id"""
    exclusions = f"""INSERT INTO {EXCLUSION_TABLE} (batch_id, partner_id, amount_minor, reason)
        SELECT %(batch)s, c.partner_id, c.amount, c.reason FROM {{candidates}} c WHERE c.reason <> ''"""
    if connection.vendor == "postgresql":  # the candidates aggregated once for both (SQLite has no INSERT in WITH)
        created = execute(f"WITH candidates AS MATERIALIZED ({CANDIDATES}), "
                          f"left_out AS ({exclusions.replace('{candidates}', 'candidates')}) "
                          f"{payments.replace('{candidates}', 'candidates')}", params)
    else:
        created = execute(payments.replace("{candidates}", f"({CANDIDATES})"), params)
        execute(exclusions.replace("{candidates}", f"({CANDIDATES})"), params)
    if not created:
        left_out = "; ".join(f"partner {x.partner_id}: {x.reason}" for x in batch.exclusions.all()[:20])
        raise BatchRefused(BATCH_NOTHING_TO_PAY.format(currency=currency, rail=rail,
                                                       left_out=f" (left out: {left_out})" if left_out else ""))
    analyze(PAYMENT_TABLE)  # the items' join and the release read the new payments: planned on their real number
    # ORDER BY: the rows are all read (sorted) before the first is inserted. Without it, when the items table was
    # empty at its last ANALYZE the planner scans it for every line (an anti join by seq scan) while the same
    # statement fills it: quadratic, 7 s for 20,000 lines and hours for a million (bench/batches.py).
    execute(f"""
        INSERT INTO {ITEM_TABLE} (payment_id, line_id, run_id, program_id, partner_id, amount_minor)
        SELECT pay.id, l.id, l.run_id, r.program_id, l.partner_id, l.net_minor
        FROM {LINE_TABLE} l JOIN {RUN_TABLE} r ON r.id = l.run_id
        JOIN {PAYMENT_TABLE} pay ON pay.batch_id = %(batch)s AND pay.partner_id = l.partner_id
        WHERE {APPROVED_FINAL} AND r.currency = %(currency)s AND l.status = {PAYABLE}
          AND NOT EXISTS (SELECT 1 FROM {ITEM_TABLE} i WHERE i.line_id = l.id)
        ORDER BY l.id""", params)
    analyze(ITEM_TABLE)
    count, total = (int(v or 0) for v in fetchall(
        f"SELECT COUNT(*), SUM(amount_minor) FROM {PAYMENT_TABLE} WHERE batch_id = %(batch)s", params)[0])
    covered = int(fetchall(f"SELECT COALESCE(SUM(i.amount_minor), 0) FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay "
                           f"ON pay.id = i.payment_id WHERE pay.batch_id = %(batch)s", params)[0][0])
    if covered != total:  # the same set read twice under the runs' locks: a difference is a bug, never paid
        raise BatchRefused(f"{batch}: its payments total {total} but cover {covered}; nothing was created.")
    if expected is not None and (count, total) != tuple(expected):
        raise BatchRefused(BATCH_PREVIEW_CHANGED.format(
            currency=currency, rail=rail, count=f"{count:,}", total=format_money(total, currency),
            expected_count=f"{expected[0]:,}", expected_total=format_money(expected[1], currency)))
    batch.payment_count, batch.control_total_minor = count, total
    batch.save(update_fields=["payment_count", "control_total_minor"])
    return batch


@transaction.atomic
def batch_cancel(*, batch_id: int, actor: User, reason: str) -> PaymentBatch:
    """Cancel a draft batch: its payments and what they cover are deleted (nothing was posted), so its lines can go
    into a new batch. The batch stays, cancelled, with the reason."""
    require_permission(actor, CREATE_PERMISSION, "cancel payment batches")
    reason = require_reason(reason, "cancel a payment batch", error=BatchRefused)
    batch = PaymentBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != B.DRAFT:
        raise BatchRefused(BATCH_WRONG_STATUS.format(action="cancel", batch=batch, status=batch.get_status_display()
                                                     .lower(), done="cancelled"))
    PaymentItem.objects.filter(payment__batch=batch).delete()
    Payment.objects.filter(batch=batch).delete()
    batch.status, batch.cancelled_reason = B.CANCELLED, f"{reason} (by {actor} at {timezone.now():%Y-%m-%d %H:%M} UTC)"
    batch.save(update_fields=["status", "cancelled_reason"])
    return batch


def _payees_changed(batch: PaymentBatch, limit: int = 10) -> tuple[list[str], int]:
    """Payments whose payee changed, is held or blocked, or no longer matches the batch's rail and currency: the first
    ``limit`` of them and how many there are (filtered in SQL: a million-payment batch reads none of its rows here)."""
    params = {"batch": batch.pk, "rail": batch.rail, "currency": batch.currency, "now": datetime_param(timezone.now())}
    rows = fetchall(f"""
        SELECT x.end_to_end_id, x.reason, COUNT(*) OVER () FROM (
            SELECT pay.id, pay.end_to_end_id, {payee_refusal_sql()} AS reason,
                   p.changed_at IS NOT NULL AND (pay.payee_changed_at IS NULL
                                                 OR p.changed_at <> pay.payee_changed_at) AS changed
            FROM {PAYMENT_TABLE} pay LEFT JOIN {PAYEE_TABLE} p ON p.partner_id = pay.partner_id
            WHERE pay.batch_id = %(batch)s) x
        WHERE x.reason <> '' OR x.changed ORDER BY x.id LIMIT {int(limit)}""", params)
    messages = [f"{e2e}: {reason or 'bank details changed after the batch was made'}" for e2e, reason, _ in rows]
    return messages, int(rows[0][2]) if rows else 0


def _ach_files_today() -> int:
    """NACHA files of batches released today (the files' header date, in the project's time zone)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return PaymentBatchFile.objects.filter(batch__rail=Payee.Rail.ACH, batch__released_at__gte=start).count()


def batch_files_directory(batch: PaymentBatch) -> Path:
    return Path(settings.MEDIA_ROOT) / "payment_files" / str(batch.pk)


def release_checked(*, batch_id: int, actor: User, expected_count: int, expected_total_minor: int) -> PaymentBatch:
    """In a transaction: the batch, locked, once ``actor`` may release it with what they confirmed (a permission, a
    draft, not its creator, the count and control total they were shown); else BatchRefused saying why."""
    require_permission(actor, RELEASE_PERMISSION, "release payment batches")
    batch = PaymentBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != B.DRAFT:
        raise BatchRefused(BATCH_WRONG_STATUS.format(action="release", batch=batch, status=batch.get_status_display()
                                                     .lower(), done="released"))
    if batch.created_by_id == actor.pk:
        raise BatchRefused(BATCH_FOUR_EYES.format(user=actor, batch=batch))
    if (expected_count, expected_total_minor) != (batch.payment_count, batch.control_total_minor):
        raise BatchRefused(BATCH_CONFIRMATION_DIFFERS.format(
            expected_count=f"{expected_count:,}", expected_total=format_money(expected_total_minor, batch.currency),
            batch=batch, count=f"{batch.payment_count:,}", total=format_money(batch.control_total_minor,
                                                                              batch.currency)))
    return batch


@transaction.atomic
def batch_release(*, batch_id: int, actor: User, expected_count: int, expected_total_minor: int) -> PaymentBatch:
    """Release a draft batch to the bank: a second person (not its creator) confirms the count and control total they
    were shown; the bank files are written (payouts.banking) and recorded with their SHA-256; the payments become
    sent and what they cover moves *in payment* → *sent* in one balanced ledger transaction. Under the batch's row
    lock: two people releasing at once give one release, the other is refused."""
    batch = release_checked(batch_id=batch_id, actor=actor, expected_count=expected_count,
                            expected_total_minor=expected_total_minor)
    work_mem_for_transaction(BATCH_WORK_MEM_MB)
    directory = batch_files_directory(batch)
    shutil.rmtree(directory, ignore_errors=True)  # what an earlier, rolled-back attempt left
    now = timezone.now()

    stop = threading.Event()

    def refuse_changed_payees() -> None:
        changed, how_many = _payees_changed(batch)
        if changed:
            more = f"; and {how_many - len(changed)} more" if how_many > len(changed) else ""
            raise BatchRefused(BATCH_PAYEES_CHANGED.format(batch=batch, payments="; ".join(changed) + more))

    def write() -> list[banking.WrittenFile]:
        return banking.write_payment_files(
            rail=batch.rail, instructions=batch_instructions(batch, stop), batch_reference=f"batch-{batch.pk}",
            execution_date=timezone.localdate(), directory=directory, originator=banking.originator_from_settings(),
            ach_files_today=ach_files_today, validate=getattr(settings, "PAYMENT_FILE_SCHEMA_CHECK", "first"))

    def post() -> None:
        Payment.objects.filter(batch=batch, status=Payment.Status.PENDING).update(status=Payment.Status.SENT,
                                                                                  sent_at=now)
        _post_release(batch, actor)

    def check_then_post() -> None:
        refuse_changed_payees()
        post()

    ach_files_today = _ach_files_today() if batch.rail == Payee.Rail.ACH else 0
    try:
        if _files_beside_postings(batch):
            # The payees are checked here while the files are being written beside: a refusal stops the writing.
            written = beside(write, check_then_post, stop=stop)
        else:
            refuse_changed_payees()
            written = write()
            post()
    except banking.BankFileError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise BatchRefused(f"Cannot release {batch}: {exc}") from None
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    media = Path(settings.MEDIA_ROOT)
    if (sum(f.payments for f in written), sum(f.control_total_minor for f in written)) != (
            batch.payment_count, batch.control_total_minor):
        shutil.rmtree(directory, ignore_errors=True)
        raise BatchRefused(f"Cannot release {batch}: the bank files do not hold its count and control total.")
    PaymentBatchFile.objects.bulk_create([
        PaymentBatchFile(batch=batch, name=f.name, path=str(Path(f.path).resolve().relative_to(media.resolve())),
                         payments=f.payments, control_total_minor=f.control_total_minor, sha256=f.sha256)
        for f in written])
    batch.status, batch.released_by, batch.released_at = B.RELEASED, actor, now
    batch.save(update_fields=["status", "released_by", "released_at"])
    return batch


DEFAULT_FILES_BESIDE_POSTINGS_FROM = 50_000


def _files_beside_postings(batch: PaymentBatch) -> bool:
    """A large batch on PostgreSQL writes its files in a second thread, reading the committed payments and payees over
    its own connection, while this transaction checks the payees, marks the payments sent and posts the ledger (a
    refused check stops the files): the files are Python's work (decrypting, writing) and the rest the database's,
    so on two cores they overlap instead of adding up (bench/batches.py). Small batches, SQLite and tests inside one
    transaction keep the plain order: check, files, postings."""
    threshold = int(getattr(settings, "PAYMENT_FILES_BESIDE_POSTINGS_FROM", DEFAULT_FILES_BESIDE_POSTINGS_FROM))
    return connection.vendor == "postgresql" and batch.payment_count >= threshold


def ensure_item_accounts(*, where: str, params: dict[str, object], kind: str) -> None:
    """One partner account of ``kind`` per (partner, program, currency) of the items ``i`` joined to their payment
    ``pay`` that ``where`` selects, created in one statement."""
    execute(f"""
        INSERT INTO {ACCOUNT_TABLE} (kind, currency, partner_id, program_id)
        SELECT DISTINCT %(account_kind)s, pay.currency, i.partner_id, i.program_id
        FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
        WHERE {where} AND NOT EXISTS (
            SELECT 1 FROM {ACCOUNT_TABLE} a WHERE a.kind = %(account_kind)s AND a.currency = pay.currency
              AND a.partner_id = i.partner_id AND a.program_id = i.program_id)""", {**params, "account_kind": kind})


def item_moves_sql(where: str, source: str, target: str) -> str:
    """Entries moving the selected items' amounts from the partner account of kind %(source)s to %(target)s (both
    per partner, program and currency): the items summed per partner, program and currency in one pass, each sum
    taken from the one account and put on the other (one account per kind and key: a unique index)."""
    return f"""
        SELECT a.id AS account_id, CASE WHEN a.kind = %({source})s THEN -m.amount ELSE m.amount END AS amount_minor
        FROM (SELECT i.partner_id, i.program_id, pay.currency, SUM(i.amount_minor) AS amount
              FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id WHERE {where}
              GROUP BY i.partner_id, i.program_id, pay.currency) m
        JOIN {ACCOUNT_TABLE} a ON a.kind IN (%({source})s, %({target})s) AND a.currency = m.currency
             AND a.partner_id = m.partner_id AND a.program_id = m.program_id"""


def _post_release(batch: PaymentBatch, actor: User) -> None:
    where = "pay.batch_id = %(batch)s"
    params = {"batch": batch.pk, "in_payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT,
              "sent": LedgerAccount.Kind.PARTNER_SENT}
    ensure_item_accounts(where=where, params=params, kind=LedgerAccount.Kind.PARTNER_SENT)
    ledger.post(key=f"batch:{batch.pk}:release", actor=actor, params=params,
                description=f"Released {batch}: {format_money(batch.control_total_minor, batch.currency)} "
                            f"sent to the bank in {batch.payment_count:,} payments",
                entries_sql=item_moves_sql(where, "in_payment", "sent"))
