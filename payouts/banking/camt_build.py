"""TEMPORARY STAND-IN (see the package docstring): build a camt.053 statement for tests."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from core.money import to_major
from payouts.banking.contract import StatementEntry

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def build_camt053(*, identifier: str, entries: Iterable[StatementEntry], message_id: str = "MSG-1") -> bytes:
    parts = []
    for entry in entries:
        indicator = "CRDT" if entry.outcome == "returned" else "DBIT"
        reason = (f"<RtrInf><Rsn><Cd>{escape(entry.reason_code)}</Cd></Rsn></RtrInf>"
                  if entry.reason_code else "")
        parts.append(
            f'<Ntry><Amt Ccy="{escape(entry.currency)}">{to_major(entry.amount_minor, entry.currency)}</Amt>'
            f"<CdtDbtInd>{indicator}</CdtDbtInd><Sts>BOOK</Sts>"
            + (f"<BookgDt><Dt>{entry.booking_date.isoformat()}</Dt></BookgDt>" if entry.booking_date else "")
            + f"<AcctSvcrRef>{escape(entry.reference)}</AcctSvcrRef><NtryDtls><TxDtls><Refs>"
            f"<EndToEndId>{escape(entry.end_to_end_id or '')}</EndToEndId></Refs>{reason}</TxDtls></NtryDtls></Ntry>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>{escape(message_id)}</MsgId></GrpHdr><Stmt><Id>{escape(identifier)}</Id>"
            + "".join(parts) + "</Stmt></BkToCstmrStmt></Document>").encode()
