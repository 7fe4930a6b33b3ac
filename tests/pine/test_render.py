"""Pine renderer: golden output, the 500-line budget, escaping, and every rendered variant passes
the pynescript parse + v6 built-in check (tests/pine/pine_static.py)."""

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pine.render import MAX_LINES, PineRenderError, render, round_to_tick
from tests.pine.pine_static import problems

GOLDEN = Path(__file__).parent / "golden"
AS_OF = dt.date(2026, 3, 5)
CUTOFF = dt.datetime(2026, 3, 6)


def levels(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.5, "long", "short")
    return pd.DataFrame({
        "price": np.where(side == "long", 70_000 - rng.random(n) * 5_000, 72_000 + rng.random(n) * 5_000),
        "side": side,
        "method": np.where(rng.random(n) < 0.8, "objective", "behavioral"),
        "leverage": rng.choice([10, 25, 50, 100], n),
        "strength": rng.random(n).round(6),
        "notional_usd": rng.random(n) * 5e6,
        "created_ts": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 96, n), unit="h"),
    })


def rendered(frame: pd.DataFrame, **kwargs) -> str:
    args = dict(symbol="BTC", as_of=AS_OF, venues=["hyperliquid", "binance"], tick_size=0.1, generated_at=CUTOFF)
    return render(frame, **{**args, **kwargs})


def embedded(source: str, name: str) -> list[float]:
    match = re.search(rf"var array<\w+> {name} = (array\.from\((.*?)\)|array\.new<\w+>\(\))", source, re.S)
    return [float(v) for v in match.group(2).replace("\n", " ").split(",")] if match.group(2) else []


def test_golden_small_script():
    source = rendered(levels(6, seed=1))
    golden = GOLDEN / "BTC_small.pine"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(source)
    assert source == golden.read_text()


def test_more_than_500_levels_draws_exactly_the_500_strongest():
    frame = levels(1_200, seed=2)
    source = rendered(frame)
    drawn = embedded(source, "LV_STRENGTH")
    assert len(drawn) == MAX_LINES == len(embedded(source, "LV_PRICE")) == len(embedded(source, "LV_CODE"))
    threshold = sorted(frame["strength"], reverse=True)[MAX_LINES - 1]
    assert min(drawn) >= round(threshold, 2) - 0.005
    assert drawn == sorted(drawn, reverse=True), "strongest first"
    assert "// levels: 500 drawn" in source and "of 1200 active" in source


def test_prices_rounded_to_tick_and_codes_carry_side_and_tier():
    frame = pd.DataFrame({"price": [70123.456, 1.23456], "side": ["long", "short"], "method": ["objective", "behavioral"],
                          "leverage": [25, None], "strength": [1.0, 0.5], "notional_usd": [2.5e6, np.nan],
                          "created_ts": [pd.Timestamp("2026-03-05 01:00")] * 2})
    source = rendered(frame, tick_size=0.01)
    assert embedded(source, "LV_PRICE") == [70123.46, 1.23]
    assert embedded(source, "LV_CODE") == [25, -1000]
    assert embedded(source, "LV_TIME") == [pd.Timestamp("2026-03-05 01:00").value // 1_000_000] * 2
    assert round_to_tick(70123.456, 0.5) == 70123.5


def test_no_levels_renders_empty_arrays():
    source = rendered(levels(0))
    assert "var array<float> LV_PRICE = array.new<float>()" in source


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"symbol": 'BTC" + str.tostring(1) + "'}, "invalid symbol"), ({"symbol": "btc"}, "invalid symbol"),
     ({"venues": ["evil\")\nplot(close)//"]}, "unknown venue"), ({"tick_size": 0}, "tick size")],
)
def test_external_strings_are_validated(kwargs, message):
    with pytest.raises(PineRenderError, match=message):
        rendered(levels(3), **kwargs)


def test_stale_window_and_gating_are_in_the_script():
    source = rendered(levels(3))
    assert "const int VALID_TO = 1772928000000" in source  # 2026-03-08 00:00 UTC = as-of end + 48 h
    assert "syminfo.basecurrency == DATA_SYMBOL" in source and "anySymbol" in source
    code = "\n".join(line for line in source.splitlines() if not line.startswith("//"))
    assert "max_lines_count = 500" in code and "request." not in code


@pytest.mark.parametrize("variant", ["small", "over-500", "empty", "tick-1", "golden"])
def test_every_rendered_variant_parses_and_uses_only_known_builtins(variant):
    source = {
        "small": lambda: rendered(levels(6)),
        "over-500": lambda: rendered(levels(900, seed=3)),
        "empty": lambda: rendered(levels(0)),
        "tick-1": lambda: rendered(levels(20), tick_size=1.0),
        "golden": lambda: (GOLDEN / "BTC_small.pine").read_text(),
    }[variant]()
    assert problems(source) == []


def test_static_check_catches_what_it_should():
    source = rendered(levels(4))
    assert problems(source.replace("extend = extend.right", "extnd = extend.right")) == ["line.new(): no parameter named 'extnd'"]
    assert "unknown built-in label.neww()" in problems(source.replace("label.new(time", "label.neww(time"))
    assert problems(source.replace("levelColor(code)\n", "levelColour(code)\n")) == ["undefined name 'levelColour'", "unknown built-in levelColour()"]
    assert problems(source.replace("if barstate.islast", "if (barstate.islast")) [0].startswith("syntax error")


def test_the_overlay_raises_alerts_at_global_scope():
    from pynescript import ast as pine_ast

    source = rendered(levels(20, seed=4))
    tree = pine_ast.parse(source)
    calls = [node.value for node in tree.body if isinstance(node, pine_ast.Expr) and isinstance(node.value, pine_ast.Call)]
    titles = [call.args[1].value.value for call in calls
              if getattr(call.func, "id", None) == "alertcondition"]
    assert titles == ["Near a long liquidation level", "Near a short liquidation level", "Large level crossed", "Levels are stale"]
    as_of_end = int(dt.datetime(2026, 3, 6, tzinfo=dt.UTC).timestamp() * 1000)
    assert f"const int AS_OF_END = {as_of_end}" in source
    assert problems(source) == []


def test_measured_zones_are_drawn_with_their_own_code_and_a_toggle():
    frame = levels(20, seed=4)
    frame.loc[:3, "method"] = "measured"
    frame.loc[:3, "leverage"] = None
    source = rendered(frame)
    codes = embedded(source, "LV_CODE")
    assert sum(abs(c) == 2000 for c in codes) == 4  # sign = side, 2000 = measured
    assert "bool showMeasured = input.bool(true, \"Measured zones (real Hyperliquid positions: 4 in this script)\"" in source
    assert "tier == MEASURED ? showMeasured" in source
    assert problems(source) == []
