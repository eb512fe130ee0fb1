"""The flat ``ModelSpec`` fields <-> a ``Layout``.

``ModelSpec`` keeps its flat fields (hidden_size, num_heads, sliding_layers, moe_layers, ...) for the
calculators written against them; they describe the model's *primary* attention and feed-forward kinds
(the attention kind most layers use; the first dense MLP; the first MoE). The ``Layout`` is what
counting, KV cache and state read. A reader builds the layout and derives the flat fields from it
(``flat_from_layout``); a hand-built ``ModelSpec`` (or one whose flat fields were changed with
``dataclasses.replace``) gets a uniform layout derived from its flat fields (``layout_from_flat``).
"""

from __future__ import annotations

from dataclasses import replace

from calc.arch.kinds import MLA, MLP, Attention, Block, GatedDeltaNet, Layout, Mamba2, MoE

#: Flat fields the layout is derived from / summarised in; a change to any of them re-derives the layout.
FLAT_FIELDS = (
    "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size", "vocab_size",
    "tie_embeddings", "gated_mlp", "norm", "norms_per_layer", "qk_norm", "qkv_bias", "out_bias", "mlp_bias",
    "learned_positions", "num_experts", "experts_per_token", "moe_intermediate_size", "num_shared_experts",
    "moe_layers", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
    "sliding_window", "sliding_layers", "mtp_layers",
)

#: What a hand-built spec of these architectures has that the flat fields do not say.
_FLAT_TRAITS = {
    "GPT2LMHeadModel": {"fused_qkv": True},
    "DeepseekV3ForCausalLM": {"router_buffer": True, "router_fp32": True},
}


def flat_key(values) -> tuple:
    """The flat fields of a spec (an object with those attributes, or a dict) as a comparable tuple."""
    if isinstance(values, dict):
        return tuple(values.get(f) for f in FLAT_FIELDS)
    return tuple(getattr(values, f) for f in FLAT_FIELDS)


def layout_from_flat(spec) -> Layout:
    """A layout for a spec known only by its flat fields: one attention kind (windowed on the sliding
    layers), a dense MLP or a MoE per layer (``moe_layers``), ``norms_per_layer`` norms."""
    traits = _FLAT_TRAITS.get(spec.architecture, {})
    if spec.kv_lora_rank:
        mixer = MLA(spec.num_heads, spec.q_lora_rank, spec.kv_lora_rank, spec.qk_nope_head_dim,
                    spec.qk_rope_head_dim, spec.v_head_dim, qkv_bias=spec.qkv_bias, o_bias=spec.out_bias)
    else:
        mixer = Attention(spec.num_heads, spec.num_kv_heads, spec.head_dim, qkv_bias=spec.qkv_bias,
                          o_bias=spec.out_bias, qk_norm="head" if spec.qk_norm else "",
                          fused_qkv=traits.get("fused_qkv", False))
    windowed = replace(mixer, window=spec.sliding_window) if spec.sliding_window else mixer
    mlp = MLP(spec.intermediate_size, gated=spec.gated_mlp, bias=spec.mlp_bias) if spec.intermediate_size else None
    moe = None
    if spec.num_experts:
        shared = (MLP(spec.moe_intermediate_size * spec.num_shared_experts, gated=spec.gated_mlp, bias=spec.mlp_bias)
                  if spec.num_shared_experts else None)
        moe = MoE(spec.num_experts, spec.experts_per_token, spec.moe_intermediate_size, gated=spec.gated_mlp,
                  expert_bias=spec.mlp_bias, shared=shared, router_buffer=traits.get("router_buffer", False),
                  router_fp32=traits.get("router_fp32", False))
    kinds: list[Block] = []
    index: dict[tuple[bool, bool], int] = {}
    pattern = []
    for i in range(spec.num_layers):
        key = (spec.layer_is_sliding(i) and bool(spec.sliding_window), spec.layer_is_moe(i) and moe is not None)
        k = index.get(key)
        if k is None:
            k = index[key] = len(kinds)
            kinds.append(Block(windowed if key[0] else mixer, moe if key[1] else mlp, norms=spec.norms_per_layer,
                               norm=spec.norm))
        pattern.append(k)
    return Layout(hidden=spec.hidden_size, vocab=spec.vocab_size, kinds=tuple(kinds), pattern=tuple(pattern),
                  tied=spec.tie_embeddings, final_norm=spec.norm, learned_positions=spec.learned_positions,
                  mtp_layers=spec.mtp_layers, flat_key=flat_key(spec))


