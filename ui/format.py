"""Number formatting for pages, in the unit system the user picked (GB = 1e9 or GiB = 2**30)."""

from __future__ import annotations

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


count = units.format_count
flops = units.format_flops
duration = units.format_duration
