"""In Chromium: the Serving page's two input sections, each one horizontal container of six inputs (issue 18: one
block sent per section instead of two rows and their box), still show three inputs per line at the default width,
as the two rows of three did, and wrap to fewer, none narrower than Streamlit's 128 px, on a phone-sized screen."""

from __future__ import annotations

import pytest

from tests.conftest import input_boxes, screenshot, wait_for_app

pytestmark = pytest.mark.browser

SETUP = ("Serving engine", "Replicas", "Weights", "Tensor parallel (GPUs per replica)", "Max model length (tokens)",
         "KV cache")
LATENCY = ("Requests per second (all replicas)", "Prompt tokens", "Output tokens",
           "SLO: p99 time to first token (s, 0: none)", "SLO: p99 time per output token (s, 0: none)",
           "USD per GPU-hour")





def test_six_inputs_per_section_show_three_per_line(server, page):
    page.goto(f"{server}/serving?model=Meta-Llama-3-8B&gpu=H100+SXM")
    wait_for_app(page, 120_000)
    for labels in (SETUP, LATENCY):
        boxes = input_boxes(page, labels)
        first, second = boxes[:3], boxes[3:]
        assert len({round(b[1]) for b in first}) == 1 and len({round(b[1]) for b in second}) == 1, boxes
        assert second[0][1] > first[0][1]
        for a, b in zip(first, second, strict=True):  # the same three columns, as three columns of two inputs were
            assert abs(a[0] - b[0]) < 1 and abs(a[2] - b[2]) < 1, boxes
        widths = [b[2] for b in boxes]
        assert max(widths) - min(widths) < 1 and 3 * widths[0] > 0.9 * (boxes[2][0] + boxes[2][2] - boxes[0][0])
    screenshot(page, "serving_inputs_1400")

    page.set_viewport_size({"width": 380, "height": 1000})
    wait_for_app(page)
    for labels in (SETUP, LATENCY):
        boxes = input_boxes(page, labels)
        assert min(b[2] for b in boxes) >= 128, boxes
        assert len({round(b[1]) for b in boxes}) == 3, boxes  # two per line on a phone
    screenshot(page, "serving_inputs_380")
