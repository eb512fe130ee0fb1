"""``python -m calc memory``: training or inference memory per GPU, itemized, with a fit verdict."""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict

from calc.cli import emit_json, print_table, printable
from calc.cli.common import (
    Bounded,
    add_gpu_args,
    add_hf_args,
    float_range,
    gpu_from_args,
    hub_model_from_args,
    int_range,
    load_config_file,
    model_from_args,
)
from calc.engines import (
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
    KV_DTYPES,
    LORA_TARGETS,
    OPTIMIZERS,
    PRECISIONS,
    RLHF,
    STATE_DTYPES,
    InferenceSetup,
    MemoryBreakdown,
    TrainingSetup,
    inference_memory,
    training_memory,
)
from calc.models import ModelSpec
from calc.presets import PRESETS, get_preset
from calc.solvers import best_weight_dtype, fewest_gpus, max_batch, max_context, remedies
from calc.units import GB, GIB, format_bytes

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


def parse_count(text: str) -> int:
    """A parameter count: ``6738415616``, ``7e9``, ``7B``, ``1.5T`` (K, M, B/G, T = powers of 1000)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([KMBGT]?)\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"must be a count such as 7000000000, 7e9 or 7B, got {text!r:.40}")
    value = float(m.group(1)) * _SUFFIX[m.group(2)]
    if not 1 <= value <= 1e15:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1e15 parameters, got {text!r:.40}")
    return int(round(value))


def _other_model(text: str | None) -> ModelSpec | int | None:
    """``--critic/--reference/--reward``: a preset name, a config.json path, or a parameter count."""
    if text is None:
        return None
    if text in PRESETS or text.lower() in {k.lower() for k in PRESETS}:
        return get_preset(text)
    if text.endswith(".json"):
        return ModelSpec.from_hf_config(load_config_file(text), name=text, source=text)
    try:
        return parse_count(text)
    except argparse.ArgumentTypeError:
        raise ValueError(f"{text!r:.60} is neither a preset, a config.json path nor a parameter count") from None


def add_parser(sub) -> None:
    p = sub.add_parser("memory", help="training or inference memory per GPU, itemized, and whether it fits")
    p.add_argument("--mode", choices=("train", "infer"), required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="a preset name (see `python -m calc models`)")
    g.add_argument("--config", metavar="FILE", help="a Hugging Face config.json")
    g.add_argument("--params", type=Bounded(1, 1e15, integer=True, parse=parse_count), metavar="N",
                   help="a parameter count only (7e9, 7B): no architecture, so no activations or KV cache")
    add_hf_args(p, g)
    t = p.add_argument_group("training")
    t.add_argument("--precision", choices=PRECISIONS, default="bf16-mixed")
    t.add_argument("--grad-dtype", choices=GRAD_DTYPES, default=None, help="default: the precision's")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    t.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0, help="ZeRO stage (shards over --dp)")
    t.add_argument("--dp", type=int_range(1, 100_000), default=1, help="data-parallel degree")
    t.add_argument("--pp", type=int_range(1, 1024), default=1, help="pipeline-parallel degree")
    t.add_argument("--sequence-parallel", action="store_true")
    t.add_argument("--micro-batch", type=int_range(1, 100_000), default=1)
    t.add_argument("--seq", type=int_range(1, 10_000_000), default=2048, help="training sequence length")
    t.add_argument("--recompute", choices=("none", "selective", "full"), default="none")
    t.add_argument("--selective", choices=("attention", "ops"), default="attention",
                   help="which selective recompute: Megatron-LM's (attention core re-run) or torchtitan's per-op "
                        "policy (every other matmul's and the attention kernel's outputs kept)")
    t.add_argument("--dropout", type=Bounded(0, 1, unit="(a probability)"), default=None, metavar="P",
                   help="dropout probability wherever the model applies dropout (default: the config's, e.g. "
                        "GPT-2's 0.1); its masks are saved activations")
    t.add_argument("--flash-attn", dest="flash_attn", action="store_true", default=True)
    t.add_argument("--no-flash-attn", dest="flash_attn", action="store_false")
    t.add_argument("--offload-optimizer", action="store_true", help="optimizer states and master weights on CPU")
    t.add_argument("--finetune", choices=FINETUNE, default="full")
    t.add_argument("--lora-rank", type=int_range(1, 65_536), default=16)
    t.add_argument("--lora-targets", default=",".join(LORA_TARGETS[:4]),
                   help=f"comma-separated, among {','.join(LORA_TARGETS)}")
    t.add_argument("--rlhf", choices=RLHF, default="none")
    for role in ("critic", "reference", "reward"):
        t.add_argument(f"--{role}", metavar="MODEL|FILE|N", help=f"{role} model for --rlhf (default: same as the policy)")
    _add_engine_args(p)
    i = p.add_argument_group("inference")
    i.add_argument("--weights-dtype", default=None,
                   help="fp32, fp16, bf16, fp8, int8, int4, nf4, a GGUF file type such as Q4_K_M, or 'checkpoint': "
                        "the bytes as published (default with --hf; else bf16)")
    i.add_argument("--kv-dtype", choices=KV_DTYPES, default="bf16")
    i.add_argument("--state-dtype", choices=STATE_DTYPES, default="fp32",
                   help="recurrent (Mamba / DeltaNet) state of hybrid models; the conv state stays bf16")
    i.add_argument("--batch", type=int_range(1, 1_000_000), default=1)
    i.add_argument("--context", type=int_range(1, 100_000_000), default=4096)
    p.add_argument("--tp", type=int_range(1, 1024), default=1, help="tensor-parallel degree")
    p.add_argument("--overhead-bytes", type=int_range(0, 2**40), default=None, help="CUDA context + framework reserve (default 1 GiB)")
    add_gpu_args(p, "a GPU from `python -m calc gpus`: adds the verdict and the solvers")
    p.add_argument("--json", action="store_true", help="print JSON (bytes per GPU)")
    p.set_defaults(run=run)


def _add_engine_args(p) -> None:
    """The engine and its knobs (``calc.engines.Engine``); defaults are each engine's own."""
    e = p.add_argument_group("training engine (calc.engines: each engine's buffers, defaults from its source)")
    e.add_argument("--engine", choices=ENGINES, default="plain",
                   help="plain: the ZeRO paper's model states + activations; ddp, fsdp2 (fully_shard), deepspeed "
                        "(ZeRO stage from --zero), megatron (distributed optimizer)")
    e.add_argument("--optimizer-impl", choices=OPTIMIZER_IMPLS, default="foreach",
                   help="torch.optim step: foreach (CUDA default: one parameter-sized temporary), fused, for-loop")
    e.add_argument("--bucket-mb", type=float_range(0.001, 1e6, "MiB"), default=25.0,
                   help="DDP bucket_cap_mb (default 25 MiB): the number of buckets, not their total")
    e.add_argument("--gradient-as-bucket-view", action="store_true", help="DDP: .grad as views into the buckets")
    e.add_argument("--reshard-after-forward", dest="reshard_after_forward", action="store_true", default=True,
                   help="FSDP2: free each layer's gathered parameters after its forward (default)")
    e.add_argument("--no-reshard-after-forward", dest="reshard_after_forward", action="store_false",
                   help="FSDP2: keep every layer gathered from forward to its backward")
    e.add_argument("--reduce-dtype", choices=("fp32", "bf16", "fp16"), default=None,
                   help="FSDP2 reduce_dtype (default fp32 under mixed precision, else the parameter dtype)")
    e.add_argument("--fsdp-cpu-offload", action="store_true",
                   help="FSDP2 CPUOffloadPolicy: sharded parameters, gradients, optimizer states in host memory")
    e.add_argument("--reduce-bucket-size", type=int_range(0, 10**13, "elements"), default=500_000_000,
                   help="DeepSpeed reduce_bucket_size (default 5e8 elements: 1 GB in bf16)")
    e.add_argument("--allgather-bucket-size", type=int_range(0, 10**13, "elements"), default=500_000_000,
                   help="DeepSpeed allgather_bucket_size (stages 1-2)")
    e.add_argument("--no-contiguous-gradients", dest="contiguous_gradients", action="store_false", default=True,
                   help="DeepSpeed: no contiguous gradient bucket")
    e.add_argument("--overlap-comm", dest="overlap_comm", action="store_true", default=None,
                   help="DeepSpeed overlap_comm (default: on for stage 3 only; two buckets in stages 1-2)")
    e.add_argument("--no-overlap-comm", dest="overlap_comm", action="store_false")
    e.add_argument("--param-persistence-threshold", type=int_range(0, 10**13, "elements"), default=100_000,
                   help="DeepSpeed ZeRO-3: parameters this small stay whole on every rank (default 1e5)")
    e.add_argument("--max-live-parameters", type=int_range(0, 10**13, "elements"), default=1_000_000_000)
    e.add_argument("--max-reuse-distance", type=int_range(0, 10**13, "elements"), default=1_000_000_000)
    e.add_argument("--prefetch-bucket-size", type=int_range(0, 10**13, "elements"), default=50_000_000)
    e.add_argument("--sub-group-size", type=int_range(0, 10**13, "elements"), default=1_000_000_000)
    e.add_argument("--offload-param", action="store_true", help="DeepSpeed ZeRO-3: parameter partitions on the CPU")
    e.add_argument("--no-distributed-optimizer", dest="distributed_optimizer", action="store_false", default=True,
                   help="Megatron: replicate the optimizer (no --use-distributed-optimizer)")
    e.add_argument("--grad-reduce-in-fp32", dest="grad_reduce_in_fp32", action="store_true", default=None,
                   help="Megatron main grads in fp32 (default: on with bf16)")
    e.add_argument("--no-grad-reduce-in-fp32", dest="grad_reduce_in_fp32", action="store_false")


