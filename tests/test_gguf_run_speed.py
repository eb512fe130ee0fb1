"""Speed changes to the GGUF run memory (issue 18) give the same answers, exactly.

``calc.gguf_run.run_memory_many`` computes the KV cache and the compute buffer once per run setup for all file
types, and ``QuantResult`` keeps its per-class and outside-the-blocks bytes; the reference below is the placement as
it was before (one file type at a time, the blocks' bytes summed over every tensor of the full tensor list, layer by
layer), on architectures that take each branch: full offload, split, CPU only, unified memory, sliding-window and
recurrent caches, MoE and MLA."""

from __future__ import annotations

import pytest

from calc.gguf import quantize_all
from calc.gguf_run import RunMemory, RunSetup, compute_buffer_bytes, kv_layer_bytes, run_memory, run_memory_many
from calc.gpus import get_gpu
from calc.presets import get_preset


def _reference(spec, quant, setup, gpu) -> RunMemory:
    """``run_memory`` as written before run_memory_many, with ``layer_bytes`` from every tensor one by one."""
    kv = kv_layer_bytes(spec, setup.context, setup.cache_type, setup.batch, setup.n_ubatch)
    compute = compute_buffer_bytes(spec, setup.context, setup.n_ubatch, setup.flash_attn)
    n = spec.num_layers
    per_layer, outside = [0] * n, []
    for x in quant.tensors:  # LayeredTensors iterates every layer's tensors
        if x.layer is not None:
            per_layer[x.layer] += x.bytes
        else:
            outside.append(x)
    embd = sum(x.bytes for x in outside if x.name == "token_embd.weight")
    weights, kv_total = sum(x.bytes for x in quant.tensors), sum(kv)
    if gpu is None:
        return RunMemory(weights, kv_total, compute, "cpu", 0, n, 0, weights + kv_total + compute, None)
    if gpu.unified_memory:
        total = weights + kv_total + compute
        return RunMemory(weights, kv_total, compute, "unified", n, n, total, 0, gpu.usable_memory_bytes)
    capacity = max(0, gpu.usable_memory_bytes - setup.runtime_reserve_bytes)
    full = weights - embd + kv_total + compute
    if full <= capacity:
        return RunMemory(weights, kv_total, compute, "gpu", n, n, full, embd, capacity)
    on_gpu, k = compute, 0
    for i in range(n - 1, -1, -1):
        if on_gpu + per_layer[i] + kv[i] > capacity:
            break
        on_gpu += per_layer[i] + kv[i]
        k += 1
    if k == 0:
        return RunMemory(weights, kv_total, compute, "cpu", 0, n, 0, weights + kv_total + compute, capacity)
    return RunMemory(weights, kv_total, compute, "split", k, n, on_gpu, weights + kv_total - on_gpu + compute,
                     capacity)


MODELS = ("Meta-Llama-3-8B", "Meta-Llama-3-70B", "Gemma-3-12B", "Mixtral-8x7B-v0.1", "Qwen3-Next-80B-A3B",
          "Jamba-v0.1", "gpt-oss-20b", "DeepSeek-V3")
GPUS = (None, "RTX 4090", "L4", "H200", "Apple M3 Max 128GB")
SETUPS = (RunSetup(context=512), RunSetup(context=8192, cache_type="q8_0", batch=4),
          RunSetup(context=131072, cache_type="q4_0", flash_attn=False), RunSetup(context=32768, n_ubatch=2048))


@pytest.mark.parametrize("name", MODELS)
def test_run_memory_many_equals_one_type_at_a_time(name):
    spec = get_preset(name)
    quants = {f: r for f, r in quantize_all(spec, imatrix=True).items() if not isinstance(r, ValueError)}
    placements = set()
    for setup in SETUPS:
        for g in GPUS:
            gpu = g and get_gpu(g)
            got = run_memory_many(spec, quants, setup, gpu)
            assert list(got) == list(quants)
            for f, q in quants.items():
                want = _reference(spec, q, setup, gpu)
                assert got[f] == want, (name, setup, g, f)
                assert run_memory(spec, q, setup, gpu) == want
                placements.add(want.placement)
    assert {"gpu", "cpu", "unified"} <= placements  # each model takes these branches (split: see below)


