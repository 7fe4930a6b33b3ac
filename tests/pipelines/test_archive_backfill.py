"""`liqlevels backfill` against Binance's archive layout served from a local folder (real candles)."""

import datetime as dt
import functools
import hashlib
import http.server
import io
import threading
import zipfile

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.lib.exchanges.archive import archive_path
from tests.conftest import BUNDLED_DATA

DAYS = [dt.date(2026, 3, 3), dt.date(2026, 3, 4), dt.date(2026, 3, 5)]
UNPUBLISHED = dt.date(2026, 3, 6)
HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"


def candles(day: dt.date) -> pd.DataFrame:
    frame = pd.read_parquet(BUNDLED_DATA / "klines" / "binance" / "BTC.parquet")
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    return frame[frame["ts"].dt.date == day].reset_index(drop=True)


def oi_5m(day: dt.date) -> pd.DataFrame:
    """5-minute OI in the metrics layout, interpolated from the bundled hourly (real) Hyperliquid OI."""
    hourly = pd.read_parquet(BUNDLED_DATA / "open_interest" / "hyperliquid" / "BTC.parquet")
    hourly["ts"] = hourly["ts"].dt.tz_localize(None)
    hourly = hourly.set_index("ts")["oi_usd"]
    grid = pd.date_range(pd.Timestamp(day), periods=288, freq="5min")
    usd = hourly.reindex(hourly.index.union(grid)).interpolate().ffill().bfill().reindex(grid) * 3
    return pd.DataFrame({"create_time": grid.strftime("%Y-%m-%d %H:%M:%S"), "symbol": "BTCUSDT",
                         "sum_open_interest": (usd / 70_000).round(4).to_numpy(), "sum_open_interest_value": usd.round(2).to_numpy(),
                         "count_toptrader_long_short_ratio": "1.1", "sum_toptrader_long_short_ratio": "1.2",
                         "count_long_short_ratio": "1.3", "sum_taker_long_short_vol_ratio": "0.9"})


def write_zip(root, path: str, csv_text: str, corrupt_checksum: bool = False) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(target.name.replace(".zip", ".csv"), csv_text)
    target.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue() + (b"x" if corrupt_checksum else b"")).hexdigest()
    target.with_name(target.name + ".CHECKSUM").write_text(f"{digest}  {target.name}\n")


def build_archive(root) -> None:
    for i, day in enumerate(DAYS):
        c = candles(day)
        opens = (c["ts"].astype("datetime64[ms]").astype("int64")).to_numpy()
        lines = [f"{t},{r.open},{r.high},{r.low},{r.close},{r.volume},{t + 3_599_999},{r.volume * r.close},100,{r.volume / 2},0,0"
                 for t, r in zip(opens, c.itertuples())]
        header = [HEADER] if i != 1 else []  # the middle day has no header row, as older files
        write_zip(root, archive_path("klines", "BTCUSDT", day), "\n".join(header + lines) + "\n", corrupt_checksum=(day == DAYS[2]))
        metrics = oi_5m(day)
        metrics = pd.concat([metrics, metrics.iloc[[10, 11]]])  # the archive repeats some rows
        write_zip(root, archive_path("metrics", "BTCUSDT", day), metrics.to_csv(index=False))


