"""GPU memory of training and inference, per GPU, as an itemized ``MemoryBreakdown``.

Model states (Rajbhandari et al. 2019, "ZeRO", sec. 3.1 and 5): mixed-precision Adam keeps
16-bit weights (2 B), 16-bit gradients (2 B) and K = 12 B of optimizer state per parameter (fp32
master weights 4 B, momentum 4 B, variance 4 B): 16 B/param. Here the master copy is its own
component (``master_weights``) and ``optimizer_states`` holds the optimizer's own buffers, so
ZeRO's K = master + states. ZeRO shards over the *data-parallel* degree ``dp``:
stage 1 the master weights and optimizer states, stage 2 also the gradients, stage 3 also the
weights (ZeRO-1: ``4 + 12/dp``, ZeRO-2: ``2 + 14/dp``, ZeRO-3: ``16/dp`` bytes per parameter).
Tensor (``tp``) and pipeline (``pp``) parallelism split the parameters first; a GPU holds the
stage it serves (layers split evenly, the first stage has the embeddings, the last the head).

Precision conventions (each selectable):
- ``fp32``: fp32 weights, gradients and optimizer states; no master copy; fp32 activations.
- ``bf16-mixed`` / ``fp16-mixed``: 16-bit working weights plus an fp32 master copy in the
  optimizer, as DeepSpeed and Megatron-LM do; gradients 16-bit unless ``grad_dtype="fp32"``
  (Megatron's fp32 main grads: 18 B/param with Adam). ``torch.autocast`` over fp32 parameters is
  the ``fp32`` row for states (its activations are 16-bit).
- ``bf16``: pure bf16, no master copy; ``torch.optim`` keeps its states in the parameter dtype.

Optimizers (state bytes per trainable parameter): AdamW 2 x 4 B (``exp_avg``, ``exp_avg_sq``);
8-bit AdamW (bitsandbytes, block-wise, block 256) 2 x (1 B + 4 B / 256 for the fp32 absmax);
SGD 0; SGD with momentum 4 B; Adafactor (Shazeer & Stern 2018, ``transformers.Adafactor``
defaults, no momentum): a row and a column vector per weight matrix, full second moment for
vectors, all fp32.

Overhead: the CUDA context (about 0.3-0.6 GiB with CUDA 12 lazy loading), cuBLAS/NCCL workspaces
and caching-allocator fragmentation are not tensors of the model; ``overhead_bytes`` (default
``DEFAULT_OVERHEAD_BYTES`` = 1 GiB, an assumption, set it to 0 to see bare tensors) stands for them.
"""

from __future__ import annotations

import functools
import math
import operator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace

from calc.activations import (
    DEVICES,
    DROPOUT_SITES,
    SELECTIVE,
    ActivationTerm,
    Dropout,
    activation_bytes_per_layer,
    backward_workspace_terms,
    check_probability,
    config_dropout,
    embedding_terms,
    layer_groups,
    layer_terms,
    model_terms,
)
from calc.arch.kinds import NORM_PARAMS, MoE
from calc.dtypes import dtype_bits
from calc.engines import Engine, check_engine
from calc.kvcache import CONV_STATE_DTYPE, kv_bytes_from_groups, kv_groups, state_bytes
from calc.models import ModelSpec, param_counts
from calc.parallel import check_tp, state_elements_on_gpu

__all__ = [
    "TrainingSetup", "InferenceSetup", "MemoryBreakdown", "training_memory", "inference_memory",
    "activation_bytes", "activation_bytes_per_layer", "weights_bytes", "optimizer_state_bytes",
    "breakdown_grid", "activation_coefficients",
]  # the solvers (max_batch, max_context, min_gpus, best_weight_dtype, fits) live in calc/solvers.py

GIB = 2**30
#: CUDA context + framework reserve per GPU (an explicit assumption; see the module docstring).
DEFAULT_OVERHEAD_BYTES = 1 * GIB

PRECISIONS = ("fp32", "bf16-mixed", "fp16-mixed", "bf16")
OPTIMIZERS = ("adamw", "adamw-8bit", "sgd", "sgd-momentum", "adafactor")
FINETUNE = ("full", "lora", "qlora")
RLHF = ("none", "ppo", "dpo")
RECOMPUTE = ("none", "selective", "full")  # what backward recomputes: nothing, per op (``selective``) or every layer
GRAD_DTYPES = ("fp32", "bf16", "fp16")
WEIGHT_DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "int4", "nf4")
KV_DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4")
#: recurrent (SSM / DeltaNet) state formats: fp32 as transformers and llama.cpp keep it; vLLM's
#: --mamba-ssm-cache-dtype can lower it
STATE_DTYPES = ("fp32", "bf16", "fp16")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: Extra bits per quantized weight for scales (see ``quant_scale_bits``).
QUANT_SCALE_BITS = {
    "nf4": 8 / 64 + 32 / (64 * 256),  # bitsandbytes: 8-bit absmax per 64, fp32 per 256 absmax (double quant)
    "int4": (16 + 4) / 128,  # GPTQ/AWQ group 128: fp16 scale + 4-bit zero point per group
    "int8": 0.0,  # per-row scales: under 0.01 bit per weight, not counted
    "fp8": 0.0,  # one scale per tensor
}
#: bitsandbytes 8-bit optimizers: block-wise quantization with 256 values per fp32 absmax.
ADAM8BIT_BLOCK = 256

Model = "ModelSpec | int"


@dataclass(frozen=True)
class TrainingSetup:
    """Everything that decides training memory besides the model. See the module docstring."""

    precision: str = "bf16-mixed"
    grad_dtype: str | None = None  # None: the precision's default (fp32 for fp32, else 16-bit)
    optimizer: str = "adamw"
    zero_stage: int = 0
    dp: int = 1
    tp: int = 1
    pp: int = 1
    sequence_parallel: bool = False
    micro_batch: int = 1
    seq_len: int = 2048
    recompute: str = "none"
    #: which selective recompute (``calc.activations.SELECTIVE``): "attention", Megatron-LM's (Korthikanti et al.
    #: 2022 sec. 5); "ops", torchtitan's per-op policy (every other matmul's and the attention kernel's outputs kept)
    selective: str = "attention"
    flash_attention: bool = True
    offload_optimizer: bool = False
    finetune: str = "full"
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    rlhf: str = "none"
    critic: ModelSpec | int | None = None  # PPO value model; None = same size as the actor
    reference: ModelSpec | int | None = None  # PPO/DPO frozen reference; None = same as the policy
    reward: ModelSpec | int | None = None  # PPO frozen reward model; None = same size as the critic
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES
    engine: Engine = Engine()  # plain: the ZeRO paper's accounting; else calc.engines (DDP, FSDP2, ...)
    #: None: the dropout of the model's config (``calc.activations.config_dropout``); a probability in
    #: [0, 1]: that dropout wherever the model applies dropout (its masks are saved activations)
    dropout: float | None = None
    #: whose kernels run the step: "cuda" (FlashAttention-2, 1-byte dropout masks) or "cpu" (PyTorch's CPU
    #: kernels, which the validation harness measures; ``calc.activations`` says where they differ)
    device: str = "cuda"

    @property
    def compute_dtype(self) -> str:
        return _COMPUTE_DTYPES.get(self.precision, "bf16")

    @property
    def act_bits(self) -> int:
        return 32 if self.precision == "fp32" else 16

    @property
    def gradient_dtype(self) -> str:
        return self.grad_dtype or self.compute_dtype

    @property
    def master_weights(self) -> bool:
        return self.precision.endswith("-mixed")


