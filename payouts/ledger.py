"""Posting to the append-only double-entry ledger.

What is owed comes from the ledger. Per partner and program there are two accounts: *payable* holds what the
partner earned and no payment covers yet (held lines, balances under the minimum payout, money owed back as a
negative balance); *in payment* holds what an approved run put into its payment file, until that file is paid.
Approving a run moves each payable line's balance from payable to in payment under the fund's row lock; a run
carries in only the payable balance that no other computed run already carries; paying moves in payment to paid
out. So each cent a partner earns is in at most one payment file and is paid at most once, whatever the order in
which runs of any programs are computed, approved, cancelled and paid.

A transaction's entries are written by ONE INSERT statement, so PostgreSQL's statement trigger (migration
0002) can check that they sum to zero; the same check also runs here on every database. A transaction's
``key`` names the event it records (``run:12:approve``), so posting the same event twice posts it once.
"""

from __future__ import annotations

from django.db import connection

from core.sql import execute, fetchone
from payouts.formulas.tables import ACCOUNT_TABLE, ENTRY_TABLE, LINE_TABLE, TRANSACTION_TABLE
from payouts.models import Fund, LedgerAccount, LedgerTransaction


class LedgerUnbalanced(RuntimeError):
    pass


def fund_account(fund: Fund, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(kind=kind, currency=fund.currency, fund=fund, partner=None,
                                                     program=fund.program)
    return account


# A line's partner account of one kind in the run's program and currency; ``kind`` names the parameter holding the
# account kind (e.g. ``PARTNER_ACCOUNT_JOIN.format(kind="payable")`` reads ``%(payable)s``).
PARTNER_ACCOUNT_JOIN = f"""JOIN {ACCOUNT_TABLE} a ON a.kind = %({{kind}})s AND a.currency = %(currency)s
                 AND a.program_id = %(program)s AND a.partner_id = l.partner_id"""


# Each partner's balance on accounts of one kind in the program and currency (``kind`` names the parameter, as above).
PARTNER_BALANCES = f"""SELECT la.partner_id, SUM(le.amount_minor) AS amount
    FROM {ACCOUNT_TABLE} la JOIN {ENTRY_TABLE} le ON le.account_id = la.id
    WHERE la.kind = %({{kind}})s AND la.currency = %(currency)s AND la.program_id = %(program)s
    GROUP BY la.partner_id"""


def ensure_partner_accounts(*, run_id: int, program_id: int, currency: str,
                            kind: str = LedgerAccount.Kind.PARTNER_PAYABLE) -> None:
    """One account of ``kind`` (payable, in payment) per partner of the run, created in one statement."""
    execute(f"""
        INSERT INTO {ACCOUNT_TABLE} (kind, currency, partner_id, program_id)
        SELECT DISTINCT %(kind)s, %(currency)s, l.partner_id, %(program)s
        FROM {LINE_TABLE} l
        WHERE l.run_id = %(run)s AND NOT EXISTS (
            SELECT 1 FROM {ACCOUNT_TABLE} a WHERE a.kind = %(kind)s AND a.currency = %(currency)s
              AND a.partner_id = l.partner_id AND a.program_id = %(program)s)
    """, {"kind": kind, "currency": currency, "program": program_id, "run": run_id})


def post(
    *, key: str, description: str, entries_sql: str, params: dict, run=None, actor=None
) -> LedgerTransaction | None:
    """Post a transaction whose entries are the rows (account_id, amount_minor) of ``entries_sql``.
    Returns None when the key was already posted (idempotent)."""
    if LedgerTransaction.objects.filter(key=key).exists():
        return None
    transaction = LedgerTransaction.objects.create(key=key, description=description, run=run, created_by=actor)
    execute(f"""
        INSERT INTO {ENTRY_TABLE} (transaction_id, account_id, amount_minor)
        SELECT %(ledger_transaction)s, e.account_id, e.amount_minor FROM ({entries_sql}) e WHERE e.amount_minor <> 0
    """, {**params, "ledger_transaction": transaction.pk})
    imbalance = int(fetchone(f"SELECT COALESCE(SUM(amount_minor), 0) FROM {ENTRY_TABLE} WHERE transaction_id = %s",
                             [transaction.pk])[0]) if connection.vendor != "postgresql" else 0
    if imbalance:
        raise LedgerUnbalanced(f"Ledger transaction {key} is unbalanced by {imbalance}; nothing was posted.")
    return transaction


def post_pairs(*, key: str, description: str, pairs: list[tuple[int, int]], run=None, actor=None):
    """Post a small transaction given as (account_id, amount_minor) pairs."""
    values = " UNION ALL ".join(f"SELECT {int(account)} AS account_id, {int(amount)} AS amount_minor"
                                for account, amount in pairs)
    return post(key=key, description=description, entries_sql=values, params={}, run=run, actor=actor)


def balance(account: LedgerAccount) -> int:
    return int(fetchone(f"SELECT COALESCE(SUM(amount_minor), 0) FROM {ENTRY_TABLE} WHERE account_id = %s",
                        [account.pk])[0])


TRIGGERS_SQL = f"""
CREATE OR REPLACE FUNCTION payouts_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The ledger is append-only: % on % is refused; post a correcting transaction instead.',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE OR REPLACE FUNCTION payouts_ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE unbalanced record;
BEGIN
    SELECT e.transaction_id, SUM(e.amount_minor) AS total INTO unbalanced
    FROM {ENTRY_TABLE} e WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM inserted)
    GROUP BY e.transaction_id HAVING SUM(e.amount_minor) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'Ledger transaction % is unbalanced by %.', unbalanced.transaction_id, unbalanced.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON {ENTRY_TABLE};
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON {ENTRY_TABLE}
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_append_only();
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON {TRANSACTION_TABLE};
CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON {TRANSACTION_TABLE}
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_append_only();
DROP TRIGGER IF EXISTS ledger_entry_balanced ON {ENTRY_TABLE};
CREATE TRIGGER ledger_entry_balanced AFTER INSERT ON {ENTRY_TABLE}
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION payouts_ledger_balanced();
"""
