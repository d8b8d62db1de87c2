"""parse_statement: the bank's camt.053 (end-of-day statement) or camt.054 (debit/credit notification), versions
.001.02 to .001.13, read into the entries the batches match by end-to-end id.

The file comes from an upload, so it is read as hostile: at most BANK_STATEMENT_MAX_BYTES and MAX_TRANSACTIONS,
lxml with no DTD, no entities, no network and no huge-tree mode, and a DOCTYPE is refused outright (no bank sends
one; it is how entity-expansion attacks start). Anything unreadable raises StatementError with a sentence naming
the entry's position and field; nothing else escapes (a property test throws random and hostile bytes at it).

What becomes an entry: each transaction (TxDtls; an entry without details counts as one) of a booked entry.
- a debit (CdtDbtInd DBIT): outcome "paid", the EndToEndId from TxDtls/Refs;
- a return: a credit whose bank transaction code is PMNT / RCDT or ICDT / RRTN, or any transaction with RtrInf:
  outcome "returned", reason_code RtrInf/Rsn/Cd, the original payment's id from Refs/EndToEndId (where the schema
  has it), or from RtrInf/OrgnlEndToEndId where a bank puts it there outside the schema.
Pending or informational entries (Sts other than BOOK) and credits that are not returns are not about our
payments' outcomes and are left out. An id of NOTPROVIDED, or none, gives end_to_end_id None: the batches side
lists such entries as unmatched for a person."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.conf import settings
from lxml import etree

from core.money import UnknownCurrency, exponent
from payouts.banking.instructions import Statement, StatementEntry, StatementError

MAX_TRANSACTIONS = 200_000
NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(0[2-9]|1[0-3])")
BODIES = {"camt.053": ("BkToCstmrStmt", "Stmt"), "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
_AMOUNT = re.compile(r"[0-9]{1,18}(?:\.([0-9]{1,18}))?")
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENCODED_DOCTYPE = ("<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
RETURN_CODES = {("PMNT", "RCDT", "RRTN"), ("PMNT", "ICDT", "RRTN")}

TOO_LARGE = "The statement is {size:,} bytes; at most {limit:,} are read (setting BANK_STATEMENT_MAX_BYTES)."
EMPTY = "The statement file is empty."
DOCTYPE = "The statement declares a DOCTYPE; a bank statement has none, so it is refused."
MALFORMED = "The statement is not well-formed XML: {detail}"
WRONG_ROOT = ("The file is not a camt.053 or camt.054 statement nor a pain.002 status report (its root is {root}); "
              "upload the bank's ISO 20022 file.")
NO_BODY = "The {kind} file has no {element} element."
TOO_MANY = "The statement holds more than {limit:,} transactions; ask the bank for daily statements."
FIELD = "Entry {position}: {field} {problem}"


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = {"c": namespace}

    def find(self, element: Any, path: str) -> Any:
        return element.find(self._path(path), self.ns)

    def findall(self, element: Any, path: str) -> list[Any]:
        return element.findall(self._path(path), self.ns)

    def text(self, element: Any, path: str) -> str:
        found = element.find(self._path(path), self.ns) if element is not None else None
        return (found.text or "").strip() if found is not None else ""

    @staticmethod
    def _path(path: str) -> str:
        return "/".join(f"c:{step}" for step in path.split("/"))


def read_document(data: bytes) -> Any:
    """The root element of an uploaded bank file, read as hostile (bounded, no DTD, no entities, no network)."""
    if not isinstance(data, bytes | bytearray):
        raise StatementError("The statement must be read as bytes.")
    limit = settings.BANK_STATEMENT_MAX_BYTES
    if len(data) > limit:
        raise StatementError(TOO_LARGE.format(size=len(data), limit=limit))
    if not data.strip():
        raise StatementError(EMPTY)
    if _DOCTYPE.search(data) or any(marker in data for marker in _ENCODED_DOCTYPE):
        raise StatementError(DOCTYPE)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(bytes(data), parser)
    except (etree.LxmlError, ValueError, UnicodeError) as error:
        raise StatementError(MALFORMED.format(detail=str(error)[:200] or type(error).__name__)) from None
    if root is None:
        raise StatementError(MALFORMED.format(detail="no root element"))
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise StatementError(DOCTYPE)
    return root


def parse_statement(data: bytes) -> Statement:
    """A camt.053 / camt.054 statement, or a pain.002 status report (payouts.banking.pain002), told apart by the
    document's namespace: the bank's files come back through one upload."""
    from payouts.banking import pain002

    root = read_document(data)
    qname = etree.QName(root) if isinstance(root.tag, str) else None
    if qname is not None and pain002.NAMESPACE.fullmatch(qname.namespace or "") and qname.localname == "Document":
        return pain002.read_status_report(root, qname.namespace or "")
    match = NAMESPACE.fullmatch(qname.namespace or "") if qname else None
    if qname is None or match is None or qname.localname != "Document":
        raise StatementError(WRONG_ROOT.format(root=str(root.tag)[:120]))
    kind = match.group(1)
    reader = _Reader(qname.namespace or "")
    body_name, report_name = BODIES[kind]
    body = reader.find(root, body_name)
    if body is None:
        raise StatementError(NO_BODY.format(kind=kind, element=body_name))
    reports = reader.findall(body, report_name)
    if not reports:
        raise StatementError(NO_BODY.format(kind=kind, element=report_name))
    message_id = reader.text(body, "GrpHdr/MsgId")
    report_ids = [reader.text(report, "Id") for report in reports]
    if not message_id and not any(report_ids):
        raise StatementError(f"The {kind} file has neither GrpHdr/MsgId nor {report_name}/Id to identify it.")
    entries: list[StatementEntry] = []
    transactions = 0  # every transaction of the file, listed or not: positions are where a person finds it
    for report in reports:
        for entry in reader.findall(report, "Ntry"):
            entries.extend(_entry(reader, entry, first_position=transactions + 1))
            transactions += max(1, len(reader.findall(entry, "NtryDtls/TxDtls")))
            if transactions > MAX_TRANSACTIONS:
                raise StatementError(TOO_MANY.format(limit=MAX_TRANSACTIONS))
    return Statement(identifier=f"{message_id}/{','.join(report_ids)}"[:500], kind=kind, entries=entries)


def parse_amount(text: str, currency: str, *, position: int, field: str) -> int:
    """Strict minor units: digits with at most the currency's decimals; no sign, exponent or spaces."""
    try:
        places = exponent(currency)
    except UnknownCurrency:
        raise StatementError(FIELD.format(position=position, field=f"{field}'s currency",
                                          problem=f"{currency[:10]!r} is not an ISO 4217 code.")) from None
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise StatementError(FIELD.format(position=position, field=field,
                                          problem=f"{text[:40]!r} is not an amount (digits, a point, no sign)."))
    fraction = match.group(1) or ""
    if len(fraction) > places:
        raise StatementError(FIELD.format(position=position, field=field,
                                          problem=f"{text!r} has {len(fraction)} decimals; {currency} has {places}."))
    whole = text.split(".")[0]
    minor = int(whole) * 10**places + int(fraction.ljust(places, "0") or "0")
    if minor <= 0:
        raise StatementError(FIELD.format(position=position, field=field, problem="is zero."))
    return minor


