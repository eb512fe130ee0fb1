"""Serving planner: a vLLM replica's memory at start-up (KV cache in blocks, tokens and concurrency, as vLLM logs
them) and its latency under a request stream with continuous batching (calc/serve.py, calc/serve_sim.py)."""

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import streamlit as st

from calc.serve import ENGINES, ServeSetup, gemm_dtype, max_model_len_that_fits, serve_memory
from calc.serve_logs import THROUGHPUT_CASES
from calc.serve_sim import (
    BANDWIDTH_EFFICIENCY,
    cost_per_million_tokens,
    replicas_for,
    step_model,
    typical_matmul_efficiency,
)
from ui import charts, measured, memo, page_body, pickers, results, state, tables, text
from ui import format as fmt
from ui.figures_serving import latency_vs_rate_spec, memory_bar, memory_bar_like

DTYPES = ("bf16", "fp16", "fp8_e4m3", "int8", "int4", "fp32")
SIM_REQUESTS = 1500
#: The SLO rate's bisection to 2^-7 (0.8 %) of its power-of-two bracket: the rate of 600 requests' p99 spreads by
#: about 5 % from seed to seed (calc.serve_sim.max_rate), and 5 fewer simulations per setup (issue 18).
MAX_RATE_STEPS = 7
#: The load sweep's rates, as multiples of the chosen rate (its chart is drawn while its expander is open).
SWEEP = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


def _fits(spec, setup) -> bool:
    """Whether ``setup`` starts; False too where its tp splits no head evenly (a traceback on this page before)."""
    try:
        return serve_memory(spec, setup).fits
    except ValueError:
        return False


def _metric_row():
    """A row for four metrics: one horizontal container (one block sent), not four columns (five: the row and each
    column; issue 18)."""
    return st.container(horizontal=True, gap="medium")


#: Three inputs per line in a section's inputs box (``_inputs_box``), each at least 128 px wide as Streamlit has them
#: (fewer per line on a narrow screen). Sent once per page run with the charts' style (ui.charts.NARROW_SCREEN_CSS).
INPUTS_CSS = ("<style>.st-key-vsetup_in > div, .st-key-vlat_in > div "
              "{flex: 1 1 calc(33.333% - 0.67rem) !important; min-width: 128px !important;}</style>")


def _inputs_box(key: str):
    """A section's six inputs, three per line: one horizontal container (one block sent) whose inputs wrap after the
    third (``INPUTS_CSS``), as two rows of three did (three blocks: the rows and their box) and three columns before
    them (issue 18)."""
    return st.container(horizontal=True, gap="small", key=key)


def _n(k: int, noun: str) -> str:
    """'1 GPU', '2 GPUs'."""
    return f"{k:,} {noun}{'' if k == 1 else 's'}"


st.title("Serving planner")
st.caption("What vLLM prints at start-up, before you rent the GPUs: the memory it gives the weights, the profile "
           "forward and the CUDA context, the KV cache left in blocks and tokens, how many full-length requests fit "
           "at once; then the latency a stream of requests sees with continuous batching, and how many replicas a "
           "target load needs.")


# Two nested fragments (issue 18): an input of the latency section reruns that section only (its simulations are
# memoized per argument, so a price or SLO change reuses the rest), an input of the setup reruns the setup and the
# latency below it; the sidebar, the title and the two constant tables of published results rerun only with the
# page. A fragment rerun does not pass through app.py's server-time budget, so each body runs under
# ui.page_body.fragment (budget.guard_fragment).
@contextmanager
def _css_drawn():
    """The charts' narrow-screen style is drawn once by the page, above both sections, where it stays through their
    reruns: ``charts.show`` inside them leaves it out (it sent one copy per chart on every rerun; issue 18)."""
    sent = charts.CSS_SENT.set(True)
    try:
        yield
    finally:
        charts.CSS_SENT.reset(sent)


