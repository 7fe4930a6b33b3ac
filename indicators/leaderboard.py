"""Model leaderboard: every registered model scored on the same windows, tuned on the earlier part
of the range and reported on the later part.

Rules chosen where the issue is silent:
- **Split**: by whole UTC days; the default first test day is the middle one of the scored days
  that hold realized liquidations (`days[len // 2]`), so the training part never holds more days
  of truth than the test part.
- **Tuning**: each model's candidates (its defaults first, then its grid) are scored on the
  training windows only; the one with the highest partial rank wins, ties to the earlier candidate
  (so a flat grid keeps the documented default). The test windows never choose anything.
- **Lift vs range**: a model's top-decile capture divided by `range_only`'s on the same part
  (> 1: its best windows hold more realized USD than the windows that simply moved most).
- **The winner is chosen on the training part**: the non-baseline model with the highest training
  partial rank (after its own tuning). Its held-out figures are what the verdict reports; the
  test part never chooses a model or a parameter.
- **Verdict** (test part): the winner *beats* the placebo when its partial rank's 95 %
  day-bootstrap interval lies above the placebo's partial rank and its pooled Spearman is higher
  too; "above but not shown" when only the point estimate is higher.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from indicators import quality
from indicators.models import Model, ModelInputs

PARTS = ("train", "test")
METRICS = ["windows", "days", "realized_usd", "spearman_pooled", "spearman_pooled_ci_low", "spearman_pooled_ci_high",
           "capture_top10", "capture_top10_ci_low", "capture_top10_ci_high", "partial_rank", "partial_rank_ci_low",
           "partial_rank_ci_high"]


def realized_days(windows: pd.DataFrame, scored: np.ndarray) -> list[dt.date]:
    """The scored days that hold realized liquidations (the only days that can tune or test)."""
    usd = (windows["long_usd"] + windows["short_usd"]).to_numpy(float)
    return sorted(set(windows.loc[scored & (usd > 0), "day"]))


def default_split(days: list[dt.date]) -> dt.date:
    """The first test day: the middle one of the days with realized liquidations (at least one
    training day), so both parts hold about as many days of truth."""
    if len(days) < 2:
        raise ValueError(f"a time split needs at least 2 days with realized liquidations, got {len(days)}")
    return days[len(days) // 2]


def model_predictions(model: Model, params: dict, inputs: ModelInputs, windows: pd.DataFrame) -> pd.DataFrame:
    """long_pred/short_pred of `model` with `params` on every window of `windows`."""
    if model.window_predict is not None:
        return model.window_predict(windows, **params).reset_index(drop=True)
    return quality.predictions(model.levels(inputs, **params), windows)


def _partial(pred: pd.DataFrame, windows: pd.DataFrame) -> float:
    return quality._metrics(pred["long_pred"].to_numpy(float), pred["short_pred"].to_numpy(float), windows)["partial_rank"]


def evaluate(models: dict[str, Model], inputs: ModelInputs, windows: pd.DataFrame, scored: np.ndarray, first_test_day: dt.date,
             resamples: int = 200, seed: int = 7) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(one row per model and part with its chosen params and metrics, test predictions per model).

    `windows`: every window from the start of the history (so touches before the range are seen);
    `scored`: mask of the windows in the scored range.
    """
    days = windows["day"].to_numpy()
    masks = {"train": scored & (days < first_test_day), "test": scored & (days >= first_test_day)}
    if not masks["train"].any() or not masks["test"].any():
        raise ValueError(f"split at {first_test_day} leaves an empty part: choose a day inside the scored range")
    parts = {part: windows[mask].reset_index(drop=True) for part, mask in masks.items()}
    rows, test_predictions = [], {}
    for name, model in models.items():
        best, best_score, tried = None, -np.inf, 0
        for params in model.candidates():
            pred = model_predictions(model, params, inputs, windows)
            value = _partial(pred[masks["train"]].reset_index(drop=True), parts["train"])
            tried += 1
            if best is None or (np.isfinite(value) and value > best_score):
                best, best_score = (params, pred), value if np.isfinite(value) else best_score
        params, pred = best
        for part in PARTS:
            part_pred = pred[masks[part]].reset_index(drop=True)
            result = quality.score(part_pred, parts[part], resamples=resamples, seed=seed)
            rows.append({"model": name, "kind": model.kind, "part": part, "params": format_params(params),
                         "candidates": tried, **{k: result.get(k, np.nan) for k in METRICS}})
            if part == "test":
                test_predictions[name] = part_pred
    table = pd.DataFrame(rows)
    for part in PARTS:
        at = table["part"] == part
        base = table.loc[at & (table["model"] == "range_only"), "capture_top10"]
        table.loc[at, "lift_vs_range"] = table.loc[at, "capture_top10"] / base.iloc[0] if len(base) and base.iloc[0] > 0 else np.nan
    table.attrs.update(first_test_day=first_test_day,
                       train=(parts["train"]["day"].min(), parts["train"]["day"].max()),
                       test=(parts["test"]["day"].min(), parts["test"]["day"].max()))
    return table, test_predictions


def format_params(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "-"


def best_model(table: pd.DataFrame, part: str = "train") -> str | None:
    """The non-baseline model with the highest partial rank on `part` (None if none is finite); the
    training part by default, so that the model the verdict reports was chosen without the test."""
    rows = table[(table["part"] == part) & (table["kind"] == "model") & np.isfinite(table["partial_rank"])]
    return None if rows.empty else str(rows.sort_values("partial_rank", ascending=False, kind="stable").iloc[0]["model"])


def leaderboard_verdict(table: pd.DataFrame) -> str:
    """One line: does the held-out winner beat the price-only placebo, and by how much?"""
    test = table[table["part"] == "test"].set_index("model")
    if "placebo" not in test.index or not test["realized_usd"].fillna(0).max() > 0:
        return "no verdict: no realized liquidations in the test part"
    winner = best_model(table)
    if winner is None or not np.isfinite(test.loc["placebo", "partial_rank"]):
        return f"no verdict: too few windows with liquidations in the test part ({test['windows'].max():.0f} windows)"
    m, p = test.loc[winner], test.loc["placebo"]
    gap = m["partial_rank"] - p["partial_rank"]
    interval = (f" [{m['partial_rank_ci_low']:.3f}, {m['partial_rank_ci_high']:.3f}]" if np.isfinite(m["partial_rank_ci_low"])
                else " (no interval: one held-out day)")
    figures = (f"{winner} (best on the training part) held-out partial rank {m['partial_rank']:.3f}{interval} vs placebo {p['partial_rank']:.3f} "
               f"({m['days']:.0f} held-out days)")
    if gap > 0 and m["partial_rank_ci_low"] > p["partial_rank"] and m["spearman_pooled"] > p["spearman_pooled"]:
        return f"BEATS the placebo by {gap:+.3f}: {figures}"
    if gap > 0:
        return f"above the placebo by {gap:+.3f} but within its interval, not shown to beat it: {figures}"
    return f"nothing beats the placebo ({gap:+.3f}): {figures}"
