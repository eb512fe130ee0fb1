"""Training-cluster planner: the time of one training iteration of a parallel layout, and a search over layouts.

A layout is (tp, pp, dp, cp, ep, vpp, micro_batch, recompute, zero) on ``tp * pp * cp * dp`` GPUs; expert
parallelism ``ep`` is carved out of the data-parallel ranks (Megatron-Core: ``ep`` divides ``dp``).
The step time of one iteration (``step_time``) is the sum of what one GPU waits for:

- compute: the GEMM FLOPs the GPU executes (``calc.compute.flops_per_token`` without the attention score products:
  model FLOPs x 3 for training plus the recomputed forward work; under a stack with torchtitan's per-op selective
  recompute, the matmuls it re-runs, ``_op_recomputed_flops``, and all the memory-bound work as full recompute) /
  (dense peak x ``matmul_efficiency``: a fitted share of the GPU's measured maximum achievable matmul rate,
  ``calc.gpus.MAMF_FLOPS_PER_S``), plus the score products (QK^T, softmax x V) as the stack's attention kernel runs
  them (``calc.plan_attention``, ``Stack.attention``): an unfused kernel (Megatron-LM 2021/2022, metaseq, BLOOM)
  computes the full s x s at the same GEMM efficiency; a flash kernel with a causal mask executes the causal half
  (plus its backward's recomputed scores) at its measured forward + backward rate on that GPU (FlashAttention-2 and
  llm-foundry's FlashAttention-1-era Triton kernel on A100 / H100, cuDNN and FlashAttention-3 on H100; the GEMM
  efficiency where there is no row; the Triton kernel's H100 row is FlashAttention-1's, standing in). Every GPU gets
  1/N of the work (Narayanan et al. 2021's accounting; the output head's imbalance on the last stage is not modelled).
- memory-bound work between the matmuls (``elementwise_bytes``: norms, residual adds, dropout masks, the
  activation function, and without FlashAttention the s x s softmax; ``elementwise_backward_bytes`` its backward),
  sized from the model and what the training ``Stack`` did (sequence parallelism splits the norms over tp; fused
  kernels or eager PyTorch's one kernel per op, ``Stack.fused_elementwise``), at ``MEMORY_EFFICIENCY`` of the HBM
  bandwidth. Eager kernels were measured (tests/test_plan_eager.py: an MPT block under ``TorchDispatchMode``): they
  move 0.89x the bytes the fused model assumes for MPT-7B, not more, because without biases and dropout its eager
  forward is the fused one op for op and its backward reads less than the fused model's 2x the forward.
- tensor parallelism (Megatron-LM with sequence parallelism, Korthikanti et al. 2022 sec. 4.2.2): per layer
  and micro-batch 2 all-gathers + 2 reduce-scatters of the ``b s h`` activation in the forward pass and as
  many in the backward pass; full recompute re-runs the forward ones. Not overlapped (exposed).
- context parallelism: per attention layer the K and V of the other ``cp - 1`` ranks arrive in the forward
  pass (an all-gather, as Llama 3's all-gather CP, Dubey et al. 2024 sec. 3.3.2) and their gradients leave in
  the backward pass (a reduce-scatter). Exposed.
- expert parallelism: per MoE layer a dispatch and a combine all-to-all of the routed tokens (b s k h) in
  the forward pass and two in the backward pass. Exposed.
- pipeline: point-to-point sends of the ``b s h / tp`` activation at every stage boundary, forward and
  backward, ``vpp`` times per micro-batch; and the bubble: the pipelined part of the step is stretched by
  (p - 1) / (m v) (Narayanan et al. 2021 sec. 2.2.2, m micro-batches per pipeline, v chunks per GPU).
- data parallelism: the gradients are reduce-scattered and the updated 16-bit parameters all-gathered over
  ``dp`` (ZeRO-1 / Megatron's distributed optimizer; plain all-reduce moves the same bytes), the gradients in the
  stack's reduce dtype (``Stack.reduce_bytes``: fp32 for FSDP's reduce_dtype float32, torchtitan and Composer). The
  reduce-scatter hides behind the backward pass of the last micro-batch and the all-gather behind the forward
  pass of the first (``DP_OVERLAP``; Megatron-LM ``--overlap-grad-reduce --overlap-param-gather``), unit by unit
  (one per layer): the first unit's collective and whatever does not fit are exposed (``_overlapped_s``). ZeRO-3
  all-gathers the parameters for every micro-batch's forward and again for its backward, where each micro-batch's
  gradients are also reduce-scattered over the same link (``_zero3_exposed_s``).
- optimizer: memory-bound, ``OPTIMIZER_BYTES_PER_PARAM`` bytes of HBM traffic per parameter the GPU updates.

Collectives follow nccl-tests' bus-bandwidth conventions (NVIDIA/nccl-tests ``doc/PERFORMANCE.md``): an
all-reduce of S bytes over n ranks moves 2 (n - 1) / n x S per rank, an all-gather, a reduce-scatter or an
all-to-all (n - 1) / n x S (S the whole gathered buffer), each at the link's bus bandwidth. A group inside a
node uses the intra-node link (NVLink/NVSwitch, Infinity Fabric or PCIe), a group that spans nodes the
network bandwidth per GPU (``LINKS``).

MFU counts model FLOPs, HFU the FLOPs of the model with recompute (Chowdhery et al. 2022 "PaLM" Appendix B;
Korthikanti et al. 2022 sec. 6), both with every query against all s keys, however much of it a kernel executes
(a publication that counts causally: ``calc.plan_runs.ReportedRun.attention_flops``). Memory per GPU is
``calc.memory.training_memory`` of the layout (context parallelism counted as a sequence of ``seq / cp`` per GPU;
expert parallelism divides the expert states ZeRO does not shard by ``ep``, the sharded ones being 1 / (dp cp) already; interleaving scales the activations by 1 + (p - 1) / (p v), Korthikanti et al. 2022
sec. 4.2.3), plus, with ZeRO <= 1, what the stack's whole gradient buffer holds beyond 16-bit gradients
(``Stack.grad_bytes``: Megatron's fp32 main grads, BLOOM's fp32 accumulation buffer). Selective recompute is
Megatron-LM's (only the attention core re-run) unless the stack says torchtitan's per-op policy
(``Stack.selective``, ``calc.activations.op_selective_terms``). A stack that aborts without its fused softmax kernel
(BLOOM's Megatron-DeepSpeed) leaves out the layouts the kernel refuses (``Stack.fused_softmax_required``,
``softmax_problem``).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import astuple, dataclass, replace
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from calc.activations import layer_groups, op_selective_recomputed_params
from calc.compute import SECONDS_PER_DAY, SECONDS_PER_HOUR, flops_per_token
from calc.gpus import DEFAULT_CEILING, GPU, matmul_ceiling
from calc.kvcache import attention_kinds
from calc.memory import TrainingSetup, training_memory
from calc.models import ModelSpec, param_counts
from calc.parallel import tp_problem, valid_tps
from calc.plan_attention import attention_seconds

RECOMPUTE = ("none", "selective", "full")
PRECISIONS = ("bf16", "fp8")

#: Share of the GPU's maximum achievable matmul rate (``MAMF``) that a layer's matmuls sustain, growing with the
#: width of the matmul one GPU runs relative to the GPU's ridge point (x = hidden / tp / (peak / HBM bandwidth)):
#: e(x) = ceiling x E_MAX x / (x + X_HALF), ceiling = MAMF / dense peak of the GPU and precision. The two constants
#: are fitted (least squares on the log of the ratio) on Narayanan et al. 2021 Table 1's six largest rows (39.1B-1T,
#: A100, the FLOP/s they report include recompute) with this module's communication and memory-bound model and their
#: stack (``STACKS["megatron-2021"]``); every other published run in tests/test_plan.py is held out (Table 1's four
#: smaller rows too), and that test refits the constants. ``Job(matmul_efficiency=...)`` replaces the curve by one
#: number (e.g. a measured matmul rate / peak).
E_MAX = 0.81
X_HALF = 0.95

def matmul_efficiency(hidden: int, tp: int, ridge: float, e_max: float | None = None,
                      x_half: float | None = None, ceiling: float = DEFAULT_CEILING) -> float:
    """e(x) = ceiling e_max x / (x + x_half), x = (hidden / tp) / ridge: the width of the matmuls one GPU runs over
    the GPU's ridge point (dense peak FLOP/s / HBM bytes/s for the precision, where the roofline turns: Williams et
    al. 2009). A GPU with more FLOPs per byte (H100: 295, A100: 153) needs wider matmuls for the same share.
    ``ceiling``: the GPU's maximum achievable matmul rate over its peak (``matmul_ceiling``).

    >>> round(matmul_efficiency(25600, 8, 312e12 / 2.039e12), 3)  # Megatron's 1T model on A100s, tp 8
    0.673
    """
    e_max = E_MAX if e_max is None else e_max
    x_half = X_HALF if x_half is None else x_half
    x = hidden / tp / ridge
    return ceiling * e_max * x / (x + x_half)


#: Memory-bound work between the GEMMs (norms, residual adds, dropout masks, activation functions and, without
#: FlashAttention, the materialised s x s softmax) moves its bytes at this share of the HBM bandwidth (the same
#: share the serving model assumes for decode; Megatron-LM's fused kernels are bandwidth-bound). Not fitted.
MEMORY_EFFICIENCY = 0.8
#: The backward pass of an elementwise op reads the incoming gradient and the saved input(s) and writes the
#: gradient: about twice the forward's traffic (a norm's backward reads x, dy and the statistics, writes dx).
BWD_BYTES_FACTOR = 2.0
#: Bytes of a 1-byte dropout mask element (``torch.bool``, what ``aten.native_dropout`` writes and its backward reads).
MASK_BYTES = 1

#: Whether DP collectives overlap with the backward / forward pass of one micro-batch (see module docstring).
DP_OVERLAP = True

#: HBM traffic of one AdamW step per parameter: read fp32 master, momentum, variance (12 B) and the gradient
#: (4 B, fp32 main grads as Megatron keeps them), write master, momentum, variance (12 B) and the 16-bit
#: weight (2 B): 30 B.
OPTIMIZER_BYTES_PER_PARAM = 30

#: Bytes of a 16-bit activation or gradient element.
ACT_BYTES = 2
GRAD_BYTES = 2
#: Megatron-LM with bf16 accumulates and reduces gradients in an fp32 main-grad buffer kept whole (4 B per
#: parameter; docs/source/api-guide/dist_optimizer.md: "bf16 params, fp32 grads" 18 B -> 6 + 12/d with the
#: distributed optimizer, where calc.memory's mixed precision counts 4 + 12/d): the stack of ``Stack``-less plans.
MEGATRON_GRAD_BYTES = 4


@dataclass(frozen=True)
class Links:
    """Bus bandwidth per GPU, bytes/s, one direction: inside a node and across nodes; with their source."""

    intra_bytes_per_s: float
    inter_bytes_per_s: float
    source: str


_NVL = "NVIDIA datasheet NVLink bandwidth (bidirectional total, halved for one direction)"
#: Per-GPU link bandwidths keyed by ``calc.gpus`` names (GB = 1e9 B/s, one direction). Inter-node is the
#: NIC per GPU of the reference system (DGX A100: 8x 200 Gb/s HDR; DGX H100/H200: 8x 400 Gb/s NDR; DGX
#: B200: 8x 400 Gb/s; MI300X platform: 8x 400 Gb/s). Override with ``Cluster(intra_..., inter_...)``.
LINKS: dict[str, Links] = {
    "A100 SXM 40GB": Links(300e9, 25e9, _NVL + ": NVLink 3 600 GB/s; DGX A100 HDR 200 Gb/s per GPU"),
    "A100 SXM 80GB": Links(300e9, 25e9, _NVL + ": NVLink 3 600 GB/s; DGX A100 HDR 200 Gb/s per GPU"),
    "A100 PCIe 40GB": Links(32e9, 25e9, "PCIe Gen4 x16 32 GB/s per direction; 200 Gb/s NIC per GPU"),
    "A100 PCIe 80GB": Links(32e9, 25e9, "PCIe Gen4 x16 32 GB/s per direction; 200 Gb/s NIC per GPU"),
    "H100 SXM": Links(450e9, 50e9, _NVL + ": NVLink 4 900 GB/s; DGX H100 NDR 400 Gb/s per GPU"),
    "H100 PCIe": Links(64e9, 50e9, "PCIe Gen5 x16 64 GB/s per direction; 400 Gb/s NIC per GPU"),
    "H200": Links(450e9, 50e9, _NVL + ": NVLink 4 900 GB/s; DGX H200 NDR 400 Gb/s per GPU"),
    "B200": Links(900e9, 50e9, _NVL + ": NVLink 5 1.8 TB/s; DGX B200 400 Gb/s per GPU"),
    "B300": Links(900e9, 100e9, _NVL + ": NVLink 5 1.8 TB/s; ConnectX-8 800 Gb/s per GPU"),
    "GB200": Links(900e9, 100e9, _NVL + ": NVLink 5 1.8 TB/s; ConnectX-8 800 Gb/s per GPU (NVL72 node)"),
    "MI300X": Links(448e9, 50e9, "AMD MI300X datasheet: 7 Infinity Fabric links x 64 GB/s; 400 Gb/s NIC per GPU"),
    "MI325X": Links(448e9, 50e9, "AMD MI325X datasheet: 7 Infinity Fabric links x 64 GB/s; 400 Gb/s NIC per GPU"),
}
#: A GPU without a row: PCIe Gen4 inside the node and a 100 Gb/s NIC (a stated guess; override it).
DEFAULT_LINKS = Links(32e9, 12.5e9, "fallback: PCIe Gen4 x16 and 100 Gb/s Ethernet per GPU (assumption)")


@dataclass(frozen=True)
class MeasuredLink:
    """NCCL's bus bandwidth (nccl-tests' busbw) measured on one node of 8 GPUs at a large payload, where latency no
    longer counts, beside the datasheet figure (one direction) it is a share of."""

    busbw_bytes_per_s: float
    spec_bytes_per_s: float
    source: str

    @property
    def share(self) -> float:
        return self.busbw_bytes_per_s / self.spec_bytes_per_s


_STAS = ("stas00/ml-engineering network/README.md (commit 744d01e), 'Real network throughput': busbw at 16 GiB, "
         "8 GPUs, against the unidirectional spec")
#: Achievable intra-node bus bandwidth, measured (an option: ``Cluster(measured_links=True)``). The default stays the
#: datasheet (``LINKS``): with these rates Table 1's least-squares fit moves X_HALF from 0.95 to 0.65 (E_MAX 0.81, rms
#: 1.3% either way), and after that refit no held-out run moves by more than 2.2 points or crosses 15% either way
#: (BLOOM's tp 8 row +21.3%, was +21.1%; MPT-7B on 8 / 512 H100 +7% / +12%, was +5% / +11%; Llama 3 at 131k +18.5%,
#: was +17.9%), and the best-layout bounds loosen (torchtitan's 8B 1.243x -> 1.253x, MPT-7B on 128 A100 1.177x ->
#: 1.191x). A busbw that also falls with the payload (the A100 curve of the same source: 177 GB/s at 128 MiB) made the
#: refit worse (rms 2.1%) and put OPT-175B (+15.4%) outside 15%. Without a refit the option moves BLOOM's tp 8 row the
#: measured way (+19.0%; tests/test_plan_links.py). Ring figures only:
#: NVLink SHARP (NVLS) reduces inside the switch, so its all-reduce busbw (~480 GB/s on 8 H100 or H200) exceeds the
#: wire and says nothing about the all-gathers and reduce-scatters the planner times. B200 has no row: the source's
#: 8x B200 figure (845.67 GB/s, 94% of 900) does not say whether NVLS ran.
MEASURED_INTRA: dict[str, MeasuredLink] = {
    "A100 SXM 40GB": MeasuredLink(234.89e9, 300e9, _STAS + ": A100 node, nccl-tests all_reduce_perf, 78% of 300 GB/s"),
    "A100 SXM 80GB": MeasuredLink(234.89e9, 300e9, _STAS + ": A100 node, nccl-tests all_reduce_perf, 78% of 300 GB/s"),
    "H100 SXM": MeasuredLink(370e9, 450e9, "NVIDIA/nccl-tests issue 212, S. Jeaugey (NCCL), 2024-05-06: '450GB/s is "
                             "the line rate. With the protocol overhead (~20%) NCCL can get an effective NVLink "
                             "bandwidth of 370GB/s', the busbw of non-allreduce operations or of NCCL_ALGO=RING"),
    "H200": MeasuredLink(367.61e9, 450e9, _STAS + ": 8x H200, all_reduce_bench.py with NCCL_NVLS_ENABLE=0 (ring), 82% of "
                         "450 GB/s"),
}


@dataclass(frozen=True)
class Cluster:
    gpu: GPU
    num_gpus: int
    gpus_per_node: int = 8
    intra_bytes_per_s: float | None = None  # None: LINKS[gpu.name]
    inter_bytes_per_s: float | None = None
    price_per_gpu_hour: float = 0.0
    matmul_ceiling: float | None = None  # None: ``matmul_ceiling(gpu, precision)`` (the MAMF table)
    #: the intra-node link at NCCL's measured bus bandwidth (``MEASURED_INTRA``) instead of the datasheet's, where the
    #: GPU has a row; a typed ``intra_bytes_per_s`` still wins
    measured_links: bool = False
    #: the catalog GPU whose measured attention-kernel rates (``calc.plan_attention.ATTENTION_RATES``, shares of
    #: its peak) apply; None: this GPU's own name
    attention_gpu: str | None = None

    @property
    def links(self) -> Links:
        base = LINKS.get(self.gpu.name, DEFAULT_LINKS)
        measured = MEASURED_INTRA.get(self.gpu.name) if self.measured_links else None
        if measured is not None:
            base = Links(measured.busbw_bytes_per_s, base.inter_bytes_per_s,
                         f"measured: {measured.source}; inter-node: {base.source}")
        return Links(self.intra_bytes_per_s or base.intra_bytes_per_s, self.inter_bytes_per_s or base.inter_bytes_per_s,
                     base.source)


@dataclass(frozen=True)
class Job:
    seq_len: int
    global_batch_tokens: int
    precision: str = "bf16"  # dtype of the matmul peak: bf16 or fp8
    tokens: float | None = None  # the training budget, for days and cost
    matmul_efficiency: float | None = None  # None: the curve ``matmul_efficiency``

    @property
    def global_batch(self) -> int:
        return self.global_batch_tokens // self.seq_len


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    micro_batch: int = 1
    recompute: str = "none"
    zero: int = 1

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp


@dataclass(frozen=True)
class Plan:
    """One layout's iteration: seconds per part (``breakdown``), utilisation and throughput."""

    layout: Layout
    breakdown: dict[str, float]
    model_flops: float  # per iteration, the whole job
    hardware_flops: float
    num_gpus: int
    peak_flops_per_s: float
    tokens_per_step: int
    memory_per_gpu_bytes: int | None = None

    @property
    def step_s(self) -> float:
        return sum(self.breakdown.values())

    @property
    def mfu(self) -> float:
        return self.model_flops / (self.num_gpus * self.step_s * self.peak_flops_per_s)

    @property
    def hfu(self) -> float:
        return self.hardware_flops / (self.num_gpus * self.step_s * self.peak_flops_per_s)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_s

    @property
    def model_tflops_per_gpu(self) -> float:
        return self.mfu * self.peak_flops_per_s / 1e12

    @property
    def hardware_tflops_per_gpu(self) -> float:
        return self.hfu * self.peak_flops_per_s / 1e12

    def days(self, tokens: float) -> float:
        return tokens / self.tokens_per_s / SECONDS_PER_DAY

    def cost_usd(self, tokens: float, price_per_gpu_hour: float) -> float:
        return tokens / self.tokens_per_s / SECONDS_PER_HOUR * self.num_gpus * price_per_gpu_hour


