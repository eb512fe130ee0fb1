"""The fits / does-not-fit verdict every memory page shows, worded the same way everywhere."""

from __future__ import annotations

import streamlit as st

from ui import format as fmt


def show_fit(gpu_name: str, total_bytes: int, capacity_bytes: int) -> int:
    """Render the verdict for ``total_bytes`` per GPU against ``capacity_bytes``; return the headroom (may be < 0)."""
    headroom = capacity_bytes - total_bytes
    if headroom >= 0:
        st.success(f"**Fits** on {gpu_name}: {fmt.size(total_bytes)} of {fmt.size(capacity_bytes)} per GPU, headroom "
                   f"{fmt.size(headroom)} ({headroom / capacity_bytes:.0%}).")
    else:
        st.error(f"**Does not fit** on {gpu_name}: needs {fmt.size(total_bytes)} per GPU, {fmt.size(-headroom)} more "
                 f"than its {fmt.size(capacity_bytes)}.")
    return headroom
