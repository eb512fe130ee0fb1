"""Units: decimal (SI) and binary (IEC) byte multiples, and the one place numbers are formatted.

GB = 1e9 bytes and GiB = 2**30 bytes are different units (IEC 80000-13; the same names as
``scipy.constants.giga`` and ``scipy.constants.gibi``). Bytes are integers everywhere in ``calc``;
formatting for people happens only through the functions here.

>>> format_bytes(4_000_000_000, "GB")
'4.00 GB'
>>> format_bytes(4_000_000_000, "GiB")
'3.73 GiB'
"""

from __future__ import annotations

import math

KB = 10**3
MB = 10**6
GB = 10**9
TB = 10**12
KIB = 2**10
MIB = 2**20
GIB = 2**30
TIB = 2**40

UNIT_SYSTEMS = ("GB", "GiB")
_DECIMAL = (("TB", TB), ("GB", GB), ("MB", MB), ("KB", KB))
_BINARY = (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB))


def _finite(x: float | None) -> bool:
    """A number that prints as a number: not None, NaN, +-inf, or an int beyond float range."""
    if x is None:
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def bytes_in(n_bytes: float, unit: str) -> float:
    """Express ``n_bytes`` in ``unit`` (one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)."""
    table = dict(_DECIMAL + _BINARY + (("B", 1),))
    if unit not in table:
        raise ValueError(f"unit must be one of {sorted(table)}, got {unit!r}")
    return n_bytes / table[unit]


def format_bytes(n_bytes: float | None, unit: str = "GB", digits: int = 2) -> str:
    """Format bytes as ``unit``; ``unit`` "GB" or "GiB" pick a fixed unit, "auto-GB"/"auto-GiB" scale.

    >>> format_bytes(81_920 * 2**20, "GiB")
    '80.00 GiB'
    >>> format_bytes(1536, "auto-GiB")
    '1.50 KiB'
    >>> format_bytes(1_141_874_311_168, "GB")  # thousands separated
    '1,141.87 GB'
    """
    if not _finite(n_bytes):  # never print "nan GB" or "inf GB"
        return "n/a"
    if unit.startswith("auto-"):
        ladder = _BINARY if unit == "auto-GiB" else _DECIMAL
        for name, size in ladder:
            if abs(n_bytes) >= size:
                return f"{n_bytes / size:,.{digits}f} {name}"
        return f"{int(n_bytes):,} B"
    return f"{bytes_in(n_bytes, unit):,.{digits}f} {unit}"


def format_count(n: float | None, digits: int = 2) -> str:
    """Human count with SI-style suffixes used for parameters and tokens.

    >>> format_count(8_030_261_248)
    '8.03 B'
    >>> format_count(1.4e12)
    '1.40 T'
    """
    if not _finite(n):
        return "n/a"
    for suffix, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:,.{digits}f} {suffix}"
    return f"{n:.0f}" if float(n).is_integer() else f"{n:.{digits}f}"


def format_flops(flops: float | None) -> str:
    """Scientific notation for FLOP counts.

    >>> format_flops(3.2e23)
    '3.20e+23 FLOPs'
    """
    if not _finite(flops):
        return "n/a"
    return f"{flops:.2e} FLOPs"


def significant(x: float, sig: int = 3) -> str:
    """``x`` with ``sig`` significant digits (whole numbers from 10^(sig-1) up), thousands separated.

    >>> significant(0.233), significant(25.68), significant(989.4), significant(1979.0), significant(0.000123)
    ('0.233', '25.7', '989', '1,979', '0.000123')
    """
    if not _finite(x):
        return "n/a"
    if x == 0:
        return "0"
    digits = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{digits}f}"


def format_tflops(flops_per_s: float | None) -> str:
    """A FLOP rate in TFLOP/s with three significant digits: a CPU's 0.233 is never rounded to 0.

    >>> format_tflops(2.33e11), format_tflops(989e12)
    ('0.233 TFLOP/s', '989 TFLOP/s')
    """
    return "n/a" if not _finite(flops_per_s) else f"{significant(flops_per_s / 1e12)} TFLOP/s"


def format_duration(seconds: float | None) -> str:
    """Seconds to a readable duration.

    >>> format_duration(90_000)
    '1.04 days'
    >>> format_duration(6_470_716_320)
    '74,892.55 days'
    """
    if not _finite(seconds):
        return "n/a"
    size = abs(seconds)  # thresholds on the magnitude: -1e305 s is not "-inf ms"
    if size >= 86_400:
        return f"{seconds / 86_400:,.2f} days"
    if size >= 3_600:
        return f"{seconds / 3_600:.2f} h"
    if size >= 60:
        return f"{seconds / 60:.1f} min"
    if size >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms"
