"""The cluster planner (calc/plan.py) against published training runs.

The matmul-efficiency curve (E_MAX, X_HALF) is fitted on Narayanan et al. 2021 Table 1's six largest rows
and nothing else; ``test_efficiency_is_the_fit_on_megatron_table1`` refits it. Every other row is held out:
Table 1's four smaller rows (1.7B-18.4B, tp 1-8: the memory-bound term carries their shape), Korthikanti et al. 2022, BLOOM-176B, OPT-175B, the Llama 3 paper (Dubey et al. 2024, Table 4), torchtitan's
Llama 3 8B/70B, MPT-7B. The runs and their sources are data in calc/plan_runs.py (the Cluster planner page shows
the same table). A miss is a strict xfail with its reason, so it is reported, and fails the day it starts to pass.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest

import calc.plan as plan
from calc.gpus import get_gpu
from calc.models import ModelSpec, param_counts
from calc.plan import Cluster, Job, Layout, plan_layout, search, step_time
from calc.plan_runs import REPORTED_RUNS, gpt_config
from calc.presets import get_preset
from tests.conftest import ROOT

A100 = get_gpu("A100 SXM 80GB")
H100 = get_gpu("H100 SXM")


def gpt(hidden: int, heads: int, layers: int) -> ModelSpec:
    return ModelSpec.from_hf_config(gpt_config(hidden, heads, layers), name=f"GPT h={hidden}")


FIT = [r for r in REPORTED_RUNS if r.role == "fit"]
HELD_OUT = [r for r in REPORTED_RUNS if r.role != "fit"]


def _table1_error(e_max: float, x_half: float) -> float:
    total = 0.0
    for r in FIT:
        got = step_time(r.spec(), r.cluster(), r.job(), r.layout, stack=plan.STACKS[r.stack], e_max=e_max,
                        x_half=x_half).hardware_tflops_per_gpu
        total += math.log(got / r.published) ** 2
    return total


def test_efficiency_is_the_fit_on_megatron_table1():
    """The constants are the least-squares fit on Narayanan Table 1's six largest rows (grid 0.01 x 0.05): no
    neighbour fits better. Nothing else was fitted."""
    assert len(FIT) == 6 and all("Narayanan" in r.source and r.stack == "megatron-2021" for r in FIT)
    best = _table1_error(plan.E_MAX, plan.X_HALF)
    for de, dx in ((0.01, 0), (-0.01, 0), (0, 0.05), (0, -0.05), (0.01, 0.05), (-0.01, -0.05)):
        assert best <= _table1_error(plan.E_MAX + de, plan.X_HALF + dx) + 1e-12
    assert math.sqrt(best / len(FIT)) < 0.03  # the fitted rows themselves within 3% rms


_MISSES = {"seq 131,072": "at 131k tokens the prediction is 448 TFLOP/s, +18% over Llama 3's 380 (the 8k rows +4% and "
                          "+6%), with the attention executed causally by FlashAttention-2 at its measured H100 rate "
                          "(STACKS['llama3-2024'], calc.plan_attention: 328 TFLOP/s forward + backward at 16k, flat "
                          "beyond; 57% of the model FLOPs here) and counted full, as the paper's MFU (PaLM's 6N + 12LHQT, "
                          "test_llama3_rows_count_model_flops_as_palm_appendix_b) and Meta's torchtitan count it. The "
                          "paper names no kernel: within 15% needs the attention 5% below FlashAttention-2's measured "
                          "rate (312), the 8k rows' +5% about 20% below (265); cuDNN's rates (FlashAttention-3 paper) "
                          "give +42% (+1% counted causally); counted causally the row reads 320 (-16%). Not the document mask (sec. 3.2): a "
                          "token attends at most its causal prefix, so every micro-batch and CP rank executes at most "
                          "the causal 131k the planner times; Meta's trace of a 405B 128K job (Wang et al., 'WLB-LLM', "
                          "OSDI '25, sec. 1 and 3.1: tp 8, cp 16, pp 16, dp 4 on 8K GPUs, which the planner also puts "
                          "at 448 per GPU) finds the slowest GPU's computation 1.44x the others', a spread below that "
                          "bound. Not the CP all-gather (exposed, 2.4% of the step). Recompute is not stated at 131k "
                          "(none at 8K, sec. 3.3.2; each cp rank holds the 8K stage's 8,192 tokens): Megatron's "
                          "selective recompute would read 386 (+1.5%). Not the NVLink datasheet: at NCCL's measured "
                          "H100 busbw (370 GB/s, calc.plan.MEASURED_INTRA) the row reads +17% (+18.5% with Table 1 "
                          "refitted to it)",
           "64 heads, tp 8": "BigScience's benchmark of BLOOM's shape at tp 8 x pp 12 (128.92 TFLOP/s) is predicted 21% "
                             "high, where tp 4 x pp 12 of the same table is +6%: the planner charges tp 8 4.4 s more "
                             "per step than tp 4 and the measurement 19.6 s (tests/test_plan_bloom.py). Not the links: "
                             "the network is BigScience's measured busbw (calc.plan_runs._BLOOM_LINKS), and NCCL's "
                             "measured A100 NVLink busbw (235 GB/s of 300, calc.plan.MEASURED_INTRA) gives +19.0% (+21.3% "
                             "with Table 1 refitted to it); matching it would take ~75 GB/s, which puts tp 4 and BLOOM "
                             "itself at -2.5%. Not the pipeline sends either (DeepSpeed partitioned them over tp); the "
                             "miss follows the micro-batch count, m = 256 here against 128 at tp 4: at equal m the "
                             "planner's tp 8 / tp 4 ratio is within 2% (tests/test_plan_bloom.py)"}


@pytest.mark.parametrize("run", [pytest.param(r, id=r.name, marks=[pytest.mark.xfail(strict=True, reason=why)
                                                                   for k, why in _MISSES.items() if k in r.name])
                                 for r in HELD_OUT])
def test_held_out_published_runs_within_15_percent(run):
    """Narayanan 2021 Table 1's four smaller rows (not in the fit; +31% and +17% for 1.7B and 3.6B before the
    memory-bound term), Korthikanti 2022 (530B, selective and full recompute), BLOOM-176B, OPT-175B, torchtitan,
    Llama 3 Table 4 (calc/plan_runs.py)."""
    value, _ = run.predict()
    assert value == pytest.approx(run.published, rel=0.15)


def test_korthikanti_cluster_best_layout_not_25_percent_faster():
    """The search on the same cluster and batch must not promise > 1.25x the published 54.2% MFU."""
    best = search(gpt(20480, 128, 105), Cluster(A100, 2240), Job(2048, 2240 * 2048), top=1)[0]
    assert best.mfu <= 1.25 * 0.542


# Dubey et al. 2024 ("The Llama 3 Herd of Models"), Table 4: Llama 3 405B on H100s, tp 8, pp 16, 16M tokens
# per batch: (GPUs, cp, dp, sequence, TFLOP/s per GPU (model FLOPs, "BF16 MFU" 43/41/38%)).
LLAMA3_TABLE4 = [(8192, 1, 64, 8192, 430), (16384, 1, 128, 8192, 400), (16384, 16, 8, 131072, 380)]


# 131k: the best layout is cp 32 x ZeRO-3 (pp 1); 1.32x before ZeRO-3's parameter all-gathers had to hide behind
# one pass each, unit by unit (calc.plan._zero3_exposed_s), about 1.25x since: the tightest of these bounds.
@pytest.mark.parametrize("gpus, cp, dp, seq, published", LLAMA3_TABLE4)
def test_llama3_cluster_best_layout_not_25_percent_faster(gpus, cp, dp, seq, published):
    best = search(get_preset("Llama-3.1-405B"), Cluster(H100, gpus), Job(seq, 2048 * 8192), top=1,
                  stack=plan.STACKS["llama3-2024"])[0]
    assert best.model_tflops_per_gpu <= 1.25 * published


@pytest.mark.parametrize("run", [r for r in REPORTED_RUNS if r.name.startswith("Llama 3 405B")], ids=lambda r: r.name)
def test_llama3_rows_count_model_flops_as_palm_appendix_b(run):
    """Llama 3's TFLOP/s are its MFU's: 'BF16 Model FLOPs Utilization (MFU; Chowdhery et al. (2023))' (Dubey et al.
    2024 sec. 3.3.2, 'GPU utilization'; 380 / 989 = 38%). PaLM's Appendix B counts 6N + 12LHQT FLOPs per token
    (N parameters, L layers, H heads, Q head size, T the sequence: every query against all T keys, whatever the
    mask). The rows' FLOPs per token, in the convention they are compared in, are that count within 1% (at 131k the
    attention term is 57% of it; counted causally it would be 29% less). N: meta-llama/Llama-3.1-405B's 405,853,388,800
    parameters (its Hugging Face checkpoint; with or without the 2.1B embedding, 0.5%); L, H, Q: Dubey et al. Table 3 (126 layers,
    128 heads, model dimension 16,384)."""
    n, L, H, Q, T = 405_853_388_800, 126, 128, 16384 // 128, run.seq_len
    _, p = run.predict()
    counted = p.model_flops / p.tokens_per_step * run.convention_factor()
    assert counted == pytest.approx(6 * n + 12 * L * H * Q * T, rel=0.01)


# BLOOM-176B (BigScience, "BLOOM: A 176B-Parameter Open-Access Multilingual Language Model", 2022, sec. 3.4;
# the BigScience 176B model page): 384 A100 80GB, one replica on 48 GPUs (tp 4 x pp 12, so dp 8), global batch
# 2048 x 2048 tokens, micro-batch 2, full activation checkpointing, ZeRO-1, nodes joined by 4 x 100 Gb/s
# Omni-Path (6.25 GB/s per GPU, 5.07 as BigScience measured it: calc.plan_runs._BLOOM_LINKS); "about 150 TFLOPs" per GPU as Megatron-DeepSpeed counts them (x 4/3 with
# checkpointing: hardware FLOPs). 70 layers on 12 stages: uneven stages. Held out.
BLOOM = next(r for r in REPORTED_RUNS if r.name == "BLOOM-176B")


# Within BLOOM's stack the best is tp 4 x pp 12 x dp 8 with full recompute at ~125 model TFLOP/s, 1.11x BLOOM's 112.5.
# The faster tp 8 x pp 12, micro-batch 1, without recompute (156, 1.39x; 75 GB) is a layout BLOOM's software refused:
# 112 heads / 8 x 1 = 14 attention batches per GPU, not a multiple of 4, and tr11-176B-ml.slurm passes
# --abort-on-unmet-fused-kernel-constraints (calc.plan.softmax_problem); at micro-batch 2 it needs ~124 GB. The planner
# still rates tp 8 too high on this shape (tests/test_plan_bloom.py: BigScience measured 0.84x tp 4, predicted 0.95x).
def test_bloom_cluster_best_layout_not_25_percent_faster():
    best = search(BLOOM.spec(), BLOOM.cluster(), BLOOM.job(), top=1,
                  stack=plan.STACKS["megatron-deepspeed-2022"])[0]
    assert best.model_tflops_per_gpu <= 1.25 * 150 * 3 / 4


# OPT-175B (Zhang et al. 2022 sec. 2.4, metaseq's chronicles; calc/plan_runs.py): 992 A100 80GB, tp 8, FSDP,
# "up to 147 TFLOP/s per GPU" counting the recomputed forward (x 3/4: model FLOP/s). Held out.
OPT = next(r for r in REPORTED_RUNS if r.name == "OPT-175B")


# The best within metaseq's stack is tp 4 x ZeRO-3 over 248 ranks, ~1.25x (1.34x while ZeRO-3's all-gathers were
# hidden behind a whole micro-batch at once; now the forward's behind the forward, the backward's plus the
# reduce-scatter behind the backward, the first unit's exposed: calc.plan._zero3_exposed_s).
def test_opt_cluster_best_layout_not_25_percent_faster():
    best = search(OPT.spec(), OPT.cluster(), OPT.job(), top=1, stack=plan.STACKS["metaseq-2021"])[0]
    assert best.model_tflops_per_gpu <= 1.25 * 147 * 3 / 4


# torchtitan docs/performance.md (calc/plan_runs.py): Llama 3 8B and 70B with FSDP2 on 64 A100 80GB, 2,973 and 331
# tokens/s per GPU; benchmarks/llama3_h100_202412_torchtitan.md: Llama 3.1 8B, FSDP + torch.compile on 8 and 128
# 500 W H100s, 6,667 and 6,514. Held out; the search may use all of torchtitan's knobs (FSDP2, TP, PP, CP).
# Best layouts just past 1.25x since the attention is timed as FlashAttention-2 runs it with a causal mask (the causal
# half of the score products at its measured A100 rate, calc.plan_attention) instead of the full s x s at the GEMM curve.
# Llama 3 8B's best (ZeRO-2, no recompute) is back to 1.24x with FSDP2's fp32 gradient reduce-scatters
# (STACKS["torchtitan-2024"].reduce_bytes; 1.254x with 16-bit ones).
_BOUND_MISSES: dict[str, str] = {}


def _bound(runs):
    return [pytest.param(r, id=r.name, marks=[pytest.mark.xfail(strict=True, reason=_BOUND_MISSES[r.name])]
                         if r.name in _BOUND_MISSES else []) for r in runs]


@pytest.mark.parametrize("run", _bound(r for r in REPORTED_RUNS if "torchtitan" in r.name))
def test_torchtitan_cluster_best_layout_not_25_percent_faster(run):
    best = search(run.spec(), run.cluster(), run.job(), top=1, stack=plan.STACKS[run.stack])[0]
    assert best.tokens_per_s / run.gpus <= 1.25 * run.published


# MosaicML's own MPT throughput table (llm-foundry benchmarking README; calc/plan_runs.py): MPT-7B with FSDP on 128 A100
# 40GB with activation checkpointing, 8 A100 80GB and 8 / 512 H100 without; MPT-70B on 64 and 128 A100 40GB (on 64,
# 2 sequences per GPU: the ZeRO-3 all-gathers outlast each pass, 276 tokens/s per GPU against 376 on 128; predicted
# 265 and 373, where hiding them behind a whole micro-batch at once gave 386 for both). The best layout within Composer's
# stack (FSDP, no tp / pp) on the same cluster and batch must not beat the measured throughput by more than 25%. MPT-7B
# on 128 A100 40GB: 1.18x (ZeRO-2, micro-batch 2, no recompute) since the attention runs at the Triton kernel's measured
# rate (STACKS["composer-fsdp-2023"].attention; 1.26x at FlashAttention-2's).
@pytest.mark.parametrize("run", _bound(r for r in REPORTED_RUNS if "llm-foundry" in r.name))
def test_llm_foundry_cluster_best_layout_not_25_percent_faster(run):
    best = search(run.spec(), run.cluster(), run.job(), top=1, stack=plan.STACKS[run.stack])[0]
    assert best.tokens_per_s / run.gpus <= 1.25 * run.published


# MPT-7B (MosaicML, "Introducing MPT-7B", 2023): 1T tokens on 440 A100-40GB in 9.5 days (wall clock, with
# restarts), FSDP (ZeRO-3), sequence 2048, global batch 1760: 2,769 tokens/s per GPU. The micro-batch is not
# stated, so only the planner's bound is checked.
@pytest.mark.xfail(strict=True, reason="the planner's best (ZeRO-3, micro-batch 4, no recompute) is ~4,280 tokens/s "
                   "per GPU, 1.55x the published wall-clock rate, which includes restarts and evaluation: MosaicML's "
                   "own measured MPT-7B throughput on A100 40GB with FSDP and checkpointing is 3,623 (llm-foundry "
                   "benchmarks, 128 GPUs; predicted 3,309, -9%; best 1.18x) and 4,641 on A100 80GB without (-4%), so "
                   "the 2,769 of the 9.5 days is 0.76x of what the same hardware measured")
def test_mpt_7b_cluster_best_layout_not_25_percent_faster():
    mpt = ModelSpec.from_hf_config({"model_type": "mpt", "d_model": 4096, "n_layers": 32, "n_heads": 32,
                                    "vocab_size": 50432, "max_seq_len": 2048, "expansion_ratio": 4}, name="MPT-7B")
    published = 1e12 / (440 * 9.5 * 86400)
    best = search(mpt, Cluster(get_gpu("A100 SXM 40GB"), 440), Job(2048, 1760 * 2048), top=1,
                  stack=plan.STACKS["composer-fsdp-2023"])[0]
    assert best.tokens_per_s / 440 <= 1.25 * published


# MosaicML's MPT-7B rows at 1k-64k tokens on 8 GPUs, activation checkpointing on (llm-foundry
# scripts/train/benchmarking/README.md at commit b2a43a1, October 2023: the sweep of the 8-GPU rows in calc/plan_runs.py,
# attn_impl triton, FSDP FULL_SHARD): (sequence, micro-batch, gradient accumulation, tokens/s per GPU). Not in
# REPORTED_RUNS: a held-out check of the attention term, which grows from 4% of the forward FLOPs at 1k to 72% at 64k.
MPT7B_SEQ_SWEEP = {
    "A100 SXM 80GB": [(1024, 64, 2, 4357), (4096, 16, 2, 3684), (8192, 8, 2, 3206), (16384, 4, 2, 2453),
                      (32768, 2, 2, 1672), (65536, 1, 2, 1013)],
    "H100 SXM": [(1024, 64, 2, 10203), (4096, 16, 2, 8611), (8192, 8, 2, 6935), (32768, 2, 2, 3318),
                 (65536, 1, 2, 1956)],
}


def _mpt_sweep_errors(gpu: str, kernel: str) -> list[float]:
    stack = replace(plan.STACKS["composer-fsdp-2023"], attention=kernel)
    errors = []
    for seq, micro, accum, published in MPT7B_SEQ_SWEEP[gpu]:
        spec = ModelSpec.from_hf_config({"model_type": "mpt", "d_model": 4096, "n_layers": 32, "n_heads": 32,
                                         "vocab_size": 50432, "max_seq_len": seq, "expansion_ratio": 4}, name="MPT-7B")
        p = plan.step_time(spec, Cluster(get_gpu(gpu), 8), Job(seq, 8 * micro * accum * seq),
                           Layout(dp=8, micro_batch=micro, recompute="full", zero=3), stack=stack)
        errors.append(p.tokens_per_s / 8 / published - 1)
    return errors


@pytest.mark.parametrize("gpu", list(MPT7B_SEQ_SWEEP))
def test_mpt_7b_sequence_sweep_follows_the_stacks_attention_kernel(gpu):
    """A kernel timed at the wrong rate shows as an error that climbs with the sequence. With the stack's kernel (the
    Triton kernel, calc.plan_attention) the rows stay within 25% and within a 20-point band: A100 -20% to -16% (its
    measured rates), H100 -22% to -7% (FlashAttention-1's rates standing in; the tilt says the Triton kernel is faster
    than that on H100 at long sequences). At FlashAttention-2's rates they climb from -15% to +48% (A100) and from -2% to
    +55% (H100). The shared offset of these checkpointed rows (the A100 2k row without checkpointing is -4%) is not the
    attention's: at 1k, where the attention is 4% of the work, it is there with either kernel."""
    kernel = plan.STACKS["composer-fsdp-2023"].attention
    errors = _mpt_sweep_errors(gpu, kernel)
    assert all(abs(e) < 0.25 for e in errors), errors
    assert max(errors) - min(errors) < 0.20, errors
    fa2 = _mpt_sweep_errors(gpu, "fa2")
    assert max(fa2) - min(fa2) > 0.40, fa2


