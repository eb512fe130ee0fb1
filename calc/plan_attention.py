"""Attention kernels in the cluster planner (``calc/plan.py``): the work a kernel executes and the rate it runs at.

The score products (QK^T and softmax x V: ``calc.compute.FlopsPerToken.attention_scores``) are timed apart from the
GEMMs of the layer, by the kernel the training stack used (``calc.plan.Stack.attention``):

- ``"unfused"``: Megatron-LM 2021/2022, metaseq, Megatron-DeepSpeed (BLOOM): QK^T as a batched GEMM (baddbmm), a
  fused scale-mask-softmax over the whole s x s matrix, then a batched GEMM with V. The GEMMs compute every
  element, masked or not: the full s x s work, at the GEMM efficiency of ``calc.plan.matmul_efficiency`` (the
  softmax's bytes are in ``calc.plan.elementwise_bytes``).
- a FlashAttention-style kernel (``"fa2"``, ``"cudnn"``, ``"fa3"``): with a causal mask it skips the key blocks
  above the diagonal (Dao-AILab/flash-attention csrc/flash_attn/src/flash_fwd_kernel.h at commit 0251105: under
  ``Is_causal`` query block m stops at key block ceil((m + 1) kBlockM / kBlockN)), so it executes the causal count,
  (s + 1) / 2 keys per query on average (``calc.compute.flops_per_token(causal=True)``; tests/test_plan_attention.py
  counts the blocks). Its backward pass recomputes the scores from the saved statistics: the kernels' benchmarks
  count it as 2.5 x the forward's FLOPs (flash-attention ``benchmarks/benchmark_flash_attention.py`` ``flops``:
  forward 4 b s^2 h d, halved when causal, backward 2.5 x, forward + backward 3.5 x; the FlashAttention-3 paper's
  figures are in the same units). It runs at the forward + backward rate measured for that kernel on that GPU with
  a causal mask at the job's sequence length (``ATTENTION_RATES``), as a share of the GPU's dense peak; a GPU
  without a row runs it at the GEMM efficiency (the FlashAttention-2 paper's abstract, Dao 2023: on A100 "reaching
  50-73% of the theoretical maximum FLOPs/s ... close to the efficiency of GEMM operations").
- ``"triton"``: the FlashAttention-1-era Triton kernel (HazyResearch flash-attention ``flash_attn/flash_attn_triton.py``,
  which llm-foundry copies as ``llmfoundry/models/layers/flash_attn_triton.py`` for ``attn_impl: triton``, run by the
  pre-MLIR Triton, "Tested with triton==2.0.0.dev20221202"). Its causal forward stops at the diagonal block and its
  backward starts there (``end_n`` / ``begin_m`` under ``IS_CAUSAL``): the causal count, as the flash kernels. Measured
  on A100 in the same flash-attention README figure as FlashAttention-2 ("FlashAttention Triton"); on H100 no published
  measurement was found, so the row is FlashAttention-1 (CUDA)'s measured H100 rate (the same figure for H100): both kernels are
  Ampere code (``mma.sync``, none of Hopper's ``wgmma`` / TMA), and on A100, where both are measured, the Triton kernel
  runs at 0.91-0.99x FlashAttention-1 (tests/test_plan_attention.py). MosaicML's own H100 table at 1k-64k tokens
  suggests the Triton kernel is somewhat faster than that stand-in at long sequences (tests/test_plan.py).

Which convention a publication's FLOP/s count is a separate question (``calc.plan_runs.ReportedRun.attention_flops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KERNELS = ("unfused", "fa2", "cudnn", "fa3", "triton")
#: FLOPs a FlashAttention backward executes per forward FLOP in the kernels' own benchmarks (the forward's score
#: products are recomputed: 2 x the forward for the gradients + 0.5 for QK^T again; benchmark_flash_attention.py).
FLASH_BWD_FACTOR = 2.5

_FA3 = ("Shah et al. 2024, 'FlashAttention-3: Fast and Accurate Attention with Asynchrony and Low-precision', H100 80GB "
        "SXM5, BF16, head dim 128, batch x sequence = 16k tokens, hidden 2048: the forward speed with and without a "
        "causal mask and the backward speed without one (its section 4.1 figures)")
_FA_README = ("Dao-AILab/flash-attention README.md 'Performance' (commit 0251105), head dim 128, hidden 2048, batch x "
              "sequence = 16k tokens, 'Attention forward + backward speed', panel (d) 'With causal mask, head dimension "
              "128'")
_FA2_README = _FA_README + ", FlashAttention-2: "

#: Sequence lengths of every measured row.
SEQS = (512, 1024, 2048, 4096, 8192, 16384)


@dataclass(frozen=True)
class KernelRates:
    """Forward + backward TFLOP/s of one attention kernel with a causal mask on one GPU, head dim 128, at ``SEQS``,
    in the flash-attention benchmarks' FLOP units (forward 4 b s^2 h d / 2, backward 2.5 x that; a
    forward + backward pass 3.5 x)."""

    fwd_bwd_causal: tuple[float, ...]
    peak_tflops: float  # the dense bf16 peak of the GPU it was measured on (``calc.gpus``)
    source: str

    def share(self, seq: int) -> float:
        """The rate at ``seq`` as a share of the peak: log-linear between the measured lengths, flat beyond them."""
        return float(np.interp(math.log(seq), np.log(SEQS), self.fwd_bwd_causal)) / self.peak_tflops


def causal_fwd_bwd(fwd: tuple[float, ...], fwd_causal: tuple[float, ...], bwd: tuple[float, ...]) -> tuple[float, ...]:
    """Forward + backward rate with a causal mask from the FlashAttention-3 paper's three series (it publishes no
    causal backward): 3.5 / (1 / fwd_c + 2.5 / bwd_c), the causal backward taken as the backward without a mask times
    the causal forward's ratio to the forward without one at that length (an assumption; checked against
    FlashAttention-2's measured forward + backward in tests/test_plan_attention.py)."""
    return tuple(round((1 + FLASH_BWD_FACTOR) / (1 / fc + FLASH_BWD_FACTOR / (b * fc / f)), 1)
                 for f, fc, b in zip(fwd, fwd_causal, bwd, strict=True))