_COMPUTE_DTYPES = {"fp32": "fp32", "fp16-mixed": "fp16"}  # precision -> dtype of the forward and backward


@dataclass(frozen=True)
class InferenceSetup:
    """Serving one model: weights, KV cache for ``batch`` sequences of ``context`` tokens, workspace."""

    weights_dtype: str = "bf16"  # a dtype or a GGUF file type such as "Q4_K_M"
    kv_dtype: str = "bf16"
    batch: int = 1
    context: int = 4096
    tp: int = 1
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES
    mla_compressed: bool = True  # MLA caches the latent (vLLM, SGLang); False: transformers' layout
    prefill_chunk_tokens: int = 8192  # tokens one forward step processes (chunked prefill budget)
    checkpoint_bytes: int | None = None  # weights as published (safetensors headers); replaces weights_dtype
    #: recurrent (SSM / DeltaNet) state of hybrid models; their conv state stays in bf16 (calc/kvcache.py)
    state_dtype: str = "fp32"


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU by component; ``cpu_bytes`` is host memory (offloaded optimizer), not in ``total``."""

    weights: int = 0
    master_weights: int = 0
    gradients: int = 0
    optimizer_states: int = 0
    activations: int = 0
    kv_cache: int = 0
    recurrent_state: int = 0  # Mamba / gated DeltaNet state: fixed per sequence, whatever the context
    overhead: int = 0
    cpu_bytes: int = 0
    notes: tuple[str, ...] = field(default=(), compare=False)
    #: what a user must not miss (shown beside the verdict): e.g. a context beyond the trained positions
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: an engine's own buffers (calc.engines), each its own component: (name, bytes); one name may repeat
    buffers: tuple[tuple[str, int], ...] = ()

    COMPONENTS = ("weights", "master_weights", "gradients", "optimizer_states", "activations", "kv_cache",
                  "recurrent_state", "overhead")

    def components(self) -> dict[str, int]:
        out = {k: getattr(self, k) for k in self.COMPONENTS}
        for name, n in self.buffers:
            out[name] = out.get(name, 0) + n
        return out

    @property
    def total(self) -> int:
        if self.buffers:
            return sum(self.components().values())
        # ``components()``'s sum in its order, without building the dict: the solvers read it tens of times a rerun
        return sum(_COMPONENT_VALUES(self))

    def __add__(self, other: MemoryBreakdown) -> MemoryBreakdown:
        kw = {name: getattr(self, name) + getattr(other, name) for name in _field_names(type(self))}  # tuples concatenate
        return MemoryBreakdown(**kw)


_COMPONENT_VALUES = operator.attrgetter(*MemoryBreakdown.COMPONENTS)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """``dataclasses.fields(cls)``'s names, read once per class (``MemoryBreakdown.__add__`` runs per stage and role of
    every breakdown a solver asks for)."""
    return tuple(f.name for f in fields(cls))


# ----- elementary formulas ------------------------------------------------------------------------
def weights_bytes(params: int, dtype: str) -> int:
    """``params x bits / 8``, rounded up to a whole byte (no block scales: see ``quant_scale_bits``).

    >>> weights_bytes(1_000_000_000, "fp32"), weights_bytes(7_000_000_000, "fp16")  # 4 GB, 14 GB
    (4000000000, 14000000000)
    >>> weights_bytes(3, "int4")
    2
    """
    _check_count("params", params, lo=0)
    return math.ceil(params * dtype_bits(dtype) / 8)


def quant_scale_bits(dtype: str) -> float:
    """Extra bits per weight for quantization scales (``QUANT_SCALE_BITS``; 0 for float formats).

    nf4: bitsandbytes block 64 with double quantization, 0.127 bit (Dettmers et al. 2023, sec. 3).
    """
    return QUANT_SCALE_BITS.get(_dtype_key(dtype), 0.0)


def optimizer_state_bytes(params: int, optimizer: str, *, state_dtype: str = "fp32",
                          spec: ModelSpec | None = None) -> int:
    """Optimizer buffers for ``params`` trainable parameters (module docstring lists each optimizer).

    Adafactor needs matrix shapes: pass ``spec`` (the whole model is trained); with ``params`` only
    its factored state (rows + columns per matrix, well under 0.1% of params) is not counted.

    >>> optimizer_state_bytes(1000, "adamw"), optimizer_state_bytes(1000, "sgd-momentum")
    (8000, 4000)
    >>> optimizer_state_bytes(1024, "adamw-8bit")  # 2 x (1024 B + 4 blocks x 4 B)
    2080
    """
    _check_count("params", params, lo=0)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    width = dtype_bits(state_dtype) / 8
    if optimizer == "adamw":
        return math.ceil(2 * params * width)
    if optimizer == "adamw-8bit":
        return 2 * (params + 4 * math.ceil(params / ADAM8BIT_BLOCK))
    if optimizer == "sgd":
        return 0
    if optimizer == "sgd-momentum":
        return math.ceil(params * width)
    return 4 * (_adafactor_elements(spec) if spec is not None else 0)


def _adafactor_elements(spec: ModelSpec) -> int:
    """Adafactor second-moment elements (``transformers.optimization.Adafactor``): a tensor of two or more
    dims keeps a row and a column factor over its last two dims (per leading index: fused experts
    ``(E, o, i)`` keep ``E x (o + i)``), a vector keeps one value per element. Per distinct layer kind."""
    lay = spec.layout
    h = lay.hidden

    def factored(shape: tuple[int, ...]) -> int:
        if len(shape) < 2:
            return shape[0] if shape else 1
        lead = 1
        for d in shape[:-2]:
            lead *= d
        return lead * (shape[-2] + shape[-1])

    n = sum(c * sum(factored(t.shape) for t in b.tensors(h) if not t.buffer) for b, c in lay.kind_counts())
    n += lay.vocab + lay.embed_width  # embedding matrix
    if not lay.tied:
        n += lay.vocab + lay.embed_width
    return n + (h if lay.final_norm else 0)


# ----- module shapes (LoRA targets, Adafactor, TP shards) -----------------------------------------------
def _matrix_name(tensor_name: str) -> str:
    name = tensor_name.removesuffix(".weight")
    if name.startswith("experts."):
        return "experts"
    return name


def block_matrices(block, hidden: int) -> dict[str, list[tuple[int, int, int]]]:
    """Weight matrices of one layer kind as ``name -> [(d_out, d_in, count), ...]``.

    Names are Llama's (``q_proj`` ... ``down_proj``); a fused query-key-value matrix (GPT-2, GPT-NeoX) is
    ``qkv_proj``; MLA and recurrent mixers keep their ``transformers`` names; routed experts are one entry
    ``experts`` with ``count`` = number of experts (never expanded), the MoE gate is ``router``.
    """
    out: dict[str, list[tuple[int, int, int]]] = {}
    for t in block.tensors(hidden):
        if not t.linear:
            continue
        if len(t.shape) == 3:
            e, o, i = t.shape
            out.setdefault(_matrix_name(t.name), []).append((o, i, e))
        else:
            o, i = t.shape
            out.setdefault(_matrix_name(t.name), []).append((o, i, 1))
    return out


def linear_shapes(spec: ModelSpec, layer: int) -> dict[str, list[tuple[int, int, int]]]:
    """Weight matrices of decoder layer ``layer``: ``name -> [(d_out, d_in, count), ...]`` (see
    ``block_matrices``; ``count`` > 1 only for routed experts)."""
    return block_matrices(spec.layout.kind(layer), spec.hidden_size)


_LORA_ALIAS = {"q_proj": ("q_proj", "q_a_proj", "q_b_proj", "qkv_proj"),
               "k_proj": ("k_proj", "kv_a_proj_with_mqa", "qkv_proj"),
               "v_proj": ("v_proj", "kv_b_proj", "qkv_proj"), "o_proj": ("o_proj",),
               "gate_proj": ("gate_proj", "shared_experts.gate_proj"),
               "up_proj": ("up_proj", "shared_experts.up_proj"),
               "down_proj": ("down_proj", "shared_experts.down_proj")}


def _lora_modules(block, hidden: int, targets: tuple[str, ...]) -> list[tuple[int, int, int]]:
    """The (d_out, d_in, count) matrices LoRA adapts in one layer kind for Llama-style target names.

    Mapped onto other layouts: a fused ``qkv_proj`` is adapted once if any of q/k/v is a target; on MLA,
    q_proj -> q_a_proj and q_b_proj, k_proj -> kv_a_proj_with_mqa, v_proj -> kv_b_proj. Routed experts
    are not adapted (PEFT targets ``nn.Linear`` modules by name; ``transformers`` stores experts as fused
    parameters); shared experts are.
    """
    shapes = block_matrices(block, hidden)
    names: list[str] = []
    for t in targets:
        names += [n for n in _LORA_ALIAS[t] if n in shapes and n not in names]
    return [shp for n in names for shp in shapes[n]]


def lora_params(spec: ModelSpec, rank: int, targets: tuple[str, ...], layers: range | None = None) -> int:
    """Trainable LoRA parameters: ``rank x (d_in + d_out)`` per adapted matrix (Hu et al. 2021, sec. 4).

    >>> from calc.presets import get_preset
    >>> lora_params(get_preset("Llama-2-7B"), 8, ("q_proj", "v_proj"))  # 32 x 2 x 8 x 8192
    4194304
    """
    _check_lora(rank, targets)
    if isinstance(targets, tuple):  # hashable: memoized (a LoRA breakdown asks for it per stage and role)
        return _lora_params(spec, rank, targets, layers)
    return _lora_params.__wrapped__(spec, rank, targets, layers)


@functools.lru_cache(maxsize=256)
def _lora_params(spec: ModelSpec, rank: int, targets: tuple[str, ...], layers: range | None) -> int:
    """``lora_params`` of checked arguments. Memoized: a pure function of frozen arguments, 40-60 us for Llama-3-8B
    (every layer kind's matrices listed again), asked for by every LoRA breakdown a solver steps through."""
    h = spec.hidden_size
    return sum(n * c * rank * (o + i) for b, n in spec.layout.kind_counts(layers)
               for (o, i, c) in _lora_modules(b, h, targets))


# ----- validation ---------------------------------------------------------------------------------
def _check_count(name: str, value, lo: int = 1, hi: int | None = None) -> None:
    if type(value) is int and lo <= value and (hi is None or value <= hi):  # the usual case, in one test
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {rng}, got {value}")


def _check_lora(rank: int, targets: tuple[str, ...]) -> None:
    if isinstance(rank, int) and not isinstance(rank, bool) and rank < 1:
        raise ValueError(f"lora_rank must be in [1, 65536], got {rank}: a rank-{rank} adapter has no parameters")
    _check_count("lora_rank", rank, lo=1, hi=65_536)
    if not isinstance(targets, (tuple, list)) or not all(isinstance(t, str) for t in targets):
        raise ValueError(f"lora_targets must be a tuple of names among {LORA_TARGETS}, got {targets!r:.60}")
    if not targets:
        raise ValueError(f"lora_targets must name at least one of {LORA_TARGETS}")
    bad = [t for t in targets if t not in LORA_TARGETS]
    if bad:
        raise ValueError(f"lora_targets must be among {LORA_TARGETS}, got {bad}")


def _dtype_key(name: str) -> str:
    return {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}.get(name, name)


def _check_model(model) -> None:
    if isinstance(model, ModelSpec):
        return
    if isinstance(model, bool) or not isinstance(model, int):
        raise ValueError(f"model must be a ModelSpec or a parameter count, got {type(model).__name__}")
    _check_count("params", model, lo=1, hi=10**15)


def _check_training(model, s: TrainingSetup) -> None:
    _check_model(model)
    check_engine(model, s)
    if s.precision not in PRECISIONS or s.optimizer not in OPTIMIZERS or s.finetune not in FINETUNE \
            or s.rlhf not in RLHF or s.recompute not in RECOMPUTE or s.selective not in SELECTIVE:
        for name, allowed in (("precision", PRECISIONS), ("optimizer", OPTIMIZERS), ("finetune", FINETUNE),
                              ("rlhf", RLHF), ("recompute", RECOMPUTE), ("selective", SELECTIVE)):
            if getattr(s, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(s, name)!r}")
    if s.grad_dtype is not None and s.grad_dtype not in GRAD_DTYPES:
        raise ValueError(f"grad_dtype must be one of {GRAD_DTYPES} or None, got {s.grad_dtype!r}")
    _check_count("zero_stage", s.zero_stage, lo=0, hi=3)
    for name in ("dp", "tp", "pp"):
        _check_count(name, getattr(s, name), lo=1, hi=1_000_000)
    _check_count("micro_batch", s.micro_batch, lo=1, hi=1_000_000)
    _check_count("seq_len", s.seq_len, lo=1, hi=100_000_000)
    _check_count("overhead_bytes", s.overhead_bytes, lo=0)
    if s.dropout is not None:
        check_probability("dropout", s.dropout)
    if s.device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {s.device!r:.40}")
    if s.offload_optimizer and s.zero_stage == 0:
        raise ValueError("offload_optimizer needs zero_stage 1, 2 or 3 (DeepSpeed ZeRO-Offload runs on top of ZeRO)")
    if s.pp > 1 and s.zero_stage >= 2:
        raise ValueError(f"zero_stage {s.zero_stage} with pp={s.pp}: DeepSpeed's pipeline engine supports "
                         "ZeRO stage 0 or 1 only")
    if s.finetune != "full":
        _check_lora(s.lora_rank, s.lora_targets)
        if not isinstance(model, ModelSpec):
            raise ValueError(f"finetune={s.finetune!r} needs an architecture (LoRA adapts named matrices); "
                             "give a model or a config.json, not a parameter count")
    if isinstance(model, ModelSpec):
        if s.pp > model.num_layers:
            raise ValueError(f"pp must be <= the model's {model.num_layers} layers, got {s.pp}")
        check_tp(model, s.tp)  # calc/parallel.py: every mixer kind's units (Megatron-LM's rule)
    for role in ("critic", "reference", "reward"):
        other = getattr(s, role)
        if other is not None:
            _check_model(other)


# ----- parameters one GPU holds --------------------------------------------------------------------
@dataclass(frozen=True)
class _Shard:
    total: int  # parameters on this GPU (before ZeRO-3)
    linear: int  # of which decoder-layer matrices (quantizable, LoRA-adaptable)
    layers: range  # decoder layers on this GPU's pipeline stage (empty for a parameter count)
    fp32_kept: int = 0  # parameters transformers keeps in fp32 whatever the model dtype (DeepSeek-V3 router)


def _stage_layers(num_layers: int, pp: int, stage: int) -> range:
    per, extra = divmod(num_layers, pp)
    start = stage * per + min(stage, extra)
    return range(start, start + per + (1 if stage < extra else 0))


@functools.lru_cache(maxsize=256)
def _shard(model, tp: int, pp: int, stage: int) -> _Shard:
    """Parameters on one GPU of pipeline ``stage``: matrices split by ``tp``, norms and router replicated.

    Per distinct layer kind on the stage, times its count (``Layout.kind_counts``): the work grows with
    the kinds, never with layers x experts (issue 20). Memoized: a pure function of hashable, frozen
    arguments that every breakdown, solver step and page rerun asks again for the same model."""
    if not isinstance(model, ModelSpec):
        n = math.ceil(model / (tp * pp))
        return _Shard(n, n, range(0))
    spec = model
    lay = spec.layout
    h = lay.hidden
    layers = _stage_layers(spec.num_layers, pp, stage)
    linear = replicated = other = kept = 0
    for b, n in lay.kind_counts(layers):
        for t in b.tensors(h):
            if t.buffer:
                continue
            if t.part == "router" and t.linear:
                replicated += n * t.numel
                if isinstance(b.ffn, MoE) and b.ffn.router_fp32:
                    kept += n * t.numel  # transformers keeps this gate in fp32 (_keep_in_fp32_modules_strict)
            elif t.part == "norms":
                replicated += n * t.numel
            elif t.linear:
                linear += n * t.numel
            else:
                other += n * t.numel  # biases, sinks, recurrent vectors: split with their matrices
    if stage == 0:
        other += lay.vocab * lay.embed_width + lay.learned_positions * h
        replicated += _norm_width(lay.embed_norm, lay.embed_width)
        replicated += sum(t.numel for t in lay.extra if not t.buffer)
        replicated += sum(t.params() for t in lay.towers)
    if stage == pp - 1:
        replicated += _norm_width(lay.final_norm, h)
        if not lay.tied or pp > 1:  # a tied head is a second copy on the last stage
            other += lay.vocab * lay.embed_width
        if lay.head_bias:
            other += lay.vocab
    lin = math.ceil(linear / tp)
    return _Shard(lin + math.ceil(other / tp) + replicated, lin, layers, kept)


def _norm_width(kind: str | None, width: int) -> int:
    return 0 if kind is None else NORM_PARAMS[kind] * width


def _params_total(model) -> int:
    return model if not isinstance(model, ModelSpec) else param_counts(model).total


def value_model(spec: ModelSpec) -> int:
    """Parameters of a value/reward model built on ``spec``: the LM head replaced by an ``h x 1`` score."""
    return param_counts(spec).total - param_counts(spec).output_head + spec.hidden_size


# ----- training ------------------------------------------------------------------------------------
def _div(n: float, d: int) -> int:
    return math.ceil(n / d)


def _trained_states(model, s: TrainingSetup, stage: int, role: str) -> MemoryBreakdown:
    """Weights, master weights, gradients and optimizer states of one trained model on one GPU."""
    shard = _shard(model, s.tp, s.pp, stage)
    w_bytes = dtype_bits(s.compute_dtype) / 8
    g_bytes = dtype_bits(s.gradient_dtype) / 8
    state_dtype = "bf16" if s.precision == "bf16" else "fp32"
    dp_w = s.dp if s.zero_stage >= 3 else 1
    dp_g = s.dp if s.zero_stage >= 2 else 1
    dp_o = s.dp if s.zero_stage >= 1 else 1
    notes: list[str] = []
    kept = shard.fp32_kept  # stays fp32 (and so do its gradient and, in pure bf16, its AdamW states)
    if s.finetune == "full":
        trainable = shard.total
        weights = (trainable - kept) * w_bytes + kept * max(w_bytes, 4)
        adafactor_spec = model if isinstance(model, ModelSpec) and s.optimizer == "adafactor" else None
        opt = optimizer_state_bytes(trainable - kept, s.optimizer, state_dtype=state_dtype, spec=adafactor_spec) \
            + optimizer_state_bytes(kept, s.optimizer)
        if adafactor_spec is not None:
            opt = _div(opt, s.tp * s.pp)
        elif s.optimizer == "adafactor":
            notes.append(f"{role}: Adafactor's factored state needs matrix shapes; not counted for a parameter count")
        master = trainable * 4 if s.master_weights else 0
        grads = (trainable - kept) * g_bytes + kept * max(g_bytes, 4)
    else:  # LoRA / QLoRA: frozen base + trainable adapters kept in fp32 (PEFT autocast_adapter_dtype)
        spec = model
        trainable = _div(lora_params(spec, s.lora_rank, s.lora_targets, shard.layers), s.tp)
        base_rest = shard.total - shard.linear
        if s.finetune == "qlora":
            weights = shard.linear * (4 + quant_scale_bits("nf4")) / 8 + base_rest * w_bytes
            notes.append(f"{role}: QLoRA base matrices in nf4 with double quantization "
                         f"({4 + quant_scale_bits('nf4'):.3f} bit/weight), embeddings, head and norms in "
                         f"{s.compute_dtype}")
        else:
            weights = (shard.total - kept) * w_bytes + kept * max(w_bytes, 4)
        a_bytes = 2 if s.precision == "bf16" else 4
        weights += trainable * a_bytes
        master = 0
        grads = trainable * (g_bytes if s.precision == "bf16" else 4)
        opt = optimizer_state_bytes(trainable, s.optimizer, state_dtype=state_dtype)
        notes.append(f"{role}: {trainable:,} trainable LoRA parameters per GPU (rank {s.lora_rank}, "
                     f"{', '.join(s.lora_targets)}), adapters in {'bf16' if a_bytes == 2 else 'fp32'}")
    master, opt = _div(master, dp_o), _div(opt, dp_o)
    cpu = 0
    if s.offload_optimizer:
        cpu, master, opt = master + opt, 0, 0
    return MemoryBreakdown(weights=_div(weights, dp_w), master_weights=master, gradients=_div(grads, dp_g),
                           optimizer_states=opt, cpu_bytes=cpu, notes=tuple(notes))


def _frozen_weights(model, s: TrainingSetup, stage: int, role: str) -> MemoryBreakdown:
    shard = _shard(model, s.tp, s.pp, stage)
    dp_w = s.dp if s.zero_stage >= 3 else 1
    w = _div(shard.total * dtype_bits(s.compute_dtype) / 8, dp_w)
    return MemoryBreakdown(weights=w, notes=(f"{role} (frozen): {s.compute_dtype} weights only",))


def _coefficients(terms: list[ActivationTerm], tp: int, sp: bool) -> tuple[float, float]:
    """(bytes per token, bytes per token per key position) of ``terms`` on one tensor-parallel rank."""
    per_token = sum(x.per_token / (tp if x.tp_sharded or sp else 1) for x in terms)
    per_key = sum(x.per_token_key / (tp if x.tp_sharded or sp else 1) for x in terms)
    return per_token, per_key


def activation_coefficients(spec: ModelSpec, s: TrainingSetup, stage: int = 0) -> tuple[float, float]:
    """Activations of pipeline ``stage`` as ``b s (P + s K)``: returns ``(P, K)``; ``b`` is the micro-batch.

    Korthikanti eq. 5: with 1F1B, stage ``k`` holds ``pp - k`` micro-batches in flight (the first
    stage ``pp``: the whole model's layers' worth); logits and loss live on the last stage. Full
    recompute keeps each layer's input and, in the backward pass, one layer's full set at a time.
    The peak is what is stored plus the larger of the loss's tensors and one layer's backward needs
    (``backward_workspace_terms``, plus its re-run forward under full recompute): both are never
    alive together. DPO runs chosen and rejected sequences together (twice the micro-batch).

    Memoized per model and the setup fields it reads (not micro-batch, sequence, dp or ZeRO, which scale
    or do not touch it): ``tests/test_perf.py`` changes each field of ``TrainingSetup`` and checks that
    the memoized answer follows.
    """
    return _coefficients_with(spec, s, stage, config_dropout(spec, s.dropout))


def _coefficients_with(spec: ModelSpec, s: TrainingSetup, stage: int, dropout: Dropout) -> tuple[float, float]:
    """``activation_coefficients`` with the model's dropout (``config_dropout(spec, s.dropout)``) already read."""
    return _activation_coefficients(spec, stage, s.pp, s.tp, s.sequence_parallel, s.recompute, s.flash_attention,
                                    s.precision, s.finetune, s.lora_rank, s.lora_targets, s.rlhf, dropout, s.device,
                                    # the CPU fallbacks' shapes follow the length (chunk padding, conv tail)
                                    s.seq_len if s.device == "cpu" else None, s.selective)


@functools.lru_cache(maxsize=256)
def _activation_coefficients(spec: ModelSpec, stage: int, pp: int, tp: int, sequence_parallel: bool, recompute: str,
                             flash_attention: bool, precision: str, finetune: str, lora_rank: int,
                             lora_targets: tuple[str, ...], rlhf: str, dropout: Dropout,
                             device: str, seq_len: int | None = None, selective: str = "attention"
                             ) -> tuple[float, float]:
    s = TrainingSetup(pp=pp, tp=tp, sequence_parallel=sequence_parallel, recompute=recompute,
                      flash_attention=flash_attention, precision=precision, finetune=finetune, lora_rank=lora_rank,
                      lora_targets=lora_targets, rlhf=rlhf)
    layers = _stage_layers(spec.num_layers, s.pp, stage)
    in_flight = (s.pp - stage) * (2 if s.rlhf == "dpo" else 1)
    lora = None if s.finetune == "full" else (s.lora_rank, s.lora_targets, 16 if s.precision == "bf16" else 32)
    drop = dropout
    kw = dict(recompute=s.recompute, flash_attention=s.flash_attention, act_bits=s.act_bits, lora=lora, dropout=drop,
              device=device, seq_len=seq_len, selective=selective)
    t, sp = s.tp, s.sequence_parallel
    # Layers that save the same tensors are computed once and counted (calc.activations.layer_key).
    groups = layer_groups(spec, layers, frozen=lora is not None)
    per_kind = [(layer_terms(spec, i, **kw), n) for i, n in groups]
    shared = {x.name: x for terms, _ in per_kind for x in terms if x.shared}  # one tensor for all layers
    p = k = 0.0
    for terms, n in per_kind:
        dp_, dk = _coefficients([x for x in terms if not x.shared], t, sp)
        p, k = p + n * dp_, k + n * dk
    dp_, dk = _coefficients(list(shared.values()), t, sp)
    if stage == 0:  # what the embedding stage keeps (an embedding dropout mask)
        dp_ += _coefficients(embedding_terms(spec, act_bits=s.act_bits, device=device, dropout=drop), t, sp)[0]
    p, k = (p + dp_) * in_flight, (k + dk) * in_flight
    mult = 2 if s.rlhf == "dpo" else 1
    head = (0.0, 0.0)
    if stage == s.pp - 1:
        head = _coefficients(model_terms(spec, act_bits=s.act_bits, device=device, frozen=lora is not None), t, sp)
    # The peak adds to what is stored the larger of: the loss's tensors (logits; last stage only), or
    # what one layer's backward needs: its gradients and, with full recompute, its re-run forward.
    ws = [_coefficients(backward_workspace_terms(spec, i, act_bits=s.act_bits), t, sp) for i, _ in groups]
    # Per-op selective recompute re-runs the layer like full recompute, keeping its saved outputs (counted above):
    # its backward re-creates the rest of the layer's tensors, bounded by the whole layer's set
    if s.recompute == "full" or (s.recompute == "selective" and selective == "ops"):
        kw["recompute"] = "none"
        full = [_coefficients(layer_terms(spec, i, **kw), t, sp) for i, _ in groups]
        if s.recompute == "selective":  # what the layer saved is not made again
            full = [(f[0] - k[0], f[1] - k[1]) for f, k in
                    zip(full, [_coefficients(terms, t, sp) for terms, _ in per_kind], strict=True)]
        if seq_len is not None:  # the length is known: the one layer kind whose backward needs the most
            ws = [(w[0] + f[0], w[1] + f[1]) for w, f in zip(ws, full, strict=True)]
            full = [(0.0, 0.0)]
    else:
        full = [(0.0, 0.0)]
    if seq_len is not None:
        layer_p, layer_k = max(ws, key=lambda c: c[0] + seq_len * c[1])
    else:  # a bound for every length: a hybrid's recurrent layer has the larger P, its attention the larger K
        layer_p, layer_k = max(c[0] for c in ws), max(c[1] for c in ws)
    layer_p, layer_k = layer_p + max(c[0] for c in full), layer_k + max(c[1] for c in full)
    # max(a + s A, b + s B) <= max(a, b) + s max(A, B): an upper bound that keeps the b s (P + s K) form
    return p + mult * max(layer_p, head[0]), k + mult * max(layer_k, head[1])


def _stage_activations(spec: ModelSpec, s: TrainingSetup, stage: int, dropout: Dropout | None = None) -> int:
    """Activation bytes of ``stage``; ``dropout``: ``config_dropout(spec, s.dropout)`` when the caller has it."""
    p, k = _coefficients_with(spec, s, stage, config_dropout(spec, s.dropout) if dropout is None else dropout)
    return int(round(s.micro_batch * s.seq_len * (p + s.seq_len * k)))


def activation_bytes(spec: ModelSpec, setup: TrainingSetup) -> int:
    """Activation bytes per GPU (the pipeline stage with the most), including the logits.

    DPO runs chosen and rejected sequences together: twice the micro-batch.
    """
    _check_training(spec, setup)
    if not isinstance(spec, ModelSpec):
        raise ValueError("activations need an architecture: give a model or a config.json, not a parameter count")
    return max(_stage_activations(spec, setup, st) for st in _stages(spec, setup.pp))


def _beyond_positions(what: str, tokens: int, spec: ModelSpec) -> str:
    return (f"{what} {tokens:,} exceeds the {spec.max_position_embeddings:,} positions {spec.name} was trained "
            "for: memory is computed, but the model's output beyond them is not assured (RoPE scaling or a "
            "long-context variant is needed)")


def _stages(model, pp: int) -> tuple[int, ...]:
    """The pipeline stages whose memory can be the largest: the first (embedding, most micro-batches in flight), the
    last (output head) and any interior stage holding a mix of layer kinds no earlier stage holds at least as many of
    (``_interior_stages``)."""
    if pp == 1:
        return (0,)
    return (0, *(_interior_stages(model, pp) if isinstance(model, ModelSpec) and pp > 2 else ()), pp - 1)


@functools.lru_cache(maxsize=256)
def _interior_stages(model: ModelSpec, pp: int) -> tuple[int, ...]:
    """The stages between the first and the last whose memory no earlier stage bounds: those whose mix of layer kinds
    no earlier stage holds at least as many of. A stage whose layers are a sub-multiset of an earlier stage's needs
    no more than that stage (no more layers of each kind, no more micro-batches in flight under 1F1B, no embedding).
    A uniform model has none; DeepSeek-V3 (3 dense layers, then 58 MoE layers, ``first_k_dense_replace``) on 32 stages
    has stages 1 and 2, whose two MoE layers each outweigh the first stage's two dense ones (found by the cluster
    planner's audit: tp 2 x pp 32 read 34.7 GiB on the first and last stages, 114 GiB in the middle)."""
    def mix(stage: int) -> tuple[int, ...]:
        counts = [0] * len(model.layout.kinds)
        for i in _stage_layers(model.num_layers, pp, stage):
            counts[model.layout.pattern[i]] += 1
        return tuple(counts)

    seen, out = [mix(0)], []
    for stage in range(1, pp - 1):
        m = mix(stage)
        if not any(all(c <= e for c, e in zip(m, earlier, strict=True)) for earlier in seen):
            out.append(stage)
            seen.append(m)
    return tuple(out)


def _training_stage(model, s: TrainingSetup, stage: int) -> MemoryBreakdown:
    actor = "policy" if s.rlhf == "dpo" else "actor" if s.rlhf == "ppo" else "model"
    out = _trained_states(model, s, stage, actor)
    notes: list[str] = []
    warnings: list[str] = []
    critic_model = None
    if s.rlhf == "ppo":
        critic_model = s.critic if s.critic is not None else model
        critic_params = critic_model if isinstance(critic_model, int) else value_model(critic_model)
        out = out + _trained_states(critic_params if s.finetune == "full" else critic_model, s, stage, "critic")
        reward = s.reward if s.reward is not None else critic_params
        reward = reward if isinstance(reward, int) else value_model(reward)
        out = out + _frozen_weights(reward, s, stage, "reward model")
    if s.rlhf in ("ppo", "dpo"):
        if s.finetune != "full" and s.reference is None:
            notes.append("reference = the base model with adapters disabled: no extra copy (TRL/PEFT)")
        else:
            out = out + _frozen_weights(s.reference if s.reference is not None else model, s, stage, "reference")
    acts = 0
    if isinstance(model, ModelSpec):
        drop = config_dropout(model, s.dropout)  # read once: the activations and the note below
        acts = _stage_activations(model, s, stage, drop)
        applied = _dropout_applied(drop)
        if applied:
            notes.append(f"dropout ({'the config' + chr(39) + 's' if s.dropout is None else 'set'}): {applied}; "
                         "its masks are saved activations")
        if isinstance(critic_model, ModelSpec):
            acts = max(acts, _stage_activations(critic_model, replace(s, rlhf="none"), stage))
            notes.append("actor and critic train one after the other: the larger activation set counts")
        if s.seq_len > model.max_position_embeddings:
            warnings.append(_beyond_positions("sequence length", s.seq_len, model))
    else:
        notes.append("activations not computed: a parameter count has no architecture")
    if s.zero_stage == 3 and s.dp == 1:
        notes.append("ZeRO-3 with dp=1 shards nothing")
    if s.sequence_parallel and s.tp == 1:
        notes.append("sequence parallelism has no effect with tp=1")
    if s.offload_optimizer:
        notes.append("master weights and optimizer states live in CPU memory (cpu_bytes, per GPU process)")
    if s.rlhf == "ppo":
        notes.append("PPO rollout (generation with a KV cache) is a separate phase and not added here")
    # ``out + MemoryBreakdown(activations=acts, overhead=..., notes=..., warnings=...)`` built once: the notes
    # concatenate in the same order, and the model states carry no warnings (their breakdowns set none), so the
    # warnings are this stage's
    return MemoryBreakdown(
        weights=out.weights, master_weights=out.master_weights, gradients=out.gradients,
        optimizer_states=out.optimizer_states, activations=out.activations + acts, kv_cache=out.kv_cache,
        recurrent_state=out.recurrent_state, overhead=out.overhead + s.overhead_bytes, cpu_bytes=out.cpu_bytes,
        notes=out.notes + tuple(notes) + (f"pipeline stage {stage} of {s.pp}",) * (s.pp > 1),
        warnings=tuple(warnings), buffers=out.buffers)


@functools.lru_cache(maxsize=64)
def _dropout_applied(drop: Dropout) -> str:
    """The sites where ``drop`` applies dropout, with their probabilities ("" where none does)."""
    return ", ".join(f"{site} {getattr(drop, site):g}" for site in DROPOUT_SITES if getattr(drop, site))


#: ``reuse_breakdowns``' breakdowns per ``(model, setup)`` while one is active in this context; None otherwise.
_KEPT: ContextVar[dict | None] = ContextVar("training_memory_kept", default=None)


@contextmanager
def reuse_breakdowns(known: dict | None = None):
    """Within the block, ``training_memory`` gives a ``(model, setup)`` it has answered already the same (frozen)
    breakdown instead of computing it again; ``known`` seeds it with ``{(model, setup): breakdown}`` pairs. The
    Training memory page's solvers (fewest GPUs, remedies, single changes, largest micro-batch and sequence) ask for
    7 distinct setups in 9-14 calls for Llama-3-8B, three of them the page's own (issue 18). The answers are those of
    the calls themselves (an error is raised again, not kept)."""
    token = _KEPT.set(dict(known or {}))
    try:
        yield
    finally:
        _KEPT.reset(token)


def training_memory(model: ModelSpec | int, setup: TrainingSetup) -> MemoryBreakdown:
    """Training memory per GPU: the pipeline stage that needs the most.

    >>> b = training_memory(7_500_000_000, TrainingSetup(zero_stage=1, dp=64, overhead_bytes=0))
    >>> round(b.total / 1e9, 1)  # ZeRO paper sec. 5: 7.5B params, Nd = 64, ZeRO-1 (P_os): 31.4 GB
    31.4
    """
    kept = _KEPT.get()
    if kept is None:
        return _training_memory(model, setup)
    b = kept.get((model, setup))
    if b is None:
        b = kept[(model, setup)] = _training_memory(model, setup)
    return b


def _training_memory(model: ModelSpec | int, setup: TrainingSetup) -> MemoryBreakdown:
    _check_training(model, setup)
    if setup.engine.name != "plain":
        from calc.engines import engine_memory

        return engine_memory(model, setup)
    if setup.pp == 1:  # one stage
        return _training_stage(model, setup, 0)
    return max((_training_stage(model, setup, st) for st in _stages(model, setup.pp)), key=lambda b: b.total)


# ----- inference -----------------------------------------------------------------------------------
def _gguf_types() -> tuple[str, ...]:
    try:
        from calc import gguf
    except ImportError:
        return ()
    return tuple(getattr(gguf, "FILE_TYPES", ()))


def _gguf_name(dtype: str) -> str | None:
    """The GGUF file type ``dtype`` names (case-insensitive), or None for our own dtypes."""
    if dtype in WEIGHT_DTYPES:
        return None
    key = str(dtype).upper()
    return key if key in _gguf_types() else None


def _check_inference(model, s: InferenceSetup) -> None:
    _check_model(model)
    if s.weights_dtype not in WEIGHT_DTYPES and _gguf_name(s.weights_dtype) is None:
        gg = _gguf_types()
        extra = f" or a GGUF file type ({', '.join(gg)})" if gg else ""
        raise ValueError(f"weights_dtype must be one of {WEIGHT_DTYPES}{extra}, got {s.weights_dtype!r}")
    if s.kv_dtype not in KV_DTYPES:
        raise ValueError(f"kv_dtype must be one of {KV_DTYPES}, got {s.kv_dtype!r}")
    if s.state_dtype not in STATE_DTYPES:
        raise ValueError(f"state_dtype must be one of {STATE_DTYPES}, got {s.state_dtype!r:.40}")
    _check_count("batch", s.batch, lo=1, hi=10_000_000)
    _check_count("context", s.context, lo=1, hi=100_000_000)
    _check_count("tp", s.tp, lo=1, hi=1_000_000)
    _check_count("prefill_chunk_tokens", s.prefill_chunk_tokens, lo=1)
    _check_count("overhead_bytes", s.overhead_bytes, lo=0)
    if s.checkpoint_bytes is not None:
        _check_count("checkpoint_bytes", s.checkpoint_bytes, lo=0)
    if _gguf_name(s.weights_dtype):
        if not isinstance(model, ModelSpec):
            raise ValueError(f"GGUF type {s.weights_dtype} needs an architecture (per-tensor rules), "
                             "not a parameter count")
        if s.tp > 1:
            raise ValueError("GGUF weights are served by llama.cpp; choose tp=1 (llama.cpp splits layers, not heads)")
    # every mixer kind's units, with vLLM's replicas (KV heads, a single Mamba-2 group): calc/parallel.py
    check_tp(model, s.tp, serving=True)


@functools.lru_cache(maxsize=256)
def _gguf_tensor_bytes(model: ModelSpec, ftype: str) -> int:
    """Tensor bytes of ``model`` in GGUF file type ``ftype`` (``calc.gguf.quantize_model``, imported lazily).

    Memoized: a pure function of a frozen spec and a name that typed every tensor again on each call (0.6-1.2 ms
    for an 8B model), while the solvers weigh the same weights dozens of times per answer with only the batch or
    the context changed (``max_context`` of a Q4_K_M Llama-3-8B: 48 ms, issue 18).
    """
    from calc import gguf

    return int(gguf.quantize_model(model, ftype).tensor_bytes)


def inference_weights_bytes(model, s: InferenceSetup) -> tuple[int, str]:
    """Weight bytes per GPU and a note saying what was assumed."""
    if s.checkpoint_bytes is not None:  # exact: every stored tensor's bytes (calc.checkpoint)
        return -(-s.checkpoint_bytes // s.tp), "weights as published: the checkpoint's bytes from its headers" + (
            f", split evenly over tp={s.tp}" if s.tp > 1 else "")
    ftype = _gguf_name(s.weights_dtype)
    if ftype:  # a GGUF file type: llama.cpp's per-tensor types (calc/gguf.py), imported lazily
        return _gguf_tensor_bytes(model, ftype), \
            f"GGUF {ftype}: tensor bytes by llama.cpp's per-tensor quantization rules (calc.gguf)"
    dt = s.weights_dtype
    if not isinstance(model, ModelSpec):
        return _div(weights_bytes(model, dt), s.tp), f"every weight in {dt}, no block scales (parameter count only)"
    shard = _shard(model, s.tp, 1, 0)
    if dt in ("fp32", "fp16", "bf16"):
        return weights_bytes(shard.total, dt), f"all weights in {dt}"
    bits = dtype_bits(dt) + quant_scale_bits(dt)
    rest = shard.total - shard.linear
    return math.ceil(shard.linear * bits / 8) + weights_bytes(rest, "bf16"), \
        f"decoder matrices in {dt} ({bits:.3f} bit/weight with scales); embeddings, head and norms in bf16"


def _inference_workspace(spec: ModelSpec, s: InferenceSetup) -> int:
    """Forward-pass temporaries of one step (an estimate; nothing is kept for backward).

    ``n = min(batch x context, prefill_chunk_tokens)`` tokens: the residual stream and the norm
    output (``2 e h``), the widest block intermediate (``q + 2 kv + o`` or ``3f`` for gate, up and
    their product), split by ``tp``; plus fp32 logits of the last position of each sequence.
    """
    e = 2
    n = min(s.batch * s.context, s.prefill_chunk_tokens)
    f = max(spec.intermediate_size, spec.moe_intermediate_size * max(spec.experts_per_token, 1))
    widest = max(spec.q_dim + 2 * spec.kv_dim + spec.attn_out_dim, (3 if spec.gated_mlp else 2) * f)
    return int(n * e * (2 * spec.hidden_size + widest / s.tp) + s.batch * spec.vocab_size * 4 / s.tp)


def inference_memory(model: ModelSpec | int, setup: InferenceSetup) -> MemoryBreakdown:
    """Serving memory per GPU: weights, KV cache, one step's workspace, overhead.

    >>> b = inference_memory(7_000_000_000, InferenceSetup(weights_dtype="fp16", overhead_bytes=0))
    >>> b.weights  # the rule of thumb: 7B params in fp16 = 14 GB
    14000000000
    """
    _check_inference(model, setup)
    weights, wnote = inference_weights_bytes(model, setup)
    notes, warnings = [wnote], ()
    kv = acts = state = 0
    if isinstance(model, ModelSpec):
        # per layer kind (calc/kvcache.py kv_groups): each attention kind keeps ceil(kv_heads / tp) heads per GPU,
        # MLA's compressed latent is replicated, windowed / chunked kinds keep at most their span
        kv = kv_bytes_from_groups(kv_groups(model, setup.mla_compressed, setup.tp), setup.batch, setup.context,
                                  setup.kv_dtype)
        state = state_bytes(model, setup.batch, CONV_STATE_DTYPE, setup.state_dtype, setup.tp)
        if model.is_mla and setup.mla_compressed:
            notes.append("MLA: the compressed latent cache is replicated on every tensor-parallel GPU")
        elif setup.tp > model.num_kv_heads and kv:
            notes.append(f"tp={setup.tp} > {model.num_kv_heads} KV heads: each GPU keeps a replica of one head")
        acts = _inference_workspace(model, setup)
        if setup.context > model.max_position_embeddings:
            warnings = (_beyond_positions("context", setup.context, model),)
        notes += _kv_notes(model, setup)
    else:
        notes.append("KV cache and activations not computed: a parameter count has no architecture")
    return MemoryBreakdown(weights=weights, kv_cache=kv, recurrent_state=state, activations=acts,
                           overhead=setup.overhead_bytes,
                           notes=tuple(notes), warnings=warnings)


def _kv_notes(model: ModelSpec, setup: InferenceSetup) -> list[str]:
    """What the KV cache and recurrent state were computed from, in words (one note per capped span)."""
    from calc.kvcache import state_elements_per_sequence

    notes = []
    lay = model.layout
    for cap in sorted({getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None)
                       for b in lay.kinds if b.is_attention} - {None}):
        n = sum(c for b, c in lay.kind_counts()
                if b.is_attention and (getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None)) == cap)
        what = "chunked-attention" if any(getattr(b.mixer, "chunk", None) == cap for b in lay.kinds) else "sliding-window"
        notes.append(f"{n} of {lay.num_layers} layers are {what} layers: they keep at most {cap:,} positions")
    conv, ssm = state_elements_per_sequence(model)
    if conv or ssm:
        n = sum(c for b, c in lay.kind_counts() if any(b.state_elements()))
        notes.append(f"{n} of {lay.num_layers} layers are recurrent (Mamba / linear attention): a fixed state per "
                     f"sequence ({conv:,} conv elements in {CONV_STATE_DTYPE}, {ssm:,} state elements in "
                     f"{setup.state_dtype}), whatever the context")
    return notes


