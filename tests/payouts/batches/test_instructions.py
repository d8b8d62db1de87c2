"""A batch's payments as bank instructions: the payees' bank details decrypted in chunks read back exactly as the
model reads them, in payment order; a set stop ends the reading with a refusal."""

import threading

import pytest

from payouts.exceptions import BatchRefused
from payouts.models import Payee, Payment
from payouts.services import batch_instructions as module
from payouts.services.batch_instructions import batch_instructions
from payouts.services.batches import batch_create
from tests.payouts.batches.helpers import approved_program_run, payee

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(run_approver, maker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1, "cat": 2}, partners=partners)
    for partner in partners.values():
        payee(partner)
    return batch_create(currency="USD", rail="ach", actor=maker)


def test_instructions_hold_the_payees_details_as_the_model_reads_them(batch, monkeypatch):
    monkeypatch.setattr(module, "INSTRUCTION_CHUNK", 2)  # three payments: two chunks
    instructions = list(batch_instructions(batch, threading.Event()))
    payments = list(Payment.objects.filter(batch=batch).order_by("pk"))
    assert [i.end_to_end_id for i in instructions] == [p.end_to_end_id for p in payments]
    for instruction, payment in zip(instructions, payments, strict=True):
        details = Payee.objects.get(partner_id=payment.partner_id)
        assert (instruction.amount_minor, instruction.currency) == (payment.amount_minor, "USD")
        assert (instruction.name, instruction.routing_number, instruction.account_number, instruction.iban) == (
            details.account_holder, details.routing_number, details.account_number, None)
        assert instruction.name.endswith(" Holder")
        assert instruction.account_number.startswith("00012345")


def test_a_stop_ends_the_reading_with_a_refusal(batch, monkeypatch):
    monkeypatch.setattr(module, "INSTRUCTION_CHUNK", 2)
    stop = threading.Event()
    instructions = batch_instructions(batch, stop)
    first = [next(instructions), next(instructions)]
    assert len(first) == 2
    stop.set()
    with pytest.raises(BatchRefused, match="stopped: its release was refused"):
        next(instructions)
