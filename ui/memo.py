"""Process-wide memoization of pure ``calc`` results that a rerun would otherwise recompute unchanged.

Streamlit reruns a whole page for every input change. The Quantization page typed every tensor of the
model for all 33 llama.cpp file types on every rerun (44-50 ms, 58% of the page's rerun, issue 18) even
when only the context changed. Results here are frozen dataclasses, shared by every session of the
server process (they depend only on their arguments), so they are kept as they are: no copy per hit,
unlike ``st.cache_data`` (which pickles and unpickles every result, here 33 x the model's tensors).

The memory is bounded by weight, not by entry count: a 10,000-layer config has 100x the tensors of a
100-layer one, so each entry weighs what it holds (tensors) and the least recently used ones are
dropped past ``budget``; an entry heavier than the whole budget is computed and not kept.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from calc.gguf import FILE_TYPES, LayeredTensors, QuantResult, quantize_all
from calc.gguf_run import RunMemory, RunSetup, run_memory
from calc.serve_logs import CASES, THROUGHPUT_CASES, reproduce, reproduce_throughput
from calc.serve_sim import max_rate, poisson_workload, simulate_replicas


class WeightedLRU:
    """A least-recently-used map whose entries have weights; the total stays within ``budget``."""

    def __init__(self, budget: int):
        self.budget = budget
        self.weight = 0
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], object], weigh: Callable[[object], int]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            self.misses += 1
        value = compute()  # outside the lock: another session's page is not held up meanwhile
        w = max(1, weigh(value))
        if w > self.budget:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, w)
                self.weight += w
            while self.weight > self.budget:
                _, (_, old) = self._items.popitem(last=False)
                self.weight -= old
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.weight = 0


#: Weights are tensors held (a Llama-3-8B file type has 291; 33 file types are 9,603): room for ~20 models.
TENSOR_BUDGET = 200_000
_quant = WeightedLRU(TENSOR_BUDGET)
_runs = WeightedLRU(20_000)  # one RunMemory per file type, a few hundred bytes each


def _held(tensors) -> int:
    """Tensor objects a result holds: a ``LayeredTensors`` holds one block per layer class (and the plan's
    class of every layer, shared by the file types: counted as a tenth of a tensor each)."""
    if isinstance(tensors, LayeredTensors):
        return len(tensors.head) + sum(len(r) for r in tensors.reps) + len(tensors.plan.layer_class) // 10
    return len(tensors)


def _tensors(results: dict) -> int:
    return sum(_held(r.tensors) for r in results.values() if isinstance(r, QuantResult))


def quantize_all_cached(spec, imatrix: bool | None = None) -> dict[str, QuantResult | ValueError]:
    """``calc.gguf.quantize_all(spec, imatrix=imatrix)`` for every file type, memoized (a new dict per call,
    so a caller may add to it; the results in it are shared and frozen)."""
    return dict(_quant.get_or_compute((spec, imatrix), lambda: quantize_all(spec, FILE_TYPES, imatrix), _tensors))


def run_memory_all(spec, imatrix: bool | None, setup: RunSetup, gpu) -> dict[str, RunMemory]:
    """``calc.gguf_run.run_memory`` of every file type llama.cpp can apply, memoized per run setup and GPU."""
    def compute():
        results = quantize_all_cached(spec, imatrix)
        return {f: run_memory(spec, r, setup, gpu) for f, r in results.items() if not isinstance(r, ValueError)}

    return dict(_runs.get_or_compute((spec, imatrix, setup, gpu), compute, len))


# Serving page (issue 18): its rerun simulated 1,500 + 6 x 600 requests and searched the SLO rate (about 20 more
# simulations) on every input change, and rebuilt the two tables of published vLLM logs (a model per row) that
# never change. Each result below depends only on its arguments (the workloads are seeded), so a change of the
# price, an SLO or the rate reuses the simulations it does not touch. Returned values are shared: read only.

@functools.lru_cache(maxsize=256)
def serve_latency(model, requests: int, rate: float, prompt: int, output: int, seed: int, replicas: int,
                  max_num_seqs: int, max_num_batched_tokens: int, kv_capacity_tokens: int):
    """``(output tokens/s, percentiles)`` of ``simulate_replicas`` over ``poisson_workload(requests, rate, prompt,
    output, seed=seed)``."""
    sim = simulate_replicas(model, poisson_workload(requests, rate, prompt, output, seed=seed), replicas,
                            max_num_seqs=max_num_seqs, max_num_batched_tokens=max_num_batched_tokens,
                            kv_capacity_tokens=kv_capacity_tokens)
    return sim.throughput_tokens_per_s, sim.percentiles()


@functools.lru_cache(maxsize=128)
def serve_max_rate(model, prompt: int, output: int, slo_ttft_s, slo_tpot_s, requests: int, max_num_seqs: int,
                   max_num_batched_tokens: int, kv_capacity_tokens: int):
    """``calc.serve_sim.max_rate`` memoized."""
    return max_rate(model, prompt, output, slo_ttft_s, slo_tpot_s, requests=requests, max_num_seqs=max_num_seqs,
                    max_num_batched_tokens=max_num_batched_tokens, kv_capacity_tokens=kv_capacity_tokens)


@functools.cache
def serve_log_rows() -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """The Serving page's two tables against vLLM's published start-up logs and throughputs (constant)."""
    logs = []
    for case in CASES:
        for name, (logged, ours) in reproduce(case).items():
            logs.append({"model": case.model, "quantity": name, "logged": logged, "ours": round(ours, 4),
                         "error %": round((ours - logged) / logged * 100, 2), "GPU": case.gpu, "tp": case.tp,
                         "pp": case.pp, "max model len": case.max_model_len, "source": case.url})
    throughput = []
    for c in THROUGHPUT_CASES:
        ours = reproduce_throughput(c)
        throughput.append({"model": c.model, "GPU": c.gpu, "tp": c.tp, "engine": c.engine, "precision": c.weights_dtype,
                           "prompt / output": f"{c.prompt_tokens} / {c.output_tokens}",
                           "concurrency": str(c.concurrency or "engine max"),
                           "published tokens/s": c.output_tokens_per_s, "ours": round(ours),
                           "error %": round((ours / c.output_tokens_per_s - 1) * 100, 1),
                           "within 30 %": "yes" if not c.miss else "no: " + c.miss, "source": c.url})
    return tuple(logs), tuple(throughput)


def key_of(value) -> Hashable:
    """A hashable stand-in for a builder argument: equal only for arguments that give the same figure (scalars keep
    their type, since ``1`` and ``1.0`` are written differently in JSON; arrays their dtype and shape)."""
    if isinstance(value, dict):
        return ("dict", tuple((key_of(k), key_of(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        kinds = set(map(type, value))
        if len(kinds) == 1 and kinds <= {float, int, str}:  # a series of one scalar type (sweeps): no recursion
            return (type(value).__name__, kinds.pop().__name__, tuple(value))
        return (type(value).__name__, tuple(key_of(v) for v in value))
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    try:
        hash(value)
    except TypeError:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a frozen one holding a dict, say
            return (type(value).__qualname__, tuple((f.name, key_of(getattr(value, f.name)))
                                                    for f in dataclasses.fields(value)))
        raise  # anything else unhashable
    return (type(value).__name__, value)



class Same:
    """A key part equal only to the very same object, for a memoized result too large to hash (a ``QuantResult`` of
    ``quantize_all_cached``). It holds a weak reference: a cache keyed by it does not keep the object alive, and
    once the object is gone the key matches nothing (not even a new object given the same id)."""

    __slots__ = ("_id", "_ref")

    def __init__(self, obj):
        self._id, self._ref = id(obj), weakref.ref(obj)

    def __hash__(self):
        return self._id

    def __eq__(self, other):
        if not isinstance(other, Same):
            return NotImplemented
        obj = self._ref()
        return obj is not None and obj is other._ref()


# Any page: derived results (tables, CSV text, parsed files) kept per input, shared by sessions, read only.
_derived = WeightedLRU(512)  # entries weigh 1: at most 512 kept


def cached(key: Hashable, compute: Callable[[], object]):
    """``compute()`` memoized per ``key``, which must name everything the result depends on (a file by
    ``file_signature``); at most 512 results kept, least recently used dropped. An exception is not kept."""
    return _derived.get_or_compute(key, compute, lambda _: 1)


def file_signature(path) -> tuple[str, int, int]:
    """``(path, mtime_ns, size)``: a key part that changes when the file is rewritten (``OSError`` if it is absent)."""
    st = os.stat(path)
    return str(path), st.st_mtime_ns, st.st_size


def load_json(path):
    """``json.load`` of ``path``, parsed once per version of the file (the result is shared: read only)."""
    def load():
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    return cached(("json", file_signature(path)), load)


def plan_search(model, cluster, job, pins: dict | None = None, top: int = 5, require_fit: bool = True, stack=None):
    """``calc.plan.search`` memoized per argument set (a list per call; the plans in it are shared and frozen): the
    Compute page and the Cluster planner rerun it unchanged when an input it does not read changes."""
    from calc.plan import search

    key = ("plan.search", model, cluster, job, key_of(pins), top, require_fit, key_of(stack))
    return list(cached(key, lambda: tuple(search(model, cluster, job, pins, top, require_fit=require_fit,
                                                   stack=stack))))
