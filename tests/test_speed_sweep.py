"""The batch sweep (calc.speed.batch_sweep) against a plain loop over every decode step of every batch.

The sweep finds each batch's compute-bound steps by ordering the steps once (calc.speed._decode_sums_by_batch, issue
18); the reference here walks the steps one by one with the per-step pieces checked elsewhere against real models:
``decode_flops`` (torch's FlopCounterMode, tests/test_speed.py), ``calc.kvcache.kv_cache_bytes`` (transformers'
caches, tests/test_kvcache_arch.py) and ``weight_bytes_read`` (real tensors, tests/test_speed.py). Models cover a plain
GQA decoder, sliding windows that the context crosses (Gemma-2, gpt-oss), chunked attention (Llama 4), a hybrid with a
recurrent state (Qwen3-Next) and MoE weights read per batch (Mixtral).
"""

from __future__ import annotations

import numpy as np
import pytest

from calc.kvcache import kv_cache_bytes
from calc.presets import get_preset
from calc.speed import (
    Hardware,
    ServingSetup,
    batch_sweep,
    decode_flops,
    estimate,
    estimate_and_sweep,
    state_bytes_per_sequence,
    weight_bytes_read,
)

H100 = Hardware(989e12, 3.35e12)  # H100 SXM datasheet: dense bf16 FLOP/s, bytes/s

SLOW = Hardware(30e12, 3.35e12)  # a 30 TFLOP/s compute roof: long-context steps can be compute-bound
SLOWER = Hardware(10e12, 3.35e12)

CASES = [  # model, prompt, output, weight dtype, hardware
    ("Meta-Llama-3-8B", 1, 3000, "bf16", H100),  # early steps compute-bound at large batches, later ones memory-bound
    ("Gemma-2-9B", 4000, 300, "bf16", H100),  # crosses its 4,096-token window
    ("gpt-oss-20b", 60, 200, "int4", H100),  # crosses its 128-token window
    ("Llama-4-Scout-17B-16E", 8100, 200, "bf16", H100),  # crosses an 8,192-token chunk boundary
    # the same on a slow compute roof: attention FLOPs drop at the chunk boundary while the KV read does not, so the
    # compute-bound steps of batch 96 are not the first ones (the steps' order is not the context's)
    ("Llama-4-Scout-17B-16E", 8100, 200, "bf16", SLOW),
    # 32 query heads per 4 KV heads on a 10 TFLOP/s roof: attention FLOPs outgrow the KV read with the context, so
    # the compute-bound steps of batch 12 and 16 are the last ones
    ("Qwen3-30B-A3B", 1000, 4000, "bf16", SLOWER),
    ("Qwen3-Next-80B-A3B", 500, 150, "fp8_e4m3", H100),  # fixed recurrent state per sequence, MoE
    ("Mixtral-8x7B-v0.1", 20, 400, "bf16", H100),  # experts touched grow with the batch
]


def _steps(spec, setup: ServingSetup) -> list[tuple[int, int]]:
    """(KV + state bytes read, FLOPs) of one sequence at each decode step, which attends to c positions (c - 1
    cached), c = prompt + 1 ... final context."""
    state = state_bytes_per_sequence(spec)
    return [(kv_cache_bytes(spec, 1, c - 1, setup.kv_dtype) + state, decode_flops(spec, c))
            for c in range(setup.prompt_tokens + 1, setup.final_context + 1)]


def _by_loop(spec, setup: ServingSetup, batch: int, hw: Hardware = H100,
             steps: list[tuple[int, int]] | None = None) -> tuple[float, float, float, int]:
    """(decode seconds, memory-roof seconds, compute-roof seconds, compute-bound steps), one step at a time."""
    weights = weight_bytes_read(spec, batch, setup.weight_dtype)
    total = mem_total = comp_total = 0.0
    compute_bound = 0
    for kv, flops in steps or _steps(spec, setup):
        mem = (weights + batch * kv) / hw.bandwidth_bytes_per_s
        comp = batch * flops / hw.flops_per_s
        total, mem_total, comp_total = total + max(mem, comp), mem_total + mem, comp_total + comp
        compute_bound += comp >= mem
    return total, mem_total, comp_total, compute_bound


@pytest.mark.parametrize("model,prompt,output,weights,hw", CASES,
                         ids=[f"{c[0]}, {c[4].flops_per_s / 1e12:g} TFLOPS" for c in CASES])
def test_sweep_sums_every_step_of_every_batch(model, prompt, output, weights, hw):
    spec = get_preset(model)
    setup = ServingSetup(prompt_tokens=prompt, output_tokens=output, weight_dtype=weights)
    sweep = batch_sweep(spec, setup, hw, max_batch=4096)
    steps, per_step = output - 1, _steps(spec, setup)
    for i, b in enumerate(sweep.batch):
        t, mem, comp, _ = _by_loop(spec, setup, int(b), hw, per_step)
        assert sweep.memory_s[i] == pytest.approx(mem, rel=1e-12)
        assert sweep.compute_s[i] == pytest.approx(comp, rel=1e-12)
        assert sweep.tokens_per_s_per_seq[i] == pytest.approx(steps / t, rel=1e-12)
        assert sweep.tokens_per_s_total[i] == pytest.approx(b * steps / t, rel=1e-12)


def test_a_batch_whose_steps_split_between_the_roofs_sums_each_side():
    """Llama-3-8B from a 1-token prompt: at batch 768 the short-context steps are compute-bound and the long ones
    memory-bound (the sum of the larger roof is neither roof's sum), the case the ordering of the steps is for."""
    spec = get_preset("Meta-Llama-3-8B")
    setup = ServingSetup(prompt_tokens=1, output_tokens=3000)
    t, mem, comp, compute_bound = _by_loop(spec, setup, 768)
    assert 0 < compute_bound < 2999 and t > max(mem, comp)
    sweep = batch_sweep(spec, setup, H100, max_batch=1024)
    i = list(sweep.batch).index(768)
    assert sweep.tokens_per_s_per_seq[i] == pytest.approx(2999 / t, rel=1e-12)


def test_estimate_and_sweep_is_estimate_and_batch_sweep():
    spec = get_preset("Gemma-2-9B")
    setup = ServingSetup(batch=6, prompt_tokens=4000, output_tokens=300, tp=2)
    hw = Hardware(989e12, 3.35e12, link_bytes_per_s=450e9)
    est, sweep = estimate_and_sweep(spec, setup, hw, max_batch=2048)
    assert est == estimate(spec, setup, hw)
    alone = batch_sweep(spec, setup, hw, max_batch=2048)
    for field in ("batch", "tokens_per_s_total", "tokens_per_s_per_seq", "memory_s", "compute_s"):
        np.testing.assert_array_equal(getattr(sweep, field), getattr(alone, field))
    assert sweep.compute_bound_from == alone.compute_bound_from
    i = list(sweep.batch).index(6)  # the sweep at the chosen batch is the estimate's decode
    assert sweep.tokens_per_s_per_seq[i] == pytest.approx(est.tokens_per_s_per_seq, rel=1e-12)
