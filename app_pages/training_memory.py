"""Training memory: every component per GPU (ZeRO, TP/PP/SP, recompute, LoRA/QLoRA, PPO/DPO) and the verdict."""

from dataclasses import fields, replace

import numpy as np
import pandas as pd
import streamlit as st

from calc.activations import DROPOUT_SITES, config_dropout, layer_terms
from calc.engines import (
    BUFFER_SOURCES,
    ENGINES,
    OPTIMIZER_IMPLS,
    SOURCES,
    Engine,
    between_steps,
    deepspeed_estimates,
    engine_phases,
)
from calc.memory import (
    FINETUNE,
    GRAD_DTYPES,
    LORA_TARGETS,
    OPTIMIZERS,
    PRECISIONS,
    RLHF,
    TrainingSetup,
    breakdown_grid,
    reuse_breakdowns,
    training_memory,
)
from calc.models import ModelSpec, param_counts
from calc.solvers import MAX_GPUS, RECOMPUTE_NAME, fewest_gpus, remedies, single_changes
from calc.units import GIB, bytes_in, format_bytes
from ui import charts, memo, memory_solvers, page_body, pickers, results, state, tables, text, verdict
from ui import format as fmt
from ui.defaults import TRAINING as D
from ui.figures_memory import LABELS, breakdown_bar_spec, estimator_rows, phases_rows, sweep_area_spec

st.title("Training memory")
st.caption("Every byte a training GPU holds, itemized: weights, fp32 master weights, gradients, optimizer states, "
           "activations (derived tensor by tensor for this model's block, logits included) and the CUDA/framework "
           "overhead. ZeRO shards over the data-parallel degree; the pipeline stage that needs the most is shown.")

SAME = "same as the policy"
#: The label of each engine's settings expander: what is in it.
ENGINE_KNOBS = {
    "ddp": "DDP settings: optimizer step, bucket cap, gradient_as_bucket_view",
    "fsdp2": "FSDP2 settings: optimizer step, reshard after forward, reduce_dtype, CPU offload",
    "deepspeed": "DeepSpeed settings: optimizer step, gradient buckets, overlap_comm, ZeRO-3 gathering and prefetch, "
                 "parameter offload",
    "megatron": "Megatron settings: optimizer step, distributed optimizer, main grads in fp32",
}


#: The label of the one lazy expander of details under the charts: what is in it.
DETAILS = ("Details: components in bytes (table and CSV), DeepSpeed's own estimators, formulas, assumptions and the "
           "numbers behind them")

#: The fields of a ``TrainingSetup`` that ``fewest_gpus`` sets itself (the answer does not depend on them).
LAID_OUT = ("tp", "pp", "dp", "zero_stage")

#: The main inputs' grid (``_page``'s ``box``, one horizontal container): four columns as st.columns(4) drew them,
#: Precision / Optimizer / ZeRO stage in the first, dp / tp / pp in the second, micro-batch / sequence / recompute /
#: FlashAttention in the third, the rest in the fourth (``dense``: each fills from the top), 1rem apart as Streamlit's
#: columns and blocks are; one column on a narrow screen, in the same order, as st.columns stack below 640 px.
INPUTS_CSS = (".st-key-tm_in {display: grid !important; grid-template-columns: repeat(4, minmax(0, 1fr)); "
              "grid-auto-flow: row dense; gap: 1rem !important; align-items: start;}"
              ".st-key-tm_in > div {width: auto !important; min-width: 0 !important; flex: none !important;}"
              ".st-key-tm_in > div:nth-child(-n+3) {grid-column: 1;}"
              ".st-key-tm_in > div:nth-child(n+4):nth-child(-n+6) {grid-column: 2;}"
              ".st-key-tm_in > div:nth-child(n+7):nth-child(-n+10) {grid-column: 3;}"
              ".st-key-tm_in > div:nth-child(n+11) {grid-column: 4;}"
              "@media (max-width: 640px) {.st-key-tm_in {grid-template-columns: minmax(0, 1fr);}"
              ".st-key-tm_in > div {grid-column: 1 !important;}}")

#: The metrics' two rows in one horizontal container (``_page``'s ``m1``): a full-width empty flex item ordered
#: between the fourth metric and the fifth breaks the line there, so each row shares its width among its own metrics
#: as the two containers (one per row) did; none without a second row (a parameter count). The 1rem between lines is
#: each metric's bottom margin (the container's own last one taken back), so that empty line adds no gap of its own.
METRICS_CSS = (".st-key-tm_m {row-gap: 0 !important; margin-bottom: -1rem;}"
               ".st-key-tm_m > div {margin-bottom: 1rem;}"
               ".st-key-tm_m > div:nth-child(-n+4) {order: 1;} .st-key-tm_m > div:nth-child(n+5) {order: 3;}"
               ".st-key-tm_m:has(> div:nth-child(5))::before {content: ''; order: 2; flex-basis: 100%; height: 0;}")

