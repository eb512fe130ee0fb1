"""The Quantization page's per-input results (every file type's run memory, the table and the chart of them), the
last few kept by count.

Each depends on the run inputs (context, cache type, sequences, flash attention), so a user moving one makes a new
one on every rerun: ``ui.memo``'s weighed caches then spent more on weighing each new result (``deep_bytes``: 0.3 ms
for the 33 ``RunMemory``, as much again for the table and the chart) than on making it (0.2 ms for the placements,
0.25 ms for the chart's dict; issue 18). Every result here is bounded by the 33 file types whatever the model (a
table of 33 rows, 33 placements, a chart of 99 bars), so a count bounds the memory too: ``KEPT`` results, a few
hundred kB at most. The model is keyed by identity (``ui.memo.Same``: held weakly, so an uploaded model that a
session forgets is not kept alive here). Results are shared by sessions: read only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

#: Results kept (each of a few kB to ~25 kB: an Arrow table of 33 rows, a chart of 99 bars, 33 placements).
KEPT = 48

_recent: OrderedDict = OrderedDict()
_lock = threading.Lock()


def recent(key: Hashable, compute: Callable[[], object]):
    """``compute()`` for ``key``, kept among the last ``KEPT`` results asked for (least recently used dropped). An
    exception is not kept. Two sessions missing the same key at once both compute it (no lock held while
    computing); the second result replaces the first, equal to it."""
    with _lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    value = compute()
    with _lock:
        _recent[key] = value
        while len(_recent) > KEPT:
            _recent.popitem(last=False)
    return value


def clear() -> None:
    """Drop every kept result (tests)."""
    with _lock:
        _recent.clear()
