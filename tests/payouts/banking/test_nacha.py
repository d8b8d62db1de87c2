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


def test_organisations_get_a_ccd_batch_after_the_peoples_ppd_batch_and_both_round_trip(tmp_path, originator):
    payments = [ach_payment(1), ach_payment(2, organisation=True, name="Acme Publishing LLC"), ach_payment(3),
                ach_payment(4, organisation=True)]

    [written] = write(tmp_path, originator, payments)
    records = written.path.read_text().splitlines()
    parsed = parse_nacha(written.path.read_text())

    headers = [record for record in records if record[0] == "5"]
    assert [(header[50:53], header[87:94]) for header in headers] == [("PPD", "0000001"), ("CCD", "0000002")]
    controls = [record for record in records if record[0] == "8"]
    assert [int(control[32:44]) for control in controls] == [5_001 + 5_003, 5_002 + 5_004]  # each batch's total
    assert [control[87:94] for control in controls] == ["0000001", "0000002"]
    assert [(p.end_to_end_id, p.organisation) for p in parsed.payments] == [
        ("B8-P000001", False), ("B8-P000003", False), ("B8-P000002", True), ("B8-P000004", True)]
    assert parsed.payments[2].name == "ACME PUBLISHING LLC"
    assert parsed.batch_count == 2
    assert parsed.total_credit_minor == written.control_total_minor == sum(p.amount_minor for p in payments)
    traces = [record[79:94] for record in records if record[0] == "6"]
    assert len(set(traces)) == 4  # trace numbers stay unique across the file's batches
    assert len(records) % 10 == 0


def test_a_file_of_organisations_only_has_one_ccd_batch(tmp_path, originator):
    [written] = write(tmp_path, originator, [ach_payment(1, organisation=True)])
    records = written.path.read_text().splitlines()
    assert [record[50:53] for record in records if record[0] == "5"] == ["CCD"]
    assert parse_nacha(written.path.read_text()).batch_count == 1


def test_a_file_whose_batch_count_is_wrong_is_refused(tmp_path, originator):
    [written] = write(tmp_path, originator, [ach_payment(1), ach_payment(2, organisation=True)])
    records = written.path.read_text().splitlines()
    control = next(number for number, record in enumerate(records) if record[0] == "9")
    records[control] = records[control][:1] + "000001" + records[control][7:]
    with pytest.raises(BankFileError, match="batch count is 1, the file has 2"):
        parse_nacha("\n".join(records))


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