def engine_from_args(args) -> Engine:
    return Engine(args.engine, optimizer_impl=args.optimizer_impl, bucket_cap_mb=args.bucket_mb,
                  gradient_as_bucket_view=args.gradient_as_bucket_view,
                  reshard_after_forward=args.reshard_after_forward, reduce_dtype=args.reduce_dtype,
                  cpu_offload=args.fsdp_cpu_offload, reduce_bucket_size=args.reduce_bucket_size,
                  allgather_bucket_size=args.allgather_bucket_size, contiguous_gradients=args.contiguous_gradients,
                  overlap_comm=args.overlap_comm, param_persistence_threshold=args.param_persistence_threshold,
                  max_live_parameters=args.max_live_parameters, max_reuse_distance=args.max_reuse_distance,
                  prefetch_bucket_size=args.prefetch_bucket_size, sub_group_size=args.sub_group_size,
                  offload_param=args.offload_param, distributed_optimizer=args.distributed_optimizer,
                  grad_reduce_in_fp32=args.grad_reduce_in_fp32)


def setup_from_args(args, checkpoint_bytes: int | None = None) -> TrainingSetup | InferenceSetup:
    extra = {} if args.overhead_bytes is None else {"overhead_bytes": args.overhead_bytes}
    if args.mode == "infer":
        dtype = args.weights_dtype or ("checkpoint" if checkpoint_bytes is not None else "bf16")
        if dtype == "checkpoint" and checkpoint_bytes is None:
            raise ValueError("--weights-dtype checkpoint needs --hf ID with safetensors files")
        if dtype == "checkpoint":
            extra["checkpoint_bytes"] = checkpoint_bytes
        return InferenceSetup(weights_dtype="bf16" if dtype == "checkpoint" else dtype, kv_dtype=args.kv_dtype,
                              state_dtype=args.state_dtype, batch=args.batch, context=args.context, tp=args.tp, **extra)
    targets = tuple(x.strip() for x in args.lora_targets.split(",") if x.strip())
    return TrainingSetup(
        precision=args.precision, grad_dtype=args.grad_dtype, optimizer=args.optimizer, zero_stage=args.zero,
        dp=args.dp, tp=args.tp, pp=args.pp, sequence_parallel=args.sequence_parallel,
        micro_batch=args.micro_batch, seq_len=args.seq, recompute=args.recompute, selective=args.selective,
        flash_attention=args.flash_attn, offload_optimizer=args.offload_optimizer, finetune=args.finetune,
        lora_rank=args.lora_rank, lora_targets=targets, rlhf=args.rlhf, critic=_other_model(args.critic),
        reference=_other_model(args.reference), reward=_other_model(args.reward), engine=engine_from_args(args),
        dropout=args.dropout, **extra)


