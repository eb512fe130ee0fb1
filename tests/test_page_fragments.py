"""Pages whose body is one ``st.fragment`` (ui/page_body.py, issue 18): a page input reruns the body alone, with
the new input's numbers; a sidebar input still reruns everything; a fragment rerun is held to the page budget.

Driven over Streamlit's own websocket protocol (tests/ws_client.py) against a real server, as a browser does:
a widget inside a fragment is sent with that fragment's id, so only the fragment runs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from calc.memory import training_memory
from calc.presets import get_preset
from calc.units import GIB
from tests.ws_client import WsSession, run_async
from ui import budget, page_body
from ui.defaults import training_setup


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


class Recorder(WsSession):
    """A session that also keeps every element of its last run (label -> element proto)."""

    async def open(self, resume: str = ""):
        await super().open(resume)
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        recv = self.ws.recv
        self.elements: list = []

        async def recording():
            raw = await recv()
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            if fm.WhichOneof("type") == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                self.elements.append(getattr(el, el.WhichOneof("type")))
            return raw

        self.ws.recv = recording

    async def visit(self, url_path: str, query_string: str = "") -> list:
        """Open the session and run the page at ``url_path`` (after the app's first run, as a browser's first load
        does); returns that run's elements."""
        await self.open()
        await self.rerun(page_name="")
        self.page_hash = next(h for h, p in self.pages if p == url_path)
        self.elements = []
        _, errs = await self.rerun(page_hash=self.page_hash, query_string=query_string)
        assert not errs, errs
        return self.elements

    async def run_with(self, key: str, value: int | str | None = None, fragment: bool = True) -> list:
        """Set the widget bound to ``?key=`` (the widget id ends with the key) and rerun as the browser would
        (its fragment only, when the widget is in one and ``fragment``); returns the run's elements."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        wid, (et, _) = next((w, v) for w, v in self.widgets.items() if w.endswith("-" + key))
        st = WidgetState(id=wid)
        if isinstance(value, str):
            st.string_value = value
        else:
            st.int_value = value
        self.elements = []
        _, errs = await self.rerun(page_hash=self.page_hash, states=[st], query_string=self.query_string,
                                   fragment_id=self.fragment_of(st) if fragment else "")
        assert not errs, errs
        return self.elements


def _total_help(elements) -> str:
    return next(e.help for e in elements if getattr(e, "label", "") == "Total per GPU")


def test_training_page_input_reruns_the_body_alone_with_its_new_numbers(server):
    spec = get_preset("Meta-Llama-3-8B")
    base = replace(training_setup(), overhead_bytes=GIB)

    async def go():
        s = Recorder(server, timeout_s=120)
        full = await s.visit("training-memory")
        mb_id = next(w for w in s.widgets if w.endswith("-tm_mb"))
        gpu_id = next(w for w in s.widgets if w.endswith("-gpu"))
        assert s.fragments[mb_id] and not s.fragments[gpu_id]  # the page's input in a fragment, the sidebar's not
        labels = {getattr(e, "label", "") for e in full}
        assert "GPU" in labels and "Micro-batch per GPU" in labels
        try:
            await s.run_with("tm_mb", 3)
            frag = s.elements
            await s.run_with("units", "GiB", fragment=False)  # a sidebar input: the whole script
            full_gib = s.elements
        finally:
            await s.close()
        return full, frag, full_gib

    full, frag, full_gib = run_async(go())
    from ui.charts import NARROW_SCREEN_CSS

    # the charts' narrow-screen style once per full run (three charts), kept by the fragment; the page's own inputs
    # grid style (training_memory.INPUTS_CSS) in the same element
    css = [sum(NARROW_SCREEN_CSS in str(getattr(e, "body", "")) for e in els) for els in (full, frag, full_gib)]
    assert css == [1, 0, 1]
    assert sum(type(e).__name__ == "PlotlyChart" for e in frag) == 3
    assert _total_help(full) == f"{training_memory(spec, base).total:,} bytes"
    frag_labels = {getattr(e, "label", "") for e in frag}
    assert "Micro-batch per GPU" in frag_labels and "GPU" not in frag_labels  # the sidebar was not rerun
    want3 = training_memory(spec, replace(base, micro_batch=3))
    assert _total_help(frag) == f"{want3.total:,} bytes" != _total_help(full)
    total_gib = next(e for e in full_gib if getattr(e, "label", "") == "Total per GPU")
    assert "GPU" in {getattr(e, "label", "") for e in full_gib}
    assert total_gib.body.endswith("GiB") and _total_help(full_gib) == f"{want3.total:,} bytes"


def test_fragment_reruns_are_guarded_and_full_runs_not_twice(monkeypatch):
    """``page_body.run``: on its own (a fragment rerun) the body goes through ``budget.guard``; inside a guarded
    page run (``budget.limit`` active) it is called directly, since ``limit`` does not nest."""
    calls = []
    monkeypatch.setattr(page_body.st, "fragment", lambda f: f)
    monkeypatch.setattr(budget, "guard", lambda body: calls.append("guard") or body())
    page_body.run(lambda: calls.append("body"), "t")
    assert calls == ["guard", "body"]
    calls.clear()
    with budget.limit(5.0):
        page_body.run(lambda: calls.append("body"), "t")
    assert calls == ["body"]


def test_scaling_question_input_reruns_its_answer_alone_with_its_new_numbers(server):
    """The Scaling page: its budget inputs rerun the page's fragment, a question's own input (the fit) only the
    answer's fragment inside it (app_pages/scaling.py, issue 18), which shows that fit's optimum at the same budget:
    ``calc.scaling.optimum`` at the page's default budget, 256 H100 SXM x 30 days x 989 TFLOP/s x 0.40."""
    from calc.compute import compute_budget_flops
    from calc.gpus import get_gpu
    from calc.scaling import get_fit, optimum
    from ui import format as fmt

    budget_flops = compute_budget_flops(256, 30.0, get_gpu("H100 SXM").peak("bf16") * 0.40)

    async def go():
        s = Recorder(server, timeout_s=120)
        await s.visit("scaling", "gpu=H100+SXM")
        ids = {k: next(w for w in s.widgets if w.endswith("-" + k)) for k in ("sd", "sfit", "gpu")}
        try:
            fit = await s.run_with("sfit", "hoffmann")
        finally:
            await s.close()
        return ids, s.fragments, fit

    ids, fragments, fit = run_async(go())
    assert fragments[ids["sd"]] and fragments[ids["sfit"]] and not fragments[ids["gpu"]]
    assert fragments[ids["sd"]] != fragments[ids["sfit"]]  # the fit's own fragment, inside the page's
    labels = {getattr(e, "label", "") for e in fit}
    assert "Fit" in labels and "Days" not in labels and "Question" not in labels  # the budget's inputs not rerun
    want = optimum(get_fit("hoffmann"), budget_flops)
    shown = {e.label: e.body for e in fit if type(e).__name__ == "Metric"}
    assert shown["Parameters N"] == fmt.count(want.params)
    assert shown["Training tokens D"] == fmt.count(want.tokens) and shown["Predicted loss"] == f"{want.loss:.4f}"


