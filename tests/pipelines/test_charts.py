"""Pictures, checked by structure (what is drawn, where, labelled how), not by bytes: the heat grid
against hand-placed cells, candles vs close line, bands that stop at the last bar, the price label,
one legend outside the data, the empty-day note, the size and the smallest font."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from indicators.views import heatmap
from pipelines.lib import chart_style as style
from pipelines.lib.charts import heat_grid, heatmap_chart, heatmap_figure, liquidation_map_chart, liquidation_map_figure
from pipelines.lib.pictures import PictureSettings, range_cells

PNG = b"\x89PNG\r\n\x1a\n"
HOUR = 3600


def bars(n: int, start: str = "2026-03-04", seconds: int = HOUR, price: float = 100.0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq=f"{seconds}s")
    close = price + np.sin(np.arange(n) / 5.0)
    return pd.DataFrame({"ts": ts, "open": np.r_[price, close[:-1]], "high": close + 0.5, "low": close - 0.5, "close": close})


def cells_at(frame: pd.DataFrame, rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    """(bar index, bin_low, long USD, short USD) → heatmap cells 0.1 wide."""
    return pd.DataFrame({"ts": [frame.ts.iloc[i] for i, *_ in rows], "bin_low": [r[1] for r in rows],
                         "bin_high": [r[1] + 0.1 for r in rows], "long_usd": [r[2] for r in rows], "short_usd": [r[3] for r in rows]})


def texts(fig) -> list:
    return [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")) if t.get_text().strip()]


def test_heat_grid_puts_each_cell_in_its_bar_and_bin():
    b = bars(3)
    cells = cells_at(b, [(0, 98.0, 1e6, 0.0), (0, 98.0, 2e6, 0.0), (2, 103.0, 0.0, 5e5), (1, 500.0, 9e9, 0.0)])
    edges, grid = heat_grid(cells, b, 97.0, 105.0)
    assert grid.shape == (len(edges) - 1, 3)
    row = int(np.argmin(np.abs(edges[:-1] - 98.0)))
    assert grid[row, 0] == 3e6 and grid[:, 0].sum() == 3e6  # two cells of one bin add up
    assert grid[:, 2].sum() == 5e5
    assert grid[:, 1].sum() == 0  # far outside the price range: left out, not clipped to the edge


def test_quantile_scale_lifts_the_quieter_side_to_the_same_brightness():
    b = bars(2)
    cells = cells_at(b, [(0, 98.0, 1e9, 0.0), (0, 98.5, 5e8, 0.0), (1, 102.0, 0.0, 10.0), (1, 102.5, 0.0, 5.0)])
    _, usd = heat_grid(cells, b, 97.0, 104.0, "log")
    _, q = heat_grid(cells, b, 97.0, 104.0, "quantile")
    assert usd[:, 1].max() / usd[:, 0].max() == pytest.approx(1e-8)
    assert q[:, 0].max() == q[:, 1].max() == 1.0 and sorted(q[q > 0]) == [0.5, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="scale"):
        heat_grid(cells, b, 97.0, 104.0, "linear")


@pytest.mark.parametrize("n, candles", [(48, True), (600, False)])
def test_heatmap_draws_candles_or_a_close_line_and_stops_at_the_last_bar(n, candles):
    seconds = HOUR if candles else 300
    b = bars(n, seconds=seconds)
    cells = cells_at(b, [(i, 97.0, 1e6 * (i + 1), 2e5) for i in range(0, n, 3)])
    fig = heatmap_figure(cells, b, "title", seconds)
    ax = fig.axes[0]
    end = b.ts.iloc[-1] + pd.Timedelta(seconds=seconds)
    import matplotlib.dates as mdates

    assert ax.get_xlim()[1] == pytest.approx(mdates.date2num(end))  # nothing drawn beyond the last bar
    mesh = ax.collections[0]
    assert mesh.get_coordinates()[:, :, 0].max() == pytest.approx(mdates.date2num(end))
    bodies = [c for c in ax.containers if c.get_label() == "candles"]
    assert (len(bodies[0]) == n) if candles else (not bodies and [line.get_label() for line in ax.lines][0] == "close")
    assert "UTC" in ax.get_xlabel() and ax.get_ylabel() == "price (USD)"
    assert f"{b.close.iloc[-1]:,.2f}" in [t.get_text() for t in ax.texts]  # the last close is labelled
    assert "log scale" in fig.axes[1].get_ylabel()  # the colour bar says what it shows
    assert fig.get_size_inches()[0] * fig.dpi == 1280
    assert min(t.get_fontsize() for t in texts(fig)) >= 9


def test_a_day_without_levels_says_why_instead_of_an_empty_frame():
    b = bars(24)
    fig = heatmap_figure(cells_at(b, [])[:0], b, "t", HOUR, empty_note="no levels yet (warm-up: 12 1h bars)")
    assert "no levels yet (warm-up: 12 1h bars)" in [t.get_text() for t in fig.axes[0].texts]
    assert len(fig.axes) == 1  # no colour bar for nothing
    m = liquidation_map_figure(pd.DataFrame(columns=["bin_low", "bin_high"]), 100.0, "m", None, "no levels yet (warm-up: 12 1h bars)")
    assert "no levels yet (warm-up: 12 1h bars)" in [t.get_text() for t in m.axes[0].texts]
    assert heatmap_chart(cells_at(b, [])[:0], b, "t", HOUR).startswith(PNG)


def map_rows(close: float) -> pd.DataFrame:
    lows = np.round(np.arange(close * 0.9, close * 1.1, close * 0.001), 6)
    below = lows < close
    usd = np.linspace(1e5, 1e6, len(lows))
    rows = pd.DataFrame({"bin_low": lows, "bin_high": lows + close * 0.001, "long_usd": np.where(below, usd, 0.0),
                         "short_usd": np.where(below, 0.0, usd)})
    rows["long_cum_usd"] = np.where(below, rows["long_usd"][::-1].cumsum()[::-1], 0.0)
    rows["short_cum_usd"] = np.where(below, 0.0, rows["short_usd"].cumsum())
    for tier, share in zip((10, 25, 50, 100), (0.4, 0.3, 0.2, 0.1)):
        rows[f"usd_{tier}x"] = usd * share
    return rows


def test_liquidation_map_has_one_legend_outside_the_data_with_tiers_curves_close_and_max_pain():
    pain = {"long_price": 95.0, "long_usd": 3e7, "short_price": 104.0, "short_usd": 2e7}
    fig = liquidation_map_figure(map_rows(100.0), 100.0, "m", pain)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == ["10x leverage", "25x leverage", "50x leverage", "100x leverage"]
    assert "cumulative long (below close)" in labels and "cumulative short (above close)" in labels
    assert "close 100.00" in labels and "max pain long 95.00 (30 M USD)" in labels and "max pain short 104.00 (20 M USD)" in labels
    assert sum(a.get_legend() is not None for a in fig.axes) == 1
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 > max(a.get_window_extent().x1 for a in fig.axes)  # beside the data, never over a bar
    assert any(t.get_text() == "close\n100.00" for t in ax.texts)
    assert min(t.get_fontsize() for t in texts(fig)) >= 9
    assert liquidation_map_chart(map_rows(100.0), 1000.0, "m").startswith(PNG)  # nothing within ±15 %


def test_range_cells_at_hourly_bars_are_the_heatmap_table_rule_day_by_day():
    """The picture's cells for a 2-day range equal indicators.views.heatmap run on each day's own levels
    with the end day's bins: a bar shows the levels as they stood on its own day."""
    b = bars(48, start="2026-03-04")
    day1, day2 = dt.date(2026, 3, 4), dt.date(2026, 3, 5)
    base = {"side": ["long", "short"], "liq_price": [97.05, 102.05], "notional_usd": [1e6, 2e6],
            "created_ts": pd.to_datetime(["2026-03-04 02:00", "2026-03-04 05:00"]), "expires_ts": pd.to_datetime(["2026-04-01"] * 2)}
    first = pd.DataFrame({"as_of": [day1] * 2, **base, "filled_ts": pd.NaT})
    second = pd.DataFrame({"as_of": [day2] * 2, **base, "filled_ts": pd.to_datetime([None, "2026-03-05 06:00"])})
    levels = pd.concat([first, second], ignore_index=True)
    cells, shown = range_cells(levels, b, day2, 2, HOUR)
    width = float(b.open.iloc[24]) * 0.001
    expected = pd.concat([heatmap(first, pd.DatetimeIndex(b.ts[:24]), width), heatmap(second, pd.DatetimeIndex(b.ts[24:]), width)],
                         ignore_index=True)
    pd.testing.assert_frame_equal(cells.reset_index(drop=True), expected)
    assert len(shown) == 48
    short = cells[cells.short_usd > 0]
    assert short.ts.max() < pd.Timestamp("2026-03-05 06:00")  # filled: its band stops
    one_day, shown_1 = range_cells(levels, b, day2, 1, HOUR)
    assert len(shown_1) == 24 and one_day.ts.min() >= pd.Timestamp("2026-03-05")


