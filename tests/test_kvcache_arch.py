"""KV cache and recurrent state of the 2025-2026 attention kinds against the caches ``transformers`` builds.

For each family a tiny random-weight model (same layer pattern rules as the published models) runs one
forward pass with ``use_cache=True`` at several context lengths, below and beyond the sliding window /
attention chunk; the reference is the bytes of the tensors its cache then holds (``cache.layers[i]``:
``keys``/``values`` of attention layers, ``conv_states``/``recurrent_states`` of Mamba, Mamba-2 and gated
DeltaNet layers). ``calc.kvcache`` must equal it layer by layer (``kv_layer_bytes`` + ``state_layer_bytes``)
and in total, with the description read from the config (``calc/arch``), no per-family code.

Kinds covered: Gemma 3's 5:1 sliding/global pattern, gpt-oss's alternating sliding/full layers with sinks,
Llama 4's chunked-attention and no-RoPE layers, Cohere2's 3:1 pattern, DeepSeek-V2 MLA (compressed latent),
Mamba and Mamba-2 conv + SSM states, Qwen3-Next gated DeltaNet states, Jamba (Mamba + attention), Falcon-H1
(attention and Mamba-2 in parallel in every layer: KV and state in the same layer).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc.kvcache import (  # noqa: E402
    kv_bytes_from_groups,
    kv_cache_bytes,
    kv_groups,
    kv_layer_bytes,
    state_bytes,
    state_layer_bytes,
)
from calc.models import ModelSpec  # noqa: E402

V = 256
_ATT = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=V)
CONFIGS = {
    # 6 layers: sliding_window_pattern 6 -> layers 0-4 sliding (window 8), layer 5 global
    "gemma3_text": dict(model_type="gemma3_text", num_hidden_layers=7, head_dim=16, sliding_window=8, **_ATT),
    # Gemma 4: 5 sliding (window 8) then a global layer whose heads are global_head_dim (32) wide; last layer global
    "gemma4_text": dict(model_type="gemma4_text", num_hidden_layers=7, head_dim=16, global_head_dim=32,
                        sliding_window=8, hidden_size_per_layer_input=8, vocab_size_per_layer_input=V, **_ATT),
    # sliding / full alternating, attention sinks, MoE
    "gpt_oss": dict(model_type="gpt_oss", num_hidden_layers=4, head_dim=16, sliding_window=8, num_local_experts=4,
                    num_experts_per_tok=2, **_ATT),
    # chunked attention (chunk 8) on RoPE layers, every 4th layer global without RoPE
    "llama4_text": dict(model_type="llama4_text", num_hidden_layers=5, head_dim=16, attention_chunk_size=8,
                        num_local_experts=2, num_experts_per_tok=1, intermediate_size_mlp=128, **_ATT),
    # sliding_window_pattern 4: three sliding layers, then one global
    "cohere2": dict(model_type="cohere2", num_hidden_layers=5, sliding_window=8, **_ATT),
    # MLA without q compression; the cache holds the latent (16) and the shared RoPE key (8) per token
    "deepseek_v2": dict(model_type="deepseek_v2", num_hidden_layers=3, hidden_size=64, intermediate_size=128,
                        num_attention_heads=4, num_key_value_heads=4, vocab_size=V, kv_lora_rank=16,
                        q_lora_rank=None, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12,
                        n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2, moe_intermediate_size=32,
                        first_k_dense_replace=1),
    "mamba": dict(model_type="mamba", hidden_size=64, num_hidden_layers=2, vocab_size=V, state_size=8, expand=2,
                  conv_kernel=4),
    "mamba2": dict(model_type="mamba2", hidden_size=64, num_hidden_layers=2, vocab_size=V, state_size=8, expand=2,
                   conv_kernel=4, num_heads=8, head_dim=16, n_groups=2),
    # gated DeltaNet layers with one gated full-attention layer every 4th
    "qwen3_next": dict(model_type="qwen3_next", num_hidden_layers=4, head_dim=16, linear_num_key_heads=2,
                       linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=12,
                       linear_conv_kernel_dim=4, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                       shared_expert_intermediate_size=32, **_ATT),
    # attention every 2nd layer (offset 1), Mamba elsewhere
    "jamba": dict(model_type="jamba", num_hidden_layers=4, attn_layer_period=2, attn_layer_offset=1,
                  expert_layer_period=2, expert_layer_offset=1, num_experts=2, num_experts_per_tok=1,
                  mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=8, **_ATT),
    # attention and a Mamba-2 mixer side by side in every layer (KV + conv + SSM state per layer); the mixer's
    # width (mamba_d_ssm 48) is not expand x hidden, its gated norm and out_proj bias are on
    "falcon_h1": dict(model_type="falcon_h1", num_hidden_layers=3, head_dim=16, mamba_d_ssm=48, mamba_n_heads=4,
                      mamba_d_head=12, mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_rms_norm=True,
                      projectors_bias=True, mamba_chunk_size=8, **_ATT),
}
BATCH = 2
CONTEXTS = (3, 8, 20)  # below, at and beyond the window / chunk of 8 (3: below the conv kernel of 4)

_MODELS: dict = {}


def _build(name: str):
    if name not in _MODELS:
        torch.manual_seed(0)
        cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
        model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").to(torch.bfloat16)
        _MODELS[name] = (model.eval(), ModelSpec.from_hf_config(cfg.to_dict()), cfg)
    return _MODELS[name]


def _nbytes(t) -> int:
    return t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0


def _measured(model, seq: int) -> tuple[list[int], list[int]]:
    """(KV bytes, state bytes) per layer of the cache after one forward of ``BATCH`` x ``seq`` tokens."""
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, V, (BATCH, seq)), use_cache=True)
    cache = out.past_key_values
    kv, state = [], []
    for layer in cache.layers:
        kv.append(_nbytes(getattr(layer, "keys", None)) + _nbytes(getattr(layer, "values", None)))
        states = list(getattr(layer, "conv_states", {}).values()) + list(getattr(layer, "recurrent_states", {}).values())
        state.append(sum(_nbytes(t) for t in states))
    return kv, state


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cache_bytes_equal_transformers_cache(name):
    model, spec, _ = _build(name)
    fixed = None
    for seq in CONTEXTS:
        kv, state = _measured(model, seq)
        assert kv_layer_bytes(spec, BATCH, seq, "bf16", hf_window=True) == kv, (name, seq)
        assert kv_cache_bytes(spec, BATCH, seq, "bf16", hf_window=True) == sum(kv)
        # transformers keeps the conv state in the model's dtype and the SSM / DeltaNet state in fp32
        assert state_layer_bytes(spec, BATCH, "bf16", ssm_dtype="fp32") == state, (name, seq)
        assert state_bytes(spec, BATCH, "bf16", ssm_dtype="fp32") == sum(state)
        fixed = sum(state) if fixed is None else fixed
        assert sum(state) == fixed  # the recurrent state does not grow with context


def test_every_kind_is_exercised():
    """The configs above really contain each kind (a family reader that dropped a pattern would pass the
    byte test vacuously only if both sides agreed on nothing)."""
    def kinds(name):
        return {type(b.mixer).__name__ + ("/window" if getattr(b.mixer, "window", None) else "")
                + ("/chunk" if getattr(b.mixer, "chunk", None) else "") + ("/sinks" if getattr(b.mixer, "sinks", 0) else "")
                + ("/norope" if getattr(b.mixer, "rope", True) is False else "")
                for b in _build(name)[1].layout.kinds}
    assert {"Attention/window", "Attention"} <= kinds("gemma3_text")
    assert {"Attention/window/sinks", "Attention/sinks"} <= kinds("gpt_oss")
    assert {"Attention/chunk", "Attention/norope"} <= kinds("llama4_text")
    assert {"Attention/window", "Attention"} <= kinds("cohere2")
    assert kinds("deepseek_v2") == {"MLA"}
    assert kinds("mamba") == {"Mamba"} and kinds("mamba2") == {"Mamba2"}
    assert {"GatedDeltaNet", "Attention"} <= kinds("qwen3_next")
    assert {"Mamba", "Attention/norope"} <= kinds("jamba")
    assert kinds("falcon_h1") == {"Attention"}
    assert {type(b.parallel).__name__ for b in _build("falcon_h1")[1].layout.kinds} == {"Mamba2"}


def test_per_layer_pattern_matches_transformers_layer_types():
    """Which layers are windowed / global follows the config's rule, as the cache shows it: at 20 tokens a
    sliding or chunked layer holds 7 positions, a global layer 20."""
    for name in ("gemma3_text", "gpt_oss", "llama4_text", "cohere2"):
        model, spec, cfg = _build(name)
        kv, _ = _measured(model, 20)
        per_pos = [b // (BATCH * 2 * 2 * spec.num_kv_heads * spec.head_dim) for b in kv]
        assert per_pos == [7 if t in ("sliding_attention", "chunked_attention") else 20 for t in cfg.layer_types]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_groups_give_the_same_bytes(name):
    """The (elements, cap) summary the sweeps use equals the per-layer sum at every context."""
    _, spec, _ = _build(name)
    groups = kv_groups(spec)
    for seq in (1, 7, 8, 9, 100, 10**6):
        assert kv_bytes_from_groups(groups, 3, seq, "fp8") == kv_cache_bytes(spec, 3, seq, "fp8")


def test_inference_memory_counts_state_apart_and_fixed():
    """Inference memory: the KV cache grows with the context on attention layers only; the recurrent state is
    its own component, equal to what transformers holds (conv bf16, state fp32) and the same at any context."""
    from calc.memory import InferenceSetup, inference_memory

    model, spec, _ = _build("qwen3_next")
    _, state = _measured(model, 20)
    short = inference_memory(spec, InferenceSetup(batch=BATCH, context=20, overhead_bytes=0))
    long = inference_memory(spec, InferenceSetup(batch=BATCH, context=20_000, overhead_bytes=0))
    assert short.recurrent_state == long.recurrent_state == sum(state) > 0
    kv, _ = _measured(model, 20)
    assert short.kv_cache == sum(kv)  # one full-attention layer of four
    assert long.kv_cache == 1000 * short.kv_cache


def test_windowed_models_cap_per_kind():
    """Gemma 3 (window 8): beyond the window only the global layer grows, whatever the context."""
    from calc.memory import InferenceSetup, inference_memory

    _, spec, cfg = _build("gemma3_text")
    per_pos_layer = BATCH * 2 * spec.num_kv_heads * spec.head_dim * 2
    full = cfg.layer_types.count("full_attention")
    sliding = cfg.layer_types.count("sliding_attention")
    for ctx in (100, 10_000):
        b = inference_memory(spec, InferenceSetup(batch=BATCH, context=ctx))
        assert b.kv_cache == per_pos_layer * (full * ctx + sliding * 8)
        assert b.recurrent_state == 0


def test_chunked_attention_flops_follow_the_chunk_mask():
    """Llama 4 chunked layers: a query at position p sees the keys of its own chunk (llama.cpp
    ``is_masked_swa`` CHUNKED: masked when the key is before p's chunk start); counted here by brute force
    over (query, key) pairs."""
    from calc.speed import _attention_kinds, attention_flops

    _, spec, _ = _build("llama4_text")
    kinds = _attention_kinds(spec)
    chunk = next(ch for _, _, _, ch in kinds if ch)

    def seen(p, ch):  # keys k <= p not masked
        return sum(1 for k in range(p + 1) if not (ch and k < (p // ch) * ch))

    for past, new in ((0, 20), (5, 1), (17, 6)):
        want = sum(per * n * sum(seen(p, ch) for p in range(past, past + new)) for per, n, _, ch in kinds)
        assert attention_flops(spec, new, past) == want
    assert chunk == 8


def test_mamba_state_splits_over_tensor_parallel_gpus():
    """A Mamba model (no attention heads) on 2 GPUs: accepted, each keeps half of every sequence's state
    (engines shard d_inner); measured single-GPU state from transformers' cache."""
    from calc.memory import InferenceSetup, inference_memory

    model, spec, _ = _build("mamba")
    _, state = _measured(model, 8)
    one = inference_memory(spec, InferenceSetup(batch=BATCH, context=8))
    two = inference_memory(spec, InferenceSetup(batch=BATCH, context=8, tp=2))
    assert one.recurrent_state == sum(state) and two.recurrent_state == sum(state) // 2
    assert one.kv_cache == two.kv_cache == 0



def test_models_without_attention_get_a_tensor_parallel_rule_of_their_own():
    """Training a pure Mamba model at tp=2 was refused with "tp must divide the attention heads (1)" (a placeholder
    head). Without attention, tp splits the mixer's own units; the widths are read from transformers' modules."""
    from calc.memory import TrainingSetup, training_memory

    model, spec, _ = _build("mamba")
    d_inner = model.backbone.layers[0].mixer.intermediate_size  # transformers' MambaMixer
    assert training_memory(spec, TrainingSetup(tp=2)).total > 0
    bad = next(t for t in range(3, d_inner) if d_inner % t)
    with pytest.raises(ValueError, match=rf"tp={bad} must divide the Mamba inner channels \(d_inner\) \({d_inner}\)"):
        training_memory(spec, TrainingSetup(tp=bad))
    model2, spec2, _ = _build("mamba2")
    mixer = model2.backbone.layers[0].mixer
    assert training_memory(spec2, TrainingSetup(tp=2)).total > 0  # 8 heads, 2 groups
    with pytest.raises(ValueError, match=rf"Mamba-2 heads \({mixer.num_heads}\) and the Mamba-2 groups "
                                         rf"\({mixer.n_groups}\)"):
        training_memory(spec2, TrainingSetup(tp=4))
