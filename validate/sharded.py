"""Real distributed engines on the CPU: DDP, FSDP2 and DeepSpeed ZeRO, measured per rank with gloo on 127.0.0.1.

For each world size (2 and 4 ranks) one group of processes is spawned (``torch.multiprocessing``,
gloo on a free port of 127.0.0.1); every rank then runs each case in turn: build the model
(``validate.harness.build_model``, the same small ``transformers`` models as the rest of the
harness), wrap it in the engine, make ``torch.optim.AdamW`` and run three training steps (forward,
loss, backward, ``optimizer.step()``, ``zero_grad(set_to_none=True)``) on its own random tokens.
Steps 1 and 2 warm up (AdamW allocates its states; DDP rebuilds its buckets in the order the
gradients arrived); step 3 is measured by two instruments running from before the model is built:

- the harness's tracker (``validate.measure.PeakTracker``): every ATen op, each output storage
  counted until it is freed, DTensor shards by their local tensor, storage resizes (FSDP2 frees its
  unsharded parameters with ``resize_(0)``) re-read after each op. It also records which storages
  are alive at the peak, so the peak is split into parameters, optimizer states, gradients,
  gathered (unsharded) parameters, what persisted from before the step (engine buffers such as
  DDP's gradient buckets) and what the step created and freed (activations, temporaries);
- PyTorch's profiler with ``profile_memory=True``: the CPU allocator's running total of allocated
  bytes (``total_allocated`` of each allocation event), which sees every allocation made through
  c10's allocator on the profiled threads, ops or not. Positions in its event stream are found by
  sentinel allocations of prime sizes made between the phases.

Per rank and case: the states held between steps (after ``optimizer.step()``, before
``zero_grad``: parameter shards, gradients, optimizer states and engine buffers) and the peak of
step 3. ``validate.predict_sharded`` pairs them with ``calc.engines``.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

SHARDED_PATH = Path(__file__).resolve().parent / "sharded_results.json"
MODELS = ("llama_gqa", "qwen2", "mixtral_moe")
WORLDS = (2, 4)
#: sentinel allocation sizes (bytes, primes) that mark phases in the profiler's allocation stream
_SENTINEL = {"step_start": 7919, "after_step": 7927, "step_end": 7933}


@dataclass(frozen=True)
class EngineCase:
    """One way of running the model: the engine and the knobs that change its memory."""

    key: str
    engine: str  # "ddp" | "fsdp2" | "deepspeed"
    label: str
    dtype: str = "fp32"  # the model's parameters (DDP, DeepSpeed) / FSDP2's param_dtype
    reduce_dtype: str = "fp32"  # FSDP2's reduce_dtype
    reshard_after_forward: bool = True  # FSDP2, decoder layers (the root never reshards: PyTorch's default)
    gradient_as_bucket_view: bool = False  # DDP
    zero_stage: int = 0  # DeepSpeed
    persistence_threshold: int | None = None  # DeepSpeed ZeRO-3 stage3_param_persistence_threshold (None: default)
    bucket_elements: int | None = None  # DeepSpeed reduce_bucket_size and allgather_bucket_size (None: 5e8)


CASES: tuple[EngineCase, ...] = (
    EngineCase("ddp", "ddp", "DDP, fp32"),
    EngineCase("ddp_view", "ddp", "DDP, fp32, gradient_as_bucket_view", gradient_as_bucket_view=True),
    EngineCase("ddp_bf16", "ddp", "DDP, bf16 model", dtype="bf16"),
    EngineCase("fsdp2", "fsdp2", "FSDP2, fp32, reshard after forward"),
    EngineCase("fsdp2_keep", "fsdp2", "FSDP2, fp32, no reshard after forward", reshard_after_forward=False),
    EngineCase("fsdp2_bf16", "fsdp2", "FSDP2, bf16 params / fp32 reduce, reshard after forward", dtype="bf16"),
    EngineCase("fsdp2_bf16_keep", "fsdp2", "FSDP2, bf16 params / fp32 reduce, no reshard after forward",
               dtype="bf16", reshard_after_forward=False),
)
#: DeepSpeed's default buckets (5e8 elements: 1 GB in bf16) dwarf these small models, so three cases use 5e5
#: elements (1 MB) and let the model states show; one keeps the default. ZeRO-3 with persistence threshold 0
#: partitions and gathers every parameter (the default 1e5 keeps most tensors of a small model whole).
DEEPSPEED_CASES: tuple[EngineCase, ...] = (
    EngineCase("zero1", "deepspeed", "DeepSpeed ZeRO-1, bf16, 1 MB buckets", dtype="bf16", zero_stage=1,
               bucket_elements=500_000),
    EngineCase("zero2", "deepspeed", "DeepSpeed ZeRO-2, bf16, 1 MB buckets", dtype="bf16", zero_stage=2,
               bucket_elements=500_000),
    EngineCase("zero3", "deepspeed", "DeepSpeed ZeRO-3, bf16, 1 MB buckets, persistence threshold 0", dtype="bf16",
               zero_stage=3, persistence_threshold=0, bucket_elements=500_000),
    EngineCase("zero2_default", "deepspeed", "DeepSpeed ZeRO-2, bf16, default 1 GB bucket", dtype="bf16",
               zero_stage=2),
)


def _padding_arch():
    """The Mixtral-style model with 3 experts: 3 rows of the fused expert tensors do not split over 2 or 4
    ranks, so FSDP2 pads them (every rank stores ``ceil(3 / N)`` experts)."""
    from validate.configs import Arch, get_arch

    base = get_arch("mixtral_moe")
    return Arch("mixtral_3experts", "Mixtral-style MoE, 3 experts", {**base.config, "num_local_experts": 3},
                "3 routed experts (top-2): FSDP2 pads the fused expert tensors over 2 and 4 ranks")


def get_arch(key: str):
    """The harness's architectures (``validate.configs``) and ``mixtral_3experts``."""
    from validate.configs import get_arch as harness_arch

    return _padding_arch() if key == "mixtral_3experts" else harness_arch(key)


