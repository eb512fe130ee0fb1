"""One tensor-parallel rule for every token-mixer kind (calc/parallel.py), used by the memory model, the solvers,
the planner and the CLI.

Before it, calc/memory.py and calc/solvers.py checked hybrids (Jamba, Falcon-H1, Qwen3-Next) against their
attention heads only and searched a pure Mamba model at tp = 1 only (its placeholder head): a Falcon-H1 at a tp
that splits its attention heads but not its Mamba-2 heads was sized as if it ran, and a Mamba model that needs two
GPUs got no layout. References, each independent of calc/arch:
- the units each mixer splits are read from transformers' own modules built on the meta device (attention heads
  from ``o_proj``, KV heads from ``k_proj``, Mamba's d_inner from ``A_log``, Mamba-2 / DeltaNet heads from
  ``A_log`` and groups / key heads from the conv width left over by ``out_proj``);
- one GPU's recurrent state at tp = 2 is the cache transformers builds for the shard (the same mixer with half
  its heads; vLLM's ``MambaMixer2`` keeps a replica of a single group on every GPU) after a real forward.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc import parallel  # noqa: E402
from calc.cli import main  # noqa: E402
from calc.kvcache import state_bytes  # noqa: E402
from calc.memory import InferenceSetup, TrainingSetup, inference_memory, training_memory  # noqa: E402
from calc.models import ModelSpec  # noqa: E402
from calc.plan import Cluster, Job, candidate_layouts  # noqa: E402
from calc.solvers import fewest_gpus, valid_tps  # noqa: E402

V = 256
_ATT = dict(hidden_size=64, intermediate_size=128, head_dim=16, vocab_size=V)
CONFIGS = {
    "mamba": dict(model_type="mamba", hidden_size=64, num_hidden_layers=2, vocab_size=V, state_size=8, expand=2,
                  intermediate_size=192, conv_kernel=4),  # d_inner 192 = 3 x 64
    "mamba2": dict(model_type="mamba2", hidden_size=64, num_hidden_layers=2, vocab_size=V, state_size=8, expand=2,
                   conv_kernel=4, num_heads=8, head_dim=16, n_groups=2),
    "jamba": dict(model_type="jamba", num_hidden_layers=4, attn_layer_period=2, attn_layer_offset=1,
                  num_attention_heads=8, num_key_value_heads=2, expert_layer_period=2, expert_layer_offset=1,
                  num_experts=2, num_experts_per_tok=1, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2,
                  mamba_dt_rank=8, **{k: v for k, v in _ATT.items() if k != "head_dim"}),
    # 8 attention heads and 8 KV heads beside 12 Mamba-2 heads of one group in every layer
    "falcon_h1": dict(model_type="falcon_h1", num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8,
                      mamba_d_ssm=96, mamba_n_heads=12, mamba_d_head=8, mamba_n_groups=1, mamba_d_state=8,
                      mamba_d_conv=4, mamba_chunk_size=8, **_ATT),
    # 4 attention heads (one layer in four), 6 DeltaNet key heads and 12 value heads
    "qwen3_next": dict(model_type="qwen3_next", num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                       linear_num_key_heads=6, linear_num_value_heads=12, linear_key_head_dim=8,
                       linear_value_head_dim=8, linear_conv_kernel_dim=4, num_experts=4, num_experts_per_tok=2,
                       moe_intermediate_size=32, shared_expert_intermediate_size=32, **_ATT),
}
#: A tp that splits the attention heads and KV heads but not the recurrent units, and the unit it misses.
HYBRID_MISSES = {"falcon_h1": (8, r"the Mamba-2 heads \(12\)"), "qwen3_next": (4, r"the DeltaNet key heads \(6\)")}
MAX = 16
_META: dict = {}


def _meta(name: str):
    if name not in _META:
        cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(cfg)
        _META[name] = (model, ModelSpec.from_hf_config(cfg.to_dict(), name=name))
    return _META[name]


def _module_units(model) -> dict[str, int]:
    """What tp must split, read from transformers' module shapes."""
    units: dict[str, int] = {}
    for m in model.modules():
        if hasattr(m, "o_proj") and hasattr(m, "k_proj") and hasattr(m, "head_dim"):
            units.setdefault("attention heads", m.o_proj.in_features // m.head_dim)
            units.setdefault("KV heads", m.k_proj.out_features // m.head_dim)
        elif hasattr(m, "A_log") and m.A_log.dim() == 2:  # Mamba-1: A is d_inner x d_state
            units.setdefault("Mamba inner channels (d_inner)", m.A_log.shape[0])
        elif hasattr(m, "A_log") and hasattr(m, "num_k_heads"):  # gated DeltaNet: conv over q, k (K each) and v
            left = m.conv1d.weight.shape[0] - m.out_proj.in_features
            units.setdefault("DeltaNet key heads", left // 2 // m.head_k_dim)
            units.setdefault("DeltaNet value heads", m.A_log.shape[0])
        elif hasattr(m, "A_log"):  # Mamba-2: conv over x (d_inner) and B, C (groups x d_state each)
            left = m.conv1d.weight.shape[0] - m.out_proj.in_features
            units.setdefault("Mamba-2 heads", m.A_log.shape[0])
            units.setdefault("Mamba-2 groups", left // 2 // m.ssm_state_size)
    return units


def _allowed(units: dict[str, int], serving: bool) -> list[int]:
    """Megatron-LM: tp divides every unit. vLLM also replicates KV heads when tp is a multiple of them
    (QKVParallelLinear) and a single Mamba-2 group (MambaMixer2: n_groups % tp == 0 or n_groups == 1)."""
    def ok(k: str, n: int, t: int) -> bool:
        return n % t == 0 or (serving and ((k == "KV heads" and t % n == 0) or (k == "Mamba-2 groups" and n == 1)))
    return [t for t in range(1, MAX + 1) if all(ok(k, n, t) for k, n in units.items())]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_allowed_tps_are_what_transformers_modules_split(name):
    model, spec = _meta(name)
    units = _module_units(model)
    assert parallel.tp_units(spec) == units
    for training in (True, False):
        assert valid_tps(spec, training=training, max_tp=MAX) == _allowed(units, not training), (name, training)
    if name == "falcon_h1":  # one group: Megatron-LM cannot split it, vLLM replicates it
        assert valid_tps(spec, max_tp=MAX) == [1] and valid_tps(spec, training=False, max_tp=MAX) == [1, 2, 4]
    tps = {lay.tp for lay in candidate_layouts(spec, Cluster(_h100(), 8), Job(2048, 2048 * 64))}
    assert tps == {t for t in _allowed(units, False) if 8 % t == 0}  # the planner: the same degrees that divide 8


def _h100():
    from calc.gpus import get_gpu

    return get_gpu("H100 SXM")


@pytest.mark.parametrize("name", sorted(HYBRID_MISSES))
def test_hybrid_refused_at_a_tp_that_splits_attention_but_not_its_recurrent_mixer(name, tmp_path, capsys):
    model, spec = _meta(name)
    tp, missed = HYBRID_MISSES[name]
    units = _module_units(model)
    assert units["attention heads"] % tp == 0 and units["KV heads"] % tp == 0  # the old check passed it
    with pytest.raises(ValueError, match=rf"tp={tp} must divide .*{missed}"):
        inference_memory(spec, InferenceSetup(tp=tp))
    with pytest.raises(ValueError, match=rf"tp={tp} must divide .*{missed}"):
        training_memory(spec, TrainingSetup(tp=tp))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(transformers.AutoConfig.for_model(**CONFIGS[name]).to_dict()))
    capsys.readouterr()
    for mode in ("infer", "train"):
        assert main(["memory", "--mode", mode, "--config", str(cfg), "--tp", str(tp)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: tp={tp} must divide") and missed.replace("\\", "") in err
    ok = max(valid_tps(spec, training=False, max_tp=MAX))
    assert inference_memory(spec, InferenceSetup(tp=ok)).total > 0  # the allowed degrees are sized


def _measured_state(cfg: dict, batch: int) -> int:
    """Bytes of the recurrent state (conv + SSM) in transformers' cache after one forward (bf16 model)."""
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(**cfg)
    model = transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16).eval()
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, V, (batch, 5)), use_cache=True).past_key_values
    total = 0
    for layer in cache.layers:
        for t in list(getattr(layer, "conv_states", {}).values()) + list(getattr(layer, "recurrent_states", {}).values()):
            total += t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0
    return total


#: One GPU of a tp = 2 split of each config: the same mixer with half its heads / channels (a single Mamba-2
#: group stays whole: vLLM replicates it). Attention is left as is: these compare recurrent state only.
SHARDS = {
    "mamba": dict(intermediate_size=96),  # d_inner 192 -> 96
    "mamba2": dict(expand=1, num_heads=4, n_groups=1),  # 8 heads, 2 groups -> 4 heads, 1 group
    "falcon_h1": dict(mamba_d_ssm=48, mamba_n_heads=6),  # 12 heads -> 6, the one group replicated
    "qwen3_next": dict(linear_num_key_heads=3, linear_num_value_heads=6),
}


@pytest.mark.parametrize("name", sorted(SHARDS))
def test_state_per_gpu_at_tp2_is_the_shards_cache(name):
    """calc.kvcache.state_bytes at tp = 2 (and the memory model's recurrent_state, one number and on the grid)
    equals the cache of transformers' model of one GPU's shard. Falcon-H1's single Mamba-2 group is replicated:
    the old split of the whole conv width by tp gave (96 + 16) x 4 / 2 = 224 conv elements per layer instead of
    (48 + 16) x 4 = 256."""
    _, spec = _meta(name)
    batch = 2
    want = _measured_state({**CONFIGS[name], **SHARDS[name]}, batch)
    assert state_bytes(spec, batch, "bf16", ssm_dtype="fp32", tp=2) == want
    setup = InferenceSetup(batch=batch, context=5, tp=2, state_dtype="fp32", overhead_bytes=0)
    assert inference_memory(spec, setup).recurrent_state == want
    import numpy as np

    from calc.memory import _inference_grid

    grid = _inference_grid(spec, setup, np.array([[batch]]), np.array([[5]]), (1, 1), np)
    assert int(grid["recurrent_state"][0, 0]) == want


def test_pure_mamba_is_sized_and_laid_out_over_two_gpus():
    """A Mamba model has no attention heads: the solvers searched tp = 1 only (its placeholder head), so a model
    too big for one GPU got no layout. Now tp = 2 (half its d_inner channels on each GPU) is found."""
    model, spec = _meta("mamba")
    d_inner = _module_units(model)["Mamba inner channels (d_inner)"]
    assert valid_tps(spec, max_tp=8) == [t for t in range(1, 9) if d_inner % t == 0] == [1, 2, 3, 4, 6, 8]
    for setup in (InferenceSetup(batch=64, context=256, overhead_bytes=0), TrainingSetup(overhead_bytes=0)):
        mem = inference_memory if isinstance(setup, InferenceSetup) else training_memory
        one, two = mem(spec, setup).total, mem(spec, type(setup)(**{**setup.__dict__, "tp": 2})).total
        assert two < one
        layout = fewest_gpus(spec, setup, two)  # room for the tp = 2 shard, not for the whole model
        assert layout is not None and layout.gpus == 2 and layout.tp == 2


def test_every_recurrent_kind_names_what_tp_splits():
    """A mixer kind with a fixed state (calc/arch/kinds.py overrides ``state_elements``) must say what tensor
    parallelism splits (calc.parallel.RECURRENT_UNITS), or the rule would silently skip it."""
    from calc.arch import kinds

    stateful = {c for c in vars(kinds).values() if isinstance(c, type) and issubclass(c, kinds._Kind)
                and c not in (kinds._Kind, kinds.Block) and "state_elements" in vars(c)}
    assert stateful and stateful <= set(parallel.RECURRENT_UNITS)
