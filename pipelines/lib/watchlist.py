"""The watchlist: canonical symbols and their instruments per venue, loaded from one TOML file."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

VENUES = ("binance", "bybit", "okx", "hyperliquid", "coinglass")
# Sources that already sum several exchanges: never added into the cross-venue ('all') totals.
AGGREGATOR_VENUES = ("coinglass",)
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,20}$")
INSTRUMENT_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,40}$")


class WatchlistError(ValueError):
    """The watchlist file or a symbol name is invalid."""


# Coin-margined (inverse) instruments count quantities in USD contracts (Binance COIN-M BTC: 100 USD),
# not base units: storing them as base would make 3 contracts read as 3 BTC. Only linear perpetuals
# are supported, so they are refused where the watchlist is read.
INVERSE_INSTRUMENTS = {
    "binance": (re.compile(r"^[A-Z0-9]+USD_(PERP|\d{6})$"), "a COIN-M (coin-margined) contract: use the USDⓈ-M instrument, e.g. BTCUSDT"),
    "bybit": (re.compile(r"^[A-Z0-9]+USD([A-Z]\d{2})?$"), "an inverse contract: use the linear instrument, e.g. BTCUSDT"),
    "okx": (re.compile(r"^[A-Z0-9]+-USD-(SWAP|\d{6})$"), "a coin-margined contract: use the USDT-margined one, e.g. BTC-USDT-SWAP"),
}


def _positive_number(value, where: str):
    """A finite number > 0 (not a bool, NaN or inf), else WatchlistError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise WatchlistError(f"{where}: must be a finite number > 0, got {value!r}")
    return float(value)


def validate_symbol(symbol: str) -> str:
    """Return `symbol` if it is a canonical symbol name, else raise.

    Symbols end up in file paths, SQL parameters and Pine source, so anything outside
    `[A-Z0-9]{1,20}` is refused here rather than escaped later.
    """
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
        raise WatchlistError(f"invalid symbol {symbol!r}: expected 1-20 characters A-Z or 0-9, e.g. 'BTC'")
    return symbol


def validate_venue(venue: str) -> str:
    if venue not in VENUES:
        raise WatchlistError(f"unknown venue {venue!r}: expected one of {', '.join(VENUES)}")
    return venue


@dataclass(frozen=True)
class Listing:
    """One symbol's instrument on one venue."""

    venue: str
    instrument: str
    contract_size: float


# Bar intervals the level engines run at (per symbol `interval`, default `[defaults] interval`).
# Open interest carries its information in 1-5 minute changes; Leviathan-style tools run on 1-15 minute charts.
LEVEL_INTERVALS = ("1m", "5m", "15m", "1h")
# The one default in the code: what a watchlist without `[defaults] interval` (or a symbol's own) means.
# Every engine, view, export, scorecard and live client reads the symbol's interval, never a constant.
DEFAULT_INTERVAL = "1h"


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    name: str
    tick_size: float
    listings: dict[str, Listing] = field(default_factory=dict)
    interval: str = DEFAULT_INTERVAL  # the bar interval its levels are computed at

    def listing(self, venue: str) -> Listing:
        try:
            return self.listings[venue]
        except KeyError:
            raise WatchlistError(f"symbol {self.symbol} is not listed on venue {venue!r} in the watchlist") from None


@dataclass(frozen=True)
class Watchlist:
    symbols: dict[str, SymbolSpec]
    source: str = "<memory>"

    def get(self, symbol: str) -> SymbolSpec:
        validate_symbol(symbol)
        try:
            return self.symbols[symbol]
        except KeyError:
            raise WatchlistError(f"symbol {symbol} is not in the watchlist {self.source}") from None

    def select(self, symbols: list[str] | None) -> list[SymbolSpec]:
        """The requested symbols (all when `symbols` is empty), in watchlist order."""
        if not symbols:
            return list(self.symbols.values())
        return [self.get(s) for s in symbols]

    def listings(self, symbols: list[str] | None = None) -> list[tuple[SymbolSpec, Listing]]:
        return [(spec, listing) for spec in self.select(symbols) for listing in spec.listings.values()]


def _interval(value, where: str) -> str:
    if value not in LEVEL_INTERVALS:
        raise WatchlistError(f"{where}: interval must be one of {', '.join(LEVEL_INTERVALS)}, got {value!r}")
    return value


def parse_watchlist(data: dict, source: str = "<memory>") -> Watchlist:
    symbols: dict[str, SymbolSpec] = {}
    default_interval = _interval((data.get("defaults") or {}).get("interval", DEFAULT_INTERVAL), f"{source}: defaults.interval")
    for symbol, body in (data.get("symbols") or {}).items():
        where = f"{source}: symbols.{symbol}"
        try:
            validate_symbol(symbol)
        except WatchlistError as exc:
            raise WatchlistError(f"{where}: {exc}") from None
        listings: dict[str, Listing] = {}
        for venue, vbody in (body.get("venues") or {}).items():
            vwhere = f"{where}.venues.{venue}"
            if venue not in VENUES:
                raise WatchlistError(f"{vwhere}: unknown venue (expected one of {', '.join(VENUES)})")
            instrument = vbody.get("instrument")
            if not isinstance(instrument, str) or not INSTRUMENT_PATTERN.fullmatch(instrument):
                raise WatchlistError(f"{vwhere}.instrument: invalid instrument id {instrument!r}")
            if venue in INVERSE_INSTRUMENTS and INVERSE_INSTRUMENTS[venue][0].fullmatch(instrument):
                raise WatchlistError(f"{vwhere}.instrument: {instrument} is {INVERSE_INSTRUMENTS[venue][1]}; liqlevels "
                                     "supports USD-margined linear perpetuals only")
            contract_size = _positive_number(vbody.get("contract_size", 1.0), f"{vwhere}.contract_size")
            listings[venue] = Listing(venue, instrument, contract_size)
        if not listings:
            raise WatchlistError(f"{where}: no venues listed")
        tick_size = _positive_number(body.get("tick_size", 0.01), f"{where}.tick_size")
        interval = _interval(body.get("interval", default_interval), f"{where}.interval")
        symbols[symbol] = SymbolSpec(symbol, str(body.get("name", symbol)), tick_size, listings, interval)
    if not symbols:
        raise WatchlistError(f"{source}: no [symbols.*] tables")
    return Watchlist(symbols, source)


def load_watchlist(path: str | Path) -> Watchlist:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise WatchlistError(f"watchlist file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError(f"{path}: not valid TOML: {exc}") from None
    return parse_watchlist(data, str(path))
