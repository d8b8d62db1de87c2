"""The CSV for currencies without a bank format: documented columns, exact decimals, no formulas."""

import csv

import pytest

from payouts.banking import BankFileError, PaymentInstruction, write_payment_files
from payouts.banking.csvfile import COLUMNS
from tests.payouts.banking.conftest import EXECUTION_DATE


def payment(number, **changes):
    values = {"end_to_end_id": f"B9-P{number:06d}", "amount_minor": 123_456, "currency": "GBP",
              "name": "Zoë O'Brien", "account_number": "GB29NWBK60161331926819", "bic": "NWBKGB2L",
              "remittance": "Creator Partnerships November 2026"}
    return PaymentInstruction(**{**values, **changes})


def read(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_columns_and_amounts_in_each_currencys_decimals(tmp_path, originator):
    payments = [payment(1), payment(2, currency="JPY", amount_minor=5000),
                payment(3, currency="BHD", amount_minor=1250)]

    [written] = write_payment_files(rail="other", instructions=payments, batch_reference="batch-9",
                                    execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator)

    rows = read(written.path)
    assert written.name == "batch-9-other-001.csv"
    assert written.path.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read UTF-8
    assert rows[0] == COLUMNS == ["end_to_end_id", "name", "account_number", "bic", "currency", "amount", "remittance"]
    assert rows[1] == ["B9-P000001", "Zoë O'Brien", "GB29NWBK60161331926819", "NWBKGB2L", "GBP", "1234.56",
                       "Creator Partnerships November 2026"]
    assert [row[5] for row in rows[1:]] == ["1234.56", "5000", "1.250"]
    assert written.control_total_minor == 123_456 + 5000 + 1250


def test_a_formula_in_a_name_or_remittance_is_written_as_text(tmp_path, originator):
    payments = [payment(1, name='=HYPERLINK("http://evil.example","click")', remittance="+1+cmd|' /C calc'!A0")]

    [written] = write_payment_files(rail="other", instructions=payments, batch_reference="batch-9",
                                    execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator)

    row = read(written.path)[1]
    assert row[1] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert row[6].startswith("'+")


def test_split_files_each_start_with_the_header(tmp_path, originator):
    written = write_payment_files(rail="other", instructions=[payment(n) for n in range(1, 4)],
                                  batch_reference="batch-9", execution_date=EXECUTION_DATE, directory=tmp_path,
                                  originator=originator, max_per_file=2)

    assert [len(read(file.path)) for file in written] == [3, 2]
    assert all(read(file.path)[0] == COLUMNS for file in written)


@pytest.mark.parametrize(("changes", "field"), [
    ({"account_number": None}, "account_number"), ({"currency": "XYZ"}, "currency"),
    ({"amount_minor": -5}, "amount_minor")])
def test_a_bad_instruction_is_refused_naming_the_payment(tmp_path, originator, changes, field):
    with pytest.raises(BankFileError, match=f"Payment B9-P000001: {field} "):
        write_payment_files(rail="other", instructions=[payment(1, **changes)], batch_reference="batch-9",
                            execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator)


@pytest.mark.parametrize("options", [{"rail": "swift"}, {"max_per_file": 0}, {"batch_reference": "///"}])
def test_bad_arguments_are_refused_with_a_sentence(tmp_path, originator, options):
    arguments = {"rail": "other", "batch_reference": "batch-9", **options}
    with pytest.raises(BankFileError):
        write_payment_files(instructions=[payment(1)], execution_date=EXECUTION_DATE, directory=tmp_path,
                            originator=originator, **arguments)


def test_originator_from_settings_reads_the_payment_originator_settings(settings):
    from payouts.banking import originator_from_settings

    settings.PAYMENT_ORIGINATOR_NAME = "Creator Partnerships Inc."
    settings.PAYMENT_ORIGINATOR_ACH_ROUTING = "021000021"
    settings.PAYMENT_ORIGINATOR_ACH_COMPANY_ID = "9876543210"
    settings.PAYMENT_ORIGINATOR_ACH_IMMEDIATE_DESTINATION = ""

    originator = originator_from_settings()

    assert originator.name == "Creator Partnerships Inc."
    assert originator.ach_immediate_destination == "021000021"  # defaults to the routing number
    assert originator.ach_company_id == "9876543210"
