"""Headless PNG charts for asset metadata and exports (matplotlib imported lazily: it is slow)."""

from __future__ import annotations

import base64
import io

import pandas as pd


def levels_chart(panels: list[tuple[str, pd.DataFrame, pd.DataFrame]], title: str) -> bytes:
    """One panel per symbol: the close of the shown bars and the active levels as horizontal lines
    (long levels red below price, short levels green above; thicker = larger size class)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), dpi=72, squeeze=False)
    widths = {"small": 0.6, "medium": 1.2, "large": 2.0}
    for ax, (symbol, bars, levels) in zip(axes[:, 0], panels):
        ax.plot(bars["ts"], bars["close"], color="black", linewidth=1.0)
        lo, hi = bars["low"].min(), bars["high"].max()
        pad = max((hi - lo) * 0.6, hi * 0.03)
        visible = levels[(levels["liq_price"] > lo - pad) & (levels["liq_price"] < hi + pad)]
        for row in visible.itertuples():
            ax.axhline(row.liq_price, color="#c0392b" if row.side == "long" else "#27ae60",
                       linewidth=widths.get(str(row.size_class), 0.8), alpha=0.5)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{symbol}: {len(levels)} active levels ({len(visible)} in view)", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.09, right=0.9, bottom=0.12, top=0.9)  # fixed layout: tight_layout costs ~0.1 s a chart
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: reruns are byte-identical
    _pyplot().close(fig)
    return buffer.getvalue()


def _few_ticks(ax, dates: bool = False) -> None:
    """Fixed, sparse ticks: automatic date ticking is most of a small chart's drawing time."""
    from matplotlib.dates import DateFormatter, HourLocator
    from matplotlib.ticker import MaxNLocator

    if dates:
        ax.xaxis.set_major_locator(HourLocator(byhour=range(0, 24, 6)))
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def heatmap_chart(cells: pd.DataFrame, bars: pd.DataFrame, title: str) -> bytes:
    """Price × time heatmap of active liquidation USD (long + short per cell) with the close line."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=72)
    if len(cells):
        lo, hi = bars["low"].min() * 0.95, bars["high"].max() * 1.05
        shown = cells[(cells["bin_low"] >= lo) & (cells["bin_high"] <= hi)]
    if len(cells) and len(shown):
        hours = sorted(cells["ts"].unique())
        width = float((cells["bin_high"] - cells["bin_low"]).iloc[0])
        edges = np.arange(np.floor(lo / width) * width, hi + width, width)
        grid = np.zeros((len(edges) - 1, len(hours)))
        col = {h: i for i, h in enumerate(hours)}
        rows = np.clip(((shown["bin_low"] - edges[0]) / width).round().astype(int), 0, len(edges) - 2)
        np.add.at(grid, (rows.to_numpy(), shown["ts"].map(col).to_numpy()), (shown["long_usd"] + shown["short_usd"]).to_numpy() / 1e6)
        x = list(hours) + [hours[-1] + pd.Timedelta(hours=1)]
        mesh = ax.pcolormesh(x, edges, grid, cmap="inferno", shading="flat")
        fig.colorbar(mesh, ax=ax, label="USD millions")
        ax.set_ylim(lo, hi)
    ax.plot(bars["ts"] + pd.Timedelta(minutes=30), bars["close"], color="cyan", linewidth=1.2, label="close")
    _few_ticks(ax, dates=True)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.subplots_adjust(left=0.09, right=0.9, bottom=0.12, top=0.9)  # fixed layout: tight_layout costs ~0.1 s a chart
    return _png(fig)


def liquidation_map_chart(rows: pd.DataFrame, close: float, title: str) -> bytes:
    """Cumulative long (below the close) and short (above) curves plus USD bars per leverage tier
    (levels within ±15 % of the close)."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=72)
    if len(rows):
        near = rows[(rows["bin_low"] > close * 0.85) & (rows["bin_high"] < close * 1.15)]
    if len(rows) and len(near):
        width = float((rows["bin_high"] - rows["bin_low"]).iloc[0])
        # a dense bin grid drawn as filled stairs: one polygon per tier instead of one patch per bar
        first = np.floor(near["bin_low"].min() / width)
        slot = np.round(near["bin_low"] / width - first).astype(int).to_numpy()
        edges = (first + np.arange(slot.max() + 2)) * width
        bottom = np.zeros(len(edges) - 1)
        for tier, colour in zip((10, 25, 50, 100), ("#90caf9", "#42a5f5", "#1e88e5", "#0d47a1")):
            values = np.zeros(len(edges) - 1)
            np.add.at(values, slot, near[f"usd_{tier}x"].to_numpy() / 1e6)
            ax.stairs(bottom + values, edges, baseline=bottom.copy(), fill=True, color=colour, label=f"{tier}x")
            bottom = bottom + values
        curve = ax.twinx()
        below, above = near[near["bin_low"] < close], near[near["bin_low"] >= close]
        curve.plot(below["bin_low"], below["long_cum_usd"] / 1e6, color="#c0392b", label="cumulative long")
        curve.plot(above["bin_low"], above["short_cum_usd"] / 1e6, color="#27ae60", label="cumulative short")
        curve.set_ylabel("cumulative USD M", fontsize=7)
        curve.tick_params(labelsize=7)
    ax.axvline(close, color="black", linestyle="--", linewidth=1)
    _few_ticks(ax)
    ax.set_ylabel("USD M per bin", fontsize=7)
    if ax.get_legend_handles_labels()[0]:  # a day without levels has nothing to name
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no active levels on this day", transform=ax.transAxes, ha="center", va="center", fontsize=9, color="grey")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.subplots_adjust(left=0.09, right=0.9, bottom=0.12, top=0.9)  # fixed layout: tight_layout costs ~0.1 s a chart
    return _png(fig)


def render_pictures(job: tuple, day) -> tuple[bytes, bytes]:
    """(heatmap PNG, liquidation-map PNG) of one symbol-day. Runs in a worker process, so it lives
    here, away from Dagster: a worker imports only this module (no Dagster warnings in its output)."""
    symbol, _, cells, bars, rows = job
    close = float(bars["close"].iloc[-1])
    return (heatmap_chart(cells, bars, f"{symbol} liquidation heatmap {day} (default preset, all venues)"),
            liquidation_map_chart(rows, close, f"{symbol} liquidation map as of {day} close {close:,.2f}"))
