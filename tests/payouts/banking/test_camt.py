"""Reading the bank's camt.053 / camt.054: paid, returned, unknown; strict amounts; hostile files refused."""

import contextlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payouts.banking import StatementEntry, StatementError, parse_statement
from payouts.banking.camt import parse_amount
from payouts.banking.camt_build import build_camt053

DATA = Path(__file__).parent / "data"
SAMPLE_053 = (DATA / "camt053-paid-return-unknown.xml").read_bytes()
SAMPLE_054 = (DATA / "camt054-return-ac04.xml").read_bytes()


def test_the_sample_statement_gives_one_paid_one_returned_and_one_unknown():
    statement = parse_statement(SAMPLE_053)

    assert statement.kind == "camt.053"
    assert statement.identifier == "STMT-20261204-0001/20261204-DE89370400440532013000"
    assert [(e.end_to_end_id, e.amount_minor, e.currency, e.outcome, e.reason_code, e.position)
            for e in statement.entries] == [
        ("SAMPLE-B1-P0001", 12_500, "EUR", "paid", "", 1),
        ("SAMPLE-B1-P0002", 8_000, "EUR", "returned", "AC04", 2),
        ("UNKNOWN-4711", 30_000, "EUR", "paid", "", 3)]
    assert statement.entries[0].reference == "COBA-20261204-000001"
    assert statement.entries[0].booking_date == date(2026, 12, 4)


def test_the_same_file_gives_the_same_identifier():
    assert parse_statement(SAMPLE_053).identifier == parse_statement(bytes(SAMPLE_053)).identifier


def test_a_camt054_return_takes_the_original_id_from_the_return_information():
    statement = parse_statement(SAMPLE_054)

    assert statement.kind == "camt.054"
    [entry] = statement.entries
    assert (entry.end_to_end_id, entry.outcome, entry.reason_code, entry.amount_minor) == (
        "SAMPLE-B1-P0002", "returned", "AC04", 8_000)
    assert entry.booking_date == date(2026, 12, 5)


def test_an_original_id_inside_the_return_information_is_read_too():
    """Outside the schema, some banks put the original id in RtrInf/OrgnlEndToEndId beside NOTPROVIDED in Refs."""
    variant = SAMPLE_054.replace(b"<EndToEndId>SAMPLE-B1-P0002</EndToEndId>", b"<EndToEndId>NOTPROVIDED</EndToEndId>")
    variant = variant.replace(b"<RtrInf>", b"<RtrInf><OrgnlEndToEndId>SAMPLE-B1-P0007</OrgnlEndToEndId>")
    [entry] = parse_statement(variant).entries
    assert (entry.end_to_end_id, entry.outcome, entry.reason_code) == ("SAMPLE-B1-P0007", "returned", "AC04")


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_built_statements_round_trip_in_each_version(version):
    entries = [StatementEntry("B1-P1", 12_345, "EUR", "paid", reference="R1", booking_date=date(2026, 12, 4)),
               StatementEntry("B1-P2", 500, "EUR", "returned", reason_code="AC04", reference="R2",
                              booking_date=date(2026, 12, 4)),
               StatementEntry(None, 99, "EUR", "paid", reference="R3", booking_date=date(2026, 12, 4))]

    statement = parse_statement(build_camt053(entries, "S-1", version=version))

    assert statement.entries == [
        StatementEntry(e.end_to_end_id, e.amount_minor, e.currency, e.outcome, e.reason_code, e.reference,
                       e.booking_date, position) for position, e in enumerate(entries, start=1)]


def test_pending_entries_and_ordinary_credits_are_left_out():
    booked = build_camt053([StatementEntry("B1-P1", 100, "EUR", "paid")], "S-2").decode()
    pending = booked.replace("<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>")
    credit = booked.replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>CRDT</CdtDbtInd>")

    assert parse_statement(pending.encode()).entries == []
    assert parse_statement(credit.encode()).entries == []


