"""The installed `liqlevels` console script, run as a user would."""

import subprocess
import sys
from pathlib import Path

import pytest

LIQLEVELS = str(Path(sys.executable).parent / "liqlevels")
SEED = ["liq-price", "--venue", "bybit", "--contract", "inverse", "--side", "long", "--qty", "100000",
        "--entry", "50000", "--leverage", "50", "--mmr", "0.005"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIQLEVELS, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("extra", "last_line"),
    [(["--margin", "isolated"], "49261.08"), (["--margin", "cross", "--balance", "0.5"], "39525.69")],
)
def test_seed_examples_print_as_last_line(extra, last_line):
    out = run(*SEED, *extra)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == last_line


def test_help_documents_every_option():
    out = run("liq-price", "--help")
    for option in ["--venue", "--contract", "--margin", "--side", "--qty", "--entry", "--leverage", "--mmr",
                   "--balance", "--mm-deduction", "--taker-fee", "--max-leverage", "--symbol", "--date"]:
        assert option in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--venue", "okx", "--contract", "inverse", "--side", "long", "--qty", "1", "--entry", "5", "--mmr", "0.01", "--leverage", "5"], "only implemented for bybit"),
        ([*SEED, "--margin", "cross"], "needs --balance"),
        (["--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "5"], "needs --leverage, --mmr"),
        (["--venue", "hyperliquid", "--side", "long", "--qty", "1", "--entry", "5", "--leverage", "5"], "--mmr or --max-leverage"),
        (["--venue", "binance", "--side", "long", "--qty", "1", "--entry", "5", "--leverage", "5", "--symbol", "DOGE"], "no bundled Binance bracket table"),
    ],
)
def test_invalid_combinations_exit_nonzero_with_a_message(args, message):
    out = run("liq-price", *args) if args[0] != "liq-price" else run(*args)
    assert out.returncode != 0
    assert message in out.stderr


def test_hyperliquid_from_max_leverage():
    out = run("liq-price", "--venue", "hyperliquid", "--side", "short", "--qty", "1", "--entry", "100000", "--leverage", "10", "--max-leverage", "40")
    assert out.stdout.strip().splitlines()[-1] == "108641.98"
