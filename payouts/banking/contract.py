"""TEMPORARY STAND-IN (see the package docstring): the contract's data classes and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings


class BankFileError(ValueError):
    pass


class StatementError(ValueError):
    pass


@dataclass(frozen=True)
class PaymentInstruction:
    end_to_end_id: str
    amount_minor: int
    currency: str
    name: str
    iban: str | None = None
    bic: str | None = None
    routing_number: str | None = None
    account_number: str | None = None
    remittance: str = ""


@dataclass(frozen=True)
class Originator:
    name: str
    iban: str = ""
    bic: str = ""
    ach_routing_number: str = ""
    ach_account_number: str = ""
    ach_company_id: str = ""
    ach_immediate_destination: str = ""
    ach_immediate_origin: str = ""


@dataclass(frozen=True)
class WrittenFile:
    name: str
    path: Path
    payments: int
    control_total_minor: int
    sha256: str


@dataclass(frozen=True)
class StatementEntry:
    end_to_end_id: str | None
    amount_minor: int
    currency: str
    outcome: str
    reason_code: str = ""
    reference: str = ""
    booking_date: date | None = None
    position: int = 0


@dataclass(frozen=True)
class Statement:
    identifier: str
    kind: str
    entries: list[StatementEntry]


def originator_from_settings() -> Originator:
    return Originator(name=getattr(settings, "PAYMENT_ORIGINATOR_NAME", "Creator Partnerships"))
