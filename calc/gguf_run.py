"""Memory to run a GGUF model with llama.cpp: weights + KV cache + compute buffer, and where they go.

Weights are ``calc.gguf.quantize_model`` bytes (exact); the KV cache is ``calc.kvcache`` element
counts at llama.cpp's cache-type widths (exact for a given context); the compute buffer is an
estimate (see ``compute_buffer_bytes``). Placement follows llama.cpp's ``-ngl`` offload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from calc.gguf import QuantResult, block_size, type_bits
from calc.kvcache import _whole, kv_cache_bytes
from calc.models import ModelSpec

#: llama.cpp KV-cache types (``--cache-type-k/-v``) and what they cost, from the same block table.
CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")


def cache_bits(cache_type: str) -> float:
    """Bits per cached element: f16 16, q8_0 8.5, q4_0 4.5 (block bytes x 8 / block elements)."""
    if cache_type not in CACHE_TYPES:
        raise ValueError(f"cache type must be one of {', '.join(CACHE_TYPES)}; got {cache_type!r:.40}")
    return type_bits(cache_type.upper())


#: Architectures llama.cpp runs with its interleaved sliding-window cache (``llama_kv_cache_iswa``): their
#: ``load_arch_hparams`` set ``hparams.swa_type`` (llama.cpp src/models/gemma2.cpp, gemma3.cpp, cohere2.cpp,
#: openai-moe.cpp for gpt-oss, exaone4.cpp; llama4.cpp with LLAMA_SWA_TYPE_CHUNKED over attention chunks), with the
#: same per-layer pattern as the config's ``layer_types``. Other GGUF archs (llama for Mistral, phi3, qwen2) keep
#: the full context in every layer whatever the config's sliding_window says.
LLAMACPP_ISWA = frozenset({
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration", "Cohere2ForCausalLM",
    "GptOssForCausalLM", "Exaone4ForCausalLM", "Llama4ForCausalLM", "Llama4ForConditionalGeneration",
})
QUANTIZED_CACHE_TYPES = ("q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")
#: llama.cpp pads the SWA cache to a multiple of 256 cells (llama-kv-cache-iswa.cpp, ggml-org/llama.cpp#17037).
SWA_PAD = 256
#: llama.cpp keeps recurrent layers' conv (R) and SSM (S) states in f32 (``llama_memory_recurrent``, type_r/type_s).
RECURRENT_STATE_BYTES = 4


def gguf_kv_spec(spec: ModelSpec) -> ModelSpec:
    """The spec as llama.cpp runs it: the architectures of ``LLAMACPP_ISWA`` keep their windowed / chunked layers;
    every other model loses its windows (Mistral and Phi-3 GGUFs keep the full context in every layer)."""
    if spec.decoder_architecture in LLAMACPP_ISWA or not spec.sliding_window:
        return spec
    return spec.without_sliding()


def swa_cells(window: int, context: int, n_ubatch: int = 512) -> int:
    """Cells llama.cpp gives a sequence in its SWA cache: the window plus one micro-batch, at most the context,
    padded to 256 (``size_swa = GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256)``, llama-kv-cache-iswa.cpp, one stream
    per sequence). Gemma 3 (window 512) at 8,192 tokens: 1,024 cells.

    >>> swa_cells(512, 8192), swa_cells(4096, 4096), swa_cells(128, 100)
    (1024, 4096, 256)
    """
    return -(-min(context, window + n_ubatch) // SWA_PAD) * SWA_PAD


def kv_layer_bytes(spec: ModelSpec, context: int, cache_type: str = "f16", batch: int = 1,
                   n_ubatch: int = 512) -> list[int]:
    """KV-cache (and recurrent-state) bytes per layer for ``batch`` sequences of ``context`` tokens, as llama.cpp
    allocates them.

    Attention layers: elements per token from the ``calc/arch`` layer kind (GQA, MLA latent) on the spec as
    llama.cpp runs it (``gguf_kv_spec``) x cells, K and V in ``cache_type`` at ``cache_bits`` (q8_0 = 34 B per 32
    elements); cells = the context, or ``swa_cells`` on a windowed / chunked layer, whose cache stays F16 when
    ``cache_type`` is quantized (ggml-org/llama.cpp#21277, "kv-cache : do not quantize SWA KV cache"). Recurrent layers (Mamba,
    Mamba-2, gated DeltaNet): llama.cpp's R and S states per sequence in f32, ``(kernel - 1) x conv channels`` and
    the SSM state (``llama_hparams::n_embd_r`` / ``n_embd_s``, llama-hparams.cpp), whatever the context.
    """
    kv_cache_bytes(spec, batch, context, "fp32")  # validates batch and context (whole numbers >= 1)
    n_ubatch = _whole("n_ubatch (micro-batch tokens)", n_ubatch)
    run = gguf_kv_spec(spec)
    elems, nbytes = block_size(cache_type.upper()) if cache_type in CACHE_TYPES else (0, 0)
    if not elems:
        cache_bits(cache_type)  # raises with the allowed names
    f16_elems, f16_bytes = block_size("F16")
    per_kind = []
    for b in run.layout.kinds:
        span = getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None)
        cells = swa_cells(span, context, n_ubatch) if span else context
        e, n = (f16_elems, f16_bytes) if span and cache_type in QUANTIZED_CACHE_TYPES else (elems, nbytes)
        kv = b.kv_elements_per_token() * cells * batch * n // e
        channels, kernel = b.conv_state_shape()
        _, ssm = b.state_elements()
        per_kind.append(kv + (channels * max(kernel - 1, 0) + ssm) * batch * RECURRENT_STATE_BYTES)
    return [per_kind[k] for k in run.layout.pattern]


def cache_note(spec: ModelSpec, cache_type: str) -> str:
    """What ``kv_layer_bytes`` assumed for ``spec``, in words (the GGUF page's KV-cache help)."""
    run = gguf_kv_spec(spec)
    notes = []
    spans = sorted({getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None) for b in run.layout.kinds} - {None})
    if spans:
        notes.append(f"windowed / chunked layers keep the window ({', '.join(f'{w:,}' for w in spans)}) plus one "
                     "micro-batch, padded to 256 cells" + (", in F16" if cache_type in QUANTIZED_CACHE_TYPES else ""))
    elif spec.sliding_window:
        notes.append("llama.cpp runs this architecture without its sliding window: every layer keeps the context")
    if any(any(b.state_elements()) for b in run.layout.kinds):
        notes.append("recurrent layers add their fixed conv and SSM state per sequence, in f32")
    return "".join("; " + n for n in notes)


