"""A page's inputs and results as one ``st.fragment``: changing one of them reruns the page's body only.

Streamlit reruns the whole script for every input change: ``app.py``'s navigation, the page config and the
shared sidebar (model, GPU and unit pickers, the Hugging Face id) as well as the page. None of those depend
on a page's own inputs, and on the memory, speed, compute and planner pages they were about a third of a rerun's
server time (py-spy under ``bench/bench_pages.py``, issue 18). Run as a fragment, a page input reruns the body
alone (Streamlit's ``st.fragment``: https://docs.streamlit.io/develop/concepts/architecture/fragments); a
sidebar change, a page switch or an ``st.rerun()`` still runs everything, the body included.

A fragment rerun does not pass through ``app.py``'s ``budget.guard``, so the body is guarded here when it runs
on its own (inside a full run it already is: ``budget.limit`` does not nest). The body draws everything it
shows inside the fragment, widgets included: a fragment may not put widgets in containers made outside it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st
import streamlit.emojis  # noqa: F401  (below)

from ui import budget, charts

# ``ui.text.md`` writes a WORD JOINER after every colon, so the error messages pages show are not ASCII, and
# Streamlit's alerts (no ``icon``) look for a leading emoji in them: the first look loads Streamlit's emoji catalog and
# compiles its pattern (``streamlit/string_util.py`` ``extract_leading_emoji``), about 0.3 s of server CPU inside the
# rerun that first shows such an error (the Training memory page's first "tp must divide the heads", issue 18). The
# import above pays it once, when a page first imports this module.


def run(body: Callable[[], None], name: str, css: str = "") -> None:
    """Call ``body`` as an ``st.fragment`` named ``name`` (unique per page: it names the fragment's identity).

    The charts' narrow-screen style (``ui.charts.NARROW_SCREEN_CSS``) is drawn once, before the fragment, where it
    stays through the fragment's reruns; ``charts.show`` inside the body does not repeat it per chart. ``css``: the
    page's own style (a ``<style>`` element), drawn in the same element."""

    def guarded() -> None:
        sent = charts.CSS_SENT.set(True)
        try:
            budget.guard_fragment(body)
        finally:
            charts.CSS_SENT.reset(sent)

    st.html(charts.NARROW_SCREEN_CSS + css)

    guarded.__qualname__ = guarded.__name__ = f"page_body_{name}"
    st.fragment(guarded)()


def fragment(fn: Callable[..., None]) -> Callable[..., None]:
    """``st.fragment`` over ``fn`` whose own reruns run under the server-time budget (``budget.guard_fragment``):
    for a section of a page that reruns alone when one of its inputs changes. ``fn``'s name stays the fragment's
    identity."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs) -> None:
        budget.guard_fragment(lambda: fn(*args, **kwargs))

    return st.fragment(guarded)
