"""NACHA files of ACH credits: the published layout, round-tripped through the parser."""

import pytest

from payouts.banking import BankFileError, write_payment_files
from payouts.banking.nacha_parse import parse_nacha
from tests.payouts.banking.conftest import EXECUTION_DATE, ach_payment


def write(tmp_path, originator, payments, **options):
    return write_payment_files(rail="ach", instructions=payments, batch_reference="batch-8",
                               execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator, **options)


def test_a_file_round_trips_with_its_payments_totals_and_hash(tmp_path, originator):
    payments = [ach_payment(n) for n in range(1, 8)]

    [written] = write(tmp_path, originator, payments)
    parsed = parse_nacha(written.path.read_text())

    assert written.name == "batch-8-ach-001.ach"
    assert [(p.end_to_end_id, p.amount_minor, p.routing_number, p.account_number) for p in parsed.payments] == [
        (p.end_to_end_id, p.amount_minor, p.routing_number, p.account_number) for p in payments]
    assert parsed.payments[0].name == "ANA MARIA NUNEZ"
    assert parsed.payments[0].remittance == "CREATOR PARTNERSHIPS NOVEMBER 2026"
    assert parsed.total_credit_minor == written.control_total_minor == sum(p.amount_minor for p in payments)
    assert parsed.entry_hash == sum(int(p.routing_number[:8]) for p in payments) % 10**10
    assert parsed.entry_and_addenda_count == 14
    assert parsed.batch_count == 1
    assert parsed.company_id == "1234567890"


def test_records_are_94_characters_in_blocks_of_ten_padded_with_nines(tmp_path, originator):
    [written] = write(tmp_path, originator, [ach_payment(1)])

    records = written.path.read_text().splitlines()

    assert len(records) == 10  # header, batch header, entry, addenda, batch control, file control, 4 padding
    assert {len(record) for record in records} == {94}
    assert [record[0] for record in records[:6]] == ["1", "5", "6", "7", "8", "9"]
    assert records[6:] == ["9" * 94] * 4
    assert records[0][33:40] == "A094101"  # file id modifier, record size, blocking factor, format code
    assert records[1][50:53] == "PPD"
    assert records[2][1:3] == "22"  # credit to a checking account
    assert records[2][29:39] == "0000005001"


def test_split_files_each_balance_and_have_their_own_modifier(tmp_path, originator):
    written = write(tmp_path, originator, [ach_payment(n) for n in range(1, 6)], max_per_file=2)

    assert [file.payments for file in written] == [2, 2, 1]
    modifiers = [file.path.read_text()[33] for file in written]
    assert modifiers == ["A", "B", "C"]
    for file in written:
        assert parse_nacha(file.path.read_text()).total_credit_minor == file.control_total_minor


def test_modifiers_go_on_from_the_files_already_written_today(tmp_path, originator):
    written = write(tmp_path, originator, [ach_payment(n) for n in range(1, 4)], max_per_file=2, ach_files_today=25)
    assert [file.path.read_text()[33] for file in written] == ["Z", "0"]
    with pytest.raises(BankFileError, match="at most 36 files a day .* and 35 were written today"):
        write(tmp_path / "late", originator, [ach_payment(n) for n in range(1, 4)], max_per_file=2,
              ach_files_today=35)
    assert not list((tmp_path / "late").glob("*.ach"))  # nothing half-written


@pytest.mark.parametrize(("changes", "field"), [
    ({"routing_number": "021000022"}, "routing_number"),  # check digit wrong
    ({"routing_number": None}, "routing_number"),
    ({"account_number": ""}, "account_number"),
    ({"account_number": "1" * 18}, "account_number"),
    ({"currency": "EUR"}, "currency"),
    ({"amount_minor": 10_000_000_000}, "amount_minor"),
])
def test_a_bad_instruction_is_refused_naming_the_payment_and_field(tmp_path, originator, changes, field):
    with pytest.raises(BankFileError) as refused:
        write(tmp_path, originator, [ach_payment(1), ach_payment(2, **changes)])

    assert str(refused.value).startswith(f"Payment B8-P000002: {field} ")
    assert list(tmp_path.iterdir()) == []


def test_the_parser_refuses_a_file_whose_controls_do_not_add_up(tmp_path, originator):
    [written] = write(tmp_path, originator, [ach_payment(1), ach_payment(2)])
    records = written.path.read_text().splitlines()
    records[2] = records[2][:29] + "0000009999" + records[2][39:]  # an entry's amount changed after the fact

    with pytest.raises(BankFileError, match="batch control's total credit"):
        parse_nacha("\n".join(records))


def test_the_parser_refuses_a_record_of_the_wrong_length():
    with pytest.raises(BankFileError, match="Line 1 is 3 characters long"):
        parse_nacha("\n".join(["101"] + ["9" * 94] * 9))


def test_a_file_limit_beyond_the_nacha_counts_is_refused(tmp_path, originator):
    with pytest.raises(BankFileError, match="fewer than 500,000"):
        write(tmp_path, originator, [ach_payment(1)], max_per_file=500_000)
