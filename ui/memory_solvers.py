"""The Training memory page's "longest sequence that fits" solver: ``calc.solvers.max_context``'s answer in fewer steps.

``calc.solvers.max_context`` searches one value at a time: doubling, then bisecting, about 30 ``training_memory``
calls for a sequence of some thousands of tokens (13.8 % of the page's rerun with nearby inputs, issue 18). Here the
search reads ``calc.memory.breakdown_grid`` (every candidate of a step in one vectorized call, 256 a step, so three
steps narrow 4 M tokens to one; 2.5-3x faster for Llama-3-8B under plain, fsdp2, deepspeed and PPO setups; 64 to 1,024
a step were slower) and then checks the answer with the scalar function itself:
``L`` fits and ``L + 1`` does not (or ``L`` is the limit), which, memory growing with the value, is the one answer
``calc.solvers._largest`` gives. Whenever the grid refuses the setup or the check fails (float64 rounding near the
capacity, say), the answer is ``calc.solvers``' own search, so the page never shows another number.
tests/test_memory_solvers.py holds these to ``calc.solvers`` on many setups.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calc.memory import TrainingSetup, breakdown_grid, training_memory
from calc.models import ModelSpec
from calc.solvers import max_context

#: Candidates per vectorized step.
STEP = 256


def _fits(model: ModelSpec, setup: TrainingSetup, capacity: int, values: np.ndarray) -> np.ndarray:
    return breakdown_grid(model, setup, [setup.micro_batch], values)["total"][0] <= capacity


def _grid_largest(model: ModelSpec, setup: TrainingSetup, capacity: int, hi: int) -> int | None:
    """The largest sequence in [1, hi] whose grid total fits (0: not even 1), or None where the grid is not
    monotone."""
    lo, top = 0, hi + 1  # lo fits (0 stands for "nothing"), top does not (hi + 1: past the limit)
    while top - lo > 1:
        xs = np.unique(np.linspace(lo, top, STEP + 2).astype(np.int64))
        xs = xs[(xs > lo) & (xs < top)]
        ok = _fits(model, setup, capacity, xs)
        new_lo = int(xs[ok].max()) if ok.any() else lo
        new_top = int(xs[~ok].min()) if (~ok).any() else top
        if new_lo >= new_top:
            return None
        lo, top = new_lo, new_top
    return lo


def longest_sequence(model: ModelSpec, setup: TrainingSetup, capacity: int, limit: int) -> int | None:
    """``calc.solvers.max_context(model, setup, capacity, limit)``."""
    def ok(v: int) -> bool:
        return training_memory(model, replace(setup, seq_len=v)).total <= capacity

    if not ok(1):  # the scalar search's first step too
        return None
    try:
        found = _grid_largest(model, setup, capacity, limit)
    except (ValueError, ArithmeticError):
        found = None
    if found and ok(found) and (found == limit or not ok(found + 1)):
        return found
    return max_context(model, setup, capacity, limit=limit)
