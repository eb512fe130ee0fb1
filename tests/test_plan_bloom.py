"""BLOOM-176B's stack in the cluster planner against BigScience's own measurements (issue 15).

BigScience benchmarked layouts for BLOOM on its 384 A100 80GB before the run and wrote down the memory nvidia-smi
showed and the TFLOP/s (bigscience-workshop/bigscience train/tr11-176B-ml/chronicles-prequel.md, commit 9e64ede; the
rows are data in calc/plan_runs.py: ``BIGSCIENCE_MEMORY`` and the two "BigScience benchmark" runs). Nothing in
calc/ was fitted to them. Every benchmark there, and the run itself, used full activation checkpointing: no layout
without it was measured, so the planner's no-recompute layouts for BLOOM are checked through what these rows say
about the memory model and about tp 8, and through what BLOOM's software refused to run (its fused softmax).
"""

from __future__ import annotations

import pytest

import calc.plan as plan
from calc.gpus import get_gpu
from calc.plan import Layout, search, softmax_problem
from calc.plan_runs import BIGSCIENCE_MEMORY, BIGSCIENCE_PAIRS, REPORTED_RUNS

GIB = 2**30
STACK = plan.STACKS["megatron-deepspeed-2022"]
A100 = get_gpu("A100 SXM 80GB")


def _model_gib(row) -> float:
    return plan.layout_memory(row.spec(), row.job(), row.layout(), STACK) / GIB


def _id(row) -> str:
    return f"h{row.hidden}-L{row.layers}-a{row.heads}-dp{row.dp}-tp{row.tp}-pp{row.pp}-mb{row.micro_batch}"


MEASURED = [r for r in BIGSCIENCE_MEMORY if r.gib is not None]
OOM = [r for r in BIGSCIENCE_MEMORY if r.gib is None]


@pytest.mark.parametrize("row", MEASURED, ids=_id)
def test_memory_model_is_the_tensors_under_nvidia_smi(row):
    """The model counts tensors (BF16_Optimizer's 2 + 2 + 4 + 12 / dp bytes per parameter, the checkpointed layer
    inputs, one layer's re-run forward, 1 GiB of overhead); nvidia-smi also shows the CUDA context (1,573 MiB on an
    A100, the same file), the caching allocator's cached blocks and NCCL's buffers. So it must read below every
    reading, and not far below: the model is 81-88% of all 17 readings (before these rows were added too: nothing
    was tuned to them). Dropping the ZeRO-1 sharding or the fp32 gradient buffer moves rows out of the band."""
    got = _model_gib(row)
    assert 0.8 * row.gib <= got <= row.gib


# the OOMs: the 184B row at micro-batch 2 is predicted over 80 GiB; the other two are not
_OOM_MISSES = {
    "h12288-L100-a64-dp16-tp4-pp6-mb1": "predicted 75.7 GiB of 80; the same layout at micro-batch 2 (81.3) is "
                                        "predicted out of memory. With the 14-23% nvidia-smi reads above the model "
                                        "on the measured rows (context, cached blocks, NCCL) it would be 86-93",
    "h14336-L82-a128-dp8-tp4-pp12-mb2": "predicted 59.0 GiB; the 176B shape's same layout read 59-60 GiB, and 82 "
                                        "layers instead of 70 add 1/6 to stage 0's states and checkpoints (~69 GiB "
                                        "as read by nvidia-smi): the out-of-memory is not explained by anything "
                                        "the chronicles record (a peak beyond the snapshot, e.g. at the optimizer "
                                        "step, would be)",
}


@pytest.mark.parametrize("row", [pytest.param(r, id=_id(r), marks=[pytest.mark.xfail(strict=True, reason=why)
                                                                   for k, why in _OOM_MISSES.items() if k == _id(r)])
                                 for r in OOM])
def test_out_of_memory_rows_do_not_fit(row):
    assert _model_gib(row) * GIB > A100.usable_memory_bytes


def test_tp8_against_tp4_as_measured():
    """The fixed overheads cancel in a difference: at BLOOM's shape (64 heads, micro-batch 2) tp 4 x pp 12 read 59 GiB
    and tp 8 x pp 12 read 40 GiB (per GPU: half the weights, gradients and fp32 gradient buffer, a quarter of the
    ZeRO-1 shards per parameter more): 19 GiB apart."""
    rows = {(r.tp, r.pp): r for r in MEASURED if (r.hidden, r.layers, r.heads, r.micro_batch) == (14336, 70, 64, 2)}
    four, eight = rows[(4, 12)], rows[(8, 12)]
    assert _model_gib(four) - _model_gib(eight) == pytest.approx(four.gib - eight.gib, rel=0.1)


BENCH = {r.layout.tp: r for r in REPORTED_RUNS if "BigScience benchmark" in r.name}


@pytest.mark.xfail(strict=True, reason="BigScience measured tp 8 x pp 12 at 0.84x the TFLOP/s of tp 4 x pp 12 "
                   "(128.92 and 153.68; 121.6 and 102.0 s per step: tp 8 costs 19.6 s; BLOOM's shape, 64 heads, "
                   "micro-batch 2, full recompute, the same 384 GPUs); the planner predicts 0.96x (156.1 and 163.2: "
                   "100.5 and 96.1 s, tp 8 costing 4.4 s). Not the pipeline sends: DeepSpeed's engine at BigScience's "
                   "time (microsoft/DeepSpeed deepspeed/runtime/pipe/engine.py at 97f8a9e, 2022-02-10) sets "
                   "is_pipe_partitioned = is_grad_partitioned = is_model_parallel, so each tp rank sends b s h / tp "
                   "(the planner's charge) and the receiver all-gathers it over tp (PartitionedTensor.full(): 0.18 s per "
                   "step at tp 8, 0.08 at tp 4, over NVLink); the pipe_partitioned option came in 2023 (c2074b3). What the miss follows is the "
                   "micro-batch count: tp 8 at micro-batch 2 runs m = 256 micro-batches per pipeline (tp 4: 128); at "
                   "equal m the planner's tp 8 / tp 4 ratio is right (test_tp8_against_tp4_at_equal_micro_batch_count) "
                   "and at m = 256 tp 4 misses too (test_tp4_micro_batch_1_against_2). Not modelled: what costs a "
                   "pipeline of small micro-batches on this stack (its runs set CUDA_LAUNCH_BLOCKING=1, "
                   "tr11-176B-ml.slurm, but the chronicles measured that at ~0-6%)")
