"""read_status_report: the bank's pain.002 (CustomerPaymentStatusReport), versions .001.03 (the one that answers
the pain.001.001.03 we write, payouts.banking.sepa) to .001.12, read into entries the batches match by end-to-end id.

The file comes through the statement upload (payouts.banking.camt.parse_statement tells it apart by its namespace),
so it is read as hostile by the same front end: bounded size, lxml with no DTD, entities or network, and at most
MAX_TRANSACTIONS transactions. Anything unreadable raises StatementError naming the element and the reason.

What becomes an entry, in document order:
- a group status RJCT (OrgnlGrpInfAndSts/GrpSts), or a payment information status RJCT (PmtInfSts): one entry
  "review" with no end-to-end id: the bank refused a whole message or block, which payments that covers is for a
  person to check (they record each failure by hand), never guessed;
- each transaction status (TxInfAndSts): RJCT → "rejected" with its reason code (StsRsnInf/Rsn/Cd, or Prtry);
  ACCP, ACSC, ACSP, ACTC, ACWC and the other accepted codes → "accepted"; PDNG, RCVD → "pending"; CANC, or no
  status of its own under a rejected group or block → "review". Its amount and currency come from
  OrgnlTxRef/Amt/InstdAmt when the bank repeats them (else 0 and ""), its original message id from its own
  OrgnlGrpInf or the group's OrgnlMsgId.

The report's identifier is "pain.002 <GrpHdr/MsgId>": the same report imported twice is told apart by it.
"""

from __future__ import annotations

import re
from typing import Any

from payouts.banking.camt import MAX_TRANSACTIONS, TOO_MANY, _Reader, parse_amount
from payouts.banking.instructions import Statement, StatementEntry, StatementError

NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:pain\.002\.001\.(0[3-9]|1[0-2])")
ACCEPTED = frozenset({"ACCP", "ACSC", "ACSP", "ACTC", "ACWC", "ACCC", "ACFC", "ACIS", "ACWP", "ACPD"})
PENDING = frozenset({"PDNG", "RCVD"})
REJECTED, CANCELLED = "RJCT", "CANC"
TRANSACTION_CODES = ACCEPTED | PENDING | {REJECTED, CANCELLED}
GROUP_CODES = TRANSACTION_CODES | {"PART"}
_CODE = re.compile(r"[A-Z0-9]{2,35}")

NO_BODY = "The pain.002 file has no {element} element."
NO_MESSAGE_ID = ("The pain.002 file has no GrpHdr/MsgId; importing it twice could not be told apart, so it is "
                 "refused.")
NOT_OURS = ("The pain.002 report answers a {name} (OrgnlMsgNmId); only status reports on our credit transfers "
            "(pain.001) are read.")
UNKNOWN_STATUS = "{where}: {element} {code!r} is not an ISO 20022 payment status this import knows."


def _status(reader: _Reader, element: Any, name: str, where: str, known: frozenset[str]) -> str:
    code = reader.text(element, name)
    if code and code not in known:
        raise StatementError(UNKNOWN_STATUS.format(where=where, element=name, code=code[:40]))
    return code


def _reason(reader: _Reader, element: Any) -> tuple[str, str]:
    """(the first reason code, the bank's words) of an element's StsRsnInf."""
    code = ""
    words: list[str] = []
    for information in reader.findall(element, "StsRsnInf"):
        found = reader.text(information, "Rsn/Cd") or reader.text(information, "Rsn/Prtry")
        if found and not code:
            if not _CODE.fullmatch(found.upper()):
                raise StatementError(f"StsRsnInf/Rsn: {found[:40]!r} is not a reason code (letters and digits).")
            code = found.upper()[:8]
        words.extend((line.text or "").strip() for line in reader.findall(information, "AddtlInf"))
    return code, " ".join(word for word in words if word)[:150]


