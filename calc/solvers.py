"""Solvers over the memory model: the largest batch or context that fits, the fewest GPUs and the layout
that holds a setup, the widest weight format, and what would make a setup that does not fit fit.

Every answer is found by evaluating ``calc.memory`` itself (no formula of its own), so it can never
disagree with the breakdown a page shows. ``fewest_gpus`` searches only layouts the memory model
accepts and real frameworks run:

- tensor parallel ``tp`` splits every token mixer in whole units (``calc.parallel``: attention heads and KV
  heads, Mamba channels, Mamba-2 heads and groups, DeltaNet heads; Megatron-LM's rule for training, vLLM's
  replicas of KV heads and of a single Mamba-2 group for serving), at most ``max_tp`` (default 8: one NVLink node);
- pipeline parallel ``pp`` divides the layers (Megatron-LM's ``num_layers % pipeline_model_parallel_size``);
- ZeRO shards over the data-parallel degree ``dp`` (stage 2 and 3 only without pipeline parallelism:
  DeepSpeed's pipeline engine takes ZeRO stage 0 or 1).

Among the layouts with the fewest GPUs it prefers tensor parallelism, then pipeline parallelism, then
ZeRO over data parallelism, and the lowest ZeRO stage, and says which layout it found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from calc import parallel
from calc.dtypes import dtype_bits
from calc.memory import (
    WEIGHT_DTYPES,
    InferenceSetup,
    MemoryBreakdown,
    TrainingSetup,
    _check_inference,
    _gguf_name,
    inference_memory,
    quant_scale_bits,
    training_memory,
)
from calc.models import ModelSpec

__all__ = ["Layout", "Remedy", "fits", "max_batch", "max_context", "fewest_gpus", "min_gpus", "best_weight_dtype",
           "remedies", "valid_tps", "valid_pps"]

#: Largest tensor-parallel degree searched: one node of 8 GPUs joined by NVLink (tp across nodes is rare).
MAX_TP = 8
#: Largest job ``fewest_gpus`` considers.
MAX_GPUS = 65_536


@dataclass(frozen=True)
class Layout:
    """A parallel layout and the memory one GPU of it needs."""

    tp: int
    pp: int
    dp: int
    zero_stage: int
    per_gpu_bytes: int

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    def describe(self) -> str:
        """``"tp 8 x ZeRO-3 dp 8"``, ``"tp 2"``, ``"1 GPU"``.

        >>> Layout(8, 1, 8, 3, 0).describe(), Layout(4, 2, 1, 0, 0).describe(), Layout(1, 1, 1, 0, 0).describe()
        ('tp 8 x ZeRO-3 dp 8', 'tp 4 x pp 2', '1 GPU')
        """
        parts = [f"tp {self.tp}"] * (self.tp > 1) + [f"pp {self.pp}"] * (self.pp > 1)
        if self.dp > 1:
            parts.append(f"ZeRO-{self.zero_stage} dp {self.dp}" if self.zero_stage else f"dp {self.dp}")
        return " x ".join(parts) or "1 GPU"


@dataclass(frozen=True)
class Remedy:
    """One change that makes a setup fit: what to change, the changed setup and its memory per GPU."""

    change: str
    setup: TrainingSetup | InferenceSetup
    per_gpu_bytes: int
    gpus: int = 1


def fits(breakdown: MemoryBreakdown, capacity_bytes: int) -> bool:
    return breakdown.total <= capacity_bytes


def _memory(model, setup) -> MemoryBreakdown:
    return training_memory(model, setup) if isinstance(setup, TrainingSetup) else inference_memory(model, setup)


def _largest(model, setup, capacity: int, attr: str, hi: int) -> int | None:
    """Largest value of ``attr`` in [1, hi] whose memory fits (memory grows with it); None if 1 does not.

    A bracket ``[lo, top)`` (``lo`` fits, ``top`` does not or is ``hi + 1``) narrowed by false position: memory is
    linear in the batch and the context, or piecewise linear (sliding windows, the prefill budget), so the
    straight line through the bracket's ends lands on the answer or next to it, and the neighbour of each guess is
    tried at once. A guess that does not narrow the bracket to at most half is followed by a bisection step, so it
    never takes more than about twice the steps of bisection. Before a ``top`` is known the line through the last
    two fitting points extrapolates (at least doubling). The same answer as galloping and bisecting, with 4-8
    evaluations of the memory model instead of 2 log2(answer) (issue 18: ``max_context`` up to 2**26 was 37 on
    the Inference memory page's defaults).
    """
    def total(v: int) -> int:
        return _memory(model, replace(setup, **{attr: v})).total
    f_lo = total(1)
    if f_lo > capacity:
        return None
    lo, top, f_top = 1, hi + 1, None
    prev, f_prev = None, None  # the fitting point before ``lo``, for the slope while ``top`` is unknown
    while top - lo > 1:
        width = top - lo
        if f_top is not None and f_top > f_lo:  # interpolate inside the bracket
            guess = lo + (capacity - f_lo) * (top - lo) // (f_top - f_lo)
        elif prev is not None and f_lo > f_prev:  # extrapolate from the last two fitting points, at least doubling
            guess = max(2 * lo, lo + (capacity - f_lo) * (lo - prev) // (f_lo - f_prev))
        else:
            guess = 2 * lo if f_top is None else (lo + top) // 2
        guess = min(max(guess, lo + 1), top - 1)
        f = total(guess)
        if f <= capacity:
            prev, f_prev, lo, f_lo = lo, f_lo, guess, f
            if guess + 1 < top:  # the line's answer is often exact: is the next value over?
                f1 = total(guess + 1)
                if f1 > capacity:
                    return guess
                prev, f_prev, lo, f_lo = lo, f_lo, guess + 1, f1
        else:
            top, f_top = guess, f
            if guess - 1 > lo:  # and the one below fits?
                f1 = total(guess - 1)
                if f1 <= capacity:
                    return guess - 1
                top, f_top = guess - 1, f1
        if f_top is not None and top - lo > width // 2 and top - lo > 1:  # too little progress: bisect once
            mid = (lo + top) // 2
            f = total(mid)
            if f <= capacity:
                prev, f_prev, lo, f_lo = lo, f_lo, mid, f
            else:
                top, f_top = mid, f
    return lo


def max_batch(model: ModelSpec, setup: TrainingSetup | InferenceSetup, capacity_bytes: int,
              limit: int = 1 << 20) -> int | None:
    """Largest micro-batch (training) or batch (inference) that fits ``capacity_bytes`` per GPU."""
    attr = "micro_batch" if isinstance(setup, TrainingSetup) else "batch"
    return _largest(model, setup, capacity_bytes, attr, limit)


def max_context(model: ModelSpec, setup: TrainingSetup | InferenceSetup, capacity_bytes: int,
                limit: int = 1 << 24) -> int | None:
    """Longest sequence (training ``seq_len``, inference ``context``) that fits, up to ``limit`` tokens."""
    attr = "seq_len" if isinstance(setup, TrainingSetup) else "context"
    return _largest(model, setup, capacity_bytes, attr, limit)


# ----- layouts ----------------------------------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def valid_tps(model: ModelSpec | int, training: bool = True, max_tp: int = MAX_TP) -> list[int]:
    """Tensor-parallel degrees up to ``max_tp`` that split every mixer of ``model`` in whole units
    (``calc.parallel.valid_tps``: attention heads and KV heads, Mamba channels, Mamba-2 heads and groups, DeltaNet
    heads). Training: Megatron-LM's rule; serving (``training=False``): vLLM's, which replicates KV heads when
    ``tp`` is a multiple of them. A bare parameter count: powers of two.

    >>> from calc.presets import get_preset
    >>> valid_tps(get_preset("Meta-Llama-3-70B"), max_tp=64)  # 64 heads, 8 KV heads
    [1, 2, 4, 8]
    >>> valid_tps(get_preset("Meta-Llama-3-70B"), training=False, max_tp=64)
    [1, 2, 4, 8, 16, 32, 64]
    """
    return parallel.valid_tps(model, serving=not training, max_tp=max_tp)


def valid_pps(model: ModelSpec | int, max_pp: int = 128) -> list[int]:
    """Pipeline degrees that divide the layers (Megatron-LM's rule); powers of two for a parameter count."""
    if not isinstance(model, ModelSpec):
        return [2**i for i in range(max_pp.bit_length()) if 2**i <= max_pp]
    return [p for p in _divisors(model.num_layers) if p <= max_pp]


def _smallest_dp(model, setup: TrainingSetup, capacity: int, base: MemoryBreakdown, hi: int) -> tuple[int, int] | None:
    """(Smallest dp in [2, hi] for which ``setup`` (tp, pp and ZeRO stage set) fits, its memory per GPU), or None.

    ``base`` is the memory at dp = 1. What ZeRO shards shrinks as 1/dp, the rest stays: that gives a
    lower bound on dp, from which the exact search (``training_memory`` itself) gallops up. The memory comes from
    the search's own evaluation (it was computed again by the caller, issue 18).
    """
    z = setup.zero_stage
    if hi < 2:
        return None
    if setup.engine.name == "plain":
        sharded = base.master_weights + base.optimizer_states + base.gradients * (z >= 2) + base.weights * (z >= 3)
        room = capacity - (base.total - sharded)
        if room <= 0:
            return None
        lo = max(2, math.ceil(sharded / room))
    else:  # an engine's buffers need not shrink with dp: search from 2 (memory falls as dp grows)
        lo = 2
    if lo > hi:
        return None

    totals: dict[int, int] = {}

    def ok(dp: int) -> bool:
        totals[dp] = training_memory(model, replace(setup, dp=dp)).total
        return totals[dp] <= capacity
    if ok(lo):
        return lo, totals[lo]
    step, top = 1, lo + 1  # gallop: lo fails; find a top that fits
    while top <= hi and not ok(top):
        lo, step = top, step * 2
        top = lo + step
    if top > hi:
        if not ok(hi):
            return None
        top = hi
    while top - lo > 1:
        mid = (lo + top) // 2
        lo, top = (lo, mid) if ok(mid) else (mid, top)
    return top, totals[top]


def _stages_to_search(setup: TrainingSetup, pp: int) -> tuple[int, ...]:
    """ZeRO stages that shard over dp for ``setup``'s engine: the ZeRO paper's and DeepSpeed's 1-3 (1 with
    pipeline parallelism), none for DDP (it replicates), stage 0 for FSDP2 and Megatron (they shard on their own)."""
    name = setup.engine.name
    if name == "ddp":
        return ()
    if name in ("fsdp2", "megatron"):
        return (0,)
    return tuple(range(max(1 if setup.offload_optimizer else 0, 1), 4 if pp == 1 else 2))


def _fewest_training(model, setup: TrainingSetup, capacity: int, max_tp: int, max_gpus: int) -> Layout | None:
    engine = setup.engine.name
    z_min = 1 if setup.offload_optimizer or engine == "deepspeed" else 0
    pairs = sorted(((t, p) for t in valid_tps(model, True, max_tp) for p in valid_pps(model)),
                   key=lambda tp_pp: (tp_pp[0] * tp_pp[1], tp_pp[1]))
    found: list[Layout] = []
    best = max_gpus
    for tp, pp in pairs:
        if tp * pp > best:
            break
        try:
            s = replace(setup, tp=tp, pp=pp, dp=1, zero_stage=z_min)
            base = training_memory(model, s)
        except ValueError:
            continue  # a layout the memory model refuses (e.g. pp above the layers of a count)
        if base.total <= capacity:
            # the first pair that fits with dp = 1 ends the search: every later pair needs as many GPUs or more
            # (pairs come by tp x pp), and one needing as many has dp >= 1 and a larger pp, so none sorts first
            found.append(Layout(tp, pp, 1, z_min, base.total))
            break
        for z in _stages_to_search(setup, pp):
            smallest = _smallest_dp(model, replace(s, zero_stage=z), capacity, base, best // (tp * pp))
            if smallest is not None:
                dp, total = smallest
                found.append(Layout(tp, pp, dp, z, total))
                best = min(best, tp * pp * dp)
    return min(found, key=lambda x: (x.gpus, x.dp, x.pp, x.zero_stage), default=None)


def fewest_gpus(model: ModelSpec | int, setup: TrainingSetup | InferenceSetup, capacity_bytes: int,
                max_tp: int = MAX_TP, max_gpus: int = MAX_GPUS) -> Layout | None:
    """The layout with the fewest GPUs whose per-GPU memory fits ``capacity_bytes``, or None up to ``max_gpus``.

    Training: tp, pp, dp and the ZeRO stage are chosen (the module docstring lists the rules); everything
    else (micro-batch, sequence, precision, recompute, offload...) stays as ``setup`` has it. Serving: the
    tensor-parallel degree (``InferenceSetup`` has no pipeline or data parallelism; GGUF weights run on
    llama.cpp, tp = 1 only).
    """
    if isinstance(setup, TrainingSetup):
        return _fewest_training(model, setup, capacity_bytes, max_tp, max_gpus)
    tps = [1] if _gguf_name(setup.weights_dtype) else valid_tps(model, False, max_tp)
    for tp in tps:
        if tp > max_gpus:
            break
        try:
            b = inference_memory(model, replace(setup, tp=tp))
        except ValueError:
            continue
        if b.total <= capacity_bytes:
            return Layout(tp, 1, 1, 0, b.total)
    return None


def min_gpus(model: ModelSpec | int, setup: TrainingSetup | InferenceSetup, capacity_bytes: int,
             max_tp: int = MAX_TP) -> int | None:
    """The GPU count of ``fewest_gpus`` (kept for callers of the former ``calc.memory.min_gpus``)."""
    layout = fewest_gpus(model, setup, capacity_bytes, max_tp=max_tp)
    return None if layout is None else layout.gpus


def best_weight_dtype(model: ModelSpec | int, setup: InferenceSetup, capacity_bytes: int,
                      candidates: tuple[str, ...] = ("bf16", "fp8", "int8", "int4", "nf4")) -> str | None:
    """The widest weight format among ``candidates`` (most bits first) whose serving memory fits."""
    def bits(dt: str) -> float:
        if dt in WEIGHT_DTYPES:
            return dtype_bits(dt) + quant_scale_bits(dt)
        _check_inference(model, replace(setup, weights_dtype=dt, checkpoint_bytes=None))
        from calc import gguf

        return gguf.quantize_model(model, _gguf_name(dt)).bits_per_weight
    for dt in sorted(candidates, key=bits, reverse=True):
        if inference_memory(model, replace(setup, weights_dtype=dt, checkpoint_bytes=None)).total <= capacity_bytes:
            return dt
    return None


# ----- what would make it fit -------------------------------------------------------------------------
RECOMPUTE_NAME = "activation recompute (gradient checkpointing)"


def _try(model, setup, capacity: int, change: str, out: list[Remedy]) -> bool:
    try:
        b = _memory(model, setup)
    except ValueError:
        return False
    if b.total <= capacity:
        out.append(Remedy(change, setup, b.total))
        return True
    return False


def _training_remedies(model, s: TrainingSetup, capacity: int) -> list[Remedy]:
    out: list[Remedy] = []
    arch = isinstance(model, ModelSpec)
    if arch:
        for rc in ("selective", "full")[("none", "selective", "full").index(s.recompute):]:
            if rc != s.recompute and _try(model, replace(s, recompute=rc), capacity, f"{RECOMPUTE_NAME}: {rc}", out):
                break
        if s.micro_batch > 1:
            mb = max_batch(model, s, capacity, limit=s.micro_batch - 1)
            if mb is not None:
                steps = math.ceil(s.micro_batch / mb)
                _try(model, replace(s, micro_batch=mb), capacity,
                     f"micro-batch {mb:,} ({steps} gradient-accumulation steps keep the batch)", out)
    if s.optimizer == "adamw":
        _try(model, replace(s, optimizer="adamw-8bit"), capacity, "8-bit AdamW (bitsandbytes)", out)
    if s.dp > 1:
        for z in range(s.zero_stage + 1, 4 if s.pp == 1 else 2):
            if _try(model, replace(s, zero_stage=z), capacity, f"ZeRO stage {z} over the {s.dp:,} data-parallel "
                                                               "GPUs", out):
                break
    if not out and arch:  # no single change fits on these GPUs: all of them together
        top_zero = (3 if s.pp == 1 else 1) if s.dp > 1 else s.zero_stage
        both = replace(s, recompute="full", micro_batch=1,
                       optimizer="adamw-8bit" if s.optimizer == "adamw" else s.optimizer,
                       zero_stage=max(s.zero_stage, top_zero))
        if both != s:
            _try(model, both, capacity, f"{RECOMPUTE_NAME} full, micro-batch 1"
                 + (", 8-bit AdamW" if s.optimizer == "adamw" else "")
                 + (f", ZeRO stage {both.zero_stage} over the {s.dp:,} data-parallel GPUs"
                    if both.zero_stage != s.zero_stage else ""), out)
    return out


def single_changes(model: ModelSpec | int, setup: TrainingSetup) -> list[Remedy]:
    """What each training lever alone gives per GPU, whether or not it is enough: full activation recompute,
    micro-batch 1, 8-bit AdamW, the highest ZeRO stage over the data-parallel GPUs already there (stage 1 with
    pipeline parallelism). The verdict shows them when no single change fits, so a user sees which lever
    matters most (the combination that fits is among ``remedies``)."""
    arch = isinstance(model, ModelSpec)
    changes = []
    if arch and setup.recompute != "full":
        changes.append((f"{RECOMPUTE_NAME}: full", replace(setup, recompute="full")))
    if arch and setup.micro_batch > 1:
        changes.append(("micro-batch 1", replace(setup, micro_batch=1)))
    if setup.optimizer == "adamw":
        changes.append(("8-bit AdamW (bitsandbytes)", replace(setup, optimizer="adamw-8bit")))
    top = 3 if setup.pp == 1 else 1
    if setup.dp > 1 and setup.zero_stage < top:
        changes.append((f"ZeRO stage {top} over the {setup.dp:,} data-parallel GPUs", replace(setup, zero_stage=top)))
    out = []
    for change, changed in changes:
        try:
            out.append(Remedy(change, changed, _memory(model, changed).total))
        except ValueError:
            continue
    return out


def _inference_remedies(model, s: InferenceSetup, capacity: int) -> list[Remedy]:
    out: list[Remedy] = []
    if not isinstance(model, ModelSpec):
        return out
    if s.batch > 1:
        b = max_batch(model, s, capacity, limit=s.batch - 1)
        if b is not None:
            _try(model, replace(s, batch=b), capacity, f"batch {b:,}", out)
    if s.kv_dtype in ("fp32", "bf16", "fp16"):
        _try(model, replace(s, kv_dtype="fp8"), capacity, "fp8 KV cache", out)
    if s.weights_dtype in ("fp32", "fp16", "bf16"):
        dt = best_weight_dtype(model, s, capacity, candidates=("fp8", "int8", "int4", "nf4"))
        if dt is not None:
            _try(model, replace(s, weights_dtype=dt), capacity, f"{dt} weights", out)
    return out


def remedies(model: ModelSpec | int, setup: TrainingSetup | InferenceSetup, capacity_bytes: int,
             layout: Layout | None = None) -> list[Remedy]:
    """Single changes that make a setup that does not fit ``capacity_bytes`` fit, cheapest first, then more GPUs.

    Training: activation recompute (gradient checkpointing), a smaller micro-batch, 8-bit AdamW, a higher
    ZeRO stage over the data-parallel GPUs already there (all of the first three together if none alone
    fits); serving: a smaller batch, an fp8 KV cache, narrower weights. Last, the layout with the fewest GPUs
    (``fewest_gpus``; pass ``layout`` if it is computed already), and for training without full recompute
    the fewest GPUs with it. Empty when the setup fits.
    """
    if _memory(model, setup).total <= capacity_bytes:
        return []
    if isinstance(setup, TrainingSetup):
        out = _training_remedies(model, setup, capacity_bytes)
    else:
        out = _inference_remedies(model, setup, capacity_bytes)
    layout = layout or fewest_gpus(model, setup, capacity_bytes)
    if layout is not None:
        out.append(_layout_remedy(setup, layout, ""))
    if isinstance(setup, TrainingSetup) and isinstance(model, ModelSpec) and setup.recompute != "full":
        full = replace(setup, recompute="full")  # more GPUs do not shrink activations much: recompute does
        both = fewest_gpus(model, full, capacity_bytes)
        extra = f", with {RECOMPUTE_NAME} full"
        if both is None and setup.micro_batch > 1:
            full, extra = replace(full, micro_batch=1), extra + " and micro-batch 1"
            both = fewest_gpus(model, full, capacity_bytes)
        if both is not None and both.gpus > 1 and (layout is None or both.gpus < layout.gpus):
            out.append(_layout_remedy(full, both, extra))  # (on 1 GPU it is the recompute remedy above)
    return out


def _layout_remedy(setup, layout: Layout, extra: str) -> Remedy:
    """Lay the job out as ``layout`` (its fewest GPUs; more data-parallel copies need no more memory per GPU)."""
    keep = dict(tp=layout.tp)
    if isinstance(setup, TrainingSetup):
        keep.update(pp=layout.pp, dp=layout.dp, zero_stage=layout.zero_stage)
    where = "one GPU" if layout.gpus == 1 else f"the layout {layout.describe()} ({layout.gpus:,} GPUs)"
    return Remedy(where + extra, replace(setup, **keep), layout.per_gpu_bytes, layout.gpus)
