"""The server's process-wide caches (ui/charts.py figures, ui/memo.py results) hold what their byte budgets say.

Issue 18: the soak's memory kept rising because the figure cache was weighed in points (a 10-point figure kept
~55 kB of Plotly objects) and the derived-results cache counted entries. Each check here compares the weights
the caches count with tracemalloc's count of the same allocations (an independent reference), so a weight that
misses what an entry holds, or an entry holding more than its weight says, fails.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest


def _traced(make):
    """``(object, bytes tracemalloc saw allocated and still held after building it)``."""
    make()  # first call: imports, caches and interned strings are not the object's
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        obj = make()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return obj, after - before


def _sweep_figure(n: int, salt: float = 0.0):
    import plotly.graph_objects as go

    from ui.figures_memory import sweep_area_spec

    x = [float(i) for i in range(1, n + 1)]
    comps = {"weights": [1e9 + salt] * n, "KV cache": [2e6 * i + salt for i in range(n)]}
    return go.Figure(sweep_area_spec(x, comps, 80e9, "GB", "context tokens", "test sweep"))


@pytest.mark.parametrize("what", ["figure dict", "table rows", "numeric frame", "plan-like tuple"])
def test_deep_bytes_counts_what_tracemalloc_sees(what):
    import pandas as pd

    from ui.charts import FrozenFigure
    from ui.memo import deep_bytes

    makers = {
        "figure dict": lambda: FrozenFigure.freeze(_sweep_figure(200)).to_dict(),
        "table rows": lambda: tuple({"model": f"model {i}", "bytes": 1e9 * i, "tp": i % 8, "note": "error %"}
                                    for i in range(2000)),
        "numeric frame": lambda: pd.DataFrame({"a": np.arange(5000.0), "b": np.arange(5000)}),
        "plan-like tuple": lambda: tuple((f"layout {i}", (i, 2 * i, 3.5 * i), [float(i)] * 20) for i in range(500)),
    }
    obj, traced = _traced(makers[what])
    counted = deep_bytes(obj)
    assert traced > 10_000, traced
    assert 0.8 * traced <= counted <= 1.6 * traced, (what, counted, traced)


def test_frozen_figure_keeps_only_its_dict():
    """A cached figure holds its dict and nothing more (it held the built figure's validated objects too: 2.7x)."""
    from ui.charts import FrozenFigure
    from ui.memo import deep_bytes

    frozen, traced = _traced(lambda: FrozenFigure.freeze(_sweep_figure(10)))
    _, traced_built = _traced(lambda: _sweep_figure(10))
    assert traced <= 1.2 * deep_bytes(frozen.to_dict()), traced
    assert traced < 0.7 * traced_built, (traced, traced_built)


def test_figure_cache_holds_no_more_than_its_budget(monkeypatch):
    """Filling the figure cache past its budget: what tracemalloc sees it keep stays within the budget."""
    from ui import charts
    from ui.memo import WeightedLRU

    budget = 2**20
    lru = WeightedLRU(budget, max_items=10_000)
    monkeypatch.setattr(charts, "_figures", lru)
    charts.cached(("warm", 0), lambda: _sweep_figure(30))  # Plotly's validators and imports: not the cache's
    lru.clear()

    def fill():
        for i in range(150):  # ~20 kB each: 3 MB built, at most 1 MiB kept
            charts.cached(("sweep", i), lambda i=i: _sweep_figure(30, float(i)))
        return None

    _, traced = _traced(lambda: (lru.clear(), fill()))
    assert len(lru) < 150 and lru.weight <= budget
    assert budget * 0.5 < traced <= budget * 1.15, traced


def test_quantization_cache_weight_bounds_its_bytes():
    """``BYTES_PER_TENSOR`` x the tensor weight is at least what tracemalloc sees a model's 33 file types hold."""
    from calc.gguf import FILE_TYPES, quantize_all
    from calc.presets import get_preset
    from ui import memo

    for name in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Qwen2.5-0.5B"):
        spec = get_preset(name)
        results, traced = _traced(lambda spec=spec: quantize_all(spec, FILE_TYPES, None))
        weight = memo._tensors(results)
        assert traced <= memo.BYTES_PER_TENSOR * weight, (name, traced, weight)
        assert traced >= 0.5 * memo.BYTES_PER_TENSOR * weight, (name, traced, weight)  # not a loose bound
    assert memo.TENSOR_BUDGET * memo.BYTES_PER_TENSOR <= memo.QUANT_BUDGET_BYTES


def test_derived_cache_weighs_keys_and_values():
    """A CSV keyed by its table's rows weighs both: 40 such entries of ~100 kB each fit a 1 MiB budget 5 times."""
    from ui.memo import WeightedLRU

    lru = WeightedLRU(2**20)
    for i in range(40):
        rows = tuple((f"row {i}-{j}", float(j)) for j in range(1000))
        lru.get_or_compute(("csv", rows), lambda rows=rows: "\n".join(f"{a},{b}" for a, b in rows))
    assert lru.weight <= 2**20 and len(lru) < 15


@pytest.mark.parametrize("legend", [None, {"orientation": "h", "y": -0.2}, {"orientation": "h", "y": -0.2, "yref": "paper",
                                    "x": 0.5}, {"orientation": "h", "y": 0.5}, {"orientation": "v", "y": -0.3},
                                    {"orientation": "h", "y": -0.1, "yref": "container"}])
def test_frozen_dict_is_what_prepare_and_plotly_give(legend):
    """``prepared_dict`` edits the dict as ``prepare``'s ``update_layout`` calls edit the figure (Plotly's own
    path is the reference); a figure with a toolbar setting and shapes of its own keeps them."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from ui import charts

    def make():
        fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[1.0, 2.0, 3.0], name="a"))
        fig.add_hline(y=2)
        fig.add_annotation(x=1, y=1, text="note")
        fig.update_layout(modebar_orientation="v", legend=legend)
        return fig

    plain = make()
    charts.prepare(plain)
    frozen = charts.FrozenFigure.freeze(make())
    assert pio.to_json(frozen.to_dict(), validate=False) == pio.to_json(plain.to_dict(), validate=False)
    assert frozen._frozen_points == charts.points(plain) == 3 + 2


def test_a_frozen_figure_with_arrays_and_frames_is_what_to_dict_gives():
    """``FrozenFigure.freeze`` takes the figure's own dicts instead of ``to_dict``'s deep copies: NumPy arrays still
    become Plotly's typed base64 buffers and frames are kept, as ``to_dict`` does (Plotly's own path is the
    reference), and the figure's dicts are not copied again."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from ui import charts

    def make():
        x = np.linspace(1.0, 2.0, 50)
        return go.Figure({"data": [{"type": "scatter", "x": x, "y": x ** 2, "name": "a"},
                                   {"type": "bar", "x": ["p", "q"], "y": np.array([3, 4], dtype=np.int32)}],
                          "layout": {"legend": {"orientation": "h", "y": -0.3}, "title": {"text": "t"}},
                          "frames": [{"data": [{"type": "scatter", "x": x, "y": x}], "name": "f0"}]})

    plain = make()
    charts.prepare(plain)
    fig = make()
    frozen = charts.FrozenFigure.freeze(fig)
    d = frozen.to_dict()
    assert "bdata" in d["data"][0]["x"] and d["frames"][0]["name"] == "f0"
    assert pio.to_json(d, validate=False) == pio.to_json(plain.to_dict(), validate=False)
    assert d["layout"] is fig._layout  # the figure's own dict, not a copy


@pytest.mark.parametrize("value, n", [
    ([1.0, 2.0, 3.0], 3),  # a trace's flat list
    ((1, 2.5, "a", None), 4),  # every element of a flat list or tuple counts, whatever it is
    ([[1, 2], [3, 4, 5]], 5),  # a heatmap's rows
    ([1.0, [2.0, 3.0], np.arange(4)], 1 + 2 + 4),  # mixed: nested lists and arrays by their own size
    ([np.zeros((2, 3))], 6),
    ([], 0),
])
def test_chart_points_counts_flat_and_nested_lists(value, n):
    """``ui.charts`` counts a flat list by its length without testing each element (issue 18): the count is still
    every leaf, nested lists, tuples and arrays included (counted by hand here), as ``MAX_POINTS`` needs."""
    from collections import namedtuple

    from ui import charts

    assert charts._size(value) == n
    pair = namedtuple("pair", "a b")  # a tuple subclass nested in a list is a list to count into
    assert charts._size([pair([1, 2, 3], 4), 5.0]) == 3 + 1 + 1
    assert charts.dict_points({"data": [{"x": value, "y": value}], "layout": {}}) == n
