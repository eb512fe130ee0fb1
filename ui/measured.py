"""Figures measured on the Benchmark page, carried to the time and speed estimates of other pages.

Stored in ``st.session_state["measured"]`` as
``{"device": str, "flops_per_s": {dtype: float}, "bandwidth_bytes_per_s": float | None}``.
"""

from __future__ import annotations

import streamlit as st

KEY = "measured"


def get() -> dict | None:
    """The measured figures the user chose to use, or ``None``."""
    return st.session_state.get(KEY)


def put(device: str, flops_per_s: dict[str, float], bandwidth_bytes_per_s: float | None) -> None:
    st.session_state[KEY] = {"device": device, "flops_per_s": dict(flops_per_s),
                             "bandwidth_bytes_per_s": bandwidth_bytes_per_s}


def clear() -> None:
    st.session_state.pop(KEY, None)
