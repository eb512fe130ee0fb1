"""Validation: every formula against what real PyTorch allocates (reads validate/results.json; no torch needed)."""

import streamlit as st

from ui import charts, memo, page_body, state, tables
from ui import format as fmt
from ui.figures_engines import peak_parts_table, sharded_strip, sharded_summary, sharded_table
from ui.figures_validation import error_strip, formula_table, gpu_table, layer_bars, records_table, summary
from validate.harness import RESULTS_PATH
from validate.sharded import SHARDED_PATH

RESULTS = "validate/results.json"
REGENERATE = "python -m validate"

st.title("Validation")
st.caption("How far each formula of this calculator is from what PyTorch actually allocates, measured on small "
           "real models built with `transformers` on the CPU. Exact where exactness is possible; activations "
           "within 10 %.")

try:
    doc = memo.load_json(RESULTS_PATH)  # parsed once per version of the file, shared: read only
    sig = memo.file_signature(RESULTS_PATH)
    records, measurements = doc["records"], doc["measurements"]
except (OSError, ValueError, KeyError) as exc:
    st.error(f"No readable validation results at {RESULTS} ({type(exc).__name__}). Regenerate them with "
             f"`{REGENERATE}` in the repository root (about 20 s on two CPU cores).")
    st.stop()

env = doc.get("environment", {})
st.write(f"Measured {doc.get('generated', '?')} with torch {env.get('torch', '?')}, transformers "
         f"{env.get('transformers', '?')} on the CPU. Regenerate with `{REGENERATE}` (writes `{RESULTS}`); "
         "`tests/test_validation.py` re-measures in CI and holds every formula to its tolerance.")

counts = memo.cached(("validation.summary", sig), lambda: summary(records))
c = [st.container(horizontal=True)] * 5  # one row (one block sent), not five columns (six blocks; issue 18)
c[0].metric("Comparisons", counts["comparisons"])
c[1].metric("Exact", counts["exact"], help="predicted == measured, to the byte or parameter")
c[2].metric("Within tolerance", counts["within"], help="not exact, but inside the formula's tolerance (±10 % "
            "for activations)")
c[3].metric("Over tolerance", counts["over"], help="the formula is off by more than its tolerance: see the rows "
            "marked 'over tolerance' and their notes")
c[4].metric("No prediction", counts["missing"], help="a formula the calculator does not provide yet")

st.caption(f"These counts cover every comparison the harness made ({len(measurements)} architectures); the "
           "selection below narrows the chart and tables.")

arch_labels = {m["key"]: m["label"] for m in measurements}


# Each section below is a fragment (ui.page_body: budget-guarded, issue 18): a change of its inputs reruns that
# section only, not the engine tables and the GPU table further down (which none of these inputs touch).
def selected_comparisons(records: list[dict], sig: tuple, arch_labels: dict[str, str]) -> None:
    """The error strip and the two tables, for the architectures picked (and only the inexact rows, if asked)."""
    archs = state.multiselect("Architectures", "v_arch", list(arch_labels), list(arch_labels),
                              help="Which of the small validation models to show (keys; labels in the table).")
    only_off = state.toggle("Only comparisons that are not exact", "v_off", False,
                            help="Hide rows where the prediction equals the measurement exactly.")
    sel = (sig, tuple(archs), only_off)
    shown = memo.cached(("validation.shown", *sel), lambda: [r for r in records if r["arch"] in archs and not (
        only_off and r["predicted"] == r["measured"])])
    if not shown:
        st.info("Nothing to show for this selection.")
        return
    charts.show(st, charts.cached(("validation.error_strip", *sel), lambda: error_strip(shown)), width="stretch")
    st.subheader("How much to trust each formula")
    ft = tables.arrow(("validation.formula_table", *sel), lambda: formula_table(shown))
    st.dataframe(ft, hide_index=True, width="stretch", height=38 + 35 * len(ft),
                 column_config={"worst |error| %": st.column_config.NumberColumn(format="%.2f"),
                                "median |error| %": st.column_config.NumberColumn(format="%.2f"),
                                "tolerance %": st.column_config.NumberColumn(format="%g")})

    def df():  # one row per comparison shown: built only for the open table or the CSV (2.3 ms a selection, issue 18)
        return memo.cached(("validation.records_table", *sel), lambda: records_table(shown))

    # lazy (issue 18): the row-by-row table (~120 kB sent) is built and sent only while its expander is open
    every = st.expander(f"Every comparison ({len(shown):,} rows)", key="v_xevery", on_change="rerun")
    if every.open:
        every.dataframe(tables.arrow(("validation.records_table", *sel), df), hide_index=True, width="stretch",
                        height=420, column_config={"predicted": st.column_config.NumberColumn(format="localized"),
                                                   "measured": st.column_config.NumberColumn(format="localized"),
                                                   "error %": st.column_config.NumberColumn(format="%+.2f"),
                                                   "tolerance %": st.column_config.NumberColumn(format="%g")})
    # the CSV is written when the button is clicked (a callable), not hashed and registered on every rerun (issue 18)
    csv_key = ("validation.csv", *sel, fmt.unit())
    st.download_button("Download CSV", lambda: memo.cached(csv_key, lambda: fmt.csv(df())),
                       file_name="validation.csv", mime="text/csv")


