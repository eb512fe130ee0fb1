"""ui.memory_solvers gives calc.solvers' own answers (the independent reference: its one-value-at-a-time search)."""

from __future__ import annotations

import pytest

import ui.memory_solvers as ms
from calc.engines import Engine
from calc.memory import TrainingSetup
from calc.presets import get_preset
from calc.solvers import max_batch, max_context
from calc.units import GIB

SETUPS = [
    TrainingSetup(),
    TrainingSetup(micro_batch=1, seq_len=2048, zero_stage=3, dp=8),
    TrainingSetup(pp=4, tp=2, zero_stage=1, dp=8, sequence_parallel=True),
    TrainingSetup(recompute="full", flash_attention=False),
    TrainingSetup(recompute="selective", flash_attention=False, dropout=0.1),
    TrainingSetup(finetune="qlora", lora_rank=64),
    TrainingSetup(rlhf="ppo", finetune="lora"),
    TrainingSetup(rlhf="dpo", precision="bf16"),
    TrainingSetup(engine=Engine("fsdp2"), dp=8),
    TrainingSetup(engine=Engine("ddp", gradient_as_bucket_view=True), micro_batch=2),
    TrainingSetup(engine=Engine("deepspeed"), zero_stage=3, dp=8, seq_len=8192),
    TrainingSetup(engine=Engine("megatron"), tp=4, pp=2, dp=4),
]
MODELS = ["GPT-2", "Meta-Llama-3-8B", "Mixtral-8x7B-v0.1"]
CAPS = [6 * GIB, 24 * GIB, 80 * GIB, 141 * GIB, 4096 * GIB]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("setup", SETUPS, ids=range(len(SETUPS)))
def test_same_answers_as_calc_solvers(name, setup):
    model = get_preset(name)
    for cap in CAPS:
        assert ms.longest_sequence(model, setup, cap, 1 << 22) == max_context(model, setup, cap, limit=1 << 22)
        # one token or one sequence around the answer: the capacity where the answer changes
        mc = max_context(model, setup, cap, limit=1 << 22)
        if mc:
            from dataclasses import replace

            from calc.memory import training_memory

            edge = training_memory(model, replace(setup, seq_len=mc)).total
            for c in (edge - 1, edge, edge + 1):
                assert ms.longest_sequence(model, setup, c, 1 << 22) == max_context(model, setup, c, limit=1 << 22)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("setup", SETUPS, ids=range(len(SETUPS)))
