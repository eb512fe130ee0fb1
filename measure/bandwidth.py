"""Memory bandwidth: a device-to-device copy of a buffer much larger than any cache.

A copy of N bytes reads N and writes N, so bytes moved = 2N and GB/s = 2N / median seconds / 1e9
(the STREAM "Copy" convention, McCalpin, https://www.cs.virginia.edu/stream/ref.html; GB = 1e9 B).
Vendor bandwidth figures count read + write together too, so the two compare. On a CPU the figure
depends on how many cores copy at once (numpy and torch copy with one or a few threads).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from measure.backends import time_op

MIN_BYTES = 2**20


@dataclass(frozen=True)
class BandwidthResult:
    backend: str
    device: str
    buffer_bytes: int
    runs: int
    median_s: float
    min_s: float
    peak_bytes_per_s: float | None = None

    @property
    def bytes_moved(self) -> int:
        """Read + write: 2 x buffer."""
        return 2 * self.buffer_bytes

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_moved / self.median_s

    @property
    def fraction_of_peak(self) -> float | None:
        return self.bytes_per_s / self.peak_bytes_per_s if self.peak_bytes_per_s else None

    def record(self) -> dict:
        frac = self.fraction_of_peak
        return {"backend": self.backend, "device": self.device, "buffer_bytes": self.buffer_bytes,
                "bytes_moved": self.bytes_moved, "runs": self.runs, "median_s": self.median_s,
                "min_s": self.min_s, "gb_per_s": self.bytes_per_s / 1e9,
                "peak_gb_per_s": self.peak_bytes_per_s / 1e9 if self.peak_bytes_per_s else None,
                "pct_of_peak": 100 * frac if frac is not None else None}


def measure_bandwidth(backend, buffer_bytes: int, runs: int = 20, warmup: int = 3, deadline: float | None = None,
                      cancel=None, peak_bytes_per_s: float | None = None) -> BandwidthResult:
    """Median time of ``dst.copy_(src)`` for a ``buffer_bytes`` buffer; see the module docstring."""
    if isinstance(buffer_bytes, bool) or not isinstance(buffer_bytes, int) or buffer_bytes < MIN_BYTES:
        raise ValueError(f"copy buffer must be a whole number of bytes >= {MIN_BYTES:,}, got {buffer_bytes!r:.40}")
    op = backend.copy_op(buffer_bytes)
    try:
        times = time_op(op, backend.timer(), runs, warmup, deadline=deadline, cancel=cancel)
    finally:
        del op
        backend.release()
    return BandwidthResult(backend.name, backend.info.name, buffer_bytes, len(times), statistics.median(times),
                           min(times), peak_bytes_per_s)
