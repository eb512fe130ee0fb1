"""A time-to-live cache shared by every session of one server, that never makes one session wait for
another's look-up of a different key.

The lock guards only the dictionary (microseconds); the network call runs outside it. Concurrent
look-ups of the same key share one call (the first caller fetches, the others wait for its result or
its error); a different key never waits. Failures are not cached, so a time-out is retried on the next
look-up. Entries expire after ``ttl_s`` and the least recently used go beyond ``max_entries``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class _Flight:
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class TTLCache:
    def __init__(self, ttl_s: float = 3600.0, max_entries: int = 64, clock: Callable[[], float] = time.monotonic):
        if ttl_s <= 0 or max_entries < 1:
            raise ValueError("ttl_s must be > 0 and max_entries >= 1")
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self.calls = 0  # how many times ``compute`` ran (hits do not count)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > self._clock():
                self._data.move_to_end(key)
                return hit[1]
            flight = self._flights.get(key)
            owner = flight is None
            if owner:
                flight = self._flights[key] = _Flight()
                self.calls += 1
        if not owner:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = compute()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            with self._lock:
                self._data[key] = (self._clock() + self.ttl_s, flight.value)
                self._data.move_to_end(key)
                while len(self._data) > self.max_entries:
                    self._data.popitem(last=False)
            return flight.value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
