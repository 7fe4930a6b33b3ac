"""Level models scored side by side by the leaderboard: plain objects registered in one place.

A model is a name, a docstring that says where it comes from, default parameters, a small grid of
candidates the leaderboard may tune on the training part of a range, and a function from the bars
(+ OI per venue, taker flow) to **level rows**:

    created_ts   when the level became known (the close of the bar it comes from), naive UTC
    side         "long" (liquidated when price falls to it) or "short"
    price        USD
    size         predicted liquidation USD (any positive scale: only ranks are scored)
    expires_ts   optional: the level no longer counts in windows starting at or after it
    half_life_h  optional: the size decays by 2^(−age / half-life) until the window that reaches it

Window models (`range_only`) predict per window directly. Every module of this package that calls
`register` at import is loaded by `registry()`: adding a model is adding one file.

Rules chosen where the sources are silent:
- Every estimated model prices its levels with the same liquidation geometry (`ModelInputs.price_for`,
  the default preset's venue margin tiers), so the leaderboard compares the *information* each
  model uses, not its tier table.
- A level is known at the close of its bar; no model sees a bar before it has closed.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

LEVEL_COLUMNS = ["created_ts", "side", "price", "size", "expires_ts"]
LEVERAGES = (10, 25, 50, 100)


@dataclass(frozen=True)
class ModelInputs:
    """What every model may read. Bars: ts (bar open, datetime64[ns]), open, high, low, close (USD),
    volume (base units), taker_buy_volume (base units, NaN unknown), oi_usd (sum over venues, USD)."""

    bars: pd.DataFrame
    venue_bars: dict[str, pd.DataFrame]  # the same bars with each venue's own oi_usd
    bar: pd.Timedelta
    price_for: Callable[[str, np.ndarray, int], np.ndarray | None]  # (side, entry USD, leverage) → liq USD
    tiers_for: Callable[[object], dict | None] = lambda params: None  # objective params → venue margin tiers
    windows: pd.DataFrame | None = None  # the scored windows, for window models
    # Measured positions (snapshot_ts, scan_end, side, liq_price, position_usd) of the symbol, for the
    # `measured` reference; None where the venue has no scans.
    positions: pd.DataFrame | None = None
    calibrated: object | None = None  # the calibrated preset's ObjectiveParams fitted before the test part, or None


@dataclass(frozen=True)
class Model:
    """A registered model. `levels(inputs, **params)` returns level rows; `window_predict(windows,
    **params)` returns long_pred/short_pred per window instead (exactly one of the two is set)."""

    name: str
    doc: str
    levels: Callable[..., pd.DataFrame] | None = None
    window_predict: Callable[..., pd.DataFrame] | None = None
    defaults: dict = field(default_factory=dict)
    grid: dict[str, tuple] = field(default_factory=dict)  # candidates tuned on the training part
    kind: str = "model"  # model | baseline | measured (real positions: the bound an estimate can reach, never "the best model")

    def candidates(self) -> list[dict]:
        """The default parameters first, then every grid point (each parameter varied over its grid)."""
        points = [dict(self.defaults)]
        keys = list(self.grid)
        combos = [{}]
        for key in keys:
            combos = [{**c, key: v} for c in combos for v in self.grid[key]]
        for combo in combos:
            point = {**self.defaults, **combo}
            if point not in points:
                points.append(point)
        return points


_REGISTRY: dict[str, Model] = {}


def register(model: Model) -> Model:
    if model.name in _REGISTRY and _REGISTRY[model.name] is not model:
        raise ValueError(f"model {model.name!r} is registered twice")
    _REGISTRY[model.name] = model
    return model


def registry() -> dict[str, Model]:
    """Every model of this package, baselines last, in a stable order."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    ordered = sorted(_REGISTRY.values(), key=lambda m: (m.kind == "baseline", m.name))
    return {m.name: m for m in ordered}


def known_ts(inputs: ModelInputs, idx: np.ndarray) -> np.ndarray:
    """The close of bars `idx`: when what they show becomes known."""
    return inputs.bars["ts"].to_numpy("datetime64[ns]")[idx] + np.timedelta64(inputs.bar)


def tier_rows(inputs: ModelInputs, idx: np.ndarray, anchors: list[tuple[np.ndarray, float]], long_usd: np.ndarray,
              short_usd: np.ndarray, tier_weights: dict[int, float], expiry_h: float,
              half_lives_h: dict[int, float] | None = None) -> pd.DataFrame:
    """Level rows of positions opened on bars `idx`: for each side, entry anchor (entry price per bar,
    share) and leverage tier (share), a level at that entry's liquidation price carrying
    side USD × anchor share × tier share. Tier shares are normalised to sum to 1."""
    total = sum(tier_weights.values())
    created = known_ts(inputs, idx)
    # an age limit counts from the bar's open, as in the objective engine
    expires = inputs.bars["ts"].to_numpy("datetime64[ns]")[idx] + np.timedelta64(int(expiry_h * 3600), "s")
    # Columns are gathered as arrays and framed once: a frame per (side, anchor, tier) cost more than the math.
    columns: dict[str, list] = {"created_ts": [], "side": [], "price": [], "size": [], "expires_ts": [], "half_life_h": []}
    for side, usd in (("long", long_usd), ("short", short_usd)):
        keep = usd > 0
        if not keep.any():
            continue
        for entry, share in anchors:
            for leverage, weight in tier_weights.items():
                prices = inputs.price_for(side, entry[keep], leverage)
                if prices is None or weight <= 0:
                    continue
                n = int(keep.sum())
                columns["created_ts"].append(created[keep])
                columns["side"].append(np.full(n, side, dtype=object))
                columns["price"].append(np.broadcast_to(np.asarray(prices, float), n))
                columns["size"].append(usd[keep] * share * weight / total)
                columns["expires_ts"].append(expires[keep])
                if half_lives_h is not None:
                    columns["half_life_h"].append(np.full(n, float(half_lives_h[leverage])))
    if not columns["side"]:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c.endswith("_ts") else float) for c in LEVEL_COLUMNS})
    if half_lives_h is None:
        del columns["half_life_h"]
    return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})


def equal_tiers(leverages=LEVERAGES) -> dict[int, float]:
    return {L: 1.0 for L in leverages}