def test_planner_tp8_to_tp4_ratio_within_10_percent_of_measured():
    ratio = BENCH[8].predict()[0] / BENCH[4].predict()[0]
    assert ratio == pytest.approx(BENCH[8].published / BENCH[4].published, rel=0.1)


def _ratio(pair) -> tuple[float, float]:
    a, b = pair
    return a.predict()[0] / b.predict()[0], a.published / b.published


def test_tp8_against_tp4_at_equal_micro_batch_count():
    """Same day, same 178B shape (13312 x 82, 64 heads): tp 8 x pp 12 at micro-batch 4 ran 0.934x the TFLOP/s of
    tp 4 x pp 12 at micro-batch 2 (141.76 and 151.71; ``calc.plan_runs.BIGSCIENCE_PAIRS``). Both run m = 128
    micro-batches per pipeline with the same tokens x h / tp per GPU each, so what differs is what tp 8 itself costs
    (narrower matmuls, all-reduces over 8, replicated norms and dropouts, a smaller bubble): the planner's ratio,
    0.916, is within 4% of it (2%). Nothing was fitted to these rows. The rows resolve tp 8's total cost, not its parts:
    a planner charging tp 8 neither its all-reduces nor its narrower matmuls (0.985) or twice its all-reduces (0.885)
    misses; dropping only one of the two (0.951, 0.945) stays inside."""
    predicted, measured = _ratio(BIGSCIENCE_PAIRS["equal m"])
    assert predicted == pytest.approx(measured, rel=0.04)


@pytest.mark.xfail(strict=True, reason="BigScience measured tp 4 x pp 12 at micro-batch 1 at 0.70x the TFLOP/s of "
                   "micro-batch 2 (109.57 and 156.92, 148.2 and 103.5 s per step; 13824 x 78, 64 heads, 2022-02-26); "
                   "the planner predicts 1.04x (a smaller bubble, the same matmul rate). Micro-batch 1 at tp 4 runs "
                   "m = 256 micro-batches per pipeline with the per-GPU work of tp 8 at micro-batch 2, the layout "
                   "test_planner_tp8_to_tp4_ratio_within_10_percent_of_measured misses: the same unmodelled cost")
def test_tp4_micro_batch_1_against_2():
    predicted, measured = _ratio(BIGSCIENCE_PAIRS["m 256 at tp 4"])
    assert predicted == pytest.approx(measured, rel=0.1)


BLOOM = next(r for r in REPORTED_RUNS if r.name == "BLOOM-176B")


def test_bloom_stack_runs_only_with_its_fused_softmax():
    """Megatron-DeepSpeed exits under --abort-on-unmet-fused-kernel-constraints (BLOOM's tr11-176B-ml.slurm) unless
    heads / tp x micro-batch is a multiple of 4 and 16 < sequence <= 2048 (bigscience-workshop/Megatron-DeepSpeed
    megatron/initialize.py). BigScience's chronicles: "the constraint is (HEADS/TP)*MBS % 4 = 0"; "NHEADS=108 breaks
    constraints for invoking optimized fused softmax kernel". BLOOM's 112 heads give 14 per GPU at tp 8: micro-batch
    1 is refused, 2 runs; its published layout (28 x 2) and both benchmark layouts (64 heads, 16 and 32 x 2) run."""
    spec, job, stack = BLOOM.spec(), BLOOM.job(), STACK
    assert softmax_problem(spec, job, Layout(tp=8, pp=12, dp=4, micro_batch=1), stack)
    assert softmax_problem(spec, job, Layout(tp=8, pp=12, dp=4, micro_batch=2), stack) is None
    assert softmax_problem(spec, job, BLOOM.layout, stack) is None
    assert all(softmax_problem(r.spec(), r.job(), r.layout, stack) is None for r in BENCH.values())
    assert softmax_problem(spec, plan.Job(4096, 4096 * 2048), BLOOM.layout, stack)  # longer than the kernel's 2048
    assert softmax_problem(spec, job, Layout(tp=8, pp=12, dp=4, micro_batch=1), None) is None  # other stacks fall back
    with pytest.raises(ValueError, match="fused softmax"):
        search(spec, BLOOM.cluster(), job, pins={"tp": 8, "micro_batch": 1}, stack=stack)
    with pytest.raises(ValueError, match="17-2,048 tokens"):  # every layout refused: the message names the length
        search(spec, BLOOM.cluster(), plan.Job(4096, 4096 * 1024), stack=stack)


def test_bloom_had_to_recompute():
    """Within what BLOOM's stack could run, no layout without activation recompute fits an A100 80GB (tp 8 at
    micro-batch 2 needs ~124 GB; micro-batch 1 is refused above): as BigScience did, every layout recomputes."""
    with pytest.raises(ValueError, match="no layout fits"):
        search(BLOOM.spec(), BLOOM.cluster(), BLOOM.job(), pins={"recompute": "none"}, stack=STACK)
