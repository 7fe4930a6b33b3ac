"""One `clearinghouseState` answer → scan rows (exchange docs: POST /info, type clearinghouseState).

Both recorded shapes are read: the 2023 one (`maxTradeSzs`, no `cumFunding`) and today's
(`maxLeverage`, `cumFunding`). Values are kept as the venue sent them (decimal text): the scan file
is the record, and its reader (`scan_files.read_scan`) is the one place that checks them, so a
broken field becomes a reject naming it. Rules chosen where the docs are silent:
- `szi` is the signed size in coins: > 0 long, < 0 short; a zero size is no position.
- `liquidationPx` may be null (a cross position the account's margin keeps far from any price):
  stored as NULL, counted, never binned.
- `account_value` is `marginSummary.accountValue` (the whole account, what a cross position's
  liquidation depends on).
- An answer that is not an object with an `assetPositions` list is a failed read, never "no position".
"""

from __future__ import annotations

import re
from typing import Any

ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
COIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_-]{0,39}$")
MARGIN_MODES = ("cross", "isolated")
ENDPOINT = "/info clearinghouseState"


class FailedRead(ValueError):
    """The answer for an address is not a clearinghouse state (null, an error, another shape)."""


def normal_address(value: Any) -> str | None:
    """A lower-case 0x address, or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text.startswith("0x"):
        text = "0x" + text  # the leaderboard has been seen both with and without the prefix
    return text if ADDRESS.fullmatch(text) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_state(payload: Any) -> tuple[str, list[dict]]:
    """(account value, one row per position) of one answer, values as sent. Raises `FailedRead`
    when the answer is not a clearinghouse state at all."""
    if not isinstance(payload, dict) or not isinstance(payload.get("assetPositions"), list):
        kind = "null" if payload is None else type(payload).__name__
        raise FailedRead(f"{ENDPOINT}: field 'assetPositions' missing (answer was {kind})")
    summary = payload.get("marginSummary")
    account = _text(summary.get("accountValue")) if isinstance(summary, dict) else ""
    rows = []
    for item in payload["assetPositions"]:
        position = item.get("position") if isinstance(item, dict) else None
        position = position if isinstance(position, dict) else {"coin": _text(item)}
        size = _text(position.get("szi")).strip()
        try:
            signed = float(size)
        except ValueError:
            signed = float("nan")
        if signed == 0:
            continue
        leverage = position.get("leverage") if isinstance(position.get("leverage"), dict) else {}
        rows.append({
            "coin": _text(position.get("coin")),
            "side": "long" if signed > 0 else "short" if signed < 0 else "",  # unreadable szi: rejected as 'side'
            "size_base": size.lstrip("-"),
            "entry_price": _text(position.get("entryPx")),
            "liq_price": _text(position.get("liquidationPx")),
            "leverage": _text(leverage.get("value")),
            "margin_mode": _text(leverage.get("type")),
            "position_usd": _text(position.get("positionValue")),
            "margin_used": _text(position.get("marginUsed")),
        })
    return account, rows