def _check(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r:.40}")
    return value


def check_layout(model: ModelSpec, cluster: Cluster, job: Job, lay: Layout) -> None:
    """``ValueError`` naming the knob when the layout cannot run the model on the cluster."""
    for name in ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch"):
        _check(name, getattr(lay, name), 1, 1_000_000)
    _check("zero", lay.zero, 0, 3)
    if lay.recompute not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE)}, got {lay.recompute!r:.40}")
    problem = tp_problem(model, lay.tp)
    if problem:
        raise ValueError(problem)
    if lay.gpus != cluster.num_gpus:
        raise ValueError(f"tp x pp x cp x dp = {lay.gpus} must equal the {cluster.num_gpus} GPUs")
    if lay.tp > cluster.gpus_per_node:
        raise ValueError(f"tp={lay.tp} must be <= the {cluster.gpus_per_node} GPUs of a node")
    if lay.pp * lay.vpp > model.num_layers + 2:
        raise ValueError(f"pp x vpp = {lay.pp * lay.vpp} must be <= the {model.num_layers} layers + 2 (a first "
                         "chunk holding only the embedding and a last one holding only the output head)")
    if lay.vpp > 1 and lay.pp == 1:
        raise ValueError("vpp > 1 needs pp > 1 (interleaved pipeline stages)")
    if job.seq_len % (2 * lay.cp) and lay.cp > 1:
        raise ValueError(f"cp={lay.cp}: the sequence {job.seq_len} must split into 2 x cp chunks")
    if lay.ep > 1 and (not model.is_moe or model.num_experts % lay.ep or lay.dp % lay.ep):
        raise ValueError(f"ep={lay.ep} must divide the experts ({model.num_experts if model.is_moe else 0}) "
                         f"and dp ({lay.dp})")
    if lay.pp > 1 and lay.zero >= 2:
        raise ValueError(f"zero={lay.zero} with pp={lay.pp}: pipeline engines take ZeRO stage 0 or 1")
    b = job.global_batch
    if b < 1 or b % (lay.dp * lay.micro_batch):
        raise ValueError(f"the global batch ({b} sequences) must be a multiple of dp x micro_batch = "
                         f"{lay.dp * lay.micro_batch}")
    if lay.vpp > 1 and (b // (lay.dp * lay.micro_batch)) % lay.pp:
        raise ValueError("interleaved stages (vpp > 1) need the micro-batch count to be a multiple of pp")


def batch_dp_note(sequences: int, gpus: int, seq_len: int) -> str | None:
    """A sentence when the global batch's sequence count caps data parallelism below what a batch of about that size
    could allow on ``gpus``, else None.

    Every data-parallel rank takes whole micro-batches, so ``dp x micro_batch`` divides the sequences and ``dp`` divides
    the GPUs (``candidate_layouts``): ``dp <= gcd(sequences, gpus)``. A batch typed in round millions of tokens often
    lands on an awkward count (4M tokens of 4,096 are 977 sequences, a prime: dp 1 on any cluster, and the search then
    spends every GPU on pipeline and context parallelism). The note names the next count that lifts the cap to the
    largest divisor of ``gpus`` not above the sequences.

    >>> print(batch_dp_note(977, 64, 4096))
    The batch is 977 sequences of 4,096 tokens: data parallelism must divide it, so dp is at most 1 on 64 GPUs (the rest is tensor, pipeline or context parallelism). 1,024 sequences (4.19 million tokens) would allow dp up to 64.
    >>> print(batch_dp_note(24_414_062, 64, 4096))  # 1e11 tokens: billions, not '1e+05 million'
    The batch is 24,414,062 sequences of 4,096 tokens: data parallelism must divide it, so dp is at most 2 on 64 GPUs (the rest is tensor, pipeline or context parallelism). 24,414,080 sequences (100 billion tokens) would allow dp up to 64.
    >>> batch_dp_note(1024, 64, 4096), batch_dp_note(2048, 16384, 8192)  # no cap; dp <= 2,048 sequences anyway
    (None, None)
    """
    cap = math.gcd(sequences, gpus)
    ideal = max(d for d in range(1, min(sequences, gpus) + 1) if gpus % d == 0) if sequences >= 1 else 1
    if cap >= ideal:
        return None
    alt = math.ceil(sequences / ideal) * ideal
    tokens = alt * seq_len
    amount = f"{tokens / 1e6:.3g} million" if tokens < 1e9 else f"{tokens / 1e9:,.4g} billion"
    return (f"The batch is {sequences:,} sequences of {seq_len:,} tokens: data parallelism must divide it, so dp is at "
            f"most {cap:,} on {gpus:,} GPUs (the rest is tensor, pipeline or context parallelism). {alt:,} sequences "
            f"({amount} tokens) would allow dp up to {math.gcd(alt, gpus):,}.")


def _check_inputs(cluster: Cluster, job: Job) -> None:
    _check("gpus", cluster.num_gpus, 1, 10_000_000)
    _check("gpus_per_node", cluster.gpus_per_node, 1, 1024)
    _check("seq_len", job.seq_len, 1, 100_000_000)
    _check("global_batch_tokens", job.global_batch_tokens, job.seq_len, 10**12)
    if job.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {job.precision!r:.40}")
    if cluster.gpu.peak(job.precision) is None:
        raise ValueError(f"{cluster.gpu.name} has no {job.precision} peak in the catalog")
    e = job.matmul_efficiency
    if e is not None and (isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e <= 1):
        raise ValueError(f"matmul_efficiency must be in (0, 1], got {e!r:.40}")
    c = cluster.matmul_ceiling
    if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 1):
        raise ValueError(f"matmul_ceiling must be in (0, 1], got {c!r:.40}")
    if not isinstance(cluster.measured_links, bool):
        raise ValueError(f"measured_links must be True or False, got {cluster.measured_links!r:.40}")
    for name in ("intra_bytes_per_s", "inter_bytes_per_s"):
        v = getattr(cluster, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 1e6 <= v <= 1e15):
            raise ValueError(f"{name} must be in [1e6, 1e15] bytes/s, got {v!r:.40}")