def _solvers(model, setup, capacity: int) -> dict:
    layout = fewest_gpus(model, setup, capacity)
    out: dict = {"fewest_gpus": None if layout is None else {
        "gpus": layout.gpus, "layout": layout.describe(), "tp": layout.tp, "pp": layout.pp, "dp": layout.dp,
        "zero_stage": layout.zero_stage, "per_gpu_bytes": layout.per_gpu_bytes}}
    out["would_fit_with"] = [{"change": r.change, "gpus": r.gpus, "per_gpu_bytes": r.per_gpu_bytes}
                             for r in remedies(model, setup, capacity, layout)]
    if isinstance(model, ModelSpec):
        out["max_batch"] = max_batch(model, setup, capacity)
        out["max_context"] = max_context(model, setup, capacity)
    if isinstance(setup, InferenceSetup):
        out["best_weight_dtype"] = best_weight_dtype(model, setup, capacity)
    return out


def _engine_result(model, setup: TrainingSetup) -> dict:
    """The engine, its knobs, its three moments and states between steps, and DeepSpeed's estimators."""
    e = setup.engine
    out: dict = {"name": e.name, "knobs": {k: v for k, v in asdict(e).items() if k != "name"},
                 "deepspeed_estimates": deepspeed_estimates(model, setup)}
    if e.name != "plain":
        out["phases"] = {k: {"total_bytes": b.total, "components": b.components()}
                         for k, b in engine_phases(model, setup).items()}
        out["between_steps_bytes"] = between_steps(model, setup).total
        out["source"] = SOURCES[e.name]
    return out


