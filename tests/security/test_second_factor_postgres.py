"""Codes tried at the same moment, on the real database's row locks: one code verifies one session, and a burst of
guesses cannot slip past the throttle."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.two_factor.devices import WRONG_CODE, check_code
from tests.second_factor import current_code, wrong_code

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def check_together(device_pk: int, codes: list[str]) -> list[str | None]:
    """check_code of each code in its own thread (own connection), released at the same instant."""
    barrier = threading.Barrier(len(codes))
    outcomes: list[str | None] = ["not run"] * len(codes)

    def runner(index: int, code: str) -> None:
        try:
            device = TOTPDevice.objects.get(pk=device_pk)
            barrier.wait()
            outcomes[index] = check_code(device, code)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index, code)) for index, code in enumerate(codes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("repeat", range(3))
def test_one_code_sent_twice_at_once_verifies_once(approver, repeat):
    device = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    code = current_code(device)

    outcomes = check_together(device.pk, [code, code])

    assert sorted(outcomes, key=str) == [None, WRONG_CODE]  # the second finds the code spent


def test_a_burst_of_guesses_at_once_is_checked_one_at_a_time_and_throttled(approver):
    device = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)

    outcomes = check_together(device.pk, [wrong_code(device)] * 4)

    assert outcomes.count(WRONG_CODE) == 1  # the first guess is checked; the others find the device locked
    assert all(outcome.startswith("Too many wrong codes in a row (1)") for outcome in outcomes
               if outcome != WRONG_CODE)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
