"""One look for every picture the tool makes: size, fonts, colours, the price label and the empty-state
note. matplotlib is imported lazily (it is slow to import and worker processes may never draw).

Why these numbers: pictures are read at 1280 px wide (a laptop screen, the README, the Dagster UI's
metadata pane), so a figure is 12.8 in at 100 dpi and no text is smaller than 9 pt. Long positions
(liquidated below the price) are red and shorts (above) green everywhere, as on Coinglass.
"""

from __future__ import annotations

import io

WIDTH_IN = 12.8
DPI = 100
FONT = 10  # body text, ticks, legends
SMALL = 9  # the smallest text on any picture
TITLE = 12
LONG = "#e74c3c"
SHORT = "#2ecc71"
UP = "#26a69a"  # candle bodies, TradingView's colours
DOWN = "#ef5350"
PRICE = "#1f77b4"
TIER_COLOURS = {10: "#90caf9", 25: "#42a5f5", 50: "#1e88e5", 100: "#0d47a1"}
NOTE = "#7f8c8d"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT, "axes.titlesize": TITLE, "axes.labelsize": FONT, "xtick.labelsize": SMALL,
                         "ytick.labelsize": SMALL, "legend.fontsize": SMALL, "figure.titlesize": TITLE})
    return plt


def figure(height_in: float, **subplots):
    """(fig, axes) at the shared width and resolution."""
    return pyplot().subplots(figsize=(WIDTH_IN, height_in), dpi=DPI, **subplots)


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: reruns are byte-identical
    pyplot().close(fig)
    return buffer.getvalue()


def price_label(ax, price: float, text: str, colour: str = PRICE) -> None:
    """A price tag on the right edge of the axes at `price` (as TradingView labels the last close)."""
    ax.annotate(text, xy=(1.0, price), xycoords=("axes fraction", "data"), xytext=(4, 0), textcoords="offset points",
                va="center", ha="left", fontsize=SMALL, color="white", annotation_clip=False,
                bbox={"boxstyle": "round,pad=0.25", "facecolor": colour, "edgecolor": "none"})


def note(ax, text: str) -> None:
    """The empty-state message in the middle of the axes (no empty frame without a reason)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=FONT + 2, color=NOTE, wrap=True)


def usd(value: float) -> str:
    """USD for a label, three significant digits: 1.25 B, 34.5 M, 800 k."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:,.0f}"