def get_case(key: str) -> EngineCase:
    for c in CASES + DEEPSPEED_CASES:
        if c.key == key:
            return c
    raise ValueError(f"case must be one of {[c.key for c in CASES + DEEPSPEED_CASES]}, got {key!r}")


def deepspeed_status() -> str | None:
    """None when DeepSpeed imports here; else why not (one line)."""
    try:
        import deepspeed  # noqa: F401
    except Exception as exc:  # ImportError, or a build/accelerator error raised at import
        return f"deepspeed does not import: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- one rank -------------------------------------------------------------------------------------
def _torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def _wrap(model, case: EngineCase, world: int):
    """The engine around ``model``; returns (module to call, optimizer)."""
    import torch

    if case.engine == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, gradient_as_bucket_view=case.gradient_as_bucket_view)
        return ddp, torch.optim.AdamW(ddp.parameters(), lr=1e-4)
    if case.engine == "fsdp2":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=_torch_dtype(case.dtype), reduce_dtype=_torch_dtype(case.reduce_dtype))
        for layer in model.model.layers:  # one unit per decoder layer, then the root (embeddings, norm, head)
            fully_shard(layer, reshard_after_forward=case.reshard_after_forward, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
        return model, torch.optim.AdamW(model.parameters(), lr=1e-4)
    import deepspeed
    import deepspeed.ops

    # DeepSpeed's CPU accelerator JIT-compiles a shared-memory all-reduce (deepspeed_shm_comm, C++, over 15
    # minutes on two loaded cores); marked unavailable, its communication goes through torch.distributed (gloo)
    # as it does on a machine where the op cannot build. It holds no tensors of the model.
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    zero = {"stage": case.zero_stage}
    if case.persistence_threshold is not None:
        zero["stage3_param_persistence_threshold"] = case.persistence_threshold
    if case.bucket_elements is not None:
        zero.update(reduce_bucket_size=case.bucket_elements, allgather_bucket_size=case.bucket_elements)
    config = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
              "zero_optimization": zero, "bf16": {"enabled": case.dtype == "bf16"},
              "zero_allow_untested_optimizer": True, "zero_force_ds_cpu_optimizer": False,
              "steps_per_print": 10**9, "wall_clock_breakdown": False}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    engine, opt, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=config)
    return engine, opt


