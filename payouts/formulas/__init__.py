"""The monthly formulas, as set-based SQL over a run's earning lines.

Each archetype module inserts one line per partner with its basis and gross amount in a few statements;
settle.py then applies adjustments, carried-in balances, withholding, holds and the minimum payout.
No Python loop ever iterates over partners.
"""

from partnerships.models import Program
from payouts.formulas import grant, pooled, rate_per_mille, revenue_share

# The formula of each paying archetype: (run context) → the SQL of its ``earned`` CTE and its parameters.
FORMULAS = {
    Program.Archetype.POOLED_FUND: pooled.earned,
    Program.Archetype.REVENUE_SHARE: revenue_share.earned,
    Program.Archetype.RATE_PER_MILLE: rate_per_mille.earned,
    Program.Archetype.GRANT: grant.earned,
}
