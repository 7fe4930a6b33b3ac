"""Measured positions: the live scan against a local Hyperliquid server replaying the recorded real
`clearinghouseState` answer and the recorded `null` batch answer, failed reads, an interrupted scan
resumed, the scan-file layout, and raw.positions through a real Dagster run (idempotent, a shorter
file never replaces a stored snapshot, a broken file named)."""

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from werkzeug import Request, Response

from pipelines.lib.exchanges.http import VenueHttp
from pipelines.lib.normalize import SourceFormatError
from pipelines.lib.positions.scan_files import SCAN_COLUMNS, day_scans, read_scan, scan_path, write_scan
from pipelines.lib.positions.scanner import ScanSettings, Scanner, leaderboard_addresses, scan_frame
from pipelines.lib.positions.state import FailedRead, parse_state
from tests.conftest import BUNDLED_DATA
from tests.pipelines.dagster_helpers import run_range

RECORDINGS = Path(__file__).parent / "data" / "hyperliquid_sdk"
RECORDED_USER = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
COINS = {"BTC": "BTC", "ETH": "ETH", "SOL": "SOL"}


def recorded(name: str) -> tuple[int, str]:
    """(status, body) of the one interaction of a recorded cassette."""
    interaction = yaml.safe_load((RECORDINGS / name).read_text())["interactions"][0]
    return interaction["response"]["status"]["code"], interaction["response"]["body"]["string"]


USER_STATUS, USER_BODY = recorded("test_get_user_state.yaml")
BATCH_STATUS, BATCH_BODY = recorded("test_batch_clearinghouse_states.yaml")


def address(n: int) -> str:
    return f"0x{n:040x}"


class FakeHyperliquid:
    """POST /info answering clearinghouseState from `states` (the recorded answer for RECORDED_USER),
    batchClearinghouseStates with the recorded CDN error (HTTP 500, body `null`) unless `batch_works`,
    `flaky` addresses answering `null` that many times first; GET /Mainnet/leaderboard."""

    def __init__(self, server, states: dict[str, str], batch_works: bool = False, flaky: dict[str, int] | None = None):
        self.states, self.batch_works, self.flaky = states, batch_works, dict(flaky or {})
        self.calls: list[dict] = []
        server.expect_request("/info", method="POST").respond_with_handler(self.info)
        rows = [{"ethAddress": a, "accountValue": "1"} for a in states] + [{"ethAddress": "not-an-address"}]
        server.expect_request("/Mainnet/leaderboard", method="GET").respond_with_json({"leaderboardRows": rows})
        self.url = server.url_for("").rstrip("/")

    def state(self, user: str) -> str:
        if self.flaky.get(user, 0) > 0:
            self.flaky[user] -= 1
            return "null"
        return self.states.get(user, "null")

    def info(self, request: Request) -> Response:
        body = request.get_json()
        self.calls.append(body)
        if body["type"] == "clearinghouseState":
            return Response(self.state(body["user"]), 200, content_type="application/json")
        if body["type"] == "batchClearinghouseStates":
            if not self.batch_works:
                return Response(BATCH_BODY, BATCH_STATUS, content_type="application/json")
            return Response("[" + ",".join(self.state(u) for u in body["users"]) + "]", 200, content_type="application/json")
        return Response("null", 400)

    def reads(self, user: str) -> int:
        return sum(1 for c in self.calls if c.get("user") == user or user in c.get("users", []))

    def singles(self, user: str) -> int:
        return sum(1 for c in self.calls if c.get("user") == user)


def empty_state() -> str:
    return json.dumps({"assetPositions": [], "marginSummary": {"accountValue": "10.0"}})


def scanner(fake: FakeHyperliquid, root: Path, clock=None, **settings) -> Scanner:
    http = VenueHttp("hyperliquid", fake.url, retries=0, backoff=0.01)
    kwargs = {"clock": clock} if clock else {}
    return Scanner(http, root, ScanSettings(**{"batch_size": 3, "checkpoint_every": 1, **settings}), **kwargs)


def test_the_recorded_real_answer_parses_into_positions_with_null_liquidation_prices_kept():
    account, rows = parse_state(json.loads(USER_BODY))
    assert account == "1182.312496" and len(rows) == 12
    btc = next(r for r in rows if r["coin"] == "BTC")
    assert btc == {"coin": "BTC", "side": "short", "size_base": "0.00785", "entry_price": "26951.0", "liq_price": "173198.69592357",
                   "leverage": "20", "margin_mode": "cross", "position_usd": "211.64542", "margin_used": "10.582271"}
    eth = next(r for r in rows if r["coin"] == "ETH")
    assert eth["side"] == "long" and eth["liq_price"] == ""  # the venue computes none: NULL, not dropped
    for answer in (None, "null", [], {"assetPositions": None}, {"error": "x"}):
        with pytest.raises(FailedRead, match="assetPositions"):
            parse_state(answer)


