"""Quantization (GGUF): every llama.cpp file type of the sidebar model, tensor by tensor, and what fits."""

import io

import pandas as pd
import streamlit as st

from calc import gguf_run
from calc.gguf import FILE_TYPES, PPL_SOURCE, block_size, quantize_all, type_bits
from calc.gguf_file import ArrayValue, read_gguf, spec_from_gguf
from calc.gguf_run import CACHE_TYPES, RunSetup, run_memory_many
from calc.units import GB, GIB, bytes_in
from ui import charts, hub_model, memo, page_body, pickers, ptq_cost, results, state, tables, text
from ui import format as fmt
from ui.figures_gguf import MAX_MAP_LAYERS, bytes_by_type_dict, run_memory_dict, type_map_dict
from ui.figures_gguf_cache import recent
from ui.figures_gguf_table import WIDE_TEXT_COLUMNS, file_type_rows, text_width
from ui.tables import records_arrow

st.title("Quantization (GGUF)")
st.caption("Which llama.cpp quant of this model fits my GPU at my context? A file type such as Q4_K_M is a mix: "
           "llama-quantize picks a type for every tensor. These sizes apply llama.cpp's own rules tensor by "
           "tensor (src/llama-quant.cpp), so they match real files to the byte, not parameters x nominal bits.")


def lazy_expander(label: str, key: str, body) -> None:
    """An expander whose content ``body()`` runs only while it is open (``on_change="rerun"``: opening it reruns the
    page), so a rerun with it closed neither builds nor sends its tables and text (issue 18)."""
    box = st.expander(label, key=key, on_change="rerun")
    if box.open:
        with box:
            body()


@page_body.fragment  # the chart's toggle reruns the chart only (issue 18)
def memory_chart(key: tuple, runs: dict, capacity: int | None, unit: str, gpu_name: str) -> None:
    """The run memory of every file type as stacked bars. ``key`` names everything ``runs``, ``capacity``, ``unit``
    and ``gpu_name`` come from (the table's key): the figure is kept per key and toggle, by count
    (``ui.figures_gguf_cache``, issue 18)."""
    wide = state.toggle("Chart F32 / F16 / BF16 too", "gwide", False,
                        help="The unquantized types dwarf the others; they are always in the table.")

    def figure() -> charts.FrozenFigure:
        chart_rows = [{"quant": f, "weights": bytes_in(runs[f].weights_bytes, unit),
                       "kv": bytes_in(runs[f].kv_cache_bytes, unit), "compute": bytes_in(runs[f].compute_bytes, unit)}
                      for f in FILE_TYPES if f in runs and (wide or f not in ("F32", "F16", "BF16"))]
        # The figure's dict is written directly (run_memory_dict: what go.Figure(...).to_dict() gives, checked by
        # tests/test_gguf_page.py) and sent as it is: a new context draws it without Plotly validating 99 bars.
        return frozen(run_memory_dict(chart_rows, bytes_in(capacity, unit) if capacity else None, unit, gpu_name))

    charts.show(st, recent(("gguf.chart", *key[1:], wide), figure), width="stretch")


def frozen(fig: dict) -> charts.FrozenFigure:
    """A figure's dict as ``go.Figure(...).to_dict()`` writes it (``ui.figures_gguf``'s ``*_dict`` builders) with
    what ``charts.prepared_dict`` adds to these figures (the toolbar buttons removed; their legends are already
    placed), as the ``FrozenFigure`` that ``charts.show`` sends without building a ``go.Figure``."""
    fig["layout"]["modebar"] = {"remove": list(charts.TOOLBAR_REMOVED)}
    return charts.FrozenFigure.from_dict(fig)


