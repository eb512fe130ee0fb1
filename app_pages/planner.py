"""Cluster planner: the fastest parallel layouts (tp, pp, dp, cp, ep, vpp, micro-batch, recompute, ZeRO) of a
training run on a cluster, with the step time broken down and MFU derived (calc/plan.py), and the published runs
it is checked against (calc/plan_runs.py)."""

from dataclasses import replace

import streamlit as st

from calc.compute import flops_per_token
from calc.plan import LINKS, RECOMPUTE, STACKS, Cluster, Job, batch_dp_note, plan_dict
from calc.plan_runs import runs_table
from ui import charts, measured, memo, page_body, pickers, results, state, tables, text
from ui import format as fmt
from ui.figures_planner import step_bars

st.title("Cluster planner")
st.caption("The fastest way to lay a training run out on a cluster: every valid combination of tensor, pipeline, "
           "context, expert and data parallelism, micro-batch, recompute and ZeRO stage that fits in memory, ranked "
           "by the time of one iteration, with MFU derived from the layout instead of typed in.")


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    spec, gpu = pickers.current_model(), pickers.current_gpu()
    links = LINKS.get(gpu.name)
    # two horizontal containers instead of three columns: two blocks sent instead of four (issue 18); the cost and
    # display inputs share the second row
    row1, row2 = st.container(horizontal=True, vertical_alignment="bottom"), st.container(horizontal=True)
    gpus = int(state.number("GPUs", "plgpus", 64, 1, 1_000_000, step=1, where=row1, help="GPUs in the job."))
    seq = int(state.number("Sequence length", "plseq", 4096, 128, 10_000_000, step=1, where=row1, help="Tokens per sequence."))
    batch_m = float(state.number("Global batch (million tokens)", "plgbt", 4.194304, 0.001, 1_000.0, where=row1,
                                 help="Tokens per iteration, rounded to whole sequences (the default, 4.19: 2^22 "
                                      "tokens, 1,024 sequences of 4,096, which data parallelism over 64 GPUs divides)."))
    tokens_t = float(state.number("Training tokens (trillions)", "pltok", 1.0, 0.0, 1_000.0, where=row2,
                                  help="For days and cost; 0: none."))
    price = float(state.number("USD per GPU-hour", "plprice", 2.0, 0.0, 10_000.0, where=row2, help="For the cost."))
    stack_name = state.select("Training stack", "plstack", ("any",) + tuple(STACKS), "any", where=row2,
                              help="Search only what a published run's software supported (e.g. no pipeline parallelism "
                                   "in metaseq, no selective recompute or FlashAttention in BLOOM's 2022 stack); its memory "
                                   "then counts activations without sequence parallelism / FlashAttention where it lacked "
                                   "them.")

    def node_precision_top(where) -> tuple[int, str, int]:
        per_node = int(state.number("GPUs per node", "plnode", 8, 1, 1024, step=1, where=where,
                                    help="GPUs joined by the intra-node link (NVLink/NVSwitch); tensor parallelism stays "
                                         "inside."))
        precision = state.select("Matmul precision", "plprec", ("bf16", "fp8"), "bf16", where=where,
                                 help="Whose dense peak the matmuls run at.")
        top = int(state.number("Layouts to show", "pltop", 8, 1, 50, step=1, where=where, help="The fastest that fit."))
        return per_node, precision, top

    # lazy (issue 18): the node size, the precision, the layouts shown and the twelve link and pin inputs are drawn
    # only while the expander is open; closed, they keep their values and link parameters (``ui.state.UNDRAWN``), the
    # search reads them as before, and the label names the first three's values (read first, without drawing)
    per_node, precision, top = node_precision_top(state.UNDRAWN)
    box = st.expander(f"{per_node} GPUs per node, {precision} matmuls, {top} layouts shown; links and pinned knobs",
                      key="pl_xlinks", on_change="rerun")
    with box:
        if box.open:
            per_node, precision, top = node_precision_top(st.container(horizontal=True, key="pl_more"))
        d, e, f = st.columns(3) if box.open else [state.UNDRAWN] * 3
        intra = float(state.number("Intra-node GB/s per GPU (0: catalog)", "plintra", 0.0, 0.0, 100_000.0, where=d,
                                   help="Bus bandwidth inside a node, one direction. "
                                        + (f"Catalog: {links.intra_bytes_per_s / 1e9:g} GB/s ({links.source})." if links
                                           else "No catalog row for this GPU: PCIe Gen4 assumed.")))
        inter = float(state.number("Inter-node GB/s per GPU (0: catalog)", "plinter", 0.0, 0.0, 100_000.0, where=d,
                                   help="Network bandwidth per GPU across nodes (InfiniBand/RoCE). "
                                        + (f"Catalog: {links.inter_bytes_per_s / 1e9:g} GB/s." if links else "")))
        measured_links = state.toggle("Intra-node link as NCCL measures it", "plmlink", False, where=d,
                                      help="Off: the datasheet NVLink rate, which the efficiency curve was fitted "
                                           "with. On: the ring bus bandwidth nccl-tests reach, where published "
                                           "(A100 235 of 300 GB/s, H100 370 of 450, H200 368 of 450; "
                                           "calc.plan.MEASURED_INTRA cites each). A typed intra-node rate wins.")
        pins = {}
        for key, label, where in (("tp", "Pin tp (0: search)", e), ("pp", "Pin pp (0: search)", e),
                                  ("cp", "Pin cp (0: search)", e), ("dp", "Pin dp (0: search)", e),
                                  ("ep", "Pin ep (0: search)", f), ("vpp", "Pin vpp (0: search)", f),
                                  ("micro_batch", "Pin micro-batch (0: search)", f)):
            v = int(state.number(label, "pl" + key.replace("_", "")[:5], 0, 0, 100_000, step=1, where=where,
                                 help=f"Fix {key} and search the rest."))
            if v:
                pins[key] = v
        rc = state.select("Pin recompute", "plrc", ("search",) + RECOMPUTE, "search", where=f, help="Activation recompute.")
        if rc != "search":
            pins["recompute"] = rc
        zero = state.select("Pin ZeRO stage", "plzero", ("search", "0", "1", "2", "3"), "search", where=f,
                            help="ZeRO / distributed-optimizer stage over the data-parallel ranks.")
        if zero != "search":
            pins["zero"] = int(zero)
    stack = STACKS.get(stack_name)
    if stack:
        st.caption(f"Stack {stack_name}: {stack.source}.")
    meas_ar = measured.allreduce_for_gpu(gpu.name, "plmar")
    if meas_ar:
        intra = meas_ar["busbw_bytes_per_s"] / 1e9
    meas_mm = measured.for_gpu(gpu.name, "plmm", "the matmul efficiency curve e(h/t) (measured best matmul / dense peak)")
    mm_rate = (meas_mm or {}).get("flops_per_s", {}).get(precision)
    eff = None
    if mm_rate and gpu.peak(precision):
        eff = min(mm_rate / gpu.peak(precision), 1.0)
        st.caption(f"Matmul efficiency {eff:.1%}: the {precision} matmul measured on {text.md(meas_mm['device'])}, "
                   "instead of the curve fitted on Megatron's runs.")

    sequences = max(round(batch_m * 1e6 / seq), 1)
    note = batch_dp_note(sequences, gpus, seq)  # an awkward sequence count caps dp: said beside what it shaped
    try:
        # the price and the training tokens are left out of the search's cluster and job (they size days and cost
        # only, in plan_dict): a change of either finds the search kept (ui.memo, issue 18)
        cluster = Cluster(gpu, gpus, per_node, intra * 1e9 or None, inter * 1e9 or None,
                          measured_links=measured_links)
        job = Job(seq, sequences * seq, precision, tokens_t * 1e12 or None, eff)
        searched = replace(job, tokens=None)
        # at least the default 8 searched and the first ``top`` shown: the top k of a search are the first k of its
        # top 8 (it visits layouts in one order and stops once enough fit), so fewer layouts asked for find the
        # search kept (tests/test_plan_columns.py)
        wide = max(top, 8)
        try:
            plans = memo.plan_search(spec, cluster, searched, pins, wide, stack=stack)[:top]
        except ValueError as exc:
            if not str(exc).startswith("no layout fits"):
                raise
            plans = memo.plan_search(spec, cluster, searched, pins, wide, require_fit=False, stack=stack)[:top]
            # the search's sentence says how much the leanest layout needs against the card's usable memory
            st.warning(f"{text.md(str(exc)[0].upper() + str(exc)[1:], 1000)} (by the Training memory page's "
                       "estimate). The fastest are shown anyway, with the memory they would need (a published run "
                       "that did fit means the estimate is high for its stack).")
        rows = [plan_dict(p, job, price) for p in plans]
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        if note:
            st.info(note)
        st.stop()

    if note:
        st.info(note)
    best = rows[0]
    # one horizontal container instead of four columns: one block sent instead of five (issue 18)
    m1 = m2 = m3 = m4 = st.container(horizontal=True)
    m1.metric("Best step time", fmt.duration(best["step_s"]),
              help=f"tp {best['tp']} pp {best['pp']} cp {best['cp']} ep {best['ep']} dp {best['dp']}, vpp {best['vpp']}, "
                   f"micro-batch {best['micro_batch']}, {best['recompute']} recompute, ZeRO-{best['zero']}")
    # MFU counts every query against all s keys (PaLM App. B; torchtitan's get_num_flop_per_token: "we follow the
    # convention and do not account for sparsity in causal attention"); a causal mask
    # does half the score products, which at long context are most of the work: say what a causal count gives
    full, causal = (flops_per_token(spec, seq, causal=c).model_training for c in (False, True))
    mfu_causal = best["mfu"] * causal / full
    m2.metric("MFU", f"{best['mfu']:.1%}", help=f"HFU (with recompute) {best['hfu']:.1%}. Model FLOPs count every "
              f"query against all {seq:,} keys (PaLM, Chowdhery et al. 2022 App. B); counting the causal half of the "
              f"attention scores only: {mfu_causal:.1%}.")
    m3.metric("Tokens/s", f"{best['tokens_per_s']:,.0f}", help=f"{best['model_tflops_per_gpu']:.0f} model TFLOP/s per GPU.")
    if "days" in best:
        m4.metric("Days", f"{best['days']:,.1f}", help=f"{best['cost_usd']:,.0f} USD at {price:g} USD/GPU-hour.")

    if mfu_causal < 0.9 * best["mfu"]:
        st.caption(f"MFU counts every query against all {seq:,} keys, as PaLM (Chowdhery et al. 2022 App. B) and "
                   f"torchtitan count it; the causal mask skips half of that attention work, "
                   f"{1 - causal / full:.0%} of the model FLOPs counted at this length: counting only what the mask "
                   f"keeps, MFU is {mfu_causal:.1%}.")
    table = [{"tp": r["tp"], "pp": r["pp"], "cp": r["cp"], "ep": r["ep"], "dp": r["dp"], "vpp": r["vpp"],
              "micro-batch": r["micro_batch"], "recompute": r["recompute"], "ZeRO": r["zero"],
              "memory/GPU": fmt.size(r["memory_per_gpu_bytes"]), "step s": round(r["step_s"], 4),
              "MFU %": round(r["mfu"] * 100, 1), "HFU %": round(r["hfu"] * 100, 1),
              "TFLOP/s/GPU": round(r["model_tflops_per_gpu"], 1), "tokens/s": round(r["tokens_per_s"]),
              **({"days": round(r["days"], 2), "cost USD": round(r["cost_usd"])} if "days" in r else {})} for r in rows]
    # records: Streamlit hides their index; they change with nearly every input, so straight to Arrow with the schema
    # Streamlit's pandas conversion gives (ui/tables.py records_arrow, issue 18)
    st.dataframe(tables.records_arrow(table), hide_index=True, width="stretch")
    labels = [f"#{i + 1} tp{r['tp']} pp{r['pp']} cp{r['cp']} dp{r['dp']} v{r['vpp']} mb{r['micro_batch']} "
              f"{r['recompute'][:3]} z{r['zero']}" for i, r in enumerate(rows)]
    # written as Plotly's dict (ui/figures_spec.py): it changes with nearly every input, and go.Figure's validation
    # was a fifth of a rerun (issue 18)
    charts.show(st, charts.FrozenFigure.from_dict(step_bars(
        labels, [r["breakdown"] for r in rows],
        f"{text.html(spec.name)} on {gpus:,} x {text.html(gpu.name)}: time of one iteration")), width="stretch")

    results.publish("planner", {"best step time": (best["step_s"], "seconds"), "MFU": (best["mfu"], "number"),
                                "tokens/s": (best["tokens_per_s"], "number"),
                                "model TFLOP/s per GPU": (best["model_tflops_per_gpu"], "number")})