def per_layer(measurements: list[dict], sig: tuple, arch_labels: dict[str, str]) -> None:
    """Predicted against measured saved bytes per layer, for one architecture and one of its training runs."""
    st.subheader("Per layer: what one training step saves for backward")
    by_key = {m["key"]: m for m in measurements}
    arch = state.select("Architecture", "v_larch", list(arch_labels), list(arch_labels)[0],
                        format_func=lambda k: arch_labels.get(k, k), help="The model whose layers to show.")
    m = by_key[arch]
    runs = {f"{r['dtype']} · {r['attn']} · {'checkpointing' if r['checkpointing'] else 'no recompute'}": r
            for r in m["training"]}
    runs.update({f"LoRA r={r['rank']} ({len(r['targets'])} targets)"
                 + (" · checkpointing" if r["checkpointing"] else ""): r for r in m.get("lora", [])})
    case = state.select("Run", "v_run", list(runs), list(runs)[0], help="dtype · attention · recompute of the step.")
    run = runs[case]
    charts.show(st, charts.cached(("validation.layer_bars", sig, arch, case), lambda: layer_bars(run)), width="stretch")
    st.caption(f"{m['label']}: {m['features']}. Outside the layers: "
               + ", ".join(f"{k} {v:,} B" for k, v in run["saved_regions"].items() if not k.startswith("layer"))
               + f". Peak of the whole step (gradients excluded): {run['peak_bytes']:,} B.")
    # lazy (issue 18): closed, a rerun of this section neither converts nor sends the table
    saved = st.expander(f"Saved tensors of the last layer ({len(run['saved_tensors_last_layer'])})", key="v_xsaved",
                        on_change="rerun")
    if saved.open:
        with saved:
            st.dataframe(tables.arrow(("validation.saved_tensors", sig, arch, case),
                                      lambda: run["saved_tensors_last_layer"]), hide_index=True, width="stretch")


page_body.run(lambda: selected_comparisons(records, sig, arch_labels), "validation_comparisons")
page_body.run(lambda: per_layer(measurements, sig, arch_labels), "validation_per_layer")

st.subheader("Real distributed engines: DDP, FSDP2 and DeepSpeed, per rank")
try:
    sdoc = memo.load_json(SHARDED_PATH)
    ssig = memo.file_signature(SHARDED_PATH)
    srecords = sdoc["records"]
except (OSError, ValueError, KeyError) as exc:
    st.info(f"No readable engine results at validate/sharded_results.json ({type(exc).__name__}). Regenerate them "
            "with `python -m validate --sharded` (about an hour on two busy CPU cores).")
    srecords = []
