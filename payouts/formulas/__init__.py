"""The monthly formulas, as set-based SQL over a run's earning lines.

Each archetype module inserts one line per partner with its basis and gross amount in a few statements;
settle.py then applies adjustments, carried-in balances, withholding, holds and the minimum payout.
No Python loop ever iterates over partners.
"""