page_body.run(_page, "planner")

# constant: below the page's fragment, so a change of the page's inputs does not send them again (issue 18)
st.subheader("Reported runs: prediction against publication")
st.dataframe(tables.arrow("planner.runs_table", lambda: [  # constant: computed once per process
    {**r, "predicted": round(r["predicted"], 3), "error %": round(r["error %"], 1)} for r in runs_table()]),
             hide_index=True, width="stretch")
_long = next((r for r in memo.cached("planner.runs_rows", runs_table) if r["run"].endswith("seq 131,072")), None)
st.caption("Each run's published layout pinned (calc/plan_runs.py; tests/test_plan.py asserts the held-out rows "
           "within 15%). The efficiency curve was fitted on the six 'fit' rows only. Llama 3's interleaving degree "
           "v = 8 follows from its sec. 3.3.2 (one layer per chunk, the first and last chunks holding only the "
           "embedding and the head)" + (
               f"; its 131k-token row reads {_long['error %']:+.0f}%: the paper names no attention kernel, and the "
               "planner runs the causal attention, most of the work at that length, at FlashAttention-2's measured "
               "H100 rate (tests/test_plan.py lists what else was checked)." if _long else "."))

with st.expander("Formulas, assumptions and sources", key="pl_xf", on_change="rerun") as ex:
    if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
        st.markdown(r"""
    **Step time** = compute + exposed tensor/context/expert-parallel communication + pipeline sends + bubble + exposed
    data-parallel communication + optimizer step.
    - Compute: the FLOPs a GPU executes (model FLOPs $\times$ 3 for training, plus the recomputed forward) / (dense peak
      $\times\ e$), $e(x) = c\,E\,x/(x + X)$ with $x = (h/t)$ / the GPU's ridge point (peak FLOP/s / HBM bytes/s: 153
      for an A100, 295 for an H100 in bf16), $c$ the GPU's measured maximum achievable matmul over its peak (Bekman,
      ml-engineering, MAMF table: A100 SXM 0.87, H100 SXM 0.80), $E$ and $X$ fitted on Narayanan et al. 2021 Table 1
      (39B-1T) with the memory-bound term below.
    - Memory-bound work between the matmuls, sized from the model and the training stack: norms, residual adds and
      dropout masks ($h$ wide, split over $t$ only with sequence parallelism), the activation function ($f/t$ wide)
      and, without FlashAttention, the $s \times s$ softmax (and its dropout) per head; backward twice the forward's
      bytes, recompute re-runs its share; at 80% of the HBM bandwidth.
    - Tensor parallel with sequence parallelism: 4 all-gathers/reduce-scatters of the $b s h$ activation per layer
      forward and 4 backward (+4 with full recompute), not overlapped.
    - Bubble: $(p - 1)/(m v)$ of the pipelined time (Narayanan et al. 2021 sec. 2.2.2).
    - Data parallel: gradients reduce-scattered and parameters all-gathered, hidden behind one micro-batch's
      backward / forward where they fit; ZeRO-3 re-gathers parameters every micro-batch.
    - Collectives at nccl-tests bus bandwidth: $(n-1)/n \times S$ per all-gather/reduce-scatter/all-to-all,
      $2(n-1)/n \times S$ per all-reduce (NVIDIA/nccl-tests doc/PERFORMANCE.md).
    - Memory: the Training memory page's model for the layout (context parallelism as a sequence of $s/c$ per GPU).

    Not modelled: latency of small messages, network congestion, stragglers, kernel efficiency at long context,
    context-parallel load imbalance, and the matmul efficiency's dependence on the tokens one GPU multiplies at a time:
    $e$ follows $h/t$ only, so context parallelism on a short sequence (cp 8 at 4,096 tokens: 512-token GEMMs) and
    mixture-of-experts layers without expert parallelism (a few dozen tokens per expert) cost what full-size matmuls
    cost, and the search can prefer them for that reason alone (Megatron Core's parallelism guide recommends context
    parallelism for sequences of 8K tokens and more). Interleaving holds $1 + (p-1)/(p v)$ times the activations (Korthikanti et al.
    2022 sec. 4.2.3).
    """)

