"""Stable text ids of level rows, built the same way for empty and non-empty frames."""

from __future__ import annotations

import pandas as pd


def join_ids(*parts: pd.Series | str, sep: str = ":") -> pd.Series:
    """Element-wise `sep`-join of Series (and constant strings) as text.

    Every part is cast to `str` first: an empty frame's columns come back as float or object
    dtypes, and string + float is a TypeError in pandas 3 (a day without pools stopped the run).
    """
    index = next((p.index for p in parts if isinstance(p, pd.Series)), None)
    if index is None:
        raise ValueError("join_ids needs at least one Series")
    out = pd.Series("", index=index, dtype=object)
    for i, part in enumerate(parts):
        text = part.astype(str).astype(object) if isinstance(part, pd.Series) else part
        out = (out + sep + text) if i else (out + text)
    return out.astype(str)
