"""Training memory as each engine allocates it: PyTorch DDP, FSDP2, DeepSpeed ZeRO and Megatron-LM.

``engine="plain"`` is the ZeRO paper's accounting (``calc.memory``: model states plus activations, as if
both were alive at once). Every other engine is described by what it holds at the three moments where a
training step can peak, each its own ``MemoryBreakdown`` (``engine_phases``); the step's peak is the
largest (``engine_memory``):

1. **backward start**: right after the loss's backward. All forward activations are still saved and
   the loss's fp32 tensors are alive (the activation peak of ``calc.memory.activation_bytes``); with
   ``zero_grad(set_to_none=True)`` (PyTorch's default) no parameter gradient exists yet (measured,
   ``shared/REFERENCE.md``). Engine buffers that persist (DDP's buckets, Megatron's grad buffer,
   DeepSpeed's gradient bucket) and the parameters an engine has gathered are alive too.
2. **end of backward**: activations are gone, every gradient exists, plus the engine's reduction
   buffers of the last unit.
3. **optimizer step**: every gradient plus the optimizer's temporaries.
During the backward pass memory moves from (1) to (2) layer by layer (a layer's saved tensors are
freed as its gradients appear), so the step's peak is one of the three. The states between steps
(``between_steps``) are (3) without the temporaries: what a rank holds after ``optimizer.step()``.

Each engine's buffers are named components (``MemoryBreakdown.buffers``), with its defaults and knobs
(``Engine``) taken from its source (torch 2.13, DeepSpeed 0.19, Megatron-LM core):

- **DDP** (``torch/nn/parallel/distributed.py``, ``torch/csrc/distributed/c10d/reducer.cpp``):
  parameters, gradients and optimizer states replicated. The reducer allocates one flat gradient
  buffer per bucket when DDP is built (``Reducer::initialize_buckets``): together as large as all
  gradients, for the whole run. ``bucket_cap_mb`` (default ``_DEFAULT_BUCKET_CAP_MB = 25`` MiB; the
  first bucket ``dist._DEFAULT_FIRST_BUCKET_BYTES`` = 1 MiB when the default is used) sets how many
  buckets, not their total. ``gradient_as_bucket_view=False`` (default) keeps ``.grad`` apart from the
  buckets (two copies at the end of backward); ``True`` makes ``.grad`` views into them ("the saved
  memory size will be equal to the total gradients size", the docstring). Mixed precision here is
  ``torch.autocast`` over fp32 parameters: the matmul weights' 16-bit copies are saved for backward.
- **FSDP2** (``torch/distributed/fsdp/_fully_shard/``): ``fully_shard`` on each decoder layer, then on
  the root (embeddings, final norm, head). Each rank stores every parameter's first dim-0 chunk,
  ``ceil(d0 / N)`` rows (``_fsdp_param.py``, ``_init_sharded_param``: "0th always padded"), so a fused
  expert tensor of ``E < N`` experts costs every rank ``1/E`` of it, not ``1/N``. Sharded gradients are
  views into each unit's reduce-scatter output, padded the same way, in the parameter's dtype; AdamW's
  states follow the sharded parameter. Unsharded parameters are in ``param_dtype``. The root keeps its
  parameters gathered from forward to its own post-backward (``reshard_after_forward=None`` -> False
  for the root, ``_fully_shard.py``). With ``reshard_after_forward=True`` a layer is freed after its
  forward, but the forward keeps the previous all-gather output until the next copy-out
  (``AllGatherState``, ``_fsdp_param_group.py``): one layer's worth is alive through the loss
  (measured); with ``False`` every layer stays gathered until its backward. A unit's post-backward
  copies its unsharded gradients (``param_dtype``) into a reduce-scatter input of the whole unit in
  ``reduce_dtype`` (``foreach_reduce``, ``_fsdp_collectives.py``). ``cpu_offload``
  (``CPUOffloadPolicy``): sharded parameters, gradients and optimizer states in host memory.
- **DeepSpeed ZeRO** (``deepspeed/runtime/zero/config.py``, ``stage_1_and_2.py``, ``stage3.py``): 16-bit
  parameters, an fp32 master partition and Adam's states partition (``P/N``). Stage 1/2
  (``setup_buckets``): a gradient bucket of ``reduce_bucket_size`` elements (default 5e8, 16-bit: 1 GB;
  two with ``overlap_comm``) from the first gradient of backward to the end of the step (counted at the end
  of backward: it appears after the loss's tensors are freed; measured on DeepSpeed 0.19.8, CPU, gloo, a
  1 GB bucket's step peak is 0.2 % above the prediction, a 1 MB bucket's 0.1 %); stage 2 keeps its 16-bit gradient partition in
  ``grads_in_partition``, stage 1 every 16-bit gradient; the step converts the partition to fp32
  (``single_grad_partition``, 4 B/param/N). Stage 3: parameters partitioned except those of at most
  ``param_persistence_threshold`` (1e5) elements, which every rank keeps whole; the gradient bucket
  (``reduce_bucket_size``) and the 16-bit gradient partition (``grad_partitions_flat_buffer``) are
  allocated at start-up; gathered parameters are released unless reused within
  ``max_reuse_distance`` (1e9) elements, at most ``max_live_parameters`` (1e9) alive; the step converts
  ``sub_group_size`` (1e9) elements at a time to fp32. ``overlap_comm`` defaults to True for stage 3
  only. Optimizer offload: master, states and fp32 gradients in pinned host memory.
- **Megatron-LM** (``megatron/core/distributed/param_and_grad_buffer.py``,
  ``docs/source/api-guide/dist_optimizer.md``): gradients accumulate in one contiguous main-grad buffer
  for the whole run, fp32 with bf16 (``arguments.py``: "bfloat16 requires gradient accumulation and
  all-reduce to be done in fp32"); the distributed optimizer shards the fp32 main parameters and Adam's
  states over dp, and with 16-bit gradients an fp32 copy of its shard of the main grads (bytes per
  parameter, the doc's table: bf16 params with fp32 grads 18 -> 6 + 12/d; fp16/fp16 20 -> 4 + 16/d;
  fp32 16 -> 8 + 8/d); parameters are gathered in place in their buffer (no extra copy).

The optimizer's step temporaries (``optimizer_impl``): ``"foreach"``, PyTorch's default on CUDA
(``torch/optim/adam.py``, ``_multi_tensor_adam``: ``exp_avg_sq_sqrt = torch._foreach_sqrt(...)`` is one
temporary as large as the states it reads: one parameter-sized tensor per dtype group); ``"fused"``
none; ``"for-loop"`` (the CPU default) two temporaries of the largest tensor it updates
(``exp_avg_sq.sqrt() / bias_correction2_sqrt``). Megatron's fused Adam has none.

Measured (``validate/sharded.py``, ``validate/sharded_results.json``, ``tests/test_sharded.py``): real DDP, FSDP2
and DeepSpeed ZeRO 1/2/3 on small ``transformers`` models, gloo on 2 and 4 CPU ranks; every rank's states
between steps and step peak within 10 % of these formulas: DDP and FSDP2 within 2.6 %, DeepSpeed within 7.3 %
(its Mixtral ZeRO-1 and ZeRO-3 step peaks; its states between steps within 0.05 %).

Not modelled: gradient accumulation across micro-batches (gradients would then persist through the
forward), allocator fragmentation and the CUDA context (``overhead_bytes``), NCCL's own buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

ENGINES = ("plain", "ddp", "fsdp2", "deepspeed", "megatron")
OPTIMIZER_IMPLS = ("foreach", "fused", "for-loop")
PHASES = ("backward start", "end of backward", "optimizer step")
MIB = 2**20

#: Where each engine's defaults come from (shown on the page and in ``calc.methodology``).
SOURCES = {
    "ddp": "torch 2.13 torch/nn/parallel/distributed.py (_DEFAULT_BUCKET_CAP_MB = 25, gradient_as_bucket_view), "
           "torch/csrc/distributed/c10d/reducer.cpp (Reducer::initialize_buckets)",
    "fsdp2": "torch 2.13 torch/distributed/fsdp/_fully_shard/: _fsdp_param.py (_init_sharded_param, padded dim-0 "
             "chunks), _fsdp_param_group.py (AllGatherState, backward prefetch, reduce-scatter states), "
             "_fsdp_collectives.py (foreach_reduce), _fully_shard.py (root keeps parameters after forward)",
    "deepspeed": "DeepSpeed 0.19 deepspeed/runtime/zero/config.py (bucket and threshold defaults), stage_1_and_2.py "
                 "(setup_buckets, grads_in_partition, single_grad_partition), stage3.py (ipg bucket, "
                 "grad_partitions_flat_buffer, estimate_zero3_model_states_mem_needs)",
    "megatron": "Megatron-LM megatron/core/distributed/param_and_grad_buffer.py, distributed_data_parallel_config.py "
                "(bucket_size max(40M, 1M x dp)), docs/source/api-guide/dist_optimizer.md, "
                "megatron/training/arguments.py (bf16 -> fp32 grad accumulation)",
}


#: Each engine buffer (a ``MemoryBreakdown.buffers`` name) and where it is allocated.
BUFFER_SOURCES = {
    "DDP gradient buckets": "torch/csrc/distributed/c10d/reducer.cpp Reducer::initialize_buckets: one flat buffer per "
                            "bucket, together the size of all gradients; bucket_cap_mb (25) sets their number",
    "autocast 16-bit weight copies": "torch.autocast casts each Linear weight to 16 bits in forward and saves the copy "
                                     "for backward (aten::_to_copy under autocast)",
    "FSDP2 gathered root (embeddings, norm, head)": "torch/distributed/fsdp/_fully_shard/_fully_shard.py: the root "
                                                    "module never reshards after forward; gathered in param_dtype",
    "FSDP2 gathered decoder layers": "_fsdp_param_group.py: unsharded parameters of the unit being computed "
                                     "(reshard_after_forward=True, plus the previous all-gather output) or of every "
                                     "unit (False), in param_dtype",
    "FSDP2 root gradients (unsharded)": "_fsdp_param_group.py post_backward: the root's unsharded gradients before "
                                        "its reduce-scatter",
    "FSDP2 reduce-scatter buffer": "_fsdp_collectives.py foreach_reduce: a unit's gradients copied into one "
                                   "reduce-scatter input in reduce_dtype",
    "DeepSpeed gradient bucket (reduce_bucket_size)": "deepspeed/runtime/zero/stage_1_and_2.py / stage3.py: the "
                                                      "contiguous gradient (ipg) bucket of reduce_bucket_size "
                                                      "elements, two with overlap_comm in stages 1-2",
    "DeepSpeed fp32 gradient partition": "stage_1_and_2.py single_grad_partition / stage3.py: the rank's gradient "
                                         "partition converted to fp32 for the step",
    "DeepSpeed gathered parameters (ZeRO-3)": "stage3.py / partitioned_param_coordinator.py: gathered parameters "
                                              "kept up to max_live_parameters / max_reuse_distance, plus the "
                                              "prefetch bucket",
    "Megatron main-grad buffer": "megatron/core/distributed/param_and_grad_buffer.py: one contiguous main-grad buffer "
                                 "for the whole run (fp32 with bf16)",
    "Megatron fp32 main-grad shard": "megatron/core/optimizer/distrib_optimizer.py: with 16-bit gradients, an fp32 "
                                     "copy of this rank's shard for the step",
    "optimizer step temporaries": "torch/optim/adam.py: foreach keeps one temporary as large as the states it reads "
                                  "(torch._foreach_sqrt); for-loop two of the largest tensor; fused none",
}

@dataclass(frozen=True)
class Engine:
    """The engine and the knobs that change its memory; each knob applies to the engine named in its comment."""

    name: str = "plain"
    optimizer_impl: str = "foreach"  # torch.optim on CUDA: foreach (default), fused; for-loop (CPU default)
    # DDP
    bucket_cap_mb: float = 25.0  # MiB per bucket: changes the bucket count, not the buckets' total
    gradient_as_bucket_view: bool = False
    # FSDP2
    reshard_after_forward: bool = True  # for the decoder layers; the root never reshards after forward
    reduce_dtype: str | None = None  # None: fp32 under mixed precision (torchtitan's default), else param dtype
    cpu_offload: bool = False
    # DeepSpeed ZeRO (zero_stage comes from TrainingSetup)
    reduce_bucket_size: int = 500_000_000  # elements
    allgather_bucket_size: int = 500_000_000  # elements (stage 1/2 parameter all-gather after the step)
    contiguous_gradients: bool = True
    overlap_comm: bool | None = None  # None: True for stage 3, False for stages 1 and 2
    param_persistence_threshold: int = 100_000  # elements: smaller parameters stay whole (stage 3)
    max_live_parameters: int = 1_000_000_000  # elements (stage 3)
    max_reuse_distance: int = 1_000_000_000  # elements (stage 3)
    prefetch_bucket_size: int = 50_000_000  # elements (stage 3)
    sub_group_size: int = 1_000_000_000  # elements converted to fp32 at a time in the step (stage 3)
    offload_param: bool = False  # stage 3: parameter partitions in host memory
    # Megatron-LM
    distributed_optimizer: bool = True
    grad_reduce_in_fp32: bool | None = None  # None: True with bf16 (Megatron's rule), else the param dtype


def check_engine(model, s) -> None:
    """ValueError naming the field and what is allowed, for engine settings ``calc.memory`` cannot see."""
    e = s.engine
    if not isinstance(e, Engine):
        raise ValueError(f"engine must be a calc.engines.Engine, got {type(e).__name__}")
    if e.name not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {e.name!r}")
    if e.optimizer_impl not in OPTIMIZER_IMPLS:
        raise ValueError(f"optimizer_impl must be one of {OPTIMIZER_IMPLS}, got {e.optimizer_impl!r}")
    if e.name == "plain":
        return
    if s.finetune != "full" or s.rlhf != "none":
        raise ValueError(f"engine {e.name!r} models full fine-tuning without RLHF; choose engine 'plain' for "
                         f"finetune={s.finetune!r}, rlhf={s.rlhf!r}")
    if e.name != "deepspeed" and s.zero_stage:
        raise ValueError(f"zero_stage {s.zero_stage} is DeepSpeed's: engine {e.name!r} needs zero_stage 0 "
                         "(FSDP2 and Megatron's distributed optimizer shard on their own)")
    if e.name == "deepspeed" and s.zero_stage == 0:
        raise ValueError("engine 'deepspeed' needs zero_stage 1, 2 or 3")
    if s.offload_optimizer and e.name != "deepspeed":
        raise ValueError(f"offload_optimizer is DeepSpeed's; with engine {e.name!r} use FSDP2's cpu_offload")
    if e.name in ("deepspeed", "megatron") and s.precision == "bf16":
        raise ValueError(f"precision 'bf16' (pure, no master copy) is not a mode of {e.name!r}: choose "
                         "'bf16-mixed', 'fp16-mixed' or 'fp32'")
    if e.name == "fsdp2" and s.pp > 1:
        raise ValueError("engine 'fsdp2' is modelled without pipeline parallelism: choose pp=1")
    if e.reduce_dtype not in (None, "fp32", "bf16", "fp16"):
        raise ValueError(f"reduce_dtype must be fp32, bf16, fp16 or None, got {e.reduce_dtype!r}")
    if isinstance(e.bucket_cap_mb, bool) or not isinstance(e.bucket_cap_mb, (int, float)) \
            or not 0 < e.bucket_cap_mb <= 1_000_000:
        raise ValueError(f"bucket_cap_mb must be in (0, 1e6] MiB, got {e.bucket_cap_mb!r}")
    for name in ("reduce_bucket_size", "allgather_bucket_size", "param_persistence_threshold", "max_live_parameters",
                 "max_reuse_distance", "prefetch_bucket_size", "sub_group_size"):
        v = getattr(e, name)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10**13:
            raise ValueError(f"{name} must be a whole number of elements in [0, 1e13], got {v!r}")
    if e.name == "deepspeed" and e.offload_param and s.zero_stage != 3:
        raise ValueError("offload_param needs zero_stage 3 (DeepSpeed offloads parameters with ZeRO-3 only)")


# ----- what one GPU holds -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Params:
    """Parameters on one GPU (after tp and pp): the decoder layers' units, the root, sharding padding."""

    total: int
    units: tuple[int, ...]  # per decoder layer
    root: int  # embeddings, final norm, head on this stage
    linear: int  # decoder matrices (autocast casts them)
    head: int  # the head's matrix on this stage (a Linear under autocast, tied or not)
    largest: int  # the largest single tensor
    largest_module: int  # the most parameters one module holds itself (DeepSpeed's "largest layer")
    persistent: int  # DeepSpeed ZeRO-3: parameters of at most the persistence threshold elements
    padded_units: tuple[int, ...]  # FSDP2 at this dp: sum over tensors of ceil(d0/N) * N * rest
    padded_root: int


