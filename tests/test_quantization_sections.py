"""The Quantization page's lazy loss-cost section and its memoized memory chart (issue 18) follow their inputs.

The loss cost of post-training quantization (Kumar et al. 2024) is a lazy expander: closed, its input, caption and
table are neither built nor sent; a link carrying its token count (``?gptqd=``) opens it with that count, and a value
typed in it survives closing and reopening. The memory chart is kept per (model, imatrix, run setup, GPU, unit,
toggle): after each change its bars must be the new inputs' (``calc.gguf_run.run_memory`` called directly).
"""

from __future__ import annotations

import json

import pytest

from calc import scaling_precision
from calc.gguf import quantize_all
from calc.gguf_run import RunSetup, run_memory
from calc.gpus import get_gpu
from calc.presets import get_preset
from calc.units import bytes_in
from tests.apptest_helpers import open_page
from ui import ptq_cost

PAGE = "app_pages/quantization.py"
TIMEOUT = 120
#: Llama-2-7B's N as Kumar et al. count it: 6,738,415,616 published (REFERENCE.md) less the 32000 x 4096 token
#: embeddings and the untied 32000 x 4096 head.
LLAMA2_7B_NON_EMBEDDING = 6_738_415_616 - 2 * 32000 * 4096


def _ptq_frames(at) -> list:
    return [d.value.set_index("file type") for d in at.dataframe if "loss cost (nats)" in d.value.columns]


def _q4_bits(at) -> float:
    return float(at.dataframe[0].value.set_index("file type").loc["Q4_K_M", "bits/weight"])


def _assert_costs_at(at, tokens_t: float) -> None:
    """The section's Q4_K_M row is eq. 2 / eq. 13 at ``tokens_t`` trillion tokens (called directly)."""
    (frame,) = _ptq_frames(at)
    want = scaling_precision.ptq_cost(LLAMA2_7B_NON_EMBEDDING, tokens_t * 1e12, _q4_bits(at))
    assert frame.loc["Q4_K_M", "loss cost (nats)"] == pytest.approx(want.degradation, rel=1e-12), tokens_t
    assert frame.loc["Q4_K_M", "more data hurts past (tokens)"] == pytest.approx(want.critical_tokens, rel=1e-12)


def test_loss_cost_section_is_lazy_and_opened_by_its_link_parameter():
    closed = open_page(PAGE, {"model": "Llama-2-7B"}, timeout_s=TIMEOUT)
    assert not closed.exception, [e.value for e in closed.exception]
    assert ptq_cost.TITLE in [e.label for e in closed.expander]
    assert _ptq_frames(closed) == [] and "gptqd" not in [n.key for n in closed.number_input]
    assert "gptqd" not in closed.query_params  # nothing written for a section nobody opened

    # a shared link names the token count: the section opens with it
    linked = open_page(PAGE, {"model": "Llama-2-7B", "gptqd": "2.5"}, timeout_s=TIMEOUT)
    assert not linked.exception, [e.value for e in linked.exception]
    assert linked.number_input(key="gptqd").value == 2.5
    _assert_costs_at(linked, 2.5)

    # opened by a click: the default (Llama 3's 15T), now written to the link
    opened = open_page(PAGE, {"model": "Llama-2-7B"}, session={"gx_ptq": True}, timeout_s=TIMEOUT)
    assert not opened.exception, [e.value for e in opened.exception]
    _assert_costs_at(opened, 15.0)
    assert opened.query_params["gptqd"] in ("15.0", ["15.0"])