def test_serving_latency_fragment_answers_after_its_setup_stops_fitting(server):
    """The Serving page's latency fragment, nested in the setup's, keeps its id when the setup stops fitting (a max
    model length no KV cache holds): a rerun of it sent with the id it had (a tab or client still holding its
    widgets) is answered. Streamlit names a fragment by where it is called, and ignores without an answer a rerun of
    an id its parent's last run did not register (bench/soak.py waited 120 s on two such reruns)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    async def go():
        s = Recorder(server, timeout_s=120)
        await s.visit("serving")
        ttft = next(w for w in s.widgets if w.endswith("-vsttft"))
        latency, setup = s.fragments[ttft], s.fragments[next(w for w in s.widgets if w.endswith("-vlen"))]
        try:
            refused = await s.run_with("vlen", 10_000_000)  # the setup's fragment: the engine would refuse to start
            assert any("refuse to start" in getattr(e, "body", "") for e in refused)
            s.timeout_s = 30
            st = WidgetState(id=ttft, double_value=2.5)
            _, errs = await s.rerun(page_hash=s.page_hash, states=[st], query_string=s.query_string,
                                    fragment_id=latency)
        finally:
            await s.close()
        return latency, setup, errs

    latency, setup, errs = run_async(go())
    assert latency and setup and latency != setup and not errs, errs
