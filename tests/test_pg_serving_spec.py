"""The Serving page's latency sweep written as Plotly's dict (``ui.figures_serving.latency_vs_rate_spec``) is what the
``go.Figure`` builder it replaced gives after Plotly's validation and ``ui.charts.prepared_dict`` (issue 18), on
random inputs, and is what the page sends."""

from __future__ import annotations

import json
import random

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ui import charts
from ui.figures_serving import latency_vs_rate_spec
from ui.plot import figure, hline

SWEEP = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)  # app_pages/serving.py's multiples of the rate


# the reference: ui/figures_serving.py's go.Figure builder as it was before 1e12a24 (verbatim; the page no longer uses it)
def latency_vs_rate(rates, ttft_p99, tpot_p99, slo_ttft: float | None, slo_tpot: float | None,
                    title: str) -> go.Figure:
    """p99 time to first token and time per output token against the request rate (log y), with the SLOs."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": "TTFT p99", "x": list(rates), "y": list(ttft_p99),
             "hovertemplate": "%{x:.3g} req/s: TTFT p99 %{y:.3g} s<extra></extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "TPOT p99", "x": list(rates), "y": list(tpot_p99),
             "hovertemplate": "%{x:.3g} req/s: TPOT p99 %{y:.3g} s<extra></extra>"}]
    shapes = [hline(v, {"color": c, "dash": "dot"}) for v, c in ((slo_ttft, "#1f77b4"), (slo_tpot, "#ff7f0e")) if v]
    layout = {"title": {"text": title}, "xaxis": {"title": "requests per second (all replicas)"},
              "yaxis": {"title": "seconds (p99)", "type": "log", "dtick": 1, "tickformat": "~g"}, "shapes": shapes,
              "legend": {"orientation": "h", "y": -0.25}}
    return figure(data, layout)


def _random_args(rng: random.Random) -> tuple:
    rate = 10 ** rng.uniform(-2, 4)
    grid = rate * np.array(SWEEP)  # as the page passes it: an array
    ttft = [10 ** rng.uniform(-3, 3) for _ in SWEEP]
    tpot = [10 ** rng.uniform(-4, 1) for _ in SWEEP]
    slo = lambda lo, hi: rng.choice((None, 0.0, 10 ** rng.uniform(lo, hi)))  # noqa: E731 (None and 0: no SLO)
    return grid, ttft, tpot, slo(-2, 1), slo(-3, 0), rng.choice(("p99 latency against load", "t <b>x</b>"))


def test_spec_is_the_validated_figure():
    rng = random.Random(18)
    for _ in range(150):
        args = _random_args(rng)
        old = charts.prepared_dict(latency_vs_rate(*args))
        new = latency_vs_rate_spec(*args)
        assert new == old
        assert pio.to_json(new, validate=False) == pio.to_json(old, validate=False)  # what st.plotly_chart sends
        assert charts.prepared_dict(go.Figure(new)) == new  # already in Plotly's own form


def test_page_sends_the_spec():
    from tests.apptest_helpers import open_page

    query = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "8.0", "vsttft": "2.0", "vstpot": "0.0"}
    at = open_page("app_pages/serving.py", query, session={"vsweep": True})
    assert not at.exception, [e.value for e in at.exception]
    sent = at.get("plotly_chart")[1].proto.spec
    sweep = json.loads(sent)
    ttft, tpot = sweep["data"]
    old = charts.prepared_dict(latency_vs_rate(8.0 * np.array(SWEEP), ttft["y"], tpot["y"], 2.0, None,
                                               "p99 latency against load"))
    assert sent == pio.to_json(old, validate=False)