#: The label of the expander of the inputs users seldom change: what is in it (RLHF's other models added when asked).
MORE = "More settings: gradient dtype, optimizer offload, sequence parallel, overhead per GPU, dropout"


def _solve(model: ModelSpec | int, setup: TrainingSetup, cap: int, total: int) -> memory_solvers.Solved:
    """The solvers for ``(model, setup, cap)`` (``total``: ``training_memory(model, setup).total``), each kept in
    ``ui.memo`` under what it depends on (issue 18): they were most of the calc work of a rerun (fewest_gpus ~1.9 ms and
    remedies ~1.4 ms for Llama-3-8B, max_context 2-8 ms). The largest micro-batch does not depend on the micro-batch
    set, nor the longest sequence on the sequence length, nor the fewest GPUs on the layout set (``LAID_OUT``), so a
    change of one of these keeps that answer (tests/test_memory_solvers.py); the largest micro-batch and the longest
    sequence are ``ui.memory_solvers``' (``calc.solvers.max_batch``'s and ``max_context``'s answers, read off the
    memory's polynomial and checked)."""
    arch = isinstance(model, ModelSpec)

    def others() -> tuple:
        return (remedies(model, setup, cap, layout), single_changes(model, setup) if total > cap else [],
                arch and setup.recompute == "selective" and setup.flash_attention
                and training_memory(model, replace(setup, recompute="none")).total == total)

    # fewest_gpus chooses tp, pp, dp and the ZeRO stage itself (calc/solvers.py _fewest_training): kept per the rest
    unlaid = tuple((f.name, getattr(setup, f.name)) for f in fields(setup) if f.name not in LAID_OUT)
    layout = memo.cached(("training_memory.fewest_gpus", model, unlaid, cap), lambda: fewest_gpus(model, setup, cap))
    rem, alone, idle = memo.cached(("training_memory.solved", model, setup, cap), others)
    mb = mc = None
    if arch:
        mb = memo.cached(("training_memory.max_batch", model, replace(setup, micro_batch=1), cap),
                         lambda: memory_solvers.largest_micro_batch(model, setup, cap, 4096))
        mc = memo.cached(("training_memory.max_context", model, replace(setup, seq_len=1), cap),
                         lambda: memory_solvers.longest_sequence(model, setup, cap, 1 << 22))
    return memory_solvers.Solved(layout, rem, alone, mb, mc, idle)


def _components_table(b, unit: str, engine_name: str) -> None:
    """The breakdown ``b`` as a table of bytes (and each engine buffer's source) with its CSV."""
    rows = [{"component": LABELS.get(k, k), "bytes": v, unit: round(fmt.size_value(v), 3),
             "source": BUFFER_SOURCES.get(k, "")} for k, v in b.components().items()]
    rows.append({"component": "Total (GPU)", "bytes": b.total, unit: round(fmt.size_value(b.total), 3)})
    rows.append({"component": "CPU (offloaded)", "bytes": b.cpu_bytes, unit: round(fmt.size_value(b.cpu_bytes), 3)})

    def frame() -> pd.DataFrame:
        df = pd.DataFrame(rows)
        return df.drop(columns="source") if engine_name == "plain" else df.fillna({"source": ""})

    # Counts past 2**63 - 1 as exact text (Arrow stores int64); table and CSV made once per content (issue 18).
    rows_key = (memo.key_of(rows), engine_name)
    if all(abs(r["bytes"]) <= fmt.INT64_MAX for r in rows):
        # the rows change with nearly every input: Arrow straight from the records (the same table as through
        # pandas, tables.records_arrow; 0.05 against 1.6 ms), ``fmt.bytes_table``'s column formats
        shown = ([{k: v for k, v in r.items() if k != "source"} for r in rows] if engine_name == "plain"
                 else [{**r, "source": r.get("source", "")} for r in rows])
        table = tables.records_arrow(shown)
        config = {"bytes": st.column_config.NumberColumn(format="localized"),
                  unit: st.column_config.NumberColumn(format="%,.3f")}
    else:
        table, config = tables.bytes_arrow(("training_memory", rows_key), frame)
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    # the CSV made when the button is clicked (Streamlit calls a callable ``data`` then), not on every rerun
    st.download_button("Download CSV", lambda: memo.cached(("training_memory.csv", rows_key), lambda: fmt.csv(frame())),
                       file_name="training_memory.csv", mime="text/csv")


