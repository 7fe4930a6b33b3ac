"""Row-level parsing rules: every bad row becomes a reject naming its field; good rows survive."""

import json

import pandas as pd
import pytest

from pipelines.lib.normalize import SourceFormatError, normalize, parse_timestamps


def _klines(**overrides) -> pd.DataFrame:
    rows = [
        {"ts": "2026-01-01T00:00:00Z", "interval": "1h", "open": "100", "high": "110", "low": "90", "close": "105", "volume": "12.5"},
        {"ts": "2026-01-01T01:00:00Z", "interval": "1h", "open": "105", "high": "106", "low": "100", "close": "101", "volume": "3"},
    ]
    for key, value in overrides.items():
        rows[1][key] = value
    return pd.DataFrame(rows)


def test_clean_rows_are_typed():
    out = normalize("klines", _klines(), venue="binance", symbol="BTC", source="test")
    assert out.rejects.empty
    assert list(out.rows["close"]) == [105.0, 101.0]
    assert list(out.rows["ts"]) == [pd.Timestamp("2026-01-01 00:00"), pd.Timestamp("2026-01-01 01:00")]
    assert set(out.rows["venue"]) == {"binance"} and set(out.rows["symbol"]) == {"BTC"}


@pytest.mark.parametrize(
    ("table", "frame", "field", "reason"),
    [
        ("klines", _klines(close="abc"), "close", "not a finite number: abc"),
        ("klines", _klines(ts=None), "ts", "missing timestamp"),
        ("klines", _klines(ts="yesterday-ish"), "ts", "unparseable timestamp: yesterday-ish"),
        ("klines", _klines(low="-1"), "low", "must be > 0, got -1.0"),
        ("klines", _klines(interval="7h"), "interval", "not one of"),
        ("klines", _klines(interval="1w"), "interval", "not one of"),
        ("klines", _klines(ts="2026-01-01T01:05:00Z"), "ts",
         "ts 2026-01-01T01:05:00Z is off the 1h grid: a bar of that interval starts at a multiple of it since 00:00 UTC (data row 2 of files:x.csv)"),
        ("klines", _klines(ts="2099-01-01T01:00:00Z"), "ts", "dated in the future"),
        (
            "open_interest",
            pd.DataFrame({"ts": [1767225600000, 1767229200000], "interval": "1h", "oi_usd": ["5e9", "-3"]}),
            "oi_usd",
            "must be >= 0, got -3.0",
        ),
        (
            "liquidations",
            pd.DataFrame({"ts": [1767225600000] * 2, "side": ["long", "sideways"], "price": 1.0, "qty_base": 1.0, "usd": 1.0}),
            "side",
            "not one of long, short, unknown: sideways",
        ),
    ],
    ids=["string-price", "missing-ts", "bad-ts", "negative-low", "bad-interval", "weekly-interval", "off-grid", "future", "negative-oi", "bad-side"],
)
def test_bad_row_is_rejected_with_field_and_reason(table, frame, field, reason):
    out = normalize(table, frame, venue="okx", symbol="BTC", source="files:x.csv")
    assert len(out.rows) == 1, "the good row must survive"
    assert len(out.rejects) == 1
    reject = out.rejects.iloc[0]
    assert reject["field"] == field
    assert reason in reject["reason"]
    assert (reject["table_name"], reject["venue"], reject["symbol"], reject["source"]) == (table, "okx", "BTC", "files:x.csv")
    expected = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[1].to_dict().items()}
    assert json.loads(reject["payload"]) == expected


def test_duplicate_row_keeps_first_and_rejects_the_rest():
    frame = pd.concat([_klines(), _klines().iloc[[1]]], ignore_index=True)
    frame.loc[2, "close"] = "102"  # same key, different value: still a duplicate key
    out = normalize("klines", frame, venue="bybit", symbol="ETH", source="s")
    assert list(out.rows["close"]) == [105.0, 101.0]
    assert list(out.rejects["field"]) == ["interval+ts"]
    assert "duplicate natural key" in out.rejects.iloc[0]["reason"]
    assert json.loads(out.rejects.iloc[0]["payload"])["close"] == "102"


def test_reject_day_is_the_rows_day_or_none_when_ts_is_bad():
    out = normalize("klines", pd.concat([_klines(close="x"), _klines(ts="nope").iloc[[1]]], ignore_index=True),
                    venue="okx", symbol="BTC", source="s")
    days = sorted(map(str, out.rejects["day"]))
    assert days == ["2026-01-01", "None"]


def test_missing_column_names_venue_source_and_field():
    frame = _klines().drop(columns=["close"])
    with pytest.raises(SourceFormatError, match=r"binance files:klines/binance/BTC.csv: required field 'close'"):
        normalize("klines", frame, venue="binance", symbol="BTC", source="files:klines/binance/BTC.csv")


@pytest.mark.parametrize(
    "value",
    ["2026-03-04T12:30:00Z", "2026-03-04 12:30:00", "2026-03-04T13:30:00+01:00", 1772627400000, 1772627400, "1772627400000"],
)
def test_timestamp_formats(value):
    assert parse_timestamps(pd.Series([value], dtype=object))[0] == pd.Timestamp("2026-03-04 12:30:00")


def test_tz_aware_timestamps_become_naive_utc():
    s = pd.Series(pd.to_datetime(["2026-03-04 13:30"]).tz_localize("Europe/Paris"))
    assert parse_timestamps(s)[0] == pd.Timestamp("2026-03-04 12:30:00")


def test_klines_without_a_volume_column_are_stored_with_unknown_volume():
    frame = _klines().drop(columns=["volume"])
    out = normalize("klines", frame, venue="binance", symbol="BTC", source="test")
    assert out.rejects.empty and out.rows["volume"].isna().all() and len(out.rows) == 2
