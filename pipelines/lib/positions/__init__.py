"""Measured positions: Hyperliquid's public `clearinghouseState` answers, scanned address by address,
kept as one file per scan (`scan_files`) and stored in `raw.positions`.

Rooms: `state` parses one answer, `scan_files` is the documented file layout (the files source and
the live scan's export), `scanner` is the live, resumable, rate-limited scan.
"""
