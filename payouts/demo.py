"""Demo money: funds with their real totals, money terms, ad revenue and videos for members, payees (bank details,
payouts.demo_payees), and runs: one month paid (the European fund's approved and left for a payment batch), the
last month computed and waiting for a finance approver; two finance approvers with printed authenticator secrets."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Max
from simple_history.utils import bulk_create_with_history

from core.periods import add_months
from core.two_factor.devices import base32_secret, enrol_fixed_device
from partnerships.models import DailyMetric, Enrolment, Partner, Program
from payouts.demo_payees import seed_demo_payees
from payouts.models import (
    AdRevenue,
    BudgetTranche,
    Fund,
    IncomeType,
    MissingFormPolicy,
    PayoutRun,
    ProgramTerms,
    TaxProfile,
    TreatyRate,
    Video,
    VideoDailyViews,
)
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
from payouts.services.video_rollups import video_rollups_rebuild

SEED = 20221
# The demo finance user's authenticator secret: fixed so a person can add it to an app once, printed by the demo
# command (it protects nothing: demo data, DEBUG only). The bytes of "creator-partnership!", in hex.
DEMO_TOTP_KEY = b"creator-partnership!".hex()
DEMO_SECOND_FACTOR_USER = "finance"
# The second finance approver (maker-checker: finance creates a payment batch, finance2 releases it), with its own
# fixed secret. The bytes of "second-approver-key!", in hex.
DEMO_SECOND_APPROVER = "finance2"
DEMO_SECOND_APPROVER_TOTP_KEY = b"second-approver-key!".hex()
DEMO_TOTP_KEYS = {DEMO_SECOND_FACTOR_USER: DEMO_TOTP_KEY, DEMO_SECOND_APPROVER: DEMO_SECOND_APPROVER_TOTP_KEY}
# The program whose older month is approved and left unpaid: its payment batch is made by hand in the demo (SEPA).
DEMO_BATCH_PROGRAM = "eu-creator-fund"
MILLION = 1_000_000 * 100  # a million, in cents


FUNDS: dict[str, tuple[str, int, list[tuple[int, int]], dict[str, object]]] = {
    # slug: (fund name, total in cents, [(years from start, amount in cents)], terms)
    "us-creator-fund": ("US Creator Fund", 1000 * MILLION, [(1, 200 * MILLION), (1, 350 * MILLION), (1, 450 * MILLION)],
                        {"partner_cap_minor": 10_000_00, "min_views": 100_000, "min_payout_minor": 50_00,
                         "missing_form_policy": MissingFormPolicy.HOLD}),
    "eu-creator-fund": ("European Creator Fund", 300 * MILLION, [(1, 70 * MILLION), (1, 110 * MILLION),
                                                                 (1, 120 * MILLION)],
                        {"min_views": 100_000, "min_payout_minor": 10_00,
                         "missing_form_policy": MissingFormPolicy.STATUTORY}),
    "educator-fund": ("Educator fund", 50 * MILLION, [(3, 50 * MILLION)],
                      {"grant_monthly_minor": 1_500_00, "min_payout_minor": 0}),
    "ad-revenue-share": ("Ad revenue share", 500 * MILLION, [(3, 500 * MILLION)],
                         {"revenue_share_rate": Decimal("0.50"), "min_payout_minor": 100_00,
                          "income_type": IncomeType.ROYALTIES}),
    "creator-rewards": ("Creator rewards", 200 * MILLION, [(3, 200 * MILLION)],
                        {"rpm_by_country": {"US": "0.80", "GB": "0.70", "DE": "0.60", "*": "0.40"},
                         "video_cap_minor": 2_000_00, "partner_cap_minor": 10_000_00, "min_payout_minor": 50_00,
                         "income_type": IncomeType.ROYALTIES}),
}


def seed_payouts_demo(*, today: dt.date) -> dict[str, str]:
    rng = random.Random(SEED)
    this_month = today.replace(day=1)
    start = add_months(this_month, -6)
    with transaction.atomic():
        for slug, (name, total, tranches, terms) in FUNDS.items():
            program = Program.objects.get(slug=slug)
            fund, _ = Fund.objects.update_or_create(program=program, defaults={
                "name": name, "currency": program.currency, "total_minor": total})
            cursor = start
            for years, amount in tranches:
                end = add_months(cursor, 12 * years - 1)
                BudgetTranche.objects.get_or_create(fund=fund, starts_on=cursor, ends_on=end,
                                                    defaults={"amount_minor": amount})
                cursor = add_months(end, 1)
            ProgramTerms.objects.update_or_create(program=program, defaults=terms)
        _inputs(rng, today)
        _tax(random.Random(SEED + 1), today)

    results = {"payees": seed_demo_payees()}
    last = add_months(this_month, -1)
    before = add_months(this_month, -2)
    finance = get_user_model().objects.filter(username="finance").first()
    for slug in FUNDS:
        program = Program.objects.get(slug=slug)
        older = payout_run_compute(program_id=program.pk, month=before)
        if finance is not None and older.status == PayoutRun.Status.COMPUTED:
            older = payout_run_approve(run_id=older.pk, actor=finance)
            if slug != DEMO_BATCH_PROGRAM:  # that one waits for a payment batch (README: "Payment batches")
                older = payout_run_mark_paid(run_id=older.pk, actor=finance,
                                             reference=f"DEMO-{before:%Y%m}-{slug}")
        results[slug] = f"{before:%Y-%m} {older.status}"
    results["screening"] = plant_anomalies(last)
    for slug in FUNDS:
        program = Program.objects.get(slug=slug)
        latest = payout_run_compute(program_id=program.pk, month=last)
        flags = latest.screening_flags.count()
        results[slug] += f", {last:%Y-%m} {latest.status}" + (f" ({flags} screening flags to review)" if flags else "")
    return results


# The planted anomalies of the last month, for the screening to show (payouts.screening): a one-day spike in the US
# fund and, in the European fund, a bot-like month of views with no likes, comments or shares.
SPIKE_PROGRAM, BOT_PROGRAM = "us-creator-fund", "eu-creator-fund"


def plant_anomalies(month: dt.date) -> str:
    """Plant a spike and a bot-like account in ``month``'s daily metrics of two current members (the earlier
    months stay normal); what was planted, in words."""
    planted = []
    end = add_months(month, 1) - dt.timedelta(days=1)
    for slug, kind in ((SPIKE_PROGRAM, "spike"), (BOT_PROGRAM, "bot")):
        member = (Enrolment.objects.filter(program__slug=slug, status=Enrolment.Status.APPROVED,
                                           partner__status=Partner.Status.ACTIVE,
                                           partner__daily_metrics__day=month + dt.timedelta(days=14))
                  .order_by("partner_id").first())
        if member is None:
            continue
        metrics = DailyMetric.objects.filter(partner_id=member.partner_id, day__gte=month, day__lte=end)
        if kind == "spike":
            usual = max(metrics.aggregate(most=Max("qualified_views"))["most"] or 0, 100_000)
            metrics.filter(day=month + dt.timedelta(days=14)).update(views=60 * usual, qualified_views=60 * usual)
            planted.append(f"a spike of {60 * usual:,} views on {month + dt.timedelta(days=14)} for partner "
                           f"{member.partner_id} ({slug})")
        else:
            metrics.update(views=F("views") * 3 + 300_000, qualified_views=F("views") * 3 + 300_000,
                           likes=0, comments=0, shares=0)
            planted.append(f"bot-like views without engagement in {month:%Y-%m} for partner {member.partner_id} "
                           f"({slug})")
    return "; ".join(planted) or "nothing planted (no member with figures)"


def enrol_demo_second_factor() -> list[str]:
    """Enrol the demo finance approvers with their fixed secrets; the lines that tell a person how to use them."""
    lines: list[str] = []
    for username, key_hex in DEMO_TOTP_KEYS.items():
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            continue
        device = enrol_fixed_device(user, key_hex=key_hex)
        lines += [
            f"Two-factor: {user.username} has an authenticator app enrolled (needed for money actions).",
            f"  secret (type it into an authenticator app): {base32_secret(device)}",
            f"  or scan/open: {device.config_url}",
            f"  or print the current code: DEBUG=true python manage.py totp_code {user.username}",
        ]
    if lines:
        lines += [
            "  Sign in with a code in the admin's \"Authenticator code\" field, or verify it when an action asks.",
            f"Payment batches: {DEMO_SECOND_FACTOR_USER} creates one from the approved run of {DEMO_BATCH_PROGRAM} "
            f"(its page: \"Create a payment batch…\"), {DEMO_SECOND_APPROVER} releases it and downloads the SEPA "
            "file; DEBUG=true python manage.py demo_statement <batch id> > camt.xml writes the bank's statement "
            "for it (the first payment returned, account closed) to upload.",
        ]
    return lines


def _inputs(rng: random.Random, today: dt.date) -> None:
    """Ad revenue for revenue-share members and videos with daily views for creator-rewards members."""
    days = [today - dt.timedelta(days=offset) for offset in range(90, 0, -1)]
    members = Enrolment.objects.filter(status=Enrolment.Status.APPROVED)
    revenue_rows = [
        AdRevenue(partner_id=partner_id, day=day, currency="USD", amount_minor=rng.randint(0, 25_000))
        for partner_id in members.filter(program__slug="ad-revenue-share").values_list("partner_id", flat=True)
        for day in days
    ]
    AdRevenue.objects.bulk_create(revenue_rows, batch_size=5000)
    videos = []
    for enrolment in members.filter(program__slug="creator-rewards").only("partner_id", "approved_at"):
        assert enrolment.approved_at is not None  # an approved enrolment records when
        for index in range(rng.randint(2, 6)):
            posted = enrolment.approved_at - dt.timedelta(days=rng.randint(-20, 10))
            videos.append(Video(partner_id=enrolment.partner_id, external_id=f"demo-{enrolment.partner_id}-{index}",
                                posted_at=posted, duration_seconds=rng.choice([45, 75, 120, 240, 600])))
    Video.objects.bulk_create(videos, batch_size=2000)
    table = VideoDailyViews._meta.db_table
    rows = [(video.pk, connection.ops.adapt_datefield_value(day), rng.randint(0, 40_000))
            for video in Video.objects.filter(external_id__startswith="demo-") for day in days]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} (video_id, day, qualified_views) VALUES (%s, %s, %s)", rows)
    video_rollups_rebuild()  # the rows went straight into the table: their months are summed once


# A handful of treaty rows (residence country, income type) → rate: illustrative, not tax advice.
TREATIES = {("DE", "royalties"): "0", ("GB", "royalties"): "0", ("FR", "royalties"): "0", ("JP", "royalties"): "0",
            ("CA", "royalties"): "0", ("IN", "royalties"): "0.15", ("MX", "royalties"): "0.10",
            ("ES", "royalties"): "0.08", ("DE", "other"): "0", ("GB", "other"): "0", ("IN", "other"): "0.15",
            ("DE", "services"): "0", ("GB", "services"): "0"}


def _tax(rng: random.Random, today: dt.date) -> None:
    """Treaty rows, and a tax profile for most partners: validated for most of those with a form on file (W-9 in
    the US, a W-8BEN or, for organisations, a W-8BEN-E elsewhere), a few expired or only received, the rest missing.
    About one partner in twenty keeps no profile (the program's flat rate and the tax-form flag still apply)."""
    for (country, income_type), rate in TREATIES.items():
        TreatyRate.objects.get_or_create(residence_country=country, income_type=income_type,
                                         defaults={"rate": Decimal(rate)})
    validator = get_user_model().objects.filter(username="finance").first()
    now = dt.datetime.combine(today, dt.time(9), tzinfo=dt.UTC)
    F, S = TaxProfile.FormType, TaxProfile.Status
    profiles = []
    partners = Partner.objects.filter(tax_profile__isnull=True).order_by("pk")
    for partner in partners.only("pk", "country", "kind", "tax_form_on_file"):
        roll = rng.random()
        if roll < 0.05:
            continue
        form = F.W9 if partner.country == "US" else (F.W8BENE if partner.is_organisation else F.W8BEN)
        expires = None if form == F.W9 else dt.date(today.year + 2, 12, 31)
        if not partner.tax_form_on_file:
            status, form, expires = (S.RECEIVED, form, expires) if roll < 0.5 else (S.MISSING, F.NONE, None)
        elif roll < 0.10 and form != F.W9:
            status, expires = S.VALIDATED, dt.date(today.year - 1, 12, 31)  # expired by date: policy applies
        elif validator is None:
            status = S.RECEIVED
        else:
            status = S.VALIDATED
        profiles.append(TaxProfile(
            partner_id=partner.pk, form_type=form, status=status, expires_on=expires,
            residence_country=partner.country if form != F.NONE else "",
            received_at=now if status != S.MISSING else None,
            validated_by=validator if status == S.VALIDATED else None,
            validated_at=now if status == S.VALIDATED else None))
    bulk_create_with_history(profiles, TaxProfile, batch_size=2000, default_user=validator,
                             default_change_reason="Demo data")
