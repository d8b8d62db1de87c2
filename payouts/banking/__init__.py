"""TEMPORARY STAND-IN for the bank files package (payouts/banking/), written on the batches branch only so that
its tests can run before the bankfiles branch is merged: the names of /work/helpers/banking_contract.md, one CSV
writer for every rail and a tiny camt parser. The integrator drops this commit and keeps the bankfiles branch's
package."""

from payouts.banking.contract import (
    BankFileError,
    Originator,
    PaymentInstruction,
    Statement,
    StatementEntry,
    StatementError,
    WrittenFile,
    originator_from_settings,
)
from payouts.banking.stand_in import parse_statement, write_payment_files

__all__ = [
    "BankFileError", "Originator", "PaymentInstruction", "Statement", "StatementEntry", "StatementError",
    "WrittenFile", "originator_from_settings", "parse_statement", "write_payment_files",
]
