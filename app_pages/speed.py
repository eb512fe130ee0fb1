"""Inference speed: a roofline of prefill (compute) and decode (bytes per token / bandwidth) against batch."""

import streamlit as st

from calc.parallel import tp_units
from calc.plan import DEFAULT_LINKS, LINKS
from calc.solvers import MAX_TP, valid_tps
from calc.speed import (
    KV_DTYPES,
    WEIGHT_DTYPES,
    Hardware,
    ServingSetup,
    estimate_and_sweep,
    max_batch_in_memory,
    smallest_tp_that_fits,
)
from ui import charts, measured, page_body, pickers, results, state, text
from ui import format as fmt
from ui.figures_speed import step_time_vs_batch, tokens_vs_batch

COMPUTE_DTYPES = ("bf16", "fp16", "fp8", "tf32", "fp32")

st.title("Inference speed")
st.caption("Decoding is bandwidth-bound: every step reads all weights and the whole KV cache to make one token per "
           "sequence. Batching shares the weight reads, so throughput grows with batch until FLOPs dominate; "
           "that is why serving systems batch continuously. These are roofline bounds (best case).")


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    spec, gpu = pickers.current_model(), pickers.current_gpu()
    a, b, c = st.columns(3)
    batch = int(state.number("Batch (sequences)", "sbatch", 1, 1, 4096, step=1, where=a,
                             help="Sequences decoded together in one step."))
    prompt = int(state.number("Prompt tokens", "sprompt", 1024, 1, 1_000_000, step=1, where=b,
                              help="Tokens of each prompt, processed at once in the prefill."))
    output = int(state.number("Output tokens", "soutput", 256, 2, 1_000_000, step=1, where=c,
                              help="Tokens generated per sequence; the first comes from the prefill."))
    weight_dtype = state.select("Weights", "swdtype", WEIGHT_DTYPES, "bf16", where=a,
                                help="Storage format of the weights (bits from the Number formats page; quantization "
                                     "scales not counted).")
    kv_dtype = state.select("KV cache", "skvdtype", KV_DTYPES, "bf16", where=b, help="Storage format of the KV cache.")
    compute_dtype = state.select("Matmul dtype", "scdtype", COMPUTE_DTYPES, "bf16", where=c,
                                 help="The tensor-core format the matmuls run in (int8/int4 weights are usually "
                                      "dequantized to bf16); its peak or measured FLOP/s is the compute roof.")
    # Tensor parallelism: degrees that split the heads as vLLM needs (calc.solvers.valid_tps, serving rule), one node.
    tps = valid_tps(spec, training=False, max_tp=MAX_TP)
    tp = int(state.select("Tensor-parallel GPUs", "stp", tps, 1, where=a,
                          help=f"GPUs one copy of the model is split over (Megatron-style tensor parallelism): weights "
                               f"and KV heads divide over them, each layer adds two all-reduces. {text.md(spec.name, 80)} "
                               f"allows {', '.join(map(str, tps))}: the degree must split its "
                               f"{', '.join(f'{n} {name}' for name, n in tp_units(spec).items())} (vLLM replicates what "
                               f"it cannot split: KV heads at a multiple of their count, a single Mamba-2 group)."))
    links = LINKS.get(gpu.name, DEFAULT_LINKS)
    link_gbs = state.number("GPU link (GB/s, 0 = catalog)", "slink", 0.0, 0.0, 100_000.0, where=b,
                            help=f"Bus bandwidth of the all-reduces, one direction per GPU. 0 takes the catalog's "
                                 f"{links.intra_bytes_per_s / 1e9:,.0f} GB/s for {gpu.name} ({links.source}).")
    link_bw, link_src = ((link_gbs * 1e9, "set on this page") if link_gbs > 0
                         else (links.intra_bytes_per_s, links.source))

    figures = measured.for_gpu(gpu.name, "smeas", "the datasheet peak and bandwidth")
    use_measured = figures is not None
    flops, flops_src = gpu.peak(compute_dtype), f"{gpu.name} datasheet dense {compute_dtype} peak"
    bw, bw_src = gpu.bandwidth_bytes_per_s, f"{gpu.name} datasheet bandwidth"
    if use_measured:
        if figures["flops_per_s"].get(compute_dtype):
            flops, flops_src = figures["flops_per_s"][compute_dtype], f"measured {compute_dtype} matmul on {figures['device']}"
        else:
            st.warning(f"No {compute_dtype} matmul was measured on {figures['device']}; using the datasheet peak for compute.")
        if figures["bandwidth_bytes_per_s"]:
            bw, bw_src = figures["bandwidth_bytes_per_s"], f"measured copy bandwidth on {figures['device']}"

    if not flops:
        st.error(f"{gpu.name} has no {compute_dtype} matmul peak in the catalog (not supported in hardware); "
                 f"pick another matmul dtype.")
        st.stop()

    try:
        setup = ServingSetup(batch=batch, prompt_tokens=prompt, output_tokens=output, weight_dtype=weight_dtype,
                             kv_dtype=kv_dtype, tp=tp)
        hw = Hardware(flops, bw, source=f"{flops_src}; {bw_src}", link_bytes_per_s=link_bw)
        est, sweep = estimate_and_sweep(spec, setup, hw, max_batch=max(1024, batch))
        fit = max_batch_in_memory(spec, setup, gpu.usable_memory_bytes)
        needed_tp = smallest_tp_that_fits(spec, setup, gpu.usable_memory_bytes, tps)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()

    if use_measured and figures.get("gpu") != gpu.name:
        st.caption(f"The figures were measured on {figures['device']}; memory capacity below is still the sidebar "
                   f"GPU's ({gpu.name}).")
    st.info(f"Compute roof: **{fmt.tflops(flops)}** ({flops_src}). "
            f"Memory roof: **{fmt.significant(bw / 1e9)} GB/s** ({bw_src})."
            + (f" All-reduce link: **{fmt.significant(link_bw / 1e9)} GB/s** ({link_src})." if tp > 1 else ""))

    need = est.memory_bytes
    cap = gpu.usable_memory_bytes
    state_note = (f" + recurrent state {fmt.size(est.state_stored_bytes)}" if est.state_stored_bytes else "")
    on = f"one {gpu.name}" if tp == 1 else f"each of {tp} {gpu.name} GPUs (tensor-parallel)"
    if need > cap:  # no speed for what cannot run
        if needed_tp is not None and needed_tp > tp:
            why = (f"the weights alone ({fmt.size(est.weights_stored_bytes)}) exceed it, so "
                   if est.weights_stored_bytes > cap else "")
            how = (f"{why}it needs **{needed_tp} GPUs** (tensor-parallel degree {needed_tp}, the smallest that fits): "
                   f"set Tensor-parallel GPUs to {needed_tp}")
        elif fit >= 1:
            how = f"at most {fit:,} sequences of {setup.final_context:,} tokens fit (set the batch to {fit:,} or less)"
        elif est.weights_stored_bytes > cap:
            how = (f"the weights alone ({fmt.size(est.weights_stored_bytes)}) exceed it, even split over {max(tps)} GPUs: "
                   "narrower weights or a larger GPU")
        else:
            how = "not even one sequence of this length fits beside the weights: a shorter prompt or output"
        st.error(f"**Does not fit** on {on}: weights {fmt.size(est.weights_stored_bytes)} + KV cache at "
                 f"{setup.final_context:,} tokens {fmt.size(est.kv_stored_bytes)}{state_note} = {fmt.size(need)}, more than its "
                 f"{fmt.size(cap)}; {how}. No speed is shown for a setup that cannot run.")
        st.stop()

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Time to first token", fmt.duration(est.ttft_s),
              help=f"Prefill of {batch} x {prompt} tokens, {est.prefill_bound}-bound: "
                   f"{est.prefill_flops:.3e} FLOPs per GPU / {fmt.tflops(flops)}"
                   + (f", plus {fmt.duration(est.prefill_allreduce_s)} of all-reduces." if tp > 1 else "."))


    def rate(x: float) -> str:
        return f"{x:,.1f}" if x >= 1 else f"{x:.3f}"


    m2.metric("Decode, per sequence (tokens/s)", rate(est.tokens_per_s_per_seq),
              help=f"{est.decode_steps} decode steps in {fmt.duration(est.decode_s)}; {est.decode_bound}-bound"
                   + (f", of which {fmt.duration(est.decode_allreduce_s)} all-reduces over {tp} GPUs." if tp > 1 else "."))
    m3.metric("Decode, whole batch (tokens/s)", rate(est.tokens_per_s_total), help="batch x per-sequence rate.")
    m4.metric("Request latency", fmt.duration(est.end_to_end_s), help="Time to first token + all decode steps.")
    st.caption(f"Per GPU{f' (of {tp})' if tp > 1 else ''}: weights {fmt.size(est.weights_stored_bytes)} + KV cache at "
               f"{setup.final_context:,} tokens "
               f"{fmt.size(est.kv_stored_bytes)}{state_note} = {fmt.size(need)} of {gpu.name}'s {fmt.size(cap)}. At most "
               f"{fit:,} sequences of this length fit (weights + KV{' + state' if state_note else ''} only).")

    results.publish("speed", {
        "time to first token": (est.ttft_s, "seconds"), "decode tokens/s per sequence": (est.tokens_per_s_per_seq, "number"),
        "decode tokens/s whole batch": (est.tokens_per_s_total, "number"), "request latency": (est.end_to_end_s, "seconds"),
        "memory (weights + KV)": (need, "bytes"), "largest batch that fits": (fit, "number"),
        "tensor-parallel GPUs": (tp, "number")})

    if sweep.compute_bound_from is None:
        st.caption(f"Decode stays memory-bound up to batch {int(sweep.batch[-1]):,}: once the shared weight reads are "
                   f"amortized, every sequence still reads its own KV cache each step, so throughput flattens toward "
                   f"bandwidth / KV bytes per sequence instead of reaching the compute roof (shorter contexts, GQA/MLA or "
                   f"an fp8 KV cache move it).")
    else:
        st.caption(f"Decode becomes compute-bound from batch {sweep.compute_bound_from:,}: beyond it, more sequences "
                   f"add FLOPs faster than the shared weight reads save time.")
    title = (f"Decode throughput against batch<br><sup>{text.html(spec.name)} on {f'{tp} x ' if tp > 1 else ''}"
             f"{text.html(gpu.name)}</sup>")
    # written as Plotly's dicts (ui/figures_spec.py): both change with nearly every input, and go.Figure's validation
    # was half of this page's rerun (issue 18)
    charts.show(st, tokens_vs_batch(sweep, batch, fit, title), width="stretch")
    charts.show(st, step_time_vs_batch(sweep, est.decode_steps, batch, fit), width="stretch")

    with st.expander("Formulas, assumptions and the numbers behind them", key="s_xf", on_change="rerun") as ex:
        if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
            st.markdown(rf"""
        **Roofline** (Williams et al. 2009; Pope et al. 2022): a step takes at least
        $\max(\text{{FLOPs}}/F,\ \text{{bytes}}/B)$ with $F$ = {flops / 1e12:,.3f} TFLOPS and $B$ = {bw / 1e9:,.1f} GB/s.

        **Prefill** (time to first token): FLOPs $= b\,[2 N_{{matmul}} p + \text{{attention}} + 2 V h]$ with the causal
        half of attention, $2 \cdot heads \cdot (d_{{qk}}+d_v)$ per position per layer (FlashAttention skips masked blocks),
        logits of the last position only: **{est.prefill_flops:.3e} FLOPs** and {fmt.size(est.prefill_bytes)} of weights read
        and KV written, so {est.prefill_bound}-bound: {fmt.duration(est.prefill_s)}.

        **Decode step** at context $c$: reads the weights once for the batch
        (**{fmt.size(est.weights_read_per_step_bytes)}**: all weights except the embedding table, of which only the
        looked-up rows are read; for MoE the expected distinct experts $E(1-(1-k/E)^b)$ of a step with $b$ tokens) plus the
        KV cache of every sequence (**{fmt.size(est.kv_read_first_step_bytes)}** at the first step,
        **{fmt.size(est.kv_read_last_step_bytes)}** at the last). FLOPs $= b\,[2 N_{{matmul}} + 2 V h +$ attention over $c$].
        Each step's time is the larger of its two roofs; the output's {est.decode_steps} steps sum to
        {fmt.duration(est.decode_s)} (memory roof alone {fmt.duration(est.decode_memory_s)}, compute roof alone
        {fmt.duration(est.decode_compute_s)}).

        **Throughput vs batch**: the weights are read once per step whatever the batch, so tokens/s grows almost linearly
        with $b$ while memory-bound, then flattens when FLOPs catch up
        ({f"from batch {sweep.compute_bound_from}" if sweep.compute_bound_from else "not within 1,024 here"}); KV reads grow
        with $b$ too. Memory caps the batch at {fit:,} here (weights + KV cache on {gpu.name}; activations, CUDA context and
        fragmentation not counted).

        **Tensor parallelism** ({tp} GPU{'s' if tp > 1 else ''}): weights, FLOPs and KV heads split over the GPUs (figures
        above are per GPU); each layer adds two ring all-reduces of $b \cdot h \cdot 2$ B per decode step, each moving
        $2(tp-1)/tp$ of it at the link's bus bandwidth (nccl-tests `doc/PERFORMANCE.md`), here
        {fmt.significant(link_bw / 1e9)} GB/s ({link_src}): {fmt.duration(est.decode_allreduce_s)} of the decode.

        Not counted: kernel launch and scheduling overheads, sampling, all-reduce latency, quantization scales, activation
        traffic. Datasheet figures are peaks no real kernel reaches; measured figures (Benchmark page) are closer. Sources:
        `calc/speed.py` docstrings.
        """)


page_body.run(_page, "speed")