def test_split_branch_is_covered():
    """The layer-by-layer offload (``split``) must be among the compared cases, on two layouts."""
    seen = []
    for name in ("Meta-Llama-3-70B", "Gemma-3-27B"):
        spec = get_preset(name)
        quants = {f: r for f, r in quantize_all(spec, imatrix=False).items() if not isinstance(r, ValueError)}
        got = run_memory_many(spec, quants, RunSetup(context=8192), get_gpu("RTX 4090"))
        for f, q in quants.items():
            assert got[f] == _reference(spec, q, RunSetup(context=8192), get_gpu("RTX 4090"))
        seen += [m.placement for m in got.values()]
    assert seen.count("split") >= 20


def test_layer_bytes_sum_to_the_tensor_bytes():
    spec = get_preset("Gemma-3-12B")
    for q in quantize_all(spec, imatrix=None).values():
        if isinstance(q, ValueError):
            continue
        per_layer, embd, other = q.layer_bytes(spec.num_layers)
        assert sum(per_layer) + embd + other == q.tensor_bytes
        assert q.layer_bytes(spec.num_layers) == (per_layer, embd, other)  # cached parts, same answer twice


# ----- one typing for both imatrix settings where llama-quantize's rules do not read it -----

def _quantize_reference(spec, ftype, imatrix):
    """``quantize_model`` as written before the shared typings: every call types every tensor afresh."""
    from calc.gguf import QuantResult, _assign_plan, _header_bytes, _requires_imatrix, layer_plan

    plan = layer_plan(spec)
    if imatrix is None:
        typed = _assign_plan(spec, ftype, plan, False)
        imatrix = _requires_imatrix(ftype, tuple(typed))
        if imatrix:
            typed = _assign_plan(spec, ftype, plan, True)
    else:
        typed = _assign_plan(spec, ftype, plan, imatrix)
    return QuantResult(spec.name, ftype, bool(imatrix), typed, _header_bytes(spec, plan))


def test_file_types_outside_imatrix_rule_types_type_alike_with_and_without_one():
    """Every preset: a file type outside ``IMATRIX_RULE_TYPES`` gives the same tensor types with and without an
    imatrix, and each type in it differs on some preset (the set names no type for nothing)."""
    from calc.gguf import FILE_TYPES, IMATRIX_RULE_TYPES, _assign_plan, layer_plan
    from calc.presets import PRESETS

    differs, covered = set(), 0
    for name in PRESETS:
        spec = get_preset(name)
        try:
            plan = layer_plan(spec)
        except ValueError:  # no GGUF layout for this architecture
            continue
        covered += 1
        for f in FILE_TYPES:
            try:
                with_, without = _assign_plan(spec, f, plan, True), _assign_plan(spec, f, plan, False)
            except ValueError:
                continue
            if with_ != without:
                differs.add(f)
                assert f in IMATRIX_RULE_TYPES, (name, f)
    assert differs == IMATRIX_RULE_TYPES
    assert covered >= 40


@pytest.mark.parametrize("name", ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Gemma-3-12B", "Qwen3-Next-80B-A3B",
                                  "DeepSeek-V3", "gpt-oss-20b", "Jamba-v0.1", "Llama-2-70B"))
def test_quantize_all_like_another_setting_equals_the_reference(name):
    """auto, then yes, then no, then auto (as the page's imatrix choice goes), each typed ``like`` the one before:
    every result equals a fresh typing, and the file types outside ``IMATRIX_RULE_TYPES`` share the typing."""
    from calc.gguf import IMATRIX_RULE_TYPES

    spec = get_preset(name)
    before = None
    for imatrix in (None, True, False, None):
        got = quantize_all(spec, imatrix=imatrix, like=before)
        for f, r in got.items():
            try:
                want = _quantize_reference(spec, f, imatrix)
            except ValueError as exc:
                assert isinstance(r, ValueError) and str(r) == str(exc)
                continue
            assert r == want and r.imatrix == want.imatrix, (name, imatrix, f)
            assert r.tensor_bytes == want.tensor_bytes and r.tensor_types == want.tensor_types
            if before is not None:
                assert (r.tensors is before[f].tensors) == (f not in IMATRIX_RULE_TYPES), f
        before = got


