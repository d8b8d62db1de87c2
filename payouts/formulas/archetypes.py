"""Which formula computes each paying archetype."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from partnerships.models import Program
from payouts.formulas import grant, pooled, rate_per_mille, revenue_share
from payouts.formulas.context import RunContext

# The formula of each paying archetype: (run context) → the SQL of its ``earned`` CTE and its parameters. Keyed by
# str: a loaded Program's archetype is the stored string, which the Archetype members equal.
FORMULAS: dict[str, Callable[[RunContext], tuple[str, dict[str, Any]]]] = {
    Program.Archetype.POOLED_FUND: pooled.earned,
    Program.Archetype.REVENUE_SHARE: revenue_share.earned,
    Program.Archetype.RATE_PER_MILLE: rate_per_mille.earned,
    Program.Archetype.GRANT: grant.earned,
}