def _step(module, opt, ids, case: EngineCase) -> None:
    loss = module(input_ids=ids, labels=ids, use_cache=False).loss
    if case.engine == "deepspeed":
        module.backward(loss)
        del loss
        module.step()  # optimizer step and zero_grad
        return
    loss.backward()
    del loss
    opt.step()


def _sentinel(name: str):
    import torch

    return torch.empty(_SENTINEL[name], dtype=torch.uint8)


def _profiler_totals(prof) -> list[tuple[int, int, int]]:
    """(time ns, bytes allocated (+) or freed (-), pointer) of every CPU allocation event, in time order."""
    from torch._C._profiler import _EventType

    out = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        n = stack.pop()
        if n.typed[0] == _EventType.Allocation and n.typed[1].device.type == "cpu":
            out.append((n.start_time_ns, n.typed[1].alloc_size, n.typed[1].ptr))
        stack.extend(n.children)
    return sorted(out)


def _profiler_measures(events) -> dict:
    """States and step peak from the allocator's events, between the sentinel allocations.

    Bytes live = allocations of this session not yet freed (by pointer): a free of memory allocated
    before the session (the previous case's objects, collected late) is not this case's.
    """
    live: dict[int, int] = {}
    total, timeline, marks = 0, [], {}
    sentinel_names = {v: k for k, v in _SENTINEL.items()}
    for i, (_, size, ptr) in enumerate(events):
        if size > 0:
            if size in sentinel_names:
                marks.setdefault(sentinel_names[size], i)
            total += size - live.get(ptr, 0)  # an address handed out again was freed, maybe on a thread
            live[ptr] = size  # the profiler does not record (gloo's workers free what they received)
        elif ptr in live:
            total -= live.pop(ptr)
        timeline.append(total)
    if set(marks) != set(_SENTINEL):
        return {"states_bytes": None, "peak_bytes": None}
    before = {k: timeline[i] - _SENTINEL[k] for k, i in marks.items()}  # just before the sentinel's allocation
    inside = [t for t, (_, size, _) in zip(timeline[marks["step_start"] + 1:marks["step_end"]],
                                           events[marks["step_start"] + 1:marks["step_end"]], strict=True)
              if abs(size) not in _SENTINEL.values()]
    return {"states_bytes": before["after_step"], "peak_bytes": max(inside + [before["step_start"]])}


def _classify(at: dict[int, tuple[int, int]], known: dict[str, set], before_step: set) -> dict:
    """Bytes of the storages ``at`` (key -> (birth op, bytes)) by kind.

    A storage is identified by its key and the op that created it (an address alone can be reused
    by a later storage): first the ``known`` kinds, then what was alive before the step began
    (engine buffers, the token ids), then what the step itself created (activations, temporaries).
    """
    out = {k: 0 for k in (*known, "persistent_other", "step_temporaries")}
    for key, (born, n) in at.items():
        kind = next((k for k, ids in known.items() if (key, born) in ids), None)
        if kind is None:
            kind = "persistent_other" if (key, born) in before_step else "step_temporaries"
        out[kind] += n
    return out


