"""One training-memory breakdown: ``calc.memory.training_memory`` against llm-analysis, in the same process.

    python bench/bench_training_breakdown.py

llm-analysis (cli99/llm-analysis 0.2.2, PyPI ``llm-analysis``) pins transformers < 5 and an old
huggingface-hub, so it lives in its own virtual environment, not committed (the system packages stay
visible to it, so ``calc`` imports there too):

    python -m venv --system-site-packages bench/.venv-llm-analysis
    bench/.venv-llm-analysis/bin/pip install llm-analysis==0.2.2

This script re-runs itself with that environment's Python when llm-analysis is not importable here.
llm-analysis gives its memory breakdown through ``LLMAnalysis.training()`` (weights, gradients, optimizer
states, activations per GPU; it also works out FLOPs and a latency estimate, all closed-form per layer);
that call is what is timed against ours, for the same model, sequence, micro-batch and ZeRO stage.
Rounds interleave the two, medians are printed with the ratio. Target (issue 18): ours >= 10x faster.
Ours memoizes what depends on the model only (``_shard``, the activation coefficients, the config's dropout), as
every solver step and page rerun asks for the same model again; the first call of a model, with those caches
cleared, is printed too.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / "bench" / ".venv-llm-analysis" / "bin" / "python"
sys.path.insert(0, str(ROOT))

try:
    import llm_analysis  # noqa: F401
except ImportError:
    if VENV_PY.exists() and not os.environ.get("BENCH_IN_VENV"):
        os.environ["BENCH_IN_VENV"] = "1"  # once: the venv's Python does not come back here
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])  # noqa: S606 (our own venv's interpreter, same script)
    sys.exit("llm-analysis is not installed: see this script's docstring for the two commands")

from llm_analysis.analysis import ActivationRecomputation, DSZeRO, LLMAnalysis  # noqa: E402
from llm_analysis.config import (  # noqa: E402
    ParallelismConfig,
    get_dtype_config_by_name,
    get_gpu_config_by_name,
    get_model_config_by_name,
)

from calc import activations, memory  # noqa: E402
from calc.memory import TrainingSetup, training_memory  # noqa: E402
from calc.presets import get_preset  # noqa: E402

#: (our preset, llm-analysis model config): the same architecture on both sides.
CASES = (("Llama-2-7B", "NousResearch_Llama-2-7b-hf"), ("Llama-2-70B", "upstage_Llama-2-70b-instruct-v2"))
SEQ, MICRO_BATCH, DP = 4096, 1, 64


def main() -> int:
    logging.disable(logging.WARNING)  # llm-analysis logs its summary at INFO on every call
    rounds, inner = 15, 20
    print(f"seq {SEQ}, micro-batch {MICRO_BATCH}, ZeRO-3 over dp {DP}, bf16 with fp32 master weights, AdamW, full recompute; "
          f"medians of {rounds} interleaved rounds x {inner} calls")
    print(f"{'model':12s} {'ours':>10s} {'llm-analysis':>13s} {'ratio':>7s}")
    for preset, theirs_name in CASES:
        spec = get_preset(preset)
        setup = TrainingSetup(seq_len=SEQ, micro_batch=MICRO_BATCH, zero_stage=3, dp=DP, recompute="full")
        la = LLMAnalysis(get_model_config_by_name(theirs_name), get_gpu_config_by_name("a100-sxm-80gb"),
                         get_dtype_config_by_name("w16a16e16"), ParallelismConfig(dp_size=DP),
                         flops_efficiency=0.5, hbm_memory_efficiency=0.9)

        def ours(spec=spec, setup=setup):
            return training_memory(spec, setup)

        def ours_cold(spec=spec, setup=setup):  # as the first breakdown of a model: nothing memoized yet
            memory._shard.cache_clear()
            memory._activation_coefficients.cache_clear()
            activations._config_dropout.cache_clear()
            return training_memory(spec, setup)

        def theirs(la=la):
            return la.training(batch_size_per_gpu=MICRO_BATCH, seq_len=SEQ, gradient_accumulation_steps=1,
                               ds_zero=DSZeRO.STAGE_3, activation_recomputation=ActivationRecomputation.FULL,
                               flash_attn=True, mlp_gated_linear_units=True)

        times = {"ours": [], "cold": [], "theirs": []}
        ours(), theirs()
        for _ in range(rounds):
            for name, fn in (("ours", ours), ("cold", ours_cold), ("theirs", theirs)):
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                times[name].append((time.perf_counter() - t0) / inner)
        a, c, b = (statistics.median(times[k]) for k in ("ours", "cold", "theirs"))
        print(f"{preset:12s} {a * 1e3:7.3f} ms {b * 1e3:10.3f} ms {b / a:6.1f}x   first call of a model: "
              f"{c * 1e3:.3f} ms = {b / c:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
