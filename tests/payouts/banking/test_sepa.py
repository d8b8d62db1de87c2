"""SEPA credit transfer files (pain.001.001.03): valid against the ISO schema, with the control totals."""

import pytest
from lxml import etree

from payouts.banking import BankFileError, write_payment_files
from payouts.banking.sepa import NAMESPACE, schema_errors
from tests.payouts.banking.conftest import EXECUTION_DATE, sepa_payment

NS = {"p": NAMESPACE}


def write(tmp_path, originator, payments, **options):
    return write_payment_files(rail="sepa", instructions=payments, batch_reference="batch-7",
                               execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator, **options)


def test_file_validates_against_the_schema_and_carries_the_control_total(tmp_path, originator):
    payments = [sepa_payment(n) for n in range(1, 4)] + [sepa_payment(4, bic=None, remittance="")]

    [written] = write(tmp_path, originator, payments, validate=True)

    assert written.name == "batch-7-sepa-001.xml"
    assert written.payments == 4
    assert written.control_total_minor == 40_010
    assert schema_errors(written.path) == []
    document = etree.parse(str(written.path))
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "4"
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "400.10"
    assert document.findtext("p:CstmrCdtTrfInitn/p:PmtInf/p:CtrlSum", namespaces=NS) == "400.10"
    ids = document.xpath("//p:EndToEndId/text()", namespaces=NS)
    assert ids == ["B7-P000001", "B7-P000002", "B7-P000003", "B7-P000004"]
    names = document.xpath("//p:Cdtr/p:Nm/text()", namespaces=NS)
    assert names[0] == "Jorg Muller-Ludenscheidt"  # transliterated to the SEPA character set
    amounts = document.xpath("//p:InstdAmt/text()", namespaces=NS)
    assert amounts[0] == "100.01"


def test_hostile_text_is_reduced_to_the_sepa_character_set_and_still_validates(tmp_path, originator):
    payment = sepa_payment(1, name='<Evil & "Co"> ]]> 株式会社', remittance="a&b<c>" * 20)

    [written] = write(tmp_path, originator, [payment])

    assert schema_errors(written.path) == []
    text = written.path.read_text()
    assert "<Evil" not in text
    assert "&" not in text


@pytest.mark.parametrize(("changes", "field"), [
    ({"iban": None}, "iban"),
    ({"iban": "NL91ABNA0417164301"}, "iban"),
    ({"currency": "USD"}, "currency"),
    ({"amount_minor": 0}, "amount_minor"),
    ({"amount_minor": 12.5}, "amount_minor"),
    ({"bic": "NOTABIC"}, "bic"),
    ({"name": "  "}, "name"),
    ({"remittance": "x" * 141}, "remittance"),
])
def test_a_bad_instruction_is_refused_naming_the_payment_and_field(tmp_path, originator, changes, field):
    payments = [sepa_payment(1), sepa_payment(2, **changes)]

    with pytest.raises(BankFileError) as refused:
        write(tmp_path, originator, payments)

    assert str(refused.value).startswith(f"Payment B7-P000002: {field} ")
    assert list(tmp_path.iterdir()) == []  # nothing half written


def test_split_files_each_have_their_own_totals_and_validate(tmp_path, originator):
    payments = [sepa_payment(n) for n in range(1, 6)]

    written = write(tmp_path, originator, payments, max_per_file=2)

    assert [(file.name, file.payments, file.control_total_minor) for file in written] == [
        ("batch-7-sepa-001.xml", 2, 20_003), ("batch-7-sepa-002.xml", 2, 20_007), ("batch-7-sepa-003.xml", 1, 10_005)]
    for file in written:
        assert schema_errors(file.path) == []
        document = etree.parse(str(file.path))
        assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == str(file.payments)
    message_ids = {etree.parse(str(file.path)).findtext(".//p:MsgId", namespaces=NS) for file in written}
    assert len(message_ids) == 3


