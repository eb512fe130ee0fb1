"""In Chromium: the Training memory page's main inputs, one horizontal container laid out as a grid by the page's CSS
(``INPUTS_CSS``; issue 18: one block sent instead of st.columns(4)'s five), still stand in the four columns st.columns
drew (each column's inputs top to bottom, the columns side by side, equally wide), and in one column in the same order
on a phone-sized screen, as st.columns stack below 640 px. Its seven metrics, one horizontal container broken after
the fourth by ``METRICS_CSS`` (one block instead of one per row), stand in two rows 1rem apart, each row as wide as
the page, as the two containers did."""

from __future__ import annotations

import pytest

from tests.conftest import input_boxes, screenshot, wait_for_app

pytestmark = pytest.mark.browser

COLUMNS = (("Precision", "Optimizer", "ZeRO stage"),
           ("Data parallel (dp)", "Tensor parallel (tp)", "Pipeline parallel (pp)"),
           ("Micro-batch per GPU", "Sequence length", "Activation recompute (gradient checkpointing)",
            "FlashAttention / SDPA"),
           ("Fine-tuning", "LoRA rank", "RLHF", "Training engine"))



def _columns(page) -> list[list]:
    out = []
    for labels in COLUMNS:
        out.append(input_boxes(page, labels))
    return out


METRICS = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].map(e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.width, r.height];
})"""


def _metric_rows(page) -> None:
    boxes = page.evaluate(METRICS)
    assert len(boxes) == 7, boxes
    first, second = boxes[:4], boxes[4:]
    assert len({round(b[1]) for b in first}) == 1 and len({round(b[1]) for b in second}) == 1, boxes
    assert abs(second[0][1] - (first[0][1] + max(b[3] for b in first) + 16)) < 1, boxes  # 1rem below, as before
    assert abs(first[0][0] - second[0][0]) < 1, boxes
    right = [b[0] + b[2] for b in boxes]
    assert abs(right[3] - right[6]) < 1, boxes  # both rows as wide as the page


def test_inputs_stand_in_four_columns_and_stack_on_a_phone(server, page):
    page.goto(f"{server}/training-memory?model=Meta-Llama-3-8B&gpu=H100+SXM&tm_ft=lora")  # LoRA: four per column
    wait_for_app(page, 120_000)
    columns = _columns(page)
    for boxes in columns:
        assert len({round(b[0]) for b in boxes}) == 1, boxes  # one column
        assert [b[1] for b in boxes] == sorted(b[1] for b in boxes) and len({round(b[1]) for b in boxes}) == len(boxes)
    lefts = [c[0][0] for c in columns]
    widths = [c[0][2] for c in columns]
    assert lefts == sorted(lefts) and max(widths) - min(widths) < 1, (lefts, widths)
    assert all(abs(c[0][1] - columns[0][0][1]) < 1 for c in columns)  # every column starts on the first line
    assert all(b - a > 0.95 * widths[0] for a, b in zip(lefts[:-1], lefts[1:], strict=True)), lefts  # side by side, not overlapping
    _metric_rows(page)
    screenshot(page, "training_memory_inputs_1400")

    page.set_viewport_size({"width": 500, "height": 1000})
    wait_for_app(page)
    boxes = [b for c in _columns(page) for b in c]
    assert len({round(b[0]) for b in boxes}) == 1, boxes  # one column, in the columns' order
    assert [b[1] for b in boxes] == sorted(b[1] for b in boxes)
    screenshot(page, "training_memory_inputs_500")
