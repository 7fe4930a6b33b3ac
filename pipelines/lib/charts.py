"""Headless PNG charts for asset metadata and exports (matplotlib imported lazily: it is slow)."""

from __future__ import annotations

import base64
import io

import pandas as pd


def levels_chart(panels: list[tuple[str, pd.DataFrame, pd.DataFrame]], title: str) -> bytes:
    """One panel per symbol: the close of the shown bars and the active levels as horizontal lines
    (long levels red below price, short levels green above; thicker = larger size class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
