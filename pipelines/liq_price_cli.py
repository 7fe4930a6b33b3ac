"""`liqlevels liq-price`: one position's liquidation price with an exchange's own formula."""

from __future__ import annotations

import argparse
import datetime as dt
import math

from indicators import liqprice as lp
from indicators.tiers import brackets

HELP = {
    "venue": "exchange whose formula to use",
    "contract": "linear (USDT/USDC-margined, qty in base units) or inverse (coin-margined, qty in USD contracts; Bybit only)",
    "margin": "isolated (the position's own margin) or cross (a balance backs it; needs --balance)",
    "side": "position side",
    "qty": "position size: base units (linear) or number of 1-USD contracts (inverse)",
    "entry": "average entry price (USD)",
    "leverage": "initial leverage, e.g. 50 for 50x (isolated margin = notional / leverage)",
    "mmr": "maintenance margin rate as a fraction, e.g. 0.005 for 0.5 %% (Binance: or use --symbol for the bracket table)",
    "mm_deduction": "tier maintenance amount / deduction (Binance cum, Bybit mmDeduction), quote currency or coin for inverse",
    "balance": "cross: available balance backing the position (coin for inverse, USD otherwise); isolated Binance/OKX/Hyperliquid: the isolated margin if not notional/leverage",
    "taker_fee": "OKX: taker fee rate added to the maintenance rate (default 0.0005)",
    "max_leverage": "Hyperliquid: the asset's max leverage; mmr = 1/(2 x max) when --mmr is not given",
    "symbol": "Binance: canonical symbol (BTC, ETH) to take mmr and cum from the bundled bracket table",
    "date": "Binance: date of the bracket snapshot to use (default today)",
    "other_mm": "Binance cross: maintenance margin of all other positions (USDT)",
    "other_upnl": "Binance cross: unrealized PnL of all other positions (USDT)",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "liq-price",
        help="Liquidation price of one position with an exchange's formula.",
        description="Print the liquidation price of one position; the last line is the price with two decimals.",
    )
    p.add_argument("--venue", required=True, choices=["bybit", "binance", "okx", "hyperliquid"], help=HELP["venue"])
    p.add_argument("--contract", default="linear", choices=["linear", "inverse"], help=HELP["contract"])
    p.add_argument("--margin", default="isolated", choices=["isolated", "cross"], help=HELP["margin"])
    p.add_argument("--side", required=True, choices=["long", "short"], help=HELP["side"])
    p.add_argument("--qty", required=True, type=float, help=HELP["qty"])
    p.add_argument("--entry", required=True, type=float, help=HELP["entry"])
    p.add_argument("--leverage", type=float, help=HELP["leverage"])
    p.add_argument("--mmr", type=float, help=HELP["mmr"])
    p.add_argument("--mm-deduction", type=float, default=0.0, help=HELP["mm_deduction"])
    p.add_argument("--balance", type=float, help=HELP["balance"])
    p.add_argument("--taker-fee", type=float, default=0.0005, help=HELP["taker_fee"])
    p.add_argument("--max-leverage", type=float, help=HELP["max_leverage"])
    p.add_argument("--symbol", help=HELP["symbol"])
    p.add_argument("--date", type=dt.date.fromisoformat, default=None, help=HELP["date"])
    p.add_argument("--other-mm", type=float, default=0.0, help=HELP["other_mm"])
    p.add_argument("--other-upnl", type=float, default=0.0, help=HELP["other_upnl"])
    p.set_defaults(func=run)


class UsageError(ValueError):
    pass


def _need(args, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
    if missing:
        raise UsageError(f"--venue {args.venue} --margin {args.margin} needs {', '.join(missing)}")


# The largest leverage each venue offers on any of its linear perpetuals, per our dated captures
# (Binance BTCUSDT 2025 brackets: 150x; Bybit and OKX BTC: 100x; Hyperliquid: 50x on any asset, BTC 40x).
# Binance with --symbol and Hyperliquid with --max-leverage use the asset's own cap instead.
VENUE_MAX_LEVERAGE = {"binance": 150.0, "bybit": 100.0, "okx": 100.0, "hyperliquid": 50.0}


def _finite_positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"--{name} must be a finite number > 0, got {value}")


