"""Property-based tests for ``calc.memory`` (training and inference memory, solvers, sweeps).

Only ``ValueError`` for bad input; every component an int >= 0 (never NaN, inf or negative bytes);
invariants: a higher ZeRO stage never means more model-state bytes (weights, master weights,
gradients, optimizer states) per GPU, nor does a larger data-parallel degree; a larger batch or a
longer sequence never means fewer activation bytes; a larger batch never a smaller KV cache; wider
weights never fewer weight bytes. One independent reference: ZeRO's per-parameter bytes
(Rajbhandari et al. 2019, sec. 5: 16, 4 + 12/N, 2 + 14/N, 16/N with mixed-precision Adam).
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from calc.memory import (
    FINETUNE,
    KV_DTYPES,
    LORA_TARGETS,
    OPTIMIZERS,
    PRECISIONS,
    WEIGHT_DTYPES,
    InferenceSetup,
    MemoryBreakdown,
    TrainingSetup,
    breakdown_grid,
    inference_memory,
    max_batch,
    max_context,
    min_gpus,
    training_memory,
)
from calc.models import ModelSpec
from calc.presets import PRESETS, get_preset
from tests.test_properties import FAST, SLOW, hf_configs

SMALL_PRESETS = [get_preset(n) for n in ("GPT-2", "Llama-3.2-1B", "Qwen3-30B-A3B", "Gemma-2-2B", "DeepSeek-V3",
                                         "Mixtral-8x7B-v0.1") if n in PRESETS]
MODELS = st.one_of(st.sampled_from(SMALL_PRESETS), hf_configs().map(ModelSpec.from_hf_config),
                   st.integers(1, 10**12))
SPECS = st.one_of(st.sampled_from(SMALL_PRESETS), hf_configs().map(ModelSpec.from_hf_config))
STATE_PARTS = ("weights", "master_weights", "gradients", "optimizer_states")


def check_breakdown(b: MemoryBreakdown) -> None:
    comps = b.components()
    for k, v in comps.items():
        assert isinstance(v, int) and not isinstance(v, bool), (k, v)
        assert v >= 0, (k, v)
    assert b.total == sum(comps.values())
    assert isinstance(b.cpu_bytes, int) and b.cpu_bytes >= 0


@st.composite
def training_setups(draw, model=None, pp1: bool = False):
    stage = draw(st.integers(0, 3))
    pp = 1 if (pp1 or stage >= 2) else draw(st.integers(1, 2))
    finetune = draw(st.sampled_from(FINETUNE)) if isinstance(model, ModelSpec) else "full"
    return TrainingSetup(
        precision=draw(st.sampled_from(PRECISIONS)), optimizer=draw(st.sampled_from(OPTIMIZERS)),
        zero_stage=stage, dp=draw(st.integers(1, 64)), tp=1, pp=pp,
        sequence_parallel=draw(st.booleans()), micro_batch=draw(st.integers(1, 16)), seq_len=draw(st.integers(1, 8192)),
        recompute=draw(st.sampled_from(("none", "selective", "full"))), flash_attention=draw(st.booleans()),
        offload_optimizer=stage > 0 and draw(st.booleans()), finetune=finetune,
        lora_rank=draw(st.integers(1, 64)),
        lora_targets=tuple(draw(st.lists(st.sampled_from(LORA_TARGETS), min_size=1, max_size=3, unique=True))),
        rlhf=draw(st.sampled_from(("none", "dpo", "ppo"))) if finetune == "full" else "none",
        overhead_bytes=draw(st.sampled_from([0, 2**30])))


def _fits_layers(model, setup: TrainingSetup) -> bool:
    return not isinstance(model, ModelSpec) or setup.pp <= model.num_layers


# ----- training ---------------------------------------------------------------------------------

@FAST
@given(st.data())
def test_training_memory_is_nonnegative_ints(data):
    model = data.draw(MODELS)
    setup = data.draw(training_setups(model))
    assume(_fits_layers(model, setup))
    check_breakdown(training_memory(model, setup))


@FAST
@given(st.data())
def test_higher_zero_stage_never_more_model_state_bytes(data):
    model = data.draw(MODELS)
    setup = data.draw(training_setups(model, pp1=True))
    setup = dataclasses.replace(setup, offload_optimizer=False, zero_stage=0)
    states = []
    for stage in range(4):
        b = training_memory(model, dataclasses.replace(setup, zero_stage=stage))
        states.append(sum(getattr(b, k) for k in STATE_PARTS))
    assert states == sorted(states, reverse=True), states


@FAST
@given(st.data(), st.integers(1, 4))
def test_more_data_parallel_gpus_never_more_state_bytes_per_gpu(data, factor):
    model = data.draw(MODELS)
    setup = data.draw(training_setups(model, pp1=True))
    bigger = dataclasses.replace(setup, dp=setup.dp * (factor + 1))
    a, b = training_memory(model, setup), training_memory(model, bigger)
    assert sum(getattr(b, k) for k in STATE_PARTS) <= sum(getattr(a, k) for k in STATE_PARTS)


@FAST
@given(st.data(), st.integers(1, 8), st.integers(1, 512))
def test_larger_batch_or_sequence_never_fewer_activation_bytes(data, more_batch, more_seq):
    model = data.draw(SPECS)
    setup = data.draw(training_setups(model))
    assume(_fits_layers(model, setup))
    base = training_memory(model, setup).activations
    assert training_memory(model, dataclasses.replace(setup, micro_batch=setup.micro_batch + more_batch)).activations \
        >= base
    assert training_memory(model, dataclasses.replace(setup, seq_len=setup.seq_len + more_seq)).activations >= base


@FAST
@given(st.integers(1, 10**12), st.sampled_from([1, 2, 4, 8, 64, 1024]), st.integers(0, 3))
def test_zero_bytes_per_parameter_match_the_paper(params, dp, stage):
    """ZeRO sec. 5 (Psi params, K = 12, Nd GPUs): 16 Psi, 4 Psi + 12 Psi/Nd, 2 Psi + 14 Psi/Nd, 16 Psi/Nd."""
    setup = TrainingSetup(precision="bf16-mixed", optimizer="adamw", zero_stage=stage, dp=dp, overhead_bytes=0)
    b = training_memory(params, setup)
    got = sum(getattr(b, k) for k in STATE_PARTS)
    expected = {0: 16 * params, 1: 4 * params + 12 * params / dp, 2: 2 * params + 14 * params / dp,
                3: 16 * params / dp}[stage]
    assert got == pytest.approx(expected, rel=1e-9, abs=8)


BAD_COUNTS = st.one_of(st.integers(-10**6, 0), st.integers(10**9, 10**30), st.floats(), st.text(max_size=3),
                       st.none(), st.booleans())


@FAST
@given(st.sampled_from(SMALL_PRESETS),
       st.sampled_from(["zero_stage", "dp", "tp", "pp", "micro_batch", "seq_len", "lora_rank", "precision",
                        "optimizer", "recompute", "overhead_bytes", "finetune", "grad_dtype", "lora_targets"]),
       st.one_of(BAD_COUNTS, st.sampled_from(["bogus", "", "FP32", (), ("x",), 5])))
def test_bad_training_fields_are_value_errors(spec, field, value):
    setup = TrainingSetup(finetune="lora" if field in ("lora_rank", "lora_targets") else "full")
    try:
        setup = dataclasses.replace(setup, **{field: value})
    except (TypeError, ValueError):
        return  # refused at construction
    try:
        b = training_memory(spec, setup)
    except ValueError as exc:
        assert str(exc).strip()
        return
    check_breakdown(b)  # some "bad" values are fine (e.g. overhead_bytes=10**20)


# ----- inference --------------------------------------------------------------------------------

@st.composite
def inference_setups(draw):
    return InferenceSetup(weights_dtype=draw(st.sampled_from(WEIGHT_DTYPES + ("Q4_K_M", "q8_0", "Q2_K"))),
                          kv_dtype=draw(st.sampled_from(KV_DTYPES)), batch=draw(st.integers(1, 64)),
                          context=draw(st.integers(1, 200_000)), tp=1, overhead_bytes=draw(st.sampled_from([0, 2**30])),
                          mla_compressed=draw(st.booleans()), prefill_chunk_tokens=draw(st.integers(1, 16384)))


@FAST
@given(SPECS, inference_setups(), st.integers(1, 8))
def test_inference_memory_sane_and_monotone_in_batch_and_context(spec, setup, more):
    try:
        a = inference_memory(spec, setup)
    except ValueError as exc:  # e.g. a GGUF type whose blocks do not fit a tiny model's rows
        assert str(exc).strip()
        return
    check_breakdown(a)
    b = inference_memory(spec, dataclasses.replace(setup, batch=setup.batch + more))
    assert b.kv_cache >= a.kv_cache and b.total >= a.total
    c = inference_memory(spec, dataclasses.replace(setup, context=setup.context + more))
    assert c.kv_cache >= a.kv_cache


@FAST
@given(SPECS, inference_setups())
def test_wider_weight_dtype_never_fewer_weight_bytes(spec, setup):
    order = ["int4", "int8", "fp8", "bf16", "fp32"]  # bits: 4 (+scales), 8, 8, 16, 32
    sizes = [inference_memory(spec, dataclasses.replace(setup, weights_dtype=d)).weights for d in order]
    assert sizes == sorted(sizes), dict(zip(order, sizes, strict=True))


@FAST
@given(st.sampled_from(SMALL_PRESETS),
       st.sampled_from(["weights_dtype", "kv_dtype", "batch", "context", "tp", "overhead_bytes",
                        "prefill_chunk_tokens"]),
       st.one_of(BAD_COUNTS, st.sampled_from(["bogus", "", "Q9_K", "q4_k_m", 3])))
def test_bad_inference_fields_are_value_errors(spec, field, value):
    setup = dataclasses.replace(InferenceSetup(), **{field: value})
    try:
        b = inference_memory(spec, setup)
    except ValueError as exc:
        assert str(exc).strip()
        return
    check_breakdown(b)


# ----- solvers and sweeps -----------------------------------------------------------------------

@SLOW
@given(SPECS, inference_setups(), st.integers(2**28, 2**38))
def test_max_batch_is_the_largest_that_fits(spec, setup, capacity):
    setup = dataclasses.replace(setup, weights_dtype="bf16")
    n = max_batch(spec, setup, capacity, limit=4096)
    if n is None:
        assert inference_memory(spec, dataclasses.replace(setup, batch=1)).total > capacity
        return
    assert 1 <= n <= 4096
    assert inference_memory(spec, dataclasses.replace(setup, batch=n)).total <= capacity
    if n < 4096:
        assert inference_memory(spec, dataclasses.replace(setup, batch=n + 1)).total > capacity


@SLOW
@given(SPECS, inference_setups(), st.integers(2**28, 2**38))
def test_max_context_and_min_gpus_are_consistent(spec, setup, capacity):
    setup = dataclasses.replace(setup, weights_dtype="bf16")
    n = max_context(spec, setup, capacity, limit=1 << 20)
    assert n is None or (1 <= n <= 1 << 20
                         and inference_memory(spec, dataclasses.replace(setup, context=n)).total <= capacity)
    g = min_gpus(spec, setup, capacity)
    assert g is None or (g >= 1 and inference_memory(spec, dataclasses.replace(setup, tp=g)).total <= capacity)


@FAST
@given(SPECS, st.lists(st.integers(1, 64), min_size=1, max_size=4), st.lists(st.integers(1, 8192), min_size=1,
                                                                             max_size=4))
def test_breakdown_grid_equals_the_scalar_functions(spec, batches, seqs):
    setup = InferenceSetup(overhead_bytes=0)
    grid = breakdown_grid(spec, setup, batches, seqs)
    for i, b in enumerate(batches):
        for j, s in enumerate(seqs):
            one = inference_memory(spec, dataclasses.replace(setup, batch=b, context=s))
            assert grid["total"][i, j] == pytest.approx(one.total, rel=1e-9, abs=2)


_FINITE = st.floats()  # NaN and inf included: breakdown_grid refuses them (regression tests below)


@FAST
@given(SPECS, st.lists(st.one_of(_FINITE, st.integers(-5, 5)), min_size=1, max_size=3),
       st.lists(st.one_of(_FINITE, st.integers(-5, 5)), min_size=1, max_size=3))
def test_breakdown_grid_refuses_or_stays_finite(spec, batches, seqs):
    try:
        grid = breakdown_grid(spec, InferenceSetup(), batches, seqs)
    except ValueError as exc:
        assert str(exc).strip()
        return
    for name, arr in grid.items():
        assert all(math.isfinite(x) and x >= 0 for x in arr.ravel()), (name, batches, seqs, arr)


# ----- regressions: bugs these tests found in calc/memory.py, fixed by its owner ------------------

def test_non_iterable_lora_targets_is_a_value_error():
    with pytest.raises(ValueError, match="lora_targets"):
        training_memory(get_preset("GPT-2"), TrainingSetup(finetune="lora", lora_targets=-1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("setup", [InferenceSetup(), TrainingSetup()], ids=["inference", "training"])
def test_breakdown_grid_refuses_nan_and_inf(bad, setup):
    with pytest.raises(ValueError):
        breakdown_grid(get_preset("GPT-2"), setup, [bad], [16])
    with pytest.raises(ValueError):
        breakdown_grid(get_preset("GPT-2"), setup, [1], [bad])


def test_breakdown_grid_bounds_like_the_scalar_functions():
    with pytest.raises(ValueError):
        breakdown_grid(get_preset("GPT-2"), InferenceSetup(), [1e300], [16])