@page_body.fragment
def setup_section(spec, gpu) -> None:
    # The latency fragment is called on every run of this one, with None where the setup cannot run (it then draws
    # nothing), and always at the same place, right after the one container the setup draws in: Streamlit names a
    # fragment by where it is called (its delta path), so one called after a setup that drew an error instead of its
    # metrics got a new id, the old one was dropped, and a rerun of the old one (a tab still holding its widgets, a
    # bench client) was ignored without an answer (bench/soak.py waited 120 s on two). The fragment makes its own
    # container there (st.fragment), so a second one around it only cost an element per rerun (issue 18).
    setup_box = st.container()
    with _css_drawn():
        with setup_box:
            args = _setup(spec, gpu)
        latency_section(args)
        if args is not None:
            _formulas(args[2])


def _setup(spec, gpu) -> tuple | None:
    """The setup's inputs and memory; the latency section's arguments, None where the setup cannot run."""
    top = low = _inputs_box("vsetup_in")
    engine = ENGINES[state.select("Serving engine", "veng", tuple(ENGINES), "vllm", where=top,
                                  format_func=lambda k: ENGINES[k].label,
                                  help="How the KV cache is sized at start-up: vLLM takes gpu_memory_utilization of the total "
                                       "minus weights, activations and CUDA context; SGLang's mem_fraction_static holds the "
                                       "weights and the KV pool; TensorRT-LLM takes kv_cache_free_gpu_memory_fraction of the "
                                       "memory free after the weights. Block size and batch defaults follow the engine.")]
    replicas = int(state.number("Replicas", "vrep", 1, 1, 1024, step=1, where=top,
                                help="Copies of the model behind a round-robin balancer; GPUs = replicas x tp."))
    wdt = state.select("Weights", "vwdt", DTYPES, "bf16", where=top, help="Storage format of the weights.")
    tp = int(state.select("Tensor parallel (GPUs per replica)", "vtp", (1, 2, 4, 8, 16), 1, where=low,
                          help="--tensor-parallel-size: each GPU holds 1/tp of the weights and of the KV heads."))
    max_len = int(state.number("Max model length (tokens)", "vlen", 8192, 16, 10_000_000, step=1, where=low,
                               help="vLLM --max-model-len: the longest request (prompt + output) it accepts."))
    kvdt = state.select("KV cache", "vkvdt", DTYPES[:3], "bf16", where=low, help="vLLM --kv-cache-dtype (fp8: half).")
    util, seqs, batched, block = _engine_settings(engine, gpu, tp)

    try:
        setup = ServeSetup(gpu.memory_bytes, tp=tp, weights_dtype=wdt, kv_dtype=kvdt, gpu_memory_utilization=util,
                           max_model_len=max_len, max_num_seqs=seqs, max_num_batched_tokens=batched, block_size=block,
                           engine=engine.key)
        mem = serve_memory(spec, setup)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        return None

    row = _metric_row()
    row.metric("GPU KV cache size (tokens)", f"{mem.kv_cache_tokens:,}",
               help=f"{mem.kv_cache_blocks:,} blocks of {mem.block_size} tokens per GPU, as vLLM logs it.")
    row.metric("Max concurrency", f"{mem.max_concurrency:.2f}x",
               help=f"Requests of {max_len:,} tokens the KV cache holds at once, per replica (vLLM's 'Maximum concurrency').")
    row.metric("KV cache per GPU", fmt.size(max(mem.kv_cache_bytes, 0)))
    row.metric("GPUs", f"{replicas * tp:,}", help=f"{_n(replicas, 'replica')} x tp {tp}.")
    parts = {"weights": mem.weights_bytes, "activation peak": mem.activation_peak_bytes,
             "non-torch": mem.non_torch_bytes, "KV cache": max(mem.kv_cache_bytes, 0),
             "headroom": max(gpu.memory_bytes - sum(max(v, 0) for v in (mem.weights_bytes, mem.activation_peak_bytes,
                                                                          mem.non_torch_bytes, mem.kv_cache_bytes)), 0)}
    bar_args = (parts, gpu.memory_bytes, f"{text.html(spec.name)} on {text.html(gpu.name)}, tp={tp}: memory per GPU",
                fmt.unit())
    # one bar built and validated per unit; each setup's bar is that one's dict with its numbers and title replaced
    like = charts.cached(("serving.memory_bar", tuple(parts), bar_args[-1]), lambda: memory_bar(*bar_args))
    like = like.to_dict() if isinstance(like, charts.FrozenFigure) else charts.prepared_dict(like)  # caches off
    charts.show(st, charts.FrozenFigure.from_dict(memory_bar_like(like, *bar_args)), width="stretch")

    if not mem.fits:
        fit_len = max_model_len_that_fits(spec, setup, max(mem.kv_cache_bytes, 0))
        short = (f"{fmt.size(-mem.kv_cache_bytes)} short per GPU before any KV cache" if mem.kv_cache_bytes <= 0
                 else f"one request of {max_len:,} tokens needs {fmt.size(mem.request_kv_bytes)} of KV cache, "
                      f"{fmt.size(mem.kv_cache_bytes)} is left")
        fixes = [f"a max model length of {fit_len:,} tokens or less fits"] if fit_len else []
        for more in (2, 4, 8, 16, 32, 64):
            if more > tp and _fits(spec, replace(setup, tp=more)):
                fixes.append(f"tensor parallel {more} fits ({more} GPUs per replica)")
                break
        st.error(f"**{engine.label} would refuse to start**: {short}. " + (("; ".join(fixes))[:1].upper() + ("; ".join(fixes))[1:] + ". " if fixes else
                 "Not even 64 GPUs per replica fit: narrower weights or larger GPUs. ")
                 + "No latency is shown for a setup that cannot run.")
        return None
    # the latency section's heading, drawn here and not in its fragment: the same place, one element fewer on each
    # rerun of that section (issue 18)
    st.subheader("Latency under load")
    return spec, gpu, mem, tp, replicas, max_len, seqs, batched, wdt, kvdt


