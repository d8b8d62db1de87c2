"""Runs approved before the in-payment accounts existed: their payable lines' balances move into payment now, as
approval does today, so paying them moves money out of *in payment* and no later run carries them in again.

Runs already paid before this migration took their payments from *payable*: they get the same in-payment posting
and, beside it, its reversal ("paid before in-payment accounts"), so their reconciliation reads the same as a new
run's and every balance is unchanged. Each is one balanced transaction with the key approval uses, so the
migration is idempotent."""

from django.db import migrations

PAYABLE, IN_PAYMENT = "partner_payable", "partner_in_payment"


def _post(cursor, key, description, run_id, entries_sql, params):
    cursor.execute("SELECT 1 FROM payouts_ledgertransaction WHERE key = %s", [key])
    if cursor.fetchone():
        return
    cursor.execute("INSERT INTO payouts_ledgertransaction (key, description, run_id, created_at) "
                   "VALUES (%s, %s, %s, CURRENT_TIMESTAMP)", [key, description, run_id])
    cursor.execute("SELECT id FROM payouts_ledgertransaction WHERE key = %s", [key])
    transaction_id = cursor.fetchone()[0]
    cursor.execute(f"""
        INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_minor)
        SELECT %(tx)s, e.account_id, e.amount_minor FROM ({entries_sql}) e WHERE e.amount_minor <> 0""",
                   {**params, "tx": transaction_id})


def forwards(apps, schema_editor):
    PayoutRun = apps.get_model("payouts", "PayoutRun")
    runs = PayoutRun.objects.filter(kind="final", status__in=["approved", "paid"]).order_by("pk")
    with schema_editor.connection.cursor() as cursor:
        for run in runs:
            params = {"run": run.pk, "program": run.program_id, "currency": run.currency,
                      "payable": PAYABLE, "in_payment": IN_PAYMENT,
                      "status": "paid" if run.status == "paid" else "payable"}
            cursor.execute("""
                INSERT INTO payouts_ledgeraccount (kind, currency, partner_id, program_id)
                SELECT DISTINCT %(in_payment)s, %(currency)s, l.partner_id, %(program)s
                FROM payouts_earningline l
                WHERE l.run_id = %(run)s AND l.status = %(status)s AND NOT EXISTS (
                    SELECT 1 FROM payouts_ledgeraccount a WHERE a.kind = %(in_payment)s AND a.currency = %(currency)s
                      AND a.partner_id = l.partner_id AND a.program_id = %(program)s)""", params)
            move = """
                SELECT a.id AS account_id, {sign}l.net_minor AS amount_minor
                FROM payouts_earningline l JOIN payouts_ledgeraccount a ON a.kind = %(payable)s
                     AND a.currency = %(currency)s AND a.program_id = %(program)s AND a.partner_id = l.partner_id
                WHERE l.run_id = %(run)s AND l.status = %(status)s
                UNION ALL
                SELECT a.id, {other}l.net_minor
                FROM payouts_earningline l JOIN payouts_ledgeraccount a ON a.kind = %(in_payment)s
                     AND a.currency = %(currency)s AND a.program_id = %(program)s AND a.partner_id = l.partner_id
                WHERE l.run_id = %(run)s AND l.status = %(status)s"""
            _post(cursor, f"run:{run.pk}:in-payment", f"Run {run.pk}: payable balances into payment (migration)",
                  run.pk, move.format(sign="-", other=""), params)
            if run.status == "paid":
                _post(cursor, f"run:{run.pk}:in-payment-legacy-reversal",
                      f"Run {run.pk} was paid before in-payment accounts existed: its payments came from payable",
                      run.pk, move.format(sign="", other="-"), params)


class Migration(migrations.Migration):
    dependencies = [("payouts", "0009_money_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
