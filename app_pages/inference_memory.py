"""Inference memory: weights in any format, KV cache (GQA, MLA, sliding windows), workspace, and the verdict."""

import numpy as np
import pandas as pd
import streamlit as st

from calc import units
from calc.dtypes import dtype_bits
from calc.kvcache import kind_rows, kv_cache_bytes, state_elements_per_sequence
from calc.memory import (
    KV_DTYPES,
    STATE_DTYPES,
    WEIGHT_DTYPES,
    InferenceSetup,
    TrainingSetup,
    breakdown_grid,
    inference_memory,
    training_memory,
    weights_bytes,
)
from calc.models import ModelSpec
from calc.scaling_precision import ptq_cost
from calc.solvers import MAX_TP, best_weight_dtype, fewest_gpus, max_batch, max_context, remedies
from calc.units import GB, GIB
from ui import charts, memo, page_body, pickers, results, state, tables, text, verdict
from ui import format as fmt
from ui.defaults import INFERENCE as D
from ui.figures_memory import LABELS, breakdown_bar_spec, sweep_area_spec
from ui.hub_model import AS_PUBLISHED
from ui.ptq_cost import paper_params as ptq_params

try:  # GGUF file types come from the quantization module when it is there
    from calc.gguf import FILE_TYPES as GGUF_TYPES
except ImportError:  # pragma: no cover - the GGUF module is optional for this page
    GGUF_TYPES = ()

st.title("Inference memory")
st.caption("What a serving GPU holds: the weights in the chosen format, the KV cache of every sequence (GQA, MLA "
           "and sliding windows as the architecture says), one step's activations and the CUDA/framework overhead.")


def _sweep_points(lo: int, hi: int) -> np.ndarray:
    """60 points from ``lo`` to ``hi`` spaced evenly on a log axis, as whole numbers; kept per range across reruns
    (``ui.memo``: the page's script is run anew on a full rerun), read-only as it is shared."""
    def make() -> np.ndarray:
        pts = np.unique(np.geomspace(lo, hi, 60).astype(int))
        pts.flags.writeable = False
        return pts
    return memo.cached(("inference_memory.sweep_points", lo, hi), make)


def _kind_rows(model: ModelSpec, *args) -> tuple[dict, ...]:
    """``calc.kvcache.kind_rows`` per model and formats, kept across reruns (asked twice per rerun, 35-50 us each)."""
    return memo.cached(("inference_memory.kind_rows", model, args), lambda: tuple(kind_rows(model, *args)))


