"""The serving step model costs each layer by its kind (issue 16): a hybrid's Mamba / Mamba-2 / gated DeltaNet layers pay
their own element-wise traffic and state reads and writes, not an attention layer's.

References are independent of ``calc/arch``: the widths come from the ``transformers`` modules of tiny models of each
family (built on the meta device: conv1d channels, projection widths, expert tensors), the state from the tensors
``transformers``' cache holds after a real forward. What each vLLM kernel reads and writes (the per-kind rules of
``calc.serve_sim._mixer_traffic``) is applied to those widths here, written from the kernels' signatures, not from our
layer kinds."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc.models import ModelSpec  # noqa: E402
from calc.presets import get_preset  # noqa: E402
from calc.serve_sim import activation_traffic_bytes, state_traffic_bytes, step_model  # noqa: E402
from tests.test_kvcache_arch import CONFIGS  # noqa: E402

#: tiny configs of every recurrent family, a dense GQA one with q/k norms and an MLA one (tests/test_kvcache_arch.py)
NAMES = ("mamba", "mamba2", "jamba", "qwen3_next", "falcon_h1", "gemma3_text", "deepseek_v2")


def _meta(name: str):
    cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    return model, cfg


def _attention(m, rope: bool) -> int:
    """rotary_embedding on q and k (in place: read + write), reshape_and_cache (read k, v; write them)."""
    if hasattr(m, "kv_a_proj_with_mqa"):  # MLA: the latent and the shared rope key are cached, rope on both sides
        r = m.qk_rope_head_dim
        kv_rank = m.kv_a_layernorm.weight.shape[0]
        q_rank = m.q_a_layernorm.weight.shape[0] if getattr(m, "q_a_layernorm", None) is not None else 0
        heads = m.kv_b_proj.out_features // (m.qk_nope_head_dim + m.v_head_dim)
        return 2 * (heads + 1) * r + 2 * (q_rank + kv_rank) + 2 * (kv_rank + r)
    q, k, v = m.o_proj.in_features, m.k_proj.out_features, m.v_proj.out_features
    return (2 * (q + k) if rope else 0) + 2 * (k + v)


def _recurrent(m) -> int:
    conv = m.conv1d.in_channels
    if hasattr(m, "x_proj"):  # Mamba: conv over x; selective scan reads x, dt, z, B, C, writes y; Jamba's dt/B/C norms
        d, dt_rank = conv, m.dt_proj.in_features
        n = (m.x_proj.out_features - dt_rank) // 2
        return 2 * d + 4 * d + 2 * n + (2 * (dt_rank + 2 * n) if hasattr(m, "dt_layernorm") else 0)
    if hasattr(m, "in_proj_ba"):  # gated DeltaNet: conv over q, k, v; gating; delta rule; gated norm
        v = m.out_proj.in_features
        two_k, vh = conv - v, m.in_proj_ba.out_features // 2
        return 2 * conv + 4 * vh + two_k + 2 * v + 2 * vh + 3 * v
    d = m.out_proj.in_features  # Mamba-2: in_proj gives z (d), x/B/C (conv channels) and dt (one per head)
    heads = m.in_proj.out_features - d - conv
    return 2 * conv + 2 * d + heads + (conv - d) + 3 * d


def _ffn(m, top_k: int) -> int:
    if hasattr(m, "experts"):  # routed experts as fused tensors (experts, out, in); a shared expert beside them
        gated = m.experts.gate_up_proj.shape[1] == 2 * m.experts.down_proj.shape[2]
        f = m.experts.down_proj.shape[2]
        shared = getattr(m, "shared_expert", None) or getattr(m, "shared_experts", None)
        return (3 if gated else 2) * top_k * f + (_ffn(shared, top_k) if shared is not None else 0)
    return (3 if hasattr(m, "gate_proj") else 2) * m.down_proj.in_features


def _reference(model, cfg) -> int:
    """Per-token activation bytes from the transformers modules, layer by layer: hidden-width norms on the layer (the
    first two fused add-norms 4 h, further ones 2 h), each token mixer found on it, its feed-forward."""
    base = model.base_model
    hidden = cfg.hidden_size
    rope = hasattr(base, "rotary_emb")
    top_k = getattr(cfg, "num_experts_per_tok", 0)
    total = 0
    for layer in base.layers:
        norms = sum(1 for n, c in layer.named_children()
                    if "norm" in n and getattr(c, "weight", None) is not None and c.weight.shape == (hidden,))
        el = 4 * hidden * min(norms, 2) + 2 * hidden * max(norms - 2, 0)
        for c in layer.children():
            if hasattr(c, "o_proj") or hasattr(c, "kv_a_proj_with_mqa"):
                el += _attention(c, rope)
            elif hasattr(c, "conv1d"):
                el += _recurrent(c)
            elif hasattr(c, "down_proj") or hasattr(c, "experts"):
                el += _ffn(c, top_k)
        total += el
    return 2 * total


def _flat(spec: ModelSpec) -> int:
    """What the step model used before: every layer costed as an attention layer from the flat fields."""
    f = spec.moe_intermediate_size * spec.experts_per_token if spec.is_moe else spec.intermediate_size
    return (8 * spec.hidden_size + 2 * spec.q_dim + 6 * spec.kv_dim + 3 * f) * spec.num_layers * 2


@pytest.mark.parametrize("name", NAMES)
def test_activation_traffic_per_kind_from_transformers_modules(name):
    model, cfg = _meta(name)
    spec = ModelSpec.from_hf_config(cfg.to_dict())
    ref = _reference(model, cfg)
    assert activation_traffic_bytes(spec) == ref
    if name in ("mamba", "mamba2", "jamba", "qwen3_next", "falcon_h1"):
        assert _flat(spec) != ref  # the flat fields miss the recurrent layers' kernels


@pytest.mark.parametrize("name", ("mamba", "mamba2", "jamba", "qwen3_next", "falcon_h1"))
def test_state_traffic_is_the_cache_state_read_and_written(name):
    """Per decode step each sequence's recurrent state is loaded and stored: 2 x the state of one sequence as vLLM
    keeps it, conv ``kernel - 1`` columns of the channels transformers' cache holds (transformers keeps ``kernel``)
    and the SSM / DeltaNet state, both 16-bit."""
    cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16).eval()
    batch = 2
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, cfg.vocab_size, (batch, 5)), use_cache=True).past_key_values
    per_seq = 0
    for layer in cache.layers:
        for t in getattr(layer, "conv_states", {}).values():
            per_seq += t.shape[1] * (t.shape[2] - 1) * (t.shape[0] // batch)
        for t in getattr(layer, "recurrent_states", {}).values():
            per_seq += t.numel() // batch
    assert per_seq > 0
    spec = ModelSpec.from_hf_config(cfg.to_dict())
    assert state_traffic_bytes(spec) == 2 * per_seq * 2


def test_step_model_carries_the_state_traffic():
    """The step model charges the state per sequence producing a token (``StepModel.gemm_s``); attention-only models
    have none."""
    falcon = ModelSpec.from_hf_config(transformers.AutoConfig.for_model(**CONFIGS["falcon_h1"]).to_dict())
    m = step_model(falcon, 989e12, 3.35e12)
    assert m.state_bytes_per_seq == state_traffic_bytes(falcon) > 0
    assert m.gemm_s(1, 9) > m.gemm_s(1, 1)
    assert step_model(get_preset("Meta-Llama-3-8B"), 989e12, 3.35e12).state_bytes_per_seq == 0
