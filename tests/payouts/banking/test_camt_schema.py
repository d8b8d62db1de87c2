"""The statements the tests read are valid camt: the sample files and build_camt053's output (paid, returned, an entry
without an end-to-end id; versions .02 and .08) validate against the ISO 20022 XSDs they declare (data/schemas)."""

from datetime import date
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from payouts.banking import StatementEntry, parse_statement
from payouts.banking.camt_build import build_camt053

DATA = Path(__file__).parent / "data"
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"


@cache
def schema(message: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DATA / "schemas" / f"{message}.xsd")))


def schema_errors(document: bytes) -> list[str]:
    root = etree.fromstring(document)
    checker = schema(etree.QName(root).namespace.removeprefix(NAMESPACE_PREFIX))
    return [] if checker.validate(root) else [f"line {e.line}: {e.message}" for e in checker.error_log]


@pytest.mark.parametrize("name", ["camt053-paid-return-unknown.xml", "camt054-return-ac04.xml"])
def test_the_sample_files_are_schema_valid(name):
    assert schema_errors((DATA / name).read_bytes()) == []


@pytest.mark.parametrize("version", ["02", "08"])
def test_built_statements_are_schema_valid_and_read_back(version):
    entries = [StatementEntry(end_to_end_id="B7-P0001", amount_minor=12_345, currency="EUR", outcome="paid",
                              reference="R1", booking_date=date(2026, 11, 2), position=1),
               StatementEntry(end_to_end_id="B7-P0002", amount_minor=500, currency="EUR", outcome="returned",
                              reason_code="AC04", reference="R2", booking_date=date(2026, 11, 3), position=2),
               StatementEntry(end_to_end_id=None, amount_minor=1, currency="EUR", outcome="paid", reference="R3",
                              position=3)]
    document = build_camt053(entries, "STMT-7", version=version, statement_date=date(2026, 11, 4))
    assert schema_errors(document) == []
    read = parse_statement(document)
    assert [(e.end_to_end_id, e.amount_minor, e.outcome, e.reason_code) for e in read.entries] == [
        ("B7-P0001", 12_345, "paid", ""), ("B7-P0002", 500, "returned", "AC04"), (None, 1, "paid", "")]


def test_the_check_finds_a_schema_error():
    document = build_camt053([], "STMT-8").replace(b"<Bal>", b"<Bal><Nonsense/>")
    assert any("Nonsense" in error for error in schema_errors(document))
