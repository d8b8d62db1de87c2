"""Tax profiles and treaty rows for the tests, written directly (the services have their own tests)."""

import datetime as dt
from decimal import Decimal

from payouts.models import EarningLine, PayoutRun, TaxProfile, TreatyRate
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH

F, S = TaxProfile.FormType, TaxProfile.Status


def profile(partner, form_type=F.W8BEN, status=S.VALIDATED, country="DE", expires_on=None) -> TaxProfile:
    validator = UserFactory(username="tax-validator") if status == S.VALIDATED else None
    return TaxProfile.objects.create(partner=partner, form_type=form_type, status=status, residence_country=country,
                                     expires_on=expires_on, validated_by=validator,
                                     received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))


def treaty(country, income_type, rate) -> TreatyRate:
    return TreatyRate.objects.create(residence_country=country, income_type=income_type, rate=Decimal(rate))


def compute(program, month=MONTH) -> PayoutRun:
    run = payout_run_compute(program_id=program.pk, month=month)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return run


def line(run, partner) -> EarningLine:
    return EarningLine.objects.get(run=run, partner=partner)
