"""calc.plan.search times every candidate layout at once (``_step_parts``, numpy columns, issue 18). Its answer must be
what visiting the layouts one at a time gives: each layout's ``step_time`` (a one-row table, so this holds the row
gathers: per-tp efficiency, per-recompute FLOPs, the masks) and Python's stable sort of them by step time, layouts
whose step time raises left out (torchtitan's per-op recompute of an MoE model), memory checked in that order."""

from __future__ import annotations

import numpy as np
import pytest

from calc.gpus import get_gpu
from calc.plan import STACKS, Cluster, Job, candidate_layouts, layout_memory, search, step_time
from calc.presets import get_preset

CASES = [  # model, GPU, GPUs, GPUs per node, sequence, stack, pins
    ("Meta-Llama-3-8B", "H100 SXM", 64, 8, 4096, None, {}),
    ("Mixtral-8x7B-v0.1", "H100 SXM", 48, 6, 8192, "torchtitan-2024", {}),
    ("Meta-Llama-3-70B", "A100 SXM 80GB", 128, 8, 2048, "megatron-2021", {"pp": 4}),
    ("Meta-Llama-3-8B", "MI300X", 16, 8, 2048, "megatron-deepspeed-2022", {}),
]


def _one_at_a_time(model, cluster, job, pins, stack, top, require_fit=True):
    plans = []
    for lay in candidate_layouts(model, cluster, job, pins, stack):
        try:
            plans.append(step_time(model, cluster, job, lay, stack=stack))
        except ValueError:
            continue
    plans.sort(key=lambda p: p.step_s)
    out = []
    for p in plans:
        mem = layout_memory(model, job, p.layout, stack)
        if mem <= cluster.gpu.usable_memory_bytes or not require_fit:
            out.append((p.layout, p.breakdown, p.hardware_flops, mem))
            if len(out) == top:
                break
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[5]}")
def test_search_equals_layouts_one_at_a_time(case):
    name, gpu, n, node, seq, stack_name, pins = case
    model, stack = get_preset(name), STACKS.get(stack_name)
    cluster, job = Cluster(get_gpu(gpu), n, node), Job(seq, 512 * seq)
    got = [(p.layout, p.breakdown, p.hardware_flops, p.memory_per_gpu_bytes)
           for p in search(model, cluster, job, pins, top=10, stack=stack)]
    assert got == _one_at_a_time(model, cluster, job, pins, stack, 10)  # exact: the same float operations


def test_search_ranks_every_layout_as_one_at_a_time():
    """The whole ranking, fitting or not, where a third of the layouts raise (torchtitan's per-op selective
    recompute does not model an MoE layer): none of them may be ranked."""
    model, stack = get_preset("Mixtral-8x7B-v0.1"), STACKS["torchtitan-2024"]
    cluster, job = Cluster(get_gpu("H100 SXM"), 4, 8), Job(4096, 16 * 4096)  # 909 layouts
    got = [(p.layout, p.breakdown, p.hardware_flops, p.memory_per_gpu_bytes)
           for p in search(model, cluster, job, top=1000, require_fit=False, stack=stack)]
    want = _one_at_a_time(model, cluster, job, {}, stack, 1000, require_fit=False)
    assert len(want) < sum(1 for _ in candidate_layouts(model, cluster, job, None, stack))  # some raised
    assert got == want


def _table_rows(table) -> list[tuple]:
    """A ``calc.plan._Table``'s layouts as ``_candidate_blocks`` rows (``_FIELDS`` order, recompute as its index),
    read by ``_Table.layouts``, as ``search`` reads them."""
    from calc.plan import RECOMPUTE

    return [(*lay[:7], RECOMPUTE.index(lay.recompute), lay.zero) for lay in table.layouts(np.arange(len(table.p)))]


