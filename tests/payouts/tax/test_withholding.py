"""Each line's withholding rate comes from the partner's tax profile and the treaty table, in the run's SQL."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from partnerships.models import Program
from payouts.explain import explain_line
from payouts.models import IncomeType, MissingFormPolicy, PayoutRun, TreatyRate, WithholdingSource
from tests.payouts.factories import member, paying_program
from tests.payouts.tax.helpers import F, S, compute, line, profile, treaty

pytestmark = pytest.mark.django_db
W = WithholdingSource


def program_paying_royalties(**terms):
    # a pooled fund of 10,000.00 USD: one member with views earns all of it
    return paying_program(income_type=IncomeType.ROYALTIES, withholding_rate="0.24", **terms)


def test_a_validated_w8_is_withheld_at_the_treaty_rate_of_its_country_and_income_type():
    program = program_paying_royalties()
    partner = member(program, handle="de", views=1)
    profile(partner, F.W8BEN, country="DE")
    treaty("DE", IncomeType.ROYALTIES, "0.15")
    treaty("DE", IncomeType.SERVICES, "0.05")  # another income type: not this program's
    result = line(compute(program), partner)
    assert (result.gross_minor, result.withholding_minor, result.net_minor) == (10_000_00, 1_500_00, 8_500_00)
    assert (result.withholding_ppm, result.withholding_source, result.tax_country, result.income_type) == (
        150_000, W.TREATY, "DE", IncomeType.ROYALTIES)
    assert result.status == "payable"


def test_no_treaty_row_means_the_statutory_rate():
    program = program_paying_royalties(statutory_withholding_rate="0.30")
    partner = member(program, handle="br", views=1)
    profile(partner, F.W8BENE, country="BR")
    treaty("DE", IncomeType.ROYALTIES, "0.15")
    result = line(compute(program), partner)
    assert (result.withholding_minor, result.withholding_ppm, result.withholding_source) == (
        3_000_00, 300_000, W.NO_TREATY)
    assert result.status == "payable"


def test_a_validated_w9_gets_the_domestic_rate():
    program = program_paying_royalties(domestic_withholding_rate="0")
    partner = member(program, handle="us", views=1, tax_form_on_file=False)  # the legacy flag no longer decides
    profile(partner, F.W9, country="US")
    result = line(compute(program), partner)
    assert (result.withholding_minor, result.withholding_source, result.status) == (0, W.DOMESTIC, "payable")


def test_without_a_profile_the_flat_rate_and_the_tax_form_flag_still_apply():
    program = program_paying_royalties(hold_without_tax_form=True)
    partner = member(program, handle="legacy", views=1, tax_form_on_file=False)
    result = line(compute(program), partner)
    assert (result.withholding_minor, result.withholding_source) == (2_400_00, W.FLAT)
    assert (result.status, result.hold_reason) == ("held", "no tax form on file")


@pytest.mark.parametrize("policy", [MissingFormPolicy.STATUTORY, MissingFormPolicy.HOLD])
@pytest.mark.parametrize(("status", "expires_on", "source", "reason"), [
    (S.MISSING, None, W.MISSING, "no validated tax form"),
    (S.RECEIVED, None, W.MISSING, "no validated tax form"),
    (S.EXPIRED, dt.date(2026, 3, 31), W.EXPIRED, "tax form expired"),
    # validated, but its expiry falls before the run's month end (August 31)
    (S.VALIDATED, dt.date(2026, 8, 30), W.EXPIRED, "tax form expired"),
])
def test_missing_or_expired_form_follows_the_programs_policy(policy, status, expires_on, source, reason):
    program = program_paying_royalties(missing_form_policy=policy, statutory_withholding_rate="0.30")
    partner = member(program, handle="p", views=1)
    profile(partner, F.NONE if status == S.MISSING else F.W8BEN, status=status, country="DE", expires_on=expires_on)
    treaty("DE", IncomeType.ROYALTIES, "0")
    result = line(compute(program), partner)
    # Statutory either way (a held balance is later paid without being withheld again); held only under "hold".
    assert (result.withholding_minor, result.withholding_source) == (3_000_00, source)
    if policy == MissingFormPolicy.HOLD:
        assert (result.status, result.hold_reason) == ("held", reason)
    else:
        assert (result.status, result.hold_reason) == ("payable", "")


def test_a_form_valid_through_the_month_end_still_counts():
    program = program_paying_royalties()
    partner = member(program, handle="p", views=1)
    profile(partner, F.W8BEN, country="DE", expires_on=dt.date(2026, 8, 31))
    treaty("DE", IncomeType.ROYALTIES, "0.05")
    assert line(compute(program), partner).withholding_source == W.TREATY


def test_the_explanation_names_the_rates_source():
    program = program_paying_royalties(statutory_withholding_rate="0.30")
    de, br, legacy = (member(program, handle=handle, views=1) for handle in ("de", "br", "legacy"))
    profile(de, F.W8BEN, country="DE")
    profile(br, F.W8BEN, country="BR")
    treaty("DE", IncomeType.ROYALTIES, "0.15")
    run = PayoutRun.objects.select_related("program__terms").get(pk=compute(program).pk)
    explained = {p.handle: explain_line(line(run, p), run) for p in (de, br, legacy)}
    assert "Tax withheld: 500.00 USD, withheld 15% (treaty: DE, royalties)." in explained["de"]
    assert ("Tax withheld: 1,000.00 USD, withheld 30% (no treaty for BR, royalties: statutory rate)."
            in explained["br"])
    assert ("Tax withheld: 800.00 USD, withheld 24% (no tax profile: the program's flat rate)."
            in explained["legacy"])


def _queries_to_compute(partners: int, prefix: str) -> int:
    program = program_paying_royalties(missing_form_policy=MissingFormPolicy.HOLD)
    for country, rate in {"DE": "0.15", "IN": "0.10"}.items():
        TreatyRate.objects.get_or_create(residence_country=country, income_type=IncomeType.ROYALTIES,
                                         defaults={"rate": rate})
    kinds = [(F.W8BEN, S.VALIDATED, "DE"), (F.W8BEN, S.VALIDATED, "BR"), (F.W9, S.VALIDATED, "US"),
             (F.W8BEN, S.EXPIRED, "IN"), (F.NONE, S.MISSING, ""), None]
    for index in range(partners):
        partner = member(program, handle=f"{prefix}{index:03}", views=index + 1)
        kind = kinds[index % len(kinds)]
        if kind is not None:
            profile(partner, kind[0], status=kind[1], country=kind[2])
    with CaptureQueriesContext(connection) as captured:
        run = compute(program)
    assert run.line_count == partners
    return len(captured)


def test_computing_a_run_takes_the_same_number_of_queries_whatever_the_number_of_partners():
    # set-based: the profile and treaty tables are joined into the statement that writes the lines
    assert _queries_to_compute(6, "few") == _queries_to_compute(36, "many")


@pytest.mark.parametrize(("grant", "rate", "withheld"), [
    (1, "0.5", 0), (3, "0.5", 2), (5, "0.5", 2), (7, "0.5", 4),  # ties go to the even cent
    (1_000_01, "0.15", 15_000), (99_999_99, "0.333333", 33_33_330),
    # past the bigint fast path on PostgreSQL (amount × rate in millionths > 2**63): the exact numeric one
    (10_000_000_000_000, "0.3", 3_000_000_000_000),
])
def test_withholding_rounds_half_to_even_exactly_whatever_the_size(grant, rate, withheld):
    program = paying_program(Program.Archetype.GRANT, month_budget=grant, fund_total=grant, grant_monthly_minor=grant,
                             withholding_rate=rate)
    partner = member(program, handle="g")
    assert line(compute(program), partner).withholding_minor == withheld
