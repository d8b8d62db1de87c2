"""Any currency without a bank format here: a CSV for the bank's bulk upload or a person to key in.

Columns (a header row first): end_to_end_id, name, account_number, bic, currency, amount, remittance. The amount
is a decimal with the currency's own decimals (JPY 1000, EUR 12.50, BHD 1.250), never a float. UTF-8 with a BOM so
spreadsheets read it as UTF-8; every text cell goes through core.spreadsheets.safe_cell so that a name such as
"=HYPERLINK(...)" is shown as text, never run as a formula."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import IO

from core.money import exponent
from core.spreadsheets import safe_cell
from payouts.banking.instructions import PaymentInstruction, check_common, instruction_error

COLUMNS = ["end_to_end_id", "name", "account_number", "bic", "currency", "amount", "remittance"]
ENCODING = "utf-8-sig"


def check(instruction: PaymentInstruction) -> None:
    check_common(instruction)
    if not (instruction.account_number or instruction.iban):
        raise instruction_error(instruction, "account_number", "is missing (and there is no IBAN either).")


def amount_text(amount_minor: int, currency: str) -> str:
    places = exponent(currency)
    if not places:
        return str(amount_minor)
    whole, fraction = divmod(amount_minor, 10**places)
    return f"{whole}.{fraction:0{places}d}"


def write(handle: IO[str], payments: Sequence[PaymentInstruction]) -> None:
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    writer.writerows(
        [safe_cell(payment.end_to_end_id), safe_cell(payment.name),
         safe_cell(payment.account_number or payment.iban or ""), safe_cell(payment.bic or ""),
         payment.currency, amount_text(payment.amount_minor, payment.currency), safe_cell(payment.remittance)]
        for payment in payments)
