"""TEMPORARY STAND-IN (see the package docstring): a CSV writer for every rail and a tiny camt.053/054 reader."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from django.conf import settings
from lxml import etree  # type: ignore[import-untyped]

from core.money import parse_money, to_major
from payouts.banking.contract import (
    BankFileError,
    Originator,
    PaymentInstruction,
    Statement,
    StatementEntry,
    StatementError,
    WrittenFile,
)

END_TO_END_ID = re.compile(r"[A-Za-z0-9-]{1,35}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def write_payment_files(*, rail: str, instructions: Iterable[PaymentInstruction], batch_reference: str,
                        execution_date: date, directory: Path, originator: Originator,
                        max_per_file: int | None = None) -> list[WrittenFile]:
    limit: int = max_per_file or int(getattr(settings, "PAYMENT_FILE_MAX_PAYMENTS", 100_000))
    directory.mkdir(parents=True, exist_ok=True)
    written: list[WrittenFile] = []
    handle = writer = None
    count = total = 0
    path = Path()

    def close() -> None:
        nonlocal handle
        if handle is not None:
            handle.close()
            written.append(WrittenFile(name=path.name, path=path, payments=count, control_total_minor=total,
                                       sha256=_sha256(path)))
            handle = None

    for instruction in instructions:
        if not END_TO_END_ID.fullmatch(instruction.end_to_end_id or ""):
            raise BankFileError(f"Payment {instruction.end_to_end_id!r}: end_to_end_id is not valid.")
        if instruction.amount_minor <= 0:
            raise BankFileError(f"Payment {instruction.end_to_end_id}: amount_minor must be above 0.")
        if handle is None or count >= limit:
            close()
            path = directory / f"{batch_reference}-{rail}-{len(written) + 1:03d}.csv"
            handle = path.open("w", newline="", encoding="utf-8")
            writer = csv.writer(handle)
            writer.writerow(["end_to_end_id", "amount", "currency", "name", "iban", "bic", "routing_number",
                             "account_number", "remittance", "execution_date", "originator"])
            count = total = 0
        assert writer is not None
        writer.writerow([instruction.end_to_end_id, str(to_major(instruction.amount_minor, instruction.currency)),
                         instruction.currency, instruction.name, instruction.iban or "", instruction.bic or "",
                         instruction.routing_number or "", instruction.account_number or "", instruction.remittance,
                         execution_date.isoformat(), originator.name])
        count += 1
        total += instruction.amount_minor
    close()
    return written


def _text(node, path: str, ns: dict) -> str:
    found = node.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def parse_statement(data: bytes) -> Statement:
    if len(data) > getattr(settings, "BANK_STATEMENT_MAX_BYTES", 20 * 1024 * 1024):
        raise StatementError("The statement is larger than the bank statement size limit.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"The statement is not well-formed XML ({exc}).") from None
    namespace = etree.QName(root).namespace or ""
    ns = {"c": namespace}
    kind = "camt.054" if ".054." in namespace else "camt.053"
    container = root.find(".//c:Stmt", ns) if kind == "camt.053" else root.find(".//c:Ntfctn", ns)
    if container is None:
        raise StatementError("The statement has no Stmt or Ntfctn element.")
    identifier = f"{_text(root, './/c:GrpHdr/c:MsgId', ns)}/{_text(container, 'c:Id', ns)}"
    entries: list[StatementEntry] = []
    for position, entry in enumerate(container.findall("c:Ntry", ns), start=1):
        amount_node = entry.find("c:Amt", ns)
        currency = amount_node.get("Ccy", "") if amount_node is not None else ""
        try:
            amount = parse_money((amount_node.text or "").strip(), currency)
        except Exception:  # noqa: BLE001 - any unreadable amount is the entry's error
            raise StatementError(f"Entry {position}: Amt is not an amount in {currency or 'a currency'}.") from None
        credit_debit = _text(entry, "c:CdtDbtInd", ns)
        booked = _text(entry, "c:BookgDt/c:Dt", ns)
        entries.append(StatementEntry(
            end_to_end_id=_text(entry, ".//c:Refs/c:EndToEndId", ns) or None, amount_minor=amount,
            currency=currency, outcome="returned" if credit_debit == "CRDT" else "paid",
            reason_code=_text(entry, ".//c:RtrInf/c:Rsn/c:Cd", ns), reference=_text(entry, "c:AcctSvcrRef", ns),
            booking_date=date.fromisoformat(booked) if booked else None, position=position))
    return Statement(identifier=identifier, kind=kind, entries=entries)