if srecords:
    senv = sdoc.get("environment", {})
    sc = memo.cached(("validation.sharded_summary", ssig), lambda: sharded_summary(srecords))
    c = [st.container(horizontal=True)] * 4  # one row (one block sent), not four columns (five blocks; issue 18)
    c[0].metric("Ranks measured", sc["ranks"], help="(model, engine case, world size, rank) combinations")
    c[1].metric("Engine comparisons", sc["comparisons"], help="states between steps and step peak, per rank")
    c[2].metric("Engine rows within 10 %", sc["within"])
    c[3].metric("Engine rows over 10 %", sc["over"])
    st.caption(f"Measured {sdoc.get('generated', '?')} with torch {senv.get('torch', '?')}, DeepSpeed "
               f"{senv.get('deepspeed') or 'not installed'} ({sdoc.get('deepspeed', '?')}), gloo on 127.0.0.1, "
               f"{', '.join(str(w) for w in sdoc['settings']['worlds'])} ranks, batch {sdoc['settings']['batch']} x "
               f"{sdoc['settings']['seq_len']} tokens per rank. Regenerate with `python -m validate --sharded` (writes "
               "`validate/sharded_results.json`); `tests/test_sharded.py` re-runs part of it in CI and holds every "
               "committed row to 10 %.")
    charts.show(st, charts.cached(("validation.sharded_strip", ssig), lambda: sharded_strip(srecords)), width="stretch")
    sdf = memo.cached(("validation.sharded_table", ssig), lambda: sharded_table(srecords))
    # lazy, as the comparisons' table above (~65 kB sent)
    erows = st.expander(f"Every engine comparison ({len(sdf):,} rows)", key="v_xengrows", on_change="rerun")
    if erows.open:
        erows.dataframe(tables.arrow(("validation.sharded_table", ssig), lambda: sdf), hide_index=True, width="stretch",
                        height=420, column_config={"predicted": st.column_config.NumberColumn(format="localized"),
                                                   "measured (tracker)": st.column_config.NumberColumn(format="localized"),
                                                   "measured (allocator)": st.column_config.NumberColumn(format="localized"),
                                                   "error %": st.column_config.NumberColumn(format="%+.2f"),
                                                   "allocator error %": st.column_config.NumberColumn(format="%+.2f")})
    scsv_key = ("validation.sharded_csv", ssig, fmt.unit())  # written on click, as the CSV above
    st.download_button("Download CSV", lambda: memo.cached(scsv_key, lambda: fmt.csv(sdf)),
                       file_name="validation_engines.csv", mime="text/csv")
    # The three expanders below are lazy (issue 18): a full rerun (a sidebar change) with them closed neither builds
    # nor sends their table and text.
    alive = st.expander("What was alive at each peak (rank 0), measured and predicted", key="v_xalive",
                        on_change="rerun")
    if alive.open:
        alive.dataframe(tables.arrow(("validation.peak_parts", ssig),
                                     lambda: peak_parts_table(srecords, lambda n: f"{n:,} B")),
                        hide_index=True, width="stretch")
    engines = st.expander("How the engines are run and measured", key="v_xengines", on_change="rerun")
    if engines.open:
        engines.markdown("""
Each world size is one group of processes (`torch.multiprocessing`, gloo on a free port of 127.0.0.1, one thread per
rank). Every rank builds the model with `transformers` (the Llama-style GQA, tied Qwen2 and Mixtral-style MoE models
above), wraps it (DDP; FSDP2 `fully_shard` on every decoder layer, then the root, with a `MixedPrecisionPolicy`;
DeepSpeed `initialize` with ZeRO 1, 2 or 3 and bf16) and runs three AdamW steps on its own random tokens; the third
is measured. **States between steps**: bytes alive after `optimizer.step()` (before `zero_grad`). **Step peak**: the
highest total during the step. Two instruments from before the model is built: the harness's tracker (every ATen op,
each storage until it is freed, DTensor shards by their local tensor, FSDP2's `resize_` followed) and PyTorch's
profiler with `profile_memory=True` (the CPU allocator's allocations and frees of the session, an address handed out
again counting as freed). The tracker is held to 10 % on every rank. The profiler records only the threads it
profiles: a buffer that a gloo or DeepSpeed worker thread frees stays counted there, so it reads more than is
alive on a few rows, never less for that reason; the prediction is held to at most 10 % above it.
The prediction: `calc.engines` with `TrainingSetup(dp=ranks, micro_batch, seq_len, engine=Engine(...,
optimizer_impl="for-loop"))` (AdamW runs its for-loop on CPU tensors). DeepSpeed's default 1 GB gradient bucket
(`reduce_bucket_size` 5e8 elements in bf16) would dwarf these small models, so its ZeRO 1/2/3 cases use 1 MB buckets
(5e5 elements) and one ZeRO-2 case keeps the default. On a GPU, `python -m validate.gpu_step --engines` runs the same
steps under NCCL against `torch.cuda.max_memory_allocated`.
""")

st.subheader("On a GPU: a full training step")
gpu = doc.get("gpu") or []
if gpu:
    st.dataframe(tables.arrow(("validation.gpu_table", sig), lambda: gpu_table(gpu)), hide_index=True, width="stretch")
else:
    st.info("Not measured on a GPU yet. On a CUDA machine, `python -m validate.gpu_step` compares "
            "`torch.cuda.max_memory_allocated` of full training steps with the calculator and writes "
            "`validate/gpu_results.json`; the next `python -m validate` adds its rows here.")