# ----- solvers: moved to calc/solvers.py; the old names stay importable from here -----------------------
_MOVED = ("fits", "max_batch", "max_context", "min_gpus", "best_weight_dtype")


def __getattr__(name: str):
    if name in _MOVED:  # imported lazily: calc.solvers imports this module
        from calc import solvers

        return getattr(solvers, name)
    raise AttributeError(f"module 'calc.memory' has no attribute {name!r}")


# ----- vectorized sweeps ----------------------------------------------------------------------------
def breakdown_grid(model: ModelSpec | int, setup: TrainingSetup | InferenceSetup, batches, seqs) -> dict:
    """Every component and ``"total"`` for each (batch, sequence) pair, as arrays of shape
    ``(len(batches), len(seqs))``: training micro-batch x ``seq_len``, inference batch x ``context``.

    Vectorized with numpy: activations are ``b s (P + s K)`` (``activation_coefficients``), the KV
    cache is linear in the batch and piecewise linear in the context (sliding windows); the other
    components do not depend on either. Equal to the scalar functions point by point.
    """
    import numpy as np

    try:
        b = np.asarray(batches, dtype=np.float64).reshape(-1, 1)
        c = np.asarray(seqs, dtype=np.float64).reshape(1, -1)
    except (TypeError, ValueError):
        raise ValueError("batches and sequence lengths must be sequences of numbers") from None
    training = isinstance(setup, TrainingSetup)
    b_max, c_max = (1_000_000, 100_000_000) if training else (10_000_000, 100_000_000)
    for name, arr, hi in (("batches", b, b_max), ("sequence lengths", c, c_max)):
        if arr.size == 0 or not np.isfinite(arr).all() or (arr < 1).any() or (arr > hi).any():
            raise ValueError(f"{name} must be a non-empty list of numbers in [1, {hi:,}]")
    b, c = np.floor(b), np.floor(c)
    shape = (b.shape[0], c.shape[1])
    if training:
        return _training_grid(model, setup, b, c, shape, np)
    return _inference_grid(model, setup, b, c, shape, np)


