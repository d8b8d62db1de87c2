"""Currency exponents, for showing minor units in major units (campaign budgets in exports).

payouts.money holds the same table for money proper; partnerships may not import payouts, so the table is
repeated here and a test keeps the two identical."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 exponents that are not 2; every other currency has cents.
EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Exact major units, e.g. 1728 USD → Decimal('17.28')."""
    return Decimal(amount_minor).scaleb(-EXPONENTS.get(currency.upper(), 2))
