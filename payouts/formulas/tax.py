"""Which withholding rate each line gets, and whether a missing form holds it: SQL joined into the statement that
writes a run's lines (settle.py), so a month stays a handful of statements whatever the number of partners.

The rule, per line, from the partner's tax profile (payouts.models.tax) at the run's month end:

- no profile: the program's flat ``withholding_rate`` and, when ``hold_without_tax_form``, a hold while the
  partner's "tax form on file" is off. This is exactly the behaviour before profiles existed. Existing partners are
  deliberately *not* migrated to invented profiles: one flat rate per program cannot be reproduced by a per-partner
  profile unless everyone is labelled a W-9 US person, which would put false facts into 1099 / 1042-S filings.
  Finance records real profiles; until then a partner keeps the old rule.
- a validated form not expired at the month end (``expires_on`` empty or on/after it): a W-9 gets the program's
  ``domestic_withholding_rate``; a W-8BEN / W-8BEN-E gets the treaty rate for (residence country, the program's
  income type), or the ``statutory_withholding_rate`` when the treaty table has no such row.
- a form missing or received but not yet validated ("missing"), or expired (status expired, or validated with
  ``expires_on`` before the month end): the statutory rate, and the line is held too when the program's
  ``missing_form_policy`` is "hold". A held line is still withheld at the statutory rate because approval posts
  the withholding and a held balance is later paid as a carried-in amount without being withheld again; what
  turns out over-withheld once a valid form arrives is returned by an adjustment, while under-withholding could
  never be recovered.
"""

from __future__ import annotations

from core.sql import date_param
from payouts.formulas.tables import TAX_PROFILE_TABLE, TREATY_TABLE, quoted
from payouts.models import MissingFormPolicy, PayoutRun, ProgramTerms, TaxProfile, WithholdingSource

PPM = 1_000_000  # rates are applied in millionths: rate × 10**6 is a whole number (six decimals)
S, F, W = TaxProfile.Status, TaxProfile.FormType, WithholdingSource

# The profile and treaty row of the line ``{line}``: joined once per line (a profile per partner at most, a treaty
# row per country and income type at most), so the joins never multiply lines.
TAX_JOINS = f"""
    LEFT JOIN {TAX_PROFILE_TABLE} tp ON tp.partner_id = {{line}}.partner_id
    LEFT JOIN {TREATY_TABLE} tr ON tr.residence_country = tp.residence_country AND tr.income_type = %(income_type)s
"""

# Why the line is withheld at its rate (a WithholdingSource value), over ``tp`` and ``tr``.
TAX_SOURCE = f"""(CASE
    WHEN tp.id IS NULL THEN {quoted(W.FLAT)}
    WHEN tp.status = {quoted(S.VALIDATED)} AND (tp.expires_on IS NULL OR tp.expires_on >= %(month_end)s) THEN
        CASE WHEN tp.form_type = {quoted(F.W9)} THEN {quoted(W.DOMESTIC)}
             WHEN tr.id IS NOT NULL THEN {quoted(W.TREATY)}
             ELSE {quoted(W.NO_TREATY)} END
    WHEN tp.status IN ({quoted(S.VALIDATED, S.EXPIRED)}) THEN {quoted(W.EXPIRED)}
    ELSE {quoted(W.MISSING)} END)"""


def rate_ppm_sql(source: str, treaty_rate: str) -> str:
    """SQL: the rate in millionths for a line whose source is ``source`` (an SQL expression). The treaty rate is a
    six-decimal number: × 10**6 and rounded it is that exact whole number (on SQLite, whose decimals are doubles,
    too: fifteen significant digits are far more than seven)."""
    return (f"(CASE {source} WHEN {quoted(W.FLAT)} THEN %(flat_ppm)s WHEN {quoted(W.DOMESTIC)} THEN %(domestic_ppm)s "
            f"WHEN {quoted(W.TREATY)} THEN CAST(ROUND({treaty_rate} * {PPM}) AS bigint) "
            "ELSE %(statutory_ppm)s END)")


def tax_hold_sql(terms: ProgramTerms, source: str) -> list[str]:
    """SQL parts (each '' or a reason ending in '; ') of a line's hold for its tax documentation, over the partner
    ``p`` and the line's ``source``."""
    holds = []
    if terms.hold_without_tax_form:  # partners without a profile: the legacy flag
        holds.append(f"CASE WHEN {source} = {quoted(W.FLAT)} AND NOT p.tax_form_on_file "
                     "THEN 'no tax form on file; ' ELSE '' END")
    if terms.missing_form_policy == MissingFormPolicy.HOLD:
        holds.append(f"CASE {source} WHEN {quoted(W.MISSING)} THEN 'no validated tax form; ' "
                     f"WHEN {quoted(W.EXPIRED)} THEN 'tax form expired; ' ELSE '' END")
    return holds


def tax_params(terms: ProgramTerms, run: PayoutRun) -> dict:
    """The parameters TAX_JOINS, TAX_SOURCE and rate_ppm_sql read."""
    return {"income_type": terms.income_type, "month_end": date_param(run.month_end),
            "flat_ppm": int(terms.withholding_rate * PPM), "domestic_ppm": int(terms.domestic_withholding_rate * PPM),
            "statutory_ppm": int(terms.statutory_withholding_rate * PPM)}
