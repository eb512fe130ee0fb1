"""Serving memory as vLLM lays it out at start-up: what is left for the KV cache, in blocks, tokens and requests.

vLLM (v1 engine) sizes its KV cache once, at start-up (``vllm/v1/worker/gpu_worker.py``,
``Worker.determine_available_memory``)::

    requested = total GPU memory x gpu_memory_utilization
    KV cache  = requested - (weights + activation peak of a profile forward + non-torch memory)

The profile forward (``GPUModelRunner.profile_run``) runs ``max_num_batched_tokens`` dummy tokens through the
model plus a sampler step over ``max_num_seqs`` sequences; its torch peak above the weights is the "activation
peak". Non-torch memory is what the CUDA context, cuBLAS workspaces and NCCL buffers take outside PyTorch's
allocator (larger with tensor parallelism). CUDA graphs are captured after the KV cache is allocated
(``GPUModelRunner.capture_model`` runs after ``initialize_kv_cache``), so in the vLLM versions whose logs we
reproduce their memory comes out of the ``1 - gpu_memory_utilization`` headroom: ``cuda_graph_bytes`` defaults to
0 and is subtracted when given (newer releases estimate it during profiling).

The KV memory is then cut into blocks (``vllm/v1/core/kv_cache_utils.py``):

- a page = ``block_size`` tokens of one layer: ``block_size x kv_heads_per_rank x (d_k + d_v) x bytes``
  (``AttentionSpec.real_page_size_bytes``, ``vllm/v1/kv_cache_interface.py``); MLA: ``block_size x
  (kv_lora_rank + qk_rope_head_dim) x bytes``, one "head", no factor 2, the same on every TP rank
  (``MLAAttentionSpec``).
- one kind of layer (``_get_kv_cache_groups_uniform_spec``): ``blocks = available // page // layers``
  (``get_num_blocks``); layers of one type but different pages: ``blocks = available // sum(pages)``.
- full attention mixed with sliding-window or chunked layers (the hybrid allocator,
  ``_get_kv_cache_groups_uniform_page_size``): layers grouped by kind into groups of ``group_size`` layers (the
  fewest layers of any kind, or the most when max < 1.5 x min), padded; ``blocks = available // page //
  group_size``; a sliding-window group needs ``cdiv(min(window - 1 + max_num_batched_tokens, max_model_len),
  block_size) + 1`` blocks per request, a chunked one ``cdiv(min(chunk + max_num_batched_tokens, max_model_len),
  block_size)`` (``SlidingWindowSpec`` / ``ChunkedLocalAttentionSpec.max_memory_usage_bytes``), a full one
  ``cdiv(max_model_len, block_size)``.
- recurrent layers (Mamba, gated DeltaNet: ``MambaSpec``) hold one page per request (the fixed state); vLLM raises
  the attention block size to a multiple of 16 whose page is at least the state page and pads the state page to
  it (``HybridAttentionMambaModelConfig`` / ``_align_hybrid_block_size``): NVIDIA-Nemotron-Nano-9B-v2 gets the 672-token
  block vLLM reports (vllm-project/vllm#24280, tests); its KV tokens are not yet checked against a log. A layer whose
  attention runs beside a recurrent mixer (Falcon-H1, ``Block.parallel``) is two cache layers in vLLM (the mixer under
  index ``num_hidden_layers + i``, ``models/falcon_h1.py``): N attention and N state layers, two groups of N.

Logged: ``GPU KV cache size: blocks // groups x block_size tokens`` and ``Maximum concurrency for L tokens per
request: blocks / blocks-per-request`` (``_report_kv_cache_config`` / ``get_max_concurrency_for_kv_cache_config``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from calc.arch.kinds import MLA, Attention
from calc.dtypes import dtype_bits
from calc.memory import InferenceSetup, inference_weights_bytes
from calc.models import ModelSpec
from calc.parallel import check_tp, mixer_on_gpu
from calc.units import GIB

#: vLLM's defaults (``vllm/config/cache.py`` CacheConfig: gpu_memory_utilization 0.9, block_size 16 on CUDA;
#: ``vllm/engine/arg_utils.py`` ``_set_default_args``: the OpenAI server gets max_num_batched_tokens 8192 and
#: max_num_seqs 1024 on GPUs of 70 GiB or more (not A100), 2048 and 256 otherwise).
VLLM_GPU_MEMORY_UTILIZATION = 0.9
VLLM_BLOCK_SIZE = 16
#: Non-torch memory when none is given: what vLLM logs for one GPU is 0.02-0.35 GiB on consumer cards and up to
#: 1.8 GiB on an H100 (CUDA context, cuBLAS workspaces); NCCL adds about 1.8 GiB per rank with tp > 1
#: (vllm-project/vllm#10511: Llama-3-8B on H100 1.79 GiB at tp=1, 3.58 GiB at tp=2). A typical figure, not a law.
NON_TORCH_BYTES_TP1 = int(0.5 * GIB)
NON_TORCH_BYTES_NCCL = int(1.8 * GIB)



def vllm_batch_defaults(gpu_memory_bytes: int, gpu_name: str = "") -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM's OpenAI server picks when they are not given
    (``vllm/engine/arg_utils.py`` ``get_batch_defaults``): 8192 and 1024 on a GPU of at least 70 GiB that is not an
    A100, 2048 and 256 otherwise.

    >>> vllm_batch_defaults(80 * GIB, "H100 SXM"), vllm_batch_defaults(80 * GIB, "A100 SXM 80GB")
    ((8192, 1024), (2048, 256))
    """
    if gpu_memory_bytes >= 70 * GIB and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256

