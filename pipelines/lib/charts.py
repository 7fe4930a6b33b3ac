"""Headless PNG charts for exports and asset metadata: the heatmap, the liquidation map and the
levels overview. Shared look in `chart_style` (1280 px wide, no text under 9 pt).

Rules chosen where the issue is silent:
- Heatmap columns are the bars themselves (the data's interval), so the heat lines up with the
  candles under it; a column's cell is the USD of levels active at the bar's close.
- Candles are drawn when a bar is at least 2 px wide (≤ 500 bars at 1280 px); more bars get a close
  line, since sub-pixel candles are noise.
- The colour scale is logarithmic by default (one colour bar in USD, and a side with a tenth of the
  other's USD is still visible); `quantile` colours each side by the rank of its own cells instead,
  so the quieter side reaches the same brightness.
- Every axis ends at the last bar's close time: nothing is drawn beyond the data.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from pipelines.lib import chart_style as style

CANDLES_MAX = 500
SCALES = ("log", "quantile")


UI_WIDTH = 960  # px: the Dagster UI's markdown dialog is narrower than the files' 1280 px and crops, not scales


def markdown_image(png: bytes, alt: str, width: int = UI_WIDTH) -> str:
    """The picture as a markdown image for asset metadata, scaled down to `width` px when wider (the
    same picture as the file, resampled: no second drawing)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        if image.width > width:
            buffer = io.BytesIO()
            image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS).save(buffer, format="PNG", optimize=True)
            png = buffer.getvalue()
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _date_axis(ax, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Ticks that suit the span (hours for a day, days for a week or a month), in UTC."""
    import matplotlib.dates as mdates

    days = (end - start) / pd.Timedelta(days=1)
    if days <= 1.5:
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    else:
        step = max(1, int(round(days / 10)))
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=step))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.set_xlim(start, end)
    ax.set_xlabel(f"time (UTC), {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}")


def heat_grid(cells: pd.DataFrame, bars: pd.DataFrame, lo: float, hi: float, scale: str = "log"):
    """(price edges, grid) for the heatmap: rows are price bins from `lo` to `hi`, columns the bars.
    With `scale="quantile"` each cell holds its side's quantile rank in (0, 1] (the larger side of a
    cell wins); otherwise USD. Cells outside the bars or the price range are left out."""
    if scale not in SCALES:
        raise ValueError(f"heatmap scale must be one of {SCALES}, got {scale!r}")
    width = float((cells["bin_high"] - cells["bin_low"]).iloc[0])
    edges = np.arange(np.floor(lo / width) * width, hi + width, width)
    column = pd.Series(np.arange(len(bars)), index=pd.DatetimeIndex(bars["ts"]))
    cols = column.reindex(pd.DatetimeIndex(cells["ts"])).to_numpy()
    rows = np.round((cells["bin_low"].to_numpy(float) - edges[0]) / width).astype(np.int64)
    keep = ~np.isnan(cols) & (rows >= 0) & (rows < len(edges) - 1)
    rows, cols = rows[keep], cols[keep].astype(np.int64)
    long_usd, short_usd = cells["long_usd"].to_numpy(float)[keep], cells["short_usd"].to_numpy(float)[keep]
    grid = np.zeros((len(edges) - 1, len(bars)))
    if scale == "log":
        np.add.at(grid, (rows, cols), long_usd + short_usd)
        return edges, grid
    for values in (long_usd, short_usd):
        side = np.zeros_like(grid)
        np.add.at(side, (rows, cols), values)
        positive = side > 0
        if positive.any():
            ranks = pd.Series(side[positive]).rank(pct=True).to_numpy()
            side[positive] = ranks
            grid = np.maximum(grid, side)
    return edges, grid


def _candles(ax, bars: pd.DataFrame, bar: pd.Timedelta) -> None:
    import matplotlib.dates as mdates

    mid = mdates.date2num(bars["ts"] + bar / 2)
    width = bar / pd.Timedelta(days=1) * 0.7
    up = (bars["close"] >= bars["open"]).to_numpy()
    colours = np.where(up, style.UP, style.DOWN)
    ax.vlines(mid, bars["low"], bars["high"], colors=colours, linewidth=0.9, zorder=3)
    body = (bars["close"] - bars["open"]).abs().to_numpy()
    floor = float(bars["close"].iloc[-1]) * 1e-4  # a doji still shows a line
    ax.bar(mid, np.maximum(body, floor), width=width, bottom=np.minimum(bars["open"], bars["close"]), color=colours,
           edgecolor="white", linewidth=0.3, zorder=4, label="candles")


def heatmap_chart(cells: pd.DataFrame, bars: pd.DataFrame, title: str, bar_seconds: int, scale: str = "log",
                  empty_note: str = "no levels yet") -> bytes:
    """`heatmap_figure` as PNG bytes."""
    return style.png(heatmap_figure(cells, bars, title, bar_seconds, scale, empty_note))


def heatmap_figure(cells: pd.DataFrame, bars: pd.DataFrame, title: str, bar_seconds: int, scale: str = "log",
                   empty_note: str = "no levels yet"):
    """Price × time heatmap of active liquidation USD (long + short per cell), the candles (or the close)
    drawn over it, the last close labelled. `cells`: ts (bar start), bin_low, bin_high, long_usd,
    short_usd; `bars`: ts, open, high, low, close at `bar_seconds`."""
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import LogLocator

    bar = pd.Timedelta(seconds=bar_seconds)
    fig, ax = style.figure(6.4)
    start, end = bars["ts"].iloc[0], bars["ts"].iloc[-1] + bar
    lo, hi = float(bars["low"].min()) * 0.95, float(bars["high"].max()) * 1.05
    has_cells = len(cells) > 0
    if has_cells:
        edges, grid = heat_grid(cells, bars, lo, hi, scale)
        has_cells = bool((grid > 0).any())
    if has_cells:
        x = list(bars["ts"]) + [end]
        shown = np.ma.masked_less_equal(grid, 0)
        if scale == "log":
            positive = grid[grid > 0]
            # the colour range spans the middle of the cells (a quarter are darker, a few hotter): the
            # whole range is mostly one colour, since every bar opens some positions
            top = float(np.quantile(positive, 0.995))
            norm = LogNorm(vmin=min(max(float(np.quantile(positive, 0.25)), top * 1e-4), top / 10), vmax=top)
            label = "active liquidation USD per cell (log scale)"
        else:
            norm, label = Normalize(0, 1), "quantile of the cell within its side (long or short)"
        ax.set_facecolor("black")
        mesh = ax.pcolormesh(x, edges, shown, cmap="inferno", norm=norm, shading="flat", rasterized=True)
        bar_ = fig.colorbar(mesh, ax=ax, pad=0.085)
        bar_.set_label(label)
        if scale == "log":
            bar_.ax.yaxis.set_major_formatter(_usd_formatter())
            bar_.ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))  # 1-2-5 labels, not every tenth
            bar_.ax.yaxis.set_minor_formatter(_usd_formatter())
        first = pd.Timestamp(cells["ts"].min())
        if first - start >= pd.Timedelta(days=1):  # the range reaches back before the first stored levels: say so
            ax.text(start + (first - start) / 2, (lo + hi) / 2, f"no levels stored\nbefore {first:%b %d %H:%M}", ha="center",
                    va="center", fontsize=style.FONT + 2, color=style.NOTE, zorder=5)
    else:
        style.note(ax, empty_note)
    if len(bars) <= CANDLES_MAX:
        _candles(ax, bars, bar)
    else:
        ax.plot(bars["ts"] + bar, bars["close"], color="white" if has_cells else style.PRICE, linewidth=1.0, label="close")
    close = float(bars["close"].iloc[-1])
    ax.axhline(close, color=style.PRICE, linestyle=":", linewidth=0.9)
    style.price_label(ax, close, f"{close:,.2f}")
    ax.set_ylim(lo, hi)
    ax.set_ylabel("price (USD)")
    ax.yaxis.set_major_formatter(_price_formatter())
    _date_axis(ax, start, end)
    ax.set_title(title)
    fig.subplots_adjust(left=0.07, right=0.93, bottom=0.11, top=0.92)  # fixed layout: tight_layout costs ~0.1 s a chart
    return fig


def _price_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}")


def _usd_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: style.usd(value))


def liquidation_map_chart(rows: pd.DataFrame, close: float, title: str, max_pain: dict | None = None,
                          empty_note: str = "no active levels on this day") -> bytes:
    """`liquidation_map_figure` as PNG bytes."""
    return style.png(liquidation_map_figure(rows, close, title, max_pain, empty_note))


def liquidation_map_figure(rows: pd.DataFrame, close: float, title: str, max_pain: dict | None = None,
                           empty_note: str = "no active levels on this day"):
    """USD per leverage tier (stacked bars per price bin) and the cumulative long (below the close)
    and short (above) curves, within ±15 % of the close; the close and the max-pain prices marked.
    One legend, outside the data."""
    fig, ax = style.figure(6.0)
    near = rows[(rows["bin_low"] > close * 0.85) & (rows["bin_high"] < close * 1.15)] if len(rows) else rows
    handles = []
    if len(near):
        width = float((rows["bin_high"] - rows["bin_low"]).iloc[0])
        # a dense bin grid drawn as filled stairs: one polygon per tier instead of one patch per bar
        first = np.floor(near["bin_low"].min() / width)
        slot = np.round(near["bin_low"] / width - first).astype(int).to_numpy()
        edges = (first + np.arange(slot.max() + 2)) * width
        bottom = np.zeros(len(edges) - 1)
        for tier, colour in style.TIER_COLOURS.items():
            values = np.zeros(len(edges) - 1)
            np.add.at(values, slot, near[f"usd_{tier}x"].to_numpy(float))
            handles.append(ax.stairs(bottom + values, edges, baseline=bottom.copy(), fill=True, color=colour, label=f"{tier}x leverage"))
            bottom = bottom + values
        curve = ax.twinx()
        below, above = near[near["bin_low"] < close], near[near["bin_low"] >= close]
        handles += curve.plot(below["bin_low"], below["long_cum_usd"], color=style.LONG, linewidth=2,
                              drawstyle="steps-mid", label="cumulative long (below close)")
        handles += curve.plot(above["bin_low"], above["short_cum_usd"], color=style.SHORT, linewidth=2,
                              drawstyle="steps-mid", label="cumulative short (above close)")
        curve.set_ylabel("cumulative USD from the close")
        curve.yaxis.set_major_formatter(_usd_formatter())
        curve.set_ylim(bottom=0)
        ax.set_xlim(close * 0.85, close * 1.15)
    else:
        style.note(ax, empty_note)
        ax.set_xlim(close * 0.85, close * 1.15)
    handles.append(ax.axvline(close, color=style.PRICE, linestyle="--", linewidth=1.2, label=f"close {close:,.2f}"))
    ax.annotate(f"close\n{close:,.2f}", xy=(close, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=style.SMALL, color=style.PRICE)
    for side, colour in (("long", style.LONG), ("short", style.SHORT)):
        price = (max_pain or {}).get(f"{side}_price")
        if price is None or not np.isfinite(price):
            continue
        usd = (max_pain or {}).get(f"{side}_usd") or 0.0
        handles.append(ax.axvline(price, color=colour, linestyle="-.", linewidth=1.2,
                                  label=f"max pain {side} {price:,.2f} ({style.usd(usd)} USD)"))
    ax.set_ylabel("USD per price bin")
    ax.yaxis.set_major_formatter(_usd_formatter())
    ax.set_xlabel("liquidation price (USD)")
    ax.xaxis.set_major_formatter(_price_formatter())
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.13, 1.0), borderaxespad=0, frameon=False)
    ax.set_title(title, pad=28)
    ax.grid(alpha=0.2)
    fig.subplots_adjust(left=0.07, right=0.68, bottom=0.11, top=0.86)
    return fig


def levels_chart(panels: list[tuple[str, pd.DataFrame, pd.DataFrame]], title: str) -> bytes:
    """One panel per symbol: the close of the shown bars and the active levels as horizontal lines
    (long levels red below price, short levels green above; thicker = larger size class)."""
    fig, axes = style.figure(2.6 * len(panels) + 0.6, nrows=len(panels), ncols=1, squeeze=False)
    widths = {"small": 0.6, "medium": 1.2, "large": 2.0}
    for ax, (symbol, bars, levels) in zip(axes[:, 0], panels):
        ax.plot(bars["ts"], bars["close"], color="black", linewidth=1.0)
        lo, hi = bars["low"].min(), bars["high"].max()
        pad = max((hi - lo) * 0.6, hi * 0.03)
        visible = levels[(levels["liq_price"] > lo - pad) & (levels["liq_price"] < hi + pad)]
        for row in visible.itertuples():
            ax.axhline(row.liq_price, color=style.LONG if row.side == "long" else style.SHORT,
                       linewidth=widths.get(str(row.size_class), 0.8), alpha=0.5)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(bars["ts"].iloc[0], bars["ts"].iloc[-1])
        ax.set_ylabel("price (USD)")
        ax.set_title(f"{symbol}: {len(levels)} active levels ({len(visible)} in view)", fontsize=style.FONT)
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.suptitle(title)
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.1, top=0.9, hspace=0.45)
    return style.png(fig)


def measured_figure(estimated: pd.DataFrame, measured: pd.DataFrame, price: float, width: float, title: str,
                    similarity: pd.DataFrame | None = None, window_pct: float = 15.0):
    """The estimated and the measured map side by side on one price axis (±`window_pct` % of `price`): USD
    per bin, longs below the price in red, shorts above in green, each panel on its own USD scale (the
    estimate is sized to the venue's OI, the scan to the accounts read). `estimated` / `measured`:
    side, liq_price, notional_usd. The similarity of each side, when given, is in the panel titles."""
    fig, axes = style.figure(5.6, ncols=2, sharex=True)
    lo, hi = price * (1 - window_pct / 100), price * (1 + window_pct / 100)
    edges = np.arange(np.floor(lo / width), np.floor(hi / width) + 2) * width
    scores = {} if similarity is None else similarity.set_index("side").to_dict("index")
    for ax, (name, frame) in zip(axes, (("estimated", estimated), ("measured", measured))):
        shown = False
        for side, colour in (("long", style.LONG), ("short", style.SHORT)):
            mine = frame[(frame["side"] == side) & (frame["liq_price"] >= lo) & (frame["liq_price"] < hi)]
            values, _ = np.histogram(mine["liq_price"].to_numpy(float), bins=edges, weights=mine["notional_usd"].to_numpy(float))
            if values.any():
                ax.stairs(values, edges, fill=True, color=colour, alpha=0.85, label=f"{side} liquidations")
                shown = True
        if not shown:
            style.note(ax, f"no {name} levels within ±{window_pct:g} % of the price")
        ax.axvline(price, color=style.PRICE, linestyle="--", linewidth=1.2, label=f"price {price:,.2f}")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("liquidation price (USD)")
        ax.xaxis.set_major_formatter(_price_formatter())
        ax.yaxis.set_major_formatter(_usd_formatter())
        ax.grid(alpha=0.2)
        ax.legend(loc="best")  # never over the tallest bars
        if name == "measured" and scores:
            line = ", ".join(f"{side}: cosine {scores[side]['cosine']:.2f}, Spearman {scores[side]['spearman']:.2f}"
                             for side in ("long", "short") if side in scores and np.isfinite(scores[side]["cosine"]))
            ax.set_title(f"measured (real positions)\n{line or 'no similarity: a side is empty'}")
        else:
            ax.set_title(f"{name} ({'default preset on the venue OI' if name == 'estimated' else 'real positions'})\n ")
    axes[0].set_ylabel("USD per 0.1 % bin")
    fig.suptitle(title)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.8, wspace=0.18)
    return fig