def test_picture_settings_name_their_files_and_refuse_bad_values():
    assert PictureSettings().ranges(last_of_run=False) == {"heatmap.png": 7}
    assert PictureSettings().ranges(last_of_run=True) == {"heatmap.png": 7, "heatmap_30d.png": 30}
    assert PictureSettings(days=30, extra_days=(30, 90)).ranges(True) == {"heatmap.png": 30, "heatmap_90d.png": 90}
    with pytest.raises(ValueError, match="at least one day"):
        PictureSettings(days=0)
    with pytest.raises(ValueError, match="scale"):
        PictureSettings(scale="linear")


def test_usd_labels():
    assert [style.usd(v) for v in (1.25e9, 3.45e7, 8e5, 950)] == ["1.25 B", "34.5 M", "800 k", "950"]


def test_a_range_reaching_back_before_the_first_stored_levels_says_so():
    b = bars(72)
    late = heatmap_figure(cells_at(b, [(i, 97.0, 1e6, 0.0) for i in range(48, 72)]), b, "t", HOUR)
    assert "no levels stored\nbefore Mar 06 00:00" in [t.get_text() for t in late.axes[0].texts]
    full = heatmap_figure(cells_at(b, [(i, 97.0, 1e6, 0.0) for i in range(72)]), b, "t", HOUR)
    assert not [t for t in full.axes[0].texts if "no levels" in t.get_text()]
