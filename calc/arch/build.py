"""The generic reader: a ``Family`` entry (field names, defaults, flags) + a config dict -> a ``Layout``.

A family is declared with ``Family(...)`` in ``calc/arch/families.py``: which config fields hold the sizes,
the defaults of its ``transformers`` config class, which biases / norms / q-k norms it has, how its
per-layer pattern is read (``layer_types`` or a rule) and how its MoE layers are chosen. ``hooks`` are
small functions for what a family truly does differently (a Mamba mixer, a fused query-key-value
width); they receive the ``Build`` and may change it before the layout is assembled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from calc.arch.config import MAX_EXPERTS, MAX_LAYERS, Cfg
from calc.arch.kinds import MLA, MLP, Attention, Block, Layout, MoE, T, Tower

Flag = bool | str  # a constant, or the config field that holds it (its default in Family.defaults)


def flag(c: Cfg, f: Flag) -> bool:
    return f if isinstance(f, bool) else c.bool(f)


@dataclass(frozen=True)
class MoEFields:
    """Where a family keeps its MoE settings, and which layers are MoE.

    ``layers``: "all"; "sparse_step" (Qwen-MoE: ``(i + 1) % decoder_sparse_step == 0`` and not in
    ``mlp_only_layers``); "first_k_dense" (DeepSeek: ``i >= first_k_dense_replace`` and
    ``i % moe_layer_freq == 0``); "interleave" (Llama 4: every ``interleave_moe_layer_step``-th layer,
    or the config's ``moe_layers`` list); "period" (Jamba: ``i % expert_layer_period ==
    expert_layer_offset``); "mlp_layer_types" (a per-layer list of "dense"/"sparse"); or a callable
    ``(Cfg, num_layers) -> list[bool]``.
    """

    experts: tuple[str, ...] = ("num_local_experts",)  # the first present field is read
    top_k: str = "num_experts_per_tok"
    intermediate: str | None = "moe_intermediate_size"  # None: same field as the dense MLP
    shared: str | None = None  # a count of shared experts of the expert width (DeepSeek n_shared_experts)
    shared_intermediate: str | None = None  # or the shared expert's own width (Qwen2-MoE)
    shared_gate: bool = False
    router_bias: Flag = False
    expert_bias: Flag = False
    router_buffer: bool = False
    router_fp32: bool = False
    layers: str | Callable = "all"
    shared_bias: bool = False
    dense_if_one: bool = False  # a single "expert" is a plain MLP (Jamba)
    post_norm: str = ""  # a norm of this kind on the MoE block's output (A.X-K1)


@dataclass
class Build:
    """What the generic reader has read; hooks may change any of it before the layout is made."""

    c: Cfg
    family: Family
    hidden: int
    layers: int
    vocab: int
    attention: Attention | MLA | None
    mlp: MLP | None
    moe: MoE | None
    moe_layers: list[bool]
    types: list[str]  # per-layer type names (keys of ``mixers``)
    mixers: dict[str, Any]  # type name -> mixer (Attention, MLA, Mamba, ...) or None
    norms: int
    norm: str
    final_norm: str | None
    tied: bool
    learned_positions: int = 0
    embed_norm: str | None = None
    head_bias: bool = False
    extra: list[T] = field(default_factory=list)
    block_extra: list[T] = field(default_factory=list)  # tensors every decoder layer also stores (Doge's residual scales)
    towers: list[Tower] = field(default_factory=list)
    ffn_by_layer: list[Any] | None = None  # set by a hook to override the MLP/MoE choice per layer
    norms_by_type: dict[str, int] = field(default_factory=dict)  # per-type norm count when they differ
    parallel: dict[str, Any] = field(default_factory=dict)  # type name -> a mixer run beside it (Falcon-H1)
    mtp_layers: int = 0
    embed_dim: int = 0
    nominal: dict = field(default_factory=dict)  # flat-view values that are not in the layout


@dataclass(frozen=True)
class Family:
    """One ``transformers`` architecture family, declared as data. See the module docstring."""

    model_types: tuple[str, ...]
    architecture: str
    defaults: dict
    aliases: tuple[str, ...] = ()  # other architecture class names read the same way
    names: dict = field(default_factory=dict)  # our name -> this family's config field
    head_dim: str = "head_dim"  # field; when absent: defaults["head_dim"], else hidden // heads
    norm: str = "rmsnorm"
    norms: int = 2
    final_norm: str | None = "same"  # "same": the layer norm kind; None: no final norm
    qkv_bias: Flag = False
    k_bias: Flag | None = None
    o_bias: Flag = False
    mlp_bias: Flag = False
    mlp_down_bias: Flag | None = None
    gated: bool = True
    qk_norm: str = ""
    qk_norm_kind: str = "rmsnorm"
    sinks: bool = False
    fused_qkv: bool = False
    tied: Flag = "tie_word_embeddings"
    window: str | None = "sliding_window"  # field of the sliding window
    layer_types: Callable[[Cfg, int], list[str]] | None = None  # rule when the config has no layer_types
    allowed_types: tuple[str, ...] = ("full_attention", "sliding_attention")
    moe: MoEFields | None = None
    head_bias: Flag = False
    learned_positions: str | None = None  # field holding the rows of a learned position table
    positions_offset: int = 0
    hooks: tuple[Callable[[Build], None], ...] = ()
    heads_divide: bool = False  # the modeling code refuses a hidden size that heads do not divide
    attention: bool = True  # whether the config describes softmax attention heads (False: Mamba)
    field_aliases: dict = field(default_factory=dict)  # a published name -> the name read (EXAONE's num_layers)
    prepare: Callable[[dict], dict] | None = None  # fields a config class derives from others (Nemotron-H's layers)
    note: str = ""

    def name(self, key: str) -> str:
        return self.names.get(key, key)


def _types(b: Build, f: Family) -> list[str]:
    c, L = b.c, b.layers
    types = c.str_list("layer_types", L, set(f.allowed_types))
    if types is None:
        types = f.layer_types(c, L) if f.layer_types else ["full_attention"] * L
    return types


def _moe_layers(c: Cfg, L: int, m: MoEFields) -> list[bool]:
    rule = m.layers
    if callable(rule):
        return rule(c, L)
    if rule == "all":
        return [True] * L
    if rule == "sparse_step":
        step = c.int("decoder_sparse_step", 1, hi=MAX_LAYERS)
        dense = set(c.int_list("mlp_only_layers"))  # a set: 10^5 indices x 10^4 layers took seconds
        return [i not in dense and (i + 1) % step == 0 for i in range(L)]
    if rule == "first_k_dense":
        first = c.int("first_k_dense_replace", 0, lo=0, hi=MAX_LAYERS)
        freq = c.int("moe_layer_freq", 1, hi=MAX_LAYERS)
        return [i >= first and i % freq == 0 for i in range(L)]
    if rule == "interleave":
        if c.has("moe_layers"):
            listed = set(c.int_list("moe_layers"))
            return [i in listed for i in range(L)]
        step = c.int("interleave_moe_layer_step", 1, lo=0, hi=MAX_LAYERS)
        return [step > 0 and (i + 1) % step == 0 for i in range(L)]
    if rule == "period":
        period = c.int("expert_layer_period", 1, hi=MAX_LAYERS)
        offset = c.int("expert_layer_offset", 0, lo=0, hi=MAX_LAYERS)
        return [i % period == offset for i in range(L)]
    if rule == "mlp_layer_types":
        types = c.str_list("mlp_layer_types", L, {"dense", "sparse"})
        if types is None:
            first = c.int("first_k_dense_replace", 0, lo=0, hi=MAX_LAYERS)
            return [i >= first for i in range(L)]
        return [t == "sparse" for t in types]
    raise ValueError(f"unknown MoE layer rule {rule!r}")  # pragma: no cover - a table error


def read(raw: dict, f: Family) -> Build:
    """Read the parts every family shares; hooks then adjust; ``assemble`` makes the layout."""
    if f.field_aliases:  # the config class's attribute_map: either spelling may be in a config.json
        raw = {**{k: raw[a] for a, k in f.field_aliases.items() if raw.get(a) is not None}, **raw}
    if f.prepare is not None:
        raw = f.prepare(raw)
    c = Cfg(raw, f.defaults)
    n = f.name
    h = c.need(n("hidden_size"))
    L = c.need(n("num_hidden_layers"), hi=MAX_LAYERS)
    vocab = c.need(n("vocab_size"))
    b = Build(c=c, family=f, hidden=h, layers=L, vocab=vocab, attention=None, mlp=None, moe=None,
              moe_layers=[False] * L, types=[], mixers={}, norms=f.norms, norm=f.norm,
              final_norm=f.norm if f.final_norm == "same" else f.final_norm, tied=flag(c, f.tied),
              head_bias=flag(c, f.head_bias))
    if f.attention:
        heads = c.need(n("num_attention_heads"))
        kv = c.int(n("num_key_value_heads"), heads) if n("num_key_value_heads") else heads
        if heads % kv:
            raise ValueError(f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv})")
        if f.heads_divide and h % heads:
            raise ValueError(f"{n('hidden_size')} ({h}) must be a multiple of {n('num_attention_heads')} ({heads})")
        hd = c.int(f.head_dim, h // heads) if f.head_dim else h // heads  # transformers: hidden // heads
        kb = None if f.k_bias is None else flag(c, f.k_bias)
        b.attention = Attention(heads, kv, hd, qkv_bias=flag(c, f.qkv_bias), o_bias=flag(c, f.o_bias),
                                qk_norm=f.qk_norm, qk_norm_kind=f.qk_norm_kind, sinks=f.sinks,
                                fused_qkv=f.fused_qkv, k_bias=kb)
    inter_key = n("intermediate_size")
    if inter_key:
        db = None if f.mlp_down_bias is None else flag(c, f.mlp_down_bias)
        b.mlp = MLP(c.need(inter_key), gated=f.gated, bias=flag(c, f.mlp_bias), down_bias=db)
        b.nominal["intermediate_size"] = b.mlp.intermediate
    if f.learned_positions:
        b.learned_positions = c.int(f.learned_positions, hi=2**31) + f.positions_offset
        b.nominal["max_position_embeddings"] = c.int(f.learned_positions, hi=2**31)
    if f.moe is not None:
        _read_moe(b, f.moe)
    b.types = _types(b, f)
    if b.attention is not None:
        b.mixers["full_attention"] = b.attention
        if "sliding_attention" in b.types:
            w = c.opt_int(f.window, hi=2**31) if f.window else None
            b.mixers["sliding_attention"] = replace(b.attention, window=w) if w else b.attention
        if "chunked_attention" in b.types:
            ch = c.opt_int("attention_chunk_size", hi=2**31)
            b.mixers["chunked_attention"] = replace(b.attention, chunk=ch) if ch else b.attention
    for hook in f.hooks:
        hook(b)
    return b


def _read_moe(b: Build, m: MoEFields) -> None:
    c = b.c
    key = c.first(*m.experts)
    experts = c.int(key, 0, lo=0, hi=MAX_EXPERTS)
    if experts == 0 or (m.dense_if_one and experts == 1):
        return
    inter = c.int(m.intermediate) if m.intermediate else b.mlp.intermediate if b.mlp else c.int("intermediate_size")
    shared = None
    if m.shared_intermediate and c.int(m.shared_intermediate, 0, lo=0):
        shared = MLP(c.int(m.shared_intermediate, lo=0), gated=True, bias=m.shared_bias)
    elif m.shared and c.int(m.shared, 0, lo=0, hi=MAX_EXPERTS):
        shared = MLP(inter * c.int(m.shared, lo=0, hi=MAX_EXPERTS), gated=True, bias=m.shared_bias)
    top_k = c.int(m.top_k, 0, lo=0, hi=experts)  # DeepSeek-V2's class default is None (no routing given)
    b.moe = MoE(experts=experts, top_k=top_k, intermediate=inter,
                gated=b.family.gated, expert_bias=flag(c, m.expert_bias), router_bias=flag(c, m.router_bias),
                shared=shared, shared_gate=m.shared_gate and shared is not None, router_buffer=m.router_buffer,
                router_fp32=m.router_fp32, post_norm=m.post_norm)
    b.moe_layers = _moe_layers(c, b.layers, m)
    if shared is not None:
        b.nominal["num_shared_experts"] = max(1, shared.intermediate // inter) if inter else 1


def assemble(b: Build) -> Layout:
    """Distinct (mixer, feed-forward, norms) combinations -> kinds; layers -> indices into them."""
    index: dict[Block, int] = {}
    kinds: list[Block] = []
    pattern: list[int] = []
    cache: dict[tuple, int] = {}
    for i in range(b.layers):
        t = b.types[i]
        if b.ffn_by_layer is not None:
            ffn = b.ffn_by_layer[i]
        else:
            ffn = b.moe if b.moe_layers[i] and b.moe is not None else b.mlp
        key = (t, id(ffn))
        k = cache.get(key)
        if k is None:
            if t not in b.mixers:
                raise ValueError(f"layer type {t!r} is not modelled for {b.family.architecture}")
            block = Block(b.mixers[t], ffn, norms=b.norms_by_type.get(t, b.norms), norm=b.norm,
                          parallel=b.parallel.get(t), extra=tuple(b.block_extra))
            k = index.get(block)
            if k is None:
                k = index[block] = len(kinds)
                kinds.append(block)
            cache[key] = k
        pattern.append(k)
    return Layout(hidden=b.hidden, vocab=b.vocab, kinds=tuple(kinds), pattern=tuple(pattern), tied=b.tied,
                  final_norm=b.final_norm, learned_positions=b.learned_positions, embed_norm=b.embed_norm,
                  head_bias=b.head_bias, extra=tuple(b.extra), towers=tuple(b.towers), mtp_layers=b.mtp_layers,
                  embed_dim=b.embed_dim if b.embed_dim != b.hidden else 0)


# ----- common per-layer rules ---------------------------------------------------------------------------
def every_nth_full(n_field: str, default: int) -> Callable[[Cfg, int], list[str]]:
    """Layer i is full attention when (i + 1) % n == 0, else sliding (Gemma 2: n = 2, Gemma 3: 6)."""
    def rule(c: Cfg, L: int) -> list[str]:
        n = c.int(n_field, default, hi=MAX_LAYERS) if n_field else default
        return ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(L)]
    return rule


def all_sliding_if_window(c: Cfg, L: int) -> list[str]:
    """Mistral, Phi-3, Starcoder2: every layer uses the window when the config sets one."""
    return ["sliding_attention" if c.get("sliding_window", None) is not None else "full_attention"] * L
