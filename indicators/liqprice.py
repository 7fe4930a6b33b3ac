"""Exchange liquidation-price formulas.

Every function works on floats or numpy arrays (broadcasting). Conventions:

- `side` is ``"long"`` or ``"short"``; `sign` is +1 for long, −1 for short.
- Prices are quote currency per base unit (USD/USDT). Linear quantities are base units
  (BTC); inverse quantities are USD contracts and their margins are in coin (BTC).
- Rates are fractions (0.005 = 0.5 %). `leverage` is the initial leverage (50 = 50x).
- Maintenance margin `MM = notional × mmr − deduction` where the deduction is the tier's
  "maintenance amount" (Binance `cum`, Bybit `mmDeduction`, Hyperliquid deduction).

Sources: the seed article (Bybit inverse examples) and `anchors_indicators.md` §6, which also
holds every worked example these functions are tested against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

SIDES = ("long", "short")


def side_sign(side: str) -> int:
    """+1 for ``"long"``, −1 for ``"short"``."""
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise ValueError(f"side must be 'long' or 'short', got {side!r}")


def _positive(name: str, value: ArrayLike) -> None:
    if np.any(np.asarray(value) <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _rate(name: str, value: ArrayLike) -> None:
    if np.any(np.asarray(value) < 0) or np.any(np.asarray(value) >= 1):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


# --- Bybit -----------------------------------------------------------------------------------

def bybit_inverse_isolated(
    side: str, qty_usd: ArrayLike, entry: ArrayLike, leverage: ArrayLike, mmr: ArrayLike,
    mm_deduction: ArrayLike = 0.0, extra_margin: ArrayLike = 0.0,
) -> ArrayLike:
    """Bybit inverse contract, isolated margin: liquidation price in USD.

    `qty_usd` is the number of 1-USD contracts, `extra_margin` and `mm_deduction` are in coin.
    Position value PV = qty/entry (coin), IM = PV/leverage, MM = PV × mmr − deduction;
    LP_long = qty / (PV + IM − MM + extra), LP_short = qty / (PV − IM + MM − extra).
    """
    _positive("qty_usd", qty_usd), _positive("entry", entry), _positive("leverage", leverage), _rate("mmr", mmr)
    s = side_sign(side)
    pv = np.divide(qty_usd, entry)
    im = pv / leverage
    mm = pv * mmr - mm_deduction
    return np.divide(qty_usd, pv + s * (im - mm + extra_margin))


def bybit_inverse_cross(
    side: str, qty_usd: ArrayLike, entry: ArrayLike, leverage: ArrayLike, mmr: ArrayLike,
    balance: ArrayLike, mm_deduction: ArrayLike = 0.0,
) -> ArrayLike:
    """Bybit inverse contract, cross margin: the available `balance` (coin) backs the position too.

    Seed article: long 100,000 USD @ 50,000, 50x, mmr 0.5 %, balance 0.5 BTC → 39,525.69.
    """
    if np.any(np.asarray(balance) < 0):
        raise ValueError(f"balance must be >= 0, got {balance!r}")
    return bybit_inverse_isolated(side, qty_usd, entry, leverage, mmr, mm_deduction, extra_margin=balance)


def bybit_inverse_cross_classic(
    side: str, qty_usd: ArrayLike, entry: ArrayLike, balance: ArrayLike, mmr: ArrayLike,
    taker_fee: ArrayLike = 0.00075, order_margin: ArrayLike = 0.0,
) -> ArrayLike:
    """Bybit classic-account inverse cross margin (help article 360039261334), with close fee.

    Solves qty × (1/entry − 1/LP) = −s × (balance − order_margin − PV × mmr − qty × fee / BP),
    where the bankruptcy price BP solves qty × (1/entry − 1/BP) = −s × (balance − qty × fee / BP).
    """
    _positive("qty_usd", qty_usd), _positive("entry", entry), _rate("mmr", mmr)
    s = side_sign(side)
    pv = np.divide(qty_usd, entry)
    # 1/BP × qty × (1 + s·fee) = PV + s·balance  (long: price falls until the balance is gone)
    inv_bp = (pv + s * np.asarray(balance, dtype=float)) / (np.asarray(qty_usd, dtype=float) * (1 + s * taker_fee))
    close_fee = np.asarray(qty_usd) * taker_fee * inv_bp
    cushion = np.asarray(balance) - order_margin - pv * mmr - close_fee
    return 1.0 / (1.0 / np.asarray(entry, dtype=float) + s * cushion / np.asarray(qty_usd, dtype=float))


def bybit_linear_isolated(
    side: str, qty: ArrayLike, entry: ArrayLike, leverage: ArrayLike, mmr: ArrayLike,
    mm_deduction: ArrayLike = 0.0, extra_margin: ArrayLike = 0.0,
) -> ArrayLike:
    """Bybit USDT/USDC linear contract, isolated margin: LP = entry ∓ (IM − MM + extra)/qty.

    `qty` in base units; IM = qty × entry / leverage, MM = qty × entry × mmr − deduction (USDT).
    """
    _positive("qty", qty), _positive("entry", entry), _positive("leverage", leverage), _rate("mmr", mmr)
    s = side_sign(side)
    notional = np.multiply(qty, entry)
    im = notional / leverage
    mm = notional * mmr - mm_deduction
    return np.asarray(entry) - s * (im - mm + extra_margin) / np.asarray(qty)


def bybit_linear_cross(
    side: str, qty: ArrayLike, entry: ArrayLike, leverage: ArrayLike, mmr: ArrayLike,
    balance: ArrayLike, mm_deduction: ArrayLike = 0.0,
) -> ArrayLike:
    """Bybit linear contract, cross margin: the available `balance` (USDT) backs the position."""
    return bybit_linear_isolated(side, qty, entry, leverage, mmr, mm_deduction, extra_margin=balance)


# --- Binance USDⓈ-M --------------------------------------------------------------------------

def binance_usdm(
    side: str, qty: ArrayLike, entry: ArrayLike, wallet_balance: ArrayLike, mmr: ArrayLike, cum: ArrayLike,
    other_maintenance: ArrayLike = 0.0, other_upnl: ArrayLike = 0.0,
) -> ArrayLike:
    """Binance USDⓈ-M, one-way mode, for one bracket (Binance FAQ formula).

    LP = (WB − TMM₁ + UPNL₁ + cum − s·qty·entry) / (qty·mmr − s·qty). Isolated: `wallet_balance`
    is the isolated margin and the other-position terms are 0. Cross: `wallet_balance` is the
    cross wallet, `other_maintenance`/`other_upnl` are the other positions' maintenance margin
    and unrealized PnL (USDT).
    """
    _positive("qty", qty), _positive("entry", entry), _rate("mmr", mmr)
    s = side_sign(side)
    q = np.asarray(qty, dtype=float)
    numerator = np.asarray(wallet_balance) - other_maintenance + other_upnl + cum - s * q * entry
    return numerator / (q * mmr - s * q)


def binance_usdm_bracketed(
    side: str, qty: float, entry: float, wallet_balance: float, brackets: "list[dict]",
    other_maintenance: float = 0.0, other_upnl: float = 0.0,
) -> float:
    """Binance USDⓈ-M with the bracket table: bracket of the entry notional, then, as the FAQ
    says, recomputed with the bracket of the notional at the liquidation price if that differs.

    `brackets`: dicts with notional_floor, notional_cap (None = open), mmr, maintenance_amount.
    """
    def bracket_for(notional: float) -> dict:
        for b in brackets:
            cap = b["notional_cap"]
            if notional >= b["notional_floor"] and (cap is None or notional < cap):
                return b
        raise ValueError(f"notional {notional:,.2f} USDT is beyond the bracket table")

    b = bracket_for(qty * entry)
    lp = float(binance_usdm(side, qty, entry, wallet_balance, b["mmr"], b["maintenance_amount"], other_maintenance, other_upnl))
    b_at_lp = bracket_for(qty * max(lp, 0.0))
    if b_at_lp is not b:
        lp = float(binance_usdm(side, qty, entry, wallet_balance, b_at_lp["mmr"], b_at_lp["maintenance_amount"], other_maintenance, other_upnl))
    return lp


# --- OKX -------------------------------------------------------------------------------------

def okx_linear(
    side: str, qty: ArrayLike, entry: ArrayLike, margin: ArrayLike, mmr: ArrayLike, taker_fee: ArrayLike = 0.0005,
) -> ArrayLike:
    """OKX USDT-margined swap: the price where the maintenance margin ratio reaches 100 %.

    MR = (margin + UPL) / (qty × mark × (mmr + taker_fee)); solving MR = 1 gives
    LP_long = (qty·entry − margin)/(qty·(1 − mmr − fee)), LP_short = (qty·entry + margin)/(qty·(1 + mmr + fee)).
    Isolated: `margin` is the position margin; cross: the equity available to the position (USDT).
    """
    _positive("qty", qty), _positive("entry", entry), _rate("mmr", mmr)
    s = side_sign(side)
    q = np.asarray(qty, dtype=float)
    return (q * entry - s * np.asarray(margin)) / (q * (1 - s * (np.asarray(mmr) + taker_fee)))


# --- Hyperliquid -----------------------------------------------------------------------------

def hyperliquid_mmr(max_leverage: ArrayLike) -> ArrayLike:
    """Maintenance margin rate = half the initial margin at max leverage: 1 / (2 × max_leverage)."""
    _positive("max_leverage", max_leverage)
    return 1.0 / (2.0 * np.asarray(max_leverage, dtype=float))


def hyperliquid(
    side: str, qty: ArrayLike, entry: ArrayLike, margin: ArrayLike, mmr: ArrayLike, mm_deduction: ArrayLike = 0.0,
) -> ArrayLike:
    """Hyperliquid: liq = entry − s × margin_available / qty / (1 − s × mmr).

    margin_available = margin − (qty × entry × mmr − deduction); `margin` is the isolated margin
    or, in cross, the account value (USDC). Use `hyperliquid_mmr(max_leverage)` for the rate.
    """
    _positive("qty", qty), _positive("entry", entry), _rate("mmr", mmr)
    s = side_sign(side)
    q = np.asarray(qty, dtype=float)
    available = np.asarray(margin) - (q * entry * mmr - mm_deduction)
    return np.asarray(entry) - s * available / q / (1 - s * np.asarray(mmr))


# --- projections (unknown wallets) ------------------------------------------------------------

def simple_liq_price(side: str, base: ArrayLike, leverage: ArrayLike) -> ArrayLike:
    """Leviathan-style rule of thumb: base × (1 − 1/L) for longs, base × (1 + 1/L) for shorts."""
    _positive("leverage", leverage)
    return np.asarray(base) * (1 - side_sign(side) / np.asarray(leverage, dtype=float))


def projected_liq_price(
    venue: str, side: str, base: ArrayLike, leverage: ArrayLike, mmr: ArrayLike,
    maintenance_amount: ArrayLike = 0.0, position_notional: ArrayLike = 10_000.0,
) -> ArrayLike:
    """Liquidation price of a projected isolated position opened at `base` with margin notional/L.

    The venue's own formula, with the tier's `mmr` and `maintenance_amount` (USD) for a position of
    `position_notional` USD. Venues without a formula of their own here use Binance's.
    """
    qty = np.asarray(position_notional, dtype=float) / np.asarray(base, dtype=float)
    margin = np.asarray(position_notional, dtype=float) / np.asarray(leverage, dtype=float)
    if venue == "bybit":
        return bybit_linear_isolated(side, qty, base, leverage, mmr, maintenance_amount)
    if venue == "okx":
        return okx_linear(side, qty, base, margin, mmr, taker_fee=0.0)
    if venue == "hyperliquid":
        return hyperliquid(side, qty, base, margin, mmr, maintenance_amount)
    return binance_usdm(side, qty, base, margin, mmr, maintenance_amount)
