"""The Serving planner page (app_pages/serving.py) as its two fragments draw it (issue 18)."""

from __future__ import annotations

from tests.apptest_helpers import open_page


def test_a_setup_that_fits_at_no_tp_says_so_without_a_traceback():
    """Llama-3-8B at a 10M-token max model length fits on no H100 at any tp the page tries: the remedy search asks
    tp 2 ... 64, and 64 splits neither its 32 heads nor its 8 KV heads (calc.serve.check_tp refuses it). The page
    shows its 'would refuse to start' error, not the ValueError's traceback it showed before."""
    at = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vlen": "10000000"})
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("would refuse to start" in e for e in errors), errors
    # the constant tables below the fragments still show
    assert len(at.dataframe) == 2


def test_a_price_change_keeps_the_setup_and_scales_the_cost():
    """A latency-section input changed after the first run (AppTest reruns the whole page; a browser reruns the
    latency fragment only): the memory metrics above stay, the cost line follows the price (USD 2 vs 4 per GPU-hour
    at the same simulated throughput: the cost doubles)."""
    at = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "2",
                                            "vprice": "2"})
    assert not at.exception, [e.value for e in at.exception]

    def cost() -> float:
        line = next(m.value for m in at.markdown if "USD per million output tokens" in m.value)
        return float(line.split("Cost at this rate: **")[1].split(" USD")[0].replace(",", ""))

    kv = next(m.value for m in at.metric if m.label == "GPU KV cache size (tokens)")
    before = cost()
    at.number_input(key="vprice").set_value(4.0).run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(m.value for m in at.metric if m.label == "GPU KV cache size (tokens)") == kv
    assert abs(cost() / before - 2.0) < 0.01  # three significant digits each


def test_stored_tables_are_used_only_while_they_equal_the_computed_ones(tmp_path):
    """ui/serving_tables.json (python -m ui.figures_serving) spares the first visit ~2 s of simulations. The file in
    the repository is current (a stale one was refused and cost every server's first Serving visit those 2 s, unseen
    until someone noticed: it went stale with each change of a calc file it lists) and its rows are exactly what
    calc/serve_logs.py computes now; once a source changes (or the file lists one more), it is not used and the page
    computes the rows as before."""
    import json

    from ui.figures_serving import TABLES_PATH, published_rows, sources_hash, stored_rows

    doc = json.loads(TABLES_PATH.read_text())
    stored = stored_rows()
    assert stored is not None, ("ui/serving_tables.json is out of date (a calc file it lists changed): regenerate it "
                                "with `python -m ui.figures_serving`")
    assert stored == published_rows()
    current = dict(doc, sources_hash=sources_hash(doc["sources"]))
    (tmp_path / "ok.json").write_text(json.dumps(current))
    assert stored_rows(tmp_path / "ok.json") == (tuple(doc["logs"]), tuple(doc["throughput"]))
    (tmp_path / "more.json").write_text(json.dumps(dict(current, sources=[*doc["sources"], "calc/serve_new.py"])))
    assert stored_rows(tmp_path / "more.json") is None
    edited = dict(current, sources_hash=sources_hash(doc["sources"][:-1]))  # as if the last source had changed
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    assert stored_rows(tmp_path / "edited.json") is None
    assert "calc/serve_sim.py" in doc["sources"] and "calc/serve_logs.py" in doc["sources"]


def test_a_fragment_rerun_runs_under_the_budget_and_a_page_run_keeps_its_own():
    """ui.budget.guard_fragment (the Serving page's fragments): on its own (a fragment rerun, which app.py's guard
    does not see) the body runs with a budget held for its thread; inside a page run's budget it runs as it is (a
    second ``limit`` in one thread would raise)."""
    import threading

    from ui import budget

    seen = []
    budget.guard_fragment(lambda: seen.append(threading.get_ident() in budget._RUNS))
    with budget.limit():
        budget.guard_fragment(lambda: seen.append(threading.get_ident() in budget._RUNS))
    assert seen == [True, True]
    assert threading.get_ident() not in budget._RUNS