def _engine_settings(engine, gpu, tp: int) -> tuple[float, int, int, int]:
    """The engine's memory fraction, max running sequences, max batched tokens and KV block size (0: the engine's
    default, resolved here). Lazy (issue 18): the four inputs are drawn only while their expander is open; closed,
    they keep their values and link parameters (``ui.state.UNDRAWN``), and four widgets fewer are sent on every rerun of
    the setup (about a third of a setup rerun's server time went to its inputs)."""
    auto_tokens, auto_seqs = engine.batch_defaults(gpu.memory_bytes, gpu.name)
    auto_util = engine.fraction(gpu.memory_bytes, tp)

    def inputs(a, b, c, d) -> tuple[float, int, int, int]:
        util = float(state.number(f"Memory fraction (0: {engine.label}'s {auto_util:g})", "vutil", 0.0, 0.0, 1.0,
                                  step=0.01, where=a,
                                  help=f"{engine.label}'s {engine.fraction_name}; its default here is {auto_util:g}.")) \
            or auto_util
        seqs = int(state.number(f"Max running sequences (0: {engine.label}'s default)", "vseqs", 0, 0, 100_000, step=1,
                                where=b, help=f"vLLM --max-num-seqs; its server default on this GPU is {auto_seqs:,}.")) \
            or auto_seqs
        batched = int(state.number(f"Max batched tokens (0: {engine.label}'s default)", "vbt", 0, 0, 10_000_000, step=1,
                                   where=c, help=f"vLLM --max-num-batched-tokens: tokens of one step (chunked prefill) "
                                                 f"and of the start-up profile forward; its server default on this GPU "
                                                 f"is {auto_tokens:,}.")) or auto_tokens
        block = int(state.select("Block size (tokens, 0: the engine's)", "vblock", (0, 1, 8, 16, 32, 64, 128), 0,
                                 where=d, help=f"Tokens per KV-cache block; {engine.label}'s default is "
                                               f"{engine.block_size}.")) or engine.block_size
        return util, seqs, batched, block

    box = st.expander("Engine settings: memory fraction, running sequences, batched tokens, KV block size",
                      key="vengine", on_change="rerun")
    if not box.open:
        return inputs(*[state.UNDRAWN] * 4)
    with box:
        values = inputs(*st.columns(4))
        st.caption(f"0 takes {engine.label}'s default on this GPU: memory fraction {auto_util:g}, "
                   f"{auto_seqs:,} sequences, {auto_tokens:,} batched tokens, blocks of {engine.block_size} tokens.")
    return values