#: Weight formats an engine multiplies in their own precision (activations quantized on the fly, W8A8 / W4A4) where
#: the GPU has tensor cores for it: vLLM's ``Fp8LinearMethod`` (``model_executor/layers/quantization/fp8.py``) calls
#: ``cutlass_scaled_mm`` on compute capability 8.9+ and falls back to the weight-only FP8 Marlin kernel (16-bit
#: GEMMs) below; TensorRT-LLM and SGLang run FP8 checkpoints' GEMMs in FP8 on Hopper; NVFP4 checkpoints run FP4 GEMMs
#: on Blackwell. Integer and other 4-bit formats (GPTQ, AWQ, Marlin: W8A16, W4A16) dequantize to 16 bits.
_LOW_PRECISION_GEMMS = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "nvfp4": "fp4"}


def gemm_dtype(weights_dtype: str, gpu) -> str:
    """The dtype whose peak (``gpu.peak``) bounds a serving engine's matmuls for ``weights_dtype`` weights: FP8 (NVFP4)
    where the GPU has an FP8 (FP4) peak, else the 16-bit activations' (bf16, or fp16 on GPUs without bf16 such as
    V100 and T4); fp32 weights multiply in fp32 (PyTorch leaves TF32 off for matmuls by default).

    >>> from calc.gpus import get_gpu
    >>> gemm_dtype("fp8_e4m3", get_gpu("H100 SXM")), gemm_dtype("fp8_e4m3", get_gpu("A100 SXM 80GB"))
    ('fp8', 'bf16')
    >>> gemm_dtype("int4", get_gpu("H100 SXM")), gemm_dtype("bf16", get_gpu("V100 SXM2 32GB"))
    ('bf16', 'fp16')
    """
    low = _LOW_PRECISION_GEMMS.get(weights_dtype)
    if low is not None and gpu.peak(low):
        return low
    if weights_dtype == "fp32":
        return "fp32"
    return "bf16" if gpu.peak("bf16") or not gpu.peak("fp16") else "fp16"


SGLANG_SRC = "sgl-project/sglang python/sglang/srt/server_args.py (ServerArgs.__post_init__, v0.5 series)"
TRTLLM_SRC = "NVIDIA/TensorRT-LLM tensorrt_llm/llmapi/llm_args.py (KvCacheConfig, BaseLlmArgs)"


