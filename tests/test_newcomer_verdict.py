"""Item 4 of issue 17, the rest: a setup that does not fit lists what each lever gives, and the combination
that fits includes ZeRO over the data-parallel GPUs the user already has.

Llama-3-8B, micro-batch 4 x 4,096 tokens, no recompute, dp 8 on A100 40GB needs ~260 GB per GPU: no single
change fits, and the verdict offered only 'tp 2 x ZeRO-3 dp 3 (6 GPUs) with full recompute', not the eight
GPUs already there with ZeRO-3. Expected figures come from calc.memory.training_memory (checked against the
ZeRO paper, Korthikanti et al. and real torch allocations in test_memory*.py).
"""

from __future__ import annotations

from dataclasses import replace

from calc.gpus import get_gpu
from calc.memory import TrainingSetup, training_memory
from calc.presets import get_preset
from calc.solvers import RECOMPUTE_NAME
from calc.units import format_bytes
from tests.test_pages import run_page

QUERY = {"model": "Meta-Llama-3-8B", "gpu": "A100 SXM 40GB", "tm_rc": "none", "tm_mb": "4", "tm_dp": "8"}


def test_no_single_change_fits_each_lever_is_shown_with_its_number_and_zero_joins_the_combination():
    spec, cap = get_preset("Meta-Llama-3-8B"), get_gpu("A100 SXM 40GB").usable_memory_bytes
    s = TrainingSetup(seq_len=4096, recompute="none", micro_batch=4, dp=8)
    assert training_memory(spec, s).total > cap
    alone = {f"{RECOMPUTE_NAME}: full": replace(s, recompute="full"), "micro-batch 1": replace(s, micro_batch=1),
             "8-bit AdamW (bitsandbytes)": replace(s, optimizer="adamw-8bit"),
             "ZeRO stage 3 over the 8 data-parallel GPUs": replace(s, zero_stage=3)}
    totals = {k: training_memory(spec, v).total for k, v in alone.items()}
    assert all(t > cap for t in totals.values())  # the premise: none alone is enough
    together = replace(s, recompute="full", micro_batch=1, optimizer="adamw-8bit", zero_stage=3)
    assert training_memory(spec, together).total <= cap

    at = run_page("app_pages/training_memory.py", QUERY)
    assert not at.exception
    verdict = at.error[0].value
    assert "Does not fit" in verdict
    for change, total in totals.items():
        assert f"- {change}: {format_bytes(total, 'GB')} per GPU" in verdict
    combined = (f"**{RECOMPUTE_NAME} full, micro-batch 1, 8-bit AdamW, ZeRO stage 3 over the 8 data-parallel "
                f"GPUs**: {format_bytes(training_memory(spec, together).total, 'GB')} per GPU")
    assert combined in verdict


def test_a_setup_one_change_fixes_lists_no_alone_section():
    at = run_page("app_pages/training_memory.py", {"model": "Llama-3.1-8B", "gpu": "RTX 4090", "tm_ft": "qlora",
                                                   "tm_rc": "none"})
    verdict = at.error[0].value
    assert f"**{RECOMPUTE_NAME}: full**" in verdict and "Alone, each" not in verdict
