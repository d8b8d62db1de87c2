"""Bank details are ciphertext in the database: in the payee table and in its audit trail (raw SQL)."""

from django.db import connection

from payouts.models import Payee
from payouts.services.payees import payee_save
from tests.payouts.payees.conftest import ACH, NL_IBAN, SEPA

PLAINTEXTS = ["DE89370400440532013000", NL_IBAN, "Anna Schmidt", "Ben Carter", "011000015", "123456789",
              "0532013000", "ABNA0417"]


def raw_rows(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT account_holder, iban, routing_number, account_number, last4 FROM {table}")  # noqa: S608
        return cursor.fetchall()


def test_encrypted_columns_hold_no_plaintext_in_the_table_or_its_history(payee_admin):
    from tests.partnerships.factories import PartnerFactory

    sepa, ach = PartnerFactory(), PartnerFactory()
    payee_save(partner_id=sepa.pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=sepa.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    payee_save(partner_id=ach.pk, data=ACH, actor=payee_admin)

    for table, count in [("payouts_payee", 2), ("payouts_historicalpayee", 3)]:
        rows = raw_rows(table)
        assert len(rows) == count
        dump = repr(rows)
        for plaintext in PLAINTEXTS:
            assert plaintext not in dump, f"{plaintext} in {table}"
        for holder, iban, routing, account, last4 in rows:
            assert holder.startswith("gAAAA")  # a Fernet token
            assert all(value is None or value.startswith("gAAAA") for value in (iban, routing, account))
            assert len(last4) == 4

    # ... and they read back in full through the model, the trail included.
    assert Payee.objects.get(partner=sepa).iban == NL_IBAN
    assert [record.iban for record in Payee.history.filter(partner_id=sepa.pk).order_by("history_id")] == [
        "DE89370400440532013000", NL_IBAN]
    assert Payee.objects.get(partner=ach).routing_number == "011000015"
