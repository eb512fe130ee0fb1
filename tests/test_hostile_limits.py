"""Limits with messages (issue 20, item 3): models added per session (count and config bytes) and points per
chart. Each limit is reached through the page as a visitor would, and answered with ``st.error``/``st.warning``
instead of growing the server's memory or the websocket message."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.conftest import ROOT
from tests.test_pages import run_page
from ui import charts, pickers


def _config(layers: int = 2, pad: int = 0) -> bytes:
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": layers,
           "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}
    if pad:
        cfg["padding_note"] = "x" * pad  # kept in hf_config like any unknown field
    return json.dumps(cfg).encode()


def _upload(at, name: str, data: bytes):
    at.file_uploader[0].upload(name, data, "application/json")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_models_per_session_are_capped_with_a_message():
    at = run_page("app_pages/models.py")
    for i in range(pickers.MAX_SESSION_MODELS):
        _upload(at, f"m{i}.json", _config(layers=2 + i))
    assert len(at.session_state[pickers.CUSTOM]) == pickers.MAX_SESSION_MODELS
    _upload(at, "one-more.json", _config(layers=99))
    assert len(at.session_state[pickers.CUSTOM]) == pickers.MAX_SESSION_MODELS
    assert any("the most it keeps" in e.value for e in at.error)
    # forgetting them frees the session, and the sidebar falls back to a preset
    at.button(key="forget_models").click().run()
    at.run()
    assert not at.exception
    assert at.session_state[pickers.CUSTOM] == {}
    assert at.session_state["model"] == pickers.DEFAULT_MODEL


def test_config_bytes_per_session_are_capped_with_a_message():
    at = run_page("app_pages/models.py")
    big = _config(pad=900_000)  # under the 1 MB a config may have; five of them pass the session's 4 MB
    n_fit = pickers.MAX_SESSION_MODEL_BYTES // len(big)
    for i in range(n_fit):
        _upload(at, f"big{i}.json", big)
    assert len(at.session_state[pickers.CUSTOM]) == n_fit
    _upload(at, "big-too-many.json", big)
    assert len(at.session_state[pickers.CUSTOM]) == n_fit
    assert any("above the 4,000,000 a session keeps" in e.value for e in at.error)


def test_an_upload_is_parsed_once_while_it_stays_in_the_uploader(monkeypatch):
    at = _upload(run_page("app_pages/models.py"), "once.json", _config())
    calls = []
    monkeypatch.setattr(pickers, "parse_config_bytes", lambda data: calls.append(1) or json.loads(data))
    at.run()
    at.run()
    assert calls == [] and "once (uploaded)" in at.session_state[pickers.CUSTOM]


# ----- charts ----------------------------------------------------------------------------------
def test_points_counts_every_trace_and_heatmap_cell():
    fig = go.Figure()
    fig.add_scatter(x=list(range(300)), y=list(range(300)))
    fig.add_bar(x=["a", "b", "c"], y=[1, 2, 3])
    fig.add_heatmap(z=np.zeros((40, 25)))
    fig.add_hline(y=1)
    fig.add_annotation(x=1, y=1, text="t")
    # 300 + 3 + 40 x 25 + one shape + one annotation (the hline's label is none)
    assert charts.points(fig) == 300 + 3 + 1000 + 1 + 1


class _Where:
    def __init__(self):
        self.calls = []

    def plotly_chart(self, fig, **kw):
        self.calls.append(("chart", kw))

    def warning(self, body):
        self.calls.append(("warning", body))


def test_show_refuses_a_chart_past_the_limit_with_a_message():
    where = _Where()
    small = go.Figure(go.Scatter(x=list(range(10)), y=list(range(10))))
    assert charts.show(where, small)
    big = go.Figure(go.Scattergl(x=np.arange(charts.MAX_POINTS + 1), y=np.arange(charts.MAX_POINTS + 1)))
    assert not charts.show(where, big)
    assert where.calls[0] == ("chart", {"width": "stretch"})
    assert where.calls[1][0] == "warning" and f"{charts.MAX_POINTS + 1:,} points" in where.calls[1][1]


def test_every_page_draws_charts_through_the_bound():
    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "app_pages").glob("*.py")) + sorted((ROOT / "ui").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if ".plotly_chart(" in line and p.name != "charts.py"]
    assert offenders == []


@pytest.mark.parametrize("page,query", [("app_pages/training_memory.py", {"tm_seq": "10000000", "tm_mb": "100000"}),
                                        ("app_pages/inference_memory.py", {"im_ctx": "100000000", "im_b": "1000000"}),
                                        ("app_pages/speed.py", {"sbatch": "4096"})])
def test_largest_inputs_draw_bounded_charts(page, query):
    at = run_page(page, query)
    assert not at.exception
    for el in at.get("plotly_chart"):
        assert len(el.proto.spec) < 2_000_000  # JSON bytes sent for one chart