@dataclass(frozen=True)
class EngineProfile:
    """How one serving engine sizes its KV cache at start-up, and its defaults where they differ from vLLM's.

    ``kv_rule``:
      - ``"utilization"`` (vLLM): KV = total x fraction - weights - activation peak - non-torch memory.
      - ``"static"`` (SGLang, ``mem_fraction_static``): the fraction of the total holds the weights and the KV pool;
        activations and CUDA graphs live in the rest. ``profile_max_num_token`` takes the free memory after the
        weights are loaded minus ``total x (1 - mem_fraction_static)``: KV = total x fraction - weights - non-torch.
      - ``"free"`` (TensorRT-LLM, ``kv_cache_free_gpu_memory_fraction``): the fraction of the memory still FREE
        after the weights and a profile forward: KV = fraction x (total - weights - activation peak - non-torch).
    """

    key: str
    label: str
    kv_rule: str
    fraction_name: str
    block_size: int
    source: str

    def fraction(self, gpu_memory_bytes: int, tp: int = 1, pp: int = 1) -> float:
        """The default fraction on a GPU of ``gpu_memory_bytes`` (as nvidia-smi reports its total)."""
        if self.key == "sglang":  # reserved MiB for activations + CUDA graphs by memory tier, then rounded
            mib = gpu_memory_bytes / 2**20
            par = tp * pp
            reserved = ((2.8 + par / 10) if mib < 35 * 1024 else (9.5 + par / 2) if mib < 90 * 1024
                        else (12 + par / 2) if mib < 160 * 1024 else 32) * 1024
            return round((mib - reserved) / mib, 3)
        if self.key == "trtllm":
            return TRTLLM_FREE_FRACTION
        return VLLM_GPU_MEMORY_UTILIZATION

    def batch_defaults(self, gpu_memory_bytes: int, gpu_name: str = "") -> tuple[int, int]:
        """(tokens per step, running sequences): vLLM's ``vllm_batch_defaults``; SGLang's chunked_prefill_size
        (2,048 under 35 GiB, 8,192 under 160 GiB, else 16,384; its max_running_requests is derived from the pool,
        here vLLM's figure stands in); TensorRT-LLM's max_num_tokens 8,192 and max_batch_size 2,048."""
        tokens, seqs = vllm_batch_defaults(gpu_memory_bytes, gpu_name)
        if self.key == "sglang":
            mib = gpu_memory_bytes / 2**20
            return (2048 if mib < 35 * 1024 else 8192 if mib < 160 * 1024 else 16384), seqs
        if self.key == "trtllm":
            return TRTLLM_MAX_NUM_TOKENS, TRTLLM_MAX_BATCH_SIZE
        return tokens, seqs


#: TensorRT-LLM's LLM API defaults (llm_args.py): KvCacheConfig.free_gpu_memory_fraction 0.9 ("Default is 90%"),
#: tokens_per_block 32 (the legacy TensorRT engine plugin config used 64); BaseLlmArgs max_batch_size 2048,
#: max_num_tokens 8192.
TRTLLM_FREE_FRACTION = 0.9
TRTLLM_TOKENS_PER_BLOCK = 32
TRTLLM_MAX_BATCH_SIZE = 2048
TRTLLM_MAX_NUM_TOKENS = 8192

ENGINES = {
    "vllm": EngineProfile("vllm", "vLLM", "utilization", "gpu_memory_utilization", VLLM_BLOCK_SIZE,
                          "vllm/config/cache.py CacheConfig (gpu_memory_utilization 0.9, block_size 16); "
                          "vllm/v1/worker/gpu_worker.py determine_available_memory"),
    # SGLang: mem_fraction_static from the GPU's memory tier and tp x pp (reserved (9.5 + tp pp / 2) GiB under
    # 90 GiB, (12 + tp pp / 2) under 160, 32 above; (2.8 + tp pp / 10) under 35); page_size 1 (one token a page).
    "sglang": EngineProfile("sglang", "SGLang", "static", "mem_fraction_static", 1, SGLANG_SRC),
    "trtllm": EngineProfile("trtllm", "TensorRT-LLM", "free", "kv_cache_free_gpu_memory_fraction",
                            TRTLLM_TOKENS_PER_BLOCK, TRTLLM_SRC),
}


def get_engine(key: str) -> EngineProfile:
    if key not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {key!r:.40}")
    return ENGINES[key]