def run_section(spec, gpu, unit: str) -> None:
    """Inputs of the run, every file type's size and memory, what fits, the loss cost of quantizing, the share link
    and the file-type view (which reads the importance matrix chosen here): one fragment (``ui.page_body``), so the
    run inputs rerun this section only, not the sidebar nor the file inspector below (issue 18)."""
    # one horizontal row (one block sent), not four columns (five blocks: the row and each column; issue 18); it wraps
    # where the page is narrow
    a = b = c = d = st.container(horizontal=True)
    context = int(state.number("Context (tokens)", "gctx", 8192, 1, 10_000_000, step=1024, where=a,
                               help="llama.cpp -c: tokens of KV cache per sequence."))
    cache = state.select("KV cache type", "gkv", CACHE_TYPES, "f16", where=b,
                         help="llama.cpp --cache-type-k/-v. q8_0 = 8.5 bits, q4_0 = 4.5 bits per element "
                              "(block bytes x 8 / block size, from the gguf package).")
    parallel = int(state.number("Parallel sequences", "gpar", 1, 1, 1024, step=1, where=c,
                                help="llama-server -np: each sequence gets its own context of KV cache."))
    imatrix = state.select("Importance matrix", "gim", ["auto", "yes", "no"], "auto", where=d,
                           help="Whether the quantizer had an imatrix. auto = only where llama-quantize requires one "
                                "(IQ1/IQ2/IQ3_XXS, Q2_K_S). bartowski and unsloth quants use one; TheBloke's did not. "
                                "It changes a few tensors of IQ3_XXS, IQ4_NL/XS, Q4_0 and Q5_0.")
    flash = state.toggle("Flash attention", "gfa", True, where=d,
                         help="llama.cpp -fa: without it the compute buffer holds heads x context attention scores.")

    try:
        setup = RunSetup(context=context, cache_type=cache, batch=parallel, flash_attn=flash)
        # Memoized per model (ui/memo.py): a context or GPU change does not retype every tensor of 33 file types.
        use_imatrix = {"auto": None, "yes": True, "no": False}[imatrix]
        by_type = memo.quantize_all_cached(spec, use_imatrix)
        # every file type placed on the GPU: the last few kept by count (ui/figures_gguf_cache.py: weighing them
        # in ui.memo cost more than placing them again)
        run_key = (memo.Same(spec), use_imatrix, setup, gpu)
        runs = recent(("gguf.runs", *run_key), lambda: run_memory_many(
            spec, {f: r for f, r in by_type.items() if not isinstance(r, ValueError)}, setup, gpu))
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()
    if not runs:  # no file type applies (an architecture without a GGUF tensor layout here): say why, no traceback
        st.error(text.md(next(iter(by_type.values())), 1000))
        st.stop()

    ok = {f: r for f, r in by_type.items() if not isinstance(r, ValueError)}
    # TQ1_0/TQ2_0 only suit ternary-trained models: never the recommendation
    fitting = [f for f in FILE_TYPES if f in runs and runs[f].fits and not f.startswith("TQ")]
    best = max(fitting, key=lambda f: ok[f].tensor_bytes, default=None)
    any_run = next(iter(runs.values()))
    capacity = any_run.capacity_bytes
    # one horizontal row (one block sent), not four columns (five: the row and each column; issue 18)
    row = st.container(horizontal=True)
    m1 = m2 = m3 = m4 = row
    m1.metric("Largest that fits", best or "none",
              help=f"Biggest file (TQ ternary types aside) whose weights, KV cache and compute buffer all fit on {gpu.name} "
                   f"({fmt.size(capacity)} usable" + (")" if gpu.unified_memory else " after the runtime reserve)"))
    m2.metric("Its file size", fmt.size(ok[best].file_bytes_estimate) if best else "n/a",
              help="Payload (exact) + header estimate, every tensor padded to 32 bytes.")
    m3.metric(f"KV cache ({cache})", fmt.size(any_run.kv_cache_bytes),
              help=f"{parallel} x {context:,} tokens, all layers" + gguf_run.cache_note(spec, cache))
    m4.metric("Compute buffer (est.)", fmt.size(any_run.compute_bytes), help="llama.cpp's graph for a 512-token "
              "micro-batch; it prints the exact 'compute buffer size' when it loads.")

    def table_bundle() -> tuple:
        rows = file_type_rows(by_type, runs, unit)
        return (records_arrow(rows), len(rows),
                {c: text_width(rows, c) for c in WIDE_TEXT_COLUMNS})

    # The table's Arrow form, its row count and its text columns' widths depend on what the placements are keyed by
    # and the unit: built once per argument set and kept by count like them (issue 18), and only those are kept; the
    # CSV is written from the rows when its button is clicked.
    table_key = ("gguf.table", *run_key, unit)
    arrow_table, n_rows, widths = recent(table_key, table_bundle)

    st.subheader(f"{text.md(spec.name)}: all file types at {context:,} tokens on {gpu.name}")
    memory_chart(table_key, runs, capacity, unit, gpu.name)
    # A cell that does not apply (a type this model cannot take) reads "—", never "None".
    st.dataframe(arrow_table, hide_index=True, width="stretch", height=35 * (n_rows + 1) + 3,
                 placeholder="—", column_config={
        **{c: st.column_config.TextColumn(width=w) for c, w in widths.items()},
        "file (GB)": st.column_config.NumberColumn(format="%,.3f"), "file (GiB)": st.column_config.NumberColumn(format="%,.3f"),
        "bits/weight": st.column_config.NumberColumn(format="%.3f"),
        f"run memory ({unit})": st.column_config.NumberColumn(format="%,.2f"),
        "ppl increase": st.column_config.NumberColumn(format="%+.4f", help="Perplexity increase over the 16-bit model "
                                                      "that llama.cpp's quantize tool lists; — where it lists none."),
        "payload bytes": st.column_config.NumberColumn(format="localized")})
    # the CSV is written when the button is clicked (a callable), not on every rerun whose inputs changed the table
    def csv() -> str:
        return fmt.csv(pd.DataFrame(file_type_rows(by_type, runs, unit)))

    st.download_button("Download CSV", lambda: memo.cached(("gguf.csv", *table_key[1:]), csv),
                       file_name=f"gguf_{spec.name}.csv", mime="text/csv")
    st.caption(f"Quality: perplexity increases from {PPL_SOURCE}, measured by llama.cpp on the model named in the "
               "row (not on this model); IQ and TQ types have none listed there.")
    # Issue 19's loss cost of PTQ (its input, a caption and a table of every file type) is detail under the page's
    # answer: a lazy expander (issue 18: a fifth of this section's rerun when drawn open), open when the link names
    # its token count (?gptqd=, which the section writes once shown), so a shared link shows what its sender saw. The
    # default is read once per session (it is part of the expander's identity; see the file-type view below).
    ptq_by_link = st.session_state.setdefault("_gx_ptq_link", "gptqd" in st.query_params)
    ptq_box = st.expander(ptq_cost.TITLE, expanded=ptq_by_link, key="gx_ptq", on_change="rerun")
    if ptq_box.open:
        with ptq_box:
            ptq_cost.section(spec, {f: q.bits_per_weight for f, q in ok.items()}, best)
    q4 = ok.get("Q4_K_M")
    results.publish("quantization", {
        "Q4_K_M file size": (q4.file_bytes_estimate if q4 else None, "bytes"),
        "Q4_K_M memory to run": (runs["Q4_K_M"].total_bytes if "Q4_K_M" in runs else None, "bytes"),
        "largest fitting file type, file size": (ok[best].file_bytes_estimate if best else None, "bytes"),
        "largest fitting file type, bits per weight": (ok[best].bits_per_weight if best else None, "number"),
        "KV cache": (any_run.kv_cache_bytes, "bytes"), "compute buffer (estimate)": (any_run.compute_bytes, "bytes")})

    hub_repo = hub_model.current_hub_model()  # a GGUF repository typed in the sidebar: its real files
    if hub_repo is not None and hub_repo.snapshot.gguf:
        hub_model.gguf_section(hub_repo, setup, gpu)
    # The per-tensor view of one file type is detail under the page's answer (the table above): a lazy expander,
    # open when the link names a file type (?gq=, which the view writes once it is shown), so a shared link shows
    # what its sender saw; closed, a rerun of this section neither builds nor sends its 12 elements (issue 18).
    # The default is read once per session: it is part of the expander's identity, so a default that turned True
    # when the opened view wrote ?gq= would remount the expander.
    opened_by_link = st.session_state.setdefault("_gx_type_link", "gq" in st.query_params)
    box = st.expander("One file type, tensor by tensor", expanded=opened_by_link, key="gx_type", on_change="rerun")
    if box.open:
        with box:
            one_file_type(ok, spec, unit)