@page_body.fragment
def latency_section(args: tuple | None) -> None:
    if args is not None:
        with _css_drawn():
            _latency(*args)


def _latency(spec, gpu, mem, tp: int, replicas: int, max_len: int, seqs: int, batched: int, wdt: str,
             kvdt: str) -> None:
    top = low = _inputs_box("vlat_in")
    rate = float(state.number("Requests per second (all replicas)", "vrate", 4.0, 0.01, 100_000.0, where=top,
                              help="Poisson arrivals, split round-robin over the replicas."))
    prompt = int(state.number("Prompt tokens", "vprompt", 1024, 1, 10_000_000, step=1, where=top, help="Per request."))
    output = int(state.number("Output tokens", "voutput", 256, 2, 10_000_000, step=1, where=top, help="Per request."))
    slo_ttft = float(state.number("SLO: p99 time to first token (s, 0: none)", "vsttft", 1.0, 0.0, 3600.0, where=low,
                                  help="The 99th percentile TTFT a deployment must meet."))
    slo_tpot = float(state.number("SLO: p99 time per output token (s, 0: none)", "vstpot", 0.05, 0.0, 60.0, where=low,
                                  help="The 99th percentile time between output tokens."))
    price = float(state.number("USD per GPU-hour", "vprice", 2.5, 0.0, 10_000.0, where=low,
                               help="Adds the cost per million output tokens."))
    if prompt + output > max_len:
        st.error(f"Prompt + output tokens ({prompt + output:,}) exceed the max model length ({max_len:,}).")
        return

    figures = measured.for_gpu(gpu.name, "vmeas", "the datasheet peak x 0.6 (FP8 GEMMs: x 0.6 scaled by their measured share of peak over bf16's) and bandwidth x 0.8")
    compute = gemm_dtype(wdt, gpu)  # FP8 weights: FP8 GEMMs where the GPU has them
    flops, bw = gpu.peak(compute), gpu.bandwidth_bytes_per_s
    me, be, src = typical_matmul_efficiency(gpu, compute), BANDWIDTH_EFFICIENCY, "datasheet x typical efficiencies"
    if figures is not None:
        if figures["flops_per_s"].get(compute):
            flops, me = figures["flops_per_s"][compute], 1.0
        if figures["bandwidth_bytes_per_s"]:
            bw, be = figures["bandwidth_bytes_per_s"], 1.0
        src = f"measured on {figures['device']}"
    if not flops or not bw:
        st.error(f"{gpu.name} has no {compute} peak or bandwidth in the catalog; measure it on the Benchmark page.")
        return
    try:
        model = step_model(spec, flops, bw, tp=tp, weights_dtype=wdt, kv_dtype=kvdt, matmul_efficiency=me,
                           bandwidth_efficiency=be)
        kw = {"max_num_seqs": min(seqs, mem.max_running or seqs), "max_num_batched_tokens": batched,
              "kv_capacity_tokens": mem.sim_kv_tokens, "state_tokens_per_request": mem.state_tokens_per_request}
        throughput, pct = memo.serve_latency(model, SIM_REQUESTS, rate, prompt, output, 0, replicas, **kw)
        slos = (slo_ttft or None, slo_tpot or None)
        per = memo.serve_max_rate(model, prompt, output, *slos, 600, **kw, steps=MAX_RATE_STEPS) if any(slos) else None
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        return

    row = _metric_row()
    row.metric("Output tokens/s", f"{throughput:,.0f}", help=f"{SIM_REQUESTS:,} simulated requests.")
    row.metric("Time to first token, p99", fmt.duration(pct["ttft_s"]["p99"]),
               help=f"Median {fmt.duration(pct['ttft_s']['p50'])}: queueing + prefill.")
    row.metric("Time per output token, p99", fmt.duration(pct["tpot_s"]["p99"]),
               help=f"Median {fmt.duration(pct['tpot_s']['p50'])}: one decode step shared by the running batch.")
    row.metric("End to end, p99", fmt.duration(pct["e2e_s"]["p99"]), help=f"Median {fmt.duration(pct['e2e_s']['p50'])}.")
    cost = cost_per_million_tokens(replicas * tp, price, throughput) if price else None
    lines = [f"Roofs: {flops * me / 1e12:,.0f} TFLOP/s and {bw * be / 1e9:,.0f} GB/s per GPU ({src})."]
    if per is not None:
        need = replicas_for(rate, per)
        lines.append(f"One replica meets the SLOs up to **{per:.3g} requests/s**: "
                     + (f"this rate needs **{_n(need, 'replica')}, {_n(need * tp, 'GPU')}**." if need else "no rate meets them."))
    if cost is not None:
        lines.append(f"Cost at this rate: **{cost:,.3g} USD per million output tokens** ({_n(replicas * tp, 'GPU')}).")
    st.markdown(" ".join(lines))

    # Lazy (issue 18): the sweep's six simulations of 600 requests were about 40 % of the server time of a change of
    # the rate, the lengths or the setup; closed, nothing of it is computed or sent. The answer above does not use it.
    with st.expander("p99 latency against load: 0.25 to 3 times this rate", key="vsweep", on_change="rerun") as box:
        if box.open:
            grid = rate * np.array(SWEEP)
            runs = [memo.serve_latency(model, 600, float(x), prompt, output, 1, replicas, **kw)[1] for x in grid]
            # written as Plotly's dict (ui.figures_spec): the go.Figure was built and validated again on every
            # rerun that changed a point, 2-4 ms of one (issue 18)
            charts.show(st, latency_vs_rate_spec(grid, [r["ttft_s"]["p99"] for r in runs],
                                                 [r["tpot_s"]["p99"] for r in runs], slos[0], slos[1],
                                                 "p99 latency against load"), width="stretch")

    results.publish("serving", {
        "GPU KV cache size (tokens)": (mem.kv_cache_tokens, "number"), "max concurrency": (mem.max_concurrency, "number"),
        "KV cache per GPU": (max(mem.kv_cache_bytes, 0), "bytes"), "weights per GPU": (mem.weights_bytes, "bytes"),
        "output tokens/s": (throughput, "number"), "TTFT p99": (pct["ttft_s"]["p99"], "seconds"),
        "TPOT p99": (pct["tpot_s"]["p99"], "seconds")})