def _amount(reader: _Reader, element: Any, *, position: int, field: str) -> tuple[int, str]:
    amount = reader.find(element, field)
    if amount is None:
        raise StatementError(FIELD.format(position=position, field=field, problem="is missing."))
    currency = (amount.get("Ccy") or "").strip()
    return parse_amount((amount.text or "").strip(), currency, position=position, field=field), currency


def _bank_code(reader: _Reader, element: Any) -> tuple[str, str, str]:
    return (reader.text(element, "BkTxCd/Domn/Cd"), reader.text(element, "BkTxCd/Domn/Fmly/Cd"),
            reader.text(element, "BkTxCd/Domn/Fmly/SubFmlyCd"))


def _booking_date(reader: _Reader, entry: Any, position: int) -> date | None:
    text = reader.text(entry, "BookgDt/Dt") or reader.text(entry, "BookgDt/DtTm")[:10]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StatementError(FIELD.format(position=position, field="BookgDt",
                                          problem=f"{text[:30]!r} is not a date.")) from None


def _entry(reader: _Reader, entry: Any, *, first_position: int) -> list[StatementEntry]:
    status = reader.text(entry, "Sts/Cd") or reader.text(entry, "Sts")  # a code element from version .06 on
    if status != "BOOK":
        return []
    indicator = reader.text(entry, "CdtDbtInd")
    if indicator not in ("DBIT", "CRDT"):
        raise StatementError(FIELD.format(position=first_position, field="CdtDbtInd",
                                          problem=f"is {indicator[:10]!r}, not DBIT or CRDT."))
    booking_date = _booking_date(reader, entry, first_position)
    entry_reference = reader.text(entry, "AcctSvcrRef") or reader.text(entry, "NtryRef")
    entry_amount, entry_currency = _amount(reader, entry, position=first_position, field="Amt")  # strict, always
    details = reader.findall(entry, "NtryDtls/TxDtls")
    if not details:
        if indicator == "DBIT" or _bank_code(reader, entry) in RETURN_CODES:
            return [StatementEntry(end_to_end_id=None, amount_minor=entry_amount, currency=entry_currency,
                                   outcome="paid" if indicator == "DBIT" else "returned",
                                   reference=entry_reference, booking_date=booking_date, position=first_position)]
        return []
    found = []
    for offset, transaction in enumerate(details):
        position = first_position + offset
        if reader.find(transaction, "Amt") is not None:
            amount, currency = _amount(reader, transaction, position=position, field="Amt")
        elif reader.find(transaction, "AmtDtls/TxAmt/Amt") is not None:  # version .02
            amount, currency = _amount(reader, transaction, position=position, field="AmtDtls/TxAmt/Amt")
        elif len(details) == 1:
            amount, currency = _amount(reader, entry, position=position, field="Amt")
        else:
            raise StatementError(FIELD.format(position=position, field="TxDtls/Amt",
                                              problem="is missing in an entry of several transactions."))
        direction = reader.text(transaction, "CdtDbtInd") or indicator
        return_information = reader.find(transaction, "RtrInf")
        is_return = return_information is not None or (direction == "CRDT" and (
            _bank_code(reader, transaction) in RETURN_CODES or _bank_code(reader, entry) in RETURN_CODES))
        if not is_return and direction != "DBIT":
            continue
        end_to_end_id = reader.text(transaction, "Refs/EndToEndId")
        if return_information is not None:
            end_to_end_id = reader.text(return_information, "OrgnlEndToEndId") or end_to_end_id
        reference = reader.text(transaction, "Refs/AcctSvcrRef") or entry_reference
        if len(details) > 1 and not reader.text(transaction, "Refs/AcctSvcrRef"):
            reference = f"{entry_reference}/{offset + 1}"
        found.append(StatementEntry(
            end_to_end_id=None if end_to_end_id in ("", "NOTPROVIDED") else end_to_end_id[:35],
            amount_minor=amount, currency=currency, outcome="returned" if is_return else "paid",
            reason_code=reader.text(return_information, "Rsn/Cd")[:4] if is_return else "",
            reference=reference[:200], booking_date=booking_date, position=position))
    return found
