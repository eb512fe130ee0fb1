"""Solvers (calc/solvers.py): fewest GPUs over valid layouts only, and what would make a setup fit.

The reference is an exhaustive search written here with plain loops over every layout the frameworks
accept (Megatron-LM: tp divides the heads and the KV heads, pp divides the layers; DeepSpeed: ZeRO-2/3
only without pipeline parallelism), each layout evaluated with ``training_memory``: the solver's shortcuts
(a lower bound on dp from the dp = 1 breakdown, galloping, pruning) must find the same answer.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from calc.gpus import get_gpu
from calc.memory import InferenceSetup, TrainingSetup, inference_memory, training_memory
from calc.presets import get_preset
from calc.solvers import Layout, fewest_gpus, remedies
from calc.units import GB


def brute_force(spec, setup: TrainingSetup, capacity: int, max_gpus: int) -> list[Layout]:
    """Every valid layout of the fewest GPUs (up to ``max_gpus``) that fits."""
    for n in range(1, max_gpus + 1):
        found = []
        for tp in range(1, 9):
            if spec.num_heads % tp or spec.num_kv_heads % tp or n % tp:
                continue
            for pp in range(1, spec.num_layers + 1):
                if spec.num_layers % pp or (n // tp) % pp:
                    continue
                dp = n // (tp * pp)
                for z in range(0, 4 if pp == 1 else 2):
                    if z and dp == 1:
                        continue
                    b = training_memory(spec, replace(setup, tp=tp, pp=pp, dp=dp, zero_stage=z))
                    if b.total <= capacity:
                        found.append(Layout(tp, pp, dp, z, b.total))
        if found:
            return found
    return []


@pytest.mark.parametrize("name, setup, capacity_gb, max_gpus", [
    ("Llama-3.2-1B", TrainingSetup(seq_len=2048, recompute="full"), 6, 16),   # 32 heads, 8 KV heads, 16 layers
    ("Llama-3.2-1B", TrainingSetup(seq_len=1024), 9, 16),
    ("Qwen2.5-0.5B", TrainingSetup(seq_len=1024, recompute="full"), 2.5, 24),  # 14 heads, 2 KV heads, 24 layers
    ("GPT-2", TrainingSetup(seq_len=1024, recompute="full"), 1.3, 24),         # 12 heads, 12 layers
    # ties: several layouts of the fewest GPUs, the answer one that fits with dp = 1 (the search stops there)
    ("Llama-3.2-1B", TrainingSetup(seq_len=2048, recompute="full"), 5, 16),
    ("Llama-3.2-1B", TrainingSetup(seq_len=2048, recompute="full"), 10, 16),
    ("Llama-3.2-1B", TrainingSetup(seq_len=2048, recompute="full"), 20, 16),
    ("GPT-2", TrainingSetup(seq_len=1024), 4, 24),
])
def test_fewest_gpus_equals_an_exhaustive_search(name, setup, capacity_gb, max_gpus):
    spec, cap = get_preset(name), int(capacity_gb * GB)
    got = fewest_gpus(spec, setup, cap, max_gpus=max_gpus)
    ref = brute_force(spec, setup, cap, max_gpus)
    assert got is not None and ref, "pick a capacity some layout fits"
    assert got.gpus == ref[0].gpus > 1
    # among equals: tensor parallel first, then pipeline, then ZeRO over data parallel, lowest stage
    assert got == min(ref, key=lambda x: (x.dp, x.pp, x.zero_stage))
    assert spec.num_heads % got.tp == spec.num_kv_heads % got.tp == spec.num_layers % got.pp == 0


def test_llama3_70b_training_gets_a_valid_layout_not_more_than_64_tp():
    """Issue 17 item 2: main said "Fewest tensor-parallel GPUs: more than 64" for a model that takes tp <= 8."""
    spec, gpu = get_preset("Meta-Llama-3-70B"), get_gpu("H100 SXM")
    setup = TrainingSetup(seq_len=4096, recompute="full")
    layout = fewest_gpus(spec, setup, gpu.usable_memory_bytes)
    assert layout is not None and 8 % layout.tp == 0  # 64 heads, 8 KV heads
    b = training_memory(spec, replace(setup, tp=layout.tp, pp=layout.pp, dp=layout.dp, zero_stage=layout.zero_stage))
    assert b.total == layout.per_gpu_bytes <= gpu.usable_memory_bytes
    # 70.55e9 params x 16 B = 1,129 GB of model states: no fewer than 15 GPUs can hold them
    assert 15 <= layout.gpus <= 64
    assert layout.describe().startswith("tp 8")


def test_inference_tp_follows_vllm_rule():
    spec = get_preset("Meta-Llama-3-70B")
    got = fewest_gpus(spec, InferenceSetup(), 80 * GB)
    assert (got.tp, got.gpus) == (2, 2)  # 141 GB of bf16 weights
    assert inference_memory(spec, InferenceSetup(tp=2)).total == got.per_gpu_bytes
    assert fewest_gpus(spec, InferenceSetup(weights_dtype="Q4_K_M"), 30 * GB) is None  # llama.cpp: tp 1 only


def test_old_names_stay_importable_from_calc_memory():
    from calc import memory, solvers

    for name in ("max_batch", "max_context", "min_gpus", "best_weight_dtype", "fits"):
        assert getattr(memory, name) is getattr(solvers, name)


def test_qlora_on_a_4090_names_recompute_first():
    """Issue 17 item 4: QLoRA of Llama-3.1-8B on an RTX 4090 without recompute needs 40 GB; full recompute fits."""
    spec, cap = get_preset("Llama-3.1-8B"), get_gpu("RTX 4090").usable_memory_bytes
    setup = TrainingSetup(finetune="qlora", seq_len=4096, recompute="none")
    assert training_memory(spec, setup).total > cap
    fixes = remedies(spec, setup, cap)
    assert fixes and fixes[0].change.startswith("activation recompute (gradient checkpointing)")
    assert fixes[0].setup.recompute == "full"  # selective stores the same with FlashAttention: not offered
    for r in fixes:
        assert training_memory(spec, r.setup).total == r.per_gpu_bytes <= cap
    assert remedies(spec, replace(setup, recompute="full"), cap) == []


def test_remedies_each_fit_and_name_micro_batch_and_layouts():
    spec, cap = get_preset("Llama-3.2-1B"), get_gpu("A100 SXM 80GB").usable_memory_bytes
    setup = TrainingSetup(seq_len=4096, micro_batch=16, dp=8, recompute="none")
    fixes = remedies(spec, setup, cap)
    changes = [r.change for r in fixes]
    assert changes[0] == "micro-batch 4 (4 gradient-accumulation steps keep the batch)"
    assert training_memory(spec, replace(setup, micro_batch=5)).total > cap  # 4 is the largest
    assert any(c.startswith("the layout tp") for c in changes)
    for r in fixes:
        assert training_memory(spec, r.setup).total == r.per_gpu_bytes <= cap


# ----- the largest value that fits (max_batch / max_context's search) ----------------------------------------------
def _monotone_memories(seed: int, n: int) -> list[list[int]]:
    """Non-decreasing memory curves over 1..n: linear, linear then capped (a sliding window), concave and convex,
    flat stretches, steps and jumps; random integer slopes and offsets."""
    import random

    rng = random.Random(seed)
    curves = []
    for _ in range(60):
        kind = rng.choice(("linear", "capped", "concave", "convex", "steps", "flat", "jumps"))
        a, s = rng.randrange(0, 10**6), rng.randrange(1, 10**4)
        cap_at = rng.randrange(1, n + 1)
        curves.append([_curve(kind, a, s, cap_at, v) for v in range(1, n + 1)])
    return curves


def _curve(kind: str, a: int, s: int, cap_at: int, v: int) -> int:
    return {"linear": a + s * v, "capped": a + s * min(v, cap_at), "concave": a + int(s * v ** 0.5),
            "convex": a + s * v * v, "steps": a + s * (v // 17), "flat": a,
            "jumps": a + s * v + (10**7 if v > cap_at else 0)}[kind]


@pytest.mark.parametrize("seed", range(4))
def test_largest_equals_a_scan_of_every_value(monkeypatch, seed):
    """``_largest`` (false position with a bisection guard) against a plain scan of 1..hi, on memory curves of every
    shape a monotone model can take, at capacities below, inside and above each curve."""
    import random
    from dataclasses import dataclass

    from calc import solvers

    @dataclass(frozen=True)
    class Setup:
        v: int = 1

    @dataclass(frozen=True)
    class Memory:
        total: int

    rng = random.Random(seed)
    hi = rng.choice((1, 2, 3, 50, 777, 4096))
    for curve in _monotone_memories(seed, hi):
        calls: list[int] = []
        monkeypatch.setattr(solvers, "_memory",
                            lambda model, s, curve=curve, calls=calls: calls.append(s.v) or Memory(curve[s.v - 1]))
        for capacity in (curve[0] - 1, curve[-1], curve[-1] + 1, *(rng.randrange(curve[0], curve[-1] + 1)
                                                                    for _ in range(5))):
            want = max((v for v in range(1, hi + 1) if curve[v - 1] <= capacity), default=None)
            calls.clear()
            assert solvers._largest(None, Setup(), capacity, "v", hi) == want, (curve[:5], capacity)
            assert all(1 <= v <= hi for v in calls)
            assert len(calls) <= 4 * max(hi, 2).bit_length() + 2  # never much more than bisection's 2 log2(hi)
