"""On PostgreSQL, payments and payment items keep their references without a row-by-row foreign key (migration
0015: checked once per statement, as earning lines are): a reference to nothing, a changed reference, and deleting what
a payment refers to are all refused by the database itself, whatever the code above it does."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from payouts.models import EarningLine, Payment, PaymentBatch, PaymentItem
from payouts.services.batches import batch_cancel, batch_create
from tests.payouts.batches.helpers import approved_program_run, payee
from tests.payouts.factories import member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def batch(run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    for partner in partners.values():
        payee(partner)
    return batch_create(currency="USD", rail="ach", actor=maker)


def refused(sql: str, params: list, match: str) -> None:
    with pytest.raises(DatabaseError, match=match), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_payment_for_a_partner_or_batch_that_does_not_exist_is_refused(batch):
    insert = ("INSERT INTO payouts_payment (batch_id, partner_id, currency, amount_minor, end_to_end_id, status, "
              "reason_code, reason, payee_last4) VALUES (%s, %s, 'USD', 100, %s, 'pending', '', '', '')")
    refused(insert, [batch.pk, 987654321, "X-1"], "refers to partner 987654321 which does not exist")
    partner_id = batch.payments.first().partner_id
    refused(insert, [987654, partner_id, "X-2"], "refers to payment batch 987654 which does not exist")


def test_an_item_must_copy_its_lines_run_program_and_partner(batch):
    item = PaymentItem.objects.select_related("line").first()
    other = EarningLine.objects.exclude(pk=item.line_id).first()
    PaymentItem.objects.filter(line=other).delete()  # so the line itself is free to cover
    insert = ("INSERT INTO payouts_paymentitem (payment_id, line_id, run_id, program_id, partner_id, amount_minor) "
              "VALUES (%s, %s, %s, %s, %s, 1)")
    refused(insert, [987654321, other.pk, other.run_id, item.program_id, other.partner_id],
            "refers to payment 987654321 which does not exist")
    refused(insert, [item.payment_id, 987654321, other.run_id, item.program_id, other.partner_id],
            "refers to earning line 987654321 which does not exist")
    # A real line with another partner than the one copied: refused too
    refused(insert, [item.payment_id, other.pk, other.run_id, item.program_id, item.line.partner_id
                     if item.line.partner_id != other.partner_id else 987654321],
            f"refers to earning line {other.pk} which does not exist")


@pytest.mark.parametrize(("sql", "match"), [
    ("UPDATE payouts_payment SET partner_id = partner_id + 1 WHERE id = %(payment)s", "never changes"),
    ("UPDATE payouts_paymentitem SET line_id = line_id + 1 WHERE payment_id = %(payment)s", "never changes"),
    ("DELETE FROM payouts_payment WHERE id = %(payment)s", "still covers earning lines"),
    ("DELETE FROM payouts_earningline WHERE id IN (SELECT line_id FROM payouts_paymentitem)",
     "is covered by a payment"),
    ("DELETE FROM payouts_paymentbatch WHERE id = %(batch)s", "has payments"),
])
def test_references_do_not_change_and_what_is_referred_to_stays(batch, sql, match):
    payment = batch.payments.first()
    with pytest.raises(DatabaseError, match=match), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"payment": payment.pk, "batch": batch.pk})
    assert Payment.objects.filter(pk=payment.pk, partner_id=payment.partner_id).exists()


def test_cancelling_a_draft_batch_still_deletes_its_payments(batch, checker):
    batch_cancel(batch_id=batch.pk, actor=checker, reason="wrong currency")
    assert not Payment.objects.filter(batch=batch).exists()
    assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.CANCELLED


def test_a_ledger_entry_for_an_account_or_transaction_that_does_not_exist_is_refused(batch):
    from payouts.models import LedgerAccount, LedgerTransaction

    account = LedgerAccount.objects.first()
    insert = ("INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_minor) "
              "VALUES (%s, %s, %s), (%s, %s, %s)")
    refused(insert, [987654321, account.pk, 5, 987654321, account.pk, -5],
            "refers to ledger transaction 987654321 which does not exist")
    with transaction.atomic():
        posted = LedgerTransaction.objects.create(key="test:references", description="test")
        refused(insert, [posted.pk, account.pk, 5, posted.pk, 987654321, -5],
                "refers to ledger account 987654321 which does not exist")
    refused("DELETE FROM payouts_ledgeraccount WHERE id = %s", [account.pk], "has entries")


def test_a_ledger_account_keeps_its_fund_partner_and_program(batch):
    """Migration 0019: ledger accounts' references are checked once per statement, not by foreign keys."""
    from partnerships.models import Partner
    from payouts.models import LedgerAccount

    account = LedgerAccount.objects.filter(partner__isnull=False).first()
    insert = ("INSERT INTO payouts_ledgeraccount (kind, currency, fund_id, partner_id, program_id) "
              "VALUES ('partner_sent', 'XTS', %s, %s, %s)")
    refused(insert, [None, 987654321, account.program_id], "refers to partner 987654321 which does not exist")
    refused(insert, [None, account.partner_id, 987654321], "refers to program 987654321 which does not exist")
    refused(insert, [987654321, None, None], "refers to fund 987654321 which does not exist")
    refused("UPDATE payouts_ledgeraccount SET partner_id = partner_id + 1 WHERE id = %s", [account.pk],
            "never change")
    refused("DELETE FROM partnerships_program WHERE id = %s", [account.program_id], "has ledger accounts")
    fund_account = LedgerAccount.objects.filter(fund__isnull=False).first()
    refused("DELETE FROM payouts_fund WHERE id = %s", [fund_account.fund_id], "has ledger accounts")
    # A partner with an account and no earning line (whose own trigger would refuse first)
    newcomer = member(account.program, handle="newcomer")
    LedgerAccount.objects.create(kind="partner_sent", currency="XTS", partner=newcomer, program=account.program)
    refused("DELETE FROM partnerships_partner WHERE id = %s", [newcomer.pk], "has ledger accounts")
    assert Partner.objects.filter(pk=newcomer.pk).exists()
    # A good reference is still taken, in the same statement as many others
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert, [None, account.partner_id, account.program_id])
        assert LedgerAccount.objects.filter(currency="XTS", partner_id=account.partner_id).count() == 1
        transaction.set_rollback(True)
