"""Which formula computes each paying archetype."""

from __future__ import annotations

from partnerships.models import Program
from payouts.formulas import grant, pooled, rate_per_mille, revenue_share

# The formula of each paying archetype: (run context) → the SQL of its ``earned`` CTE and its parameters.
FORMULAS = {
    Program.Archetype.POOLED_FUND: pooled.earned,
    Program.Archetype.REVENUE_SHARE: revenue_share.earned,
    Program.Archetype.RATE_PER_MILLE: rate_per_mille.earned,
    Program.Archetype.GRANT: grant.earned,
}