def _formulas(mem) -> None:
    # lazy (docs/CONVENTIONS.md, issue 18): the text is built and sent only while the expander is open
    with st.expander("Formulas, assumptions and sources", key="vformulas", on_change="rerun") as box:
        if not box.open:
            return
        st.markdown(rf"""
**Memory at start-up** (vLLM `v1/worker/gpu_worker.py`, `determine_available_memory`): KV cache = total x
utilization - weights per GPU - activation peak of a profile forward of `max_num_batched_tokens` tokens - non-torch
memory (CUDA context, NCCL). Here: {fmt.size(mem.requested_bytes)} - {fmt.size(mem.weights_bytes)} -
{fmt.size(mem.activation_peak_bytes)} - {fmt.size(mem.non_torch_bytes)} = {fmt.size(mem.kv_cache_bytes)}.
The activation peak and non-torch memory are estimates (vLLM's logs vary with version and torch.compile); CUDA
graphs are captured after the KV cache is sized and come out of the headroom.

**Blocks** (`v1/core/kv_cache_utils.py`): a page is `block_size` tokens of one layer, $b \cdot n_{{kv}}/tp \cdot
(d_k + d_v) \cdot$ bytes (MLA: the latent $r + d_{{rope}}$ on every rank); blocks = KV // (pages of all layers).
Sliding-window hybrids keep two block groups; a sliding group needs cdiv(min(window - 1 + batched tokens,
max_len), block) + 1 blocks per request. Mamba hybrids (Jamba, Nemotron-H, Falcon-H1's Mamba beside every
attention) hold one state block per request, the attention block raised until its page covers the state
(`HybridAttentionMambaModelConfig`). Tokens = blocks // groups x block size; concurrency = blocks / blocks
per request ({mem.blocks_per_request:,} here).

**Latency** (`calc/serve_sim.py`): FCFS admission under max_num_seqs and the KV cache (reserved whole, no
preemption), chunked prefill mixed with decodes. Each step runs its kernels in sequence: the matmuls
$\max(\text{{FLOPs}}/F, \text{{weights}}/B)$ (the peak of the weights' GEMM precision: FP8 for FP8 weights on GPUs
with FP8 tensor cores), then attention $\max(\text{{attention FLOPs}}/F, \text{{KV}}/B)$, the element-wise kernels'
activation bytes $/B$ and the tensor-parallel all-reduces; checked against M/D/1 queueing theory. Efficiencies are typical, not measured, unless the Benchmark
page's figures are used; the published throughputs below are within 30 % with them.
""")


