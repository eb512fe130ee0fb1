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
import sys
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from calc.gguf import FILE_TYPES, LayeredTensors, QuantResult, quantize_all
from calc.gguf_run import RunMemory, RunSetup, run_memory_many
from calc.models import ModelSpec
from calc.serve_sim import max_rate, poisson_workload, simulate_replicas

#: Objects ``deep_bytes`` does not count: program state every entry shares (classes, modules, functions, code).
_ATOMS = frozenset({str, bytes, int, float, complex, np.float64, np.int64, np.float32, np.int32})
_SHARED_TYPES = (bool, type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                 types.CodeType, weakref.ref, functools.partial)


def deep_bytes(*objs) -> int:
    """Bytes the objects hold: ``sys.getsizeof`` of every object reachable through containers (dict, list, tuple,
    set) and instance attributes (``__dict__``, ``__slots__``: dataclass fields), each object once; a pandas
    frame or series by its own ``__sizeof__`` (``memory_usage(deep=True)``);
    a NumPy array by ``getsizeof`` (its buffer included when it owns it). Classes, modules and functions are
    shared program state and count nothing. An upper bound of what dropping the objects frees (objects shared
    with the rest of the process count too); ``tests/test_cache_bytes.py`` holds it to tracemalloc's count of the
    same allocations."""
    getsizeof = sys.getsizeof
    seen: set[int] = set()
    stack = list(objs)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        t = type(obj)
        if t in _ATOMS:
            total += getsizeof(obj)
        elif t is dict:
            total += getsizeof(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif t is tuple or t is list:
            total += getsizeof(obj)
            stack.extend(obj)
        elif obj is None or isinstance(obj, _SHARED_TYPES):
            continue
        elif t is ModelSpec:  # the same few specs key most entries: walked once each (_spec_bytes)
            total += _spec_bytes(obj)
        elif isinstance(obj, np.ndarray):
            total += getsizeof(obj)
            if obj.base is not None:
                stack.append(obj.base)
        elif hasattr(obj, "memory_usage") and hasattr(obj, "to_csv"):  # pandas: its __sizeof__ is memory_usage(deep)
            total += getsizeof(obj)
        else:
            total += getsizeof(obj)
            if isinstance(obj, dict | list | tuple | set | frozenset):
                stack.extend(obj.values() if isinstance(obj, dict) else obj)
                if isinstance(obj, dict):
                    stack.extend(obj.keys())
            d = getattr(obj, "__dict__", None)
            if type(d) is dict:
                stack.append(d)
            for name in _slots(t):
                stack.append(getattr(obj, name, None))
    return total


#: ``deep_bytes`` of each ``ModelSpec`` met, walked once per spec object: a spec (its config dict and layout,
#: 9-23 kB) keys most memoized results, and walking it again for every new entry took 100-120 us (Training memory:
#: up to 4 new entries a rerun). Kept per object (``id`` -> (weak reference, bytes)), not per equal spec: equal
#: specs can differ in size (a layout's cached properties). A dead spec's entry is dropped by its reference's
#: callback. Counting a spec apart from the rest of the entry counts what it shares with the entry twice: still an
#: upper bound.
_SPEC_BYTES: dict[int, tuple[weakref.ref, int]] = {}


def _spec_bytes(spec: ModelSpec) -> int:
    key = id(spec)
    kept = _SPEC_BYTES.get(key)
    if kept is not None and kept[0]() is spec:
        return kept[1]
    n = _walk_spec(spec)
    _SPEC_BYTES[key] = (weakref.ref(spec, lambda _, key=key: _SPEC_BYTES.pop(key, None)), n)
    return n


def _walk_spec(spec: ModelSpec) -> int:
    """``deep_bytes`` of a spec, walked: its instance dict's contents and the object itself."""
    return sys.getsizeof(spec) + deep_bytes(spec.__dict__)


@functools.cache
def _slots(cls: type) -> tuple[str, ...]:
    """Attribute names a class's ``__slots__`` declare, over its whole hierarchy."""
    names = []
    for c in cls.__mro__:
        slots = c.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else [n for n in slots if n not in ("__dict__", "__weakref__")]
    return tuple(names)


class WeightedLRU:
    """A least-recently-used map whose entries have weights; the total stays within ``budget`` (and the count
    within ``max_items``). An entry weighs what ``weigh(value)`` says, by default ``deep_bytes`` of key and value
    together (a key can hold as much as its value: a table's rows key its CSV)."""

    def __init__(self, budget: int, max_items: int | None = None):
        self.budget = budget
        self.max_items = max_items
        self.weight = 0
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get_or_compute(self, key: Hashable, compute: Callable[[], object],
                       weigh: Callable[[object], int] | None = None):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            self.misses += 1
        value = compute()  # outside the lock: another session's page is not held up meanwhile
        w = max(1, deep_bytes(key, value) if weigh is None else weigh(value))
        if w > self.budget:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, w)
                self.weight += w
            while self.weight > self.budget or (self.max_items is not None and len(self._items) > self.max_items):
                _, (_, old) = self._items.popitem(last=False)
                self.weight -= old
        return value

    def peek(self, key: Hashable):
        """The value kept for ``key``, or None; counts neither as a hit nor as a use."""
        with self._lock:
            item = self._items.get(key)
        return None if item is None else item[0]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.weight = 0