@functools.lru_cache(maxsize=256)
def _model_numbers(model: ModelSpec, seq_len: int) -> Mapping:
    """What the step model reads from the architecture, once per model and sequence length: kept per process and
    read only (a search asked this again for every change of an input the architecture does not read, the GPU count,
    the batch, the links: 6% of a Cluster planner search under bench/bench_pages.py, issue 18)."""
    f = flops_per_token(model, seq_len)
    c = param_counts(model)
    moe_layers = sum(1 for i in range(model.num_layers) if model.layer_is_moe(i)) if model.is_moe else 0
    L = model.num_layers
    norms = sum(b.norms * n for b, n in model.layout.kind_counts()) / L
    # attention score elements per query token, averaged over layers (sliding / chunked layers: their span)
    scores = sum(n * model.num_heads * min(seq_len, window or chunk or seq_len)
                 for _, n, window, chunk in attention_kinds(model)) / L
    if model.is_moe:
        f_act = (model.moe_intermediate_size or model.intermediate_size) * (
            model.experts_per_token + (model.num_shared_experts or 0))
    else:
        f_act = model.intermediate_size
    return MappingProxyType({
        "f": f, "attn_causal": flops_per_token(model, seq_len, causal=True).attention_scores,
        "params": c.total, "experts": c.components().get("experts", 0), "moe_layers": moe_layers,
        "topk": model.experts_per_token if model.is_moe else 0, "norms": norms, "scores": scores, "ffn": f_act})


def elementwise_bytes(model: ModelSpec, lay: Layout, nb: Mapping, stack: Stack | None = None) -> tuple[float, float]:
    """HBM bytes of one decoder layer's memory-bound forward work per token on one GPU, sized from the model:
    (all of it, the attention-core part that selective recompute re-runs).

    - each norm reads and writes the b s h activation; two residual adds read two and write one; dropout (the
      stack's) writes a 1-byte mask per element of both adds. Replicated on every tp rank without sequence
      parallelism (Korthikanti et al. 2022 sec. 4.2.2: the norms and dropouts are what SP splits), split by tp
      with it.
    - the activation function reads its input (two with a gated MLP) and writes its output, ffn / tp wide.
    - without FlashAttention the heads / tp x s scores per query token are written by QK^T, read and written by
      the fused scale-mask-softmax and read by the x V GEMM (4 x 2 bytes), plus attention dropout (read, write,
      1-byte mask); FlashAttention keeps them on chip (Dao et al. 2022).
    """
    h, tp, E = model.hidden_size, lay.tp, ACT_BYTES
    sp = stack.sequence_parallel if stack else True
    flash = stack.flash_attention if stack else True
    dropout = stack.dropout if stack else False
    attn_dropout = stack.attention_dropout if stack else False
    hwide = (nb["norms"] * 2 * h * E + 2 * 3 * h * E + (2 * h if dropout else 0)) / (tp if sp else 1)
    act = (3 if model.gated_mlp else 2) * nb["ffn"] * E / tp
    core = 0.0 if flash else nb["scores"] / tp * (4 * E + ((2 * E + 1) if attn_dropout else 0))
    if stack is not None and not stack.fused_elementwise:  # eager: dropout and the gated product are kernels too
        hwide = (nb["norms"] * 2 * h * E + 2 * 3 * h * E + (2 * (2 * h * E + h * MASK_BYTES) if dropout else 0)) / (
            tp if sp else 1)
        act = (5 if model.gated_mlp else 2) * nb["ffn"] * E / tp
    return hwide + act + core, core


@functools.lru_cache(maxsize=64)
def _fused_qkv_share(model: ModelSpec) -> float:
    """The share of layers whose attention stores one q-k-v matrix (``Attention.fused_qkv``: MPT, GPT-2, Falcon)."""
    fused = sum(n for b, n in model.layout.kind_counts() if getattr(b.mixer, "fused_qkv", False))
    return fused / model.num_layers


def elementwise_backward_bytes(model: ModelSpec, lay: Layout, nb: Mapping, stack: Stack | None = None) -> float:
    """HBM bytes of the backward of ``elementwise_bytes``'s work, per token, one layer, one GPU.

    Fused kernels (``Stack.fused_elementwise``, the default): ``BWD_BYTES_FACTOR`` x the forward. Eager PyTorch,
    one kernel per autograd op (each op's own reads and writes, as ``aten``'s backward kernels take them;
    checked against an MPT block and a gated MLP under ``TorchDispatchMode`` in tests/test_plan_eager.py):

    - each norm's backward (``native_layer_norm_backward``) reads dy and x and writes dx: 3 h;
    - each residual: the gradient from the branch and the one along the stream are summed, an add: 3 h;
    - the activation's backward reads dy and its input and writes dx: 3 ffn; gated (act(gate) x up, gate and up
      separate projections as transformers' ``LlamaMLP``): the product's backward is two multiplies (3 ffn each),
      the activation's 3 ffn, and the normed input's gradient sums the gate's and the up projection's: 3 h;
    - attention's input: one q-k-v matrix (``Attention.fused_qkv``) concatenates dq, dk, dv: 2 (q + 2 kv);
      separate projections sum three input gradients: 2 adds of 3 h;
    - dropout (``aten.native_dropout_backward``): reads dy and the 1-byte mask, writes dx; the s x s core without
      FlashAttention as the fused case.

    Elements of ``ACT_BYTES``. Not counted: RoPE (fused rotary kernels, or ALiBi inside the attention kernel as
    MPT's), norms written as several ops (transformers' eager RMSNorm: upcast, pow, mean, rsqrt, multiply, cast)
    and llm-foundry's unpadding of q, k, v around flash-attn (``flash_attn.bert_padding``).

    >>> from calc.plan_runs import REPORTED_RUNS
    >>> r = next(r for r in REPORTED_RUNS if r.name.startswith("MPT-7B") and "H100" in r.name)
    >>> nb, h = _model_numbers(r.spec(), 2048), 4096
    >>> eager = STACKS["composer-fsdp-2023"]
    >>> (elementwise_bytes(r.spec(), r.layout, nb, eager)[0] / h, elementwise_backward_bytes(r.spec(), r.layout, nb, eager) / h)
    (36.0, 60.0)
    """
    fwd, core = elementwise_bytes(model, lay, nb, stack)
    if stack is None or stack.fused_elementwise:
        return fwd * BWD_BYTES_FACTOR
    h, tp, E = model.hidden_size, lay.tp, ACT_BYTES
    sp = stack.sequence_parallel
    dropout = 2 * (2 * h * E + h * MASK_BYTES) if stack.dropout else 0
    hwide = (nb["norms"] * 3 * h * E + 2 * 3 * h * E + dropout) / (tp if sp else 1)
    act = (9 if model.gated_mlp else 3) * nb["ffn"] * E / tp
    fused = _fused_qkv_share(model)
    qkv = fused * 2 * (model.q_dim + 2 * model.kv_dim) * E / tp + (1 - fused) * 2 * 3 * h * E
    gate_up = 3 * h * E if model.gated_mlp else 0.0
    return hwide + act + qkv + gate_up + core * BWD_BYTES_FACTOR


def step_time(model: ModelSpec, cluster: Cluster, job: Job, lay: Layout, numbers: dict | None = None,
              stack: Stack | None = None, e_max: float | None = None, x_half: float | None = None) -> Plan:
    """Time of one iteration of ``lay`` (no memory check; ``plan_layout`` adds it). See the module docstring.
    ``stack``: what the software did (sequence parallelism, FlashAttention and which kernel, dropout); None: today's
    Megatron-Core (all but dropout; attention by ``DEFAULT_FLASH_KERNEL``). ``e_max`` / ``x_half`` replace the fitted
    ``E_MAX`` / ``X_HALF`` (for the fit). ``numbers``: ``_model_numbers``' dict, when the caller has it."""
    _check_inputs(cluster, job)
    check_layout(model, cluster, job, lay)
    return _step_time(model, cluster, job, lay, numbers or _model_numbers(model, job.seq_len), stack, e_max, x_half)


#: ``Layout`` fields in the order of a column table (``_columns``); recompute as its index in ``RECOMPUTE``.
_FIELDS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch", "recompute", "zero")


def _columns(rows: list[tuple]) -> dict[str, np.ndarray]:
    """Layouts (``_candidate_blocks`` rows: ``Layout`` field tuples in ``_FIELDS`` order, recompute as its index in
    ``RECOMPUTE``) as one int64 column per field."""
    table = np.fromiter(itertools.chain.from_iterable(rows), np.int64, len(rows) * len(_FIELDS)).reshape(
        len(rows), len(_FIELDS))
    return {name: table[:, i] for i, name in enumerate(_FIELDS)}


def _ag_s(total_bytes, n, bw):
    """All-gather / reduce-scatter / all-to-all of ``total_bytes`` over ``n`` ranks: (n-1)/n x S / busbw (columns:
    ``_step_parts``)."""
    return np.where(n <= 1, 0.0, total_bytes * (n - 1) / n / bw)


def _overlapped_s(comm_s, compute_s, units):
    """Exposed seconds of ``comm_s`` of collectives issued unit by unit ahead of ``compute_s`` of compute over
    ``units`` equal units, one unit prefetched: the first unit's collective waits with nothing to hide behind, and
    whatever the link needs beyond the compute is exposed: max(0, comm - compute) + min(comm, compute) / units."""
    return np.maximum(comm_s - compute_s, 0.0) + np.minimum(comm_s, compute_s) / units


def _zero3_exposed_s(ag_s, rs_s, fwd_s, bwd_s, units):
    """ZeRO-3 / FSDP, one micro-batch: the forward all-gathers every unit's parameters behind the forward compute
    ("the 1st all-gather will not be able to overlap with anything", PyTorch docs, notes/fsdp.html "FSDP Prefetch
    Nuances"); the backward all-gathers them again and reduce-scatters every unit's gradients, each micro-batch
    (sharded gradients do not accumulate unsharded: FSDP2's default, pytorch/pytorch PR 126166), both over the same
    link and so one after the other, behind the backward compute (which holds the recomputed forward). Without
    overlap (``DP_OVERLAP`` False) everything is exposed."""
    if not DP_OVERLAP:
        return 2 * ag_s + rs_s
    return _overlapped_s(ag_s, fwd_s, units) + _overlapped_s(ag_s + rs_s, bwd_s, units)


def _one_node(span, node: int, gpus):
    """Whether every group of ``span`` consecutive ranks (ranks numbered node by node, a group starting at a multiple
    of ``span``: Megatron's tp, then cp, ... order) lies inside one node of ``node`` GPUs: all the job's GPUs are in
    one node, or the span fits a node and tiles it. On 6-GPU nodes a tp 4 group of ranks 4-7 spans two nodes."""
    return (gpus <= node) | ((span <= node) & (node % span == 0))


def _step_time(model: ModelSpec, cluster: Cluster, job: Job, lay: Layout, nb: Mapping, stack: Stack | None = None,
               e_max: float | None = None, x_half: float | None = None) -> Plan:
    """``step_time`` without its checks: ``_step_columns`` of the one layout."""
    breakdown, hw_flops, _ = _step_columns(model, cluster, job, _columns([(*astuple(lay)[:7], RECOMPUTE.index(lay.recompute), lay.zero)]), nb, stack, e_max, x_half)
    return _plan(lay, {k: float(v[0]) for k, v in breakdown.items()}, float(hw_flops[0]), nb, cluster, job)


def _plan(lay: Layout, breakdown: dict[str, float], hw_flops: float, nb: Mapping, cluster: Cluster, job: Job,
          memory_bytes: int | None = None) -> Plan:
    """The ``Plan`` of a layout whose step time parts and hardware FLOPs are known."""
    tokens = job.global_batch * job.seq_len
    return Plan(lay, breakdown, nb["f"].model_training * tokens, hw_flops, lay.gpus, cluster.gpu.peak(job.precision),
                tokens, memory_bytes)


