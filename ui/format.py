"""Number formatting for pages, in the unit system the user picked (GB = 1e9 or GiB = 2**30)."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from calc import units


def unit() -> str:
    """The unit system chosen in the sidebar ("GB" or "GiB")."""
    return st.session_state.get("units", "GB")


def size(n_bytes: float | None, digits: int = 2) -> str:
    """Bytes in the chosen unit, e.g. ``15.0 GiB``."""
    return units.format_bytes(n_bytes, unit(), digits)


def size_value(n_bytes: float) -> float:
    """Bytes as a number in the chosen unit (for charts and tables)."""
    return units.bytes_in(n_bytes, unit())


def size_values(n_bytes) -> list[float]:
    """``[size_value(v) for v in n_bytes]`` in one array division (the same float for every element), as Python
    floats: a memory sweep's 60 points x 8 parts read the sidebar's unit once, not 480 times (issue 18)."""
    return units.bytes_in(np.asarray(n_bytes), unit()).tolist()


count = units.format_count
flops = units.format_flops
duration = units.format_duration
tflops = units.format_tflops
significant = units.significant

INT64_MAX = 2**63 - 1


def bytes_table(df, col: str = "bytes"):
    """``(df, column_config)`` for ``st.dataframe``: exact byte counts with thousands separators.

    Arrow (behind ``st.dataframe``) stores whole numbers as int64; a count above 2**63 - 1 (9.2 EB, e.g.
    Llama-3.1-405B activations at sequence 1e7 x micro-batch 1e5) cannot be converted. Then the column
    is shown as exact text ("12,345,...") instead; the CSV download should use the original frame.
    A column named for the chosen unit ("GB" / "GiB") gets one precision for all its rows, with separators
    ("1,141.870", "0.000"; the grid's default wrote "16.115" above "0").
    """
    per_unit = {u: st.column_config.NumberColumn(format="%,.3f") for u in (unit(),) if u in df.columns}
    if any(abs(int(v)) > INT64_MAX for v in df[col]):
        return df.assign(**{col: [f"{int(v):,}" for v in df[col]]}), per_unit
    return df, {col: st.column_config.NumberColumn(format="localized")} | per_unit


#: OWASP "CSV Injection": a cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?")


def csv_cell(value):
    """``value`` safe for a spreadsheet: text starting with ``= + - @``, tab or carriage return gets a leading
    ``'`` (OWASP's rule), unless it is a plain number such as ``-1.5e3``; numbers and other values pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv(df, index: bool = False) -> str:
    """``df.to_csv`` with every text cell, column name and index label passed through ``csv_cell``. Every
    CSV download of the app goes through this (scenario names, model names and labels come from users)."""
    safe = df.rename(columns=lambda c: csv_cell(str(c)) if isinstance(c, str) else c)
    if index:
        safe = safe.rename(index=lambda i: csv_cell(i))
    for col in safe.columns:
        if safe[col].dtype == object or str(safe[col].dtype) in ("string", "str"):
            safe[col] = safe[col].map(csv_cell)
    return safe.to_csv(index=index, lineterminator="\r\n")  # RFC 4180; a CR inside a cell is then quoted too