def read_status_report(root: Any, namespace: str) -> Statement:
    """The entries of a pain.002 document whose root (``root``, already read by camt.read_document) is in
    ``namespace``; see the module docstring."""
    reader = _Reader(namespace)
    body = reader.find(root, "CstmrPmtStsRpt")
    if body is None:
        raise StatementError(NO_BODY.format(element="CstmrPmtStsRpt"))
    message_id = reader.text(body, "GrpHdr/MsgId")
    if not message_id:
        raise StatementError(NO_MESSAGE_ID)
    group = reader.find(body, "OrgnlGrpInfAndSts")
    if group is None:
        raise StatementError(NO_BODY.format(element="OrgnlGrpInfAndSts"))
    original_name = reader.text(group, "OrgnlMsgNmId")
    if original_name and not original_name.lower().startswith("pain.001"):
        raise StatementError(NOT_OURS.format(name=original_name[:40]))
    original_id = reader.text(group, "OrgnlMsgId")
    group_status = _status(reader, group, "GrpSts", "OrgnlGrpInfAndSts", GROUP_CODES)
    entries: list[StatementEntry] = []

    def review(reference: str, reason: tuple[str, str]) -> None:
        entries.append(StatementEntry(end_to_end_id=None, amount_minor=0, currency="", outcome="review",
                                      reason_code=reason[0], reference=f"{reference} {reason[1]}".strip()[:200],
                                      position=len(entries) + 1, original_message_id=original_id[:35]))

    if group_status == REJECTED:
        review(f"the whole message {original_id} rejected (GrpSts RJCT)", _reason(reader, group))
    blocks = reader.findall(body, "OrgnlPmtInfAndSts")
    count = sum(len(reader.findall(block, "TxInfAndSts")) for block in blocks)
    if count > MAX_TRANSACTIONS:
        raise StatementError(TOO_MANY.format(limit=MAX_TRANSACTIONS))
    for block in blocks:
        block_id = reader.text(block, "OrgnlPmtInfId")
        block_status = _status(reader, block, "PmtInfSts", f"OrgnlPmtInfAndSts {block_id[:35]}", GROUP_CODES)
        if block_status == REJECTED:
            review(f"payment information {block_id} rejected (PmtInfSts RJCT)", _reason(reader, block))
        for transaction in reader.findall(block, "TxInfAndSts"):
            entries.append(_transaction(reader, transaction, position=len(entries) + 1,
                                        inherited=block_status or group_status, original_id=original_id))
    return Statement(identifier=f"pain.002 {message_id}"[:500], kind="pain.002", entries=entries)


def _transaction(reader: _Reader, transaction: Any, *, position: int, inherited: str,
                 original_id: str) -> StatementEntry:
    end_to_end_id = reader.text(transaction, "OrgnlEndToEndId")
    where = f"Entry {position} (TxInfAndSts {end_to_end_id[:35] or 'with no OrgnlEndToEndId'})"
    status = _status(reader, transaction, "TxSts", where, TRANSACTION_CODES)
    code, words = _reason(reader, transaction)
    if status == REJECTED:
        outcome = "rejected"
    elif status in ACCEPTED or (not status and inherited in ACCEPTED | {"PART"}):
        outcome = "accepted"
    elif status in PENDING or (not status and inherited in PENDING):
        outcome = "pending"
    else:  # CANC, or no status of its own under a rejected (or unstated) group: for a person
        outcome = "review"
    amount, currency = 0, ""
    instructed = reader.find(transaction, "OrgnlTxRef/Amt/InstdAmt")
    if instructed is not None:
        currency = (instructed.get("Ccy") or "").strip()
        amount = parse_amount((instructed.text or "").strip(), currency, position=position,
                              field="OrgnlTxRef/Amt/InstdAmt")
    shown = status or f"no TxSts (its block or group: {inherited or 'none'})"
    reference = " ".join(part for part in (shown, reader.text(transaction, "StsId"), words) if part)
    return StatementEntry(
        end_to_end_id=None if end_to_end_id in ("", "NOTPROVIDED") else end_to_end_id,
        amount_minor=amount, currency=currency, outcome=outcome, reason_code=code, reference=reference[:200],
        position=position,
        original_message_id=(reader.text(transaction, "OrgnlGrpInf/OrgnlMsgId") or original_id)[:35])
