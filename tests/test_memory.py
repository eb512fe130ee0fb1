"""Memory calculator against published figures: the ZeRO paper, Korthikanti et al. 2022 Table 2,
the rule-of-thumb table, and the invariants every setup must keep (refuse or compute, never a
negative or non-integer byte count). Real-tensor checks live in ``test_memory_torch.py``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calc.activations import activation_bytes_per_layer, layer_terms
from calc.memory import (
    FINETUNE,
    OPTIMIZERS,
    PRECISIONS,
    RLHF,
    InferenceSetup,
    MemoryBreakdown,
    TrainingSetup,
    activation_bytes,
    best_weight_dtype,
    breakdown_grid,
    inference_memory,
    max_batch,
    max_context,
    min_gpus,
    optimizer_state_bytes,
    training_memory,
    weights_bytes,
)
from calc.models import ModelSpec, param_counts
from calc.presets import get_preset

GB, GIB = 10**9, 2**30
NO_OVERHEAD = {"overhead_bytes": 0}


# ----- ZeRO paper (Rajbhandari et al. 2019), sec. 5 / Figure 1: 7.5B params, Nd = 64 -------------------
@pytest.mark.parametrize("stage, published_gb", [(0, 120), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_per_device_model_states(stage, published_gb):
    b = training_memory(7_500_000_000, TrainingSetup(zero_stage=stage, dp=64, **NO_OVERHEAD))
    # The paper rounds to 0.1 GB (decimal): 120, 31.4, 16.6, 1.9 GB.
    assert round(b.total / GB, 1) == pytest.approx(published_gb, abs=0.05)
    assert b.activations == 0 and any("not computed" in n for n in b.notes)


def test_zero_formulas_exact():
    psi, nd = 7_500_000_000, 64
    # ZeRO sec. 5.1-5.3: (2 + 2 + K) psi with K = 12, then 4 + 12/Nd, 2 + 14/Nd, 16/Nd bytes per param
    for stage, per_param in ((0, 16), (1, 4 + 12 / nd), (2, 2 + 14 / nd), (3, 16 / nd)):
        b = training_memory(psi, TrainingSetup(zero_stage=stage, dp=nd, **NO_OVERHEAD))
        assert b.total == pytest.approx(per_param * psi, abs=8)


def test_fp32_gradients_convention_is_18_bytes():
    # REFERENCE.md: fp32 gradients with mixed-precision Adam = 18 B/param
    b = training_memory(1_000_000, TrainingSetup(grad_dtype="fp32", **NO_OVERHEAD))
    assert b.total == 18_000_000


# ----- rule-of-thumb table -------------------------------------------------------------------------------
@pytest.mark.parametrize("billions, fp32_gb, fp16_gb", [(1, 4, 2), (7, 28, 14), (13, 52, 26), (65, 260, 130)])
def test_rule_of_thumb_table(billions, fp32_gb, fp16_gb):
    n = billions * 10**9
    for dt, want in (("fp32", fp32_gb), ("fp16", fp16_gb)):
        b = inference_memory(n, InferenceSetup(weights_dtype=dt, **NO_OVERHEAD))
        assert b.weights == want * GB and b.total == want * GB and b.kv_cache == 0
    # fp32 AdamW training = 4 x the fp32 inference weights (4 + 4 + 8 bytes per param)
    train = training_memory(n, TrainingSetup(precision="fp32", **NO_OVERHEAD))
    assert train.total == 4 * fp32_gb * GB


def test_one_billion_fp32_is_3_73_gib():
    assert round(weights_bytes(10**9, "fp32") / GIB, 2) == 3.73


# ----- Korthikanti et al. 2022, Table 2 (activation bytes per layer, 16-bit, dropout masks 1 B) ----------
GPT3 = ModelSpec(name="GPT-3 175B", architecture="GPT2LMHeadModel", hidden_size=12288, num_layers=96, num_heads=96,
                 num_kv_heads=96, head_dim=128, intermediate_size=4 * 12288, vocab_size=51200, gated_mlp=False,
                 activation="gelu", norm="layernorm", qkv_bias=True, out_bias=True, mlp_bias=True)


@pytest.mark.parametrize("t, sp, recompute", [(1, False, "none"), (8, False, "none"), (8, True, "none"),
                                               (8, True, "selective"), (8, True, "full"), (1, False, "full")])
def test_korthikanti_table2(t, sp, recompute):
    s, b, h, a = 2048, 1, 12288, 96
    attn = 5 * a * s / h
    want = {("none", False): s * b * h * (10 + 24 / t + attn / t),
            ("none", True): s * b * h * (34 / t + attn / t),
            ("selective", True): s * b * h * 34 / t,
            ("full", True): 2 * s * b * h / t,
            ("full", False): 2 * s * b * h}[(recompute, sp)]
    # eager attention (the s x s matrices Korthikanti counts); for full recompute the fused kind, since
    # HF GPT-2's eager path also hands its (b, 1, s, s) mask to each checkpoint (one shared tensor)
    got = activation_bytes_per_layer(GPT3, b, s, tp=t, sequence_parallel=sp, recompute=recompute,
                                     flash_attention=recompute == "full", dropout=0.1)
    # Korthikanti leaves out LayerNorm's mean and rstd (2 x 4 B per token per norm): under 0.01%.
    assert got == pytest.approx(want, rel=1e-4)


def test_flash_attention_drops_the_5as_over_h_term():
    s, h, a = 2048, 12288, 96
    eager = activation_bytes_per_layer(GPT3, 1, s, flash_attention=False, dropout=0.1)
    flash = activation_bytes_per_layer(GPT3, 1, s, flash_attention=True, dropout=0.1)
    # fused attention keeps an fp32 log-sum-exp per head instead of the s x s matrices (its output is
    # the o_proj input both ways)
    assert eager - flash == s * h * 5 * a * s / h - s * 4 * a


def test_swiglu_gqa_terms_differ_from_the_gpt_constant():
    spec = get_preset("Meta-Llama-3-8B")
    s, h, f, kv = 4096, 4096, 14336, 1024
    got = activation_bytes_per_layer(spec, 1, s)
    # HF Llama, bf16, fused attention (derivation in calc/activations.py; measured in test_memory_torch.py):
    # 2 RMSNorms (4 + 2) h + 4, attention input 2h, q/k/v 2(h + 2 kv), output 2h, lse 4a, MLP input 2h, MLP 8f
    per_token = 2 * (6 * h + 4) + 2 * h + 2 * (h + 2 * kv) + 2 * h + 4 * 32 + 2 * h + 8 * f
    assert got == s * per_token
    assert got != s * h * 34  # the GPT constant would be 34 sbh


def test_pipeline_first_stage_holds_all_layers_worth():
    # Korthikanti eq. 5 (1F1B): the first stage stores pp micro-batches of L/pp layers = L layers' worth;
    # the last stage holds one micro-batch of its layers plus the logits.
    spec = get_preset("Llama-2-7B")
    per_layer = activation_bytes_per_layer(spec, 1, 4096)
    b = training_memory(spec, TrainingSetup(seq_len=4096, pp=4))
    # plus one layer's backward gradients: the hidden state's and two of the MLP's (f = 11008), 2 B each
    assert b.activations == 32 * per_layer + 4096 * 2 * (4096 + 2 * 11008)
    assert "pipeline stage 0 of 4" in b.notes


def test_dpo_doubles_activations_and_adds_reference():
    spec = get_preset("Llama-3.2-1B")
    plain = training_memory(spec, TrainingSetup(**NO_OVERHEAD))
    dpo = training_memory(spec, TrainingSetup(rlhf="dpo", **NO_OVERHEAD))
    n = param_counts(spec).total
    assert dpo.activations == 2 * plain.activations
    assert dpo.weights == plain.weights + 2 * n  # frozen bf16 reference


def test_ppo_models_have_their_own_sizes():
    actor, critic = get_preset("Llama-3.2-1B"), get_preset("Llama-3.2-3B")
    b = training_memory(actor, TrainingSetup(rlhf="ppo", critic=critic, reference=actor, reward=500_000_000,
                                             **NO_OVERHEAD))
    a_n = param_counts(actor).total
    c_n = param_counts(critic).total - param_counts(critic).output_head + critic.hidden_size  # value head h x 1
    assert b.weights == 2 * (a_n + c_n) + 2 * a_n + 2 * 500_000_000
    assert b.optimizer_states == 8 * (a_n + c_n)


def test_lora_and_qlora_states():
    spec = get_preset("Llama-2-7B")
    lora = training_memory(spec, TrainingSetup(finetune="lora", lora_rank=8, lora_targets=("q_proj", "v_proj"),
                                               **NO_OVERHEAD))
    trainable = 32 * 2 * 8 * (4096 + 4096)  # Hu et al. 2021: r (d_in + d_out) per adapted matrix
    n = param_counts(spec).total
    assert lora.weights == 2 * n + 4 * trainable  # frozen bf16 base + fp32 adapters
    assert lora.gradients == 4 * trainable and lora.optimizer_states == 8 * trainable and lora.master_weights == 0
    qlora = training_memory(spec, replace(TrainingSetup(finetune="qlora", lora_rank=8, **NO_OVERHEAD)))
    linear = n - 2 * 32000 * 4096 - (2 * 32 + 1) * 4096
    bits = 4 + 8 / 64 + 32 / (64 * 256)  # nf4 + double-quantized block scales (Dettmers et al. 2023)
    assert qlora.weights - 4 * 32 * 4 * 8 * 8192 == pytest.approx(linear * bits / 8 + 2 * (n - linear), abs=1)


def test_offload_moves_master_and_states_to_cpu():
    b = training_memory(10**9, TrainingSetup(zero_stage=2, dp=8, offload_optimizer=True, **NO_OVERHEAD))
    assert b.master_weights == 0 and b.optimizer_states == 0
    assert b.cpu_bytes == 12 * 10**9 // 8
    assert b.total == 2 * 10**9 + 2 * 10**9 // 8


def test_optimizer_state_bytes_per_optimizer():
    n = 1_000_000
    assert optimizer_state_bytes(n, "adamw") == 8 * n
    assert optimizer_state_bytes(n, "sgd") == 0
    assert optimizer_state_bytes(n, "sgd-momentum") == 4 * n
    # bitsandbytes 8-bit blockwise: 1 B per value + one fp32 absmax per 256 values, two states
    assert optimizer_state_bytes(n, "adamw-8bit") == 2 * (n + 4 * -(-n // 256))
    spec = get_preset("GPT-2")
    ada = optimizer_state_bytes(param_counts(spec).total, "adafactor", spec=spec)
    assert 0 < ada < 0.01 * 4 * param_counts(spec).total  # factored: rows + columns, not rows x columns


# ----- every combination computes or is refused ---------------------------------------------------------
SMALL = get_preset("Qwen2.5-0.5B")


@settings(max_examples=150, deadline=None)
@given(precision=st.sampled_from(PRECISIONS), optimizer=st.sampled_from(OPTIMIZERS), zero=st.integers(0, 3),
       dp=st.sampled_from([1, 2, 64]), tp=st.sampled_from([1, 2, 3]), pp=st.sampled_from([1, 2, 30]),
       sp=st.booleans(), recompute=st.sampled_from(["none", "selective", "full"]), flash=st.booleans(),
       offload=st.booleans(), finetune=st.sampled_from(FINETUNE), rank=st.sampled_from([0, 1, 64]),
       rlhf=st.sampled_from(RLHF), grad=st.sampled_from([None, "fp32", "bf16"]),
       model=st.sampled_from([SMALL, 500_000_000]))
def test_every_training_combination_computes_or_is_refused(precision, optimizer, zero, dp, tp, pp, sp, recompute,
                                                            flash, offload, finetune, rank, rlhf, grad, model):
    setup = TrainingSetup(precision=precision, grad_dtype=grad, optimizer=optimizer, zero_stage=zero, dp=dp, tp=tp,
                          pp=pp, sequence_parallel=sp, micro_batch=2, seq_len=512, recompute=recompute,
                          flash_attention=flash, offload_optimizer=offload, finetune=finetune, lora_rank=rank,
                          rlhf=rlhf)
    try:
        b = training_memory(model, setup)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for v in (*b.components().values(), b.cpu_bytes):
        assert isinstance(v, int) and v >= 0
    assert b.total == sum(b.components().values())


@pytest.mark.parametrize("setup, field", [
    (TrainingSetup(finetune="lora", lora_rank=0), "lora_rank"),
    (TrainingSetup(offload_optimizer=True), "offload_optimizer"),
    (TrainingSetup(zero_stage=2, pp=2), "zero_stage"),
    (TrainingSetup(tp=3), "tp"),
    (TrainingSetup(pp=25), "pp"),
    (TrainingSetup(micro_batch=0), "micro_batch"),
    (TrainingSetup(precision="fp8"), "precision"),
    (TrainingSetup(finetune="lora", lora_targets=("w1",)), "lora_targets"),
])
def test_refusals_name_the_field(setup, field):
    with pytest.raises(ValueError, match=field):
        training_memory(SMALL, setup)


def test_zero3_with_dp1_is_allowed():
    b = training_memory(SMALL, TrainingSetup(zero_stage=3, dp=1))
    assert b.total > 0 and any("shards nothing" in n for n in b.notes)


def test_lora_needs_an_architecture():
    with pytest.raises(ValueError, match="architecture"):
        training_memory(7 * 10**9, TrainingSetup(finetune="lora"))


def test_inference_refusals():
    for bad in (InferenceSetup(weights_dtype="int3"), InferenceSetup(kv_dtype="nf4"), InferenceSetup(batch=0),
                InferenceSetup(tp=5)):
        with pytest.raises(ValueError):
            inference_memory(SMALL, bad)


# ----- inference ------------------------------------------------------------------------------------------
def test_inference_kv_cache_follows_the_architecture():
    mistral, ds = get_preset("Mistral-7B-v0.1"), get_preset("DeepSeek-V3")
    # sliding window 4096: a 32k context caches 4096 positions (32 layers x 2 x 8 x 128 x 2 B each)
    b = inference_memory(mistral, InferenceSetup(context=32768))
    assert b.kv_cache == 32 * 2 * 8 * 128 * 2 * 4096
    # MLA: (512 + 64) latent per layer, no factor 2, replicated on every tensor-parallel GPU
    one = inference_memory(ds, InferenceSetup(context=1000, tp=8))
    assert one.kv_cache == 61 * 576 * 1000 * 2
    # GQA with tp > kv heads: each GPU keeps one KV head
    llama = get_preset("Meta-Llama-3-70B")
    assert inference_memory(llama, InferenceSetup(tp=16)).kv_cache == 80 * 2 * 128 * 4096 * 2


def test_quantized_weights_keep_embeddings_in_bf16():
    spec = get_preset("Meta-Llama-3-8B")
    c = param_counts(spec)
    other = c.embeddings + c.output_head + c.norms
    b = inference_memory(spec, InferenceSetup(weights_dtype="int4"))
    assert b.weights == -(-(c.total - other) * (4 + 20 / 128) // 8) + 2 * other


def test_gguf_weights_come_from_the_quantization_module():
    gguf = pytest.importorskip("calc.gguf")
    spec = get_preset("Llama-2-7B")
    b = inference_memory(spec, InferenceSetup(weights_dtype="Q4_K_M"))
    # TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_K_M.gguf is 4,081,004,224 B, of which 741,056 B header
    assert b.weights == gguf.quantize_model(spec, "Q4_K_M").tensor_bytes == 4_081_004_224 - 741_056


# ----- solvers and sweeps --------------------------------------------------------------------------------
def test_solvers_find_the_boundary():
    spec, cap = get_preset("Meta-Llama-3-8B"), 80 * GIB
    s = InferenceSetup(context=8192)
    n = max_batch(spec, s, cap)
    assert inference_memory(spec, replace(s, batch=n)).total <= cap < inference_memory(spec, replace(s, batch=n + 1)).total
    c = max_context(spec, InferenceSetup(batch=8), cap)
    assert inference_memory(spec, InferenceSetup(batch=8, context=c)).total <= cap
    assert inference_memory(spec, InferenceSetup(batch=8, context=c + 1)).total > cap
    t = TrainingSetup(zero_stage=3, dp=8, seq_len=4096)
    mb = max_batch(spec, t, cap)
    assert training_memory(spec, replace(t, micro_batch=mb)).total <= cap
    assert training_memory(spec, replace(t, micro_batch=mb + 1)).total > cap
    big = get_preset("Meta-Llama-3-70B")
    assert min_gpus(big, InferenceSetup(), cap) == 2  # 141 GB of bf16 weights
    assert best_weight_dtype(big, InferenceSetup(), cap) == "fp8"  # 70.6 GB at 8 bits
    assert max_batch(big, InferenceSetup(), cap) is None


def test_grid_equals_scalar_functions():
    spec = get_preset("Gemma-2-2B")
    for setup in (TrainingSetup(pp=2, recompute="full"), TrainingSetup(rlhf="dpo", flash_attention=False),
                  InferenceSetup(tp=2, kv_dtype="fp8")):
        bs, ss = [1, 3], [100, 4096, 9000]
        g = breakdown_grid(spec, setup, bs, ss)
        for i, b in enumerate(bs):
            for j, s in enumerate(ss):
                if isinstance(setup, TrainingSetup):
                    want = training_memory(spec, replace(setup, micro_batch=b, seq_len=s))
                else:
                    want = inference_memory(spec, replace(setup, batch=b, context=s))
                assert {k: g[k][i, j] for k in MemoryBreakdown.COMPONENTS} == want.components()


@pytest.mark.parametrize("batches, seqs", [([0], [10]), (np.array([]), [10]), ([float("nan")], [10]),
                                           ([1], [float("inf")]), ([1e300], [10]), (["x"], [10])])
def test_grid_rejects_bad_points(batches, seqs):
    for setup in (TrainingSetup(), InferenceSetup()):
        with pytest.raises(ValueError):
            breakdown_grid(SMALL, setup, batches, seqs)


def test_layer_terms_list_each_tensor_once():
    names = [t.name for t in layer_terms(get_preset("Mixtral-8x7B-v0.1"), 0)]
    assert len(names) == len(set(names))


def test_activation_bytes_is_the_breakdown_component_and_needs_an_architecture():
    spec = get_preset("Meta-Llama-3-8B")
    setup = TrainingSetup(seq_len=8192, micro_batch=2, recompute="selective", flash_attention=False)
    assert activation_bytes(spec, setup) == training_memory(spec, setup).activations
    with pytest.raises(ValueError, match="architecture"):
        activation_bytes(8 * 10**9, setup)


@pytest.mark.parametrize("preset, tp, pp", [("DeepSeek-V3", 2, 32), ("DeepSeek-V3", 8, 8), ("Jamba-v0.1", 1, 4),
                                            ("Llama-3.1-8B", 1, 4)])
def test_training_memory_is_the_busiest_of_every_pipeline_stage(preset, tp, pp):
    """The Training memory page's 'the pipeline stage that needs the most' against all pp stages, each weighed
    (calc.memory._training_stage for stage 0..pp-1, not the pruned set training_memory searches). DeepSeek-V3's
    middle stages hold MoE layers where the first holds dense ones (first_k_dense_replace 3): on tp 2 x pp 32 the
    first and last stages read 34.7 GiB, a middle one over 100; two MoE layers' expert matrices over tp 2 alone are
    2 x 257 x 3 x 7168 x 2048 / 2 parameters at 2 bytes each."""
    from calc.memory import _training_stage

    spec = get_preset(preset)
    setup = TrainingSetup(zero_stage=1, dp=8, tp=tp, pp=pp, sequence_parallel=tp > 1, micro_batch=1, seq_len=4096)
    every = max((_training_stage(spec, setup, k) for k in range(pp)), key=lambda b: b.total)
    assert training_memory(spec, setup).total == every.total
    if (preset, tp, pp) == ("DeepSeek-V3", 2, 32):
        assert training_memory(spec, setup).weights >= 2 * (2 * 257 * 3 * 7168 * 2048 / 2)