def test_unpinned_table_is_the_rows_of_the_blocks():
    """``search`` builds its table of unpinned layouts with NumPy (``_unpinned_table``: the groups of tp, pp, cp and dp
    crossed with every ep, micro-batch and vpp, masked; issue 18); it must list the rows ``_candidate_blocks`` gives, in
    their order, on random clusters, models and stacks, and a pinned search's table (``_rows_table``) its rows."""
    import random

    from calc.plan import _candidate_blocks, _rows_table, _unpinned_table

    rng = random.Random(18)
    models = [get_preset(n) for n in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Meta-Llama-3-70B", "Qwen2.5-7B",
                                      "Qwen3-30B-A3B", "gpt-oss-20b")]
    stacks = [None, *STACKS.values()]
    checked = 0
    for _ in range(160):
        model, stack = rng.choice(models), rng.choice(stacks)
        cluster = Cluster(get_gpu("H100 SXM"), rng.choice([1, 4, 6, 8, 16, 48, 64, 128, 1000]), rng.choice([1, 4, 8, 16]))
        seq = rng.choice([1000, 2048, 4096, 32768])
        job = Job(seq, rng.choice([1, 16, 100, 512, 1024]) * seq)
        want = [row for block in _candidate_blocks(model, cluster, job, None, stack) for row in block]
        table = _unpinned_table(model, cluster, job, stack)
        assert _table_rows(table) == want
        assert table.tps == sorted({row[0] for row in want})
        assert _table_rows(_rows_table(want)) == want
        checked += bool(want)
    assert checked > 80


def _ranked(model, cluster, job, top, fit, stack):
    try:
        return [(p.layout, p.breakdown, p.memory_per_gpu_bytes)
                for p in search(model, cluster, job, top=top, require_fit=fit, stack=stack)]
    except ValueError as exc:
        return str(exc)