how = st.expander("What is measured, and how", key="v_xhow", on_change="rerun")
if how.open:
    s = doc.get("settings", {})
    how.markdown(f"""
**Models.** Six small architectures with random weights (hidden 128, 4 layers, vocabulary 512), built with
`AutoModelForCausalLM.from_config` from the same `config.json` fields that `ModelSpec.from_hf_config` reads:
Llama-style GQA, Qwen2 (q/k/v biases, tied embeddings), Gemma 2 (head_dim 64, sliding window 32, soft-capping),
GPT-2 (LayerNorm, learned positions, `gelu_new`), a Mixtral-style MoE (4 experts, top-2) and a DeepSeek-V3-style
model (MLA with a low-rank query, first layer dense, 4 routed + 1 shared expert); and the families of 2025-2026:
Qwen2-MoE (gated shared expert), Gemma 3 (5:1 sliding/global), gpt-oss (sinks, alternating windows) and one hybrid,
Qwen3-Next (3 gated DeltaNet linear-attention layers, then 1 gated full-attention layer). Dropout: each config's
own (0, GPT-2 0.1).

**Parameters, weights, gradients, optimizer states** — storage bytes of `model.parameters()`, of every `p.grad`
after `loss.backward()`, and of AdamW's `exp_avg` + `exp_avg_sq` after one `torch.optim.AdamW.step()` (the 4-byte
`step` scalars per parameter tensor are listed apart). Models run purely in fp32 or purely in bf16, compared with
`TrainingSetup(precision="fp32")` / `"bf16"`. Exact.

**KV cache** — storage bytes of the `DynamicCache` after `generate()` (batch {s.get('kv_batch')}, a
{s.get('kv_prompt')}-token prompt, {s.get('kv_new_tokens')} new tokens: {s.get('kv_prompt', 0) + s.get('kv_new_tokens', 0) - 1}
positions). Sliding-window layers keep a view of window−1 positions into a buffer of `window` positions, so the
memory held is `min(seq, window)` per layer. `transformers` 5 caches DeepSeek's MLA latent compressed
(`kv_lora_rank + qk_rope_head_dim` per token), compared with `mla_compressed=True`. Exact.

**Recurrent state** (hybrids) — storage bytes of the cache's `conv_states` and `recurrent_states` after the same
`generate()`: the conv state in the model's dtype, the recurrent state in fp32, the same at any length; compared
with `calc.kvcache.state_bytes`. Exact.

**Activations saved** — one training forward + loss (batch {s.get('batch')}, {s.get('seq_len')} tokens) under
`torch.autograd.graph.saved_tensors_hooks`: every tensor autograd packs, each storage counted once (keyed by its
untyped storage's `data_ptr`, whole storage bytes), tensors whose storage is a parameter excluded (a `Linear` saves
its weight: already counted as weights). With gradient checkpointing (`model.gradient_checkpointing_enable()`,
non-reentrant) the tensors a checkpoint keeps for recomputation are counted, including the keyword arguments it
holds in a closure (RoPE tables, the attention mask). Tensors made once for all layers (RoPE cos/sin, masks) are
counted once as "shared". Compared with the calculator's per-layer terms (`calc.activations.layer_terms`,
`device="cpu"`, `act_bits` 32 for fp32 runs and 16 for bf16). Within 10 %.

**Activations peak** — the same step (forward, loss, backward) under a `TorchDispatchMode` that adds every new
tensor storage and drops it when freed: the largest sum, minus the gradients from the moment each appears. This is
the CPU stand-in for `torch.cuda.max_memory_allocated` without allocator rounding; compared with
`activation_bytes(spec, TrainingSetup(...))`. Within 10 %.

**CPU vs GPU.** CPU SDPA runs a flash kernel only when query/key and value head dims are equal; DeepSeek-V3's
differ (48 vs 32), so its "SDPA" runs store the s×s probabilities and are compared with `flash_attention=False`.
Without the `fla` / `causal-conv1d` kernels, `transformers` runs Qwen3-Next's gated delta rule as PyTorch ops
(`torch_chunk_gated_delta_rule`: fp32 copies, the sequence padded to chunks of 64, five 64×64 matrices per head,
the state entering each chunk): `device="cpu"` counts exactly that (`calc.activations.DELTA_RULE_CPU`); the CUDA
kernels' rows (`device="cuda"`) are read from their sources and not measured here.
On a GPU, the CUDA kernels differ in small ways (dropout masks, workspace); the GPU section checks whole steps.
""")
