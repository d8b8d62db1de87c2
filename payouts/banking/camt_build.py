"""build_camt053: a camt.053 statement for given entries, as a bank would send it. In real life the bank produces
statements; this exists for the tests, the demo and the browser journey, so that they can make a statement
for their own end-to-end ids (paid: a booked debit; returned: a booked return credit with its reason code).

`version` "02" (still the most common) or "08" (where Sts became a code element)."""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from lxml import etree

from core.money import exponent
from payouts.banking.instructions import StatementEntry

ACCOUNT_IBAN = "DE89370400440532013000"


def _amount(entry: StatementEntry) -> str:
    places = exponent(entry.currency)
    whole, fraction = divmod(entry.amount_minor, 10**places)
    return f"{whole}.{fraction:0{places}d}" if places else str(whole)


def build_camt053(entries: list[StatementEntry], identifier: str, *, version: str = "02",
                  statement_date: date | None = None) -> bytes:
    """A camt.053.001.<version> document with one statement (Id `identifier`, GrpHdr/MsgId "MSG-<identifier>")
    holding one booked entry per StatementEntry. Entries with end_to_end_id None carry no EndToEndId."""
    namespace = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    day = statement_date or timezone.localdate()

    def sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{namespace}}}{name}", attributes)
        element.text = text
        return element

    document = etree.Element(f"{{{namespace}}}Document", nsmap={None: namespace})
    body = sub(document, "BkToCstmrStmt")
    header = sub(body, "GrpHdr")
    sub(header, "MsgId", f"MSG-{identifier}")
    sub(header, "CreDtTm", f"{day.isoformat()}T18:00:00")
    statement = sub(body, "Stmt")
    sub(statement, "Id", identifier)
    sub(statement, "CreDtTm", f"{day.isoformat()}T18:00:00")
    sub(sub(sub(statement, "Acct"), "Id"), "IBAN", ACCOUNT_IBAN)
    balance = sub(statement, "Bal")  # the schema requires one; a bank sends opening and closing balances
    sub(sub(sub(balance, "Tp"), "CdOrPrtry"), "Cd", "CLBD")
    sub(balance, "Amt", "0.00", Ccy=entries[0].currency if entries else "EUR")
    sub(balance, "CdtDbtInd", "CRDT")
    sub(sub(balance, "Dt"), "Dt", day.isoformat())
    for number, entry in enumerate(entries, start=1):
        returned = entry.outcome == "returned"
        element = sub(statement, "Ntry")
        reference = entry.reference or f"{identifier}-{number}"
        sub(element, "NtryRef", reference)
        sub(element, "Amt", _amount(entry), Ccy=entry.currency)
        sub(element, "CdtDbtInd", "CRDT" if returned else "DBIT")
        if version >= "06":
            sub(sub(element, "Sts"), "Cd", "BOOK")
        else:
            sub(element, "Sts", "BOOK")
        booked = (entry.booking_date or day).isoformat()
        sub(sub(element, "BookgDt"), "Dt", booked)
        sub(sub(element, "ValDt"), "Dt", booked)
        sub(element, "AcctSvcrRef", reference)
        domain = sub(sub(element, "BkTxCd"), "Domn")
        sub(domain, "Cd", "PMNT")
        family = sub(domain, "Fmly")
        sub(family, "Cd", "ICDT")
        sub(family, "SubFmlyCd", "RRTN" if returned else "ESCT")
        transaction = sub(sub(element, "NtryDtls"), "TxDtls")
        references = sub(transaction, "Refs")
        sub(references, "AcctSvcrRef", reference)
        if entry.end_to_end_id is not None:
            sub(references, "EndToEndId", entry.end_to_end_id)
        if version >= "03":
            sub(transaction, "Amt", _amount(entry), Ccy=entry.currency)
            sub(transaction, "CdtDbtInd", "CRDT" if returned else "DBIT")
        else:
            sub(sub(sub(transaction, "AmtDtls"), "TxAmt"), "Amt", _amount(entry), Ccy=entry.currency)
        if returned:
            information = sub(transaction, "RtrInf")
            sub(sub(information, "Rsn"), "Cd", entry.reason_code or "NARR")
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