# ----- one file type, tensor by tensor -------------------------------------------------------------------
@page_body.fragment  # picking a file type reruns this section only, not the 33-type table above
def one_file_type(ok: dict, spec, unit: str) -> None:
    pick = state.select("File type", "gq", [f for f in FILE_TYPES if f in ok], "Q4_K_M",
                        help="Which type llama-quantize gives every tensor of this model.")
    q = ok[pick]
    st.write(f"**{pick}**: {len(q.tensors)} tensors, payload {q.tensor_bytes:,} B ({fmt.size(q.tensor_bytes)}), "
             f"{q.bits_per_weight:.3f} bits per weight; " + ", ".join(f"{k} x {v}" for k, v in q.tensor_types.items()))
    left, right = st.columns([3, 1])
    # the figures' dicts are written in the form Plotly's validation leaves (ui.figures_gguf), so a file type or
    # imatrix not seen yet draws them without validating a 9 x 32-cell heatmap (6 ms, issue 18)
    charts.show(left, memo.cached(("gguf.type_map", memo.Same(q)), lambda: frozen(type_map_dict(q))), width="stretch")
    if spec.num_layers > MAX_MAP_LAYERS:
        left.caption(f"The map shows the first {MAX_MAP_LAYERS} of {spec.num_layers:,} layers; the table below sums "
                     "every tensor.")
    div = GB if unit == "GB" else GIB
    charts.show(right, frozen(bytes_by_type_dict(q, div, unit)), width="stretch")
    # By kind (the name without its block number, shape, type): a few dozen rows whatever the layer count; the
    # full list (90,000 rows for a 10,000-layer model) is built only when its CSV is downloaded.
    kinds = memo.cached(("gguf.kinds", memo.Same(q)), lambda: records_arrow(q.kind_rows()))  # once per file type
    with st.expander(f"All {len(q.tensors):,} tensors of {pick}, by kind ({len(kinds)} rows)"):
        st.dataframe(kinds, hide_index=True, width="stretch", column_config={
            "bytes each": st.column_config.NumberColumn(format="localized"),
            "bytes": st.column_config.NumberColumn(format="localized"),
            "bits/weight": st.column_config.NumberColumn(format="%.4f")})
        st.download_button(f"Download all {len(q.tensors):,} tensors (CSV)", lambda: fmt.csv(tensor_list(q)),
                           file_name=f"gguf_{spec.name}_{pick}_tensors.csv", mime="text/csv")