def compute_buffer_bytes(spec: ModelSpec, context: int, n_ubatch: int = 512, flash_attn: bool = True) -> int:
    """Estimate of llama.cpp's GPU compute buffer: the widest f32 activations of one micro-batch.

    llama.cpp reserves the graph for ``n_ubatch`` (default 512) tokens that all produce logits, so
    with flash attention the peak is the logits plus one hidden state, 4 B x n_ubatch x (vocab + h);
    without it the attention scores dominate, 4 B x n_ubatch x (heads x context + 6 h).
    Calibrated on a llama.cpp load log of Llama-3.1-8B (n_ctx 8192, n_ubatch 512, flash_attn = 0):
    "CUDA0 compute buffer size = 560.00 MiB" (this formula: 560.00 MiB), and 258.50 MiB logged
    with flash attention at n_ctx 4096 (this formula: 258.50 MiB). Other graphs (MoE, MLA) differ;
    llama.cpp prints the exact figure when it loads a model.

    ``n_ubatch`` must be a whole number >= 1 (llama.cpp's ``-ub``); anything else is a ValueError.
    """
    n_ubatch = _whole("n_ubatch (micro-batch tokens)", n_ubatch)
    context = _whole("context", context)
    h = spec.hidden_size
    widest = max(spec.vocab_size + h, 2 * max(spec.intermediate_size, spec.moe_intermediate_size) + h)
    if not flash_attn:
        widest = max(widest, spec.num_heads * context + 6 * h)
    return 4 * n_ubatch * widest


@dataclass(frozen=True)
class RunSetup:
    """How the model is run: context per sequence, parallel sequences, cache type, llama.cpp flags."""

    context: int = 4096
    cache_type: str = "f16"
    batch: int = 1
    n_ubatch: int = 512
    flash_attn: bool = True
    runtime_reserve_bytes: int = 512 * 2**20  # CUDA/ROCm context and driver: kept free on discrete GPUs