def _bytes_records_table(rows: list[dict]) -> None:
    """Records with a ``bytes`` column (an engine's moments, ``phases_rows``; DeepSpeed's estimators,
    ``estimator_rows``) as a table: straight to Arrow (``tables.records_arrow``: the table Streamlit made of
    ``fmt.bytes_table``'s DataFrame of the same rows, built and converted again on every rerun, 1.5-2.5 ms of one;
    issue 18; tests/test_pg_engine_table.py keeps that path as the reference), through that DataFrame where a count passes int64 (shown as
    exact text)."""
    if all(abs(r["bytes"]) <= fmt.INT64_MAX for r in rows):
        # fmt.bytes_table's formats: no column is named for the unit here
        table, config = tables.records_arrow(rows), {"bytes": st.column_config.NumberColumn(format="localized")}
    else:
        table, config = fmt.bytes_table(pd.DataFrame(rows))
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    gpu = pickers.current_gpu()
    model = pickers.model_or_parameter_count(
        "tm", "The sidebar model (exact architecture: activations included), or only a parameter count (model states "
              "only, as in the rules of thumb: 7B fp32 AdamW = 112 GB).",
        "Total parameters; activations need an architecture and are not computed.",
        lambda m: f"{m.num_layers:,} layers, hidden {m.hidden_size:,}, {m.num_heads:,} heads / {m.num_kv_heads} KV heads.")

    # No headings over the columns (four Markdown elements a rerun, issue 18): the labels name each input. The four
    # columns are one horizontal container laid out as a grid of four (``INPUTS_CSS``, sent with the charts' style):
    # one block sent instead of st.columns' five (the row and each column), ~1 ms of a rerun under py-spy (issue 18).
    # Inputs go in with ``where=box`` (a link parameter's warning goes below, not into a grid cell).
    box = st.container(horizontal=True, gap="small", key="tm_in")
    precision = state.select("Precision", "tm_prec", PRECISIONS, D["tm_prec"],
                             where=box, help="fp32; bf16/fp16 mixed = 16-bit weights + fp32 master copy (DeepSpeed, Megatron); "
                                             "bf16 = pure bf16, no master copy.")
    optimizer = state.select("Optimizer", "tm_opt", OPTIMIZERS, D["tm_opt"],
                             where=box, help="AdamW 8 B/param of state; 8-bit AdamW (bitsandbytes) ~2 B; SGD 0; SGD with "
                                             "momentum 4 B; Adafactor factored (rows + columns per matrix).")
    zero = state.select("ZeRO stage", "tm_zero", [0, 1, 2, 3], D["tm_zero"],
                        where=box, help="1: shard optimizer states + master weights, 2: + gradients, 3: + weights, each over "
                                        "the data-parallel degree.")
    dp = int(state.number("Data parallel (dp)", "tm_dp", D["tm_dp"], 1, 100_000, step=1, where=box, help="ZeRO shards over this degree."))
    tp = int(state.number("Tensor parallel (tp)", "tm_tp", D["tm_tp"], 1, 1024, step=1,
                          where=box, help="Splits attention heads and MLP columns; must divide what each layer kind splits: the "
                                          "attention and KV heads, and a Mamba / DeltaNet layer's heads, groups or channels "
                                          "(calc/parallel.py; the message names any it does not divide)."))
    pp = int(state.number("Pipeline parallel (pp)", "tm_pp", D["tm_pp"], 1, 1024, step=1,
                          where=box, help="Splits the layers; with 1F1B the first stage holds pp micro-batches of activations."))
    micro_batch = int(state.number("Micro-batch per GPU", "tm_mb", D["tm_mb"], 1, 100_000, step=1,
                                   where=box, help="Sequences per forward/backward on one GPU."))
    seq_len = int(state.number("Sequence length", "tm_seq", D["tm_seq"], 1, 10_000_000, step=1024,
                               where=box, help="Tokens per training sequence."))
    recompute = state.select(RECOMPUTE_NAME[:1].upper() + RECOMPUTE_NAME[1:], "tm_rc", ["none", "selective", "full"],
                             D["tm_rc"],
                             where=box, help="Gradient checkpointing in Hugging Face terms. full: keep only each layer's input "
                                             "and re-run the layer in backward (about 1/3 more compute); selective: re-run the "
                                             "attention core only (no effect with FlashAttention, which stores none of it); "
                                             "none: keep every activation.")
    flash = state.toggle("FlashAttention / SDPA", "tm_fa", D["tm_fa"],
                         where=box, help="Fused attention keeps no s x s matrices; off = eager attention (softmax stored).")
    finetune = state.select("Fine-tuning", "tm_ft", FINETUNE, D["tm_ft"],
                            where=box, help="full; LoRA (frozen base, trained adapters); QLoRA (base in nf4 with double "
                                            "quantization).")
    lora_rank, targets = 16, list(LORA_TARGETS[:4])
    if finetune != "full":
        lora_rank = int(state.number("LoRA rank", "tm_lr", 16, 1, 65_536, step=1, where=box, help="r of the adapters (>= 1)."))
    rlhf = state.select("RLHF", "tm_rl", RLHF, D["tm_rl"],
                        where=box, help="PPO: trained actor + critic, frozen reference + reward model. DPO: trained policy + "
                                        "frozen reference; chosen and rejected sequences double the activations. The other "
                                        "models are the policy's size unless set under More settings below.")
    # the engine's box under the fourth column, not in a row of its own: three layout blocks fewer (issue 18); an
    # engine's knobs get a row of four columns below
    engine_name = state.select(
        "Training engine", "tm_eng", ENGINES, "plain",
        where=box, help="plain: the ZeRO paper's model states plus activations, counted as if alive at once (ZeRO stage "
                        "above). ddp, fsdp2 (fully_shard), deepspeed (ZeRO stage above), megatron (distributed optimizer): "
                        "what each engine holds at the three moments a step can peak, its own buffers as components, "
                        "defaults from its source. Checked against real DDP, FSDP2 and DeepSpeed runs (Validation page).")
    if finetune != "full":  # under the four columns, full width: the LoRA targets' seven names (a column cut them off)
        targets = state.multiselect("LoRA targets", "tm_lt", LORA_TARGETS, LORA_TARGETS[:4],
                                    help="Matrices that get adapters (Llama names; mapped onto GPT-2 and MLA layouts).")
    # Lazy (issue 18): the inputs users seldom change are drawn only while their expander is open (each input is a
    # widget sent on every rerun, 0.3-0.6 ms of server time apiece under bench/bench_pages.py, a select of every model
    # name the most); closed, they keep their values and link parameters (``ui.state.UNDRAWN``) and every number below
    # uses them as before.
    more = st.expander(MORE + {"ppo": ", critic, reward and reference models", "dpo": ", reference model"}.get(rlhf, ""),
                       key="tm_xmore", on_change="rerun")
    o1, o2, o3, o4 = more.columns(4) if more.open else [state.UNDRAWN] * 4
    grad = state.select("Gradient dtype", "tm_grad", ["default", *GRAD_DTYPES], "default", where=o1,
                        help="default: fp32 for fp32 training, else the 16-bit dtype (ZeRO's 2 B). fp32 gradients "
                             "with mixed precision = Megatron's main grads (18 B/param with Adam).")
    offload = state.toggle("Offload optimizer to CPU", "tm_off", False, where=o1,
                           help="DeepSpeed ZeRO-Offload: master weights and optimizer states in CPU memory "
                                "(needs ZeRO stage >= 1).")
    sp = state.toggle("Sequence parallel", "tm_sp", False, where=o2,
                      help="Megatron sequence parallelism: also splits the norm and dropout activations by tp.")
    overhead_gib = state.number("Overhead per GPU (GiB)", "tm_ovh", 1.0, 0.0, 1024.0, step=0.25, fmt="%.2f", where=o2,
                                help="CUDA context (~0.3-0.6 GiB), cuBLAS/NCCL workspaces and allocator fragmentation: "
                                     "an explicit assumption, not a tensor. Set 0 for the bare tensors.")
    dropout = None
    if isinstance(model, ModelSpec):
        from_config = config_dropout(model)
        said = ", ".join(f"{site} {getattr(from_config, site):g}" for site in DROPOUT_SITES
                         if getattr(from_config, site)) or "none"
        if state.toggle("Set dropout", "tm_dov", False, where=o3,
                        help=f"Off: the config's dropout ({said}). On: one probability wherever the model applies "
                             "dropout (attention probabilities; residual and embedding dropout where the family has "
                             "them). Each dropout saves a mask for backward (1 byte per element on CUDA)."):
            dropout = state.number("Dropout probability", "tm_do", 0.1, 0.0, 1.0, step=0.05, fmt="%.3f", where=o3,
                                   help="A probability in [0, 1]; 0 = no dropout (no masks).")
    # PPO's and DPO's other models: selects of every model name (~55 options each, the costliest inputs to send)
    others = [SAME, *pickers.model_names()]
    critic = reward = reference = SAME
    if rlhf == "ppo":
        critic = state.select("Critic", "tm_cr", others, SAME, where=o4, help="The value model (LM head -> scalar head).")
        reward = state.select("Reward model", "tm_rw", others, SAME, where=o4,
                              help="Frozen; default: the critic's size.")
    if rlhf != "none":
        reference = state.select("Reference", "tm_ref", others, SAME, where=o4,
                                 help="Frozen copy of the initial policy.")

    knobs: dict = {}
    if engine_name != "plain":
        # Lazy (issue 18): an engine's knobs (2 to 9 inputs in a row of four columns, drawn on every rerun, error
        # reruns too) are drawn only while their expander is open; closed, they keep their values and link
        # parameters (``ui.state.UNDRAWN``) and the numbers below use them as before.
        box = st.expander(ENGINE_KNOBS[engine_name], key="tm_xeng", on_change="rerun")
        e1, e2, e3, e4 = box.columns(4) if box.open else [state.UNDRAWN] * 4
        knobs["optimizer_impl"] = state.select(
            "Optimizer step", "tm_oi", OPTIMIZER_IMPLS, "foreach", where=e1,
            help="torch.optim's implementation: foreach (the CUDA default) keeps one parameter-sized temporary during "
                 "the step; fused keeps none; for-loop (the CPU default) two of the largest tensor.")
    if engine_name == "ddp":
        knobs["bucket_cap_mb"] = state.number("Bucket cap (MiB)", "tm_bkt", 25.0, 0.001, 1e6, step=5.0, where=e2,
                                              help="DDP bucket_cap_mb (default 25 MiB; first bucket 1 MiB): the number "
                                                   "of gradient buckets, not their total, which equals the gradients.")
        knobs["gradient_as_bucket_view"] = state.toggle(
            "gradient_as_bucket_view", "tm_gbv", False, where=e2,
            help="On: .grad tensors are views into the buckets (one copy of the gradients instead of two).")
    elif engine_name == "fsdp2":
        knobs["reshard_after_forward"] = state.toggle(
            "Reshard after forward", "tm_raf", True, where=e2,
            help="On (default): each layer's gathered parameters are freed after its forward and gathered again in "
                 "backward. Off: every layer stays gathered until its backward (the whole model in param_dtype).")
        rd = state.select("reduce_dtype", "tm_rd", ["default", "fp32", "bf16", "fp16"], "default", where=e2,
                          help="Gradient reduce-scatter dtype; default fp32 under mixed precision, else the parameters'.")
        knobs["reduce_dtype"] = None if rd == "default" else rd
        knobs["cpu_offload"] = state.toggle("CPU offload", "tm_fco", False, where=e3,
                                            help="CPUOffloadPolicy: sharded parameters, gradients and optimizer states "
                                                 "in host memory; only gathered layers and activations on the GPU.")
    elif engine_name == "deepspeed":
        knobs["reduce_bucket_size"] = int(state.number(
            "reduce_bucket_size (elements)", "tm_rbs", 500_000_000, 0, 10**13, step=10_000_000, where=e2,
            help="Gradient bucket (default 5e8 elements: 1 GB in bf16, two with overlap_comm in stages 1-2)."))
        ov = state.select("overlap_comm", "tm_ovc", ["default", "on", "off"], "default", where=e2,
                          help="Default: on for stage 3, off for stages 1-2.")
        knobs["overlap_comm"] = None if ov == "default" else ov == "on"
        knobs["contiguous_gradients"] = state.toggle("contiguous_gradients", "tm_cg", True, where=e2,
                                                     help="The contiguous gradient bucket (default on).")
        knobs["param_persistence_threshold"] = int(state.number(
            "Persistence threshold (elements)", "tm_ppt", 100_000, 0, 10**13, step=10_000, where=e3,
            help="ZeRO-3: parameters this small stay whole on every rank (default 1e5)."))
        knobs["max_live_parameters"] = int(state.number(
            "max_live_parameters", "tm_mlp", 1_000_000_000, 0, 10**13, step=10_000_000, where=e3,
            help="ZeRO-3: most gathered parameter elements alive (default 1e9)."))
        knobs["max_reuse_distance"] = int(state.number(
            "max_reuse_distance", "tm_mrd", 1_000_000_000, 0, 10**13, step=10_000_000, where=e3,
            help="ZeRO-3: a parameter reused within this many elements is kept gathered (default 1e9)."))
        knobs["prefetch_bucket_size"] = int(state.number(
            "prefetch_bucket_size", "tm_pfb", 50_000_000, 0, 10**13, step=1_000_000, where=e4,
            help="ZeRO-3 prefetch (default 5e7 elements)."))
        knobs["offload_param"] = state.toggle("Offload parameters", "tm_opa", False, where=e4,
                                              help="ZeRO-3 parameter partitions in host memory (offload_param).")
    elif engine_name == "megatron":
        knobs["distributed_optimizer"] = state.toggle("Distributed optimizer", "tm_dop", True, where=e2,
                                                      help="Shard fp32 main parameters and Adam's states over dp.")
        gf = state.select("Main grads in fp32", "tm_g32", ["default", "on", "off"], "default", where=e2,
                          help="Default: fp32 with bf16 (Megatron's rule), else the parameter dtype.")
        knobs["grad_reduce_in_fp32"] = None if gf == "default" else gf == "on"


    if engine_name in ("ddp", "fsdp2", "megatron") and int(zero):
        st.caption(f"ZeRO stage {zero} is DeepSpeed's: {engine_name} shards (or replicates) on its own, so the ZeRO "
                   "stage is not used with this engine.")
        zero = 0


    def _other(name: str) -> ModelSpec | None:
        return None if name == SAME else pickers.spec_for(name)


    try:
        setup = TrainingSetup(
            precision=precision, grad_dtype=None if grad == "default" else grad, optimizer=optimizer, zero_stage=int(zero),
            dp=dp, tp=tp, pp=pp, sequence_parallel=sp, micro_batch=micro_batch, seq_len=seq_len, recompute=recompute,
            flash_attention=flash, offload_optimizer=offload, finetune=finetune, lora_rank=lora_rank,
            lora_targets=tuple(targets), rlhf=rlhf, critic=_other(critic), reference=_other(reference),
            reward=_other(reward), overhead_bytes=int(round(overhead_gib * GIB)), dropout=dropout,
            engine=Engine(engine_name, **knobs))
        b = training_memory(model, setup)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()

    cap = gpu.usable_memory_bytes
    with reuse_breakdowns({(model, setup): b}):  # the solvers ask for the same setups several times (issue 18)
        solved = _solve(model, setup, cap, b.total)
    layout = solved.layout
    # The sidebar's unit read once for every size below (fmt.size / size_value read st.session_state on each call:
    # ~25 reads a rerun, about 0.4 ms under py-spy, issue 18); the same functions of it.
    unit = fmt.unit()

    def size(n_bytes: float) -> str:
        return format_bytes(n_bytes, unit, 2)

    def size_value(n_bytes: float) -> float:
        return bytes_in(n_bytes, unit)

    def size_values(n_bytes) -> list[float]:
        return bytes_in(np.asarray(n_bytes), unit).tolist()

    verdict.show_fit(gpu.name, b.total, cap, solved.remedies, b.warnings, solved.alone, unit=unit)
    if solved.selective_idle:
        st.info("Selective recompute changes nothing here: it re-runs only the attention core (softmax and its "
                "dropout), which FlashAttention / SDPA never store. Full recompute is what saves activations.")
    # Rows of metrics in one horizontal container (one block) instead of four columns (five blocks) and then one
    # container per row (``METRICS_CSS`` breaks the line after the fourth), and the fewest-GPUs layout as that
    # metric's grey delta instead of a caption in its column: 6 messages fewer (issue 18)
    m1 = m2 = m3 = m4 = st.container(horizontal=True, key="tm_m")
    m1.metric("Total per GPU", size(b.total), help=f"{b.total:,} bytes")
    m2.metric("GPUs in the job", f"{dp * tp * pp:,}", help="dp x tp x pp")
    states = b.weights + b.master_weights + b.gradients + b.optimizer_states
    m3.metric("Model states per GPU", size(states), help="weights + master weights + gradients + optimizer states")
    m4.metric("CPU memory (offloaded)", size(b.cpu_bytes), help="Per GPU process; not in the GPU total.")

    if isinstance(model, ModelSpec):
        s1 = s2 = s3 = m1
        mb, mc = solved.max_batch, solved.max_context
        s1.metric("Largest micro-batch that fits", "none" if mb is None else f"{mb:,}" + ("+" if mb == 4096 else ""),
                  help=f"At sequence length {seq_len:,}, everything else as set.")
        s2.metric("Longest sequence that fits", "none" if mc is None else f"{mc:,}",
                  help=f"At micro-batch {micro_batch}, everything else as set (up to 4,194,304).")
        ng, how = verdict.layout_text(layout, MAX_GPUS, unit)
        s3.metric("Fewest GPUs that fit", ng, delta=how, delta_color="off", delta_arrow="off",
                  help="The smallest job whose per-GPU memory fits: tp divides the heads and "
                  "KV heads (up to 8, one node), then pp divides the layers, then ZeRO over dp (stages 2-3 only without "
                  "pp); micro-batch, sequence, precision and the rest as set.")

    comps_unit = {k: size_value(v) for k, v in b.components().items()}
    # The charts change with nearly every input: written as the dicts Plotly would validate them into, not validated
    # again on every rerun (ui/figures_spec.py, issue 18).
    charts.show(st, charts.FrozenFigure.from_dict(breakdown_bar_spec(comps_unit, size_value(cap), unit, gpu.name)),
                width="stretch")

    if isinstance(model, ModelSpec):
        seqs, batches, b_hi = memory_solvers.sweep_points(seq_len, micro_batch)
        g_seq = breakdown_grid(model, setup, [micro_batch], seqs)
        g_bat = breakdown_grid(model, setup, batches, [seq_len])
        left = right = st.container(horizontal=True)  # one block, not three (issue 18)
        parts = [k for k in g_seq if k != "total"]  # an engine's buffers too
        charts.show(left, charts.FrozenFigure.from_dict(sweep_area_spec(
            seqs, {k: size_values(g_seq[k][0]) for k in parts}, size_value(cap), unit, "sequence length (tokens)",
            seq_len, log_x=True, title=f"Against sequence length, micro-batch {micro_batch}")), width="stretch")
        charts.show(right, charts.FrozenFigure.from_dict(sweep_area_spec(
            batches, {k: size_values(g_bat[k][:, 0]) for k in parts}, size_value(cap), unit,
            "micro-batch per GPU", micro_batch, log_x=b_hi > 256,
            title=f"Against micro-batch, sequence length {seq_len:,}")), width="stretch")
    else:
        st.info("Parameter count only: activations are **not computed** (they need the architecture: hidden size, "
                "layers, heads, vocabulary). Pick 'sidebar model' for them and for the sweeps and solvers.")

    if b.notes:  # one element for all of them (issue 18): a Markdown list in one caption
        st.caption("\n".join(f"- {text.md(note, 1000)}" for note in b.notes))

    held = None  # the engine's memory between steps (the details below compare it with DeepSpeed's estimators)
    if engine_name != "plain":
        st.subheader(f"The step as {engine_name} allocates it")
        phases, held = memo.cached(("training_memory.phases", model, setup),
                                   lambda: (engine_phases(model, setup), between_steps(model, setup).total))
        _bytes_records_table(phases_rows(phases, size))
        st.caption(f"Held between steps (after optimizer.step(), before zero_grad): "
                   f"{size(held)}. The peak is the largest moment; during backward "
                   "memory moves from the first to the second layer by layer. Defaults and buffers from "
                   f"{SOURCES[engine_name]}.")
    # Lazy (issue 18): the exact bytes per component (and each engine buffer's source) with their CSV, DeepSpeed's own
    # estimators and the formulas are drawn only while this one expander is open (the metrics and the bar chart above
    # show the same components); closed, none of it is built or sent. One expander, not three: a keyed expander costs
    # a rerun about what an input does (~0.5 ms under bench/bench_pages.py, py-spy).
    n = param_counts(model).total if isinstance(model, ModelSpec) else model
    with st.expander(DETAILS, key="tm_xtab", on_change="rerun") as ex:
        if ex.open:
            _components_table(b, unit, engine_name)
            st.markdown("**DeepSpeed's own estimators for this setup**")
            est = deepspeed_estimates(model, setup)
            _bytes_records_table(estimator_rows(b.total, est, size, held))
            st.markdown(rf"""
        `estimate_zero2_model_states_mem_needs` (deepspeed/runtime/zero/stage_1_and_2.py): GPU $2P + 18P/N$ ("2 =
        params_16bit, 18 = 2_grads_16bit + 4_grads_32bit + 4_params_32bit + 8_optimizer_states_32bit"), with optimizer
        offload $2P$. `estimate_zero3_model_states_mem_needs` (stage3.py): GPU $4L + 18P/N$, offload $4L + 2P/N$, with
        parameters offloaded too $4L$, where $L$ = {est['largest_layer_params']:,}, the most parameters one module holds
        itself (their `model_to_params`), $P$ = {est['params']:,}, $N$ = dp = {dp} on one node. They differ from this page
        because they count model states only (no activations, no gradient buckets or gathered layers), keep a whole 16-bit
        gradient and an fp32 gradient partition for ZeRO-2, and add the largest layer in 4 bytes per parameter for ZeRO-3.
        """)
            per = states / max(n, 1) * tp * pp
            st.markdown(rf"""
        **Formulas, assumptions and the numbers behind them**

        **Model states** (ZeRO, Rajbhandari et al. 2019, sec. 3.1, 5) for $\Psi$ = {n:,} parameters, split by
        tp x pp = {tp * pp} first, then sharded over dp = {dp} by ZeRO stage {zero}:
        weights {setup.compute_dtype} ({'nf4 base for QLoRA' if finetune == 'qlora' else 'all'}), master weights fp32
        ({'yes' if setup.master_weights else 'no'}), gradients {setup.gradient_dtype}, optimizer `{optimizer}`.
        Here: model states per GPU x tp x pp / $\Psi$ = **{per:.3f} bytes per parameter**. Mixed-precision AdamW without ZeRO
        is $2 + 4 + 2 + 8 = 16$ B/param; ZeRO-1 $4 + 12/N_d$, ZeRO-2 $2 + 14/N_d$, ZeRO-3 $16/N_d$ (ZeRO paper: 7.5B,
        $N_d = 64$: 120, 31.4, 16.6, 1.9 GB). fp32 AdamW: $4 + 4 + 8 = 16$ B/param = 4 x the fp32 inference weights.

        **Activations** (Korthikanti et al. 2022 method, every saved tensor of this block as `transformers` implements it;
        the per-layer figure is checked against real PyTorch `saved_tensors_hooks` on small models): per layer
        $b\,s\,(P + s\,K)$ bytes, summed over the layers of the pipeline stage, times the micro-batches in flight
        ($pp - k$ on stage $k$ with 1F1B). The peak adds the larger of two things that are never alive together: the
        loss's tensors on the last stage, $12\,s\,b\,V$ / tp (the fp32 log-softmax kept for the cross-entropy, and
        the fp32 gradients of the log-probabilities and of the logits: `transformers` upcasts logits to fp32 for the loss), or one layer's backward (the gradient of the hidden state and two
        MLP-wide gradients; with full recompute also the layer's re-run forward). Full recompute keeps $e\,s\,b\,h$ per
        layer. LoRA: the frozen base keeps less (no linear inputs, no normalized tensors), each adapter keeps an fp32
        copy of its input (PEFT) and its rank-$r$ output. The 5as/h term of Korthikanti is eager attention's
        $s \times s$ matrices; fused attention (FlashAttention, SDPA) stores none.
        Dropout ({'set to ' + format(dropout, 'g') if dropout is not None else "the config's"}): each saves a 1-byte mask per
        element on CUDA: on the attention probabilities with eager attention ($a\,s^2$ per sequence and layer;
        FlashAttention regenerates its mask from the RNG seed and stores none), after the attention output and the MLP
        where the family has residual dropout ($2\,h$ per token and layer: GPT-2's `resid_pdrop`), after the embeddings
        ($h$ per token: `embd_pdrop`).

        **Overhead** {size(setup.overhead_bytes)}: CUDA context, workspaces and fragmentation (an assumption you set).
        Capacity {size(cap)}: what {gpu.name} reports (`nvidia-smi` total). Not counted: communication buffers beyond the
        overhead, the PPO rollout phase, data-loader memory.
        """)
            if isinstance(model, ModelSpec):
                lora = None if finetune == "full" else (lora_rank, tuple(targets), 16 if precision == "bf16" else 32)
                terms = layer_terms(model, min(1, model.num_layers - 1), recompute=recompute, flash_attention=flash,
                                    act_bits=setup.act_bits, lora=lora, dropout=config_dropout(model, dropout))
                st.markdown("Saved tensors of one decoder layer (layer 1; bytes per token, per token and key position; "
                            "split by tp unless marked replicated):")
                # records straight to Arrow (the DataFrame's table, tables.records_arrow; issue 18)
                st.dataframe(tables.records_arrow([{"tensor": t.name, "bytes per token": t.per_token,
                                                    "bytes per token per key": t.per_token_key,
                                                    "tp": "split" if t.tp_sharded else "replicated (split with SP)"}
                                                   for t in terms]), hide_index=True, width="stretch")

    results.publish("training-memory", {"total per GPU": (b.total, "bytes"), **{k: (v, "bytes") for k, v in
                                        b.components().items()}, "CPU offloaded": (b.cpu_bytes, "bytes")})


page_body.run(_page, "training_memory", f"<style>{INPUTS_CSS}{METRICS_CSS}</style>")
