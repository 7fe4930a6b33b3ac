"""Charts render headless for the ordinary case and for days without levels in view."""

import pandas as pd

from pipelines.lib.charts import heatmap_chart, liquidation_map_chart

PNG = b"\x89PNG\r\n\x1a\n"
BARS = pd.DataFrame({"ts": pd.date_range("2026-03-04", periods=3, freq="1h"), "low": [99.0, 98.0, 97.0],
                     "high": [101.0, 102.0, 100.0], "close": [100.0, 101.0, 99.0]})


def test_heatmap_with_and_without_cells():
    cells = pd.DataFrame({"ts": BARS.ts, "bin_low": [98.0, 98.0, 103.0], "bin_high": [98.1, 98.1, 103.1],
                          "long_usd": [1e6, 2e6, 0.0], "short_usd": [0.0, 0.0, 5e5]})
    assert heatmap_chart(cells, BARS, "t").startswith(PNG)
    assert heatmap_chart(cells.iloc[0:0], BARS, "t").startswith(PNG)
    far = cells.assign(bin_low=cells.bin_low * 10, bin_high=cells.bin_high * 10)
    assert heatmap_chart(far, BARS, "t").startswith(PNG)


def test_liquidation_map_with_and_without_levels_near_the_close():
    rows = pd.DataFrame({"bin_low": [95.0, 104.0], "bin_high": [95.1, 104.1], "long_usd": [1e6, 0.0], "short_usd": [0.0, 2e6],
                         "long_cum_usd": [1e6, 0.0], "short_cum_usd": [0.0, 2e6], "usd_10x": [1e6, 0.0], "usd_25x": [0.0, 2e6],
                         "usd_50x": [0.0, 0.0], "usd_100x": [0.0, 0.0]})
    assert liquidation_map_chart(rows, 100.0, "m").startswith(PNG)
    assert liquidation_map_chart(rows, 1000.0, "m").startswith(PNG)  # nothing within ±15 %
    assert liquidation_map_chart(rows.iloc[0:0], 100.0, "m").startswith(PNG)