def test_a_credit_with_return_bank_code_rcdt_rrtn_is_a_return_without_rtrinf():
    text = build_camt053([StatementEntry("B1-P1", 100, "EUR", "returned", reason_code="AC04")], "S-3").decode()
    text = text.replace("<Cd>ICDT</Cd>", "<Cd>RCDT</Cd>")
    text = text[:text.index("<RtrInf>")] + text[text.index("</RtrInf>") + len("</RtrInf>"):]

    [entry] = parse_statement(text.encode()).entries

    assert (entry.outcome, entry.end_to_end_id, entry.reason_code) == ("returned", "B1-P1", "")


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("125.00", "EUR", 12_500), ("125", "EUR", 12_500), ("0.5", "EUR", 50), ("1000", "JPY", 1000),
    ("1.250", "BHD", 1250)])
def test_amounts_are_read_exactly_into_minor_units(text, currency, minor):
    assert parse_amount(text, currency, position=1, field="Amt") == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("1.001", "EUR", "has 3 decimals; EUR has 2"), ("10.5", "JPY", "has 1 decimals; JPY has 0"),
    ("-5.00", "EUR", "is not an amount"), ("1e3", "EUR", "is not an amount"), ("1,00", "EUR", "is not an amount"),
    ("0.00", "EUR", "is zero"), (" ", "EUR", "is not an amount"), ("5.00", "XXQ", "is not an ISO 4217 code")])
def test_a_bad_amount_is_refused_naming_the_entry(text, currency, message):
    entry = StatementEntry("B1-P1", 100, "EUR", "paid")
    document = build_camt053([entry, entry], "S-4").decode().replace(">1.00<", f">{text}<", 4)
    document = document.replace('Ccy="EUR">', f'Ccy="{currency}">')

    with pytest.raises(StatementError, match=message) as refused:
        parse_statement(document.encode())
    assert str(refused.value).startswith("Entry 1: ")


def test_an_oversize_file_is_refused_before_it_is_parsed(settings):
    settings.BANK_STATEMENT_MAX_BYTES = 1000

    with pytest.raises(StatementError, match="at most 1,000 are read"):
        parse_statement(SAMPLE_053)


def test_too_many_transactions_are_refused(monkeypatch):
    monkeypatch.setattr("payouts.banking.camt.MAX_TRANSACTIONS", 2)

    with pytest.raises(StatementError, match="more than 2 transactions"):
        parse_statement(SAMPLE_053)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol2;</Document>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>"""


@pytest.mark.parametrize(("data", "message"), [
    (BILLION_LAUGHS, "DOCTYPE"), (EXTERNAL_ENTITY, "DOCTYPE"),
    ("<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE x><x/>".encode("utf-16"), "DOCTYPE"),
    (b"", "empty"), (b"not xml at all", "not well-formed"), (b"<Document>", "not well-formed"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', "not a camt.053 or camt.054"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>', "no BkToCstmrStmt"),
    (b'<Other xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>', "not a camt.053"),
    (SAMPLE_053.replace(b"<Sts>BOOK</Sts>", b"<Sts>BOOK</Sts><CdtDbtInd>X</CdtDbtInd>", 1)
     .replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"", 1), "Entry 1: CdtDbtInd"),
    (SAMPLE_053.replace(b"<Dt>2026-12-04</Dt></BookgDt>", b"<Dt>2026-13-04</Dt></BookgDt>", 1),
     "Entry 1: BookgDt"),
])
def test_hostile_or_malformed_files_are_refused_with_a_sentence(data, message):
    with pytest.raises(StatementError, match=message):
        parse_statement(data)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_raise_nothing_but_statement_error(data):
    with contextlib.suppress(StatementError):
        parse_statement(data)


@hypothesis_settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(SAMPLE_053)), length=st.integers(0, 50),
       insert=st.binary(max_size=30))
def test_mangled_statements_raise_nothing_but_statement_error(position, length, insert):
    data = SAMPLE_053[:position] + insert + SAMPLE_053[position + length:]
    try:
        statement = parse_statement(data)
    except StatementError:
        return
    assert all(entry.amount_minor > 0 for entry in statement.entries)