def test_formulas_expander_shows_this_setups_kv_arithmetic_when_open():
    """The lazy formulas expander (built only while open): open, it states vLLM's KV rule with this setup's numbers:
    the H100's 85,520,809,984 B (torch.cuda.mem_get_info) x 0.9 = 76.97 GB, minus REFERENCE.md's 8,030,261,248
    parameters x 2 B = 16.06 GB of bf16 weights; closed, its text is not sent."""
    closed = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "1"})
    assert not any("determine_available_memory" in m.value for m in closed.markdown)
    at = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "1"},
                   session={"vformulas": True})
    assert not at.exception, [e.value for e in at.exception]
    text = next(m.value for m in at.markdown if "determine_available_memory" in m.value)
    assert "76.97 GB - 16.06 GB" in text


def test_load_sweep_is_drawn_only_when_its_expander_opens():
    """The latency-against-load chart (six simulations of 600 requests) is lazy (issue 18): closed, the page still
    answers with the metrics and the SLO rate and draws the memory bar only; opened (a click, here its session key),
    it draws p99 TTFT and TPOT at 0.25 ... 3 x the rate, each point the p99 of ``calc.serve_sim.simulate`` on that
    rate's seeded stream, as the page drew them before it was moved into the expander."""
    import json

    import numpy as np

    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from calc.serve import ENGINES, ServeSetup, serve_memory
    from calc.serve_sim import BANDWIDTH_EFFICIENCY, poisson_workload, simulate, step_model, typical_matmul_efficiency

    query = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "8"}
    closed = open_page("app_pages/serving.py", query)
    assert not closed.exception, [e.value for e in closed.exception]
    assert [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in closed.get("plotly_chart")] == [
        "Meta-Llama-3-8B on H100 SXM, tp=1: memory per GPU"]
    assert any("meets the SLOs up to" in m.value for m in closed.markdown)

    at = open_page("app_pages/serving.py", query, session={"vsweep": True})
    assert not at.exception, [e.value for e in at.exception]
    # the charts' narrow-screen style once for the page, not once per chart (ui.charts.NARROW_SCREEN_CSS)
    assert sum("modebar-container" in h.proto.body for h in at.get("html")) == 1
    sweep = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert sweep["layout"]["title"]["text"] == "p99 latency against load"
    ttft, tpot = sweep["data"]
    rates = [0.25 * 8, 0.5 * 8, 8.0, 1.5 * 8, 2.0 * 8, 3.0 * 8]
    assert ttft["x"] == tpot["x"] == rates
    gpu, spec, engine = get_gpu("H100 SXM"), get_preset("Meta-Llama-3-8B"), ENGINES["vllm"]
    tokens, seqs = engine.batch_defaults(gpu.memory_bytes, gpu.name)
    mem = serve_memory(spec, ServeSetup(gpu.memory_bytes, max_model_len=8192, max_num_seqs=seqs,
                                        max_num_batched_tokens=tokens,
                                        gpu_memory_utilization=engine.fraction(gpu.memory_bytes, 1)))
    model = step_model(spec, gpu.peak("bf16"), gpu.bandwidth_bytes_per_s,
                       matmul_efficiency=typical_matmul_efficiency(gpu, "bf16"), bandwidth_efficiency=BANDWIDTH_EFFICIENCY)
    for i, rate in enumerate(rates):
        r = simulate(model, poisson_workload(600, rate, 1024, 256, seed=1), max_num_seqs=min(seqs, mem.max_running or seqs),
                     max_num_batched_tokens=tokens, kv_capacity_tokens=mem.sim_kv_tokens)
        assert ttft["y"][i] == float(np.percentile(r.ttft_s, 99)) and tpot["y"][i] == float(np.percentile(r.tpot_s, 99))