def tensor_list(q) -> pd.DataFrame:
    """Every tensor of ``q``, one row each (the CSV download; built on click, not on every run)."""
    return pd.DataFrame([{"tensor": t.name, "shape (ne0 first)": " x ".join(map(str, t.shape)), "type": t.type,
                          "bytes": t.bytes, "bits/weight": type_bits(t.type)} for t in q.tensors])


spec, gpu = pickers.current_model(), pickers.current_gpu()
page_body.run(lambda: run_section(spec, gpu, fmt.unit()), "quantization")

# ----- inspect a file ------------------------------------------------------------------------------------
def inspect_file() -> None:
    """The header of an uploaded .gguf file: its tensors and metadata, compared with llama.cpp's rules for the same
    file type, and a button that adds it to the model picker."""
    st.caption("Only the header is read (metadata and tensor list, never tensor data), so the first megabytes are "
               "enough: `head -c 30M model.gguf > model-head.gguf` (uploads are limited to 32 MB). The same report "
               "in a terminal: `python -m calc gguf --file model.gguf`.")
    upload = st.file_uploader("GGUF file or its first megabytes", type=["gguf"],
                              help="Read with a bounded parser: wrong magic, absurd counts or truncated headers are "
                                   "refused with a message.")
    if upload is not None:
        try:
            header = read_gguf(io.BytesIO(upload.getvalue()))
        except ValueError as exc:
            st.error(f"{text.md(upload.name, 80)}: {text.md(exc, 1000)}")
            header = None
        if header is not None:
            i1, i2, i3, i4 = st.columns(4)
            i1.metric("Architecture", text.md(header.architecture, 80))
            i2.metric("File type", text.md(header.file_type or "unknown", 80))
            i3.metric("Tensors", f"{len(header.tensors):,}")
            i4.metric("Tensor data", fmt.size(header.tensor_bytes), help=f"{header.tensor_bytes:,} bytes; header "
                      f"{header.header_bytes:,} bytes; {header.bits_per_weight or 0:.3f} bits per weight")
            if header.data_complete is False:
                st.info(f"This upload holds the header only ({header.file_bytes:,} of {header.data_end:,} bytes): "
                        "the report below is complete, the weights are not needed.")
            st.dataframe(pd.DataFrame([{"type": k, "tensors": v} for k, v in header.tensor_types.items()]),
                         hide_index=True)
            meta = [{"key": k, "value": (f"[{v.length:,} x {v.item_type}]" if isinstance(v, ArrayValue)
                                         else str(v)[:120])} for k, v in header.metadata.items()]
            with st.expander(f"Metadata ({len(meta)} keys) and tensors"):
                st.dataframe(pd.DataFrame(meta), hide_index=True, width="stretch")
                st.dataframe(pd.DataFrame([{"tensor": t.name, "shape": " x ".join(map(str, t.shape)), "type": t.type,
                                            "bytes": t.bytes} for t in header.tensors]), hide_index=True, width="stretch")
            try:
                found = spec_from_gguf(header, name=f"{upload.name.removesuffix('.gguf')[:40]} (gguf)")
            except ValueError as exc:
                st.warning(f"Not turned into a model: {text.md(exc, 1000)}")
            else:
                if header.file_type in FILE_TYPES:
                    mine = quantize_all(found, (header.file_type,))[header.file_type]
                    if not isinstance(mine, ValueError):
                        ours = {t.name: t.type for t in mine.tensors}
                        theirs = {t.name: t.type for t in header.tensors}
                        differ = sum(1 for n in ours.keys() & theirs.keys() if ours[n] != theirs[n])
                        only = len(ours.keys() ^ theirs.keys())
                        st.write(f"llama.cpp's rules for {header.file_type} on this model give {mine.tensor_bytes:,} B "
                                 f"of tensors; the file has {header.tensor_bytes:,} B. Tensors whose type differs: "
                                 f"{differ}; tensors in only one of the two lists: {only}"
                                 + (" (an older llama.cpp, an imatrix choice or --tensor-type overrides)." if differ
                                    else "."))
                if st.button("Use this model in the sidebar", help="Adds it to the model picker of every page."):
                    pickers.add_model(found, select=True)


