"""What the bank files are made of and what comes back (the contract with the payment batches): payment
instructions in, written files out; statements parsed into entries. Pure data and errors, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings

from core.money import MAX_MINOR, UnknownCurrency, exponent

END_TO_END_ID = re.compile(r"[A-Za-z0-9-]{1,35}")
REMITTANCE_MAX = 140

INSTRUCTION_FIELD = "Payment {end_to_end_id}: {field} {problem}"
BAD_END_TO_END_ID = ("A payment's end_to_end_id {value!r} is not 1 to 35 letters, digits or hyphens; the bank "
                     "returns it on the statement, so it must be exactly that.")


class BankFileError(ValueError):
    """A payment instruction cannot go into a bank file; the message names the payment and the field."""


class StatementError(ValueError):
    """A bank statement cannot be read; the message says where (the entry's position) and what is wrong."""


@dataclass(frozen=True)
class PaymentInstruction:
    end_to_end_id: str  # <= 35 chars, [A-Za-z0-9-], unique per payment (the batches side makes it)
    amount_minor: int  # > 0, minor units of `currency`
    currency: str  # ISO 4217
    name: str  # account holder, as the bank has it (writers transliterate/trim to the rail's limit)
    iban: str | None = None  # SEPA
    bic: str | None = None  # SEPA (optional since 2016)
    routing_number: str | None = None  # ACH (9-digit ABA)
    account_number: str | None = None  # ACH / other
    remittance: str = ""  # <= 140 chars
    organisation: bool = False  # the payee is a company or institution (ACH: a CCD entry, not PPD)


@dataclass(frozen=True)
class Originator:
    """Who pays: the company's own accounts (settings PAYMENT_ORIGINATOR_*)."""

    name: str
    iban: str = ""
    bic: str = ""
    ach_routing_number: str = ""
    ach_account_number: str = ""
    ach_company_id: str = ""  # 10 characters, NACHA company identification
    ach_immediate_destination: str = ""
    ach_immediate_origin: str = ""


@dataclass(frozen=True)
class WrittenFile:
    name: str  # e.g. "batch-12-sepa-001.xml"
    path: Path
    payments: int
    control_total_minor: int
    sha256: str


@dataclass(frozen=True)
class StatementEntry:
    end_to_end_id: str | None
    amount_minor: int  # positive (a pain.002 transaction that names no amount: 0, with currency "")
    currency: str
    # camt: "paid" (a booked debit of one of our payments) | "returned" (a return credit);
    # pain.002: "rejected" | "accepted" | "pending" (one transaction) | "rejected all" (the whole message or a
    # payment information block, for a person: which payments it covers is not said transaction by transaction)
    outcome: str
    reason_code: str = ""  # ISO reason, e.g. "AC04" (returned or rejected only)
    reference: str = ""  # the bank's entry reference (AcctSvcrRef / NtryRef; pain.002: TxSts or StsId and details)
    booking_date: date | None = None
    position: int = 0  # 1-based order of the transaction in the file
    original_message_id: str = ""  # pain.002: the MsgId of our pain.001 it answers (OrgnlMsgId)


@dataclass(frozen=True)
class Statement:
    identifier: str  # Stmt/Id or Ntfctn/Id with GrpHdr/MsgId: the same file imported twice has the same one
    kind: str  # "camt.053" | "camt.054" | "pain.002"
    entries: list[StatementEntry]


def originator_from_settings() -> Originator:
    return Originator(
        name=settings.PAYMENT_ORIGINATOR_NAME,
        iban=settings.PAYMENT_ORIGINATOR_IBAN,
        bic=settings.PAYMENT_ORIGINATOR_BIC,
        ach_routing_number=settings.PAYMENT_ORIGINATOR_ACH_ROUTING,
        ach_account_number=settings.PAYMENT_ORIGINATOR_ACH_ACCOUNT,
        ach_company_id=settings.PAYMENT_ORIGINATOR_ACH_COMPANY_ID,
        ach_immediate_destination=(settings.PAYMENT_ORIGINATOR_ACH_IMMEDIATE_DESTINATION
                                   or settings.PAYMENT_ORIGINATOR_ACH_ROUTING),
        ach_immediate_origin=(settings.PAYMENT_ORIGINATOR_ACH_IMMEDIATE_ORIGIN
                              or settings.PAYMENT_ORIGINATOR_ACH_COMPANY_ID),
    )


def instruction_error(instruction: PaymentInstruction, field: str, problem: str) -> BankFileError:
    return BankFileError(INSTRUCTION_FIELD.format(end_to_end_id=instruction.end_to_end_id, field=field,
                                                  problem=problem))


def check_common(instruction: PaymentInstruction, *, currency: str | None = None) -> None:
    """What every rail needs: an id the statement can bring back, a positive whole amount in a known currency
    (`currency`: the only one the rail takes), a holder's name and a remittance within 140 characters."""
    if not isinstance(instruction.end_to_end_id, str) or not END_TO_END_ID.fullmatch(instruction.end_to_end_id):
        raise BankFileError(BAD_END_TO_END_ID.format(value=instruction.end_to_end_id))
    amount = instruction.amount_minor
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_MINOR:
        raise instruction_error(instruction, "amount_minor", f"is {amount!r}; it must be a whole number of minor "
                                                             f"units above 0 and at most {MAX_MINOR}.")
    try:
        exponent(instruction.currency)
    except UnknownCurrency:
        raise instruction_error(instruction, "currency", f"{instruction.currency!r} is not an ISO 4217 code.") from None
    if currency is not None and instruction.currency != currency:
        raise instruction_error(instruction, "currency", f"is {instruction.currency}; this file takes {currency} "
                                                         f"only.")
    if not instruction.name or not instruction.name.strip():
        raise instruction_error(instruction, "name", "is empty; the bank needs the account holder's name.")
    if len(instruction.remittance) > REMITTANCE_MAX:
        raise instruction_error(instruction, "remittance", f"is {len(instruction.remittance)} characters long; "
                                                           f"at most {REMITTANCE_MAX}.")
