"""Reads a NACHA file of credits back (the layout payouts.banking.nacha writes): the payments, each batch's and the
file's control totals, checked against the entries. Used by the round-trip test and to inspect a file a bank
returns; a record that breaks the layout raises BankFileError naming its line."""

from __future__ import annotations

from dataclasses import dataclass, field

from payouts.banking.instructions import BankFileError, PaymentInstruction
from payouts.banking.nacha import BLOCKING_FACTOR, RECORD, SEC_ORGANISATIONS, SEC_PEOPLE


@dataclass(frozen=True)
class NachaFile:
    payments: list[PaymentInstruction]
    total_credit_minor: int
    entry_hash: int
    batch_count: int
    block_count: int
    entry_and_addenda_count: int
    company_id: str = ""
    records: list[str] = field(default_factory=list, repr=False)


def _digits(line_number: int, record: str, start: int, end: int, what: str) -> int:
    text = record[start - 1:end]  # NACHA positions are 1-based and inclusive
    if not text.isdigit():
        raise BankFileError(f"Line {line_number}: {what} (positions {start}-{end}) is {text!r}, not digits.")
    return int(text)


def parse_nacha(text: str) -> NachaFile:
    lines = text.splitlines()
    if len(lines) % BLOCKING_FACTOR:
        raise BankFileError(f"The file has {len(lines)} records, not a multiple of the blocking factor 10.")
    payments: list[PaymentInstruction] = []
    pending: dict[str, str] | None = None
    batch_total = batch_hash = batch_count = 0
    file_control: dict[str, int] | None = None
    company_id = ""
    batches = 0
    code = ""
    for number, record in enumerate(lines, start=1):
        if len(record) != RECORD:
            raise BankFileError(f"Line {number} is {len(record)} characters long, not {RECORD}.")
        kind = record[0]
        if file_control is not None:
            if record != "9" * RECORD:
                raise BankFileError(f"Line {number} follows the file control but is not padding (all 9s).")
            continue
        if kind == "1" and number == 1:
            continue
        if kind == "5":
            batches += 1
            company_id = record[40:50].strip()
            code = record[50:53]
            if code not in (SEC_PEOPLE, SEC_ORGANISATIONS):
                raise BankFileError(f"Line {number}: standard entry class {code!r} is not {SEC_PEOPLE} or "
                                    f"{SEC_ORGANISATIONS}.")
            batch_total = batch_hash = batch_count = 0
        elif kind == "6":
            if record[1:3] != "22":
                raise BankFileError(f"Line {number}: transaction code {record[1:3]!r} is not 22 (checking credit).")
            amount = _digits(number, record, 30, 39, "the amount")
            pending = {"routing": record[3:12], "account": record[12:29].strip(), "name": record[54:76].strip(),
                       "individual": record[39:54].strip(), "amount": str(amount),
                       "organisation": "1" if code == SEC_ORGANISATIONS else ""}
            batch_total += amount
            batch_hash += int(record[3:11])
            batch_count += 1
            if record[78] == "0":
                payments.append(_payment(pending, ""))
                pending = None
        elif kind == "7":
            if pending is None:
                raise BankFileError(f"Line {number}: an addenda record without its entry.")
            batch_count += 1
            payments.append(_payment(pending, record[3:83].strip()))
            pending = None
        elif kind == "8":
            checks = {"entry/addenda count": (_digits(number, record, 5, 10, "the count"), batch_count),
                      "entry hash": (_digits(number, record, 11, 20, "the entry hash"), batch_hash % 10**10),
                      "total credit": (_digits(number, record, 33, 44, "the total credit"), batch_total)}
            for name, (stated, counted) in checks.items():
                if stated != counted:
                    raise BankFileError(f"Line {number}: the batch control's {name} is {stated}, the entries "
                                        f"give {counted}.")
        elif kind == "9":
            file_control = {"batches": _digits(number, record, 2, 7, "the batch count"),
                             "blocks": _digits(number, record, 8, 13, "the block count"),
                             "count": _digits(number, record, 14, 21, "the entry/addenda count"),
                             "hash": _digits(number, record, 22, 31, "the entry hash"),
                             "total": _digits(number, record, 44, 55, "the total credit")}
        else:
            raise BankFileError(f"Line {number}: record type {kind!r} is not expected here.")
    if file_control is None:
        raise BankFileError("The file has no file control record (type 9).")
    total = sum(payment.amount_minor for payment in payments)
    if file_control["total"] != total or file_control["blocks"] != len(lines) // BLOCKING_FACTOR:
        raise BankFileError("The file control's total or block count does not match the entries.")
    if file_control["batches"] != batches:
        raise BankFileError(f"The file control's batch count is {file_control['batches']}, the file has {batches}.")
    return NachaFile(payments=payments, total_credit_minor=file_control["total"], entry_hash=file_control["hash"],
                     batch_count=file_control["batches"], block_count=file_control["blocks"],
                     entry_and_addenda_count=file_control["count"], company_id=company_id, records=lines)


def _payment(entry: dict[str, str], information: str) -> PaymentInstruction:
    end_to_end_id, _, remittance = information.partition(" ")
    return PaymentInstruction(end_to_end_id=end_to_end_id or entry["individual"], amount_minor=int(entry["amount"]),
                              currency="USD", name=entry["name"], routing_number=entry["routing"],
                              account_number=entry["account"], remittance=remittance,
                              organisation=bool(entry["organisation"]))