# lazy (issue 18): closed, a rerun sends neither its text nor its upload box (an upload is read again when reopened)
lazy_expander("Inspect a .gguf file", "gx_inspect", inspect_file)

# ----- what the names mean -------------------------------------------------------------------------------
def what_the_names_mean() -> None:
    st.markdown("""
- **Q4_0, Q5_0, Q8_0 / Q4_1, Q5_1** (legacy): blocks of 32 weights with one fp16 scale (`_0`: w = d·q) or a
  scale and a minimum (`_1`: w = d·q + m). Q4_0 = 18 bytes per 32 weights = 4.5 bits.
- **Q2_K ... Q6_K**: the *k-quants* (llama.cpp PR #1684, 2023): 256-weight super-blocks split into sub-blocks of
  16 or 32, whose scales (and minimums) are themselves quantized to 4-8 bits under one fp16 super-block scale.
  The K names this super-block scheme, not a Kullback-Leibler method.
- **_S / _M / _L** (small / medium / large): how many tensors llama-quantize raises to a bigger type. Q4_K_M puts
  `attn_v` and `ffn_down` in Q6_K in about half the layers (the first and last eighth and every third between);
  Q4_K_S raises only the first few; Q3_K_L raises `attn_v`, `attn_output` and `ffn_down` to Q5_K everywhere.
  The output head is Q6_K in every k-quant.
- **IQ1_S ... IQ4_XS**: the *i-quants*: weights snapped to points of a lattice codebook (E8-based grids for IQ2
  and IQ3) or a non-linear 16-value table (IQ4_NL, IQ4_XS), normally quantized with an importance matrix computed
  on calibration text (llama-quantize refuses IQ1/IQ2/IQ3_XXS without one). XXS / XS / S / M again name sizes.
- **TQ1_0, TQ2_0**: ternary packings (1.69 and 2.06 bits) for models trained with ternary weights (BitNet b1.58);
  other models lose most of their quality.
- **MXFP4_MOE**: OCP microscaling FP4 (E2M1, one shared 8-bit exponent per 32 weights) for the MoE expert tensors,
  Q8_0 for everything else (gpt-oss's format); on a dense model it is all Q8_0.
- **F16 / BF16 / F32**: unquantized 2-D weights; norms, biases and MoE routers stay F32 in every file type.
""")
    st.dataframe(tables.arrow("gguf.block_sizes", lambda: pd.DataFrame([  # constant: converted once per process
                     {"ggml type": t, "weights per block": block_size(t)[0], "bytes per block": block_size(t)[1],
                      "bits per weight": type_bits(t)}
                     for t in ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                               "Q6_K", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S",
                               "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4", "F16", "BF16", "F32")])),
                 hide_index=True, column_config={"bits per weight": st.column_config.NumberColumn(format="%.4f")})
    st.caption("Block sizes from the gguf package (gguf.constants.GGML_QUANT_SIZES), not typed in.")

