"""Pure liquidation-level math (numpy/pandas only): margin formulas, level engines, views."""