def test_a_scan_of_the_recorded_answer_through_a_local_server_falls_back_from_the_null_batch(httpserver, tmp_path):
    """The recorded batch answer (HTTP 500, `null`) makes the scanner read each address alone; the
    recorded account's positions reach raw.positions rows with the exchange's numbers."""
    others = [address(n) for n in range(1, 5)]
    fake = FakeHyperliquid(httpserver, {RECORDED_USER: USER_BODY, **{a: empty_state() for a in others}})
    scan = scanner(fake, tmp_path)
    result = scan.scan(leaderboard_addresses(VenueHttp("hyperliquid", fake.url, retries=0)), "full")
    assert (result.addresses, result.read, result.failed, result.positions) == (5, 5, 0, 12)
    assert sum(c["type"] == "batchClearinghouseStates" for c in fake.calls) == 1  # tried once, then single calls
    assert not scan.batch_works
    read = read_scan(result.path, "hyperliquid", COINS, "test")
    assert read.scan["addresses_read"] == 5 and read.scan["addresses_failed"] == 0 and read.scan["positions"] == 12
    assert len(read.rejects) == 0
    got = read.positions.set_index("symbol")
    assert set(got.index) == {"BTC", "ETH", "SOL"}  # the watched coins of the 12 positions
    assert got.loc["BTC", "liq_price"] == 173198.69592357 and got.loc["BTC", "side"] == "short"
    assert got.loc["BTC", "size_base"] == 0.00785 and got.loc["BTC", "position_usd"] == 211.64542
    assert got.loc["BTC", "account_value"] == 1182.312496 and got.loc["BTC", "margin_mode"] == "cross"
    assert pd.isna(got.loc["ETH", "liq_price"]) and pd.isna(got.loc["SOL", "liq_price"])
    assert result.path.parent.name == result.start.date().isoformat() and not scan.checkpoint("full").exists()


def test_a_null_answer_is_retried_then_counted_as_a_failed_read_never_as_no_position(httpserver, tmp_path):
    flaky, dead = address(7), address(8)
    fake = FakeHyperliquid(httpserver, {RECORDED_USER: USER_BODY, flaky: empty_state(), dead: empty_state()},
                           batch_works=True, flaky={flaky: 2, dead: 99})
    result = scanner(fake, tmp_path, attempts=3).scan([RECORDED_USER, flaky, dead], "full")
    assert (result.read, result.failed) == (2, 1)
    assert fake.reads(dead) == 1 + 3  # its null slot in the batch, then three single attempts
    assert fake.reads(flaky) == 1 + 2  # null in the batch, null once alone, then read
    read = read_scan(result.path, "hyperliquid", COINS, "test")
    assert list(read.failed["address"]) == [dead] and read.scan["addresses_failed"] == 1
    frame = pd.read_parquet(result.path)
    assert frame.loc[frame.address == dead, "status"].tolist() == ["failed"]


class Cut(Exception):
    pass


def test_an_interrupted_scan_resumes_with_the_same_start_and_reads_each_address_once(httpserver, tmp_path):
    addresses = [address(n) for n in range(1, 11)]
    fake = FakeHyperliquid(httpserver, {a: empty_state() for a in addresses} | {RECORDED_USER: USER_BODY})
    wanted = addresses + [RECORDED_USER]
    now = [1_770_000_000.0]

    def cut_after_six(done: int, total: int) -> None:
        if done >= 6:
            raise Cut()

    first = scanner(fake, tmp_path, clock=lambda: now[0])
    with pytest.raises(Cut):
        first.scan(wanted, "full", cut_after_six)
    assert first.checkpoint("full").exists() and not day_scans(tmp_path, "hyperliquid", dt.date(2026, 2, 2))
    now[0] += 600  # ten minutes later, another run of the same kind
    result = scanner(fake, tmp_path, clock=lambda: now[0]).scan(wanted, "full")
    assert result.resumed == 6 and result.addresses == 11 and result.read == 11 and result.positions == 12
    assert result.start == dt.datetime(2026, 2, 2, 2, 40) and result.end == dt.datetime(2026, 2, 2, 2, 50)  # the first run's start
    assert all(fake.singles(a) == 1 for a in wanted)  # batches of 3: six done before the cut are not read again
    assert len(pd.read_parquet(result.path)["address"].unique()) == 11