def test_memory_bar_made_from_another_setups_equals_a_fresh_build():
    """The page draws each setup's memory bar from one built for other numbers (ui.figures_serving.memory_bar_like,
    issue 18): the same dict, and the same JSON, as ``memory_bar`` built and validated by Plotly for these numbers;
    the bar it was made from is left as it was."""
    import copy
    import json

    import pytest

    from ui import charts
    from ui.figures_serving import memory_bar, memory_bar_like

    gb = 10**9
    first = {"weights": 16 * gb, "activation peak": 2 * gb, "non-torch": gb // 2, "KV cache": 50 * gb, "headroom": 8 * gb}
    cases = [({"weights": 16_060_522_496, "activation peak": 1_234_567_891, "non-torch": 536_870_912,
               "KV cache": 59_000_000_001, "headroom": 8_552_080_998}, 85_520_809_984, "Meta-Llama-3-8B on H100 SXM"),
             ({"weights": 140 * gb, "activation peak": 3 * gb, "non-torch": gb, "KV cache": -60 * gb, "headroom": 0},
              85 * gb, "Llama &lt;70B&gt; on a &quot;small&quot; GPU, tp=1"),  # a setup that does not start
             ({"weights": 0, "activation peak": 0, "non-torch": 0, "KV cache": 0, "headroom": 24 * 2**30}, 24 * 2**30, "")]
    for unit in ("GB", "GiB"):
        like = charts.prepared_dict(memory_bar(first, 80 * gb, "first", unit))
        kept = copy.deepcopy(like)
        for parts, total, title in cases:
            fresh = charts.prepared_dict(memory_bar(parts, total, title, unit))
            made = memory_bar_like(like, parts, total, title, unit)
            assert made == fresh and json.dumps(made) == json.dumps(fresh)
        assert like == kept
    with pytest.raises(ValueError):
        memory_bar_like(like, {"weights": 1, "KV cache": 2}, gb, "", "GiB")
    with pytest.raises(ValueError):
        memory_bar_like(like, first, gb, "", "GB")


def test_engine_settings_keep_their_link_parameters_while_their_expander_is_closed():
    """The engine's memory fraction, max running sequences, max batched tokens and block size are drawn only while
    their expander is open (issue 18); closed, a link's values still set up the engine. vLLM on an H100 at memory
    fraction 0.5 with blocks of 32 tokens: KV = 85,520,809,984 B x 0.5 - 16,060,522,496 B of bf16 weights - the
    profile forward's activations - the non-torch memory (calc.serve.serve_memory with those settings), in blocks of
    32 tokens x 131,072 B (32 layers x 8 KV heads x 128 x K,V x 2 B); the same page with the expander open shows the
    same numbers and the inputs holding the link's values. A value out of range is still named in a warning."""
    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from calc.serve import ServeSetup, serve_memory

    query = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "2", "vutil": "0.5", "vseqs": "64",
             "vbt": "4096", "vblock": "32"}
    gpu = get_gpu("H100 SXM")
    mem = serve_memory(get_preset("Meta-Llama-3-8B"),
                       ServeSetup(gpu.memory_bytes, gpu_memory_utilization=0.5, max_model_len=8192, max_num_seqs=64,
                                  max_num_batched_tokens=4096, block_size=32))
    assert mem.kv_cache_blocks == mem.kv_cache_bytes // (32 * 32 * 8 * 128 * 2 * 2)
    shown = {}
    for opened in (False, True):
        at = open_page("app_pages/serving.py", query, session={"vengine": True} if opened else None)
        assert not at.exception, [e.value for e in at.exception]
        keys = {w.key for w in at.number_input} | {w.key for w in at.selectbox}
        assert ({"vutil", "vseqs", "vbt", "vblock"} <= keys) == opened, keys
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["GPU KV cache size (tokens)"] == f"{mem.kv_cache_tokens:,}"
        shown[opened] = metrics
        if opened:
            assert (at.number_input(key="vutil").value, at.number_input(key="vseqs").value,
                    at.number_input(key="vbt").value, at.selectbox(key="vblock").value) == (0.5, 64, 4096, 32)
    assert shown[False] == shown[True]
    bad = open_page("app_pages/serving.py", {**query, "vutil": "7"})
    assert any("vutil=7" in w.value for w in bad.warning), [w.value for w in bad.warning]