def _training_grid(model, setup: TrainingSetup, b, c, shape, np) -> dict:
    _check_training(model, setup)
    if setup.engine.name != "plain":
        from calc.engines import engine_grid

        return engine_grid(model, setup, b, c, shape, np)
    best = None
    for fixed, coeffs in _stage_parts(model, setup):
        comps = {k: np.full(shape, float(v)) for k, v in fixed.components().items()}
        if coeffs:
            acts = None
            for p, k in coeffs:
                a = np.rint(b * c * (p + c * k))
                acts = a if acts is None else np.maximum(acts, a)
            comps["activations"] = acts
        comps["total"] = sum(comps[k] for k in MemoryBreakdown.COMPONENTS)
        if best is None:
            best = comps
        else:
            worse = comps["total"] > best["total"]
            best = {k: np.where(worse, comps[k], best[k]) for k in best}
    return best


def _stage_parts(model, setup: TrainingSetup) -> list[tuple[MemoryBreakdown, tuple[tuple[float, float], ...]]]:
    """Per pipeline stage that can need the most (``_stages``, plain engine): its breakdown at micro-batch 1 and
    sequence 1, whose components other than the activations hold for every micro-batch and sequence, and the
    ``(P, K)`` of each activation set that stage may hold (``activation_coefficients``; PPO's critic second, the
    larger of the two counts), none for a parameter count. The stage's activations are then
    ``max(round(b s (P + s K)))`` over them (``_training_stage``)."""
    out = []
    for stage in _stages(model, setup.pp):
        fixed = _training_stage(model, replace(setup, micro_batch=1, seq_len=1), stage)
        coeffs: tuple[tuple[float, float], ...] = ()
        if isinstance(model, ModelSpec):
            coeffs = (activation_coefficients(model, setup, stage),)
            if setup.rlhf == "ppo":
                critic = setup.critic if isinstance(setup.critic, ModelSpec) else model
                coeffs += (activation_coefficients(critic, replace(setup, rlhf="none"), stage),)
        out.append((fixed, coeffs))
    return out