#: Every file type's tensors of a model are weighed by the tensor objects they hold (``_tensors``: walking them
#: with ``deep_bytes`` took as long as computing them). tracemalloc counts at most ``BYTES_PER_TENSOR`` bytes per
#: unit of that weight (149 for Llama-3-8B and Mixtral-8x7B: 0.47-0.52 MB per model; tests/test_cache_bytes.py
#: holds it), so ``TENSOR_BUDGET`` keeps these results within ``QUANT_BUDGET_BYTES``: about 17 models of that size.
QUANT_BUDGET_BYTES = 8 * 2**20
BYTES_PER_TENSOR = 160
TENSOR_BUDGET = QUANT_BUDGET_BYTES // BYTES_PER_TENSOR
_quant = WeightedLRU(TENSOR_BUDGET)
RUNS_BUDGET_BYTES = 2 * 2**20  # deep_bytes: one RunMemory per file type, a few hundred bytes each
_runs = WeightedLRU(RUNS_BUDGET_BYTES)


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
    so a caller may add to it; the results in it are shared and frozen). With the same model's results for another
    imatrix setting kept, only the file types whose rules read the imatrix are typed again (``quantize_all``'s
    ``like``)."""
    def compute():
        like = next((v for o in (None, True, False) if o is not imatrix and (v := _quant.peek((spec, o))) is not None),
                    None)
        return quantize_all(spec, FILE_TYPES, imatrix, like)

    return dict(_quant.get_or_compute((spec, imatrix), compute, _tensors))


def run_memory_all(spec, imatrix: bool | None, setup: RunSetup, gpu) -> dict[str, RunMemory]:
    """``calc.gguf_run.run_memory`` of every file type llama.cpp can apply (``run_memory_many``), memoized per run
    setup and GPU."""
    def compute():
        results = quantize_all_cached(spec, imatrix)
        return run_memory_many(spec, {f: r for f, r in results.items() if not isinstance(r, ValueError)}, setup, gpu)

    return dict(_runs.get_or_compute((spec, imatrix, setup, gpu), compute))


# Serving page (issue 18): its rerun simulated 1,500 + 6 x 600 requests and searched the SLO rate (about 20 more
# simulations) on every input change, and rebuilt the two tables of published vLLM logs (a model per row) that
# never change. Each result below depends only on its arguments (the workloads are seeded), so a change of the
# price, an SLO or the rate reuses the simulations it does not touch. Returned values are shared: read only.

@functools.lru_cache(maxsize=256)
def serve_latency(model, requests: int, rate: float, prompt: int, output: int, seed: int, replicas: int,
                  max_num_seqs: int, max_num_batched_tokens: int, kv_capacity_tokens: int | None,
                  state_tokens_per_request: int = 0):
    """``(output tokens/s, percentiles)`` of ``simulate_replicas`` over ``poisson_workload(requests, rate, prompt,
    output, seed=seed)``."""
    sim = simulate_replicas(model, poisson_workload(requests, rate, prompt, output, seed=seed), replicas,
                            max_num_seqs=max_num_seqs, max_num_batched_tokens=max_num_batched_tokens,
                            kv_capacity_tokens=kv_capacity_tokens, state_tokens_per_request=state_tokens_per_request)
    return sim.throughput_tokens_per_s, sim.percentiles()


@functools.lru_cache(maxsize=128)
def serve_max_rate(model, prompt: int, output: int, slo_ttft_s, slo_tpot_s, requests: int, max_num_seqs: int,
                   max_num_batched_tokens: int, kv_capacity_tokens: int | None, state_tokens_per_request: int = 0,
                   steps: int = 12):
    """``calc.serve_sim.max_rate`` memoized."""
    return max_rate(model, prompt, output, slo_ttft_s, slo_tpot_s, requests=requests, max_num_seqs=max_num_seqs,
                    max_num_batched_tokens=max_num_batched_tokens, kv_capacity_tokens=kv_capacity_tokens,
                    state_tokens_per_request=state_tokens_per_request, steps=steps)


@functools.cache
def serve_log_rows() -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """The Serving page's two tables against vLLM's published start-up logs and throughputs (constant): as stored by
    ``python -m ui.figures_serving`` while its calc sources are unchanged, else computed (``published_rows``)."""
    from ui.figures_serving import published_rows, stored_rows

    return stored_rows() or published_rows()


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


#: Any page: derived results (tables, CSV text, parsed files, plan searches) kept per input, shared by sessions,
#: read only, weighed in bytes with their keys (``deep_bytes``: a table's rows key its CSV). Entries weighed 1
#: before, 512 of them: a few tables of thousands of rows and their CSVs could hold tens of MB (issue 18).
DERIVED_BUDGET_BYTES = 6 * 2**20
_derived = WeightedLRU(DERIVED_BUDGET_BYTES)


def cached(key: Hashable, compute: Callable[[], object]):
    """``compute()`` memoized per ``key``, which must name everything the result depends on (a file by
    ``file_signature``); at most ``DERIVED_BUDGET_BYTES`` of keys and results kept, least recently used dropped.
    An exception is not kept."""
    return _derived.get_or_compute(key, compute)


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
