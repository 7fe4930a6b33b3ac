"""Execute a generated Pine overlay offline with PineTS (npm, AGPL-3.0: a test tool, installed from
tests/pine/pinets/package-lock.json by `npm ci` on first use, never shipped) and return the alerts it raised."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent / "pinets"


def ensure_pinets() -> Path:
    """tests/pine/pinets/node_modules from the lock file; an error says what is missing."""
    if (HERE / "node_modules" / "pinets" / "package.json").exists():
        return HERE
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("executing the Pine overlay needs Node.js and npm (Debian: apt-get install nodejs npm)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"npm ci for PineTS failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return HERE


def run_pine(source: str, candles: list[dict], tmp: Path, base: str = "BTC", inputs: dict | None = None) -> list[dict]:
    """The alerts (`alertcondition` that held: title, bar_index, time) of `source` run on `candles`
    ({open, high, low, close, volume, openTime, closeTime} in ms)."""
    folder = ensure_pinets()
    script, data, given = tmp / "script.pine", tmp / "candles.json", tmp / "inputs.json"
    script.write_text(source)
    data.write_text(json.dumps(candles))
    given.write_text(json.dumps(inputs or {}))
    done = subprocess.run(["node", str(folder / "run.cjs"), str(script), str(data), base, str(given)], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"PineTS could not run the script: {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout)["alerts"]
