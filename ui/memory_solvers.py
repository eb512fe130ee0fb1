"""The Training memory page's "largest micro-batch" and "longest sequence that fits" solvers: ``calc.solvers``'
``max_batch`` and ``max_context`` answers in fewer steps.

Under the plain engine the memory is a known polynomial of both (``calc.memory.training_polynomials``: per pipeline
stage ``fixed + round(b s (P + s K))``), so the answer is read off it (a line in ``b``, a quadratic in ``s``) and
checked, as below, with the scalar function itself; 2-3 ``training_memory`` calls instead of a search of 10-30
(the two solvers were 2.8 of the page's ~19 ms a rerun under ``bench/bench_pages.py --inputs nearby``, issue 18).

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

import functools
import math
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from calc.memory import TrainingSetup, breakdown_grid, training_memory, training_polynomials
from calc.models import ModelSpec
from calc.solvers import Layout, max_batch, max_context

#: Candidates per vectorized step.
STEP = 256


class Solved(NamedTuple):
    """What the solvers say about one setup on one GPU (the Training memory page's ``_solve``). Here, not in the page:
    a page's module runs again on every full rerun, and making a NamedTuple class is ~0.1 ms (issue 18)."""

    layout: Layout | None  # fewest_gpus
    remedies: list  # remedies(..., layout)
    alone: list  # single_changes, when the setup does not fit (the verdict lists them then)
    max_batch: int | None  # None for a parameter count (no activations)
    max_context: int | None
    selective_idle: bool  # selective recompute with fused attention saves nothing over none


@functools.lru_cache(maxsize=256)
def sweep_points(seq_len: int, micro_batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The Training memory page's sweeps' sequence lengths and micro-batches (read-only arrays), kept per input:
    np.unique of geomspace was about 0.1 ms of every rerun (issue 18). Here, not in the page, whose module (and
    with it a cache defined there) is made again on every full rerun."""
    seqs = np.unique(np.geomspace(128, max(4 * seq_len, 8192), 60).astype(int))
    # Every micro-batch up to 256; beyond, 120 log-spaced ones (4 x 1e5 points made the page take 25-65 s).
    b_hi = max(4 * micro_batch, 32)
    batches = np.arange(1, b_hi + 1) if b_hi <= 256 else np.unique(np.geomspace(1, b_hi, 120).astype(int))
    seqs.flags.writeable = batches.flags.writeable = False
    return seqs, batches, b_hi


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


def _settled(ok: Callable[[int], bool], guess: int, limit: int, moves: int = 2) -> int | None:
    """The largest value in [1, limit] that ``ok`` accepts, found from ``guess`` (``ok`` grows false with the value,
    ``ok(1)`` holds) by at most ``moves`` steps of one; None if it is not within them."""
    v = min(max(guess, 1), limit)
    for _ in range(moves + 1):
        if not ok(v):
            v -= 1  # ok(1) holds: v stays >= 1
        elif v == limit or not ok(v + 1):
            return v
        else:
            v += 1
    return None


def _polynomial_guess(polys, room_of: Callable[[int], float], solve: Callable[[float, float, float], float],
                      limit: int) -> int:
    """The largest value every ``(fixed, P, K)`` polynomial allows (``solve(P, K, room)`` for one), capped at
    ``limit``: a guess for ``_settled``, which checks it."""
    best = float(limit)
    for fixed, p, k in polys:
        room = room_of(fixed)
        best = min(best, 0.0 if room < 0 else solve(p, k, room))
    return int(min(best, limit)) if math.isfinite(best) else limit


def largest_micro_batch(model: ModelSpec, setup: TrainingSetup, capacity: int, limit: int) -> int | None:
    """``calc.solvers.max_batch(model, setup, capacity, limit)``: under the plain engine from the memory's line in
    the micro-batch (``b s (P + s K)`` rounded, plus the fixed part), checked with ``training_memory``; else, or
    when the check fails, ``calc.solvers``' own search."""
    def ok(v: int) -> bool:
        return training_memory(model, replace(setup, micro_batch=v)).total <= capacity

    if not ok(1):  # the scalar search's first step too
        return None
    s = setup.seq_len
    polys = training_polynomials(model, setup)
    if polys:  # round(b x) <= room  <=>  b x < room + 1/2, up to ties (the check settles them)
        guess = _polynomial_guess(polys, lambda fixed: capacity - fixed + 0.5,
                                  lambda p, k, room: room / (s * (p + s * k)) if p + s * k > 0 else math.inf, limit)
        found = _settled(ok, guess, limit)
        if found is not None:
            return found
    return max_batch(model, setup, capacity, limit=limit)


def _sequence_root(b: int) -> Callable[[float, float, float], float]:
    """The positive root of ``b K s^2 + b P s = room``: the longest sequence one polynomial allows."""
    def solve(p: float, k: float, room: float) -> float:
        if k > 0:
            return (-b * p + math.sqrt((b * p) ** 2 + 4 * b * k * room)) / (2 * b * k)
        return room / (b * p) if p > 0 else math.inf
    return solve


def longest_sequence(model: ModelSpec, setup: TrainingSetup, capacity: int, limit: int) -> int | None:
    """``calc.solvers.max_context(model, setup, capacity, limit)``."""
    def ok(v: int) -> bool:
        return training_memory(model, replace(setup, seq_len=v)).total <= capacity

    if not ok(1):  # the scalar search's first step too
        return None
    polys = training_polynomials(model, setup)
    if polys:
        guess = _polynomial_guess(polys, lambda fixed: capacity - fixed + 0.5, _sequence_root(setup.micro_batch),
                                  limit)
        found = _settled(ok, guess, limit)
        if found is not None:
            return found
    try:
        found = _grid_largest(model, setup, capacity, limit)
    except (ValueError, ArithmeticError):
        found = None
    if found and ok(found) and (found == limit or not ok(found + 1)):
        return found
    return max_context(model, setup, capacity, limit=limit)