def _local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def _state_keys(module, opt, case: EngineCase, tracker) -> dict[str, set[tuple[int, int]]]:
    """(key, birth) of the storages of parameters (local shards), gradients, optimizer states and
    gathered parameters, as the tracker knows them now."""
    import torch

    def ids(tensors) -> set[tuple[int, int]]:
        out = set()
        for t in tensors:
            t = _local(t) if t is not None else None
            if t is not None and t.numel() and tracker.key(t) in tracker.live:
                out.add((tracker.key(t), tracker.live[tracker.key(t)][2]))
        return out

    params = list(module.parameters())
    opts = [opt] if not hasattr(opt, "optimizer") else [opt, opt.optimizer]
    states = [v for o in opts for st in getattr(o, "state", {}).values() for v in st.values()
              if isinstance(v, torch.Tensor)]
    keys = {"parameters": ids(params), "gradients": ids(p.grad for p in params),
            "optimizer_states": ids(states), "gathered_parameters": set()}
    if case.engine == "fsdp2":
        for m in module.modules():
            state = getattr(m, "_get_fsdp_state", None)
            group = state()._fsdp_param_group if state is not None else None
            for fp in (group.fsdp_params if group is not None else ()):
                for t in getattr(fp, "all_gather_outputs", []) or []:
                    # freed with resize_(0) between uses: same storage, so match on the key alone
                    keys["gathered_parameters"] |= {(tracker.key(t), b) for b in _births(tracker, t)}
    if case.engine == "deepspeed":
        for name, kind in (("single_partition_of_fp32_groups", "master_weights"),
                           ("fp32_partitioned_groups_flat", "master_weights"),
                           ("bit16_groups_flat", "flat_parameters"), ("fp16_partitioned_groups_flat", "flat_parameters")):
            keys.setdefault(kind, set())
            keys[kind] |= ids(t for t in getattr(opt, name, []) or [] if isinstance(t, torch.Tensor))
    return keys


def _births(tracker, t) -> set[int]:
    entry = tracker.live.get(tracker.key(t))
    return {entry[2]} if entry else set()