@dataclass(frozen=True)
class ServeSetup:
    """One vLLM replica: ``tp`` GPUs of ``gpu_memory_bytes`` each (the device total ``torch.cuda.mem_get_info``
    reports). The ``*_bytes`` overrides replace the estimates (pass what a log shows)."""

    gpu_memory_bytes: int
    tp: int = 1
    pp: int = 1
    weights_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    gpu_memory_utilization: float = VLLM_GPU_MEMORY_UTILIZATION
    max_model_len: int = 8192
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    block_size: int = VLLM_BLOCK_SIZE
    weights_bytes: int | None = None
    activation_peak_bytes: int | None = None
    non_torch_bytes: int | None = None
    cuda_graph_bytes: int = 0
    checkpoint_bytes: int | None = None  # the checkpoint's bytes as published (all ranks together)
    #: ``ENGINES`` key: how the KV cache is sized (``gpu_memory_utilization`` is then the engine's fraction:
    #: SGLang's mem_fraction_static, TensorRT-LLM's kv_cache_free_gpu_memory_fraction)
    engine: str = "vllm"


@dataclass(frozen=True)
class ServeMemory:
    """Per GPU (every TP rank holds the same layout). ``kv_cache_blocks`` is vLLM's ``num_gpu_blocks``."""

    requested_bytes: int
    weights_bytes: int
    activation_peak_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    kv_cache_bytes: int
    kv_cache_blocks: int
    kv_cache_tokens: int
    max_concurrency: float
    block_size: int
    page_bytes: int
    groups: int
    blocks_per_request: int
    request_kv_bytes: int
    notes: list[str] = field(default_factory=list)
    #: What a continuous-batching simulation (calc/serve_sim.py) admits against: the token slots of the attention
    #: blocks (None: no attention), the slots each request's recurrent state blocks take from the same pool, and for a
    #: model of recurrent layers only the most sequences its state blocks hold. vLLM's logged "GPU KV cache size"
    #: divides the blocks by every group, state groups too, and so counts a Mamba hybrid's pool several times short.
    sim_kv_tokens: int | None = None
    state_tokens_per_request: int = 0
    max_running: int | None = None

    @property
    def fits(self) -> bool:
        """vLLM refuses to start unless one request of max_model_len fits (``check_enough_kv_cache_memory``)."""
        return self.max_concurrency >= 1


def _check(s: ServeSetup) -> None:
    checks = (("tp", s.tp, 1, 1024), ("pp", s.pp, 1, 1024), ("max_model_len", s.max_model_len, 1, 10**8),
              ("max_num_seqs", s.max_num_seqs, 1, 10**6), ("max_num_batched_tokens", s.max_num_batched_tokens, 1, 10**8),
              ("block_size", s.block_size, 1, 4096), ("gpu_memory_bytes", s.gpu_memory_bytes, 10**8, 10**14))
    for name, v, lo, hi in checks:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{name} must be a whole number in [{lo:,}, {hi:,}], got {v!r:.40}")
    get_engine(s.engine)
    u = s.gpu_memory_utilization
    if isinstance(u, bool) or not isinstance(u, int | float) or not math.isfinite(u) or not 0 < u <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {u!r:.40}")
    for name in ("weights_bytes", "activation_peak_bytes", "non_torch_bytes", "cuda_graph_bytes", "checkpoint_bytes"):
        v = getattr(s, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10**15):
            raise ValueError(f"{name} must be a whole number of bytes in [0, 1e15], got {v!r:.40}")


def profile_activation_bytes(spec: ModelSpec, s: ServeSetup) -> int:
    """Torch peak of vLLM's profile forward above the weights (an estimate; the logs show it varies by version).

    ``n = max_num_batched_tokens`` tokens in the model dtype (2 B): the residual stream and the norm output
    (``2 n h``) plus the widest block intermediate split by ``tp`` (``q + 2 kv + o`` for attention, or gate, up and
    their product ``3 f`` for a gated MLP; MoE: the routed tokens' ``3 f_expert x top_k``), and the sampler's fp32
    logits of ``max_num_seqs`` sequences over the vocabulary (``vocab / tp`` per rank, gathered: whole vocab).
    """
    n = s.max_num_batched_tokens
    f = max(spec.intermediate_size, spec.moe_intermediate_size * max(spec.experts_per_token, 1))
    widest = max(spec.q_dim + 2 * spec.kv_dim + spec.attn_out_dim, (3 if spec.gated_mlp else 2) * f)
    return int(n * 2 * (2 * spec.hidden_size + widest / s.tp) + s.max_num_seqs * spec.vocab_size * 4)


