"""A payment batch's payments as bank instructions (payouts.banking), read for its release: plain rows, one chunk
at a time, the payees' encrypted bank details decrypted a chunk at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from django.db import connection

from core.encrypted import decrypt_many
from partnerships.models import Partner
from payouts import banking
from payouts.exceptions import BatchRefused
from payouts.formulas.tables import PARTNER_TABLE, PAYMENT_TABLE
from payouts.models import Payee, PaymentBatch

PAYEE_TABLE = Payee._meta.db_table
ORGANISATION_KINDS = ", ".join(f"'{kind}'" for kind in sorted(Partner.ORGANISATION_KINDS))

# What a bank instruction needs of a payment and its payee, read as plain rows (no model instance per payment).
# Whether the payee is an organisation matters to ACH only (a CCD entry instead of PPD): other rails skip the join.
INSTRUCTION_ROWS = f"""SELECT pay.end_to_end_id, pay.amount_minor, pay.currency, p.account_holder, p.iban, p.bic,
        p.routing_number, p.account_number, {{organisation}}
    FROM {PAYMENT_TABLE} pay LEFT JOIN {PAYEE_TABLE} p ON p.partner_id = pay.partner_id {{join}}
    WHERE pay.batch_id = %s ORDER BY pay.id"""
WITH_KIND = {"organisation": f"partner.kind IN ({ORGANISATION_KINDS})",
             "join": f"JOIN {PARTNER_TABLE} partner ON partner.id = pay.partner_id"}
WITHOUT_KIND = {"organisation": "FALSE", "join": ""}
ENCRYPTED_COLUMNS = {3: "account_holder", 4: "iban", 6: "routing_number", 7: "account_number"}
INSTRUCTION_CHUNK = 2000


def batch_instructions(batch: PaymentBatch, stop: threading.Event) -> Iterator[banking.PaymentInstruction]:
    """The batch's payments as bank instructions, read from the encrypted payees one chunk at a time (a server-side
    cursor on PostgreSQL), each chunk's encrypted columns decrypted together (core.encrypted: the fields' own
    result, without Fernet's per-value objects). Ends with an error once ``stop`` is set (the release refused)."""
    remittance = f"Creator Partnerships payment batch {batch.pk}"
    fields = {column: Payee._meta.get_field(name) for column, name in ENCRYPTED_COLUMNS.items()}
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")  # as the ORM's iterator()
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        parts = WITH_KIND if batch.rail == Payee.Rail.ACH else WITHOUT_KIND
        cursor.execute(INSTRUCTION_ROWS.format(**parts), [batch.pk])
        while rows := cursor.fetchmany(INSTRUCTION_CHUNK):
            if stop.is_set():
                raise BatchRefused(f"The files of {batch} were stopped: its release was refused.")
            columns = [list(column) for column in zip(*rows, strict=True)]
            for column, field in fields.items():
                columns[column] = decrypt_many(field, columns[column])
            for e2e, amount, currency, holder, iban, bic, routing, account, organisation in zip(*columns,
                                                                                                strict=True):
                yield banking.PaymentInstruction(
                    end_to_end_id=e2e, amount_minor=amount, currency=currency, name=holder, iban=iban or None,
                    bic=bic or None, routing_number=routing or None, account_number=account or None,
                    remittance=remittance, organisation=bool(organisation))
