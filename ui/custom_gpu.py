"""The sidebar's "Custom GPU": memory, bandwidth, peak and power typed in, bound to the URL like every input.

Memory is entered in the unit the sidebar's toggle shows (GB = 1e9 bytes or GiB = 2**30 bytes); the link
carries ``units`` too, so ``?gpu=Custom+GPU&units=GiB&gpu_mem=22.5`` means 22.5 GiB on any server. Flipping
the toggle converts the typed number so that the byte count stays the same (24 GB -> 22.35 GiB).
"""

from __future__ import annotations

import streamlit as st

from calc import units
from calc.gpus import GPU, custom_gpu
from ui import state

LABEL = "Custom GPU"
_UNIT_SEEN = "_gpu_mem_unit"
_UNIT_BYTES = {"GB": units.GB, "GiB": units.GIB}
#: widget key -> default; the ranges keep calc.gpus.CUSTOM_LIMITS in both unit systems.
DEFAULTS = {"gpu_mem": 24.0, "gpu_bw": 1000.0, "gpu_tf": 100.0, "gpu_w": 300.0}


def inputs(where=st) -> None:
    """Render the custom GPU's inputs (call after the unit toggle, only when the custom GPU is chosen)."""
    unit = st.session_state.get("units", "GB")
    seen = st.session_state.get(_UNIT_SEEN)
    if seen in _UNIT_BYTES and seen != unit and "gpu_mem" in st.session_state:
        st.session_state["gpu_mem"] = round(st.session_state["gpu_mem"] * _UNIT_BYTES[seen] / _UNIT_BYTES[unit], 4)
    st.session_state[_UNIT_SEEN] = unit
    state.number(f"Memory ({unit})", "gpu_mem", DEFAULTS["gpu_mem"], 0.1, 90_000.0, step=1.0, where=where,
                 help=f"Memory one process can use, in {unit} as the unit toggle says "
                      "(GB = 10^9 bytes, GiB = 2^30 bytes; nvidia-smi's MiB figure / 1024 is GiB).")
    state.number("Bandwidth (GB/s)", "gpu_bw", DEFAULTS["gpu_bw"], 1.0, 100_000.0, step=10.0, where=where,
                 help="Peak memory bandwidth from the datasheet, in GB/s (10^9 bytes per second).")
    state.number("Peak TFLOPS (dense bf16/fp16)", "gpu_tf", DEFAULTS["gpu_tf"], 0.01, 1_000_000.0, step=1.0,
                 where=where, help="Dense 16-bit tensor peak (half the 2:4-sparse figure datasheets often print); "
                                   "used for bf16 and fp16, other dtypes count as unsupported.")
    state.number("Board power (W)", "gpu_w", DEFAULTS["gpu_w"], 0.0, 100_000.0, step=10.0, where=where,
                 help="TDP, for the energy estimate on Compute and cost (0 = unknown).")


def current() -> GPU:
    """The custom GPU from the current inputs (defaults before the sidebar has run)."""
    unit = st.session_state.get("units", "GB")
    value = {k: st.session_state.get(k, d) for k, d in DEFAULTS.items()}
    return custom_gpu(memory_bytes=int(value["gpu_mem"] * _UNIT_BYTES[unit]),
                      bandwidth_bytes_per_s=value["gpu_bw"] * 1e9, peak_flops_per_s=value["gpu_tf"] * 1e12,
                      board_power_w=value["gpu_w"])