def run(args) -> int:
    ckpt_bytes = None
    if args.revision is not None and args.hf is None:
        raise ValueError("--revision goes with --hf ID")
    if args.hf is not None:
        found = hub_model_from_args(args)
        if found.spec is None:
            raise ValueError(f"{found.name}: {found.note}")
        model, ckpt_bytes = found.spec, found.checkpoint.bytes if found.checkpoint else None
    else:
        model = args.params if args.params is not None else model_from_args(args)
    setup = setup_from_args(args, ckpt_bytes)
    b: MemoryBreakdown = training_memory(model, setup) if args.mode == "train" else inference_memory(model, setup)
    gpu = gpu_from_args(args)
    result: dict = {
        "mode": args.mode,
        "model": model.name if isinstance(model, ModelSpec) else None,
        "params": model if isinstance(model, int) else None,
        "components": b.components(),
        "total_bytes": b.total,
        "cpu_bytes": b.cpu_bytes,
        "activations_computed": isinstance(model, ModelSpec),
        "kv_cache_computed": isinstance(model, ModelSpec) and args.mode == "infer",
        "notes": list(b.notes),
        "warnings": list(b.warnings),
    }
    if args.mode == "train":
        result["engine"] = _engine_result(model, setup)
    if gpu is not None:
        cap = gpu.usable_memory_bytes
        result["gpu"] = {"name": gpu.name, "capacity_bytes": cap, "fits": b.total <= cap,
                         "headroom_bytes": cap - b.total}
        result["solvers"] = _solvers(model, setup, cap)
    if args.json:
        emit_json(result)
        return 0
    title = result["model"] or f"{model:,} parameters (no architecture)"
    print(printable(f"{title}: {'training' if args.mode == 'train' else 'inference'} memory per GPU"))
    rows = [{"component": k, "bytes": f"{v:,}", "GB": f"{v / GB:.3f}", "GiB": f"{v / GIB:.3f}"}
            for k, v in b.components().items()]
    rows.append({"component": "total", "bytes": f"{b.total:,}", "GB": f"{b.total / GB:.3f}",
                 "GiB": f"{b.total / GIB:.3f}"})
    if b.cpu_bytes:
        rows.append({"component": "CPU (offloaded)", "bytes": f"{b.cpu_bytes:,}", "GB": f"{b.cpu_bytes / GB:.3f}",
                     "GiB": f"{b.cpu_bytes / GIB:.3f}"})
    print_table(rows)
    for note in b.notes:
        print(printable(f"- {note}"))
    for warning in b.warnings:
        print(printable(f"warning: {warning}"))
    if gpu is not None:
        g = result["gpu"]
        verdict = "FITS" if g["fits"] else "DOES NOT FIT"
        print(f"{verdict} on {gpu.name} ({format_bytes(g['capacity_bytes'], 'GiB')}): headroom "
              f"{format_bytes(g['headroom_bytes'], 'GiB')}")
        for k, v in result["solvers"].items():
            limit = {"max_context": 1 << 24, "max_batch": 1 << 20}.get(k)
            more = " or more (the search limit)" if limit is not None and v == limit else ""
            if k == "fewest_gpus" and v is not None:
                v = f"{v['gpus']:,} ({v['layout']}: {format_bytes(v['per_gpu_bytes'], 'GiB')} per GPU)"
            elif k == "would_fit_with":
                v = "; ".join(f"{r['change']} ({format_bytes(r['per_gpu_bytes'], 'GiB')} per GPU)" for r in v) or None
                if v is None and g["fits"]:
                    continue
            print(f"{k}: {'none fits' if v is None else v}{more}")
    return 0