def _step_columns(model: ModelSpec, cluster: Cluster, job: Job, c: dict[str, np.ndarray], nb: Mapping,
                  stack: Stack | None = None, e_max: float | None = None,
                  x_half: float | None = None, strict: bool = True
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The step time of every layout of a column table (``_columns``) at once, unchecked: seconds per part
    (``Plan.breakdown``'s keys, one array each), the hardware FLOPs of an iteration, and whether each row was
    computed (``_step_parts``, whose ZeRO-dependent parts are picked here by each row's stage)."""
    parts, below, zero3, sharded, whole, hw_flops, ok = _step_parts(
        model, cluster, job, [c[k] for k in _FIELDS[:7]], c["recompute"], nb, stack, e_max, x_half, strict)
    return _by_zero(parts, below, zero3, sharded, whole, c["zero"]), hw_flops, ok


def _by_zero(parts: dict, below, zero3, sharded, whole, zero: np.ndarray) -> dict[str, np.ndarray]:
    """``Plan.breakdown``'s parts of layouts one per element of ``zero`` (their ZeRO stages): ``_step_parts``' first
    seven, then the data-parallel part (ZeRO-3's or the one below it) and the optimizer step (sharded from ZeRO-1)."""
    return {**parts, "dp_comm": np.where(zero >= 3, zero3, below), "optimizer": np.where(zero >= 1, sharded, whole)}


def _step_parts(model: ModelSpec, cluster: Cluster, job: Job, pre: list[np.ndarray], rc: np.ndarray, nb: Mapping,
                stack: Stack | None = None, e_max: float | None = None, x_half: float | None = None,
                strict: bool = True, tps: list[int] | None = None) -> tuple:
    """The step time of many layouts at once, unchecked (``search`` checks the inputs once, and the layouts
    ``candidate_layouts`` builds without pins are valid by construction). ``pre``: the first seven ``_FIELDS``
    (tp, pp, dp, cp, ep, vpp, micro-batch) as int arrays, ``rc``: recompute (its index in ``RECOMPUTE``), an int
    array broadcastable with them: one value per row (a column table, ``_step_columns``), or the search's layout
    prefixes as (1, P) rows against its recompute modes as an (R, 1) column, so that what depends on the prefix alone
    (most of it) is computed once per prefix, not once per recompute mode and ZeRO stage (issue 18). Element by element
    the same float operations in the same order as one layout at a time, so every number equals ``step_time``'s (a
    search of 6,900 layouts took 95 ms one by one, issue 18). What depends on tp or recompute alone (matmul
    efficiency, attention kernel, memory-bound bytes) is computed per value by the scalar functions. A ``ValueError``
    they raise (torchtitan's per-op selective recompute of a layer it does not model) is raised, or with ``strict``
    False marks the rows of that value as not computed (``ok`` False there: ``search`` drops them, as it dropped a
    layout whose ``step_time`` raised).

    Returns ``(parts, below, zero3, sharded, whole, hw_flops, ok)``: ``Plan.breakdown``'s first seven parts (compute
    to bubble), the data-parallel part below ZeRO-3 and with it (``dp_comm``), the optimizer step with ZeRO >= 1 and
    without (``optimizer``), the hardware FLOPs of an iteration and ``ok``; arrays of the broadcast shape, or of the
    prefixes' or recompute's where a part does not read the other."""

    def attempt(fn, *args):
        try:
            return fn(*args)
        except ValueError:
            if strict:
                raise
            return None

    f = nb["f"]
    links = cluster.links
    intra, inter = links.intra_bytes_per_s, links.inter_bytes_per_s
    node = cluster.gpus_per_node
    tp, pp, dp, cp, ep, vpp, mb = pre
    n = tp * pp * cp * dp
    peak = cluster.gpu.peak(job.precision)
    tokens = job.global_batch * job.seq_len
    m = job.global_batch // (dp * mb)  # micro-batches per pipeline
    # per recompute mode: torchtitan's per-op selective recompute re-runs matmuls too
    # (calc.activations.op_selective_recomputed_params)
    ops = [r == "selective" and stack is not None and stack.selective == "ops" for r in RECOMPUTE]
    present = set((np.unique(rc) if rc.size > 64 else rc.ravel()).tolist())  # only these rows' modes: another may raise
    hw_rc = [None if i not in present else attempt(lambda: f.model_training + _op_recomputed_flops(model)) if o
             else f.hardware_training(r) for i, (r, o) in enumerate(zip(RECOMPUTE, ops, strict=True))]
    recomputed = [r == "full" or (r == "selective" and not o) for r, o in zip(RECOMPUTE, ops, strict=True)]
    gemm_rc = [None if hw is None else hw - f.attention_scores * (3 + rec)
               for hw, rec in zip(hw_rc, recomputed, strict=True)]
    h, L = model.hidden_size, model.num_layers
    ridge = peak / cluster.gpu.bandwidth_bytes_per_s
    # per tp value: matmul efficiency, the score products as the stack's kernel runs them (``calc.plan_attention``:
    # an unfused one the full s x s, a flash one with a causal mask the causal half, at that kernel's measured rate),
    # and the memory-bound bytes between the GEMMs (``elementwise_bytes``), forward + backward + what recompute re-runs
    tps = tps or sorted(set(tp.ravel().tolist()))  # a handful of values (``tps``: the caller knows them)
    tp_at = np.searchsorted(np.array(tps), tp)
    eff_t, attn_t, moved_t, attn_memo = [], [], [], {}
    for t in tps:
        e = job.matmul_efficiency if job.matmul_efficiency is not None else matmul_efficiency(
            h, t, ridge, e_max, x_half, cluster.matmul_ceiling or matmul_ceiling(cluster.gpu, job.precision))
        eff_t.append(e)
        row = []
        for rec in recomputed:
            if (e, rec) not in attn_memo:
                got = attempt(attention_seconds, f.attention_scores, nb["attn_causal"], _kernel(stack),
                              cluster.attention_gpu or cluster.gpu.name, peak, e, job.seq_len, rec)
                attn_memo[e, rec] = None if got is None else got[0]
            row.append(attn_memo[e, rec])
        attn_t.append(row)
        fwd, core = elementwise_bytes(model, Layout(tp=t), nb, stack)
        bwd = elementwise_backward_bytes(model, Layout(tp=t), nb, stack)
        moved_t.append([fwd + bwd + (fwd if o else {"none": 0.0, "selective": core, "full": fwd}[r])
                        for r, o in zip(RECOMPUTE, ops, strict=True)])
    # a value whose function raised (None, with ``strict`` False) computes as 0 and its rows are not ``ok``
    attn_tab = np.array([[np.nan if a is None else a for a in row] for row in attn_t], dtype=float)
    hw_tab = np.array([np.nan if x is None else x for x in hw_rc], dtype=float)
    at = tp_at * len(RECOMPUTE) + rc  # (tp, recompute) flattened: one gather from a 1-D table, not a 2-D one
    ok = ~(np.isnan(attn_tab.ravel()[at]) | np.isnan(hw_tab[rc])) if np.isnan(attn_tab).any() or np.isnan(
        hw_tab).any() else np.True_
    eff = np.array(eff_t, dtype=float)[tp_at]
    # np.nan_to_num is the identity on finite values, and a Python function ten times the cost of the check
    attn_s = (attn_tab if np.isfinite(attn_tab).all() else np.nan_to_num(attn_tab)).ravel()[at]
    moved = np.array(moved_t, dtype=float).ravel()[at]
    hw_per_token = np.where(np.isnan(hw_tab), 1.0, hw_tab)[rc]
    full = rc == RECOMPUTE.index("full")
    # uneven stages (Megatron --decoder-first/last-pipeline-num-layers): the busiest stage sets the pace. Up to
    # L + 2 chunks: Llama 3 gives the first chunk only the embedding and the last only the output head (Dubey et
    # al. 2024 sec. 3.3.2), so 126 layers on 16 x 8 chunks of one layer: the busiest stage runs 8 of 126 / 16.
    chunks = pp * vpp
    uneven = np.ceil(L / chunks) * chunks / L
    layers = L / pp  # per GPU (all its virtual stages)
    mb_tokens = mb * job.seq_len / cp  # tokens of one micro-batch on one cp rank
    compute = (np.array([0.0 if g is None else g for g in gemm_rc])[rc] / (peak * eff) + attn_s) * tokens / n * uneven
    memory_bound = tokens / (dp * cp) * layers * uneven * moved / (
        cluster.gpu.bandwidth_bytes_per_s * MEMORY_EFFICIENCY)
    act = mb_tokens * h * ACT_BYTES  # the b s h activation (gathered size)
    kv = mb * job.seq_len * 2 * model.kv_dim * ACT_BYTES / tp  # K and V of the whole sequence (context parallel)
    routed = mb_tokens * nb["topk"] * h * ACT_BYTES / tp  # the routed tokens (expert parallel)
    # data parallel over dp (expert weights over dp / ep)
    dense = (nb["params"] - nb["experts"]) / (tp * pp)
    experts = nb["experts"] / (tp * pp * ep)
    # each group's link (the tp, cp, ep, pp and dp groups span tp, tp x cp, ... ranks) and the collectives over them,
    # the five stacked into one NumPy call each (the same operations per element as one at a time, a third of the
    # calls: a search of a few layouts is mostly the calls' own cost, issue 18); cp ranks also hold replicas of the
    # weights: gradients reduce over dp x cp (Megatron's dp-cp group), an expert's over dp / ep x cp
    tc = tp * cp
    tp_bw, cp_bw, ep_bw, pp_bw, dp_bw = np.where(_one_node(np.stack([tp, tc, tc * ep, tc * pp, tc * pp * dp]), node, n),
                                                 intra, inter)
    ag_tp, ag_cp, ag_ep, ag_dense, ag_experts = _ag_s(
        np.stack([act, kv, routed, dense * GRAD_BYTES, experts * GRAD_BYTES]),
        np.stack([tp, cp, ep, dp * cp, dp // ep * cp]), np.stack([tp_bw, cp_bw, ep_bw, dp_bw, dp_bw]))
    # tensor parallel: 4 AG/RS forward + 4 backward, +4 when full recompute re-runs the forward
    n_tp = 8 + 4 * full
    tp_s = m * layers * n_tp * ag_tp
    # context parallel: K and V of the whole sequence gathered (fwd), their grads reduce-scattered (bwd)
    cp_s = m * layers * (2 + (rc != 0)) * ag_cp
    # expert parallel: dispatch + combine all-to-all forward, two backward
    moe_layers = nb["moe_layers"] / pp
    ep_s = m * moe_layers * (4 + 2 * full) * ag_ep
    # pipeline sends: forward activation + backward gradient at each of v boundaries per micro-batch
    pp_s = np.where(pp == 1, 0.0, m * vpp * 2 * (act / tp) / pp_bw)
    pipelined = compute + memory_bound + tp_s + cp_s + ep_s + pp_s
    bubble = pipelined * (pp - 1) / (m * vpp)
    ag = ag_dense + ag_experts
    # the gradients, reduced in the stack's dtype (``Stack.reduce_bytes``: fp32 for FSDP's reduce_dtype float32)
    rs = ag * (stack.reduce_bytes if stack else GRAD_BYTES) / GRAD_BYTES
    one_mb = pipelined / m  # one micro-batch's forward + backward on this GPU
    fwd_s = one_mb * f.forward / hw_per_token  # its forward (recompute runs in the backward)
    units = np.ceil(layers) + 1  # one unit (FSDP module, gradient bucket) per decoder layer, plus the root
    # ZeRO-3 (``_zero3_exposed_s``): per micro-batch, per pass, unit by unit; below it the gradients after the last
    # micro-batch's backward, the parameters before the first's forward
    below = (_overlapped_s(rs, one_mb - fwd_s, units) + _overlapped_s(ag, fwd_s, units)) if DP_OVERLAP else rs + ag
    zero3 = m * _zero3_exposed_s(ag, rs, fwd_s, one_mb - fwd_s, units)
    # ZeRO >= 1: the dense states over dp x cp, an expert's over the dp x cp / ep ranks holding it (its expert-data-
    # parallel group), 1 / (dp cp) of every parameter per rank either way
    bw = cluster.gpu.bandwidth_bytes_per_s
    sharded = (dense + experts * ep) / (dp * cp) * OPTIMIZER_BYTES_PER_PARAM / bw
    whole = (dense + experts) * OPTIMIZER_BYTES_PER_PARAM / bw
    parts = {"compute": compute, "memory_bound": memory_bound, "tp_comm": tp_s, "cp_comm": cp_s, "ep_comm": ep_s,
             "pp_comm": pp_s, "bubble": bubble}
    return parts, below, zero3, sharded, whole, hw_per_token * tokens, ok


@functools.lru_cache(maxsize=64)
def _op_recomputed_flops(model: ModelSpec) -> float:
    """FLOPs per token that torchtitan's per-op selective recompute adds: 2 x the weights of the matmuls it re-runs
    (``calc.activations.op_selective_recomputed_params``, counted by ``FlopCounterMode`` in
    ``tests/test_activations_ops.py``), every layer; the rest it re-runs is the memory-bound work."""
    return 2.0 * sum(n * op_selective_recomputed_params(model, i)
                     for i, n in layer_groups(model, range(model.num_layers)))


def layout_memory(model: ModelSpec, job: Job, lay: Layout, stack: Stack | None = None) -> int:
    """Bytes per GPU from ``calc.memory.training_memory`` (see the module docstring for cp and ep); ``stack`` says
    whether activations are split by sequence parallelism and whether attention scores are saved."""
    return _layout_memory(model, job.seq_len, _Row(lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp, lay.micro_batch,
                                                   lay.recompute, lay.zero), *_memory_knobs(stack))


def _memory_knobs(stack: Stack | None) -> tuple:
    """What ``_layout_memory`` reads of the stack: sequence parallelism, FlashAttention, the selective recompute and
    the gradient buffers' bytes."""
    if stack is None:
        return True, True, "attention", MEGATRON_GRAD_BYTES
    return stack.sequence_parallel, stack.flash_attention, stack.selective, stack.grad_bytes


class _Row(NamedTuple):
    """A ``Layout``'s fields as a tuple, in its order: hashed and compared in C, where a frozen dataclass runs Python
    for both (a search of a large model looks hundreds of layouts' memory up, and makes a ``Layout`` only for those
    it shows: issue 18)."""

    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    vpp: int
    micro_batch: int
    recompute: str
    zero: int


@functools.lru_cache(maxsize=4096)
def _layout_memory(model: ModelSpec, seq_len: int, lay: _Row, sp: bool, flash: bool, selective: str,
                   grad_bytes: float) -> int:
    """``layout_memory`` from what it reads of the job and the stack: kept per process, since the Cluster planner's
    searches check the same layouts' memory again when an input memory does not read changes (the GPU count, the
    batch, the links, how many layouts to show: issue 18; 0.1-0.3 ms each, most of a search)."""
    setup = TrainingSetup(precision="bf16-mixed", zero_stage=lay.zero, dp=lay.dp * lay.cp, tp=lay.tp, pp=lay.pp,
                          sequence_parallel=lay.tp > 1 and sp, flash_attention=flash, micro_batch=lay.micro_batch,
                          seq_len=seq_len // lay.cp, recompute=lay.recompute, selective=selective)
    mem = _setup_memory(model, setup)  # the busiest stage, interior ones included
    # gradient buffers kept whole (ZeRO <= 1) wider than the 16-bit gradients calc.memory counts
    grad_extra = int(mem.gradients * (grad_bytes - GRAD_BYTES) / GRAD_BYTES) if lay.zero <= 1 else 0
    total = mem.total + grad_extra
    if lay.vpp > 1:  # the interleaved schedule holds L (1 + (p - 1) / (p v)) layers' activations (Korthikanti
        total += int(mem.activations * (lay.pp - 1) / (lay.pp * lay.vpp))  # et al. 2022 sec. 4.2.3, eq. 5)
    if lay.ep > 1:
        # The memory model replicates the experts on every rank: a rank holds 1/ep of them. What ZeRO shards over the
        # dp x cp ranks stays as it is: an expert's replicas live on the dp x cp / ep ranks of its expert-data-parallel
        # group (Megatron-Core parallel_state: world / (expert tp x ep x pp)), which shard 1/ep of the experts, so
        # E / ep / (dp cp / ep) = E / (dp cp) per rank. Only the unsharded states shrink by ep.
        c = param_counts(model).components().get("experts", 0)
        unsharded = (grad_extra + (mem.weights if lay.zero < 3 else 0) + (mem.gradients if lay.zero < 2 else 0)
                     + (mem.master_weights + mem.optimizer_states if lay.zero < 1 else 0))
        share = c / max(param_counts(model).total, 1)
        total -= int(unsharded * share * (1 - 1 / lay.ep))
    return total


@functools.lru_cache(maxsize=1024)
def _setup_memory(model: ModelSpec, setup: TrainingSetup):
    """``calc.memory.training_memory``, kept per process for ``_layout_memory``: layouts that differ only in what it
    does not read (vpp, ep, dp and cp apart from their product) share it. A search visits layouts until enough fit,
    and the ones that do not are mostly such variants: over 27 Cluster planner searches (32-128 GPUs, 2k-8k tokens,
    512-2,048 sequences) of Llama-3-70B on A100 40GB, 13,158 layouts' memory from 4,177 setups, Mixtral-8x7B's 11,275
    from 1,866 (issue 18). A breakdown weighs ~1.5 kB: 1,024 of them ~1.5 MB (a search of a large model reads a few
    hundred setups)."""
    return training_memory(model, setup)


def plan_layout(model: ModelSpec, cluster: Cluster, job: Job, lay: Layout, stack: Stack | None = None) -> Plan:
    """Step time and memory of one layout."""
    p = step_time(model, cluster, job, lay, stack=stack)
    return replace(p, memory_per_gpu_bytes=layout_memory(model, job, lay, stack))


@dataclass(frozen=True)
class Stack:
    """What a training stack could do: for some ``Layout`` knobs, the values it supported (the others are free).
    ``search(..., stack=...)`` ranks only those layouts, so that a published run is compared with what its own
    software could have run, not with features that came later."""

    allowed: dict[str, tuple]
    source: str
    sequence_parallel: bool = True  # activations (memory) and norms/dropouts (time) split over tp, or replicated
    flash_attention: bool = True  # no s x s attention scores saved or moved through HBM (Dao et al. 2022)
    dropout: bool = False  # hidden dropout after attention and MLP (its masks' bytes in ``elementwise_bytes``)
    attention_dropout: bool = False  # dropout of the attention probabilities (without FlashAttention: s x s bytes)
    #: bytes per parameter of the gradient buffers a rank keeps whole with ZeRO <= 1 (``calc.memory`` counts 2,
    #: 16-bit gradients; ``MEGATRON_GRAD_BYTES`` for Megatron-Core's fp32 main grads). Narayanan's and Korthikanti's
    #: fp16 runs keep 16-bit gradients; the fp32 copy their optimizer makes (Megatron's table: fp16 20 B -> 4 + 16/d)
    #: is not counted.
    grad_bytes: float = GRAD_BYTES
    #: what selective recompute keeps (``calc.activations.SELECTIVE``): "attention", Megatron-LM's (Korthikanti et al.
    #: 2022 sec. 5: only the attention core is recomputed); "ops", torchtitan's per-op policy
    selective: str = "attention"
    #: elementwise chains run as fused kernels (Megatron-LM's fused LayerNorm, bias-GeLU and bias-dropout-add,
    #: torch.compile's generated kernels), or eager PyTorch, one kernel per op (``elementwise_backward_bytes``)
    fused_elementwise: bool = True
    #: a stack that refuses to start without its fused scale-mask-softmax kernel: the kernel's constraints, (multiple,
    #: longest sequence): heads / tp x micro-batch a multiple of ``multiple`` and 16 < sequence <= ``longest``, a
    #: multiple of 4 (``softmax_problem``). None: no such refusal (Megatron-LM falls back to the unfused softmax)
    fused_softmax_required: tuple[int, int] | None = None
    #: the attention kernel (``calc.plan_attention.KERNELS``); None: "unfused" without ``flash_attention``, else
    #: ``DEFAULT_FLASH_KERNEL``
    attention: str | None = None
    #: bytes per gradient element in the data-parallel reduce-scatter (PyTorch FSDP's ``MixedPrecision.reduce_dtype``):
    #: 16-bit unless the stack says fp32
    reduce_bytes: float = GRAD_BYTES


def softmax_problem(model: ModelSpec, job: Job, lay: Layout, stack: Stack | None) -> str | None:
    """Why ``stack`` would refuse ``lay`` for want of its fused softmax kernel (``Stack.fused_softmax_required``), or
    None. Megatron-DeepSpeed (bigscience-workshop/Megatron-DeepSpeed megatron/initialize.py ``_compile_dependencies``,
    PR 247 of 2022-02-07): attention batches per GPU = heads / tp x micro-batch must be a multiple of 4 and the
    sequence 16 < s <= 2048, s % 4 = 0, or with ``--abort-on-unmet-fused-kernel-constraints`` (BLOOM's
    tr11-176B-ml.slurm) the run exits.

    >>> from calc.plan_runs import REPORTED_RUNS
    >>> bloom = next(r for r in REPORTED_RUNS if r.name == "BLOOM-176B")  # 112 heads: 14 per GPU at tp 8
    >>> softmax_problem(bloom.spec(), bloom.job(), Layout(tp=8, pp=12, dp=4), STACKS["megatron-deepspeed-2022"])
    'the fused softmax needs heads / tp x micro-batch (112 / 8 x 1 = 14) to be a multiple of 4'
    """
    if stack is None or stack.fused_softmax_required is None:
        return None
    multiple, longest = stack.fused_softmax_required
    batches = model.num_heads * lay.micro_batch
    if batches % (lay.tp * multiple):
        return (f"the fused softmax needs heads / tp x micro-batch ({model.num_heads} / {lay.tp} x {lay.micro_batch} = "
                f"{batches / lay.tp:g}) to be a multiple of {multiple}")
    if not (16 < job.seq_len <= longest and job.seq_len % 4 == 0):
        return f"the fused softmax needs a sequence in (16, {longest}], a multiple of 4; got {job.seq_len}"
    return None


#: The attention kernel of today's Megatron-Core (the stack of ``Stack``-less plans): Transformer Engine, which
#: "prefers cuDNN flash attention on Hopper+ architectures" (NVIDIA/NeMo PR 9188, docs memory_optimizations.rst).
DEFAULT_FLASH_KERNEL = "cudnn"


def _kernel(stack: Stack | None) -> str:
    if stack is None:
        return DEFAULT_FLASH_KERNEL
    if stack.attention is not None:
        return stack.attention
    return DEFAULT_FLASH_KERNEL if stack.flash_attention else "unfused"


#: Published runs' stacks (the Cluster planner page and ``python -m calc plan --stack`` offer them).
STACKS: dict[str, Stack] = {
    "megatron-2021": Stack(
        {"cp": (1,), "ep": (1,), "recompute": ("none", "full"), "zero": (0,)},
        "Narayanan et al. 2021's (Megatron-LM, PTD-P): tensor, pipeline (interleaved) and data parallelism, full "
        "activation recompute, fused softmax and bias-dropout-add kernels, hidden and attention dropout 0.1 "
        "(Megatron-LM's defaults); before sequence parallelism, selective recompute (Korthikanti et al., May 2022) and "
        "FlashAttention (Dao et al., May 2022)",
        sequence_parallel=False, flash_attention=False, dropout=True, attention_dropout=True),
    "megatron-2022": Stack(
        {"cp": (1,), "ep": (1,), "zero": (0, 1)},
        "Korthikanti et al. 2022's (Megatron-LM with sequence parallelism and selective recompute; dropout 0.1 as "
        "Megatron-LM's defaults); before FlashAttention (Dao et al., May 2022) and context parallelism",
        sequence_parallel=True, flash_attention=False, dropout=True, attention_dropout=True),
    "metaseq-2021": Stack(
        {"pp": (1,), "vpp": (1,), "cp": (1,), "ep": (1,), "recompute": ("none", "full")},
        "OPT-175B's. Zhang et al. 2022 sec. 2.4: Fully Sharded Data Parallel with Megatron-LM tensor parallelism; no pipeline or "
        "context parallelism, whole-layer activation checkpointing (metaseq); trained Nov 2021 - Jan 2022, before "
        "sequence parallelism (Korthikanti et al., May 2022) and FlashAttention (Dao et al., May 2022)",
        sequence_parallel=False, flash_attention=False, dropout=True),
    "megatron-deepspeed-2022": Stack(
        {"vpp": (1,), "cp": (1,), "ep": (1,), "recompute": ("none", "full"), "zero": (0, 1)},
        "BLOOM-176B's. BigScience 2022 sec. 3.4: DeepSpeed's pipeline engine (no interleaving) with Megatron tensor parallelism "
        "and ZeRO-1, fused softmax kernels; selective recompute and sequence parallelism (Korthikanti et al. 2022), "
        "FlashAttention and context parallelism were not in it. Its BF16_Optimizer accumulates gradients in an unsharded "
        "fp32 buffer, '4 bytes * params of additional memory' beside the bf16 gradients (bigscience "
        "train/tr11-176B-ml/README.md). Dropout 0.1 after attention and MLP and on the attention probabilities: 'The "
        "default Megatron-LM dropout settings are inherited: --attention-dropout 0.1 --hidden-dropout 0.1' (same "
        "README, 'Dropout'; tr11-176B-ml.slurm sets neither)", sequence_parallel=False, flash_attention=False,
        grad_bytes=GRAD_BYTES + 4, dropout=True, attention_dropout=True,
        # --abort-on-unmet-fused-kernel-constraints (tr11-176B-ml.slurm): no layout without the fused softmax
        fused_softmax_required=(4, 2048)),
    "composer-fsdp-2023": Stack(
        {"tp": (1,), "pp": (1,), "vpp": (1,), "cp": (1,), "ep": (1,), "recompute": ("none", "full")},
        "MPT-7B's. MosaicML 2023, 'Introducing MPT-7B': LLM Foundry / Composer with PyTorch FSDP, no tensor or pipeline "
        "parallelism. Eager PyTorch: no compile_config in scripts/train/yamls/pretrain/mpt-7b.yaml or the benchmark's "
        "scripts/train/benchmarking/submit_benchmarks.py (llm-foundry commit 4952183; Composer v0.17.2 "
        "composer/trainer/trainer.py compiles only when compile_config is given), so every norm, GELU and residual add "
        "is its own kernel; norm_type low_precision_layernorm (torch's layer_norm in bf16, one kernel), "
        "resid_pdrop 0 (no dropout). Attention: attn_impl triton, the FlashAttention-1-era Triton kernel "
        "(calc.plan_attention), the default of the benchmark's submit_benchmarks.py (--attn_impl default 'triton', which "
        "the sweep.sh of the October 2023 tables never passes: commit b2a43a1, llm-foundry v0.3.0; the May 2023 tables: "
        "commit 300cc5c, setup.py flash-attn 1.0.3.post0 and triton 2.0.0.dev20221202) and of v0.3.0's MPT config and "
        "mpt-7b.yaml; TUTORIAL.md at v0.3.0: 'Our training setups typically use triton'. Learned position embeddings, no "
        "ALiBi (v0.3.0 attn_config alibi False; the table's NumParams grow by d_model x the sequence)",
        fused_elementwise=False, attention="triton"),
    "composer-fsdp-2024": Stack(
        {"tp": (1,), "pp": (1,), "vpp": (1,), "cp": (1,), "ep": (1,), "recompute": ("none", "full")},
        "llm-foundry's MPT benchmark of January 2024 (commit 5e85bd6, the 'H100 80GB BF16 (Large Scale)' table): "
        "composer-fsdp-2023's eager FSDP with FlashAttention-2 (sweep.py passes --attn_impl flash for 7b, and "
        "submit_benchmarks.py pip_install '.[gpu-flash2]'), "
        "with llm-foundry main requiring Composer >= 0.17.2 (setup.py), whose FSDP mixed_precision 'DEFAULT' (the table's MP Mode column; submit_benchmarks.py never passes its "
        "--fsdp_config_mixed_precision on) reduces gradients in fp32 (Composer v0.17.2 "
        "composer/trainer/mosaic_fsdp_utils.py get_mixed_precision: reduce_dtype torch.float32, since v0.16.4)",
        fused_elementwise=False, attention="fa2", reduce_bytes=4),
    "torchtitan-2024": Stack(
        {},
        "torchtitan's (Dec 2024, commit 9dec370 of its H100 benchmark): FSDP2, tensor, pipeline and context "
        "parallelism, torch.compile; selective activation checkpointing is its per-op policy ('op': every other "
        "matmul's and the attention kernel's outputs saved, the rest recomputed; "
        "torchtitan/parallelisms/parallelize_llama.py). Whole gradient buffers with ZeRO <= 1 as Megatron-Core's. "
        "Attention through SDPA with is_causal: FlashAttention-2 (PyTorch's cuDNN SDPA backend, default on H100 in "
        "2.5.0, was taken off by default by pytorch/pytorch PR 138587). "
        "FSDP2 reduces gradients in fp32: MixedPrecisionPolicy(param_dtype bf16, reduce_dtype float32) "
        "(parallelize_llama.py at 1ea476e, April 2024; --training.mixed_precision_reduce default and only choice "
        "'float32' in torchtitan/config_manager.py at 9dec370)",
        grad_bytes=MEGATRON_GRAD_BYTES, selective="ops", attention="fa2", reduce_bytes=4),
    "llama3-2024": Stack(
        {},
        "Llama 3 405B's (Dubey et al. 2024 sec. 3.3): 4D parallelism (tp, interleaved pp, all-gather cp, FSDP-style dp) "
        "on PyTorch (sec. 3.3.4 uses PyTorch's NCCL flight recorder) and NCCLX; memory and kernels otherwise as "
        "Megatron-Core's. The attention kernel is not stated: FlashAttention-2, the kernel of PyTorch's fused "
        "attention (SDPA) on H100 until PyTorch 2.5 (Oct 2024) and of the flash-attn package until FlashAttention-3 "
        "(Shah et al., July 2024, the paper's month); with cuDNN's rates instead the 131k row reads +42% (8k +7%, +9%)",
        grad_bytes=MEGATRON_GRAD_BYTES, attention="fa2"),
}


@functools.lru_cache(maxsize=256)
def _valid_tps(model: ModelSpec, max_tp: int) -> tuple[int, ...]:
    """``calc.parallel.valid_tps`` kept per model and node size: it tries every degree up to the node's GPUs (up to
    1,024 on the page) against every unit, and a failed search's scan of nearby GPU counts asks again per count."""
    return tuple(valid_tps(model, max_tp=max_tp))


def _divisors(n: int) -> list[int]:
    """The divisors of ``n``, ascending, from the ones up to its square root (a count of a million GPUs, a link's
    worth, scanned every number up to it: the page's error path, issue 18)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def candidate_layouts(model: ModelSpec, cluster: Cluster, job: Job, pins: dict | None = None,
                      stack: Stack | None = None):
    """Every valid layout with the knobs in ``pins`` fixed (a dict of ``Layout`` field -> value), within what
    ``stack`` supports."""
    for block in _candidate_blocks(model, cluster, job, pins, stack):
        for row in block:
            yield _layout(row)


def _layout(row: tuple) -> Layout:
    """The ``Layout`` of a ``_candidate_blocks`` row (recompute as its index in ``RECOMPUTE``)."""
    return Layout(*row[:7], RECOMPUTE[row[7]], row[8])


def _candidate_blocks(model: ModelSpec, cluster: Cluster, job: Job, pins: dict | None, stack: Stack | None):
    """``candidate_layouts`` as lists of ``Layout`` field tuples (in ``_FIELDS`` order, recompute as its index in
    ``RECOMPUTE``), one list per choice of every knob but recompute and ZeRO: ``search`` makes a ``Layout`` only of
    the layouts it shows (issue 18)."""
    rcs = None
    for prefix, zs in _candidate_prefixes(model, cluster, job, pins, stack):
        rcs = _recompute_options(pins, stack) if rcs is None else rcs
        yield [(*prefix, rc, z) for rc in rcs for z in zs]


def _recompute_options(pins: dict | None, stack: Stack | None) -> list[int]:
    """The recompute modes a search tries (indices into ``RECOMPUTE``): the pinned one, within what the stack allows."""
    pins = pins or {}
    values = [pins["recompute"]] if "recompute" in pins else list(RECOMPUTE)
    allowed = stack.allowed if stack else {}
    return [RECOMPUTE.index(r) for r in values if "recompute" not in allowed or r in allowed["recompute"]]


def _candidate_prefixes(model: ModelSpec, cluster: Cluster, job: Job, pins: dict | None, stack: Stack | None):
    """``_candidate_blocks`` before recompute and ZeRO are crossed in: per block, its first seven ``_FIELDS``
    (tp, pp, dp, cp, ep, vpp, micro-batch) and the ZeRO stages it takes (a tuple); every block crosses
    ``_recompute_options`` (outer) with its stages (inner)."""
    pins = pins or {}
    allowed = stack.allowed if stack else {}
    b, L = job.global_batch, model.num_layers
    softmax = stack is not None and stack.fused_softmax_required is not None
    for tp, pp, cp, dp, zs in _candidate_groups(model, cluster, job, pins, stack):
        eps = [1] if not model.is_moe else [e for e in _divisors(model.num_experts) if dp % e == 0]
        for ep in _opts("ep", eps, pins, allowed):
            for mb in _opts("micro_batch", [x for x in (1, 2, 4, 8) if b % (dp * x) == 0], pins, allowed):
                m = b // (dp * mb) if b % (dp * mb) == 0 else 0
                vpps = [1] + [v for v in (2, 3, 4, 6, 8) if pp > 1 and pp * v <= L + 2 and m % pp == 0]
                for vpp in _opts("vpp", vpps, pins, allowed):
                    # the fused softmax reads heads, tp, micro-batch and sequence only
                    if softmax and softmax_problem(model, job, Layout(tp, pp, dp, cp, ep, vpp, mb), stack):
                        continue
                    yield (tp, pp, dp, cp, ep, vpp, mb), zs


def _opts(name: str, values: list, pins: dict, allowed: dict) -> list:
    """A knob's values to try: the pinned one instead of ``values``, then only those the stack allows, in order."""
    values = [pins[name]] if name in pins else values
    return [v for v in values if v in allowed[name]] if name in allowed else values


def _candidate_groups(model: ModelSpec, cluster: Cluster, job: Job, pins: dict, stack: Stack | None):
    """``_candidate_prefixes``' outer loops: (tp, pp, cp, dp, ZeRO stages) of every group its blocks come in, in its
    order, the pins checked first (a ``ValueError`` naming the knob)."""
    allowed = stack.allowed if stack else {}
    for k in pins:
        if k not in Layout.__dataclass_fields__:
            raise ValueError(f"unknown layout knob {k!r}; allowed: {', '.join(Layout.__dataclass_fields__)}")
    if "recompute" in pins and pins["recompute"] not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE)}, got {pins['recompute']!r:.40}")
    n = cluster.num_gpus
    if "tp" in pins and tp_problem(model, pins["tp"]):
        raise ValueError(tp_problem(model, pins["tp"]))
    for k in ("tp", "pp", "cp", "dp"):
        if k in pins and n % pins[k]:
            raise ValueError(f"{k}={pins[k]} must divide the {n} GPUs")

    def opts(name, values):
        return _opts(name, values, pins, allowed)

    sp = stack is None or stack.sequence_parallel
    for tp in opts("tp", [t for t in _valid_tps(model, cluster.gpus_per_node) if n % t == 0]):
        # uneven stages are allowed (BLOOM: 70 layers on 12 stages); the busiest stage sets the pace
        for pp in opts("pp", [p for p in _divisors(n // tp) if p <= model.num_layers]):
            for cp in opts("cp", [c for c in (1, 2, 4, 8, 16, 32, 64)  # at most 64
                                  if c <= n and (c == 1 or job.seq_len % (2 * c) == 0) and n % (tp * pp * c) == 0]):
                if n % (tp * pp * cp):
                    continue
                dp = n // (tp * pp * cp)
                if "dp" in pins and pins["dp"] != dp:
                    continue
                if sp and (job.seq_len // cp) % tp:  # sequence parallelism splits each cp rank's tokens over tp
                    continue
                # one data-parallel replica (dp x cp = 1): ZeRO has nothing to shard over
                # (Rajbhandari et al. 2020 sec. 5: states / Nd), every stage is the same run
                yield tp, pp, cp, dp, tuple(opts("zero", [0] if dp * cp == 1 else [0, 1] if pp > 1 else [0, 1, 2, 3]))


def pin_problems(model: ModelSpec, cluster: Cluster, job: Job, pins: dict, stack: Stack | None = None) -> list[str]:
    """Why the pinned knobs admit no layout, one sentence per rule they break, each naming the knob and what it may
    be; empty when the pins alone break none (the rest of the layout space, e.g. the batch, is then the cause).

    The rules are those a run would meet (``check_layout``): Megatron-LM's (megatron/training/arguments.py:
    tp x pp x cp x dp = world size; interleaving needs pp > 1 and, with its schedule, micro-batches a multiple of
    pp; expert parallelism splits experts over data-parallel ranks; the sequence splits into 2 cp chunks for
    load-balanced causal attention; sequence parallelism splits each cp rank's tokens over tp,
    megatron/core/tensor_parallel/mappings.py ``_split_along_first_dim``: "First dimension of the tensor should be
    divisible by tensor parallel size"), DeepSpeed's (pipeline engine with ZeRO 0 or 1) and the stack's own limits.

    >>> from calc.gpus import get_gpu
    >>> from calc.presets import get_preset
    >>> pin_problems(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 64), Job(4096, 2**22), {"ep": 2})
    ['ep=2 needs a mixture-of-experts model; Meta-Llama-3-8B has no experts (ep must be 1)']
    """
    n, b, L = cluster.num_gpus, job.global_batch, model.num_layers
    out = []
    allowed = stack.allowed if stack else {}
    for k, v in pins.items():
        if k in allowed and v not in allowed[k]:
            out.append(f"{k}={v}: the stack allows {k} in {{{', '.join(map(str, allowed[k]))}}} only")
    tp, pp, cp, dp = (pins.get(k) for k in ("tp", "pp", "cp", "dp"))
    if tp is not None and tp > cluster.gpus_per_node:
        out.append(f"tp={tp} must be at most the {cluster.gpus_per_node} GPUs of a node (GPUs per node): tensor "
                   "parallelism stays on the intra-node link")
    given = {k: pins[k] for k in ("tp", "pp", "cp", "dp") if k in pins}
    prod = math.prod(given.values())
    if len(given) == 4 and prod != n:
        out.append(f"tp x pp x cp x dp = {prod:,} must equal the {n:,} GPUs")
    elif len(given) > 1 and n % prod:
        out.append(f"{' x '.join(given)} = {prod:,} must divide the {n:,} GPUs")
    if pp is not None and pp > L:
        out.append(f"pp={pp} must be at most the {L} layers")
    vpp = pins.get("vpp")
    if vpp is not None and vpp > 1:
        if pp == 1 or n == 1:
            out.append(f"vpp={vpp} needs pp > 1 (interleaved pipeline stages); use vpp=1 without a pipeline")
        elif pp is not None and pp * vpp > L + 2:
            out.append(f"pp x vpp = {pp * vpp} must be at most the {L} layers + 2: vpp in [1, {(L + 2) // pp}] "
                       f"with pp={pp}")
    if cp is not None and cp > 1 and job.seq_len % (2 * cp):
        out.append(f"cp={cp}: the sequence ({job.seq_len:,} tokens) must split into 2 x cp = {2 * cp} equal chunks")
    elif tp is not None and tp > 1 and (stack is None or stack.sequence_parallel) and (job.seq_len // (cp or 1)) % tp:
        out.append(f"tp={tp}: sequence parallelism splits the {job.seq_len // (cp or 1):,} tokens of each "
                   f"{'cp rank' if cp and cp > 1 else 'sequence'} over tp, which must divide them")
    ep = pins.get("ep")
    if ep is not None and ep > 1:
        if not model.is_moe:
            out.append(f"ep={ep} needs a mixture-of-experts model; {model.name} has no experts (ep must be 1)")
        elif model.num_experts % ep:
            out.append(f"ep={ep} must divide the {model.num_experts} experts")
        elif dp is not None and dp % ep:
            out.append(f"ep={ep} must divide dp={dp} (expert parallelism is carved out of the data-parallel ranks)")
        elif n % ep:
            out.append(f"ep={ep} must divide the {n:,} GPUs (it is carved out of the data-parallel ranks)")
    z = pins.get("zero")
    if z is not None and z >= 2 and pp is not None and pp > 1:
        out.append(f"zero={z} with pp={pp}: a pipeline takes ZeRO stage 0 or 1 (pin pp=1 or zero <= 1)")
    mb = pins.get("micro_batch")
    if dp is not None and b % dp:
        out.append(f"dp={dp} must divide the global batch of {b:,} sequences")
    elif mb is not None and b % (mb * (dp or 1)):
        what = f"dp x micro_batch = {dp} x {mb}" if dp else f"micro_batch={mb}"
        out.append(f"{what} must divide the global batch of {b:,} sequences")
    elif vpp is not None and vpp > 1 and pp and dp and mb and (b // (dp * mb)) % pp:
        out.append(f"vpp={vpp}: the interleaved schedule needs the micro-batches per pipeline ({b // (dp * mb):,}) "
                   f"to be a multiple of pp={pp}")
    return out


def _has_layout(model: ModelSpec, cluster: Cluster, job: Job, pins: dict | None, stack: Stack | None) -> bool:
    try:
        return next(candidate_layouts(model, cluster, job, pins, stack), None) is not None
    except ValueError:  # a pin that does not divide this count
        return False


def gpu_count_problem(model: ModelSpec, cluster: Cluster, job: Job, stack: Stack | None = None,
                      pins: dict | None = None) -> str | None:
    """Why no layout splits ``cluster.num_gpus`` GPUs, with the nearest counts that do; None when the count is not the
    cause. Every factor of the count goes to a knob that can take it: tp divides the heads within a node, cp is a
    power of two up to 64 whose 2 cp chunks split the sequence, dp divides the batch's sequences, and pp takes the
    rest, at most one stage per layer; a count with a large odd factor (1,000 = 8 x 125) leaves pp above the layers.

    >>> from calc.gpus import get_gpu
    >>> from calc.presets import get_preset
    >>> print(gpu_count_problem(get_preset("Meta-Llama-3-70B"), Cluster(get_gpu("H100 SXM"), 1000), Job(4096, 2**22)))
    1,000 GPUs do not split into tp x pp x cp x dp: tp divides the heads within a node (1, 2, 4, 8), cp is a power of two that splits the sequence, dp divides the 1,024 sequences, and pp takes the rest: at least 125 stages (tp 1 x cp 1 x dp 8), more than the 80 layers. 992 or 1,008 GPUs would split.
    """
    n, b, L = cluster.num_gpus, job.global_batch, model.num_layers
    allowed = stack.allowed if stack else {}
    pins = pins or {}

    def ok(name, v):
        return (name not in allowed or v in allowed[name]) and (name not in pins or pins[name] == v)

    tps = [t for t in _valid_tps(model, cluster.gpus_per_node) if ok("tp", t)]
    cps = [c for c in (2**i for i in range(7)) if (c == 1 or job.seq_len % (2 * c) == 0) and ok("cp", c)]
    pp_max = min(L, max(allowed.get("pp", (L,))), pins.get("pp", L))

    def fewest_stages(count: int):
        """(pp, tp, cp, dp) with the fewest stages for ``count`` GPUs, or None: no tp x cp x dp divides it."""
        best = None
        for t in tps:
            for c in cps:
                if count % (t * c):
                    continue
                dp = pins["dp"] if "dp" in pins else math.gcd(count // (t * c), b)
                if (count // (t * c)) % dp or b % dp:
                    continue
                cand = (count // (t * c * dp), t, c, dp)
                if best is None or cand < best:
                    best = cand
        return best

    best = fewest_stages(n)
    if best is not None and best[0] <= pp_max:
        return None
    head = (f"{n:,} GPUs do not split into tp x pp x cp x dp: tp divides the heads within a node "
            f"({', '.join(map(str, tps))}), cp is a power of two that splits the sequence, dp divides the {b:,} "
            "sequences, and pp takes the rest: ")
    if best is None:
        head += "no tp x cp x dp divides the count."
    elif pp_max < L:
        head += (f"at least {best[0]:,} stages (tp {best[1]} x cp {best[2]} x dp {best[3]:,}), where "
                 f"{'the stack allows' if 'pp' in allowed else 'the pin sets'} pp={pp_max}.")
    else:
        head += (f"at least {best[0]:,} stages (tp {best[1]} x cp {best[2]} x dp {best[3]:,}), more than the {L} "
                 "layers.")
    near = []  # the nearest counts below and above that split (the arithmetic above, then the full rules)
    for step in range(1, min(4096, n)):
        for m in (n - step, n + step):
            found = fewest_stages(m)
            if (len(near) < 2 and found is not None and found[0] <= pp_max
                    and _has_layout(model, replace(cluster, num_gpus=m), job, pins, stack)):
                near.append(m)
        if near:
            break
    if near:
        head += f" {' or '.join(f'{m:,}' for m in sorted(near))} GPUs would split."
    return head


def _valid(model: ModelSpec, cluster: Cluster, job: Job, lay: Layout) -> bool:
    try:
        check_layout(model, cluster, job, lay)
    except ValueError:
        return False
    return True


class _Table(NamedTuple):
    """Layouts as ``search`` ranks them: ``P`` prefixes (the first seven ``_FIELDS``, each an int (1, P) row), ``rc``
    the recompute modes (indices into ``RECOMPUTE``) as an (R, 1) column that every prefix crosses, or a (1, P) row,
    one mode per prefix (R = 1); and the layouts, in ``_candidate_blocks``' order, as row ``i`` = (prefix ``p[i]``,
    mode ``r[i]``, ZeRO stage ``zero[i]``). The ZeRO stages cross a prefix's modes innermost. (R, P), not (P, R):
    NumPy's loops then run along the prefixes, the other way round they ran 3 at a time: 3-4x as long.)"""

    fields: np.ndarray  # (7, P): the prefixes' fields, ``pre`` its rows
    rc: np.ndarray
    p: np.ndarray
    r: np.ndarray
    zero: np.ndarray
    tps: list[int]  # the distinct tp values, ascending

    @property
    def pre(self) -> tuple[np.ndarray, ...]:
        return tuple(self.fields[i:i + 1] for i in range(7))

    def layouts(self, rows: np.ndarray) -> list[_Row]:
        """The layout of each of ``rows`` as a ``_Row`` (``search`` reads only the layouts it visits, a few at a time)."""
        p = self.p[rows]
        rc = self.rc[self.r[rows], 0] if self.rc.shape[1] == 1 else self.rc[0, p]
        return [_Row(*v[:7], RECOMPUTE[v[7]], v[8]) for v in np.vstack([self.fields[:, p], rc, self.zero[rows]]).T.tolist()]


def _rows_table(rows: list[tuple]) -> _Table:
    """``_Table`` of ``_candidate_blocks`` rows (``Layout`` field tuples in ``_FIELDS`` order, recompute as its index):
    one prefix per row, its own recompute mode."""
    t = np.array(rows, np.int64).reshape(len(rows), len(_FIELDS)).T.copy()
    return _Table(t[:7], t[7:8], np.arange(len(rows)), np.zeros(len(rows), np.int64), t[8], np.unique(t[0]).tolist())


def _unpinned_table(model: ModelSpec, cluster: Cluster, job: Job, stack: Stack | None) -> _Table:
    """The rows of ``_candidate_blocks`` without pins as a ``_Table``, built with NumPy instead of one tuple per layout
    (building the tuples, then the prefixes one by one, was a third of a Cluster planner search: issue 18): the groups
    of ``_candidate_groups`` (tp, pp, cp, dp and their ZeRO stages, a few dozen) crossed with every ep, micro-batch and
    vpp in ``_candidate_prefixes``' order, those it skips masked out; then each prefix with the recompute modes
    (outer) and its group's stages (inner)."""
    allowed = stack.allowed if stack else {}
    b, L = job.global_batch, model.num_layers
    groups = list(_candidate_groups(model, cluster, job, {}, stack))
    if len(groups) <= _GROUPS_BY_PYTHON:  # see _GROUPS_BY_PYTHON (none: the search then says why)
        return _rows_table([row for block in _candidate_blocks(model, cluster, job, None, stack) for row in block])
    eps = np.array(_opts("ep", _divisors(model.num_experts) if model.is_moe else [1], {}, allowed), np.int64)
    mbs = np.array(_opts("micro_batch", [1, 2, 4, 8], {}, allowed), np.int64)
    vpps = np.array(_opts("vpp", [1, 2, 3, 4, 6, 8], {}, allowed), np.int64)
    g = np.array([grp[:4] for grp in groups], np.int64).reshape(len(groups), 4)
    tp, pp, cp, dp = (g[:, i].reshape(-1, 1, 1, 1) for i in range(4))
    e, x, v = eps.reshape(1, -1, 1, 1), mbs.reshape(1, 1, -1, 1), vpps.reshape(1, 1, 1, -1)
    fits = b % (dp * x) == 0
    keep = (dp % e == 0) & fits & ((v == 1) | ((pp > 1) & (pp * v <= L + 2) & ((b // (dp * x)) % pp == 0)))
    if stack is not None and stack.fused_softmax_required is not None:  # it reads heads, tp, micro-batch, sequence
        tps = sorted({grp[0] for grp in groups})
        ok = np.array([[softmax_problem(model, job, Layout(tp=t, micro_batch=int(mb)), stack) is None for mb in mbs]
                       for t in tps], bool).reshape(len(tps), len(mbs))
        keep &= ok[np.searchsorted(np.array(tps, np.int64), tp), np.arange(len(mbs)).reshape(1, 1, -1, 1)]
    gi, ei, xi, vi = np.nonzero(keep)  # in C order: group, ep, micro-batch, vpp, as the loops nest
    fields = np.stack([g[gi, 0], g[gi, 1], g[gi, 3], g[gi, 2], eps[ei], vpps[vi], mbs[xi]])
    patterns: dict[tuple, int] = {}
    pid = np.array([patterns.setdefault(grp[4], len(patterns)) for grp in groups], np.int64)[gi]
    zpad = np.zeros((max(len(patterns), 1), max((len(zs) for zs in patterns), default=0) or 1), np.int64)
    k = np.zeros(len(zpad), np.int64)
    for zs, i in patterns.items():
        zpad[i, :len(zs)], k[i] = zs, len(zs)
    rcs = np.array(_recompute_options(None, stack), np.int64)
    slots = np.arange(zpad.shape[1]).reshape(1, 1, -1) < k[pid].reshape(-1, 1, 1)
    p, r, slot = np.nonzero(np.broadcast_to(slots, (len(pid), len(rcs), zpad.shape[1])))
    if len(p) <= _ROWS_AS_ROWS:  # a small table as one prefix per layout: see _ROWS_AS_ROWS
        return _Table(fields[:, p], rcs[r].reshape(1, -1), np.arange(len(p)), np.zeros(len(p), np.int64),
                      zpad[pid[p], slot], np.unique(fields[0]).tolist())
    return _Table(fields, rcs.reshape(-1, 1), p, r, zpad[pid[p], slot], np.unique(fields[0]).tolist())


#: At most this many groups of tp, pp, cp and dp (1, 2 or 3 GPUs: one or two) are listed by ``_candidate_blocks``, a
#: Python loop, as they were: for so few layouts the NumPy listing's own calls cost more (0.25 ms against 0.06).
_GROUPS_BY_PYTHON = 2

#: Tables of at most this many layouts are computed one prefix per layout, a (1, N) row: NumPy's broadcasting of a
#: (1, P) row against an (R, 1) column costs a few microseconds more per operation than a row alone, more than the
#: prefix-wise saving on so few (a 12-layout search: 0.40 -> 0.28 ms in ``_step_parts``).
_ROWS_AS_ROWS = 256


#: ``_kept_table``'s tables, least recently used first: key -> (stack, table); at most ``_COLUMNS_KEPT`` of them and
#: ``_COLUMNS_ROWS`` layouts in all, shared by sessions, read only
_COLUMNS: OrderedDict[tuple, tuple] = OrderedDict()
_COLUMNS_LOCK = threading.Lock()
_COLUMNS_KEPT, _COLUMNS_ROWS = 8, 100_000


def _kept_table(model: ModelSpec, cluster: Cluster, job: Job, stack: Stack | None) -> _Table:
    """``_unpinned_table``, kept per what ``_candidate_prefixes`` reads: the model, the GPU count and node size, the
    sequence, the batch and the stack (the very object: a stack holds a dict and is not hashable, and the entry keeps
    it alive, so its id names it). A change of the GPU type, the precision, the links or the matmul efficiency
    searches the same layouts without listing them again (issue 18). The arrays are read only."""
    key = (model, cluster.num_gpus, cluster.gpus_per_node, job.seq_len, job.global_batch, id(stack))
    with _COLUMNS_LOCK:
        kept = _COLUMNS.get(key)
        if kept is not None and kept[0] is stack:
            _COLUMNS.move_to_end(key)
            return kept[1]
    table = _unpinned_table(model, cluster, job, stack)
    for v in (table.fields, table.rc, table.p, table.r, table.zero):
        v.setflags(write=False)
    if len(table.p) <= _COLUMNS_ROWS:
        with _COLUMNS_LOCK:
            _COLUMNS[key] = (stack, table)
            while len(_COLUMNS) > _COLUMNS_KEPT or sum(len(t.p) for _, t in _COLUMNS.values()) > _COLUMNS_ROWS:
                _COLUMNS.popitem(last=False)
    return table


def _table_steps(model: ModelSpec, cluster: Cluster, job: Job, table: _Table, nb: Mapping, stack: Stack | None):
    """The step times of a table's layouts (``_step_parts``, per prefix and recompute mode, unchecked): ``kept``, the
    rows whose step time was computed (``strict`` False), ``step``, theirs (``Plan.step_s``: the parts added in
    ``Plan.breakdown``'s order, the data-parallel and optimizer parts picked by each row's ZeRO stage), and
    ``row_plan(row, layout, memory)``, the ``Plan`` of one row."""
    parts, below, zero3, sharded, whole, hw_flops, ok = _step_parts(
        model, cluster, job, table.pre, table.rc, nb, stack, strict=False, tps=table.tps)
    if table.rc.shape[0] == 1:  # one prefix per layout, a (1, N) row: each layout's parts are its own
        zero = table.zero
        parts = _by_zero(parts, below, zero3, sharded, whole, zero)
        kept = np.flatnonzero(np.broadcast_to(ok, zero3.shape)) if ok.ndim else np.arange(len(zero))
        step = sum(parts.values()).ravel()[kept] if ok.ndim else sum(parts.values()).ravel()

        def row_plan(row: int, lay: Layout, memory_bytes: int) -> Plan:
            return _plan(lay, {k: float(v[0, row]) for k, v in parts.items()}, float(hw_flops[0, row]), nb, cluster,
                         job, memory_bytes)

        return kept, step, row_plan
    # (modes, prefixes); pp_comm, the optimizer and the FLOPs read only one of the two (a size-1 axis, read at 0)
    width = table.fields.shape[1]
    # ZeRO picks one of two data-parallel parts per (mode, prefix), one of two optimizer parts per prefix
    dp_comm, optimizer = np.stack([below, zero3], -1), np.stack([whole, sharded], -1)
    cell = table.r * width + table.p  # each layout's (mode, prefix), flattened
    p, zero = table.p, table.zero
    if ok.ndim:  # a layout whose step time raised is left out
        kept = np.flatnonzero(np.broadcast_to(ok, dp_comm.shape[:2]).ravel()[cell])
        cell, p, zero = cell[kept], p[kept], zero[kept]
    else:
        kept = np.arange(len(cell))
    step = (sum(parts.values()).ravel()[cell] + dp_comm.ravel()[2 * cell + (zero >= 3)]
            + optimizer.ravel()[2 * p + (zero >= 1)])

    def row_plan(row: int, lay: Layout, memory_bytes: int) -> Plan:
        p, r = int(table.p[row]), int(table.r[row])
        breakdown = {k: float(v[r % v.shape[0], p]) for k, v in parts.items()}
        breakdown["dp_comm"] = float(dp_comm[r, p, int(lay.zero >= 3)])
        breakdown["optimizer"] = float(optimizer[0, p, int(lay.zero >= 1)])
        return _plan(lay, breakdown, float(hw_flops[r % hw_flops.shape[0], p % hw_flops.shape[1]]), nb, cluster, job,
                     memory_bytes)

    return kept, step, row_plan


def _fastest_first(step: np.ndarray):
    """The indices of ``step`` in the order of ``np.argsort(step, kind="stable")`` (ascending, ties by index, NaN
    last), lazily: the ``_HEAD`` smallest (and every tie of the largest of them) sorted first, the rest only if the
    caller reads past them. A search visits layouts until ``top`` fit, most often a few dozen of thousands, and the
    full sort was a tenth of a Cluster planner search (issue 18)."""
    if len(step) <= _HEAD:
        yield from np.argsort(step, kind="stable").tolist()
        return
    cut = np.partition(step, _HEAD - 1)[_HEAD - 1]
    head = step <= cut  # False for NaN (and all False when the cut is NaN): those stay in the rest, sorted last
    for part in (np.flatnonzero(head), np.flatnonzero(~head)):
        yield from part[np.argsort(step[part], kind="stable")].tolist()


#: Layouts ``_fastest_first`` sorts before the rest (a search shows 8 by default and visits a few dozen).
_HEAD = 128


def _visits(order):
    """``order`` (an iterator of indices) in lists of 8, 8, 16, 32, 64 (the first ``_HEAD`` of ``_fastest_first``, so
    that its rest is sorted only when a search reads past them), then 64, 128, 256...: a search reads the visited
    layouts a list at a time (``_Table.layouts``; one a time was a tenth of a search of a large model, which visits
    hundreds), and reads at most as many again as it visits."""
    for size in itertools.chain((8, 8, 16, 32, 64), (2**i for i in itertools.count(6))):
        visit = list(itertools.islice(order, size))
        if not visit:
            return
        yield visit


def search(model: ModelSpec, cluster: Cluster, job: Job, pins: dict | None = None, top: int = 5,
           require_fit: bool = True, stack: Stack | None = None) -> list[Plan]:
    """The ``top`` fastest layouts that fit the GPU's memory, fastest first (``require_fit=False``: whether they
    fit or not, each with its memory, so that a published layout can be shown beside its memory estimate).

    Step times are cheap arithmetic; memory is the full training-memory model, so layouts are visited in
    order of step time and memory is checked only until ``top`` fit.
    """
    _check_inputs(cluster, job)
    _check("top", top, 1, 1000)
    # without pins every layout candidate_layouts builds passes check_layout (its lists are those rules), so the
    # checks run once here instead of once per layout; a pin replaces a list and is checked per layout
    nb = _model_numbers(model, job.seq_len)
    if pins:
        table = _rows_table([row for block in _candidate_blocks(model, cluster, job, pins, stack) for row in block
                             if _valid(model, cluster, job, _layout(row))])
    else:  # the table straight from the groups, no tuple per layout (issue 18)
        table = _kept_table(model, cluster, job, stack)
    count = len(table.p)  # valid layouts
    if count:  # every step time at once (``_step_parts``, per prefix and recompute mode), then visited in their order
        kept, step, row_plan = _table_steps(model, cluster, job, table, nb, stack)
        count = len(kept)  # a layout whose step time raised is left out
        order = _fastest_first(step)  # ties keep the enumeration's order, as list.sort did
    if not count and pins:
        problems = pin_problems(model, cluster, job, pins, stack)
        if problems:
            raise ValueError("no valid layout with these pins: " + "; ".join(problems))
    if not count and stack is not None and stack.fused_softmax_required:
        longest = stack.fused_softmax_required[1]
        if not (16 < job.seq_len <= longest and job.seq_len % 4 == 0):
            raise ValueError(f"no valid layout: the stack refuses to run without its fused softmax, which needs a "
                             f"sequence of 17-{longest:,} tokens, a multiple of 4; got {job.seq_len:,}")
    if not count:
        problem = gpu_count_problem(model, cluster, job, stack, pins)
        if problem:
            raise ValueError("no valid layout: " + problem)
        raise ValueError(f"no valid layout for {cluster.num_gpus:,} GPUs and a batch of {job.global_batch:,} "
                         "sequences: tp must divide the heads and stay in a node, dp x micro-batch must divide the "
                         "batch" + (f"; pinned: {pins}" if pins else "")
                         + (f"; the stack allows only {stack.allowed}" if stack else "")
                         + (f" and needs its fused softmax (heads / tp x micro-batch a multiple of "
                            f"{stack.fused_softmax_required[0]}, a sequence of 17-{stack.fused_softmax_required[1]:,}"
                            " tokens)" if stack and stack.fused_softmax_required else ""))
    cap = cluster.gpu.usable_memory_bytes
    out = []
    least = None  # (bytes, layout) of the layout that needs the least, for the message when none fits
    knobs = _memory_knobs(stack)
    for visit in _visits(order):  # a few layouts at a time, fastest first
        rows = kept[visit]
        for row, lay in zip(rows.tolist(), table.layouts(rows), strict=True):
            mem = _layout_memory(model, job.seq_len, lay, *knobs)  # layout_memory
            if mem <= cap or not require_fit:  # a Plan only for a layout shown
                out.append(row_plan(row, Layout(*lay), mem))
                if len(out) == top:
                    break
            elif least is None or mem < least[0]:
                least = (mem, lay)
        if len(out) == top:
            break
    if not out:
        mem, lay = least
        raise ValueError(
            f"no layout fits the {cluster.gpu.name}'s memory ({cap / 2**30:.1f} GiB usable): of the {count:,} "
            f"valid layout{'s' if count > 1 else ''} the least needs {mem / 2**30:.1f} GiB per GPU (tp {lay.tp} pp {lay.pp} cp {lay.cp} "
            f"dp {lay.dp} ep {lay.ep}, micro-batch {lay.micro_batch}, {lay.recompute} recompute, ZeRO-{lay.zero}); "
            "add GPUs, shorten the sequence" + (", or unpin " + ", ".join(f"{k}={v}" for k, v in pins.items())
                                                if pins else ""))
    return out


def plan_dict(p: Plan, job: Job | None = None, price_per_gpu_hour: float = 0.0) -> dict:
    """The JSON row of ``python -m calc plan``."""
    lay = p.layout
    row = {"tp": lay.tp, "pp": lay.pp, "dp": lay.dp, "cp": lay.cp, "ep": lay.ep, "vpp": lay.vpp, "zero": lay.zero,
           "micro_batch": lay.micro_batch, "recompute": lay.recompute,
           "memory_per_gpu_bytes": p.memory_per_gpu_bytes, "step_s": p.step_s, "mfu": p.mfu, "hfu": p.hfu,
           "tokens_per_s": p.tokens_per_s, "model_tflops_per_gpu": p.model_tflops_per_gpu,
           "breakdown": dict(p.breakdown)}
    if job is not None and job.tokens:
        row["days"] = p.days(job.tokens)
        row["cost_usd"] = p.cost_usd(job.tokens, price_per_gpu_hour)
    if not all(math.isfinite(v) for v in row["breakdown"].values()):
        raise ValueError("the step time is not finite for this layout")
    return row
