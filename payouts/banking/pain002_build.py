"""build_pain002: a pain.002.001.03 status report on one of our pain.001 messages, as a bank would send it. In real
life the bank produces it; this exists for the tests, the demo and the browser journey, so that they can make a
report for their own end-to-end ids (RJCT with a reason code, ACCP/ACSC accepted, PDNG pending)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from lxml import etree

from core.money import exponent

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"


@dataclass(frozen=True)
class TransactionStatus:
    end_to_end_id: str
    status: str  # "RJCT", "ACCP", "ACSC", "PDNG", ... ("" gives no TxSts element)
    reason_code: str = ""
    amount_minor: int | None = None  # repeated in OrgnlTxRef/Amt/InstdAmt when given
    currency: str = "EUR"
    words: str = ""  # StsRsnInf/AddtlInf


def _amount(amount_minor: int, currency: str) -> str:
    places = exponent(currency)
    whole, fraction = divmod(amount_minor, 10**places)
    return f"{whole}.{fraction:0{places}d}" if places else str(whole)


def build_pain002(message_id: str, original_message_id: str, transactions: list[TransactionStatus], *,
                  group_status: str = "PART", group_reason: str = "", block_status: str = "") -> bytes:
    """A pain.002.001.03 document (GrpHdr/MsgId ``message_id``) answering our pain.001 ``original_message_id``:
    the group status (``group_status``, "" for none, with ``group_reason``), one OrgnlPmtInfAndSts (its PmtInfSts
    ``block_status``) holding one TxInfAndSts per transaction."""
    def sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}", attributes)
        element.text = text
        return element

    def reason(parent: etree._Element, code: str, words: str) -> None:
        if code or words:
            information = sub(parent, "StsRsnInf")
            if code:
                sub(sub(information, "Rsn"), "Cd", code)
            if words:
                sub(information, "AddtlInf", words)

    document = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    body = sub(document, "CstmrPmtStsRpt")
    header = sub(body, "GrpHdr")
    sub(header, "MsgId", message_id)
    sub(header, "CreDtTm", timezone.now().replace(microsecond=0).isoformat())
    group = sub(body, "OrgnlGrpInfAndSts")
    sub(group, "OrgnlMsgId", original_message_id)
    sub(group, "OrgnlMsgNmId", "pain.001.001.03")
    if group_status:
        sub(group, "GrpSts", group_status)
    reason(group, group_reason, "")
    block = sub(body, "OrgnlPmtInfAndSts")
    sub(block, "OrgnlPmtInfId", original_message_id)
    if block_status:
        sub(block, "PmtInfSts", block_status)
    for number, transaction in enumerate(transactions, start=1):
        element = sub(block, "TxInfAndSts")
        sub(element, "StsId", f"{message_id}-{number}")
        sub(element, "OrgnlEndToEndId", transaction.end_to_end_id)
        if transaction.status:
            sub(element, "TxSts", transaction.status)
        reason(element, transaction.reason_code, transaction.words)
        if transaction.amount_minor is not None:
            sub(sub(sub(element, "OrgnlTxRef"), "Amt"), "InstdAmt",
                _amount(transaction.amount_minor, transaction.currency), Ccy=transaction.currency)
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
