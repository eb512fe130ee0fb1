"""vLLM's KV blocks for a hybrid whose every layer runs attention beside a Mamba-2 mixer (Falcon-H1), against the
cache transformers builds for a tiny Falcon-H1 and vLLM's hybrid rules, read from vLLM's source:

- ``vllm/model_executor/models/falcon_h1.py``: each decoder layer registers its attention (a FullAttentionSpec) and,
  under index ``num_hidden_layers + i``, its Mamba-2 mixer (a MambaSpec): 2 N cache layers for N decoder layers.
- ``vllm/model_executor/layers/mamba/mamba_utils.py`` ``MambaStateShapeCalculator.mamba2_state_shape``: the conv
  state holds ``conv_kernel - 1`` columns of the conv channels, the SSM state heads x head_dim x d_state; both in
  the model dtype (``mamba_cache_dtype`` "auto").
- ``vllm/model_executor/models/config.py`` ``HybridAttentionMambaModelConfig``: attention block size
  ``16 x cdiv(mamba page, 16 x attention page of one token)``, the Mamba page padded to the attention page.
- ``vllm/v1/core/kv_cache_utils.py``: equal layer counts make two groups of N layers; ``num_blocks = available //
  page // N``; a request needs ``cdiv(max_model_len, block_size)`` attention blocks and one Mamba block.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc.models import ModelSpec  # noqa: E402
from calc.serve import ServeSetup, kv_layout  # noqa: E402
from calc.units import GIB  # noqa: E402

# tests/test_kvcache_arch.py's tiny Falcon-H1: 3 layers, 2 KV heads of 16, a Mamba-2 mixer of 4 heads x 12 with 2
# groups of state 8, conv kernel 4
CFG = dict(model_type="falcon_h1", num_hidden_layers=3, head_dim=16, mamba_d_ssm=48, mamba_n_heads=4,
           mamba_d_head=12, mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_rms_norm=True,
           projectors_bias=True, mamba_chunk_size=8, hidden_size=64, intermediate_size=128, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=256)


def _transformers_cache():
    """Per layer: (K + V elements of one token, conv channels, conv kernel, SSM elements) of one sequence, read from
    the cache transformers fills in a forward of 5 tokens."""
    torch.manual_seed(0)
    cfg = transformers.AutoConfig.for_model(**CFG)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, 256, (1, 5)), use_cache=True).past_key_values
    rows = []
    for layer in cache.layers:
        kv = (layer.keys.numel() + layer.values.numel()) // 5
        (conv,) = layer.conv_states.values()
        (ssm,) = layer.recurrent_states.values()
        rows.append((kv, conv.shape[-2], conv.shape[-1], ssm.numel()))
    return cfg, rows


def test_falcon_h1_state_shares_the_block_pool_as_in_vllm():
    cfg, rows = _transformers_cache()
    assert len(set(rows)) == 1 and len(rows) == 3
    kv_elems, channels, kernel, ssm = rows[0]
    attn_token_bytes = kv_elems * 2  # bf16
    mamba_page = (channels * (kernel - 1) + ssm) * 2
    block = 16 * -(-mamba_page // (16 * attn_token_bytes))
    page = block * attn_token_bytes
    assert page >= mamba_page
    spec = ModelSpec.from_hf_config(cfg.to_dict(), name="tiny Falcon-H1")
    avail = int(0.01 * GIB)
    lay = kv_layout(spec, ServeSetup(80 * GIB, max_model_len=4096), avail)
    assert lay.block_size == block
    assert lay.page_bytes == page
    assert lay.groups == 2  # the 3 attention layers, the 3 Mamba layers
    assert lay.blocks == avail // page // 3
    assert lay.blocks_per_request == -(-4096 // block) + 1
    assert lay.max_concurrency == pytest.approx(lay.blocks / (-(-4096 // block) + 1))


def test_falcon_h1_preset_block_size():
    """Falcon-H1-1.5B-Instruct (config.json: 2 KV heads of 128, Mamba-2 of 48 heads x 64, 1 group of state 256,
    conv kernel 4, d_ssm 3072): a Mamba page of (3,584 x 3 + 48 x 64 x 256) x 2 B = 1,594,368 B against 1,024 B of
    K and V per token makes vLLM's attention block 16 x cdiv(1,594,368, 16,384) = 1,568 tokens; a request of 8,192
    tokens takes 6 attention blocks and one state block."""
    from calc.presets import get_preset

    lay = kv_layout(get_preset("Falcon-H1-1.5B-Instruct"), ServeSetup(80 * GIB, max_model_len=8192), 10 * GIB)
    assert (lay.block_size, lay.page_bytes, lay.groups, lay.blocks_per_request) == (1568, 1568 * 1024, 2, 7)
    assert lay.blocks == 10 * GIB // (1568 * 1024) // 24


def test_jamba_pool_holds_tokens_and_state_blocks_once():
    """Jamba-v0.1 (config.json: 32 layers, attention every 8th from layer 4, 8 KV heads of 128; Mamba d_inner 8,192,
    d_state 16, d_conv 4): a Mamba page of (8,192 x 3 + 8,192 x 16) x 2 B = 311,296 B over 4,096 B of K and V per
    token raises the attention block to 16 x cdiv(311,296, 65,536) = 80 tokens; 4 attention and 28 Mamba layers make
    groups of 4: one attention group and 7 state groups sharing one pool of block ids. A request of L tokens takes
    cdiv(L, 80) blocks for its tokens and 7 for its state, so the simulation admits against all blocks x 80 token
    slots with 7 x 80 slots of state per request; vLLM's logged tokens (blocks // 8 x 80) count the pool 8 times
    short."""
    from calc.presets import get_preset
    from calc.serve import serve_memory

    m = serve_memory(get_preset("Jamba-v0.1"), ServeSetup(80 * GIB, tp=2, max_model_len=8192))
    assert (m.block_size, m.groups, m.blocks_per_request) == (80, 8, 8192 // 80 + 1 + 7)
    assert m.kv_cache_tokens == m.kv_cache_blocks // 8 * 80
    assert (m.sim_kv_tokens, m.state_tokens_per_request, m.max_running) == (m.kv_cache_blocks * 80, 7 * 80, None)
    # requests of max_model_len the simulation admits: vLLM's concurrency, up to the last block's rounding
    assert m.sim_kv_tokens / (8192 + 560) == pytest.approx(m.max_concurrency, rel=0.01)


def test_state_slots_limit_admission():
    """Three requests of 60 + 40 tokens arriving at once into 320 slots: without state all three run together; with
    60 slots of state each only two fit, and the third starts after the first two finish."""
    import numpy as np

    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from calc.serve_sim import Workload, simulate, step_model

    g = get_gpu("H100 SXM")
    model = step_model(get_preset("Llama-3.2-1B"), g.peak("bf16"), g.bandwidth_bytes_per_s)
    w = Workload(np.array([0.0, 1e-9, 2e-9]), np.array([60, 60, 60]), np.array([40, 40, 40]))
    free = simulate(model, w, kv_capacity_tokens=320)
    held = simulate(model, w, kv_capacity_tokens=320, state_tokens_per_request=60)
    assert free.ttft_s[2] < free.e2e_s[0]
    assert held.ttft_s[2] + w.arrival_s[2] > held.e2e_s[0]
    with pytest.raises(ValueError, match="state"):
        simulate(model, w, kv_capacity_tokens=150, state_tokens_per_request=60)


def test_a_single_mamba2_group_is_replicated_on_each_tp_rank():
    """vLLM's ``MambaStateShapeCalculator.mamba2_state_shape`` with ``extra_groups_for_head_shards``: a mixer of one
    group keeps that group on every rank, so at tp 2 a rank's conv channels are d_ssm / 2 + 2 x d_state (not
    (d_ssm + 2 x d_state) / 2); its page sets the attention block size (the module docstring's rule). With d_state 32
    the page is 2,064 bytes, one past 2 x 1,024 (16 tokens of one rank's K + V): 48-token blocks, 32 if halved."""
    cfg = {**CFG, "mamba_n_groups": 1, "mamba_d_state": 32}
    tp = 2
    conv_channels = cfg["mamba_d_ssm"] // tp + 2 * 1 * cfg["mamba_d_state"]
    ssm = cfg["mamba_n_heads"] // tp * cfg["mamba_d_head"] * cfg["mamba_d_state"]
    mamba_page = (conv_channels * (cfg["mamba_d_conv"] - 1) + ssm) * 2
    attn_token_bytes = (cfg["num_key_value_heads"] // tp) * 2 * cfg["head_dim"] * 2
    block = 16 * -(-mamba_page // (16 * attn_token_bytes))
    assert (mamba_page, block) == (2064, 48)
    spec = ModelSpec.from_hf_config(cfg, name="tiny Falcon-H1, one group")
    lay = kv_layout(spec, ServeSetup(80 * GIB, tp=tp, max_model_len=4096), int(0.01 * GIB))
    assert lay.block_size == block and lay.page_bytes == block * attn_token_bytes


def test_serving_refuses_a_tp_that_splits_no_unit_evenly():
    """Falcon-H1-1.5B has 8 attention heads and 48 Mamba-2 heads: vLLM cannot shard either over 3 GPUs."""
    from calc.presets import get_preset
    from calc.serve import serve_memory

    with pytest.raises(ValueError, match="attention heads"):
        serve_memory(get_preset("Falcon-H1-1.5B-Instruct"), ServeSetup(80 * GIB, tp=3, max_model_len=4096))