lazy_expander("What the names mean", "gx_names", what_the_names_mean)


def formulas() -> None:
    st.markdown(f"""
**Tensors.** The tensors `convert_hf_to_gguf.py` writes for this architecture (gguf-py names: `token_embd`,
`blk.N.attn_q/k/v/output`, `ffn_gate/up/down`, `ffn_*_exps` and `ffn_gate_inp` for MoE, norms, `output`).
Their element count equals this model's exact parameter count (the text decoder's: a vision tower goes to a separate
mmproj file). gpt-oss, Qwen3-Next, Llama 4, Mamba and Jamba are written from their layer kinds (`calc/gguf_layout.py`):
experts split into `ffn_gate_exps` / `ffn_up_exps`, recurrent layers as `ssm_in`, `ssm_conv1d` (never quantized),
`ssm_a`, `ssm_d`, `ssm_dt`, `ssm_out`; their KV cache counts only the attention layers, plus each recurrent layer's
fixed conv and SSM state per sequence in f32.

**Types.** llama.cpp `src/llama-quant.cpp` (`llama_tensor_get_type`): the file type's default type, then the
per-tensor rules (layer-dependent bumps via `use_more_bits`, GQA >= 4 and 8-expert cases, the 70B attn_v bump,
tied embeddings taking the output rule), then `tensor_type_fallback` for rows not divisible by the block
(Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ -> IQ4_NL, then F16).

**Bytes.** tensor bytes = rows x (row length / block size) x bytes per block; payload = sum over tensors.
File = header + every tensor padded to 32 bytes. The header (tokenizer, metadata, tensor infos) is estimated:
tensor infos exactly, the tokenizer at 22.49 B per SentencePiece token or 52 B per BPE token (fitted to
published files). Checked against 68 published files: TheBloke Llama-2 7B/13B/70B and Mistral-7B, QuantFactory
Llama-3-8B-Instruct: payload + one header per repository, to the byte.

**Running.** memory = weights + KV cache + compute buffer. KV = layers x 2 x kv_heads x head_dim x context x
sequences x cache-type bits / 8 (MLA: the latent, Gemma 2: windowed layers capped; llama-arch Mistral keeps the
full context). Compute buffer (estimate) = 4 B x 512 x max(vocab + hidden, heads x context + 6 x hidden without
flash attention). On a discrete GPU llama.cpp keeps `token_embd` in host memory and offloads layers from the last
one down (`-ngl`); "split" is the largest layer count that fits {gpu.name}'s memory minus
{RunSetup().runtime_reserve_bytes // 2**20} MiB for the driver context. Apple unified memory: everything counts
against the Metal working-set limit ({fmt.size(gpu.usable_memory_bytes)} on {gpu.name}).
""")


lazy_expander("Formulas and assumptions", "gx_formulas", formulas)
