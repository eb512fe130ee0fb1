"""Figures measured on the Benchmark page, carried to the time and speed estimates of other pages.

Stored in ``st.session_state["measured"]`` as ``{"device": str, "gpu": str | None, "flops_per_s": {dtype: float},
"bandwidth_bytes_per_s": float | None}``; ``gpu`` is the catalog GPU the device was matched to (None for a CPU
or an unknown device). Measured figures apply only to the device they were measured on: a page uses them for
its sidebar GPU when that is the same catalog GPU, and otherwise only after an explicit, labelled choice.
"""

from __future__ import annotations

import streamlit as st

from ui import state

KEY = "measured"


def get() -> dict | None:
    """The measured figures the user chose to use, or ``None``."""
    return st.session_state.get(KEY)


def put(device: str, flops_per_s: dict[str, float], bandwidth_bytes_per_s: float | None,
        gpu: str | None = None) -> None:
    st.session_state[KEY] = {"device": device, "gpu": gpu, "flops_per_s": dict(flops_per_s),
                             "bandwidth_bytes_per_s": bandwidth_bytes_per_s}


def clear() -> None:
    st.session_state.pop(KEY, None)


def for_gpu(gpu_name: str, key: str, what: str) -> dict | None:
    """The measured figures if this page should use them for ``gpu_name``, after a toggle bound to ``?key=``.

    Same catalog GPU: the toggle is on by default. Another device (a CPU, another GPU): a separate toggle,
    off by default, whose label says the figures come from a different device than the sidebar's.
    """
    figures = get()
    if not figures:
        return None
    if figures.get("gpu") == gpu_name:
        on = state.toggle(f"Use the figures measured on {figures['device']}", key, True,
                          help=f"From the Benchmark page ('Use these figures'): replaces {what}.")
    else:
        on = state.toggle(f"Use the figures measured on {figures['device']}, not {gpu_name}", key + "x", False,
                          help=f"Measured on a different device than the sidebar's {gpu_name}: they replace {what} "
                               f"only if you switch this on (e.g. to see what your own machine would take).")
    return figures if on else None


ALLREDUCE_KEY = "measured_allreduce"


def put_allreduce(device: str, busbw_bytes_per_s: float, ranks: int, backend: str, gpu: str | None = None) -> None:
    """An all-reduce bus bandwidth measured on the Benchmark page (nccl-tests' busbw, ``measure/allreduce.py``)."""
    st.session_state[ALLREDUCE_KEY] = {"device": device, "gpu": gpu, "busbw_bytes_per_s": float(busbw_bytes_per_s),
                                       "ranks": int(ranks), "backend": backend}


def allreduce_for_gpu(gpu_name: str, key: str) -> dict | None:
    """The measured all-reduce figure if the user keeps it on for ``gpu_name`` (as ``for_gpu``: on by default for
    the same catalog GPU, a separate toggle, off by default, for another device)."""
    m = st.session_state.get(ALLREDUCE_KEY)
    if not m:
        return None
    what = (f"the all-reduce bus bandwidth measured on {m['device']} ({m['busbw_bytes_per_s'] / 1e9:.3g} GB/s, "
            f"{m['ranks']} ranks, {m['backend']})")
    if m.get("gpu") == gpu_name:
        on = state.toggle(f"Use {what}", key, True, help="From the Benchmark page: replaces the catalog's "
                                                         "intra-node link bandwidth.")
    else:
        on = state.toggle(f"Use {what}, not {gpu_name}'s link", key + "x", False,
                          help="Measured on a different device than the sidebar's: it replaces the intra-node link "
                               "only if you switch this on.")
    return m if on else None
