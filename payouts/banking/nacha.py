"""US ACH credits as a NACHA file, written against the published record layout (NACHA Operating Rules,
Appendix Three). No maintained Python library fits: carta-ach and ach were last released in 2019 and 2014,
ach-file is a 2023 beta, achkit a months-old 0.2; none streams a file of 100,000 entries.

A file: a file header (record type 1), then up to two batches: PPD credits to people, then CCD credits to companies
and institutions (the standard entry class the receiving bank applies its corporate rules by). A batch is a batch
header (5), its entries (6, transaction code 22: credit to a checking account) each with one addenda (7, type 05)
carrying the full end-to-end id and the remittance, and a batch control (8); a file control (9) ends the file.
Every record is 94 characters; the file is padded with records of 9s to a multiple of the blocking factor 10.
The entry hash is the sum of the receiving banks' 8-digit routing prefixes, its last 10 digits.
payouts.banking.nacha_parse reads the same layout back (the round-trip test)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import IO

from django.utils import timezone
from stdnum.us import rtn

from payouts.banking.instructions import BankFileError, Originator, PaymentInstruction, check_common, instruction_error
from payouts.banking.text import ach_remittance, ach_text

RECORD = 94
BLOCKING_FACTOR = 10
CREDIT_CHECKING = "22"
SERVICE_CLASS_CREDITS = "220"
SEC_PEOPLE = "PPD"  # prearranged payments and deposits: to people
SEC_ORGANISATIONS = "CCD"  # corporate credits: to companies and institutions (the same record layout)
ENTRY_DESCRIPTION = "PAYOUT"
MAX_ENTRY_MINOR = 99_999_999_99  # the entry's 10-digit amount field
MAX_FILE_MINOR = 9_999_999_999_99  # the controls' 12-digit total fields
_ACCOUNT = re.compile(r"[0-9A-Za-z-]{1,17}")
NO_ORIGINATOR = ("The originator's {field} is not set or not valid (setting PAYMENT_ORIGINATOR_{setting}); a NACHA "
                 "file needs it.")


@lru_cache(maxsize=65_536)  # a few thousand banks receive all the payments
def routing_is_valid(routing_number: str) -> bool:
    return rtn.is_valid(routing_number) and len(routing_number) == 9


def check_originator(originator: Originator) -> None:
    if not ach_text(originator.name, 16).strip():
        raise BankFileError(NO_ORIGINATOR.format(field="name", setting="NAME"))
    if not routing_is_valid(originator.ach_routing_number):
        raise BankFileError(NO_ORIGINATOR.format(field="routing number", setting="ACH_ROUTING"))
    if not originator.ach_company_id or len(originator.ach_company_id) > 10:
        raise BankFileError(NO_ORIGINATOR.format(field="company id (10 characters)", setting="ACH_COMPANY_ID"))


def check(instruction: PaymentInstruction) -> None:
    check_common(instruction, currency="USD")
    if instruction.amount_minor > MAX_ENTRY_MINOR:
        raise instruction_error(instruction, "amount_minor", f"is {instruction.amount_minor}; one ACH entry holds "
                                                             f"at most {MAX_ENTRY_MINOR} cents.")
    routing = instruction.routing_number or ""
    if not routing:
        raise instruction_error(instruction, "routing_number", "is missing; an ACH credit goes to a routing number.")
    if not routing_is_valid(routing):
        raise instruction_error(instruction, "routing_number", f"{routing!r} is not a valid ABA routing number "
                                                               f"(9 digits with its check digit).")
    if not _ACCOUNT.fullmatch(instruction.account_number or ""):
        raise instruction_error(instruction, "account_number", "is missing or not 1 to 17 letters and digits.")
    if not ach_text(instruction.name, 22).strip():
        raise instruction_error(instruction, "name", "has no character a NACHA file can carry.")


def _field(text: str, width: int) -> str:
    return text[:width].ljust(width)


def _number(value: int, width: int) -> str:
    return str(value).rjust(width, "0")


def write(handle: IO[str], payments: Sequence[PaymentInstruction], *, file_id_modifier: str,
          execution_date: date, originator: Originator) -> None:
    """One NACHA file of `payments` (already checked, at most MAX_FILE_MINOR in total) to `handle`: a PPD batch of
    the people's payments, then a CCD batch of the organisations', each in the order given."""
    total = sum(payment.amount_minor for payment in payments)
    if total > MAX_FILE_MINOR:
        raise BankFileError(f"The file's total {total} cents exceeds the {MAX_FILE_MINOR} a NACHA file can carry; "
                            f"set PAYMENT_FILE_MAX_PAYMENTS lower.")
    now = timezone.localtime()
    destination = originator.ach_immediate_destination or originator.ach_routing_number
    origin = originator.ach_immediate_origin or originator.ach_company_id
    handle.write(f"101{destination.rjust(10)}{origin.rjust(10)}{now:%y%m%d%H%M}{file_id_modifier}094{BLOCKING_FACTOR}1"
                 f"{_field('', 23)}{_field(ach_text(originator.name, 23), 23)}{_field('', 8)}\n")
    batches = [(code, group) for code, group in (
        (SEC_PEOPLE, [payment for payment in payments if not payment.organisation]),
        (SEC_ORGANISATIONS, [payment for payment in payments if payment.organisation])) if group]
    entry_hash = sequence = 0
    for batch_number, (code, group) in enumerate(batches, start=1):
        batch_hash = _write_batch(handle, group, code=code, batch_number=batch_number, first_sequence=sequence + 1,
                                  execution_date=execution_date, originator=originator)
        entry_hash += batch_hash
        sequence += len(group)
    count = 2 * len(payments)
    entry_hash %= 10**10
    lines = 2 + 2 * len(batches) + count
    blocks = -(-lines // BLOCKING_FACTOR)
    records = [f"9{_number(len(batches), 6)}{_number(blocks, 6)}{_number(count, 8)}{_number(entry_hash, 10)}"
               f"{_number(0, 12)}{_number(total, 12)}{_field('', 39)}"]
    records.extend(["9" * RECORD] * (blocks * BLOCKING_FACTOR - lines))
    handle.write("\n".join(records) + "\n")


def _write_batch(handle: IO[str], payments: Sequence[PaymentInstruction], *, code: str, batch_number: int,
                 first_sequence: int, execution_date: date, originator: Originator) -> int:
    """One batch (header, entries with their addenda, control); returns its entry hash (before the modulo)."""
    odfi = originator.ach_routing_number[:8]
    company = _field(originator.ach_company_id, 10)
    records = [f"5{SERVICE_CLASS_CREDITS}{_field(ach_text(originator.name, 16), 16)}{_field('', 20)}{company}{code}"
               f"{_field(ENTRY_DESCRIPTION, 10)}{execution_date:%y%m%d}{execution_date:%y%m%d}   1{odfi}"
               f"{batch_number:07d}"]
    entry_hash = 0
    for sequence, payment in enumerate(payments, start=first_sequence):
        routing = payment.routing_number or ""
        entry_hash += int(routing[:8])
        trace = f"{odfi}{sequence:07d}"
        records.append(
            f"6{CREDIT_CHECKING}{routing}{_field(payment.account_number or '', 17)}{_number(payment.amount_minor, 10)}"
            f"{_field(payment.end_to_end_id, 15)}{_field(ach_text(payment.name, 22), 22)}  1{trace}")
        # the id as it is (letters of both cases, digits, hyphens: what the statement brings back)
        information = f"{payment.end_to_end_id} {ach_remittance(payment.remittance, 80)}"[:80]
        records.append(f"705{_field(information, 80)}0001{sequence:07d}")
        if len(records) >= 2000:
            handle.write("\n".join(records) + "\n")
            records.clear()
    total = sum(payment.amount_minor for payment in payments)
    records.append(f"8{SERVICE_CLASS_CREDITS}{_number(2 * len(payments), 6)}{_number(entry_hash % 10**10, 10)}"
                   f"{_number(0, 12)}{_number(total, 12)}{company}{_field('', 19)}{_field('', 6)}{odfi}"
                   f"{batch_number:07d}")
    handle.write("\n".join(records) + "\n")
    return entry_hash