class Archive:
    def __init__(self, root):
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                requests.append(self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def archive(tmp_path, monkeypatch):
    root = tmp_path / "binance-vision"
    build_archive(root)
    served = Archive(root)
    monkeypatch.setenv("LIQLEVELS_BINANCE_ARCHIVE_URL", served.url)
    yield root, served
    served.server.shutdown()


def backfill(*extra) -> int:
    return main(["backfill", "--venue", "binance", "--symbol", "BTC", "--start", str(DAYS[0]), "--end", str(UNPUBLISHED), "--quiet", *extra])


def query(warehouse_file, sql: str, params=()):
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_backfill_checks_loads_resumes_and_refuses_a_bad_checksum(archive, warehouse_file, capsys):
    root, served = archive
    assert backfill() == 1  # one file failed its checksum
    out = capsys.readouterr()
    assert "does not match .CHECKSUM" in out.err and "BTCUSDT-1h-2026-03-05.zip" in out.err
    assert "2 not published" in out.out and "5 files loaded" in out.out and "6 duplicate rows dropped" in out.out

    stored = pd.DataFrame(query(warehouse_file, "select ts, open, high, low, close, volume from raw.klines "
                                                "where venue = 'binance' and interval = '1h' order by ts"),
                          columns=["ts", "open", "high", "low", "close", "volume"])
    want = pd.concat([candles(DAYS[0]), candles(DAYS[1])], ignore_index=True)
    assert stored["ts"].tolist() == want["ts"].tolist()  # the bad-checksum day is not loaded
    np.testing.assert_allclose(stored[["open", "high", "low", "close", "volume"]].to_numpy(),
                               want[["open", "high", "low", "close", "volume"]].to_numpy(), rtol=1e-12)
    oi = dict(query(warehouse_file, "select interval, count(*) from raw.open_interest group by 1"))
    assert oi == {"5m": 3 * 288, "1h": 3 * 24}
    hourly = query(warehouse_file, "select ts, oi_usd from raw.open_interest where interval = '1h' order by ts limit 2")
    five = dict(query(warehouse_file, "select ts, oi_usd from raw.open_interest where interval = '5m'"))
    assert [five[ts] for ts, _ in hourly] == [usd for _, usd in hourly]  # the hourly row is the :00 sample
    assert query(warehouse_file, "select count(*) from ops.rejects") == [(0,)]

    # Resume: nothing already loaded is downloaded again; the bad file is tried again and still refused.
    served.requests.clear()
    assert backfill() == 1
    assert sorted(set(p.rsplit("/", 1)[1] for p in served.requests)) == [
        "BTCUSDT-1h-2026-03-05.zip", "BTCUSDT-1h-2026-03-05.zip.CHECKSUM", "BTCUSDT-1h-2026-03-06.zip",
        "BTCUSDT-metrics-2026-03-06.zip"]

    # The archive republishes the file with a good checksum: the next run loads just that day.
    write_zip(root, archive_path("klines", "BTCUSDT", DAYS[2]), "\n".join([HEADER] + [
        f"{int(r.ts.timestamp() * 1000)},{r.open},{r.high},{r.low},{r.close},{r.volume},0,0,0,0,0,0" for r in candles(DAYS[2]).itertuples()]) + "\n")
    capsys.readouterr()
    assert backfill() == 0
    assert query(warehouse_file, "select count(*) from raw.klines") == [(48 + len(candles(DAYS[2])),)]
    loads = query(warehouse_file, "select dataset, count(*) from ops.archive_loads group by 1 order by 1")
    assert loads == [("klines", 3), ("metrics", 3)]


def test_other_venues_have_no_archive(capsys):
    assert main(["backfill", "--venue", "okx", "--symbol", "BTC", "--start", "2026-03-01", "--end", "2026-03-02"]) == 2
    assert "no bulk archive for okx" in capsys.readouterr().err


def _kline_lines(frame: pd.DataFrame) -> list[str]:
    opens = frame["ts"].astype("datetime64[ms]").astype("int64").to_numpy()
    return [f"{t},{r.open},{r.high},{r.low},{r.close},{r.volume},{t + 3_599_999},0,0,0,0,0" for t, r in zip(opens, frame.itertuples())]


def test_a_whole_month_comes_from_its_monthly_file_and_an_unpublished_month_from_its_days(tmp_path, monkeypatch, warehouse_file, capsys):
    from pipelines.lib.exchanges.archive import monthly_archive_path

    root = tmp_path / "vision"
    february = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(28)]
    month = pd.concat([candles(d) for d in february], ignore_index=True)
    write_zip(root, monthly_archive_path("klines", "BTCUSDT", february[0]), "\n".join([HEADER] + _kline_lines(month)) + "\n")
    for day in (dt.date(2026, 1, 31), dt.date(2026, 3, 1), dt.date(2026, 3, 2)):  # March has no monthly file yet
        write_zip(root, archive_path("klines", "BTCUSDT", day), "\n".join([HEADER] + _kline_lines(candles(day))) + "\n")
    served = Archive(root)
    monkeypatch.setenv("LIQLEVELS_BINANCE_ARCHIVE_URL", served.url)
    try:
        code = main(["backfill", "--venue", "binance", "--symbol", "BTC", "--start", "2026-01-31", "--end", "2026-03-02",
                     "--datasets", "klines", "--quiet"])
    finally:
        served.server.shutdown()
    assert code == 0, capsys.readouterr()
    assert "4 files loaded (31 days" in capsys.readouterr().out
    wanted = sorted(p.rsplit("/", 1)[1] for p in served.requests if not p.endswith(".CHECKSUM"))  # fetched by 2 threads
    assert wanted == ["BTCUSDT-1h-2026-01-31.zip", "BTCUSDT-1h-2026-02.zip", "BTCUSDT-1h-2026-03-01.zip", "BTCUSDT-1h-2026-03-02.zip"]
    stored = query(warehouse_file, "select ts, close from raw.klines where venue = 'binance' order by ts")
    expected = pd.concat([candles(dt.date(2026, 1, 31)), month, candles(dt.date(2026, 3, 1)), candles(dt.date(2026, 3, 2))])
    assert [ts for ts, _ in stored] == expected["ts"].tolist()
    np.testing.assert_array_equal([c for _, c in stored], expected["close"].to_numpy())
    ledger = query(warehouse_file, "select count(*), count(distinct url) from ops.archive_loads")
    assert ledger == [(31, 4)]  # every day recorded, the February days under the monthly file's URL