def default_non_torch_bytes(tp: int) -> int:
    """``NON_TORCH_BYTES_TP1`` plus NCCL's buffers with ``tp > 1`` (see the constants' sources)."""
    return NON_TORCH_BYTES_TP1 + (NON_TORCH_BYTES_NCCL if tp > 1 else 0)


@dataclass(frozen=True)
class _LayerSpec:
    kind: str  # "full", "sliding", "chunked", "state"
    page_bytes: int  # bytes of one block of this layer (the state: one sequence's state)
    window: int | None = None


@dataclass(frozen=True)
class KVLayout:
    """vLLM's KV cache for one GPU: ``blocks`` block ids of ``block_bytes`` each (all layers sharing an id),
    ``blocks_per_request`` of them for one request of max_model_len."""

    blocks: int
    tokens: int
    blocks_per_request: int
    block_bytes: int
    page_bytes: int
    groups: int
    block_size: int
    note: str = ""
    attention_groups: int = 1  # groups whose blocks hold tokens (the rest hold one recurrent state per request)

    @property
    def state_groups(self) -> int:
        return self.groups - self.attention_groups

    @property
    def max_concurrency(self) -> float:
        return self.blocks / self.blocks_per_request if self.blocks_per_request else 0.0

    @property
    def request_bytes(self) -> int:
        """KV bytes one request of max_model_len needs (vLLM's "X GiB KV cache is needed" when it does not fit)."""
        return self.blocks_per_request * self.block_bytes