def test_loss_cost_value_survives_closing_and_reopening():
    at = open_page(PAGE, {"model": "Llama-2-7B"}, session={"gx_ptq": True}, timeout_s=TIMEOUT)
    at.number_input(key="gptqd").set_value(3.0).run()
    _assert_costs_at(at, 3.0)
    at.session_state["gx_ptq"] = False
    at.run()
    assert not at.exception and _ptq_frames(at) == []
    at.session_state["gx_ptq"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _assert_costs_at(at, 3.0)


def _bars(at) -> dict[str, dict[str, float]]:
    """The memory chart's bars: trace name -> {file type: value}."""
    (chart,) = [c for c in at.get("plotly_chart") if "memory to run" in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    return {t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in spec["data"]}


def test_memory_chart_follows_context_unit_and_toggle():
    spec, gpu = get_preset("Llama-2-7B"), get_gpu("RTX 4090")
    quants = quantize_all(spec)

    def want(ftype: str, context: int, unit: str) -> tuple[float, float]:
        r = run_memory(spec, quants[ftype], RunSetup(context=context), gpu)
        return bytes_in(r.weights_bytes, unit), bytes_in(r.kv_cache_bytes, unit)

    at = open_page(PAGE, {"model": "Llama-2-7B", "gpu": "RTX 4090"}, timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    seen = []
    for context, unit in ((8192, "GB"), (32768, "GB"), (8192, "GB"), (8192, "GiB")):
        if at.number_input(key="gctx").value != context:
            at.number_input(key="gctx").set_value(context).run()
        if unit != "GB":
            at.radio(key="units").set_value(unit).run()
        assert not at.exception, [e.value for e in at.exception]
        bars = _bars(at)
        kv, weights = bars["KV cache"], bars["Weights"]
        w, k = want("Q4_K_M", context, unit)
        assert weights["Q4_K_M"] == pytest.approx(w, rel=1e-12) and kv["Q4_K_M"] == pytest.approx(k, rel=1e-12)
        assert "F16" not in kv
        seen.append(kv["Q4_K_M"])
        # the table (kept per the same inputs) shows the same run: weights + KV cache + compute buffer
        table = at.dataframe[0].value.set_index("file type")
        total = run_memory(spec, quants["Q4_K_M"], RunSetup(context=context), gpu).total_bytes
        assert table.loc["Q4_K_M", f"run memory ({unit})"] == pytest.approx(bytes_in(total, unit), rel=1e-12)
    assert seen[1] > seen[0] == seen[2] > seen[3]  # a wrong key would have shown an earlier chart
    at.toggle(key="gwide").set_value(True).run()
    kv = _bars(at)["KV cache"]
    assert kv["F16"] == pytest.approx(want("F16", 8192, "GiB")[1], rel=1e-12)


@pytest.mark.browser
def test_loss_cost_section_opens_in_a_browser_and_its_link_keeps_the_count(server, page):
    """Closed on a plain link (no table, no input); one click opens it with its input, caption and table, and a token
    count typed there goes into the link, which opens the section again in a fresh tab."""
    from tests.browser_helpers import main, open_expander, set_number, text_of, wait_for_rerun
    from tests.conftest import screenshot, wait_for_app

    page.goto(f"{server}/quantization?model=Llama-2-7B&gpu=H200&units=GB")
    wait_for_app(page)
    assert "more data makes this quantized model worse" not in text_of(page) and "gptqd" not in page.url
    open_expander(page, ptq_cost.TITLE)
    wait_for_rerun(page)
    assert "more data makes this quantized model worse" in text_of(page)
    set_number(page, "Pretraining tokens of this model (trillions)", 2.5, where=main(page))
    wait_for_rerun(page)
    assert "gptqd=2.5" in page.url
    assert "trained on 2.50 T tokens" in text_of(page)
    screenshot(page, "quantization_loss_cost_open")
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    wait_for_app(page)
    assert "trained on 2.50 T tokens" in text_of(page)


def test_gguf_inspector_is_lazy():
    """Closed, a rerun sends neither the inspector's text nor its upload box; opened, both are there."""
    def uploaders(at) -> list[str]:
        return [u.proto.label for u in at.get("file_uploader")]

    closed = open_page(PAGE, {"model": "Llama-2-7B"}, timeout_s=TIMEOUT)
    assert not closed.exception and uploaders(closed) == []
    assert "Inspect a .gguf file" in [e.label for e in closed.expander]
    opened = open_page(PAGE, {"model": "Llama-2-7B"}, session={"gx_inspect": True}, timeout_s=TIMEOUT)
    assert not opened.exception and uploaders(opened) == ["GGUF file or its first megabytes"]


def test_recent_keeps_the_last_results_by_count():
    from ui import figures_gguf_cache as cache

    cache.clear()
    calls = []

    def make(k):
        calls.append(k)
        return [k]

    first = cache.recent(("k", 0), lambda: make(0))
    assert cache.recent(("k", 0), lambda: make(-1)) is first and calls == [0]  # kept: the very same object
    for k in range(1, cache.KEPT + 1):  # KEPT more keys: key 0 was the least recently used, so it is dropped
        cache.recent(("k", k), lambda k=k: make(k))
    assert cache.recent(("k", cache.KEPT), lambda: make(-2)) == [cache.KEPT]
    assert cache.recent(("k", 0), lambda: make(0)) == [0] and calls.count(0) == 2
    with pytest.raises(ValueError):
        cache.recent(("bad",), lambda: (_ for _ in ()).throw(ValueError("no")))
    assert cache.recent(("bad",), lambda: "ok") == "ok"  # an exception is not kept
    cache.clear()