def test_a_local_copy_of_the_archive_loads_like_the_server(tmp_path, monkeypatch, warehouse_file, capsys):
    root = tmp_path / "binance-vision"
    build_archive(root)
    monkeypatch.setenv("LIQLEVELS_BINANCE_ARCHIVE_URL", f"file://{root}")
    assert backfill() == 1  # the same bad checksum is refused
    out = capsys.readouterr()
    assert "does not match .CHECKSUM" in out.err and "2 not published" in out.out and "5 files loaded" in out.out
    assert query(warehouse_file, "select count(*) from raw.klines") == [(48,)]
    assert query(warehouse_file, "select count(distinct url) from ops.archive_loads where url like 'file://%'") == [(5,)]
    monkeypatch.setenv("LIQLEVELS_BINANCE_ARCHIVE_URL", f"file://{tmp_path / 'nowhere'}")
    assert backfill() == 1 and "local archive folder does not exist" in capsys.readouterr().err


def test_a_file_with_a_row_outside_its_day_is_refused_alone_and_a_bad_number_is_a_reject_naming_its_file(
        tmp_path, monkeypatch, warehouse_file, capsys):
    root = tmp_path / "vision"
    days = [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    stray = _kline_lines(candles(days[2]).iloc[[0]])  # the 3rd's first hour, inside the 2nd's file
    bad = _kline_lines(candles(days[2]))
    bad[5] = bad[5].replace(bad[5].split(",")[4], "abc", 1)  # a close that is not a number
    write_zip(root, archive_path("klines", "BTCUSDT", days[0]), "\n".join([HEADER] + _kline_lines(candles(days[0]))) + "\n")
    write_zip(root, archive_path("klines", "BTCUSDT", days[1]), "\n".join([HEADER] + _kline_lines(candles(days[1])) + stray) + "\n")
    write_zip(root, archive_path("klines", "BTCUSDT", days[2]), "\n".join([HEADER] + bad) + "\n")
    monkeypatch.setenv("LIQLEVELS_BINANCE_ARCHIVE_URL", f"file://{root}")
    code = main(["backfill", "--venue", "binance", "--symbol", "BTC", "--start", "2026-03-01", "--end", "2026-03-03",
                 "--datasets", "klines", "--quiet"])
    out = capsys.readouterr()
    assert code == 1 and "BTCUSDT-1h-2026-03-02.zip: 1 rows outside 2026-03-02" in out.err
    per_day = dict(query(warehouse_file, "select cast(ts as date), count(*) from raw.klines group by 1"))
    assert per_day == {days[0]: 24, days[2]: 23}  # the refused day stores nothing; one row of the 3rd rejected
    rejects = query(warehouse_file, "select field, source from ops.rejects")
    assert rejects == [("close", f"binance-archive:{archive_path('klines', 'BTCUSDT', days[2])}")]
    assert [d for (d,) in query(warehouse_file, "select day from ops.archive_loads order by day")] == [days[0], days[2]]
