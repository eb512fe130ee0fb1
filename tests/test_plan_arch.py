"""calc/plan.py's tensor-parallel rule read from the layer kinds (calc/arch), not from the flat head counts.

A pure Mamba model has one placeholder attention head, so the planner refused every tp > 1 ("tp must divide the
attention heads (1)") and searched tp = 1 only. Tensor parallelism splits what each mixer has in whole units
(Megatron-LM ``MambaMixer``: Mamba-2 heads and groups a multiple of tp; Mamba-1 its d_inner channels); a hybrid
(Jamba, Falcon-H1) must split its attention heads and its recurrent mixers' units. The units are read from
transformers' own modules built on the meta device, an independent reference for what calc/arch describes.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc.gpus import get_gpu  # noqa: E402
from calc.models import ModelSpec  # noqa: E402
from calc.parallel import tp_units as tp_units_of  # noqa: E402
from calc.plan import Cluster, Job, Layout, candidate_layouts, plan_layout  # noqa: E402

H100 = get_gpu("H100 SXM")
CONFIGS = {
    "mamba": dict(model_type="mamba", hidden_size=256, num_hidden_layers=4, vocab_size=1024, state_size=8, expand=2,
                  conv_kernel=4, intermediate_size=520),
    "mamba2": dict(model_type="mamba2", hidden_size=256, num_hidden_layers=4, vocab_size=1024, state_size=8,
                   expand=2, conv_kernel=4, num_heads=8, head_dim=64, n_groups=2),
    "jamba": dict(model_type="jamba", hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=4, vocab_size=1024, mamba_d_state=8, mamba_d_conv=4,
                  mamba_expand=3, mamba_dt_rank=8, attn_layer_period=2, attn_layer_offset=1, num_experts=1),
}


def _meta(name: str):
    cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    return model, ModelSpec.from_hf_config(cfg.to_dict(), name=name)


def _plan(spec, tp: int):
    return plan_layout(spec, Cluster(H100, 8), Job(2048, 2048 * 64), Layout(tp=tp, dp=8 // tp))


def test_mamba_splits_its_inner_channels_not_a_placeholder_head():
    model, spec = _meta("mamba")
    d_inner = model.backbone.layers[0].mixer.intermediate_size  # transformers' MambaMixer: 520 = 8 x 65
    assert tp_units_of(spec) == {"Mamba inner channels (d_inner)": d_inner}
    assert _plan(spec, 2).step_s > 0 and _plan(spec, 8).step_s > 0  # was refused: 'attention heads (1)'
    with pytest.raises(ValueError, match=rf"tp=3 must divide the Mamba inner channels \(d_inner\) \({d_inner}\)"):
        plan_layout(spec, Cluster(H100, 6), Job(2048, 2048 * 6), Layout(tp=3, dp=2))
    tps = {lay.tp for lay in candidate_layouts(spec, Cluster(H100, 8), Job(2048, 2048 * 64))}
    assert tps == {t for t in (1, 2, 4, 8) if d_inner % t == 0}


def test_mamba2_splits_heads_and_groups():
    model, spec = _meta("mamba2")
    mixer = model.backbone.layers[0].mixer
    assert tp_units_of(spec) == {"Mamba-2 heads": mixer.num_heads, "Mamba-2 groups": mixer.n_groups}
    assert _plan(spec, 2).step_s > 0  # 8 heads, 2 groups
    with pytest.raises(ValueError, match=rf"Mamba-2 groups \({mixer.n_groups}\)"):
        _plan(spec, 4)


def test_hybrid_splits_attention_heads_and_mamba_channels():
    model, spec = _meta("jamba")
    attn = next(m.self_attn for m in model.model.layers if hasattr(m, "self_attn"))
    mamba = next(m.mamba for m in model.model.layers if hasattr(m, "mamba"))
    heads = attn.q_proj.out_features // attn.head_dim  # transformers' JambaAttention
    kv_heads = attn.k_proj.out_features // attn.head_dim
    units = tp_units_of(spec)
    assert units == {"attention heads": heads, "KV heads": kv_heads,
                     "Mamba inner channels (d_inner)": mamba.intermediate_size}
    assert _plan(spec, 4).step_s > 0  # 8 heads, 4 KV heads, 768 channels
    with pytest.raises(ValueError, match=r"tp=8 must divide the attention heads \(8\) and the KV heads \(4\)"):
        _plan(spec, 8)
