"""In Chromium: the fragments and lazy expanders of the Quantization and Scaling pages (issue 18) update what they
should when a user changes an input or opens an expander (AppTest reruns whole scripts; a browser reruns only the
fragment, as the server is then asked to)."""

from __future__ import annotations

import pytest

from tests.browser_helpers import main, open_expander, set_number, text_of, wait_for_rerun
from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _open(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)


def test_quantization_run_inputs_rerun_their_section(server, page):
    """Context 8,192 -> 12,288 tokens on Llama-2-7B: the f16 KV cache is 2 (K, V) x 32 layers x 4,096 x tokens x 2 B
    (REFERENCE.md), 4.29 GB then 6.44 GB; the link carries the new context; the lazy 'Formulas and assumptions'
    expander shows its text once opened."""
    _open(page, f"{server}/quantization?model=Llama-2-7B&gpu=H200&units=GB")
    assert "4.29 GB" in text_of(page)  # 2 x 32 x 4096 x 8192 x 2 B = 4,294,967,296 B
    set_number(page, "Context (tokens)", 12288)
    text = text_of(page)
    assert "6.44 GB" in text and "12,288 tokens" in text  # 2 x 32 x 4096 x 12288 x 2 B = 6,442,450,944 B
    assert "gctx=12288" in page.url
    assert "convert_hf_to_gguf.py" not in text  # closed: not built
    open_expander(page, "Formulas and assumptions")
    wait_for_rerun(page)
    assert "convert_hf_to_gguf.py" in text_of(page)
    screenshot(page, "quantization_fragment")


def test_scaling_curves_are_drawn_when_their_expander_opens(server, page):
    _open(page, f"{server}/scaling?sbs=FLOPs&sc=1e23")
    charts = main(page).locator(".js-plotly-plot")
    before = charts.count()
    assert before >= 1  # the frontier
    open_expander(page, "Iso-FLOP curves and the loss contour")
    wait_for_rerun(page)
    assert charts.count() == before + 2  # the iso-FLOP curves and the contour
    assert main(page).locator(".js-plotly-plot .contour").count() >= 1