@dataclass(frozen=True)
class RunMemory:
    """Where the bytes go. ``placement``: "gpu" (all layers offloaded), "split" (``gpu_layers`` of
    ``n_layers`` on the GPU, the rest on the CPU), "unified" (Apple: one pool), "cpu" (nothing fits)."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    placement: str
    gpu_layers: int
    n_layers: int
    gpu_bytes: int  # on the accelerator (unified: in the shared pool)
    cpu_bytes: int  # in host RAM
    capacity_bytes: int | None  # what the accelerator offers the model (after reserve / Metal limit)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes

    @property
    def fits(self) -> bool:
        """Everything on the accelerator (all layers and the output head)."""
        return self.placement in ("gpu", "unified") and self.capacity_bytes is not None \
            and self.gpu_bytes <= self.capacity_bytes


def run_memory(spec: ModelSpec, quant: QuantResult, setup: RunSetup, gpu=None) -> RunMemory:
    """Memory to run ``quant`` at ``setup`` on ``gpu`` (a ``calc.gpus.GPU`` or None for CPU only).

    llama.cpp placement (``llama_model::load_tensors``): ``-ngl k`` puts the last k blocks and their
    KV cache on the GPU, ``k = n_layer + 1`` also the output head; ``token_embd`` always stays in host
    memory (the "CPU buffer" llama.cpp prints: 281.81 MiB for Llama-3-8B Q4_K_M). We take the largest
    k that fits ``capacity = memory - runtime reserve``. Apple unified memory: one pool, capped at the
    Metal working-set limit (``GPU.usable_memory_bytes``), and every byte counts.
    """
    return run_memory_many(spec, {quant.ftype: quant}, setup, gpu)[quant.ftype]


def run_memory_many(spec: ModelSpec, quants: Mapping[str, QuantResult], setup: RunSetup,
                    gpu=None) -> dict[str, RunMemory]:
    """``run_memory`` of each ``quants`` value, by the same key: the KV cache and the compute buffer depend on
    the model and ``setup``, not on the file type, so they are computed once for all (the Quantization page
    places 33 file types on every context / cache type / GPU change; issue 18)."""
    kv = kv_layer_bytes(spec, setup.context, setup.cache_type, setup.batch, setup.n_ubatch)
    compute = compute_buffer_bytes(spec, setup.context, setup.n_ubatch, setup.flash_attn)
    n, kv_total = spec.num_layers, sum(kv)
    capacity = None if gpu is None or gpu.unified_memory else \
        max(0, gpu.usable_memory_bytes - setup.runtime_reserve_bytes)
    return {key: _place(quant, kv, kv_total, compute, n, gpu, capacity) for key, quant in quants.items()}


def _place(quant: QuantResult, kv: list[int], kv_total: int, compute: int, n: int, gpu,
           capacity: int | None) -> RunMemory:
    """``run_memory``'s placement of one file type, given the setup's per-layer KV cache and compute buffer."""
    weights = quant.tensor_bytes
    if gpu is None:
        return RunMemory(weights, kv_total, compute, "cpu", 0, n, 0, weights + kv_total + compute, None)
    if gpu.unified_memory:
        total = weights + kv_total + compute
        return RunMemory(weights, kv_total, compute, "unified", n, n, total, 0, gpu.usable_memory_bytes)
    embd, _ = quant.outside_bytes  # head (output, output_norm, rope factors, position embeddings) goes with -ngl n+1
    full = weights - embd + kv_total + compute
    if full <= capacity:
        return RunMemory(weights, kv_total, compute, "gpu", n, n, full, embd, capacity)
    per_layer, _, _ = quant.layer_bytes(n)
    on_gpu, k = compute, 0
    for i in range(n - 1, -1, -1):  # offload from the last layer down
        if on_gpu + per_layer[i] + kv[i] > capacity:
            break
        on_gpu += per_layer[i] + kv[i]
        k += 1
    if k == 0:
        return RunMemory(weights, kv_total, compute, "cpu", 0, n, 0, weights + kv_total + compute, capacity)
    return RunMemory(weights, kv_total, compute, "split", k, n, on_gpu,
                     weights + kv_total - on_gpu + compute, capacity)
