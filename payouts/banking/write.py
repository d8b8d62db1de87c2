"""write_payment_files: a batch's payments as bank files of at most PAYMENT_FILE_MAX_PAYMENTS each.

The instructions are read lazily, one file's worth at a time: each file's header carries its own count and
control total, which needs that file's payments first, so memory holds one file's instructions and never the
batch. Every instruction is checked before anything of its file is written; a bad one raises BankFileError naming
its end_to_end_id and field, and the files of that call are removed (a batch goes to the bank whole or not at
all). Each file is written to a temporary name and renamed, so a crash never leaves half a file under its name."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from django.conf import settings

from payouts.banking import csvfile, nacha, sepa
from payouts.banking.instructions import BankFileError, Originator, PaymentInstruction, WrittenFile
from payouts.banking.text import sepa_text

RAILS = ("sepa", "ach", "other")
EXTENSIONS = {"sepa": "xml", "ach": "ach", "other": "csv"}
UNKNOWN_RAIL = "Rail {rail!r} has no bank file; use one of sepa, ach, other."
BAD_MAX = "max_per_file must be a whole number of at least 1; it is {value!r}."
DUPLICATE_ID = "Payment {end_to_end_id}: end_to_end_id appears twice in one file; each payment needs its own."
BAD_REFERENCE = "The batch reference {value!r} must hold letters or digits; it names the files."
NACHA_MODIFIERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOO_MANY_ACH_FILES = ("A NACHA originator can send at most {limit} files a day (file ID modifiers A-Z, 0-9) and "
                      "{today} were written today: release this batch tomorrow, or set PAYMENT_FILE_MAX_PAYMENTS "
                      "higher so it needs fewer files.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_payment_files(*, rail: str, instructions: Iterable[PaymentInstruction], batch_reference: str,
                        execution_date: date, directory: Path, originator: Originator,
                        max_per_file: int | None = None, validate: bool | str = False,
                        ach_files_today: int = 0) -> list[WrittenFile]:
    """Files named "<batch_reference>-<rail>-001.<ext>", ... in `directory`, in the order of `instructions`.
    `validate`: also check each SEPA file against the ISO schema (True or "all"; the tests always do, see
    sepa.schema_errors), or only the first file ("first": every file is written by the same template from checked
    values, so the first one shows the structure the bank will read), or none (False).
    `ach_files_today`: NACHA files already written today for this originator; the file ID modifiers go on from there
    (A-Z then 0-9: a bank refuses a second file of the same day with the same modifier)."""
    if rail not in RAILS:
        raise BankFileError(UNKNOWN_RAIL.format(rail=rail))
    limit = settings.PAYMENT_FILE_MAX_PAYMENTS if max_per_file is None else max_per_file
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise BankFileError(BAD_MAX.format(value=limit))
    reference = sepa_text(batch_reference, 30).replace(" ", "-").replace("/", "-")
    if not any(char.isalnum() for char in reference):
        raise BankFileError(BAD_REFERENCE.format(value=batch_reference))
    check: Callable[[PaymentInstruction], None] = {"sepa": sepa.check, "ach": nacha.check,
                                                   "other": csvfile.check}[rail]
    if rail == "sepa":
        sepa.check_originator(originator)
    elif rail == "ach":
        nacha.check_originator(originator)
    if rail == "ach" and 2 * limit > 999_999:  # an entry and its addenda in the batch control's 6-digit count
        raise BankFileError(BAD_MAX.format(value=limit) + " A NACHA file holds fewer than 500,000 payments.")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[WrittenFile] = []
    iterator = iter(instructions)
    try:
        for number in itertools.count(1):
            chunk = list(itertools.islice(iterator, limit))
            if not chunk:
                break
            # A repeated id would pay twice. Checked within each file, so memory stays one file's: across a batch
            # the ids come from the batches' unique payments (a database constraint), not from here.
            seen: set[str] = set()
            for instruction in chunk:
                check(instruction)
                if instruction.end_to_end_id in seen:
                    raise BankFileError(DUPLICATE_ID.format(end_to_end_id=instruction.end_to_end_id))
                seen.add(instruction.end_to_end_id)
            modifier = ""
            if rail == "ach":
                if ach_files_today + number > len(NACHA_MODIFIERS):
                    raise BankFileError(TOO_MANY_ACH_FILES.format(limit=len(NACHA_MODIFIERS), today=ach_files_today))
                modifier = NACHA_MODIFIERS[ach_files_today + number - 1]
            written.append(_write_one(rail, chunk, number=number, reference=reference, directory=directory,
                                      execution_date=execution_date, originator=originator,
                                      validate=validate in (True, "all") or (validate == "first" and number == 1),
                                      modifier=modifier))
    except BaseException:
        for file in written:
            file.path.unlink(missing_ok=True)
        raise
    return written


def _write_one(rail: str, chunk: list[PaymentInstruction], *, number: int, reference: str, directory: Path,
               execution_date: date, originator: Originator, validate: bool, modifier: str) -> WrittenFile:
    name = f"{reference}-{rail}-{number:03d}.{EXTENSIONS[rail]}"
    path = directory / name
    temporary = directory / f".{name}.partial"
    try:
        if rail == "sepa":
            with temporary.open("w", encoding="utf-8", newline="\n") as handle:
                sepa.write(handle, chunk, message_id=f"{reference}-{number:03d}", execution_date=execution_date,
                           originator=originator)
            errors = sepa.schema_errors(temporary) if validate else []
            if errors:
                raise BankFileError(f"The SEPA file {name} does not validate against {sepa.SCHEMA}: {errors[0]}")
        elif rail == "ach":
            with temporary.open("w", encoding="ascii", newline="\n") as handle:
                nacha.write(handle, chunk, file_id_modifier=modifier,
                            execution_date=execution_date, originator=originator)
        else:
            with temporary.open("w", encoding=csvfile.ENCODING, newline="") as handle:
                csvfile.write(handle, chunk)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return WrittenFile(name=name, path=path, payments=len(chunk),
                       control_total_minor=sum(payment.amount_minor for payment in chunk), sha256=_sha256(path))