def scan_rows(start: str, positions: list[tuple], failed: list[str] = (), empty: list[str] = (), kind: str = "full") -> pd.DataFrame:
    """A scan file's frame from (address, coin, side, size, entry, liq, leverage, mode, usd) tuples."""
    rows = [{"address": a, "status": "ok", "coin": c, "side": s, "size_base": q, "entry_price": e, "liq_price": "" if l is None else l,
             "leverage": L, "margin_mode": m, "position_usd": u, "margin_used": "", "account_value": ""}
            for a, c, s, q, e, l, L, m, u in positions]
    rows += [{"address": a, "status": "ok", "coin": ""} for a in empty] + [{"address": a, "status": "failed", "coin": ""} for a in failed]
    frame = pd.DataFrame(rows).reindex(columns=SCAN_COLUMNS).astype(object).fillna("")
    end = (pd.Timestamp(start) + pd.Timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame.assign(scan_start=start, scan_end=end, kind=kind).astype(str)


def test_scan_files_reject_bad_rows_by_field_and_refuse_broken_files(tmp_path):
    start = dt.datetime(2026, 3, 4, 6)
    frame = scan_rows("2026-03-04T06:00:00Z", [
        (address(1), "BTC", "long", "1", "70000", "60000", "10", "isolated", "70000"),
        (address(2), "BTC", "short", "2", "70000", "abc", "10", "cross", "140000"),  # liq_price not a number
        (address(3), "BTC", "long", "-1", "70000", "60000", "10", "cross", "70000"),  # size <= 0
        (address(1), "BTC", "long", "1", "70000", "60000", "10", "isolated", "70000"),  # the same address and coin twice
        ("0xnothex", "ETH", "long", "1", "2000", "1500", "5", "cross", "2000"),
        (address(4), "DOGE", "long", "1", "0.1", "0.05", "3", "cross", "1000"),  # not watched: counted, not stored
    ], failed=[address(5)], empty=[address(6)])
    path = write_scan(scan_path(tmp_path, "hyperliquid", start, "full", ".csv"), frame)
    read = read_scan(path, "hyperliquid", COINS, "src")
    assert list(read.positions["address"]) == [address(1)]
    reasons = dict(zip(read.rejects["field"], read.rejects["reason"]))
    assert set(reasons) == {"liq_price", "size_base", "address,coin", "address"}
    assert reasons["liq_price"] == f"row 3 of {path.name}: not a finite number"
    assert read.scan["addresses_read"] == 5 and read.scan["addresses_failed"] == 1 and read.scan["positions"] == 2  # 1, 2, 3, 4, 6 answered
    broken = tmp_path / "broken.csv"
    frame.drop(columns=["liq_price"]).to_csv(broken, index=False)
    with pytest.raises(SourceFormatError, match=r"hyperliquid file .*broken.csv: field 'liq_price' missing"):
        read_scan(broken, "hyperliquid", COINS, "src")
    frame.assign(scan_start=["2026-03-04T06:00:00Z"] * 7 + ["2026-03-04T07:00:00Z"]).to_csv(broken, index=False)
    with pytest.raises(SourceFormatError, match="scan_start"):
        read_scan(broken, "hyperliquid", COINS, "src")


def data_with_scans(tmp_path: Path, scans: dict[str, pd.DataFrame]) -> Path:
    """The bundled data with only `scans` as position files."""
    root = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, root, ignore=shutil.ignore_patterns("positions"))
    for start, frame in scans.items():
        write_scan(scan_path(root, "hyperliquid", pd.Timestamp(start).to_pydatetime(), frame["kind"].iloc[0]), frame)
    return root


def stored(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return (con.execute("select * from raw.positions order by snapshot_ts, address, symbol").fetch_df(),
                con.execute("select * from raw.position_scans order by snapshot_ts").fetch_df())


def test_raw_positions_store_each_snapshot_idempotently_and_keep_a_fuller_one(tmp_path):
    day = dt.date(2026, 3, 4)
    a = scan_rows("2026-03-04T06:00:00Z", [(address(1), "BTC", "long", "1", "70000", "60000", "10", "isolated", "70000"),
                                           (address(2), "ETH", "short", "10", "2000", "2400", "5", "cross", "20000")],
                  failed=[address(9)])
    b = scan_rows("2026-03-04T12:00:00Z", [(address(2), "ETH", "short", "10", "2000", "2400", "5", "cross", "20000")])
    root = data_with_scans(tmp_path, {"2026-03-04T06:00:00": a, "2026-03-04T12:00:00": b})
    warehouse = tmp_path / "w.duckdb"
    assert run_range(warehouse, ("ingest",), day, day, symbols=("BTC", "ETH"), data_root=root).success
    positions, scans = stored(warehouse)
    assert len(positions) == 3 and list(scans["addresses_failed"]) == [1, 0] and list(scans["positions"]) == [2, 1]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select address from raw.position_failures").fetchall() == [(address(9),)]
    assert run_range(warehouse, ("ingest",), day, day, symbols=("BTC", "ETH"), data_root=root).success
    again, again_scans = stored(warehouse)
    pd.testing.assert_frame_equal(again, positions)
    pd.testing.assert_frame_equal(again_scans, scans)
    # the morning scan's file comes back shorter (one position): the stored snapshot stays, a note says so
    write_scan(scan_path(root, "hyperliquid", dt.datetime(2026, 3, 4, 6), "full"), a.iloc[[0]])
    result = run_range(warehouse, ("ingest",), day, day, symbols=("BTC", "ETH"), data_root=root)
    kept, _ = stored(warehouse)
    pd.testing.assert_frame_equal(kept, positions)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        notes = con.execute("select message from ops.asset_notes where asset = 'raw/positions'").fetchall()
    assert notes and "kept the stored snapshot" in notes[0][0]
    metadata = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "raw/positions")
    assert metadata["kept_snapshots"].value == 1


