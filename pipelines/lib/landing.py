"""The landing folder: what long-running collectors received, in hourly JSON-lines files.

Layout: `<root>/<stream>/<venue>/<YYYY-MM-DD>/<HH>.jsonl`, by the UTC hour a message was received.
Each line is one of

    {"received_at": <ms>, "payload": <the venue's message, decoded JSON>}
    {"received_at": <ms>, "text": "<a message that was not JSON>"}
    {"received_at": <ms>, "gap": {"start": <ms>, "end": <ms>, "reason": "..."}}

A file is only ever replaced whole (written to a temporary file, flushed, fsynced, renamed), so
a reader never sees a half-written line, and a crash loses at most what was not yet flushed.
Messages are kept as received; parsing happens at ingest, so a parser fix can re-read old files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

STREAMS = ("liquidations", "open_interest", "trades")
_NAME = re.compile(r"^[a-z_]{1,30}$")


def hour_path(root: Path, stream: str, venue: str, received_ms: int) -> Path:
    if stream not in STREAMS or not _NAME.fullmatch(venue):
        raise ValueError(f"bad landing stream/venue {stream!r}/{venue!r}")
    moment = dt.datetime.fromtimestamp(received_ms / 1000, tz=dt.UTC)
    return root / stream / venue / moment.strftime("%Y-%m-%d") / f"{moment:%H}.jsonl"


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class LandingWriter:
    """Buffers records per hour file and replaces each touched file whole on `flush()`."""

    def __init__(self, root: Path, stream: str, venue: str):
        self.root, self.stream, self.venue = Path(root), stream, venue
        self._content: dict[Path, bytes] = {}
        self._pending: dict[Path, list[bytes]] = {}
        self.written = 0

    def add(self, record: dict) -> None:
        path = hour_path(self.root, self.stream, self.venue, int(record["received_at"]))
        if path not in self._content:
            # A restart within the same hour appends to what the previous process wrote.
            self._content[path] = path.read_bytes() if path.exists() else b""
        self._pending.setdefault(path, []).append(json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def flush(self) -> int:
        flushed = 0
        for path, lines in list(self._pending.items()):
            data = self._content[path] + b"".join(lines)
            write_atomically(path, data)
            self._content[path] = data
            flushed += len(lines)
        self._pending.clear()
        self.written += flushed
        # Keep only the two newest hours in memory; older files are final.
        for path in sorted(self._content)[:-2]:
            del self._content[path]
        return flushed

    @property
    def pending(self) -> int:
        return sum(len(lines) for lines in self._pending.values())


def read_day(root: Path, stream: str, venue: str, day: dt.date, margin_hours: int = 1) -> Iterator[dict]:
    """Records from the files of `day`, plus `margin_hours` either side (late and early arrivals)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=margin_hours)
    for hour in range(24 + 2 * margin_hours):
        moment = start + dt.timedelta(hours=hour)
        path = hour_path(Path(root), stream, venue, int(moment.timestamp() * 1000))
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"text": line.decode(errors="replace")}
            record["_file"] = f"{path.relative_to(root).as_posix()}:{number}"
            yield record


def day_files(root: Path, stream: str, venue: str, day: dt.date) -> list[Path]:
    folder = Path(root) / stream / venue / day.isoformat()
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