def training_polynomials(model: ModelSpec | int, setup: TrainingSetup) -> list[tuple[int, float, float]] | None:
    """The plain engine's training memory as polynomials in the micro-batch ``b`` and the sequence length ``s``:
    ``training_memory(model, setup).total`` is the largest over the returned ``(fixed, P, K)`` of
    ``fixed + round(b s (P + s K))`` (one per pipeline stage that can peak and activation set it holds;
    ``_stage_parts``), which the solvers invert instead of searching (``ui.memory_solvers``). None for an engine
    (its buffers follow other rules: ``calc.engines``) or a parameter count (no activations).

    >>> from calc.presets import get_preset
    >>> m, s = get_preset("GPT-2"), TrainingSetup(micro_batch=4, seq_len=1024)
    >>> max(f + round(4 * 1024 * (p + 1024 * k)) for f, p, k in training_polynomials(m, s)) == training_memory(m, s).total
    True
    """
    _check_training(model, setup)
    if setup.engine.name != "plain" or not isinstance(model, ModelSpec):
        return None
    return [(fixed.total - fixed.activations, p, k) for fixed, coeffs in _stage_parts(model, setup) for p, k in coeffs]


def _inference_grid(model, setup: InferenceSetup, b, c, shape, np) -> dict:
    _check_inference(model, setup)
    weights, _ = inference_weights_bytes(model, setup)
    comps = {k: np.zeros(shape) for k in MemoryBreakdown.COMPONENTS}
    comps["weights"] += weights
    comps["overhead"] += setup.overhead_bytes
    if isinstance(model, ModelSpec):
        kv_total = np.zeros((1, c.shape[1]))
        for e, cap in kv_groups(model, setup.mla_compressed, setup.tp):
            kv_total = kv_total + e * (c if cap is None else np.minimum(c, cap))
        kv_total = np.rint(kv_total * b * dtype_bits(setup.kv_dtype) / 8)
        bits_c, bits_s = dtype_bits(CONV_STATE_DTYPE), dtype_bits(setup.state_dtype)
        for blk, n in model.layout.kind_counts():  # as calc.kvcache.state_layer_bytes: rounded per layer
            conv, ssm = state_elements_on_gpu(blk, setup.tp)
            if conv or ssm:
                comps["recurrent_state"] = comps["recurrent_state"] + n * np.rint((conv * bits_c + ssm * bits_s) * b / 8)
        comps["kv_cache"] = kv_total
        e, h = 2, model.hidden_size
        f = max(model.intermediate_size, model.moe_intermediate_size * max(model.experts_per_token, 1))
        widest = max(model.q_dim + 2 * model.kv_dim + model.attn_out_dim, (3 if model.gated_mlp else 2) * f)
        n_tok = np.minimum(b * c, setup.prefill_chunk_tokens)
        comps["activations"] = np.floor(n_tok * e * (2 * h + widest / setup.tp)
                                        + b * model.vocab_size * 4 / setup.tp) + 0 * c
    comps["total"] = sum(comps[k] for k in MemoryBreakdown.COMPONENTS)
    return comps