def test_stack_restricts_the_search_and_its_memory():
    """A stack keeps the search to the knobs its software had; without sequence parallelism and FlashAttention
    the same layout needs more activation memory (Korthikanti et al. 2022 Table 2: sbh(10 + 24/t + 5as/(ht)) per
    layer against sbh(34/t) with both)."""
    stack = plan.STACKS["metaseq-2021"]
    plans = search(OPT.spec(), OPT.cluster(), OPT.job(), top=20, stack=stack)
    assert all(p.layout.pp == 1 and p.layout.cp == 1 and p.layout.recompute != "selective" for p in plans)
    lay = Layout(tp=8, dp=124, micro_batch=1, recompute="none", zero=3)
    old, new = plan.layout_memory(OPT.spec(), OPT.job(), lay, stack), plan.layout_memory(OPT.spec(), OPT.job(), lay)
    s, b, h, a, t, L = 2048, 1, 12288, 96, 8, 96
    korthikanti = s * b * h * L * ((10 + 24 / t + 5 * a * s / (h * t)) - 34 / t)  # no SP/FA minus SP + FA
    assert old - new == pytest.approx(korthikanti, rel=0.15)


def test_breakdown_parts_move_the_right_way():
    """Interleaving shrinks the bubble by v; full recompute adds the forward (HFU > MFU)."""
    m, c, j = gpt(12288, 96, 96), Cluster(A100, 512), Job(2048, 512 * 2048)
    one = step_time(m, c, j, Layout(tp=8, pp=8, dp=8, recompute="full"))
    two = step_time(m, c, j, Layout(tp=8, pp=8, dp=8, vpp=2, recompute="full"))
    assert two.breakdown["bubble"] < one.breakdown["bubble"] * 0.6
    assert one.hfu == pytest.approx(one.mfu * 4 / 3, rel=0.05)  # full recompute: 4 passes for 3


