"""The shared kernel: money, periods, validators, SQL helpers, permissions, admin and spreadsheet building blocks.

It imports no app of this project (a test enforces it), so every app may use it."""