def _params(model, s, stage: int) -> _Params:
    """What one GPU of pipeline ``stage`` holds, from the layout's tensors (``calc.arch.kinds``), per distinct
    layer kind (``Layout.kind_counts``); tensor parallelism divides every figure by ``tp`` as ``calc.memory``
    does (norms and routers replicated there; approximated as split here for the padding and the largest)."""
    from calc import memory as M
    from calc.models import ModelSpec

    shard = M._shard(model, s.tp, s.pp, stage)
    n, thr, t = s.dp, s.engine.param_persistence_threshold, s.tp
    if not isinstance(model, ModelSpec):
        return _Params(shard.total, (), shard.total, shard.total, 0, shard.total, shard.total, 0, (),
                       math.ceil(shard.total / n) * n)
    spec = model
    lay = spec.layout
    h = lay.hidden
    conv1d = spec.architecture == "GPT2LMHeadModel"  # transformers' Conv1D stores (d_in, d_out): dim 0 is d_in
    stats = {id(b): _kind_tensors(b, h, n, thr, conv1d) for b, _ in lay.kind_counts(shard.layers)}
    per_layer = [lay.kind(i) for i in shard.layers]
    units = tuple(math.ceil(stats[id(b)][0] / t) for b in per_layer)
    padded_units = tuple(math.ceil(stats[id(b)][1] / t) for b in per_layer)
    root = shard.total - sum(units)  # embeddings/head split by tp, final norm kept
    # the root's own tensors (embeddings, positions, head; norms and extras as vectors/matrices of dim 0)
    root_t: list[tuple[int, ...]] = []
    if stage == 0:
        root_t += [(lay.vocab, h)] + ([(lay.learned_positions, h)] if lay.learned_positions else [])
        root_t += [(h,)] * (2 if lay.embed_norm == "layernorm" else 1 if lay.embed_norm else 0)
        root_t += [tt.shape for tt in lay.extra if not tt.buffer]
    if stage == s.pp - 1:
        root_t += [(h,)] * (2 if lay.final_norm == "layernorm" else 1 if lay.final_norm else 0)
        if not lay.tied or s.pp > 1:
            root_t.append((lay.vocab, h))
        if lay.head_bias:
            root_t.append((lay.vocab,))
    listed = sum(math.prod(x) for x in root_t)
    padded_root = sum(math.ceil(_pad(x[0], n) * math.prod(x[1:]) / t) for x in root_t) + max(root - math.ceil(
        listed / t), 0)  # towers (not sharded by shape here)
    head_rows = math.ceil(lay.vocab * h / t)
    largest = max([head_rows] + [math.ceil(v[2] / t) for v in stats.values()])
    largest_module = max([head_rows] + [math.ceil(v[3] / t) for v in stats.values()])
    persistent = (sum(stats[id(b)][4] for b in per_layer)
                  + sum(math.prod(x) for x in root_t if math.prod(x) <= thr))
    head_on_gpu = head_rows if stage == s.pp - 1 else 0
    return _Params(shard.total, units, root, shard.linear, head_on_gpu, largest, largest_module, persistent,
                   padded_units, padded_root)