def primary(layout: Layout, kind_test) -> tuple[Block | None, int]:
    """The kind passing ``kind_test`` that most layers use (the first such kind on a tie)."""
    best, best_n = None, 0
    for b, n in layout.kind_counts():
        if kind_test(b) and n > best_n:
            best, best_n = b, n
    return best, best_n


def flat_from_layout(layout: Layout, nominal: dict | None = None) -> dict:
    """ModelSpec keyword arguments (the flat fields) that summarise ``layout``."""
    nominal = nominal or {}
    kw: dict = dict(hidden_size=layout.hidden, num_layers=layout.num_layers, vocab_size=layout.vocab,
                    tie_embeddings=layout.tied, learned_positions=layout.learned_positions,
                    mtp_layers=layout.mtp_layers)
    block, _ = primary(layout, lambda b: b.is_attention)
    if block is None:
        block, _ = primary(layout, lambda b: b.mixer is not None)
    if block is None:
        block = layout.kinds[0]
    m = block.mixer
    if isinstance(m, MLA):
        kw.update(num_heads=m.heads, num_kv_heads=m.heads, head_dim=m.head_dim, q_lora_rank=m.q_lora_rank,
                  kv_lora_rank=m.kv_lora_rank, qk_nope_head_dim=m.qk_nope_head_dim,
                  qk_rope_head_dim=m.qk_rope_head_dim, v_head_dim=m.v_head_dim, qkv_bias=m.qkv_bias,
                  out_bias=m.o_bias)
    elif isinstance(m, Attention):
        kw.update(num_heads=m.heads, num_kv_heads=m.kv_heads, head_dim=m.head_dim, qkv_bias=m.qkv_bias,
                  out_bias=m.o_bias, qk_norm=bool(m.qk_norm))
    elif isinstance(m, Mamba2):
        kw.update(num_heads=m.heads, num_kv_heads=m.heads, head_dim=m.head_dim)
    elif isinstance(m, GatedDeltaNet):
        kw.update(num_heads=m.v_heads, num_kv_heads=m.v_heads, head_dim=m.v_head_dim)
    else:  # no attention at all (Mamba): one placeholder head; KV and FLOPs read the layout
        kw.update(num_heads=1, num_kv_heads=1, head_dim=1)
    kw["norm"] = "layernorm" if block.norm == "layernorm" else "rmsnorm"
    kw["norms_per_layer"] = block.norms
    mlps = [b.ffn for b in layout.kinds if isinstance(b.ffn, MLP)]
    moes = [b.ffn for b in layout.kinds if isinstance(b.ffn, MoE)]
    ffn = mlps[0] if mlps else moes[0] if moes else None
    if isinstance(ffn, MLP):
        kw.update(gated_mlp=ffn.gated, mlp_bias=ffn.bias)
    elif isinstance(ffn, MoE):
        kw.update(gated_mlp=ffn.gated, mlp_bias=ffn.expert_bias)
    kw["intermediate_size"] = nominal.get("intermediate_size", mlps[0].intermediate if mlps else
                                          moes[0].intermediate if moes else 0)
    if moes:
        e = moes[0]
        kw.update(num_experts=e.experts, experts_per_token=e.top_k, moe_intermediate_size=e.intermediate,
                  num_shared_experts=nominal.get("num_shared_experts",
                                                 (max(1, e.shared.intermediate // e.intermediate)
                                                  if e.shared and e.intermediate else 0)),
                  moe_layers=tuple(layout.kinds[k].is_moe for k in layout.pattern))
    windows = {k: getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None)
               for k, b in enumerate(layout.kinds)}
    if any(windows.values()):
        kw["sliding_window"] = next(w for w in windows.values() if w)
        kw["sliding_layers"] = tuple(bool(windows[k]) for k in layout.pattern)
    return kw
