"""Bank files out (SEPA pain.001, NACHA, CSV) and bank statements in (camt.053 / camt.054): pure functions over
the dataclasses of payouts.banking.instructions, no models. The payment batches call these; see README.md,
"Bank files and statements"."""

from payouts.banking.camt import parse_statement
from payouts.banking.instructions import (
    BankFileError,
    Originator,
    PaymentInstruction,
    Statement,
    StatementEntry,
    StatementError,
    WrittenFile,
    originator_from_settings,
)
from payouts.banking.write import write_payment_files

__all__ = ["BankFileError", "Originator", "PaymentInstruction", "Statement", "StatementEntry", "StatementError",
           "WrittenFile", "originator_from_settings", "parse_statement", "write_payment_files"]
