"""The files source reads only a run's range (DuckDB pushdown) and gives exactly what normalizing the
whole file and keeping that range gave: clean and messy files, CSV (typed fast path and text path) and
Parquet, timestamps as text, epoch numbers and typed columns."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.lib import files_source
from tests.pipelines.normalize_reference import normalize as reference
from tests.pipelines.test_normalize_reference import messy

FIRST = dt.date(2026, 3, 2)


def expected(frame: pd.DataFrame, table: str, source: str, first: dt.date, days: int):
    whole = reference(table, frame, venue="okx", symbol="BTC", source=source)
    lo, hi = pd.Timestamp(first), pd.Timestamp(first) + pd.Timedelta(days=days)
    rows = whole.rows[(whole.rows["ts"] >= lo) & (whole.rows["ts"] < hi)].reset_index(drop=True)
    keep = whole.rejects["day"].map(lambda d: d is None or first <= d < first + dt.timedelta(days=days)).astype(bool)
    return rows, whole.rejects[keep].reset_index(drop=True)


def write(root, table: str, frame: pd.DataFrame, suffix: str) -> str:
    path = root / table / "okx" / f"BTC{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
    return f"files:{table}/okx/BTC{suffix}"


def clean_klines(days: int = 10) -> pd.DataFrame:
    ts = pd.date_range("2026-02-26", periods=days * 24, freq="1h")
    close = np.linspace(100.0, 120.0, len(ts))
    return pd.DataFrame({"ts": ts, "interval": "1h", "open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": 2.5})


@pytest.mark.parametrize("ts_form", ["typed", "iso", "epoch_ms"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_clean_file_read_by_range_equals_the_whole_file_cut_to_the_range(tmp_path, suffix, ts_form):
    frame = clean_klines()
    if ts_form == "iso":
        frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif ts_form == "epoch_ms":
        frame["ts"] = frame["ts"].astype("datetime64[ms]").astype("int64")
    source = write(tmp_path, "klines", frame, suffix)
    on_disk = (pd.read_csv(tmp_path / "klines" / "okx" / "BTC.csv", dtype=str, keep_default_na=False, na_values=[""])
               if suffix == ".csv" else pd.read_parquet(tmp_path / "klines" / "okx" / "BTC.parquet"))
    got = files_source.load_range(tmp_path, "klines", "okx", "BTC", FIRST, 3)
    rows, rejects = expected(on_disk, "klines", source, FIRST, 3)
    assert len(rows) == 72 and rejects.empty
    pd.testing.assert_frame_equal(got.batch.rows, rows, check_dtype=False)
    assert got.batch.rejects.empty and got.notes == {}


@pytest.mark.parametrize("table", ["klines", "open_interest", "liquidations"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_messy_csv_gives_the_references_rows_and_rejects_for_the_range(tmp_path, table, seed):
    frame = messy(table, seed, typed=False)
    source = write(tmp_path, table, frame, ".csv")
    on_disk = pd.read_csv(tmp_path / table / "okx" / "BTC.csv", dtype=str, keep_default_na=False, na_values=[""])
    got = files_source.load_range(tmp_path, table, "okx", "BTC", FIRST, 2)
    rows, rejects = expected(on_disk, table, source, FIRST, 2)
    assert len(rows) > 10 and len(rejects) > 5
    pd.testing.assert_frame_equal(got.batch.rows, rows, check_dtype=False)
    pd.testing.assert_frame_equal(got.batch.rejects, rejects, check_dtype=False)


def test_a_nan_written_in_an_optional_column_is_rejected_as_written(tmp_path):
    frame = clean_klines(3).astype({"volume": object})
    frame.loc[5, "volume"] = "nan"
    write(tmp_path, "klines", frame, ".csv")
    got = files_source.load_range(tmp_path, "klines", "okx", "BTC", dt.date(2026, 2, 26), 3)
    assert list(got.batch.rejects["reason"]) == ["not a finite number: nan"]
    assert '"volume": "nan"' in got.batch.rejects["payload"].iloc[0] and len(got.batch.rows) == 71
