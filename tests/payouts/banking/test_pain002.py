"""Reading pain.002 status reports strictly: the statuses it knows, amounts with their currency's decimals, the
report's identifier, and refusals that name the element (hostile input: the camt front end's bounds)."""

from __future__ import annotations

import re

import pytest

from payouts.banking import StatementError, parse_statement
from payouts.banking.pain002_build import TransactionStatus, build_pain002

T = TransactionStatus


def report(*transactions: TransactionStatus, **options) -> bytes:
    return build_pain002("PSR-9", "batch-7-001", list(transactions), **options)


def test_statuses_become_rejected_accepted_and_pending_entries():
    parsed = parse_statement(report(T("E1", "RJCT", "AC04", 12_50, "EUR", "Konto erloschen"), T("E2", "ACSC"),
                                    T("E3", "PDNG"), T("E4", "ACCP"), T("NOTPROVIDED", "RJCT", "MS03")))
    assert (parsed.kind, parsed.identifier) == ("pain.002", "pain.002 PSR-9")
    assert [(e.position, e.end_to_end_id, e.outcome, e.reason_code, e.amount_minor, e.currency)
            for e in parsed.entries] == [
        (1, "E1", "rejected", "AC04", 12_50, "EUR"), (2, "E2", "accepted", "", 0, ""), (3, "E3", "pending", "", 0, ""),
        (4, "E4", "accepted", "", 0, ""), (5, None, "rejected", "MS03", 0, "")]
    assert {e.original_message_id for e in parsed.entries} == {"batch-7-001"}
    assert "Konto erloschen" in parsed.entries[0].reference


def test_a_rejected_group_or_block_is_one_entry_for_a_person():
    parsed = parse_statement(report(T("E1", ""), T("E2", "RJCT", "AC01"), group_status="RJCT", group_reason="FF01",
                                    block_status="RJCT"))
    assert [(e.outcome, e.end_to_end_id, e.reason_code) for e in parsed.entries] == [
        ("review", None, "FF01"), ("review", None, ""), ("review", "E1", ""), ("rejected", "E2", "AC01")]


def test_a_transaction_without_status_under_an_accepted_group_is_accepted():
    [entry] = parse_statement(report(T("E1", ""), group_status="ACCP")).entries
    assert entry.outcome == "accepted"


def test_a_later_version_is_read():
    data = report(T("E1", "RJCT", "AC04")).replace(b"pain.002.001.03", b"pain.002.001.10")
    [entry] = parse_statement(data).entries
    assert (entry.outcome, entry.reason_code) == ("rejected", "AC04")


@pytest.mark.parametrize(("data", "message"), [
    (report(T("E1", "OKAY")), "Entry 1 (TxInfAndSts E1): TxSts 'OKAY' is not an ISO 20022 payment status"),
    (report(group_status="GOOD"), "OrgnlGrpInfAndSts: GrpSts 'GOOD' is not an ISO 20022 payment status"),
    (report(T("E1", "RJCT", "AC04", 12_50, "EUR")).replace(b'Ccy="EUR"', b'Ccy="JPY"'),
     "Entry 1: OrgnlTxRef/Amt/InstdAmt '12.50' has 2 decimals; JPY has 0"),
    (report(T("E1", "RJCT", "AC04", 12_50, "EUR")).replace(b'Ccy="EUR"', b'Ccy="XXY"'),
     "OrgnlTxRef/Amt/InstdAmt's currency 'XXY' is not an ISO 4217 code"),
    (report(T("E1", "RJCT", "AC04", 12_50, "EUR")).replace(b">12.50<", b">-12.50<"), "is not an amount"),
    (report(T("E1", "RJCT", "A"), ), "StsRsnInf/Rsn: 'A' is not a reason code"),
    (report().replace(b"<MsgId>PSR-9</MsgId>", b""), "has no GrpHdr/MsgId"),
    (report().replace(b"pain.001.001.03", b"pain.008.001.02"), "answers a pain.008.001.02 (OrgnlMsgNmId)"),
    (report().replace(b"pain.002.001.03", b"pain.002.001.02"), "nor a pain.002 status report"),
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>' + report().split(b"?>", 1)[1], "declares a DOCTYPE"),
    (report()[:-40], "not well-formed XML"),
])
def test_a_bad_report_is_refused_naming_the_element(data, message):
    with pytest.raises(StatementError, match=re.escape(message)):
        parse_statement(data)


def test_too_many_transactions_are_refused(monkeypatch):
    monkeypatch.setattr("payouts.banking.pain002.MAX_TRANSACTIONS", 2)
    with pytest.raises(StatementError, match="more than 2 transactions"):
        parse_statement(report(T("E1", "ACSC"), T("E2", "ACSC"), T("E3", "ACSC")))