def test_a_broken_scan_file_is_named_and_the_days_other_scans_are_stored(tmp_path):
    day = dt.date(2026, 3, 4)
    good = scan_rows("2026-03-04T06:00:00Z", [(address(1), "BTC", "long", "1", "70000", "60000", "10", "isolated", "70000")])
    root = data_with_scans(tmp_path, {"2026-03-04T06:00:00": good})
    broken = scan_path(root, "hyperliquid", dt.datetime(2026, 3, 4, 12), "full")
    broken.write_bytes(b"not parquet")
    warehouse = tmp_path / "w.duckdb"
    assert run_range(warehouse, ("ingest",), day, day, symbols=("BTC",), data_root=root).success
    positions, _ = stored(warehouse)
    assert len(positions) == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        notes = con.execute("select severity, message from ops.asset_notes where asset = 'raw/positions'").fetchall()
    assert len(notes) == 1 and notes[0][0] == "warning"  # one of two scans lost: a warning; none readable: an error
    assert notes[0][1].startswith(f"hyperliquid file {broken}: unreadable scan file")


def test_scan_frame_keeps_the_venue_text_and_one_row_per_address_without_positions():
    records = [{"address": address(1), "status": "ok", "account_value": "5", "rows": []},
               {"address": address(2), "status": "failed", "account_value": "", "rows": []}]
    frame = scan_frame(records, dt.datetime(2026, 3, 4, 6), dt.datetime(2026, 3, 4, 6, 5), "hot")
    assert list(frame.columns) == SCAN_COLUMNS and len(frame) == 2
    assert list(frame["status"]) == ["ok", "failed"] and list(frame["coin"]) == ["", ""] and set(frame["kind"]) == {"hot"}


def test_the_scan_asset_runs_a_full_scan_then_a_hot_scan_of_the_watched_holders(httpserver, tmp_path, monkeypatch):
    """The Dagster asset against the local server: a full scan reads the leaderboard's accounts, a hot
    scan then reads only those holding a watched coin (the recorded account holds BTC, ETH and SOL)."""
    import dagster as dg

    from pipelines.defs.ingest.positions import hyperliquid_positions_scan
    from pipelines.defs.resources import MarketSourceResource, WatchlistResource
    from tests.conftest import WATCHLIST

    idle = [address(n) for n in range(1, 4)]
    fake = FakeHyperliquid(httpserver, {RECORDED_USER: USER_BODY, **{a: empty_state() for a in idle}})
    monkeypatch.setenv("LIQLEVELS_HYPERLIQUID_REST_URL", fake.url)
    monkeypatch.setenv("LIQLEVELS_HYPERLIQUID_STATS_URL", fake.url)
    landing = tmp_path / "landing"
    resources = {"market_source": MarketSourceResource(mode="live", files_root=str(tmp_path), landing_root=str(landing)),
                 "watchlist": WatchlistResource(path=str(WATCHLIST))}

    def scan(kind: str) -> dict:
        result = dg.materialize([hyperliquid_positions_scan], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                                run_config={"ops": {"landing__hyperliquid_positions_scan": {"config": {"kind": kind}}}})
        assert result.success
        return result.asset_materializations_for_node("landing__hyperliquid_positions_scan")[0].metadata

    assert scan("hot")["addresses"].value == 0  # before any full scan: nothing to rescan, not a failure
    full = scan("full")
    assert (full["addresses"].value, full["read"].value, full["failed"].value, full["positions"].value) == (4, 4, 0, 12)
    calls = len(fake.calls)
    hot = scan("hot")
    assert hot["addresses"].value == 1 and hot["positions"].value == 12
    assert [c.get("user") for c in fake.calls[calls:] if c["type"] == "clearinghouseState"] == [RECORDED_USER]
    files = sorted(p.name for p in landing.rglob("scan_*"))
    assert len(files) == 2 and {name.rsplit("_", 1)[1] for name in files} == {"full.parquet", "hot.parquet"}