def measure_case(arch_key: str, case: EngineCase, rank: int, world: int, batch: int, seq_len: int) -> dict:
    """Build, wrap and run three steps on this rank; both instruments; one JSON-able record."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from validate.harness import build_model
    from validate.measure import PeakTracker

    arch = get_arch(arch_key)
    tracker = PeakTracker(resizable=True)
    marks: dict[str, int] = {}
    ids = torch.randint(2, arch.config["vocab_size"], (batch, seq_len), generator=torch.Generator().manual_seed(rank))
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, tracker:
        dtype = case.dtype if case.engine in ("ddp", "deepspeed") else "fp32"
        model = build_model(arch, "fp32" if case.engine == "deepspeed" else dtype, "sdpa")
        module, opt = _wrap(model, case, world)
        for step in range(3):
            if step == 2:
                tracker._sweep()  # storages freed after the last op (DeepSpeed releases its gathered parameters)
                marks["step_start"] = tracker.current
                before_step = {(k, e[2]) for k, e in tracker.live.items()}
                _sentinel("step_start")
                tracker.watch_peak()
            _step(module, opt, ids, case)
            if step == 2:
                tracker.watching = False
                tracker._sweep()
                marks["after_step"] = tracker.current
                known = _state_keys(module, opt, case, tracker)
                states = _classify({k: (b, n) for k, (_, n, b) in tracker.live.items()}, known, before_step)
                _sentinel("after_step")
            if case.engine != "deepspeed":
                opt.zero_grad(set_to_none=True)
        tracker._sweep()
        marks["step_end"] = tracker.current
        _sentinel("step_end")
    step_s = time.perf_counter() - t0
    peak = _classify(tracker.at_peak, known, before_step)
    prof_m = _profiler_measures(_profiler_totals(prof))
    del module, opt, model
    return {"arch": arch_key, "case": case.key, "rank": rank, "world": world,
            "states_bytes": marks["after_step"], "states_by_kind": states,
            "peak_bytes": tracker.watched_peak, "peak_by_kind": peak,
            "step_start_bytes": marks["step_start"], "step_end_bytes": marks["step_end"],
            "profiler_states_bytes": prof_m["states_bytes"], "profiler_peak_bytes": prof_m["peak_bytes"],
            "seconds": round(step_s, 2)}


def measure_case_cuda(arch_key: str, case: EngineCase, rank: int, world: int, batch: int, seq_len: int) -> dict:
    """The same three steps on this rank's GPU (NCCL): CUDA's caching allocator counts every tensor of the
    process, so ``torch.cuda.memory_allocated`` after ``optimizer.step()`` and ``max_memory_allocated`` over
    step 3 are the two quantities; ``max_memory_reserved`` minus ``max_memory_allocated`` is the allocator's
    fragmentation and cache, reported as its own line (no tensor holds it)."""
    import torch

    from validate.harness import build_model

    arch = get_arch(arch_key)
    ids = torch.randint(2, arch.config["vocab_size"], (batch, seq_len),
                        generator=torch.Generator().manual_seed(rank)).cuda()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()  # the token ids (and nothing of the model yet)
    dtype = case.dtype if case.engine in ("ddp", "deepspeed") else "fp32"
    model = build_model(arch, "fp32" if case.engine == "deepspeed" else dtype, "sdpa").cuda()
    module, opt = _wrap(model, case, world)
    for step in range(3):
        if step == 2:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = torch.cuda.memory_allocated() - base
        _step(module, opt, ids, case)
        if step == 2:
            torch.cuda.synchronize()
            states = torch.cuda.memory_allocated() - base
        if case.engine != "deepspeed":
            opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    peak, reserved = torch.cuda.max_memory_allocated() - base, torch.cuda.max_memory_reserved()
    del module, opt, model
    torch.cuda.empty_cache()
    return {"arch": arch_key, "case": case.key, "rank": rank, "world": world, "states_bytes": states,
            "peak_bytes": peak, "step_start_bytes": start, "max_reserved_bytes": reserved,
            "fragmentation_bytes": reserved - (peak + base), "device": torch.cuda.get_device_name(),
            "states_by_kind": {}, "peak_by_kind": {}, "profiler_states_bytes": None, "profiler_peak_bytes": None}


def _worker(rank: int, world: int, port: int, jobs: list[tuple[str, str]], batch: int, seq_len: int,
            out_dir: str, backend: str = "gloo") -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from transformers.utils import logging

    logging.set_verbosity_error()
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=world)
    measure = measure_case_cuda if backend == "nccl" else measure_case
    rows = []
    try:
        for arch_key, case_key in jobs:
            rows.append(measure(arch_key, get_case(case_key), rank, world, batch, seq_len))
            dist.barrier()
    finally:
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(rows))
        dist.destroy_process_group()


def run_world(world: int, jobs: list[tuple[str, str]], batch: int, seq_len: int, backend: str = "gloo") -> list[dict]:
    """Spawn ``world`` ranks, run ``jobs`` (architecture key, case key) on each; every rank's records."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(world, free_port(), jobs, batch, seq_len, out, backend), nprocs=world, join=True)
        rows = []
        for r in range(world):
            rows += json.loads(Path(out, f"rank{r}.json").read_text())
    return rows


#: The issue's cases, measured at every world size; the others (gradient_as_bucket_view, a bf16 DDP model) at 2
#: ranks only, to keep the run near an hour on two cores.
ISSUE_CASES = ("ddp", "fsdp2", "fsdp2_keep", "fsdp2_bf16", "fsdp2_bf16_keep")


def measure_all(worlds=WORLDS, models=MODELS, cases=None, batch: int = 2, seq_len: int = 160) -> dict:
    """Every (world, model, case): by default ``CASES`` at 2 ranks and ``ISSUE_CASES`` beyond; one group of
    processes per (world, model)."""
    why_not = deepspeed_status()
    chosen = list(cases) if cases is not None else list(CASES)
    rows = []
    for w in worlds:
        keys = [c.key for c in chosen if cases is not None or w == 2 or c.key in ISSUE_CASES]
        for m in models:
            rows += run_world(w, [(m, k) for k in keys], batch, seq_len)
    cases = chosen
    ds = why_not or ("measured" if any(c.engine == "deepspeed" for c in cases) else "not run")
    return {"rows": rows, "cases": [asdict(c) for c in cases], "deepspeed": ds,
            "settings": {"batch": batch, "seq_len": seq_len, "worlds": list(worlds), "models": list(models)}}