def test_fewer_layouts_are_the_first_of_more():
    """The planner page searches at least 8 layouts and shows the first ``top`` (issue 18): a search's top k must be
    the first k of its top 8, fitting or not, and a search that finds nothing must say the same whatever ``top``."""
    import random

    rng = random.Random(8)
    models = [get_preset(n) for n in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Meta-Llama-3-70B")]
    compared = 0
    for _ in range(40):
        model, stack = rng.choice(models), rng.choice([None, *STACKS.values()])
        cluster = Cluster(get_gpu(rng.choice(["H100 SXM", "A100 SXM 80GB"])), rng.choice([8, 16, 48, 64, 128]))
        seq = rng.choice([2048, 4096, 32768])
        job, fit = Job(seq, rng.choice([64, 512, 1024]) * seq), rng.random() < 0.7
        k = rng.randint(1, 7)

        eight, few = (_ranked(model, cluster, job, top, fit, stack) for top in (8, k))
        assert few == (eight[:k] if isinstance(eight, list) else eight)
        compared += isinstance(eight, list) and len(eight) > k
    assert compared > 15


def test_fastest_first_is_the_stable_sort():
    """``search`` visits layouts through ``_fastest_first`` (the fastest ``_HEAD`` sorted first, the rest only when read,
    issue 18): read whole or in part, it must list ``np.argsort(kind="stable")``'s order, ties by index and NaN last,
    on random step times with many ties (rounded values), NaNs and lengths around the head."""
    import itertools
    import random

    from calc.plan import _HEAD, _fastest_first

    rng = random.Random(128)
    for _ in range(300):
        n = rng.choice([0, 1, 5, _HEAD - 1, _HEAD, _HEAD + 1, 2 * _HEAD, 3000])
        step = np.round(np.array([rng.uniform(0, 10) for _ in range(n)]), rng.choice([0, 1, 3, 12]))
        if n and rng.random() < 0.3:
            step[rng.sample(range(n), rng.randint(1, n))] = np.nan
        want = np.argsort(step, kind="stable").tolist()
        k = rng.randint(0, n)
        assert list(itertools.islice(_fastest_first(step), k)) == want[:k]
        assert list(_fastest_first(step)) == want


def test_search_equals_layouts_one_at_a_time_on_random_inputs():
    """``search`` (lazy order, one row read per visited layout, a ``Plan`` only for a layout kept, the model's numbers
    kept per model and sequence: issue 18) against the layouts one at a time, on random models, clusters, batches,
    stacks and pins, fitting or not."""
    import random

    rng = random.Random(15)
    models = [get_preset(n) for n in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Meta-Llama-3-70B", "Qwen2.5-7B")]
    compared = 0
    for _ in range(24):
        model, stack = rng.choice(models), rng.choice([None, *STACKS.values()])
        cluster = Cluster(get_gpu(rng.choice(["H100 SXM", "A100 SXM 80GB"])), rng.choice([4, 8, 12, 16, 32]),
                          rng.choice([4, 8]))
        seq = rng.choice([2048, 4096, 8192])
        job, fit = Job(seq, rng.choice([32, 64, 256]) * seq), rng.random() < 0.6
        pins = rng.choice([{}, {}, {"zero": 1}, {"recompute": "full"}, {"pp": 2}])
        top = rng.choice([1, 8, 200])
        try:
            got = [(p.layout, p.breakdown, p.hardware_flops, p.memory_per_gpu_bytes)
                   for p in search(model, cluster, job, pins, top=top, require_fit=fit, stack=stack)]
        except ValueError:
            got = None
        want = _one_at_a_time(model, cluster, job, pins, stack, top, require_fit=fit)
        assert got == (want or None)
        compared += bool(want)
    assert compared > 10


def test_tables_kept_across_gpu_precision_and_links_are_the_same_layouts():
    """Unpinned searches keep their table per model, GPU count, node size, sequence, batch and stack (``_kept_table``,
    issue 18): a search on another GPU, precision or link, or with another stack object, must rank as the layouts one
    at a time do, and the kept table must be what ``_unpinned_table`` lists afresh."""
    import random
    from dataclasses import replace

    from calc import plan
    from calc.plan import _kept_table, _unpinned_table

    rng = random.Random(21)
    models = [get_preset(n) for n in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1")]
    stacks = [None, *STACKS.values()]
    plan._COLUMNS.clear()
    for i in range(40):  # few choices each, so that most tables are asked for again with one of them changed
        model, stack = rng.choice(models), rng.choice(stacks[:3])
        if stack is not None and rng.random() < 0.3:  # an equal but distinct stack object, or one allowing less
            stack = replace(stack, allowed={**stack.allowed, "pp": (1,)} if rng.random() < 0.5 else dict(stack.allowed))
        cluster = Cluster(get_gpu(rng.choice(["H100 SXM", "A100 SXM 80GB", "MI300X"])), rng.choice([8, 16]),
                          rng.choice([4, 8]), inter_bytes_per_s=rng.choice([None, 25e9]))
        seq = rng.choice([1000, 4096])  # 1,000 tokens: no tp 8 (sequence parallelism) and no cp
        job = Job(seq, rng.choice([64, 96]) * seq, rng.choice(["bf16", "fp8"]) if cluster.gpu.peak("fp8") else "bf16")
        got = _kept_table(model, cluster, job, stack)
        assert _table_rows(got) == _table_rows(_unpinned_table(model, cluster, job, stack))
        assert not any(v.flags.writeable for v in (got.fields, got.rc, got.p, got.r, got.zero))
        if i % 8 == 0:
            try:
                found = [(p.layout, p.breakdown, p.hardware_flops, p.memory_per_gpu_bytes)
                         for p in search(model, cluster, job, top=8, require_fit=False, stack=stack)]
            except ValueError:
                found = None
            assert found == (_one_at_a_time(model, cluster, job, {}, stack, 8, require_fit=False) or None)
    assert 0 < len(plan._COLUMNS) <= plan._COLUMNS_KEPT
