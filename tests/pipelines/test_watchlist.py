import re
import pandas as pd
import pytest

from pipelines.lib.group_m import hyperliquid_liquidations, okx_liquidations
from pipelines.lib.watchlist import WatchlistError, load_watchlist, parse_watchlist, validate_symbol
from tests.conftest import WATCHLIST


def test_bundled_watchlist_maps_symbols_to_instruments():
    wl = load_watchlist(WATCHLIST)
    assert list(wl.symbols) == ["BTC", "ETH", "SOL"]
    assert wl.get("BTC").listing("okx").instrument == "BTC-USDT-SWAP"
    assert wl.get("BTC").listing("okx").contract_size == 0.01
    assert wl.get("ETH").listing("okx").contract_size == 0.1
    assert [s.symbol for s in wl.select(["SOL"])] == ["SOL"]


@pytest.mark.parametrize("bad", ["btc", "BTC'; drop table raw.klines; --", "../etc", "", "B" * 21, "BTC USDT"])
def test_symbols_outside_the_canonical_alphabet_are_refused(bad):
    with pytest.raises(WatchlistError, match="invalid symbol"):
        validate_symbol(bad)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"symbols": {"BTC": {"venues": {"kraken": {"instrument": "XBT"}}}}}, "symbols.BTC.venues.kraken: unknown venue"),
        ({"symbols": {"BTC": {"venues": {"okx": {"instrument": "BTC-USDT-SWAP", "contract_size": -1}}}}}, "contract_size"),
        ({"symbols": {"BTC": {"venues": {"okx": {"instrument": "BTC USDT"}}}}}, "invalid instrument"),
        ({"symbols": {"BTC": {}}}, "no venues"),
        ({}, "no \\[symbols"),
    ],
)
def test_invalid_watchlists_name_the_offending_entry(data, message):
    with pytest.raises(WatchlistError, match=message):
        parse_watchlist(data, "test.toml")


def test_unknown_symbol_in_selection():
    with pytest.raises(WatchlistError, match="DOGE is not in the watchlist"):
        load_watchlist(WATCHLIST).select(["DOGE"])


def test_okx_sample_rows_become_usd_and_position_side():
    # group-m OKX rows carry contracts × price in size_usd: 3 contracts of 0.01 BTC at 70,000
    raw = pd.DataFrame({"timestamp": [1, 2], "side": ["sell", "buy"], "size_usd": [210_000.0, 70_000.0], "price": [70_000.0, 70_000.0]})
    out = okx_liquidations(raw, contract_size=0.01)
    assert list(out.side) == ["long", "short"]
    assert list(out.usd) == pytest.approx([2_100.0, 700.0])
    assert list(out.qty_base) == pytest.approx([0.03, 0.01])


def test_okx_unknown_side_is_not_guessed():
    raw = pd.DataFrame({"timestamp": [1], "side": ["S"], "size_usd": [1.0], "price": [1.0]})
    assert okx_liquidations(raw, 1.0).side[0] == "invalid:S"  # becomes a reject downstream


def test_hyperliquid_sample_side_is_unknown():
    raw = pd.DataFrame({"timestamp": [1], "side": ["S"], "size_usd": [101.25], "price": [38.5]})
    out = hyperliquid_liquidations(raw)
    assert out.side[0] == "unknown" and out.usd[0] == 101.25


@pytest.mark.parametrize(("body", "message"), [
    ({"tick_size": float("nan"), "venues": {"okx": {"instrument": "BTC-USDT-SWAP"}}}, "tick_size: must be a finite number > 0, got nan"),
    ({"venues": {"okx": {"instrument": "BTC-USDT-SWAP", "contract_size": float("inf")}}}, "contract_size: must be a finite number > 0, got inf"),
    ({"tick_size": True, "venues": {"okx": {"instrument": "BTC-USDT-SWAP"}}}, "tick_size: must be a finite number > 0, got True"),
    ({"venues": {"binance": {"instrument": "BTCUSD_PERP"}}}, "BTCUSD_PERP is a COIN-M (coin-margined) contract"),
    ({"venues": {"bybit": {"instrument": "BTCUSD"}}}, "BTCUSD is an inverse contract"),
    ({"venues": {"okx": {"instrument": "BTC-USD-SWAP"}}}, "BTC-USD-SWAP is a coin-margined contract"),
])
def test_numbers_must_be_finite_and_instruments_linear(body, message):
    with pytest.raises(WatchlistError, match=re.escape(message)):
        parse_watchlist({"symbols": {"BTC": body}})


def test_the_bundled_okx_candle_volume_is_in_base_units():
    from tests.conftest import BUNDLED_DATA

    okx = pd.read_parquet(BUNDLED_DATA / "klines" / "okx" / "BTC.parquet").set_index("ts")["volume"]
    binance = pd.read_parquet(BUNDLED_DATA / "klines" / "binance" / "BTC.parquet").set_index("ts")["volume"]
    ratio = (okx / binance).dropna()
    assert 0.1 < ratio.median() < 10  # contracts of 0.01 BTC would be ~100x