def test_bad_layouts_name_the_knob():
    m, c, j = get_preset("Meta-Llama-3-8B"), Cluster(H100, 64), Job(4096, 4096 * 512)
    with pytest.raises(ValueError, match="tp=3"):
        plan_layout(m, c, j, Layout(tp=3, dp=64))
    with pytest.raises(ValueError, match="must equal the 64 GPUs"):
        plan_layout(m, c, j, Layout(tp=8, dp=4))
    with pytest.raises(ValueError, match="ep="):
        plan_layout(m, c, j, Layout(tp=8, dp=8, ep=2))
    with pytest.raises(ValueError, match="matmul_ceiling"):
        plan_layout(m, replace(c, matmul_ceiling=1.5), j, Layout(tp=8, dp=8))


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "calc", "plan", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_offers_every_stack():
    """``--stack`` lists calc.plan.STACKS without importing it (the parser is built at every CLI start): a stack
    added to the planner and not to the CLI fails here; the newest one also runs."""
    import argparse

    from calc.cli import plan as plan_cli

    parser = argparse.ArgumentParser()
    plan_cli.add_parser(parser.add_subparsers())
    action = next(a for a in parser._subparsers._group_actions[0].choices["plan"]._actions if a.dest == "stack")
    assert set(action.choices) == {"any", *plan.STACKS}
    out = _cli("--model", "Llama-3.1-8B", "--gpu", "H100 SXM", "--gpus", "8", "--seq", "8192",
               "--global-batch-tokens", str(64 * 8192), "--stack", "llama3-2024", "--top", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["layouts"][0]["pp"] >= 1


def test_cli_json_sorted_and_pinned_gives_one():
    base = ["--model", "Meta-Llama-3-8B", "--gpu", "H100 SXM", "--gpus", "64", "--seq", "8192",
            "--global-batch-tokens", "4M", "--tokens", "1T", "--json"]
    out = _cli(*base, "--top", "4")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["layouts"]
    assert len(rows) == 4 and [r["step_s"] for r in rows] == sorted(r["step_s"] for r in rows)
    assert all(r["tp"] * r["pp"] * r["dp"] * r["cp"] == 64 and r["memory_per_gpu_bytes"] > 0 for r in rows)
    out = _cli(*base, "--tp", "8", "--pp", "1", "--cp", "1", "--vpp", "1", "--ep", "1", "--micro-batch", "1",
               "--recompute", "selective", "--zero", "1")
    one = json.loads(out.stdout)["layouts"]
    assert len(one) == 1 and one[0]["tp"] == 8 and one[0]["dp"] == 8


def test_cli_pinned_published_layout_over_memory_shows_the_tests_number():
    """Llama 3 405B's 8,192-GPU layout, which calc.memory puts above 80 GB: the CLI, like the page, still gives the
    pinned layout's numbers (the TFLOP/s its test checks), with fits_memory false and a one-line warning."""
    run = next(r for r in REPORTED_RUNS if r.name.startswith("Llama 3") and r.gpus == 8192)
    expected, _ = run.predict()
    out = _cli("--model", "Llama-3.1-405B", "--gpu", "H100 SXM", "--gpus", "8192", "--seq", "8192",
               "--global-batch-tokens", str(2048 * 8192), "--tp", "8", "--pp", "16", "--cp", "1", "--vpp", "8",
               "--ep", "1", "--micro-batch", "1", "--recompute", "none", "--zero", "1", "--stack", "llama3-2024",
               "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["fits_memory"] is False and len(doc["layouts"]) == 1
    assert doc["layouts"][0]["model_tflops_per_gpu"] == pytest.approx(expected, rel=1e-9)
    assert doc["layouts"][0]["memory_per_gpu_bytes"] > H100.memory_bytes
    assert len(out.stderr.strip().splitlines()) == 1 and "warning" in out.stderr
    fits = json.loads(_cli("--model", "Meta-Llama-3-8B", "--gpus", "64", "--global-batch-tokens", "4M", "--top", "1",
                           "--json").stdout)
    assert fits["fits_memory"] is True


@pytest.mark.parametrize("argv, needle", [
    (["--tp", "3"], "tp=3"),
    (["--seq", "0"], "--seq"),
    (["--gpus", "1e30"], "--gpus"),
])
def test_cli_bad_input_one_line_exit_2(argv, needle):
    out = _cli("--model", "Meta-Llama-3-8B", "--gpus", "64", "--global-batch-tokens", "4M", *argv)
    assert out.returncode == 2 and needle in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_page_pinned_published_layout_shows_the_tests_number():
    """The Cluster planner page with Llama 3's 8,192-GPU layout and stack pinned shows the TFLOP/s the test computes."""
    from tests.apptest_helpers import open_page

    run = next(r for r in REPORTED_RUNS if r.name.startswith("Llama 3") and r.gpus == 8192)
    expected, _ = run.predict()
    query = {"model": "Llama-3.1-405B", "gpu": "H100 SXM", "plgpus": "8192", "plseq": "8192",
             "plgbt": repr(2048 * 8192 / 1e6), "pltok": "0.0", "pltp": "8", "plpp": "16", "plcp": "1", "plvpp": "8",
             "plmicro": "1", "plrc": "none", "plzero": "1", "plstack": "llama3-2024"}
    at = open_page("app_pages/planner.py", query, timeout_s=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.warning  # calc.memory puts this layout above 80 GB (activations of 16 micro-batches in flight)
    shown = at.dataframe[0].value
    assert len(shown) == 1 and shown["TFLOP/s/GPU"][0] == pytest.approx(expected, abs=0.06)
    runs = at.dataframe[1].value
    assert runs["predicted"][list(runs["run"]).index(run.name)] == pytest.approx(expected, abs=0.001)


def test_compute_page_takes_its_mfu_from_the_planner():
    """The Compute page's 'MFU from the cluster planner' toggle: its GPU-hours are the model FLOPs at the MFU of
    calc.plan.search's fastest layout for the same model, GPU, GPU count, sequence and batch (issue 15 item 3)."""
    from calc.compute import training_flops_6nd
    from tests.apptest_helpers import open_page

    spec = get_preset("Meta-Llama-3-8B")
    best = search(spec, Cluster(H100, 64), Job(8192, 512 * 8192), top=1)[0]
    at = open_page("app_pages/compute.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "cmfupl": "1", "cg": "64",
                                            "cs": "8192", "cplgbt": repr(512 * 8192 / 1e6), "cd": "1000.0",
                                            "cp": "2.0"}, timeout_s=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not [n for n in at.number_input if n.key == "cmfu"]  # no typed MFU while the planner supplies it
    active = float(param_counts(spec).active)
    hours = training_flops_6nd(active, 1000e9) / (H100.peak("bf16") * best.mfu) / 3600
    shown = next(m for m in at.metric if m.label == "GPU-hours").value
    assert float(shown.replace(",", "")) == pytest.approx(hours, rel=1e-3)
    assert any(f"{best.mfu:.1%}" in c.value and "Cluster planner" in c.value for c in at.caption)


def test_page_stack_restricts_the_ranked_layouts():
    """The page's 'Training stack' select (?plstack=) ranks only what that stack supported: Composer FSDP, tp = pp = 1."""
    from tests.apptest_helpers import open_page

    at = open_page("app_pages/planner.py", {"model": "Meta-Llama-3-8B", "gpu": "A100 SXM 80GB", "plgpus": "64",
                                            "plseq": "8192", "plgbt": repr(64 * 8192 / 1e6),
                                            "plstack": "composer-fsdp-2023", "pltop": "5"}, timeout_s=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = at.dataframe[0].value
    assert len(shown) == 5 and set(shown["tp"]) == {1} and set(shown["pp"]) == {1}
    assert set(shown["recompute"]) <= {"none", "full"}


def test_memory_bound_term_follows_the_stack():
    """The memory-bound term is sized from the model and the stack, not fitted (its check against publications is
    Table 1's four smaller rows above, held out of the fit): sequence parallelism splits the h-wide norm, residual
    and dropout bytes over tp (Korthikanti et al. 2022 sec. 4.2.2), FlashAttention keeps the s x s softmax on chip
    (Dao et al. 2022), and its share of a step falls as the model widens (bytes per token grow with h, FLOPs with
    h^2): Table 1's 1.7B spends a larger share on it than the 1T model."""
    rows = {r.name: r for r in REPORTED_RUNS if r.role != "held out"}
    small, large, mid = rows["GPT 1.7B (Megatron)"], rows["GPT 1008.0B (Megatron)"], rows["GPT 18.4B (Megatron)"]

    def share(r, stack):
        p = step_time(r.spec(), r.cluster(), r.job(), r.layout, stack=stack)
        return p.breakdown["memory_bound"] / p.step_s, p.breakdown["memory_bound"]

    old = plan.STACKS["megatron-2021"]
    assert share(small, old)[0] > 2 * share(large, old)[0] > 0
    no_sp = share(mid, old)[1]
    with_sp = share(mid, replace(old, sequence_parallel=True))[1]
    flash = share(mid, replace(old, sequence_parallel=True, flash_attention=True))[1]
    assert no_sp > with_sp > flash > 0
    nb = plan._model_numbers(mid.spec(), 2048)
    nb4k = plan._model_numbers(mid.spec(), 4096)
    _, core = plan.elementwise_bytes(mid.spec(), mid.layout, nb, old)
    _, core4k = plan.elementwise_bytes(mid.spec(), mid.layout, nb4k, old)
    assert core4k == pytest.approx(2 * core)  # s x s scores: per query token, linear in s
    assert plan.elementwise_bytes(mid.spec(), mid.layout, nb, replace(old, flash_attention=True))[1] == 0


def test_gradient_buffers_of_the_stacks():
    """Model states per GPU as the stacks' own documents give them, bytes per parameter with ZeRO-1 over d ranks:
    Megatron-LM with bf16 (docs/source/api-guide/dist_optimizer.md, 'bf16 params, fp32 grads': 6 + 12/d) and
    BLOOM's DeepSpeed BF16_Optimizer (bigscience train/tr11-176B-ml/README.md: an unsharded fp32 gradient buffer,
    '4 bytes * params of additional memory' beside the bf16 parameters and gradients: 8 + 12/d). ZeRO-3 shards
    gradients: no whole buffer."""
    from calc.memory import TrainingSetup, training_memory

    model, job, d = gpt(2048, 16, 4), Job(2048, 8 * 2048), 8
    params = param_counts(model).total

    def states(lay, stack):
        mem = training_memory(model, TrainingSetup(precision="bf16-mixed", zero_stage=lay.zero, dp=lay.dp,
                                                   flash_attention=stack is None or stack.flash_attention,
                                                   micro_batch=1, seq_len=2048))
        return (plan.layout_memory(model, job, lay, stack) - mem.activations - mem.overhead) / params

    lay = Layout(dp=d, zero=1)
    assert states(lay, None) == pytest.approx(6 + 12 / d, rel=1e-3)
    assert states(lay, plan.STACKS["megatron-deepspeed-2022"]) == pytest.approx(8 + 12 / d, rel=1e-3)
    assert states(Layout(dp=d, zero=3), None) == pytest.approx(16 / d, rel=1e-3)


@pytest.mark.parametrize("sequences, gpus", [(977, 64), (488, 64), (1000, 64), (12, 64), (3, 16)])
def test_batch_dp_note_names_the_cap_the_search_obeys(sequences, gpus):
    """calc.plan.batch_dp_note's cap is the largest dp among the layouts the search enumerates for that batch, and the
    count it suggests lets the search reach dp = gpus (held to calc.plan.candidate_layouts, not to the gcd it uses)."""
    spec = get_preset("Meta-Llama-3-8B")

    def dp_max(seqs):
        return max(lay.dp for lay in plan.candidate_layouts(spec, Cluster(H100, gpus), Job(4096, seqs * 4096)))

    note = plan.batch_dp_note(sequences, gpus, 4096)
    assert f"dp is at most {dp_max(sequences):,} on" in note
    suggested = int(note.split(". ")[1].split(" sequences")[0].replace(",", ""))
    lifted = dp_max(suggested)
    assert suggested >= sequences and lifted > dp_max(sequences) and note.endswith(f"dp up to {lifted:,}.")
    assert plan.batch_dp_note(suggested, gpus, 4096) is None


def test_planner_page_default_batch_lets_dp_span_the_cluster_and_an_awkward_one_is_explained():
    """The page's default batch (2^22 tokens: 1,024 sequences of 4,096) puts no cap on dp; 4.0 million tokens (977
    sequences, a prime) caps it at 1, and the page says so beside layouts that are all dp 1."""
    from tests.apptest_helpers import open_page

    at = open_page("app_pages/planner.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"}, timeout_s=120)
    assert not at.exception and not at.error and not at.info
    at = open_page("app_pages/planner.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "plgbt": "4.0"}, timeout_s=120)
    assert not at.exception and not at.error
    assert "977 sequences" in at.info[0].value
    assert set(at.dataframe[0].value["dp"]) == {1}


def test_compute_page_planner_mfu_explains_an_awkward_batch():
    """The Compute page's 'MFU from the cluster planner' with 4.0 million tokens of 4,096 (977 sequences) says dp is
    capped, as the planner page does; its default batch (2^22 tokens) does not need to."""
    from tests.apptest_helpers import open_page

    base = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "cmfupl": "1", "cg": "64", "cs": "4096"}
    at = open_page("app_pages/compute.py", {**base, "cplgbt": "4.0"}, timeout_s=120)
    assert not at.exception and not at.error
    assert any("977 sequences" in i.value for i in at.info)
    at = open_page("app_pages/compute.py", base, timeout_s=120)
    assert not at.exception and not at.error and not any("sequences" in i.value for i in at.info)
