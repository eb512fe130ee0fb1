"""Numeric formats used for weights, gradients, optimizer states and caches, stored in bits.

Widths are bits, never integer-divided to bytes (``int4`` is 4 bits = 0.5 B). The sign,
exponent and mantissa split is the IEEE 754 / vendor definition; range and epsilon are read from
``numpy.finfo`` (fp32, fp16) and ``ml_dtypes.finfo`` (bf16, fp8 e4m3fn / e5m2) so they are
computed, not typed in. Sources: IEEE 754-2008; Micikevicius et al. 2022 "FP8 Formats for Deep
Learning" (e4m3 / e5m2); NVIDIA A100 whitepaper (TF32: fp32 storage, 10-bit mantissa in the
tensor cores); Dettmers et al. 2023 "QLoRA" (NF4, double quantization); OCP Microscaling Formats (MX)
Specification v1.0, 2023 (FP4 E2M1 elements, MXFP4: 32 elements per E8M0 scale); NVIDIA Blackwell
architecture technical brief (NVFP4: 16 elements per E4M3 scale). Block formats count the scale's bits
shared by the block into ``bits`` (MXFP4 4.25, NVFP4 4.5; the gguf package's MXFP4 and NVFP4 blocks agree).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    """One storage/compute format. ``bits`` is the stored width per element."""

    name: str
    bits: float
    kind: str  # "float", "int", "lookup" (nf4: 16 values from a normal-quantile table) or "block" (shared scale)
    sign_bits: int | None
    exponent_bits: int | None
    mantissa_bits: int | None
    finfo_source: str | None  # "numpy:<name>" or "ml_dtypes:<name>" or None
    note: str

    @property
    def bytes_per_element(self) -> float:
        """Bytes per element (may be fractional: int4 = 0.5)."""
        return self.bits / 8


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("fp32", 32, "float", 1, 8, 23, "numpy:float32", "IEEE 754 binary32."),
        DType("tf32", 32, "float", 1, 8, 10, None,
              "A tensor-core compute mode: stored as fp32 (4 B), multiplied with a 10-bit mantissa."),
        DType("bf16", 16, "float", 1, 8, 7, "ml_dtypes:bfloat16",
              "fp32's exponent (same range), 7 mantissa bits: coarse but rarely overflows."),
        DType("fp16", 16, "float", 1, 5, 10, "numpy:float16",
              "IEEE binary16: finer than bf16, max 65,504, so training needs loss scaling."),
        DType("fp8_e4m3", 8, "float", 1, 4, 3, "ml_dtypes:float8_e4m3fn",
              "FP8 for weights/activations (no infinities, max 448)."),
        DType("fp8_e5m2", 8, "float", 1, 5, 2, "ml_dtypes:float8_e5m2", "FP8 for gradients (wider range)."),
        DType("int8", 8, "int", 1, None, None, None, "Integer, needs a scale per tensor/channel/block."),
        DType("int4", 4, "int", 1, None, None, None, "Integer, needs a scale per block."),
        DType("nf4", 4, "lookup", None, None, None, None,
              "QLoRA NormalFloat4: 16 levels at normal quantiles, plus block scales."),
        DType("fp4_e2m1", 4, "float", 1, 2, 1, "ml_dtypes:float4_e2m1fn",
              "OCP FP4 element: 15 values up to +-6, no infinities or NaN; Blackwell tensor cores compute in it. "
              "Used with a block scale (MXFP4, NVFP4)."),
        DType("mxfp4", 4 + 8 / 32, "block", 1, 2, 1, "ml_dtypes:float4_e2m1fn",
              "OCP Microscaling MXFP4: 32 FP4 (E2M1) elements share one 8-bit power-of-two (E8M0) scale, 4 + 8/32 "
              "bits; gpt-oss ships its MoE weights in it. Range and eps are the element's; the scale shifts them."),
        DType("nvfp4", 4 + 8 / 16, "block", 1, 2, 1, "ml_dtypes:float4_e2m1fn",
              "NVIDIA NVFP4: 16 FP4 (E2M1) elements share an FP8 (E4M3) scale, 4 + 8/16 bits, plus one fp32 scale "
              "per tensor; Blackwell. Range and eps are the element's; the scales shift them."),
    )
}

#: Aliases accepted wherever a dtype name is asked for.
ALIASES = {"fp8": "fp8_e4m3", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "half": "fp16"}


def get_dtype(name: str) -> DType:
    """Look a dtype up by name or alias; a ``ValueError`` lists the valid names."""
    key = ALIASES.get(name, name)
    if key not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES) + sorted(ALIASES)}, got {name!r}")
    return DTYPES[key]


@functools.lru_cache(maxsize=64)
def dtype_bits(name: str) -> float:
    """Stored bits per element (memoized per name: every memory breakdown asks several times, issue 18).

    >>> dtype_bits("bf16"), dtype_bits("int4")
    (16, 4)
    """
    return get_dtype(name).bits


@dataclass(frozen=True)
class FloatInfo:
    """Range and precision of a float format, as numpy / ml_dtypes ``finfo`` report them."""

    max: float
    smallest_normal: float
    eps: float
    decimal_digits: float


def float_info(name: str) -> FloatInfo | None:
    """``finfo`` of a float dtype, or ``None`` where none applies (integers, nf4, tf32).

    tf32 has no storage type; its eps would be 2**-10 with fp32's range.
    """
    d = get_dtype(name)
    if d.finfo_source is None:
        return None
    lib, attr = d.finfo_source.split(":")
    if lib == "numpy":
        import numpy as np

        fi = np.finfo(getattr(np, attr))
    else:
        import ml_dtypes

        fi = ml_dtypes.finfo(getattr(ml_dtypes, attr))
    return FloatInfo(
        max=float(fi.max),
        smallest_normal=float(fi.smallest_normal),
        eps=float(fi.eps),
        decimal_digits=float(fi.precision),
    )
