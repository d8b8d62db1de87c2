"""Memory is bounded by one file: writing three times the payments at the same file size peaks the same."""

import tracemalloc

import pytest

from payouts.banking import write_payment_files
from tests.payouts.banking.conftest import EXECUTION_DATE, ach_payment, sepa_payment


def peak_bytes(tmp_path, originator, rail, count):
    def make(number):
        if rail == "other":
            return sepa_payment(number, currency="GBP", iban=None, account_number=f"GB{number:08d}")
        return (sepa_payment if rail == "sepa" else ach_payment)(number)

    tracemalloc.start()
    try:
        write_payment_files(rail=rail, instructions=(make(number) for number in range(count)),
                            batch_reference=f"m{count}", execution_date=EXECUTION_DATE,
                            directory=tmp_path / f"{rail}-{count}", originator=originator, max_per_file=1000)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("rail", ["sepa", "ach", "other"])
def test_peak_memory_does_not_grow_with_the_batch(tmp_path, originator, rail):
    small = peak_bytes(tmp_path, originator, rail, 2_000)
    large = peak_bytes(tmp_path, originator, rail, 6_000)

    assert large < small * 1.25, (small, large)