def validate(args: argparse.Namespace) -> None:
    """Refuse inputs that would print a price with exit 0 but mean nothing (negative leverage, 1000x, a
    negative balance), naming the allowed range."""
    _finite_positive("qty", args.qty)
    _finite_positive("entry", args.entry)
    if args.mmr is not None and not (math.isfinite(args.mmr) and 0 <= args.mmr < 1):
        raise UsageError(f"--mmr must be a fraction within [0, 1), got {args.mmr}")
    if args.balance is not None and not (math.isfinite(args.balance) and args.balance >= 0):
        raise UsageError(f"--balance must be a finite number >= 0, got {args.balance}")
    if args.max_leverage is not None and not (math.isfinite(args.max_leverage) and 1 <= args.max_leverage <= VENUE_MAX_LEVERAGE[args.venue]):
        raise UsageError(f"--max-leverage must be within 1..{VENUE_MAX_LEVERAGE[args.venue]:g} on {args.venue}, got {args.max_leverage:g}")
    if args.leverage is not None:
        cap, why = VENUE_MAX_LEVERAGE[args.venue], f"{args.venue}'s largest"
        if args.venue == "hyperliquid" and args.max_leverage is not None:
            cap, why = args.max_leverage, "--max-leverage"
        elif args.venue == "binance" and args.symbol:
            table = brackets("binance", args.symbol.upper(), args.date or dt.date.today())
            if table:
                cap, why = float(max(t["max_leverage"] for t in table)), f"the {args.symbol.upper()} bracket table's largest"
        if not (math.isfinite(args.leverage) and 1 <= args.leverage <= cap):
            raise UsageError(f"--leverage must be within 1..{cap:g} ({why}), got {args.leverage:g}")


def compute(args: argparse.Namespace) -> tuple[float, str]:
    """(price, one-line description of the formula used)."""
    validate(args)
    if args.contract == "inverse" and args.venue != "bybit":
        raise UsageError(f"--contract inverse is only implemented for bybit, not {args.venue}")
    if args.margin == "cross":
        _need(args, "balance")
    if args.venue == "bybit":
        _need(args, "leverage", "mmr")
        if args.contract == "inverse":
            if args.margin == "cross":
                return float(lp.bybit_inverse_cross(args.side, args.qty, args.entry, args.leverage, args.mmr, args.balance, args.mm_deduction)), "Bybit inverse cross"
            return float(lp.bybit_inverse_isolated(args.side, args.qty, args.entry, args.leverage, args.mmr, args.mm_deduction, args.balance or 0.0)), "Bybit inverse isolated"
        if args.margin == "cross":
            return float(lp.bybit_linear_cross(args.side, args.qty, args.entry, args.leverage, args.mmr, args.balance, args.mm_deduction)), "Bybit linear cross"
        return float(lp.bybit_linear_isolated(args.side, args.qty, args.entry, args.leverage, args.mmr, args.mm_deduction, args.balance or 0.0)), "Bybit linear isolated"
    if args.margin == "isolated" and args.balance is None:
        _need(args, "leverage")
    margin = args.balance if args.balance is not None else args.qty * args.entry / args.leverage
    if args.venue == "binance":
        if args.symbol:
            table = brackets("binance", args.symbol.upper(), args.date or dt.date.today())
            if not table:
                raise UsageError(f"no bundled Binance bracket table for symbol {args.symbol!r}")
            if args.margin == "cross":
                return lp.binance_usdm_bracketed(args.side, args.qty, args.entry, margin, table, args.other_mm, args.other_upnl), "Binance USDS-M cross, bracket table"
            return lp.binance_usdm_bracketed(args.side, args.qty, args.entry, margin, table), "Binance USDS-M isolated, bracket table"
        _need(args, "mmr")
        other = (args.other_mm, args.other_upnl) if args.margin == "cross" else (0.0, 0.0)
        return float(lp.binance_usdm(args.side, args.qty, args.entry, margin, args.mmr, args.mm_deduction, *other)), f"Binance USDS-M {args.margin}"
    if args.venue == "okx":
        _need(args, "mmr")
        return float(lp.okx_linear(args.side, args.qty, args.entry, margin, args.mmr, args.taker_fee)), f"OKX linear {args.margin} (margin ratio = 100 %)"
    if args.mmr is None and args.max_leverage is None:
        raise UsageError("--venue hyperliquid needs --mmr or --max-leverage")
    mmr = args.mmr if args.mmr is not None else float(lp.hyperliquid_mmr(args.max_leverage))
    return float(lp.hyperliquid(args.side, args.qty, args.entry, margin, mmr, args.mm_deduction)), f"Hyperliquid {args.margin} (mmr {mmr:.6g})"


def run(args: argparse.Namespace) -> int:
    import sys

    try:
        price, formula = compute(args)
    except (UsageError, ValueError) as exc:
        print(f"liqlevels liq-price: {exc}", file=sys.stderr)
        return 2
    if not price > 0 or price == float("inf"):
        print(f"liqlevels liq-price: {formula}: no finite positive liquidation price (the margin covers any move)", file=sys.stderr)
        return 3
    if (args.side == "long" and price >= args.entry) or (args.side == "short" and price <= args.entry):
        where = "at or above" if args.side == "long" else "at or below"
        print(f"liqlevels liq-price: {formula}: these inputs put a {args.side} position's liquidation {where} its entry "
              f"({price:.2f} vs {args.entry:g}): the maintenance margin exceeds the margin; check --leverage, --mmr, --balance",
              file=sys.stderr)
        return 2
    print(f"{formula}: {args.side} {args.qty:g} @ {args.entry:g}")
    print(f"{price:.2f}")
    return 0