def run(worlds=WORLDS, models=MODELS, cases=None) -> dict:
    """Measure, predict and compare; the document ``validate/sharded_results.json`` holds."""
    import platform

    import torch
    import transformers

    from validate import predict_sharded

    t0 = time.perf_counter()
    doc = measure_all(worlds, models, cases)
    try:
        import deepspeed

        ds_version = deepspeed.__version__
    except Exception:
        ds_version = None
    doc.update({
        "command": "python -m validate --sharded",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "runtime_s": round(time.perf_counter() - t0, 1),
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__, "deepspeed": ds_version,
                        "python": platform.python_version(), "device": "cpu", "backend": "gloo",
                        "threads_per_rank": 1},
    })
    doc["records"] = predict_sharded.records(doc)
    return doc


#: DeepSpeed ZeRO 1/2/3 on every model (the default-bucket ZeRO-2 case on the Llama only)
DEEPSPEED_MODELS = MODELS


def run_deepspeed(worlds=WORLDS, models=DEEPSPEED_MODELS, path: Path = SHARDED_PATH) -> dict:
    """Measure DeepSpeed's cases (where it imports: ``pip install deepspeed``, no ops built) and merge them into
    the committed document; the other rows stay as measured."""
    why_not = deepspeed_status()
    if why_not:
        raise RuntimeError(why_not)
    doc = json.loads(path.read_text())
    doc = merge(doc, run(worlds, models, [c for c in DEEPSPEED_CASES if c.key != "zero2_default"]))
    return merge(doc, run(worlds, models[:1], [get_case("zero2_default")]))


def merge(old: dict, new: dict) -> dict:
    """``old`` with ``new``'s rows and cases added (a row of the same model, case, world and rank replaced)."""
    from validate import predict_sharded

    key = lambda r: (r["arch"], r["case"], r["world"], r["rank"])  # noqa: E731
    fresh = {key(r) for r in new["rows"]}
    doc = dict(old)
    doc["rows"] = [r for r in old["rows"] if key(r) not in fresh] + new["rows"]
    cases = {c["key"]: c for c in old["cases"]}
    cases.update({c["key"]: c for c in new["cases"]})
    doc["cases"] = list(cases.values())
    if new["environment"].get("deepspeed"):
        doc["deepspeed"] = "measured"
        doc["environment"] = dict(old["environment"], deepspeed=new["environment"]["deepspeed"])
    before = old.get("deepspeed_settings", {}).get("models", [])
    models = before + [m for m in new["settings"]["models"] if m not in before]
    doc["deepspeed_settings"] = {"models": models, "worlds": new["settings"]["worlds"],
                                 "runtime_s": new["runtime_s"], "generated": new["generated"]}
    doc["records"] = predict_sharded.records(doc)
    return doc


GPU_PATH = Path(__file__).resolve().parent / "gpu_sharded_results.json"


def run_gpu(models=MODELS, cases=CASES, batch: int = 2, seq_len: int = 160) -> dict:
    """The same cases on every visible CUDA GPU, one rank per GPU, NCCL (``python -m validate.gpu_step
    --engines``): ``max_memory_allocated`` against the step peak, ``memory_allocated`` after the step against
    the states, ``max_memory_reserved`` beside them."""
    import torch
    import transformers

    from validate import predict_sharded

    world = torch.cuda.device_count()
    if world < 1:
        raise RuntimeError("no CUDA device")
    t0 = time.perf_counter()
    rows = run_world(world, [(m, c.key) for m in models for c in cases], batch, seq_len, backend="nccl")
    doc = {"rows": rows, "cases": [asdict(c) for c in cases], "backend": "nccl",
           "settings": {"batch": batch, "seq_len": seq_len, "worlds": [world], "models": list(models)},
           "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "runtime_s": round(time.perf_counter() - t0, 1),
           "environment": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "device": torch.cuda.get_device_name(), "backend": "nccl"}}
    doc["records"] = predict_sharded.records(doc)
    return doc


def write(doc: dict, path: Path = SHARDED_PATH) -> Path:
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path