#: The FlashAttention-3 paper's H100 series (forward without mask, forward with, backward without), TFLOP/s at ``SEQS``.
FA3_PAPER_H100 = {
    "fa2": ((309, 350, 362, 368, 370, 370), (191, 260, 298, 319, 333, 335), (214, 260, 291, 310, 318, 322)),
    "cudnn": ((497, 574, 617, 609, 600, 595), (315, 410, 484, 518, 529, 539), (305, 408, 465, 499, 518, 516)),
    "fa3": ((467, 565, 625, 638, 646, 648), (292, 423, 521, 579, 602, 616), (316, 424, 501, 542, 559, 561)),
}
_H100_PEAK = 989.4  # H100 SXM dense bf16 TFLOP/s (calc.gpus)
_A100_PEAK = 312.0
#: (kernel, ``calc.gpus`` name) -> measured rates. FlashAttention-2 and the Triton kernel are measured forward + backward
#: with a causal mask (the flash-attention README's figures); cuDNN and FlashAttention-3 combine the FA3 paper's series.
ATTENTION_RATES: dict[tuple[str, str], KernelRates] = {
    ("fa2", "A100 SXM 80GB"): KernelRates((99, 133, 155, 173, 182, 189), _A100_PEAK,
                                          _FA2_README + "A100 80GB SXM4 (assets/flash2_a100_fwd_bwd_benchmark.png)"),
    ("fa2", "H100 SXM"): KernelRates((163, 221, 265, 294, 308, 328), _H100_PEAK,
                                     _FA2_README + "H100 80GB SXM5 (assets/flash2_h100_fwd_bwd_benchmark.png)"),
    ("cudnn", "H100 SXM"): KernelRates(causal_fwd_bwd(*FA3_PAPER_H100["cudnn"]), _H100_PEAK, _FA3 + ": cuDNN"),
    ("fa3", "H100 SXM"): KernelRates(causal_fwd_bwd(*FA3_PAPER_H100["fa3"]), _H100_PEAK, _FA3 + ": FlashAttention-3"),
}
#: FlashAttention-1 (CUDA, flash-attn 1.x) with a causal mask, forward + backward, head dim 128, in the H100 figure of
#: the same README panel (d): the Triton kernel's H100 stand-in (see the module docstring).
FA1_H100_CAUSAL = (98, 109, 108, 126, 135, 137)
ATTENTION_RATES[("triton", "A100 SXM 80GB")] = KernelRates(
    (50, 61, 68, 74, 78, 80), _A100_PEAK,
    _FA_README + ", 'FlashAttention Triton' (flash_attn/flash_attn_triton.py), A100 80GB SXM4 "
    "(assets/flash2_a100_fwd_bwd_benchmark.png)")
ATTENTION_RATES[("triton", "H100 SXM")] = KernelRates(
    FA1_H100_CAUSAL, _H100_PEAK,
    _FA_README + ", 'FlashAttention' (FlashAttention-1, CUDA), H100 80GB SXM5 (assets/flash2_h100_fwd_bwd_benchmark.png): "
    "no published H100 measurement of the Triton kernel was found; FlashAttention-1 stands in for it (both Ampere code; on A100 "
    "the Triton kernel measures 0.91-0.99x FlashAttention-1 in the same panel)")
#: The A100 40GB runs the same SMs at the same clocks as the 80GB (HBM 1.56 against 2.04 TB/s): the 80GB's rates.
ATTENTION_RATES[("fa2", "A100 SXM 40GB")] = ATTENTION_RATES[("fa2", "A100 SXM 80GB")]
ATTENTION_RATES[("triton", "A100 SXM 40GB")] = ATTENTION_RATES[("triton", "A100 SXM 80GB")]


def kernel_rates(kernel: str, gpu_name: str) -> KernelRates | None:
    """The measured rates of ``kernel`` on ``gpu_name``, or None (no row: the GEMM efficiency applies)."""
    if kernel not in KERNELS:
        raise ValueError(f"attention kernel must be one of {', '.join(KERNELS)}, got {kernel!r:.40}")
    return ATTENTION_RATES.get((kernel, gpu_name))


def attention_seconds(fwd_flops: float, fwd_causal_flops: float, kernel: str, gpu_name: str, peak: float,
                      gemm_efficiency: float, seq: int, recomputed: bool) -> tuple[float, float]:
    """(seconds, executed FLOPs) of the score products of one training token whose forward counts ``fwd_flops``
    (every query against all keys) or ``fwd_causal_flops`` (the causal count), on a GPU of dense ``peak`` FLOP/s.
    ``recomputed``: activation recompute runs the forward once more. Unfused: the full count, forward + backward
    (2 x) + recompute, at ``gemm_efficiency``; flash: the causal count, forward + ``FLASH_BWD_FACTOR`` x backward +
    recompute, at the kernel's measured forward + backward rate (``ATTENTION_RATES``; without a row, at
    ``gemm_efficiency``)."""
    if kernel == "unfused":
        executed = fwd_flops * (3 + recomputed)
        return executed / (peak * gemm_efficiency), executed
    executed = fwd_causal_flops * (1 + FLASH_BWD_FACTOR + recomputed)
    rates = kernel_rates(kernel, gpu_name)
    share = gemm_efficiency if rates is None else rates.share(seq)
    return executed / (peak * share), executed