def test_same_largest_micro_batch_as_calc_solvers(name, setup):
    from dataclasses import replace

    from calc.memory import training_memory

    model = get_preset(name)
    for cap in CAPS:
        want = max_batch(model, setup, cap, limit=4096)
        assert ms.largest_micro_batch(model, setup, cap, 4096) == want
        if want:  # one byte around the answer: the capacity where the answer changes
            edge = training_memory(model, replace(setup, micro_batch=want)).total
            for c in (edge - 1, edge, edge + 1):
                assert ms.largest_micro_batch(model, setup, c, 4096) == max_batch(model, setup, c, limit=4096)
    # the limit itself, and a capacity where even one sequence does not fit
    assert ms.largest_micro_batch(model, setup, 10**15, 7) == max_batch(model, setup, 10**15, limit=7) == 7
    assert ms.largest_micro_batch(model, setup, GIB // 4, 4096) is None


def test_the_polynomial_answers_without_a_search(monkeypatch):
    """Under the plain engine the answers are read off the memory's polynomial and checked: neither calc.solvers'
    search nor the grid runs (the point is the speed), and they are calc.solvers' answers."""
    want = {}
    model = get_preset("Meta-Llama-3-8B")
    plain = [s for s in SETUPS if s.engine.name == "plain"]
    for i, setup in enumerate(plain):
        for cap in (24 * GIB, 80 * GIB, 141 * GIB):
            want[i, cap] = (max_batch(model, setup, cap, limit=4096), max_context(model, setup, cap, limit=1 << 22))

    def refuse(*args, **kwargs):
        raise AssertionError("searched")

    for name in ("max_batch", "max_context", "_grid_largest"):
        monkeypatch.setattr(ms, name, refuse)
    for i, setup in enumerate(plain):
        for cap in (24 * GIB, 80 * GIB, 141 * GIB):
            got = (ms.largest_micro_batch(model, setup, cap, 4096), ms.longest_sequence(model, setup, cap, 1 << 22))
            assert got == want[i, cap]


def test_the_grid_answers_without_the_scalar_search(monkeypatch):
    """The speed is the point: for ordinary setups the answer comes from the grid and its check, not the fallback."""
    def refuse(*args, **kwargs):
        raise AssertionError("fell back to calc.solvers")

    monkeypatch.setattr(ms, "max_context", refuse)
    model = get_preset("Meta-Llama-3-8B")
    for setup in SETUPS:
        want = max_context(model, setup, 80 * GIB, limit=1 << 22)
        assert ms.longest_sequence(model, setup, 80 * GIB, 1 << 22) == want


def _page_laid_out() -> tuple[str, ...]:
    """app_pages/training_memory.py's ``LAID_OUT`` (the page runs Streamlit when imported: read from its source)."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parent.parent / "app_pages" / "training_memory.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LAID_OUT" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("app_pages/training_memory.py has no LAID_OUT")


VARY = {"tp": (1, 2, 8), "pp": (1, 2, 4), "dp": (1, 8, 64), "zero_stage": (0, 1, 3), "micro_batch": (1, 16),
        "seq_len": (512, 32768)}


@pytest.mark.parametrize("setup", SETUPS, ids=range(len(SETUPS)))
def test_fewest_gpus_ignores_the_layout_the_page_keys_it_without(setup):
    """The page keeps calc.solvers.fewest_gpus's answer per setup less ``LAID_OUT``: the answer must be the same
    whatever those fields hold."""
    from dataclasses import replace

    from calc.memory import training_memory
    from calc.solvers import fewest_gpus

    model = get_preset("Meta-Llama-3-8B")
    for cap in (24 * GIB, 80 * GIB):
        want = fewest_gpus(model, setup, cap)
        for name in _page_laid_out():
            for value in VARY[name]:
                try:
                    other = replace(setup, **{name: value})
                    training_memory(model, other)  # a setup the page would show (it stops at a refused one)
                except ValueError:
                    continue
                assert fewest_gpus(model, other, cap) == want, (name, value, cap)


def test_reused_breakdowns_give_the_solvers_the_same_answers():
    """calc.memory.reuse_breakdowns (the Training memory page's solvers run inside one, issue 18): every solver answers
    as without it, on random setups of several models, engines and RLHF modes, and a repeated setup gets the very
    breakdown computed first (equal to a fresh one)."""
    import random
    from dataclasses import replace

    from calc.gpus import get_gpu
    from calc.memory import reuse_breakdowns, training_memory
    from calc.solvers import fewest_gpus, remedies, single_changes

    rng = random.Random(7)
    cap = get_gpu("H100 SXM").usable_memory_bytes
    for _ in range(40):
        model = get_preset(rng.choice(["Llama-3.2-1B", "Meta-Llama-3-8B", "Qwen2.5-7B", "GPT-2"]))
        setup = TrainingSetup(micro_batch=rng.choice([1, 2, 4]), seq_len=rng.choice([1024, 4096, 16384]),
                              recompute=rng.choice(["none", "selective", "full"]), finetune=rng.choice(["full", "lora"]),
                              rlhf=rng.choice(["none", "ppo", "dpo"]), zero_stage=rng.choice([0, 1]),
                              engine=Engine(rng.choice(["plain", "plain", "fsdp2", "deepspeed"])), overhead_bytes=2**30)
        if setup.engine.name != "plain":  # the engines model full fine-tuning without RLHF
            setup = replace(setup, finetune="full", rlhf="none", zero_stage=0 if setup.engine.name == "fsdp2" else 2)

        def answers(model=model, setup=setup):
            layout = fewest_gpus(model, setup, cap)
            return (layout, remedies(model, setup, cap, layout), single_changes(model, setup),
                    ms.largest_micro_batch(model, setup, cap, 4096), ms.longest_sequence(model, setup, cap, 1 << 22))

        plain = answers()
        with reuse_breakdowns({(model, setup): training_memory(model, setup)}):
            kept = answers()
            first = training_memory(model, replace(setup, micro_batch=3))
            assert training_memory(model, replace(setup, micro_batch=3)) is first
        assert kept == plain
        assert first == training_memory(model, replace(setup, micro_batch=3))
        assert training_memory(model, replace(setup, micro_batch=3)) is not first  # nothing kept outside the block