def test_like_of_another_model_is_not_reused():
    a, b = get_preset("Meta-Llama-3-8B"), get_preset("Llama-3.1-8B")
    other = quantize_all(get_preset("Qwen3-8B"), imatrix=False)
    assert quantize_all(a, imatrix=True, like=other) == quantize_all(a, imatrix=True)
    same_layout = quantize_all(b, imatrix=False)  # same tensors and plan, another name: still retyped
    got = quantize_all(a, imatrix=False, like=same_layout)
    assert all(r.model == a.name and r.tensors is not same_layout[f].tensors for f, r in got.items()
               if not isinstance(r, ValueError))


def test_like_of_the_same_name_with_other_layers_is_not_reused():
    """A custom config keeps the preset's name: another layer count must be typed for its own layers."""
    import dataclasses

    spec = get_preset("Meta-Llama-3-8B")
    shorter = dataclasses.replace(spec, num_layers=16)
    got = quantize_all(shorter, imatrix=True, like=quantize_all(spec, imatrix=False))
    assert got == {f: _quantize_reference(shorter, f, True) for f in got}


# ----- the PTQ loss cost of every file type at once (calc.scaling_precision.ptq_costs) -----

@pytest.mark.parametrize("name", ("Meta-Llama-3-8B", "Qwen2.5-0.5B", "DeepSeek-V3", "Gemma-3-27B"))
def test_ptq_costs_equal_ptq_cost_of_each_bit_width(name):
    """Bit for bit, over the file types' bits/weight and the page's token range (0.001T to 1000T)."""
    from calc.scaling_precision import ptq_cost, ptq_costs
    from ui.ptq_cost import paper_params

    spec = get_preset(name)
    bits = [r.bits_per_weight for r in quantize_all(spec).values() if not isinstance(r, ValueError)]
    bits = [b for b in bits if b < 16] + [1.0, 15.999]
    n = paper_params(spec)
    for d in (1e9, 2.6e10, 1.5e13, 3.7e13, 1e15):
        got = ptq_costs(n, d, bits)
        assert len(got) == len(bits)
        for b, c in zip(bits, got, strict=True):
            assert c == ptq_cost(n, d, b), (name, d, b)


def test_ptq_costs_reject_what_ptq_cost_rejects():
    from calc.scaling_precision import ptq_cost, ptq_costs

    for args in ((7e9, 1e12, [4.5, 0.5]), (7e9, 0.0, [4.5]), (0.5, 1e12, [4.5]), (7e9, 1e12, [4.5, float("nan")])):
        with pytest.raises(ValueError) as one:
            for b in args[2]:
                ptq_cost(args[0], args[1], b)
        with pytest.raises(ValueError) as many:
            ptq_costs(*args)
        assert str(many.value) == str(one.value)


def test_page_cache_retypes_only_the_imatrix_types_and_prices_like_ptq_cost():
    """The page's caches use both: ``ui.memo.quantize_all_cached`` hands the kept results of the model's other imatrix
    settings to ``quantize_all(like=...)`` (the same results as typing afresh, and the tensors of every type outside
    IMATRIX_RULE_TYPES shared with the kept ones), and ``ui.ptq_cost.costs_for`` is ``ptq_cost`` of each format."""
    from calc.gguf import IMATRIX_RULE_TYPES, QuantResult
    from calc.scaling_precision import ptq_cost
    from ui import memo
    from ui.ptq_cost import costs_for

    spec = get_preset("Meta-Llama-3-8B")
    memo._quant.clear()
    auto = memo.quantize_all_cached(spec, None)
    yes = memo.quantize_all_cached(spec, True)
    fresh = quantize_all(spec, imatrix=True)
    assert list(yes) == list(fresh)
    assert all(r == fresh[f] if isinstance(r, QuantResult) else str(r) == str(fresh[f]) for f, r in yes.items())
    shared = {f for f, r in yes.items() if isinstance(r, QuantResult) and r.tensors is auto[f].tensors}
    assert shared and not shared & set(IMATRIX_RULE_TYPES)
    pairs = (("Q4_K_M", 4.89), ("Q8_0", 8.5), ("BF16", 16.0))
    assert costs_for(8.03e9, 15e12, pairs) == {f: ptq_cost(8.03e9, 15e12, b) for f, b in pairs[:2]}