def _solve(model: ModelSpec | int, setup: InferenceSetup, cap: int) -> tuple:
    """The solvers' answers for a setup and a capacity: the fewest GPUs' layout, the remedies, and (an architecture
    only) the largest batch, the longest context and the widest weight format that fit. Pure: kept per input
    across reruns (``ui.memo``; about 1.4 ms of calc.solvers a rerun, asked again when an input comes back: a value
    put back, a toggle flipped twice; issue 18)."""
    def solve() -> tuple:
        layout = fewest_gpus(model, setup, cap)
        fixes = tuple(remedies(model, setup, cap, layout))
        if not isinstance(model, ModelSpec):
            return layout, fixes, None, None, None
        return (layout, fixes, max_batch(model, setup, cap), max_context(model, setup, cap, limit=1 << 26),
                best_weight_dtype(model, setup, cap))
    return memo.cached(("inference_memory.solve", model, setup, cap), solve)


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    gpu = pickers.current_gpu()
    model = pickers.model_or_parameter_count(
        "im", "The sidebar model, or a parameter count only (weights only: the rules of thumb, 7B in fp16 = 14 GB).",
        "Total parameters; the KV cache needs an architecture and is not computed.",
        lambda m: f"{m.num_layers} layers: " + "; ".join(f"{r['layers']} {r['mixer']}" for r in _kind_rows(m)) + ".")

    c1, c2, c3 = st.columns(3)
    ckpt = pickers.current_checkpoint() if isinstance(model, ModelSpec) else None  # loaded by its Hub id
    formats = ([AS_PUBLISHED] if ckpt else []) + list(WEIGHT_DTYPES) + (
        [t for t in GGUF_TYPES if t not in ("F32", "F16", "BF16")] if isinstance(model, ModelSpec) else [])
    weights_dtype = state.select("Weight format", "im_w", formats, AS_PUBLISHED if ckpt else D["im_w"], where=c1,
                                 help="fp32/fp16/bf16 for every weight; fp8/int8/int4/nf4 for the decoder matrices "
                                      "(with their scales; embeddings, head and norms stay bf16); or a GGUF file type "
                                      "(llama.cpp's per-tensor mix). 'as published' (a model loaded by its Hugging Face "
                                      "id): the checkpoint's own bytes, from its safetensors headers.")
    published = weights_dtype == AS_PUBLISHED
    kv_dtype = state.select("KV-cache format", "im_kv", KV_DTYPES, D["im_kv"], where=c1,
                            help="Cache element format (fp8/int8/int4 KV caches in vLLM, TensorRT-LLM, llama.cpp).")
    state_dtype = "fp32"
    if isinstance(model, ModelSpec) and any(state_elements_per_sequence(model)):  # hybrids only: Mamba / DeltaNet layers
        state_dtype = state.select("Recurrent-state format", "im_st", STATE_DTYPES, "fp32", where=c3,
                                   help="The SSM / DeltaNet state of the recurrent layers: fp32 in transformers and "
                                        "llama.cpp; vLLM's --mamba-ssm-cache-dtype can lower it. The conv state "
                                        "stays bf16.")
    batch = int(state.number("Batch (concurrent sequences)", "im_b", D["im_b"], 1, 1_000_000, step=1, where=c2,
                             help="Sequences whose caches are resident at once."))
    context = int(state.number("Context length (tokens)", "im_ctx", D["im_ctx"], 1, 100_000_000, step=1024, where=c2,
                               help="Prompt + generated tokens per sequence."))
    tp = int(state.number("Tensor-parallel GPUs", "im_tp", D["im_tp"], 1, 1024, step=1, where=c3,
                          help="Weights and KV heads split over this many GPUs (KV heads replicate beyond their count)."))
    # Lazy (issue 18): the two assumptions below are drawn only while their expander is open; closed, they keep
    # their values and link parameters (``ui.state.UNDRAWN``) and every number below uses them as before.
    box = st.expander("Overhead per GPU and prefill tokens per step", key="im_xovh", on_change="rerun")
    o1, o2 = box.columns(2) if box.open else [state.UNDRAWN] * 2
    overhead_gib = state.number("Overhead per GPU (GiB)", "im_ovh", 1.0, 0.0, 1024.0, step=0.25, fmt="%.2f", where=o1,
                                help="CUDA context, workspaces, allocator fragmentation: an explicit assumption.")
    chunk = int(state.number("Prefill tokens per step", "im_chunk", 8192, 1, 10_000_000, step=1024, where=o2,
                             help="Tokens one forward step processes (a chunked-prefill budget); sizes the workspace."))

    try:
        setup = InferenceSetup(weights_dtype="bf16" if published else weights_dtype, kv_dtype=kv_dtype, batch=batch,
                               context=context, tp=tp, overhead_bytes=int(round(overhead_gib * GIB)),
                               prefill_chunk_tokens=chunk, checkpoint_bytes=ckpt.bytes if published else None,
                               state_dtype=state_dtype)
        b = inference_memory(model, setup)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()

    cap = gpu.usable_memory_bytes
    layout, fixes, mb, mc, bd = _solve(model, setup, cap)
    verdict.show_fit(gpu.name, b.total, cap, fixes, b.warnings)
    # two rows of metrics, each one horizontal container: 2-3 layout blocks instead of the 5-6 of columns (issue 18)
    m1 = m2 = m3 = m4 = st.container(horizontal=True)
    solvers_row = st.container(horizontal=True) if isinstance(model, ModelSpec) else None  # made here: above the captions
    m1.metric("Total per GPU", fmt.size(b.total), help=f"{b.total:,} bytes")
    m2.metric("Weights per GPU", fmt.size(b.weights), help=f"{b.weights:,} bytes")
    m3.metric("KV cache per GPU", fmt.size(b.kv_cache), help=f"{b.kv_cache:,} bytes")
    if not published and setup.weights_dtype in WEIGHT_DTYPES and dtype_bits(setup.weights_dtype) < 16:
        # the paper's N is non-embedding (sec. 2.3); a bare parameter count cannot be split, so it is taken whole
        n_total = ptq_params(model) if isinstance(model, ModelSpec) else model
        ptq_d = state.number("Training tokens assumed for the loss cost (trillions)", "im_ptqd", 15.0, 0.001, 1000.0,
                             fmt="%.3f", help="Tokens the model was pretrained on (default Llama 3's 15T): the loss that "
                                              "quantization costs grows with them (Kumar et al. 2024, eq. 2).")
        pc = ptq_cost(n_total, ptq_d * 1e12, dtype_bits(setup.weights_dtype))
        st.caption(f"Predicted loss cost of {setup.weights_dtype} weights ({pc.bits:g} bits) against bf16: "
                   f"+{pc.degradation:.4f} nats ({pc.relative:.2%} of the bf16 model's predicted loss) for "
                   f"{fmt.count(n_total)} {'non-embedding ' if isinstance(model, ModelSpec) else ''}params trained on {fmt.count(pc.tokens)} tokens (an assumption, set above). "
                   "Kumar et al. 2024, 'Scaling Laws for Precision', sec. 3.1 eq. 2 with App. K Table 2's constants, "
                   "fitted on 30M-220M models (Dolma, integer GPTQ): read it as a trend, not a number.")
    if isinstance(model, ModelSpec):
        per_token = kv_cache_bytes(model, 1, 1, kv_dtype, mla_compressed=setup.mla_compressed)
        m4.metric("KV per token (all layers)", units.format_bytes(per_token, "auto-" + fmt.unit()),
                  help=f"{per_token:,} bytes: every attention layer's cache for one token, before sliding windows and "
                       "attention chunks cap it; whole model, not per GPU.")
    if b.recurrent_state:
        m4.metric("Recurrent state per GPU", fmt.size(b.recurrent_state),
                     help=f"{b.recurrent_state:,} bytes: the Mamba / linear-attention layers' conv and recurrent state "
                          f"of {batch:,} sequences. Fixed: it does not grow with the context.")

    if isinstance(model, ModelSpec):
        s1 = s2 = s4 = solvers_row
        gguf_weights = setup.weights_dtype not in WEIGHT_DTYPES
        s1.metric("Largest batch that fits", "none" if mb is None else f"{mb:,}", help=f"At context {context:,}.")
        s2.metric("Longest context that fits", "none" if mc is None else f"{mc:,}" + ("+" if mc == 1 << 26 else ""),
                  help=f"At batch {batch}; the model was trained for {model.max_position_embeddings:,} positions.")
        ng, how = verdict.layout_text(layout, 1 if gguf_weights else MAX_TP)
        s3 = solvers_row.container()  # the metric with its layout caption below it
        s3.metric("Fewest GPUs that fit", ng, help=f"Smallest tensor-parallel degree (up to {MAX_TP}, one node) that "
                  "divides the heads, and the KV heads unless it is a multiple of them (vLLM's rule), whose per-GPU memory "
                  "fits. GGUF weights run on llama.cpp: one GPU here (it splits layers, not heads).")
        s3.caption(how)
        s4.metric("Widest weight format that fits", bd or "none", help="Among bf16, fp8, int8, int4, nf4 at this tp.")
        if mc is not None and mc > model.max_position_embeddings:
            st.caption(f"Memory allows {mc:,} tokens, but {text.md(model.name)} was trained for "
                       f"{model.max_position_embeddings:,} positions: beyond that, quality is not assured.")

    unit = fmt.unit()
    # The charts change with nearly every input: written as the dicts Plotly would validate them into, not validated
    # again on every rerun (ui/figures_spec.py; go.Figure took about a fifth of this page's rerun, issue 18).
    charts.show(st, charts.FrozenFigure.from_dict(breakdown_bar_spec(
        {k: fmt.size_value(v) for k, v in b.components().items()}, fmt.size_value(cap), unit, gpu.name)), width="stretch")

    if isinstance(model, ModelSpec):
        kinds = _kind_rows(model, kv_dtype, setup.state_dtype, setup.mla_compressed)
        if len(kinds) > 1 or kinds[0]["positions_kept"] is not None or kinds[0]["state_bytes_per_sequence"]:
            st.markdown("**Cache by layer kind** (whole model, one sequence)")
            krows = [{"layers": r["layers"], "token mixer": r["mixer"], "KV bytes per token": r["kv_bytes_per_token"],
                      "positions kept": ("whole context" if r["positions_kept"] is None else
                                         "none (fixed state)" if r["positions_kept"] == 0 else
                                         f"at most {r['positions_kept']:,}"),
                      "state bytes per sequence": r["state_bytes_per_sequence"]} for r in kinds]
            # exact text past int64 (hostile configs); converted once per content (issue 18)
            ktable, kconf = tables.bytes_arrow(("inference_memory.kinds", memo.key_of(krows)), lambda: pd.DataFrame(krows),
                                               "KV bytes per token", "state bytes per sequence")
            st.dataframe(ktable, hide_index=True, width="stretch", column_config=kconf)
        # Sweep to 4x the inputs, capped at what breakdown_grid takes (context 1e8, batch 1e7 for inference).
        ctxs = _sweep_points(256, min(max(4 * context, 32768), 100_000_000))
        batches = _sweep_points(1, min(max(4 * batch, 256), 10_000_000))
        try:
            g_ctx = breakdown_grid(model, setup, [batch], ctxs)
            g_bat = breakdown_grid(model, setup, batches, [context])
        except ValueError as exc:
            st.error(text.md(exc, 1000))
            st.stop()
        left = right = st.container(horizontal=True)  # one block instead of three (issue 18)
        charts.show(left, charts.FrozenFigure.from_dict(sweep_area_spec(
            ctxs, {k: fmt.size_values(g_ctx[k][0]) for k in LABELS}, fmt.size_value(cap), unit, "context length (tokens)",
            context, log_x=True, title=f"Against context length, batch {batch}")), width="stretch")
        charts.show(right, charts.FrozenFigure.from_dict(sweep_area_spec(
            batches, {k: fmt.size_values(g_bat[k][:, 0]) for k in LABELS}, fmt.size_value(cap), unit, "batch (sequences)",
            batch, log_x=True, title=f"Against batch, context {context:,}")), width="stretch")
    else:
        st.info("Parameter count only: the KV cache and activations are **not computed** (they need layers, KV heads "
                "and head size). Pick 'sidebar model' for them, the sweeps and the solvers.")

    # lazy (issue 18): the exact bytes per component and their CSV are drawn only while the expander is open (the
    # metrics and the bar chart above show the same components); closed, neither table nor button is built or sent
    with st.expander("Components in bytes (table and CSV)", key="im_xtab", on_change="rerun") as ex:
        if ex.open:
            rows = [{"component": LABELS[k], "bytes": v, unit: round(fmt.size_value(v), 3)} for k, v in b.components().items()
                    if k not in ("master_weights", "gradients", "optimizer_states") and (v or k != "recurrent_state")]
            rows.append({"component": "Total", "bytes": b.total, unit: round(fmt.size_value(b.total), 3)})
            rows_key = memo.key_of(rows)
            if all(abs(r["bytes"]) <= fmt.INT64_MAX for r in rows):
                # the rows change with nearly every input: Arrow straight from the records (the same table as through
                # pandas, tables.records_arrow), ``fmt.bytes_table``'s column formats (issue 18)
                table = tables.records_arrow(rows)
                config = {"bytes": st.column_config.NumberColumn(format="localized"),
                          unit: st.column_config.NumberColumn(format="%,.3f")}
            else:  # counts past 2**63 - 1 as exact text (Arrow stores int64)
                table, config = tables.bytes_arrow(("inference_memory", rows_key), lambda: pd.DataFrame(rows))
            st.dataframe(table, hide_index=True, width="stretch", column_config=config)
            # the CSV made when the button is clicked (Streamlit calls a callable ``data`` then), not on every rerun
            st.download_button("Download CSV", lambda: memo.cached(("inference_memory.csv", rows_key),
                                                                   lambda: fmt.csv(pd.DataFrame(rows))),
                               file_name="inference_memory.csv", mime="text/csv")
    if b.notes:  # one element for all of them (issue 18): a Markdown list in one caption
        st.caption("\n".join(f"- {text.md(note, 1000)}" for note in b.notes))

    results.publish("inference-memory", {"total per GPU": (b.total, "bytes"), "weights": (b.weights, "bytes"),
                                         "KV cache": (b.kv_cache, "bytes"), "activations": (b.activations, "bytes"),
                                         **({"recurrent state": (b.recurrent_state, "bytes")} if b.recurrent_state else {})})

    with st.expander("Rules of thumb, computed", key="im_xr", on_change="rerun") as ex:
        if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
            thumb = []
            for n in (1e9, 7e9, 13e9, 65e9):
                p = int(n)
                fp32 = weights_bytes(p, "fp32")
                train = training_memory(p, TrainingSetup(precision="fp32", overhead_bytes=0)).total
                thumb.append({"parameters": f"{n / 1e9:g}B", "fp32 weights (GB)": fp32 / GB, "fp32 weights (GiB)": fp32 / GIB,
                              "fp16 weights (GB)": weights_bytes(p, "fp16") / GB,
                              "fp32 AdamW training, model states (GB)": train / GB, "training / fp32 weights": train / fp32})
            st.dataframe(pd.DataFrame(thumb), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%,.2f") for c in thumb[0] if c != "parameters"})
            st.caption("From `weights_bytes` (params x bits / 8) and `training_memory` (fp32 weights 4 + gradients 4 + AdamW "
                       "8 bytes per parameter), without overhead. Enter any of these counts in 'parameter count only' above.")

    with st.expander("Formulas, assumptions and the numbers behind them", key="im_xf", on_change="rerun") as ex:
        if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
            st.markdown(rf"""
        **Weights**: parameters x bits / 8 per format (Number formats page). Quantized formats add their scales: nf4
        (bitsandbytes, block 64, double quantization) 0.127 bit/weight, int4 (GPTQ/AWQ group 128: fp16 scale + 4-bit zero)
        0.156 bit/weight, and keep embeddings, output head and norms in bf16. GGUF types use llama.cpp's per-tensor rules.
        Split by tp = {tp} (norms replicated).

        **KV cache** (Pope et al. 2022): $2 \cdot L \cdot n_{{kv}} \cdot d_{{head}} \cdot c \cdot b$ x bytes per element
        ({kv_dtype}); MLA (DeepSeek-V2/V3) caches the latent $(r_{{kv}} + d_{{rope}})$ per layer, no factor 2, and every TP
        GPU keeps all of it; sliding-window layers keep at most the window, chunked-attention layers (Llama 4) at most
        the chunk. Summed per layer kind, each with its own KV heads and span (the table above). With tp GPUs each keeps
        $\lceil n_{{kv}} / tp \rceil$ KV heads. The tests hold this to the bytes of a real `transformers` `DynamicCache`
        (Gemma 3, gpt-oss, Llama 4, Cohere2, DeepSeek-V2, Qwen3-Next, Jamba... at contexts beyond the window).

        **Recurrent state** (Mamba, Mamba-2, gated DeltaNet, lightning attention layers): per sequence and layer a conv
        state (channels x kernel, in bf16) and a recurrent state (Mamba $d_{{inner}} \cdot d_{{state}}$, Mamba-2
        heads x head dim x $d_{{state}}$, DeltaNet value heads x $d_k \cdot d_v$) in {setup.state_dtype}, as
        `transformers` keeps them; it does not grow with the context. Split over tp like the heads.

        **Activations**: one forward step's temporaries, an estimate: $n = \min(b c, \text{{prefill tokens}})$ =
        {min(batch * context, chunk):,} tokens x 2 bytes x $(2h + w/tp)$ with $w$ the widest intermediate
        ($q + 2kv + o$ or gate, up and product of the MLP), plus fp32 logits of the last position of each sequence.
        Fused attention assumed (no $s \times s$ matrices at inference).

        **Overhead** {fmt.size(setup.overhead_bytes)}: CUDA context, workspaces, fragmentation (an assumption you set).
        Serving frameworks reserve more on purpose (vLLM takes 90% of the GPU by default and fills the rest of it with
        KV-cache blocks). Capacity {fmt.size(cap)}: what {gpu.name} reports.
        """)


page_body.run(_page, "inference_memory")