def pp_stage_layers(num_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage as vLLM splits them (``vllm/distributed/utils.py`` ``get_pp_indices``): equal
    shares, the remainder going one each to the stages before the last (27 layers over 2 stages: 14 + 13)."""
    if not 1 <= pp <= num_layers:
        raise ValueError(f"pp must be in [1, {num_layers}] (the layers), got {pp}")
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    starts = [sum(sizes[:i]) for i in range(pp)]
    return [range(a, a + n) for a, n in zip(starts, sizes, strict=True)]


def _layer_specs(spec: ModelSpec, s: ServeSetup, layers: range | None = None) -> list[tuple[_LayerSpec, int]]:
    """(vLLM KV cache spec, layer count) per distinct layer kind, per TP rank (``layers``: one pipeline stage)."""
    bits = dtype_bits(s.kv_dtype)
    counts: dict[int, int] = {}
    pattern = spec.layout.pattern
    for i in layers if layers is not None else range(len(pattern)):
        counts[pattern[i]] = counts.get(pattern[i], 0) + 1
    out: dict[_LayerSpec, int] = {}
    for k, n in counts.items():
        b = spec.layout.kinds[k]
        m = b.mixer
        if isinstance(m, Attention):
            per_token = -(-m.kv_heads // s.tp) * (m.head_dim + m.vdim)
            kind = "sliding" if m.window else "chunked" if m.chunk else "full"
            ls = _LayerSpec(kind, math.ceil(s.block_size * per_token * bits / 8), m.window or m.chunk)
        elif isinstance(m, MLA):
            per_token = m.kv_lora_rank + m.qk_rope_head_dim
            kind = "sliding" if getattr(m, "window", None) else "full"
            ls = _LayerSpec(kind, math.ceil(s.block_size * per_token * bits / 8), getattr(m, "window", None))
        else:
            ls = None
        if ls is not None:
            out[ls] = out.get(ls, 0) + n
        # The recurrent mixer: a Mamba / DeltaNet layer's own, or the one beside the attention (Falcon-H1: vLLM
        # registers it as a layer of its own, index num_hidden_layers + i, so every layer adds a state page).
        rec = b.recurrent
        if rec is not None:
            state = state_page_bytes(mixer_on_gpu(rec, s.tp))
            if state:
                out[_LayerSpec("state", state)] = out.get(_LayerSpec("state", state), 0) + n
    return list(out.items())


def state_page_bytes(mixer) -> int:
    """One sequence's recurrent state as vLLM pages it (``MambaSpec.page_size_bytes``: the conv and SSM states of
    ``MambaStateShapeCalculator``, ``vllm/model_executor/layers/mamba/mamba_utils.py``) for ``mixer``, one TP
    rank's share (``calc.parallel.mixer_on_gpu``: a single Mamba-2 group is replicated on every rank, vLLM's
    ``extra_groups_for_head_shards``, so its conv channels are not halved): the conv state keeps ``kernel - 1``
    inputs (transformers keeps ``kernel``). vLLM keeps both states in the model dtype unless
    ``mamba_ssm_cache_dtype`` says otherwise (bf16 assumed)."""
    conv, ssm = mixer.state_elements()
    channels, kernel = mixer.conv_state_shape()
    if channels:
        conv = channels * (kernel - 1)
    return (conv + ssm) * 2


def _blocks_per_request(ls: _LayerSpec, s: ServeSetup, block_size: int, max_len: int | None = None) -> int:
    L, B = max_len or s.max_model_len, s.max_num_batched_tokens
    if ls.kind == "full":
        return -(-L // block_size)
    if ls.kind == "sliding":
        return -(-min(ls.window - 1 + B, L) // block_size) + 1
    if ls.kind == "chunked":
        return -(-min(ls.window + B, L) // block_size)
    return 1  # a recurrent state: one page per request


def _stage_layout(spec: ModelSpec, s: ServeSetup, avail: int, layers: range | None,
                  max_len: int | None = None) -> KVLayout:
    specs = _layer_specs(spec, s, layers)
    if not specs:
        return KVLayout(0, 0, 0, 0, 0, 0, s.block_size, "no KV cache (no attention or state layers)", 0)
    avail = max(avail, 0)
    block_size = s.block_size
    state = [ls for ls, _ in specs if ls.kind == "state"]
    attn = [(ls, n) for ls, n in specs if ls.kind != "state"]
    note = ""
    if state and attn:  # Mamba hybrids: attention block size raised until its page covers the state page
        per_token_page = max(ls.page_bytes for ls, _ in attn) / s.block_size
        need = max(ls.page_bytes for ls in state)
        block_size = 16 * math.ceil(need / (16 * per_token_page)) if per_token_page * s.block_size < need \
            else s.block_size
        scale = block_size // s.block_size
        attn = [(_LayerSpec(ls.kind, ls.page_bytes * scale, ls.window), n) for ls, n in attn]
        page = max(ls.page_bytes for ls, _ in attn)
        specs = attn + [(_LayerSpec("state", page), n) for ls, n in specs if ls.kind == "state"]
        note = f"recurrent state padded to the attention page ({page:,} B, block size {block_size})"
    kinds = {ls.kind for ls, _ in specs}
    if len(specs) == 1 or kinds == {"full"}:  # one group: every layer needs the same token slots
        block_bytes = sum(ls.page_bytes * n for ls, n in specs)
        blocks = avail // block_bytes
        per_req = _blocks_per_request(specs[0][0], s, block_size, max_len)
        return KVLayout(blocks, blocks * block_size, per_req, block_bytes, specs[0][0].page_bytes, 1, block_size, note,
                        int(specs[0][0].kind != "state"))
    # The hybrid allocator: equal page sizes (vLLM raises the smaller pages' block size), equal-sized groups.
    page = max(ls.page_bytes for ls, _ in specs)
    scaled = []
    for ls, n in specs:
        r = page // ls.page_bytes if ls.page_bytes else 1
        scaled.append((_LayerSpec(ls.kind, page, ls.window), n, block_size * r if ls.kind != "state" else block_size))
    counts = [n for _, n, _ in scaled]
    group_size = max(counts) if max(counts) < 1.5 * min(counts) else min(counts)
    groups = [(ls, bs) for ls, n, bs in scaled for _ in range(-(-n // group_size))]
    blocks = avail // page // group_size
    per_req = sum(_blocks_per_request(ls, s, bs, max_len) for ls, bs in groups)
    tokens = blocks // len(groups) * min(bs for _, bs in groups)
    return KVLayout(blocks, tokens, per_req, page * group_size, page, len(groups), block_size, note,
                    sum(ls.kind != "state" for ls, _ in groups))


def kv_layout(spec: ModelSpec, s: ServeSetup, available_bytes, max_len: int | None = None) -> KVLayout:
    """vLLM's KV blocks for ``available_bytes`` of KV memory per GPU (one figure, or one per pipeline stage), by
    its grouping (module docstring). With ``pp > 1`` every stage gets the same number of blocks, the fewest any
    stage can hold (``get_kv_cache_configs``). ``max_len`` replaces max_model_len in the per-request count."""
    check_tp(spec, s.tp, serving=True)
    stages = pp_stage_layers(spec.num_layers, s.pp) if s.pp > 1 else [None]
    avail = list(available_bytes) if isinstance(available_bytes, list | tuple) else [available_bytes] * len(stages)
    if len(avail) != len(stages):
        raise ValueError(f"give one available figure per pipeline stage ({len(stages)}), got {len(avail)}")
    layouts = [_stage_layout(spec, s, a, layers, max_len) for a, layers in zip(avail, stages, strict=True)]
    worst = min(layouts, key=lambda x: x.blocks)
    return worst


def max_model_len_that_fits(spec: ModelSpec, s: ServeSetup, available_bytes: int) -> int:
    """The longest request one GPU's KV memory holds (vLLM's "estimated maximum model length", a binary search
    over max_model_len of the bytes one request needs, ``estimate_max_model_len``); 0 if not even one token."""
    lo, hi, best = 1, s.max_model_len, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if kv_layout(spec, s, available_bytes, max_len=mid).request_bytes <= available_bytes:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def serve_memory(spec: ModelSpec, s: ServeSetup) -> ServeMemory:
    """Per-GPU memory of one vLLM replica at start-up and the KV cache it leaves (module docstring).

    >>> from calc.presets import get_preset
    >>> m = serve_memory(get_preset("Llama-3.1-8B"), ServeSetup(int(23.58 * GIB), max_model_len=20000,
    ...     weights_bytes=int(14.9888 * GIB), activation_peak_bytes=int(2.07 * GIB), non_torch_bytes=int(0.35 * GIB)))
    >>> m.kv_cache_blocks, round(m.max_concurrency, 2)  # vllm-project/vllm#10517 logs 1952 blocks, 1.56x
    (1952, 1.56)
    """
    _check(s)
    notes = []
    requested = int(s.gpu_memory_bytes * s.gpu_memory_utilization)
    if s.weights_bytes is not None:
        weights = s.weights_bytes
    else:
        weights, note = inference_weights_bytes(spec, InferenceSetup(weights_dtype=s.weights_dtype, tp=s.tp,
                                                                     checkpoint_bytes=s.checkpoint_bytes))
        if s.pp > 1:
            weights = -(-weights // s.pp)
            note += f", split evenly over pp={s.pp} stages"
        notes.append(note)
    act = s.activation_peak_bytes if s.activation_peak_bytes is not None else profile_activation_bytes(spec, s)
    non_torch = s.non_torch_bytes if s.non_torch_bytes is not None else default_non_torch_bytes(s.tp)
    rule = get_engine(s.engine).kv_rule
    if rule == "static":  # SGLang: activations and CUDA graphs live outside the static fraction
        act = 0 if s.activation_peak_bytes is None else act
        kv = requested - weights - non_torch
    elif rule == "free":  # TensorRT-LLM: a share of what is free after the weights and a profile forward
        requested = s.gpu_memory_bytes
        kv = int((s.gpu_memory_bytes - weights - act - non_torch - s.cuda_graph_bytes) * s.gpu_memory_utilization)
    else:
        kv = requested - weights - act - non_torch - s.cuda_graph_bytes
    lay = kv_layout(spec, s, kv)
    if lay.note:
        notes.append(lay.note)
    if kv <= 0:
        notes.append(f"nothing is left for the KV cache: {(-kv) / GIB:.2f} GiB short per GPU")
    elif lay.blocks < lay.blocks_per_request:
        notes.append(f"one request of {s.max_model_len:,} tokens needs {lay.request_bytes / GIB:.2f} GiB of KV cache; "
                     f"{max(kv, 0) / GIB:.2f} GiB is left: vLLM refuses to start (it would hold "
                     f"{max_model_len_that_fits(spec, s, kv):,} tokens)")
    if lay.attention_groups:
        sim = (lay.blocks // lay.attention_groups * lay.block_size,
               lay.state_groups * lay.block_size // lay.attention_groups, None)
    else:
        sim = (None, 0, lay.blocks)
    return ServeMemory(requested, weights, act, non_torch, s.cuda_graph_bytes, kv, lay.blocks, lay.tokens,
                       lay.max_concurrency, lay.block_size, lay.page_bytes, lay.groups, lay.blocks_per_request,
                       lay.request_bytes, notes, *sim)