st.html(charts.NARROW_SCREEN_CSS + INPUTS_CSS)
setup_section(pickers.current_model(), pickers.current_gpu())

st.subheader("Checked against vLLM's own start-up logs")
log_rows, throughput_rows = memo.serve_log_rows()
# constant tables: converted to Arrow once per process (ui/tables.py); records have no index to show
st.dataframe(tables.arrow("serving.log_rows", lambda: list(log_rows)), hide_index=True, width="stretch", column_config={"source": st.column_config.LinkColumn("source")})
st.caption("Inputs taken from each log: the device total and utilization, and where printed the activation peak and "
           "non-torch memory (version-dependent), the weights of quantized checkpoints, or the KV GiB of v1 logs that "
           "print nothing before it, or the memory TensorRT-LLM logs as available. Everything compared is ours (calc/serve_logs.py, tests/test_serve.py: all "
           "within 5 %).")

st.subheader("Checked against published throughput")
st.dataframe(tables.arrow("serving.throughput_rows", lambda: list(throughput_rows)), hide_index=True, width="stretch", column_config={"source": st.column_config.LinkColumn("source")})
st.caption("Each publication beside our prediction with the default efficiencies (0.6 of the datasheet peak of the "
           "compute dtype, FP8 GEMMs 0.6 x their mamf-finder share of peak over bf16's: 0.53 on H100, 0.55 on H200 "
           "(calc.serve_sim.typical_matmul_efficiency); 0.8 of the bandwidth), none of them fitted to these results. vLLM: `vllm bench serve`, fixed "
           "lengths, request rate inf, at most `concurrency` in flight (" + THROUGHPUT_CASES[0].note + "). "
           "TensorRT-LLM: its perf-overview table, `trtllm-bench throughput` on fixed lengths, FP8 checkpoints, the "
           "engine's KV and batch defaults. MLPerf Inference v4.1 (llama2-70b, NVIDIA's FP8 submissions): the whole system's "
           "tokens/s, ours one copy's x the copies; mean prompt 222 and output 290 tokens; Server: the highest Poisson rate "
           "within p99 TTFT 2 s and TPOT 200 ms. Held to 30 % by tests/test_serve.py; a 'no' is a strict expected failure "
           "whose reason names the efficiency the publication implies.")
