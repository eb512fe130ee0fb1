"""The fits / does-not-fit verdict every memory page shows, worded the same way everywhere.

When a setup does not fit, the verdict lists what would make it fit (``calc.solvers.remedies``); warnings
a user must not miss (a context beyond the model's trained positions) stand right beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from calc.solvers import Layout, Remedy
from calc.units import format_bytes
from ui import format as fmt
from ui import text


def _sizer(unit: str | None):
    """``fmt.size`` with the sidebar's unit read once (``unit``, or now): each read of ``st.session_state`` costs about
    what formatting does, and a verdict formats up to a dozen sizes a rerun (issue 18)."""
    unit = fmt.unit() if unit is None else unit
    return lambda n_bytes: format_bytes(n_bytes, unit, 2)


def show_fit(gpu_name: str, total_bytes: int, capacity_bytes: int, remedies: Sequence[Remedy] = (),
             warnings: Sequence[str] = (), alone: Sequence[Remedy] = (), unit: str | None = None) -> int:
    """Render the verdict for ``total_bytes`` per GPU against ``capacity_bytes``; return the headroom (may be < 0).

    ``alone``: what each lever gives by itself (``calc.solvers.single_changes``); listed when none of them is
    enough on its own, so the remedies that combine them or add GPUs come with the reason. ``unit``: the sidebar's
    unit when the caller has read it (``fmt.unit()``)."""
    size = _sizer(unit)
    headroom = capacity_bytes - total_bytes
    if headroom >= 0:
        st.success(f"**Fits** on {text.md(gpu_name)}: {size(total_bytes)} of {size(capacity_bytes)} per GPU, headroom "
                   f"{size(headroom)} ({headroom / capacity_bytes:.0%}).")
    else:
        msg = (f"**Does not fit** on {text.md(gpu_name)}: needs {size(total_bytes)} per GPU, "
               f"{size(-headroom)} more than its {size(capacity_bytes)}.")
        if remedies:
            msg += f"\n\nIt would fit with {'any one of' if len(remedies) > 1 else 'this change'}:\n" + "\n".join(
                f"- **{r.change}**: {size(r.per_gpu_bytes)} per GPU" for r in remedies)
        else:
            msg += "\n\nNo single change tried here makes it fit (see the solvers below)."
        short = [r for r in alone if r.per_gpu_bytes > capacity_bytes]
        if short and len(short) == len(alone):
            msg += "\n\nAlone, each of these is not enough:\n" + "\n".join(
                f"- {r.change}: {size(r.per_gpu_bytes)} per GPU" for r in short)
        st.error(msg)
    for w in warnings:
        st.warning(text.md(w[:1].upper() + w[1:] + ".", 1000))
    return headroom


def layout_text(layout: Layout | None, max_gpus: int, unit: str | None = None) -> tuple[str, str]:
    """(metric value, caption) for the fewest-GPUs solver: the count, and the layout with its memory per GPU."""
    if layout is None:
        return "none", f"No valid layout of up to {max_gpus:,} GPUs fits."
    return f"{layout.gpus:,}", f"{layout.describe()}: {_sizer(unit)(layout.per_gpu_bytes)} per GPU"