def test_instructions_are_read_lazily_one_file_at_a_time(tmp_path, originator):
    pulled = []

    def instructions():
        for number in range(1, 8):
            if number == 4:  # the first file is written before the fourth payment is even read
                assert (tmp_path / "batch-7-sepa-001.xml").exists()
            pulled.append(number)
            yield sepa_payment(number)

    written = write(tmp_path, originator, instructions(), max_per_file=3)

    assert [file.payments for file in written] == [3, 3, 1]
    assert pulled == list(range(1, 8))


def test_a_bad_payment_in_a_later_file_removes_the_files_already_written(tmp_path, originator):
    payments = [sepa_payment(1), sepa_payment(2), sepa_payment(3, iban="")]

    with pytest.raises(BankFileError, match="Payment B7-P000003: iban"):
        write(tmp_path, originator, payments, max_per_file=2)

    assert list(tmp_path.iterdir()) == []


def test_a_repeated_end_to_end_id_is_refused(tmp_path, originator):
    with pytest.raises(BankFileError, match="B7-P000001: end_to_end_id appears twice"):
        write(tmp_path, originator, [sepa_payment(1), sepa_payment(1)])


def test_an_originator_without_an_iban_is_refused(tmp_path, originator):
    from dataclasses import replace

    with pytest.raises(BankFileError, match="PAYMENT_ORIGINATOR_IBAN"):
        write(tmp_path, replace(originator, iban=""), [sepa_payment(1)])


def test_the_same_payments_as_sepaxml_writes_them(tmp_path, originator):
    """Our template and sepaxml (the reference implementation) agree on what each transaction says."""
    from sepaxml import SepaTransfer

    payments = [sepa_payment(n) for n in range(1, 4)]
    [written] = write(tmp_path, originator, payments)
    reference = SepaTransfer({"name": originator.name, "IBAN": "DE89370400440532013000", "BIC": originator.bic,
                              "batch": True, "currency": "EUR"}, clean=True)
    for payment in payments:
        reference.add_payment({"name": payment.name, "IBAN": payment.iban, "BIC": payment.bic,
                               "amount": payment.amount_minor, "execution_date": EXECUTION_DATE,
                               "description": payment.remittance, "endtoend_id": payment.end_to_end_id})
    theirs = etree.fromstring(reference.export(validate=True))

    def transactions(root):
        return [(tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS), tx.findtext("p:Amt/p:InstdAmt", namespaces=NS),
                 tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS), tx.findtext("p:Cdtr/p:Nm", namespaces=NS))
                for tx in root.iterfind(".//p:CdtTrfTxInf", namespaces=NS)]

    assert transactions(etree.parse(str(written.path)).getroot()) == transactions(theirs)


def test_the_schema_check_finds_a_broken_file(tmp_path, originator):
    [written] = write(tmp_path, originator, [sepa_payment(1), sepa_payment(2)])
    text = written.path.read_text()
    written.path.write_text(text.replace("<Cdtr><Nm>", "<Cdtr><Name>", 1).replace("</Nm></Cdtr>", "</Name></Cdtr>", 1))

    [error] = schema_errors(written.path)

    assert "Name" in error
    assert "This element is not expected" in error


@pytest.mark.parametrize(("validate", "checked"), [("first", 1), ("all", 3), (True, 3), (False, 0), ("off", 0)])
def test_the_schema_check_covers_the_files_asked_for(tmp_path, monkeypatch, originator, validate, checked):
    from payouts.banking import sepa as sepa_module
    from payouts.banking import write_payment_files
    from tests.payouts.banking.conftest import EXECUTION_DATE, sepa_payment

    seen = []
    monkeypatch.setattr(sepa_module, "schema_errors", lambda path: seen.append(path) or [])
    write_payment_files(rail="sepa", instructions=[sepa_payment(n) for n in range(1, 6)], batch_reference="b-1",
                        execution_date=EXECUTION_DATE, directory=tmp_path, originator=originator, max_per_file=2,
                        validate=validate)
    assert len(seen) == checked