def _pad(rows: int, n: int) -> int:
    return math.ceil(rows / n) * n


def _kind_tensors(block, hidden: int, n: int, thr: int, conv1d: bool) -> tuple[int, int, int, int, int]:
    """(parameters, FSDP2-padded elements, largest tensor, largest module, elements in tensors <= ``thr``) of
    one layer kind, from the tensors ``transformers`` stores for it (``Block.tensors``: a Linear is
    ``(d_out, d_in)``, routed experts one fused ``(experts, d_out, d_in)`` tensor, so FSDP2 pads the expert
    count over the ranks). A module is the tensors sharing a name up to the last dot (DeepSpeed's
    ``model_to_params`` counts ``module.parameters(recurse=False)``)."""
    total = padded = largest = persistent = 0
    modules: dict[str, int] = {}
    for tt in block.tensors(hidden):
        if tt.buffer:
            continue
        shape = tt.shape
        if conv1d and tt.linear and len(shape) == 2:
            shape = (shape[1], shape[0])
        k = tt.numel
        total += k
        padded += _pad(shape[0], n) * (k // shape[0]) if shape[0] else 0
        largest = max(largest, k)
        mod = tt.name.rsplit(".", 1)[0] if "." in tt.name else ""
        modules[mod] = modules.get(mod, 0) + k
        persistent += k if k <= thr else 0
    return total, padded, largest, max(modules.values(), default=0), persistent


# ----- dtypes per engine --------------------------------------------------------------------------------
def _bytes(dtype: str) -> float:
    from calc.dtypes import dtype_bits

    return dtype_bits(dtype) / 8


@dataclass(frozen=True)
class _Dtypes:
    storage: str  # the parameters as held between steps
    compute: str  # the parameters as the forward pass reads them
    grad: str
    state: str  # optimizer states
    master: str | None  # a separate fp32 master copy


def _dtypes(s) -> _Dtypes:
    name, p = s.engine.name, s.precision
    half = {"bf16-mixed": "bf16", "fp16-mixed": "fp16"}.get(p)
    if name in ("ddp", "fsdp2"):  # PyTorch-native: fp32 parameters under autocast / MixedPrecisionPolicy
        storage = "bf16" if p == "bf16" else "fp32"
        return _Dtypes(storage, half or storage, storage, storage, None)
    if p == "fp32":
        return _Dtypes("fp32", "fp32", "fp32", "fp32", None)
    if name == "megatron":
        in_fp32 = s.engine.grad_reduce_in_fp32 if s.engine.grad_reduce_in_fp32 is not None else half == "bf16"
        return _Dtypes(half, half, "fp32" if in_fp32 else half, "fp32", "fp32")
    return _Dtypes(half, half, half, "fp32", "fp32")  # DeepSpeed


def _opt(n: int, s, state_dtype: str) -> int:
    from calc.memory import optimizer_state_bytes

    return optimizer_state_bytes(n, s.optimizer, state_dtype=state_dtype)


def _temporaries(s, updated: int, largest: int, width: float) -> int:
    """Optimizer-step temporaries for ``updated`` elements whose largest tensor has ``largest`` elements."""
    if s.optimizer not in ("adamw", "adamw-8bit") or s.engine.optimizer_impl == "fused":
        return 0
    if s.engine.optimizer_impl == "foreach":
        return math.ceil(updated * width)
    return math.ceil(2 * largest * width)


def _b(**kw) -> dict:
    return kw


# ----- the engines ---------------------------------------------------------------------------------------
def _ddp(p: _Params, s, d: _Dtypes) -> tuple[dict, dict, dict, dict]:
    """(common, backward start, end of backward, optimizer step) extras of DDP; buffers as (name, bytes)."""
    ws, gs = _bytes(d.storage), _bytes(d.grad)
    grads = math.ceil(p.total * gs)
    common = _b(weights=math.ceil(p.total * ws), optimizer_states=_opt(p.total, s, d.state),
                buffers=(("DDP gradient buckets", grads),))
    start = {}
    if d.compute != d.storage:
        start["buffers"] = (("autocast 16-bit weight copies", math.ceil((p.linear + p.head) * _bytes(d.compute))),)
    end = _b(gradients=0 if s.engine.gradient_as_bucket_view else grads)
    step = dict(end, buffers=(("optimizer step temporaries", _temporaries(s, p.total, p.largest, ws)),))
    return common, start, end, step


def _reduce_dtype(s, d: _Dtypes) -> str:
    if s.engine.reduce_dtype:
        return s.engine.reduce_dtype
    return "fp32" if d.compute != d.storage else d.compute


def _fsdp2(p: _Params, s, d: _Dtypes) -> tuple[dict, dict, dict, dict]:
    n = s.dp
    ws, wc, wr = _bytes(d.storage), _bytes(d.compute), _bytes(_reduce_dtype(s, d))
    shard = math.ceil((sum(p.padded_units) + p.padded_root) / n)
    params, grads, opt = math.ceil(shard * ws), math.ceil(shard * ws), _opt(shard, s, d.state)
    root = math.ceil(p.padded_root * wc)
    units = [math.ceil(u * wc) for u in p.padded_units]
    if s.engine.cpu_offload:
        common = _b(cpu_bytes=params + opt)
        grads_gpu, cpu_grads = 0, grads
    else:
        common = _b(weights=params, optimizer_states=opt)
        grads_gpu, cpu_grads = grads, 0
    gathered = max(units, default=0) if s.engine.reshard_after_forward else sum(units)
    start = _b(buffers=(("FSDP2 gathered root (embeddings, norm, head)", root),
                        ("FSDP2 gathered decoder layers", gathered)))
    end = _b(gradients=grads_gpu, cpu_bytes=cpu_grads,
             buffers=(("FSDP2 gathered root (embeddings, norm, head)", root),
                      ("FSDP2 root gradients (unsharded)", math.ceil(p.padded_root * wc)),
                      ("FSDP2 reduce-scatter buffer", math.ceil(p.padded_root * wr))))
    temps = 0 if s.engine.cpu_offload else _temporaries(s, shard, p.largest / n, ws)
    step = _b(gradients=grads_gpu, cpu_bytes=cpu_grads, buffers=(("optimizer step temporaries", temps),))
    return common, start, end, step


def _deepspeed(p: _Params, s, d: _Dtypes) -> tuple[dict, dict, dict, dict]:
    e, n, z = s.engine, s.dp, s.zero_stage
    w16 = _bytes(d.compute)
    part = math.ceil(p.total / n)
    overlap = e.overlap_comm if e.overlap_comm is not None else z == 3
    bucket = math.ceil(e.reduce_bucket_size * w16) * (2 if overlap and z < 3 else 1) if e.contiguous_gradients else 0
    master, opt = math.ceil(part * 4) if d.master else 0, _opt(part, s, d.state)
    fp32_grads = math.ceil((part if z < 3 else min(part, e.sub_group_size)) * 4) if d.master else 0
    offload = s.offload_optimizer
    cpu = (master + opt + fp32_grads) if offload else 0
    on_gpu = {"master_weights": 0 if offload else master, "optimizer_states": 0 if offload else opt}
    temps = 0 if offload else _temporaries(s, part, part, 4)
    if z < 3:
        common = _b(weights=math.ceil(p.total * w16), cpu_bytes=cpu, **on_gpu)
        # the bucket appears with the first gradient (measured: not alive at the loss's backward, where the
        # activations peak) and is gone after the step (engine.step() releases the gradients)
        held = (("DeepSpeed gradient bucket (reduce_bucket_size)", bucket),)
        start = {}
        grads = math.ceil((part if z == 2 else p.total) * w16)
        end = _b(gradients=grads, buffers=held)
        step = _b(gradients=grads, buffers=held + (
            ("DeepSpeed fp32 gradient partition", 0 if offload else fp32_grads), ("optimizer step temporaries", temps)))
        return common, start, end, step
    params = math.ceil(part * w16)
    persistent = math.ceil(p.persistent * w16)
    gathered_elems = min(p.total - p.persistent, e.max_live_parameters, e.max_reuse_distance)
    gathered = math.ceil(gathered_elems * w16)
    prefetch = math.ceil(min(e.prefetch_bucket_size, max(p.total - p.persistent - gathered_elems, 0)) * w16)
    if e.offload_param:
        cpu += params
        params = 0
    common = _b(weights=params + persistent, gradients=math.ceil(part * w16), cpu_bytes=cpu,
                buffers=(("DeepSpeed gradient bucket (reduce_bucket_size)", bucket),), **on_gpu)
    start = _b(buffers=(("DeepSpeed gathered parameters (ZeRO-3)", gathered + prefetch),))
    end = start
    step = _b(buffers=(("DeepSpeed fp32 gradient partition", 0 if offload else fp32_grads),
                       ("optimizer step temporaries", temps)))
    return common, start, end, step


def _megatron(p: _Params, s, d: _Dtypes) -> tuple[dict, dict, dict, dict]:
    n = s.dp if s.engine.distributed_optimizer else 1
    part = math.ceil(p.total / n)
    master = math.ceil(part * 4) if d.master else 0
    buffers = (("Megatron main-grad buffer", math.ceil(p.total * _bytes(d.grad))),)
    if d.master and d.grad != "fp32":  # 16-bit grads: the optimizer keeps an fp32 copy of its shard of them
        buffers += (("Megatron fp32 main-grad shard", math.ceil(part * 4)),)
    common = _b(weights=math.ceil(p.total * _bytes(d.storage)), master_weights=master,
                optimizer_states=_opt(part, s, d.state), buffers=buffers)
    return common, {}, {}, {}


_ENGINE_FNS = {"ddp": _ddp, "fsdp2": _fsdp2, "deepspeed": _deepspeed, "megatron": _megatron}


def _merge(*parts: dict):
    from calc.memory import MemoryBreakdown

    out = MemoryBreakdown()
    for part in parts:
        out = out + MemoryBreakdown(**part)
    return out


def _stage_phases(model, s, stage: int, acts: int | None = None) -> dict:
    """The three moments of one pipeline stage (``acts``: activation bytes; None computes them)."""
    from calc import memory as M
    from calc.models import ModelSpec

    d = _dtypes(s)
    p = _params(model, s, stage)
    common, start, end, step = _ENGINE_FNS[s.engine.name](p, s, d)
    if acts is None:
        acts = M._stage_activations(model, s, stage) if isinstance(model, ModelSpec) else 0
    base = dict(common, overhead=s.overhead_bytes)
    return {"backward start": _merge(base, start, {"activations": acts}),
            "end of backward": _merge(base, end),
            "optimizer step": _merge(base, step)}


def engine_phases(model, setup) -> dict:
    """The three moments (``PHASES``) of the pipeline stage whose peak is highest: name -> MemoryBreakdown."""
    from calc import memory as M

    M._check_training(model, setup)
    stages = [_stage_phases(model, setup, st) for st in M._stages(model, setup.pp)]
    return max(stages, key=lambda ph: max(b.total for b in ph.values()))


def engine_memory(model, setup):
    """The step's peak per GPU as ``engine`` allocates it: the largest of ``engine_phases``, with notes."""
    from calc import memory as M
    from calc.models import ModelSpec

    phases = engine_phases(model, setup)
    name, peak = max(phases.items(), key=lambda kv: kv[1].total)
    e = setup.engine
    notes = [f"{e.name}: the step peaks at {name} (of: " + ", ".join(
        f"{k} {b.total:,} B" for k, b in phases.items()) + ")", f"engine defaults from {SOURCES[e.name]}"]
    if e.name == "ddp":
        cap = e.bucket_cap_mb * MIB
        grads = dict(peak.buffers).get("DDP gradient buckets", 0)
        notes.append(f"DDP: about {max(1, math.ceil(grads / cap)):,} gradient buckets of {e.bucket_cap_mb:g} MiB "
                     "(the first 1 MiB with the default cap): the cap changes their number, not their total")
    if e.name == "fsdp2" and not isinstance(model, ModelSpec):
        notes.append("FSDP2: a parameter count has no tensor shapes: no dim-0 padding, one unit = the whole model")
    if e.name == "deepspeed" and setup.zero_stage == 3:
        notes.append(f"ZeRO-3: parameters of <= {e.param_persistence_threshold:,} elements stay whole on every rank")
    warnings = list(peak.warnings)
    if isinstance(model, ModelSpec) and setup.seq_len > model.max_position_embeddings:
        warnings.append(M._beyond_positions("sequence length", setup.seq_len, model))
    if not isinstance(model, ModelSpec):
        notes.append("activations not computed: a parameter count has no architecture")
    return replace(peak, notes=peak.notes + tuple(notes), warnings=tuple(warnings))


def between_steps(model, setup):
    """What a rank holds after ``optimizer.step()`` and before ``zero_grad``: parameters, gradients,
    optimizer states and persistent engine buffers (the optimizer-step moment without its temporaries).

    DeepSpeed's ``engine.step()`` releases the gradients itself, so its gradient buffers are not counted.
    """
    step = engine_phases(model, setup)["optimizer step"]
    drop = {"optimizer step temporaries", "DeepSpeed fp32 gradient partition", "FSDP2 gathered root (embeddings, "
            "norm, head)", "FSDP2 root gradients (unsharded)", "FSDP2 reduce-scatter buffer"}
    if setup.engine.name == "deepspeed" and setup.zero_stage < 3:
        drop |= {"DeepSpeed gradient bucket (reduce_bucket_size)"}
    grads = 0 if setup.engine.name == "deepspeed" and setup.zero_stage < 3 else step.gradients
    return replace(step, gradients=grads, overhead=0, buffers=tuple((k, v) for k, v in step.buffers if k not in drop),
                   notes=())


# ----- DeepSpeed's own estimators, beside ours ------------------------------------------------------------
def deepspeed_estimates(model, setup) -> dict:
    """What DeepSpeed's estimator functions say for this setup (bytes per GPU and per node's CPU).

    ``deepspeed/runtime/zero/stage_1_and_2.py`` ``estimate_zero2_model_states_mem_needs``:
    without offload ``gpu = 2P + 18P/N`` ("2 = params_16bit, 18 = 2_grads_16bit + 4_grads_32bit +
    4_params_32bit + 8_optimizer_states_32bit"), ``cpu = 4P x gpus_per_node x 1.5``; with offload
    ``gpu = 2P``, ``cpu = P x max(4N, 16) x 1.5``.
    ``deepspeed/runtime/zero/stage3.py`` ``estimate_zero3_model_states_mem_needs``: without offload
    ``gpu = 4 L + 18P/N`` (``L`` = the largest layer's parameters, ``model_to_params``: the most
    parameters one module holds itself); with optimizer offload ``4 L + 2P/N``; with parameters offloaded
    too ``4 L``. Here ``N`` = dp, one node of dp GPUs, ``additional_buffer_factor`` 1.5 (their defaults).
    They differ from ours because they count model states only (no activations, no buckets), keep a
    whole 16-bit gradient and an fp32 gradient partition for ZeRO-2, and add the largest layer in 4 bytes
    per parameter for ZeRO-3.
    """
    p = _params(model, setup, 0)
    total = sum(_params(model, setup, st).total for st in range(setup.pp)) if setup.pp > 1 else p.total
    n = setup.dp
    largest = p.largest_module
    off = setup.offload_optimizer
    z2_gpu = 2 * total if off else 2 * total + int(18 * total / n)
    z2_cpu = int(total * max(4 * n, 16) * 1.5) if off else int(total * 4 * n * 1.5)
    if off and setup.engine.offload_param:
        z3_gpu = 4 * largest
    elif off:
        z3_gpu = 4 * largest + int(2 * total / n)
    else:
        z3_gpu = 4 * largest + int(18 * total / n)
    return {"zero2_gpu_bytes": z2_gpu, "zero2_cpu_bytes": z2_cpu, "zero3_gpu_bytes": z3_gpu,
            "largest_layer_params": largest, "params": total}


# ----- vectorized sweeps ------------------------------------------------------------------------------------
def engine_grid(model, setup, b, c, shape, np) -> dict:
    """``calc.memory.breakdown_grid`` for an engine: per point the phase with the highest total."""
    from calc import memory as M
    from calc.models import ModelSpec

    best = None
    for stage in M._stages(model, setup.pp):
        phases = _stage_phases(model, replace(setup, micro_batch=1, seq_len=1), stage, acts=0)
        acts = np.zeros(shape)
        if isinstance(model, ModelSpec):
            pk = M.activation_coefficients(model, setup, stage)
            acts = np.rint(b * c * (pk[0] + c * pk[1]))
        chosen = None
        for name, ph in phases.items():
            comps = {k: np.full(shape, float(v)) for k, v in ph.components().items()}
            if name == "backward start":
                comps["activations"] = acts
            comps["total"] = sum(v for k, v in comps.items() if k != "total")
            chosen = comps if chosen is None else _pick(chosen, comps, np)
        best = chosen if best is None else _pick(best, chosen, np)
    return best


def _pick(a: dict, b: dict, np) -> dict:
    # the components in a fixed order (a's, then b's new ones): a set's order changes with each process's string
    # hashing, and the sweep charts stacked their components in a different order on every server start
    keys = list(dict.fromkeys([*a, *b]))
    worse = b["total"] > a["total"]
    zero = np.zeros_like(a["total"])
    return {k: np.where(worse, b.get(k, zero), a.get(k, zero)) for k in keys}
