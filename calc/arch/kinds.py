"""Layer kinds: the vocabulary every architecture is described in.

A decoder layer is a ``Block``: one token mixer (``Attention``, ``MLA``, ``Mamba``, ``Mamba2``,
``GatedDeltaNet``, ``LinearAttention`` or none), one feed-forward (``MLP``, ``MoE`` or none) and a
number of hidden-width norms. Each kind lists the tensors ``transformers`` stores for it
(``tensors(hidden)``), from which parameter counts, weight memory, TP shards, LoRA and Adafactor shapes
follow; attention kinds also say what one token adds to the KV cache and how many positions a layer
keeps; recurrent kinds say what fixed state a sequence holds. Nothing here knows a config field name.

Shapes follow ``transformers`` 5 (``modeling_*.py``): a Linear weight is ``(d_out, d_in)``; routed
experts are one fused tensor ``(experts, d_out, d_in)``, so a layer's tensor list never grows with the
number of experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

#: Parameters per channel of each norm kind: RMSNorm has a weight, LayerNorm a weight and a bias,
#: Cohere's LayerNorm a weight only, OLMo's non-parametric LayerNorm none.
NORM_PARAMS = {"rmsnorm": 1, "layernorm": 2, "layernorm_nobias": 1, "nonparametric": 0}

#: ``ParamCounts`` components a tensor can be counted in.
PARTS = ("embeddings", "attention", "recurrent", "mlp", "experts", "shared_experts", "router", "norms",
         "output_head", "towers", "other")


@dataclass(frozen=True)
class T:
    """One stored tensor of a layer kind (or of the model outside its layers)."""

    name: str
    shape: tuple[int, ...]
    part: str
    linear: bool = False  # a Linear weight: (d_out, d_in), or fused experts (experts, d_out, d_in)
    buffer: bool = False  # stored in the checkpoint but not a parameter (DeepSeek-V3's router bias)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def _norm(name: str, width: int, kind: str, part: str = "norms") -> list[T]:
    k = NORM_PARAMS[kind]
    if k == 0 or width == 0:
        return []
    out = [T(name + ".weight", (width,), part)]
    if k == 2:
        out.append(T(name + ".bias", (width,), part))
    return out


def _linear(name: str, d_out: int, d_in: int, part: str, bias: bool = False) -> list[T]:
    out = [T(name + ".weight", (d_out, d_in), part, linear=True)]
    if bias:
        out.append(T(name + ".bias", (d_out,), part))
    return out


class _Kind:
    """Shared behaviour: per-kind totals by component, cached (kinds are frozen)."""

    def tensors(self, hidden: int) -> list[T]:  # pragma: no cover - every kind overrides
        raise NotImplementedError

    def parts(self, hidden: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors(hidden):
            if not t.buffer:
                out[t.part] = out.get(t.part, 0) + t.numel
        return out

    # attention kinds override these three
    def kv_elements_per_token(self, mla_compressed: bool = True) -> int:
        return 0

    def cached_positions(self, seq_len: int, hf_window: bool = False) -> int:
        return 0

    def state_elements(self) -> tuple[int, int]:
        """(conv-state, recurrent-state) elements one sequence keeps, whatever its length."""
        return (0, 0)

    def conv_state_shape(self) -> tuple[int, int]:
        """(channels, kernel) of the causal conv whose last ``kernel`` inputs the conv state keeps
        (transformers keeps ``kernel`` columns, llama.cpp ``kernel - 1``); (0, 0) without one."""
        return (0, 0)


# ----- token mixers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attention(_Kind):
    """Softmax attention: MHA (kv_heads = heads), GQA, MQA (kv_heads = 1).

    ``window``: sliding-window layer (keeps ``window`` positions); ``chunk``: chunked local attention
    (Llama 4; keeps the current chunk, at most ``chunk`` positions); ``rope=False``: a no-RoPE layer
    (Llama 4's global layers; no effect on sizes). ``qk_norm``: "head" (one norm of ``head_dim``
    shared by all heads, Qwen3 / Gemma 3) or "full" (over all heads' width, OLMo 2). ``sinks``: one
    learned logit per head (gpt-oss). ``gate``: q_proj also emits an output gate (Qwen3-Next).
    """

    heads: int
    kv_heads: int
    head_dim: int
    v_head_dim: int = 0  # 0: same as head_dim
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: str = ""  # "" | "head" | "full"
    qk_norm_kind: str = "rmsnorm"
    sinks: bool = False
    gate: bool = False
    window: int | None = None
    chunk: int | None = None
    rope: bool = True
    fused_qkv: bool = False  # stored as one qkv matrix (GPT-2, GPT-NeoX, Falcon): same parameters
    k_bias: bool | None = None  # None: same as qkv_bias (a few models bias q and v only)
    lambdas: int = 0  # learned vectors of head_dim (DiffLlama's lambda_q1, k1, q2, k2: 4)
    head_gate: bool = False  # one gate logit per head from the hidden state (Laguna's g_proj: heads x h)
    gate_bias: bool = False  # a bias per head on the output gate (Beam's gate_bias)

    @property
    def vdim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def out_width(self) -> int:
        return self.heads * self.vdim

    def tensors(self, hidden: int) -> list[T]:
        h, p = hidden, "attention"
        q_out = self.q_width * (2 if self.gate else 1)
        kb = self.qkv_bias if self.k_bias is None else self.k_bias
        if self.fused_qkv:
            out = [T("qkv_proj.weight", (q_out + self.kv_width + self.kv_heads * self.vdim, h), p, linear=True)]
            if self.qkv_bias:
                out.append(T("qkv_proj.bias", (q_out + self.kv_width + self.kv_heads * self.vdim,), p))
        else:
            out = (_linear("q_proj", q_out, h, p, self.qkv_bias) + _linear("k_proj", self.kv_width, h, p, kb)
                   + _linear("v_proj", self.kv_heads * self.vdim, h, p, self.qkv_bias))
        out += _linear("o_proj", h, self.out_width, p, self.o_bias)
        if self.qk_norm == "head":
            out += _norm("q_norm", self.head_dim, self.qk_norm_kind) + _norm("k_norm", self.head_dim, self.qk_norm_kind)
        elif self.qk_norm == "full":
            out += _norm("q_norm", self.q_width, self.qk_norm_kind) + _norm("k_norm", self.kv_width, self.qk_norm_kind)
        if self.sinks:
            out.append(T("sinks", (self.heads,), p))
        if self.lambdas:
            out.append(T("lambdas", (self.lambdas, self.head_dim), p))
        if self.head_gate:
            out += _linear("g_proj", self.heads, h, p)
        if self.gate_bias:
            out.append(T("gate_bias", (self.heads,), p))
        return out

    def kv_elements_per_token(self, mla_compressed: bool = True) -> int:
        return self.kv_heads * (self.head_dim + self.vdim)

    def cached_positions(self, seq_len: int, hf_window: bool = False) -> int:
        # transformers caches a chunked layer like a sliding one of the chunk size (cache_utils.py
        # DYNAMIC_LAYER_TYPE_MAPPING); a server keeps at most the current chunk either way.
        span = self.window or self.chunk
        if span:
            return min(seq_len, span - (1 if hf_window else 0))
        return seq_len


@dataclass(frozen=True)
class MLA(_Kind):
    """Multi-head latent attention (DeepSeek-V2 paper sec. 2.1; ``modeling_deepseek_v3.py``).

    q: q_a (q_rank x h) -> norm -> q_b (heads*(nope+rope) x q_rank), or one q_proj when q_rank = 0;
    kv_a (kv_rank + rope x h) -> norm -> kv_b (heads*(nope+v) x kv_rank); o (h x heads*v). The cache
    holds the latent and the shared RoPE key: kv_rank + rope elements per token.
    """

    heads: int
    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    qkv_bias: bool = False  # attention_bias: q_a and kv_a carry a bias (q_b, kv_b never do)
    o_bias: bool = False
    norm_kind: str = "rmsnorm"
    window: int | None = None
    index_heads: int = 0  # DeepSeek-V3.2's lightning indexer (sparse attention): heads and head_dim
    index_head_dim: int = 0

    @property
    def head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def out_width(self) -> int:
        return self.heads * self.v_head_dim

    def tensors(self, hidden: int) -> list[T]:
        h, p = hidden, "attention"
        if self.q_lora_rank:
            out = (_linear("q_a_proj", self.q_lora_rank, h, p, self.qkv_bias)
                   + _norm("q_a_layernorm", self.q_lora_rank, self.norm_kind)
                   + _linear("q_b_proj", self.q_width, self.q_lora_rank, p))
        else:
            out = _linear("q_proj", self.q_width, h, p)
        out += _linear("kv_a_proj_with_mqa", self.kv_lora_rank + self.qk_rope_head_dim, h, p, self.qkv_bias)
        out += _norm("kv_a_layernorm", self.kv_lora_rank, self.norm_kind)
        out += _linear("kv_b_proj", self.heads * (self.qk_nope_head_dim + self.v_head_dim), self.kv_lora_rank, p)
        out += _linear("o_proj", h, self.out_width, p, self.o_bias)
        if self.index_heads:  # modeling_deepseek_v32.py Indexer: wq_b, wk, k_norm (LayerNorm), weights_proj
            d = self.index_head_dim
            out += (_linear("indexer.wq_b", self.index_heads * d, self.q_lora_rank or h, p)
                    + _linear("indexer.wk", d, h, p) + _norm("indexer.k_norm", d, "layernorm")
                    + _linear("indexer.weights_proj", self.index_heads, h, p))
        return out

    def kv_elements_per_token(self, mla_compressed: bool = True) -> int:
        if mla_compressed:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.heads * (self.qk_nope_head_dim + self.qk_rope_head_dim + self.v_head_dim)

    def cached_positions(self, seq_len: int, hf_window: bool = False) -> int:
        if self.window:
            return min(seq_len, self.window - (1 if hf_window else 0))
        return seq_len


@dataclass(frozen=True)
class Mamba(_Kind):
    """Mamba (Gu & Dao 2023; ``modeling_mamba.py``): in_proj (2*d_inner x h), depthwise conv1d,
    x_proj (dt_rank + 2*d_state x d_inner), dt_proj (d_inner x dt_rank, bias), A_log (d_inner x
    d_state), D, out_proj. Jamba adds RMSNorms on dt, B and C (``inner_norms``). State per sequence:
    conv d_inner x d_conv, SSM d_inner x d_state."""

    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int
    conv_bias: bool = True
    proj_bias: bool = False
    inner_norms: bool = False

    def tensors(self, hidden: int) -> list[T]:
        h, p, d = hidden, "recurrent", self.d_inner
        out = _linear("in_proj", 2 * d, h, p, self.proj_bias)
        out.append(T("conv1d.weight", (d, 1, self.d_conv), p))
        if self.conv_bias:
            out.append(T("conv1d.bias", (d,), p))
        out += _linear("x_proj", self.dt_rank + 2 * self.d_state, d, p)
        out += _linear("dt_proj", d, self.dt_rank, p, True)
        out += [T("A_log", (d, self.d_state), p), T("D", (d,), p)]
        out += _linear("out_proj", h, d, p, self.proj_bias)
        if self.inner_norms:
            out += (_norm("dt_layernorm", self.dt_rank, "rmsnorm") + _norm("b_layernorm", self.d_state, "rmsnorm")
                    + _norm("c_layernorm", self.d_state, "rmsnorm"))
        return out

    def state_elements(self) -> tuple[int, int]:
        return (self.d_inner * self.d_conv, self.d_inner * self.d_state)

    def conv_state_shape(self) -> tuple[int, int]:
        return (self.d_inner, self.d_conv)


@dataclass(frozen=True)
class Mamba2(_Kind):
    """Mamba-2 (Dao & Gu 2024; ``modeling_mamba2.py``): in_proj (2*d_inner + 2*groups*d_state + heads
    x h), conv1d over x, B, C (d_inner + 2*groups*d_state channels), dt_bias, A_log and D per head, a
    gated RMSNorm over d_inner, out_proj. State per sequence: conv (d_inner + 2*groups*d_state) x
    d_conv, SSM heads x head_dim x d_state."""

    heads: int
    head_dim: int
    d_state: int
    n_groups: int
    d_conv: int
    conv_bias: bool = True
    proj_bias: bool = False
    gated_norm: bool = True
    d_inner_override: int = 0  # d_inner when it is not heads x head_dim (never in transformers' configs)
    out_bias: bool | None = None  # out_proj's bias when it differs from in_proj's (Falcon-H1's projectors_bias)

    @property
    def d_inner(self) -> int:
        return self.d_inner_override or self.heads * self.head_dim

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.d_state

    def tensors(self, hidden: int) -> list[T]:
        h, p, d = hidden, "recurrent", self.d_inner
        out = _linear("in_proj", 2 * d + 2 * self.n_groups * self.d_state + self.heads, h, p, self.proj_bias)
        out.append(T("conv1d.weight", (self.conv_dim, 1, self.d_conv), p))
        if self.conv_bias:
            out.append(T("conv1d.bias", (self.conv_dim,), p))
        out += [T("dt_bias", (self.heads,), p), T("A_log", (self.heads,), p), T("D", (self.heads,), p)]
        if self.gated_norm:
            out += _norm("norm", d, "rmsnorm")
        out += _linear("out_proj", h, d, p, self.proj_bias if self.out_bias is None else self.out_bias)
        return out

    def state_elements(self) -> tuple[int, int]:
        return (self.conv_dim * self.d_conv, self.heads * self.head_dim * self.d_state)

    def conv_state_shape(self) -> tuple[int, int]:
        return (self.conv_dim, self.d_conv)


@dataclass(frozen=True)
class GatedDeltaNet(_Kind):
    """Gated DeltaNet (Yang et al. 2024; ``modeling_qwen3_next.py``): in_proj_qkvz (2*K + 2*V x h),
    in_proj_ba (2*v_heads x h), a depthwise conv over q, k, v (2*K + V channels), dt_bias and A_log
    per value head, a gated RMSNorm over v_head_dim, out_proj (h x V); K = k_heads*k_head_dim,
    V = v_heads*v_head_dim. State per sequence: conv (2*K + V) x kernel, recurrent v_heads x
    k_head_dim x v_head_dim."""

    k_heads: int
    v_heads: int
    k_head_dim: int
    v_head_dim: int
    conv_kernel: int

    @property
    def key_dim(self) -> int:
        return self.k_heads * self.k_head_dim

    @property
    def value_dim(self) -> int:
        return self.v_heads * self.v_head_dim

    @property
    def conv_dim(self) -> int:
        return 2 * self.key_dim + self.value_dim

    def tensors(self, hidden: int) -> list[T]:
        h, p = hidden, "recurrent"
        out = _linear("in_proj_qkvz", 2 * self.key_dim + 2 * self.value_dim, h, p)
        out += _linear("in_proj_ba", 2 * self.v_heads, h, p)
        out += [T("conv1d.weight", (self.conv_dim, 1, self.conv_kernel), p),
                T("dt_bias", (self.v_heads,), p), T("A_log", (self.v_heads,), p)]
        out += _norm("norm", self.v_head_dim, "rmsnorm")
        out += _linear("out_proj", h, self.value_dim, p)
        return out

    def state_elements(self) -> tuple[int, int]:
        return (self.conv_dim * self.conv_kernel, self.v_heads * self.k_head_dim * self.v_head_dim)

    def conv_state_shape(self) -> tuple[int, int]:
        return (self.conv_dim, self.conv_kernel)


@dataclass(frozen=True)
class LinearAttention(_Kind):
    """Lightning (linear) attention of MiniMax-01 (``modeling_minimax.py``): a norm over heads*head_dim,
    qkv_proj (3*heads*head_dim x h), out_proj, output_gate (heads*head_dim x h). State per sequence:
    heads x head_dim x head_dim (the running K^T V)."""

    heads: int
    head_dim: int

    def tensors(self, hidden: int) -> list[T]:
        h, p, w = hidden, "recurrent", self.heads * self.head_dim
        return (_norm("norm", w, "rmsnorm") + _linear("qkv_proj", 3 * w, h, p) + _linear("out_proj", h, w, p)
                + _linear("output_gate", w, h, p))

    def state_elements(self) -> tuple[int, int]:
        return (0, self.heads * self.head_dim * self.head_dim)


@dataclass(frozen=True)
class ShortConv(_Kind):
    """LFM2's gated short convolution (``modeling_lfm2.py`` Lfm2ShortConv): in_proj (3*h x h), a depthwise
    conv1d of ``l_cache`` taps over h channels, out_proj (h x h); ``bias`` on all three. State per
    sequence: the last ``l_cache`` inputs of h channels (the conv cache)."""

    width: int
    l_cache: int
    bias: bool = False

    def tensors(self, hidden: int) -> list[T]:
        h, p = hidden, "recurrent"
        out = _linear("in_proj", 3 * h, h, p, self.bias)
        out.append(T("conv.weight", (self.width, 1, self.l_cache), p))
        if self.bias:
            out.append(T("conv.bias", (self.width,), p))
        return out + _linear("out_proj", h, h, p, self.bias)

    def state_elements(self) -> tuple[int, int]:
        return (self.width * self.l_cache, 0)


# ----- feed-forward ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MLP(_Kind):
    """Dense feed-forward: gated (SwiGLU/GeGLU: gate, up, down) or plain (up, down); ``bias`` on every
    projection (``up_bias``/``down_bias`` when only one side has it)."""

    intermediate: int
    gated: bool = True
    bias: bool = False
    down_bias: bool | None = None  # None: same as bias
    act_params: int = 0  # learned scalars of the activation (Apertus' xIELU: alpha_p, alpha_n)
    inner_norm: str = ""  # a norm over the intermediate width before down_proj (BitNet's ffn_sub_norm)

    def tensors(self, hidden: int, prefix: str = "", part: str = "mlp") -> list[T]:
        h, f = hidden, self.intermediate
        db = self.bias if self.down_bias is None else self.down_bias
        out = _linear(prefix + "gate_proj", f, h, part, self.bias) if self.gated else []
        out += _linear(prefix + "up_proj", f, h, part, self.bias) + _linear(prefix + "down_proj", h, f, part, db)
        if self.act_params:
            out.append(T(prefix + "act_fn.params", (self.act_params,), part))
        if self.inner_norm:
            out += _norm(prefix + "inner_norm", f, self.inner_norm)
        return out


@dataclass(frozen=True)
class MoE(_Kind):
    """Mixture of experts: ``experts`` routed experts of width ``intermediate`` (``top_k`` per token),
    a router (``experts x h``, bias optional), optional shared expert(s) as one MLP of the summed width,
    optional sigmoid gate on the shared expert (Qwen2-MoE: 1 x h), optional per-expert biases (gpt-oss).
    ``router_buffer``: a per-expert score-correction bias stored as a buffer (DeepSeek-V3); it is in the
    checkpoint and the published total but not in ``model.parameters()``. ``post_norm``: a norm of that kind
    on the block's output (A.X-K1's post_mlp_layernorm), "" none."""

    experts: int
    top_k: int
    intermediate: int
    gated: bool = True
    expert_bias: bool = False
    router_bias: bool = False
    shared: MLP | None = None
    shared_gate: bool = False
    router_buffer: bool = False
    router_fp32: bool = False  # transformers keeps the router weight in fp32 (DeepSeek-V3)
    post_norm: str = ""

    def tensors(self, hidden: int) -> list[T]:
        h, e, f = hidden, self.experts, self.intermediate
        up = (2 if self.gated else 1) * f
        out = _linear("router", e, h, "router", self.router_bias)
        if self.router_buffer:
            out.append(T("router.e_score_correction_bias", (e,), "router", buffer=True))
        out.append(T("experts.gate_up_proj", (e, up, h), "experts", linear=True))
        if self.expert_bias:
            out.append(T("experts.gate_up_proj_bias", (e, up), "experts"))
        out.append(T("experts.down_proj", (e, h, f), "experts", linear=True))
        if self.expert_bias:
            out.append(T("experts.down_proj_bias", (e, h), "experts"))
        if self.shared is not None:
            out += self.shared.tensors(h, "shared_experts.", "shared_experts")
        if self.shared_gate:
            out += _linear("shared_expert_gate", 1, h, "shared_experts")
        if self.post_norm:
            out += _norm("post_mlp_layernorm", h, self.post_norm)
        return out

    def expert_params(self, hidden: int) -> int:
        """Parameters of one routed expert (its matrices and biases)."""
        up = (2 if self.gated else 1) * self.intermediate
        n = up * hidden + hidden * self.intermediate
        return n + (up + hidden if self.expert_bias else 0)


# ----- a layer ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block(_Kind):
    """One decoder layer kind: mixer + feed-forward + ``norms`` hidden-width norms of ``norm`` kind.

    ``parallel``: a second token mixer that runs side by side with ``mixer`` on the same normed input,
    its output added to the mixer's (Falcon-H1: attention and a Mamba-2 mixer in every layer,
    ``modeling_falcon_h1.py`` FalconH1DecoderLayer). ``mixer`` stays the attention (KV cache, attention
    FLOPs, TP heads); the parallel mixer adds its parameters, its fixed state and its saved activations.

    ``extra``: tensors this layer kind stores that the vocabulary above does not name (kept rare: each
    use is a candidate for a new field)."""

    mixer: Attention | MLA | Mamba | Mamba2 | GatedDeltaNet | LinearAttention | ShortConv | None
    ffn: MLP | MoE | None
    norms: int = 2
    norm: str = "rmsnorm"
    extra: tuple[T, ...] = ()
    parallel: Mamba | Mamba2 | GatedDeltaNet | LinearAttention | ShortConv | None = None

    @property
    def recurrent(self):
        """The layer's recurrent (fixed-state) mixer: the parallel one, else the mixer when it is not
        attention, else None."""
        if self.parallel is not None:
            return self.parallel
        return None if self.mixer is None or isinstance(self.mixer, (Attention, MLA)) else self.mixer

    def tensors(self, hidden: int) -> list[T]:
        out: list[T] = []
        if self.mixer is not None:
            out += self.mixer.tensors(hidden)
        if self.parallel is not None:
            out += [replace(t, name="parallel." + t.name) for t in self.parallel.tensors(hidden)]
        if self.ffn is not None:
            out += self.ffn.tensors(hidden)
        for i in range(self.norms):
            out += _norm(f"norm{i}", hidden, self.norm)
        return out + list(self.extra)

    @cached_property
    def _parts_cache(self) -> dict:
        return {}

    def parts(self, hidden: int) -> dict[str, int]:
        cache = self._parts_cache
        if hidden not in cache:
            cache[hidden] = super().parts(hidden)
        return cache[hidden]

    def params(self, hidden: int) -> int:
        return sum(self.parts(hidden).values())

    def active_params(self, hidden: int) -> int:
        """Parameters one token touches: routed experts count ``top_k`` of ``experts``."""
        n = self.params(hidden)
        if isinstance(self.ffn, MoE):
            n -= self.parts(hidden).get("experts", 0)
            n += self.ffn.top_k * self.ffn.expert_params(hidden)
        return n

    def buffers(self, hidden: int) -> int:
        return sum(t.numel for t in self.tensors(hidden) if t.buffer)

    @property
    def is_attention(self) -> bool:
        return isinstance(self.mixer, (Attention, MLA))

    @property
    def is_moe(self) -> bool:
        return isinstance(self.ffn, MoE)

    def kv_elements_per_token(self, mla_compressed: bool = True) -> int:
        return self.mixer.kv_elements_per_token(mla_compressed) if self.mixer is not None else 0

    def cached_positions(self, seq_len: int, hf_window: bool = False) -> int:
        return self.mixer.cached_positions(seq_len, hf_window) if self.mixer is not None else 0

    def state_elements(self) -> tuple[int, int]:
        r = self.recurrent
        return r.state_elements() if r is not None else (0, 0)

    def conv_state_shape(self) -> tuple[int, int]:
        r = self.recurrent
        return r.conv_state_shape() if r is not None else (0, 0)


@dataclass(frozen=True)
class Tower:
    """A counted component outside the text decoder (vision / audio encoder, projector): its layer kinds
    with their counts plus the tensors outside its layers. Counted in parameters and weights; the text
    decoder alone drives KV cache, activations and FLOPs."""

    name: str  # "vision", "audio", "projector", ...
    hidden: int
    blocks: tuple[tuple[Block, int], ...] = ()
    extra: tuple[T, ...] = ()

    def params(self) -> int:
        return (sum(b.params(self.hidden) * n for b, n in self.blocks)
                + sum(t.numel for t in self.extra if not t.buffer))


@dataclass(frozen=True)
class Layout:
    """A whole model: distinct layer kinds, the per-layer pattern (index into ``kinds``), embeddings,
    head, final norm, extra tensors outside the layers, and towers.

    Per-layer work is done per distinct kind and multiplied by ``counts`` (never per layer x expert).
    ``flat_key`` records the flat ``ModelSpec`` fields this layout was read with (see ``ModelSpec``).
    """

    hidden: int
    vocab: int
    kinds: tuple[Block, ...]
    pattern: tuple[int, ...]
    tied: bool = False
    final_norm: str | None = "rmsnorm"
    learned_positions: int = 0
    embed_norm: str | None = None  # a norm right after the embeddings (BLOOM)
    head_bias: bool = False
    extra: tuple[T, ...] = ()  # tensors outside the layers (OPT's project_in/out, ...)
    towers: tuple[Tower, ...] = ()
    mtp_layers: int = 0
    embed_dim: int = 0  # width of the token embedding and the head when it is not ``hidden`` (OPT-350m)
    flat_key: tuple | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        n = len(self.kinds)
        if n == 0 or not self.pattern:
            raise ValueError("a layout needs at least one layer kind and one layer")
        counts = [0] * n
        for k in self.pattern:
            counts[k] += 1
        object.__setattr__(self, "counts", tuple(counts))

    @property
    def num_layers(self) -> int:
        return len(self.pattern)

    @property
    def embed_width(self) -> int:
        return self.embed_dim or self.hidden

    def kind(self, layer: int) -> Block:
        return self.kinds[self.pattern[layer]]

    def kind_counts(self, layers: range | None = None):
        """(kind, number of layers of that kind) for all layers or a contiguous range of them."""
        if layers is None or (layers.start == 0 and layers.stop == len(self.pattern) and layers.step == 1):
            counts = self.counts  # type: ignore[attr-defined]
        else:
            counts = [0] * len(self.kinds)
            for k in self.pattern[layers.start:layers.stop:layers.step]:
                counts[k] += 1
        return [(b, c) for b, c in zip(self.kinds, counts, strict=True) if c]
