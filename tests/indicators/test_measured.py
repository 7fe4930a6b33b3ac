"""The measured map's math against hand-placed positions: bins, tiers, cross/isolated, totals,
distributions, similarity golden values, the leverage mix and inferred liquidations."""

import numpy as np
import pandas as pd
import pytest

from indicators import measured as m
from indicators.views import clusters, liquidation_map


def positions(rows: list[tuple]) -> pd.DataFrame:
    """(address, side, liq_price, position_usd, leverage, margin_mode) → position rows."""
    frame = pd.DataFrame(rows, columns=["address", "side", "liq_price", "position_usd", "leverage", "margin_mode"])
    frame["symbol"] = "BTC"
    return frame


SNAPSHOT = positions([
    ("a", "long", 95.04, 1000.0, 10, "cross"),
    ("b", "long", 95.06, 500.0, 40, "isolated"),
    ("c", "long", 89.5, 200.0, 3, "cross"),
    ("d", "short", 105.0, 700.0, 25, "cross"),
    ("e", "short", None, 300.0, 5, "cross"),  # no liquidation price: totals only
])


def test_bins_count_usd_per_side_mode_and_tier():
    bins = m.measured_bins(SNAPSHOT, width=0.1).set_index("bin_low")
    assert list(bins.columns) == m.BIN_COLUMNS[1:]
    row = bins.iloc[int(np.argmin(np.abs(bins.index - 95.0)))]
    assert row.name == pytest.approx(95.0)
    assert (row.long_usd, row.long_count, row.long_cross_usd, row.short_usd) == (1500.0, 2, 1000.0, 0.0)
    assert (row.usd_10x, row.usd_50x, row.usd_25x) == (1000.0, 500.0, 0.0)
    assert bins["long_usd"].sum() == 1700.0 and bins["short_usd"].sum() == 700.0  # the unpriced short is in no bin
    assert bins[[f"usd_{t}x" for t in (10, 25, 50, 100)]].sum().sum() == 2400.0


def test_totals_and_tiers():
    totals = m.snapshot_totals(SNAPSHOT)
    assert totals == {"positions": 5, "positions_without_liq": 1, "long_usd": 1700.0, "short_usd": 1000.0,
                      "cross_usd": 2200.0, "isolated_usd": 500.0}
    assert list(m.tier_of(np.array([1, 10, 11, 25, 26, 50, 51, 200]))) == [10, 10, 25, 25, 50, 50, 100, 100]


def test_positions_feed_the_same_map_and_clusters_as_estimated_levels():
    levels = m.as_levels(SNAPSHOT)
    assert len(levels) == 4 and set(levels["status"]) == {"active"}
    view = liquidation_map(levels, close=100.0, width=0.1)
    assert view["long_usd"].sum() == 1700.0 and view["long_cum_usd"].max() == 1700.0 and view["short_cum_usd"].max() == 700.0
    zones = clusters(levels, pd.DataFrame(columns=["side", "price", "weight"]), gap=0.25, method="measured")
    assert set(zones["methods"]) == {"measured"} and zones.loc[zones.side == "long", "usd"].max() == 1500.0


def test_distributions_by_leverage_and_distance():
    d = m.distributions(SNAPSHOT, price=100.0)
    lev = d[(d.kind == "leverage") & (d.usd > 0)].set_index(["side", "bucket_low"])["usd"].to_dict()
    assert lev == {("long", 3.0): 200.0, ("long", 10.0): 1000.0, ("long", 40.0): 500.0, ("short", 5.0): 300.0, ("short", 25.0): 700.0}
    dist = d[(d.kind == "distance_pct") & (d.usd > 0)].set_index(["side", "bucket_low"])["usd"].to_dict()
    assert dist == {("long", 2.0): 1500.0, ("long", 10.0): 200.0, ("short", 5.0): 700.0}
    assert d.groupby("kind")["positions"].sum().to_dict() == {"distance_pct": 4, "leverage": 5}


@pytest.mark.parametrize("case, spearman, cosine", [
    ("same", 1.0, 1.0),
    ("scaled", 1.0, 1.0),  # both metrics ignore scale: only the shape counts
    ("disjoint", None, 0.0),
    ("empty", None, None),
])
def test_similarity_golden_values(case, spearman, cosine):
    measured = m.as_levels(SNAPSHOT)
    estimated = {"same": measured, "scaled": measured.assign(notional_usd=measured.notional_usd * 7),
                 "disjoint": measured.assign(liq_price=measured.liq_price - 3.0),
                 "empty": measured.iloc[0:0]}[case]
    scored = m.similarity(estimated, measured, price=100.0, width=0.1).set_index("side")
    assert scored.loc["long", "bins"] == 150 and scored.loc["short", "bins"] in (150, 151)  # ±15 % of 100 in 0.1 bins (floor of 115 / 0.1)
    if cosine is None:
        assert np.isnan(scored.loc["long", "cosine"]) and np.isnan(scored.loc["long", "spearman"])
    else:
        assert scored.loc["long", "cosine"] == pytest.approx(cosine)
    if spearman is not None:
        assert scored.loc["long", "spearman"] == pytest.approx(spearman)
    assert scored.loc["long", "measured_usd"] == 1700.0


def test_similarity_against_a_hand_computed_cosine():
    measured = pd.DataFrame({"side": ["long", "long"], "liq_price": [95.05, 96.05], "notional_usd": [3.0, 4.0]})
    estimated = pd.DataFrame({"side": ["long", "long"], "liq_price": [95.05, 97.05], "notional_usd": [1.0, 1.0]})
    scored = m.similarity(estimated, measured, price=100.0, width=0.1).set_index("side")
    assert scored.loc["long", "cosine"] == pytest.approx(3.0 / (5.0 * np.sqrt(2.0)))


def test_leverage_mix_takes_the_nearest_leverage_in_log_space():
    mix = m.leverage_mix(SNAPSHOT, (3, 5, 10, 20, 40))
    assert mix == pytest.approx((200 / 2700, 300 / 2700, 1000 / 2700, 700 / 2700, 500 / 2700))  # 25x is nearer 20x than 40x
    assert m.leverage_mix(SNAPSHOT.iloc[0:0], (5, 10)) == (0.5, 0.5)


def test_inferred_liquidations_need_the_price_to_reach_the_level_and_the_position_to_be_gone():
    before = SNAPSHOT
    after = before[before.address.isin(["c", "e"])]  # a, b (longs near 95) and d (short at 105) are gone
    gone = m.inferred_liquidations(before, after, low=95.05, high=104.0)
    assert list(gone.address) == ["b"] and gone.inferred.all()  # a at 95.04 not reached; d's 105 not reached
    assert gone.usd.iloc[0] == 500.0
    assert len(m.inferred_liquidations(before, before, low=0.0, high=1e9)) == 0  # nothing vanished
