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
