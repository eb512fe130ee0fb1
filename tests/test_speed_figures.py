"""The Inference speed page's charts, written as dicts (ui/figures_speed.py, ui/figures_spec.py, issue 18), are what
Plotly's own validation makes of them and draw what the page drew as validated ``go.Figure``s.

Reference: Plotly itself. ``go.Figure(d)`` rejects an unknown key, turns ``line_dash`` into ``line: {dash}`` and a
title string into ``{text}``, adds the default template; ``ui.charts.prepared_dict`` applies what every chart gets
before it is drawn. A dict not already in that form comes back different.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from calc.presets import get_preset
from calc.speed import Hardware, ServingSetup, batch_sweep
from ui import charts
from ui.figures_speed import step_time_vs_batch, tokens_vs_batch

H100 = Hardware(989e12, 3.35e12, source="H100 SXM datasheet")


def _sweep(model: str, max_batch: int = 1024, **setup):
    return batch_sweep(get_preset(model), ServingSetup(**setup), H100, max_batch=max_batch)


CASES = {  # (sweep, chosen batch, largest batch in memory)
    "memory-bound, all fits": (lambda: _sweep("Meta-Llama-3-8B"), 1, 5000),
    "compute-bound onset, memory cap": (lambda: _sweep("Meta-Llama-3-8B", prompt_tokens=128, output_tokens=64), 64, 300),
    "odd largest batch, nothing fits": (lambda: _sweep("Mixtral-8x7B-v0.1", max_batch=1500, batch=1500), 1500, 0),
    "no memory figure": (lambda: _sweep("Meta-Llama-3-8B", max_batch=3), 3, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_speed_charts_are_what_plotly_validates_them_into(name):
    make, batch, fit = CASES[name]
    sweep = make()
    for d in (tokens_vs_batch(sweep, batch, fit, f"Decode throughput<br><sup>{name}</sup>"),
              step_time_vs_batch(sweep, 255, batch, fit)):
        assert charts.prepared_dict(go.Figure(d)) == d


def test_the_charts_draw_the_sweep_and_mark_the_batch_the_onset_and_the_memory_cap():
    """The numbers drawn are the sweep's (NumPy arrays sent as lists), and each marker sits where it belongs: shapes
    take the batch itself on the log axis, annotations its log10 (Plotly's log-axis convention)."""
    sweep = _sweep("Meta-Llama-3-8B", prompt_tokens=128, output_tokens=64)
    assert sweep.compute_bound_from is not None
    tokens, steps = tokens_vs_batch(sweep, 64, 300, "t"), step_time_vs_batch(sweep, 63, 64, 300)
    np.testing.assert_array_equal(tokens["data"][0]["x"], sweep.batch)
    np.testing.assert_array_equal(tokens["data"][0]["y"], sweep.tokens_per_s_total)
    np.testing.assert_array_equal(tokens["data"][1]["y"], sweep.tokens_per_s_per_seq)
    np.testing.assert_allclose(steps["data"][0]["y"], sweep.memory_s / 63 * 1e3, rtol=1e-15)
    np.testing.assert_allclose(steps["data"][1]["y"], sweep.compute_s / 63 * 1e3, rtol=1e-15)
    for fig in (tokens, steps):
        lines = sorted(s["x0"] for s in fig["layout"]["shapes"] if s["type"] == "line")
        assert lines == sorted([64, sweep.compute_bound_from])
        (band,) = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
        assert (band["x0"], band["x1"]) == (300, 1024)
        notes = {a["text"].strip(): a["x"] for a in fig["layout"]["annotations"]}
        assert notes == pytest.approx({"batch 64": math.log10(64),
                                       f"compute-bound from {sweep.compute_bound_from:,}":
                                           math.log10(sweep.compute_bound_from),
                                       "does not fit in memory above 300": math.log10(1024)})
