"""Matmul throughput: shapes to sweep, FLOPs of a matmul, and one timed measurement.

FLOPs of an (m x k) @ (k x n) matmul = 2mnk: m x n outputs, each k multiplies and k adds
(the convention of every vendor peak and of ml-engineering's mamf-finder). TFLOPS = 2mnk / median
seconds / 1e12. The best figure over a sweep of shapes is the "maximum achievable matmul FLOPS"
(MAMF, Stas Bekman, ml-engineering, compute/accelerator): it is what a training or prefill estimate
should divide by, instead of the datasheet peak.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from calc.models import ModelSpec
from measure.backends import IN_BITS, OUT_BITS, time_op

MAX_DIM = 2**18


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of (m x k) @ (k x n): 2mnk.

    >>> matmul_flops(4096, 4096, 4096)
    137438953472
    """
    return 2 * m * n * k


@dataclass(frozen=True)
class Shape:
    """One GEMM, (m x k) @ (k x n); ``label`` names where it comes from ("square", "QKV", ...)."""

    m: int
    n: int
    k: int
    label: str = "square"

    def __post_init__(self):
        for dim in ("m", "n", "k"):
            v = getattr(self, dim)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DIM:
                raise ValueError(f"matmul dimension {dim} must be a whole number in [1, {MAX_DIM:,}], got {v!r:.40}")

    @property
    def flops(self) -> int:
        return matmul_flops(self.m, self.n, self.k)

    def bytes(self, dtype: str) -> int:
        """Memory of A, B and the output: (mk + kn) x input bits / 8 + mn x output bits / 8."""
        return ((self.m * self.k + self.k * self.n) * IN_BITS[dtype] + self.m * self.n * OUT_BITS[dtype]) // 8

    @property
    def text(self) -> str:
        return f"{self.m}x{self.n}x{self.k}"


def square_shapes(sizes) -> list[Shape]:
    """n x n x n matmuls for each size."""
    return [Shape(int(s), int(s), int(s), "square") for s in sizes]


def model_shapes(spec: ModelSpec, tokens: int) -> list[Shape]:
    """The GEMMs of one decoder layer of ``spec`` (and its output head) on ``tokens`` tokens.

    m = tokens, k = input features, n = output features, as ``nn.Linear`` runs them. Q, K, V are fused
    into one GEMM and gate + up into one, as vLLM and TensorRT-LLM fuse them. A MoE expert sees on average
    tokens x k / E tokens (uniform routing), rounded up. MLA (DeepSeek-V3) lists its low-rank projections.
    """
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_DIM:
        raise ValueError(f"tokens must be a whole number in [1, {MAX_DIM:,}], got {tokens!r:.40}")
    h, t = spec.hidden_size, tokens
    out: list[Shape] = []
    if spec.is_mla:
        if spec.q_lora_rank:
            out += [Shape(t, spec.q_lora_rank, h, "q down"), Shape(t, spec.q_dim, spec.q_lora_rank, "q up")]
        else:
            out.append(Shape(t, spec.q_dim, h, "q"))
        out.append(Shape(t, spec.kv_lora_rank + spec.qk_rope_head_dim, h, "kv down"))
        out.append(Shape(t, spec.num_heads * (spec.qk_nope_head_dim + spec.v_head_dim), spec.kv_lora_rank, "kv up"))
    else:
        out.append(Shape(t, spec.q_dim + 2 * spec.kv_dim, h, "QKV"))
    out.append(Shape(t, h, spec.attn_out_dim, "attention output"))
    up = 2 if spec.gated_mlp else 1
    has_dense = not spec.is_moe or any(not spec.layer_is_moe(i) for i in range(spec.num_layers))
    if has_dense:
        f = spec.intermediate_size
        out += [Shape(t, up * f, h, "MLP gate+up" if up == 2 else "MLP up"), Shape(t, h, f, "MLP down")]
    if spec.is_moe:
        te = math.ceil(t * spec.experts_per_token / spec.num_experts)
        fe = spec.moe_intermediate_size
        out += [Shape(te, up * fe, h, "expert gate+up"), Shape(te, h, fe, "expert down")]
    out.append(Shape(t, spec.vocab_size, h, "LM head"))
    return out


@dataclass(frozen=True)
class MatmulResult:
    """One measured GEMM. ``peak_flops_per_s`` is the catalog's dense peak of the same dtype, if known."""

    backend: str
    device: str
    dtype: str
    m: int
    n: int
    k: int
    label: str
    runs: int
    median_s: float
    min_s: float
    peak_flops_per_s: float | None = None

    @property
    def flops(self) -> int:
        return matmul_flops(self.m, self.n, self.k)

    @property
    def flops_per_s(self) -> float:
        return self.flops / self.median_s

    @property
    def tflops(self) -> float:
        return self.flops_per_s / 1e12

    @property
    def fraction_of_peak(self) -> float | None:
        return self.flops_per_s / self.peak_flops_per_s if self.peak_flops_per_s else None

    def record(self) -> dict:
        """A flat dict for tables, CSV and JSON."""
        frac = self.fraction_of_peak
        return {"backend": self.backend, "device": self.device, "dtype": self.dtype, "shape": self.label,
                "m": self.m, "n": self.n, "k": self.k, "flops": self.flops, "runs": self.runs,
                "median_s": self.median_s, "min_s": self.min_s, "tflops": self.tflops,
                "peak_tflops": self.peak_flops_per_s / 1e12 if self.peak_flops_per_s else None,
                "pct_of_peak": 100 * frac if frac is not None else None}


def measure_matmul(backend, shape: Shape, dtype: str, runs: int = 20, warmup: int = 3, flush_l2: bool = False,
                   deadline: float | None = None, cancel=None, peak_flops_per_s: float | None = None,
                   seed: int = 0) -> MatmulResult:
    """Time ``shape`` in ``dtype`` on ``backend``: warm-up, then the median of ``runs`` timed runs."""
    op = backend.matmul_op(shape.m, shape.n, shape.k, dtype, seed=seed)
    flush = backend.flush_op() if flush_l2 else None
    try:
        with backend.precision(dtype):
            times = time_op(op, backend.timer(), runs, warmup, flush=flush, deadline=deadline, cancel=cancel)
    finally:
        del op, flush
        backend.release()
    return MatmulResult(backend.name, backend.info.name, dtype, shape.m, shape.n, shape.k, shape.label,
                        len(times), statistics.median(times), min(times), peak_flops_per_s)
