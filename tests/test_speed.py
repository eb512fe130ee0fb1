"""Roofline inference speed (calc/speed.py): FLOPs against torch's FlopCounterMode on real models, bytes
against real tensors and the published parameter counts, and the speed page / CLI on top."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from calc.kvcache import kv_cache_bytes
from calc.models import ModelSpec
from calc.presets import get_preset
from calc.speed import (
    Hardware,
    ServingSetup,
    _sum_min,
    attention_flops,
    batch_grid,
    batch_sweep,
    decode_flops,
    estimate,
    expected_experts_touched,
    kv_bytes_at,
    max_batch_in_memory,
    prefill_flops,
    weight_bytes_read,
)
from tests.conftest import ROOT

# Published sizes (REFERENCE.md): Meta-Llama-3-8B has 8,030,261,248 parameters, vocab 128,256, hidden 4,096,
# 32 layers x 8 KV heads x head_dim 128; H100 SXM: 989 dense bf16 TFLOPS, 3.35 TB/s.
LLAMA3_8B_TOTAL = 8_030_261_248
LLAMA3_8B_EMBED = 128_256 * 4096
LLAMA3_8B_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # K and V, layers, kv heads, head_dim, bf16 bytes
H100 = Hardware(989e12, 3.35e12)


def _tiny(kind: str):
    """A small real transformers model with eager attention (and eager experts), and its ModelSpec."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    common = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=101,
                  attn_implementation="eager")
    if kind == "llama":
        cfg = tf.LlamaConfig(intermediate_size=96, **common)
        model = tf.LlamaForCausalLM(cfg)
    elif kind == "llama-tied":
        cfg = tf.LlamaConfig(intermediate_size=96, tie_word_embeddings=True, **common)
        model = tf.LlamaForCausalLM(cfg)
    elif kind == "mixtral":
        cfg = tf.MixtralConfig(intermediate_size=96, num_local_experts=4, num_experts_per_tok=2,
                               experts_implementation="eager", **common)
        model = tf.MixtralForCausalLM(cfg)
    else:
        raise AssertionError(kind)
    return model.eval(), ModelSpec.from_hf_config(cfg.to_dict(), name=kind)


def _count_flops(model, ids, **kwargs):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(ids, use_cache=True, **kwargs)
    return counter.get_total_flops(), out


@pytest.mark.parametrize("kind", ["llama", "llama-tied", "mixtral"])
def test_prefill_and_decode_flops_match_flop_counter_on_real_models(kind):
    """Reference: torch.utils.flop_counter counts 2mnk for every mm/bmm that transformers runs (eager attention
    multiplies the full masked matrix and computes logits at every position: causal=False, all_logits=True)."""
    import torch

    model, spec = _tiny(kind)
    prompt = 13
    ids = torch.randint(0, spec.vocab_size, (1, prompt))
    counted, out = _count_flops(model, ids)
    assert counted == prefill_flops(spec, prompt, causal=False, all_logits=True)
    # transformers 5 names the cache argument `cache`; 4.x `past_key_values`
    kw = {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}
    counted, _ = _count_flops(model, ids[:, :1], **kw)
    assert counted == decode_flops(spec, prompt + 1)  # one new token attends to 13 cached + itself


def test_causal_attention_counts_half_plus_diagonal():
    # Independent arithmetic: query i of a p-token prompt sees i positions, sum = p(p+1)/2; per position per layer
    # 2 x heads x (d_qk + d_v) = 2 x 32 x 256 for Llama-3-8B.
    spec = get_preset("Meta-Llama-3-8B")
    p = 4096
    assert attention_flops(spec, p, causal=True) == 32 * 2 * 32 * 256 * p * (p + 1) // 2
    assert attention_flops(spec, p, causal=False) == 32 * 2 * 32 * 256 * p * p


@pytest.mark.parametrize("lo,hi,w", [(1, 10, 4), (3, 3, 4), (5, 9, 4), (1, 4, 4), (2, 100, 37), (50, 60, 100)])
def test_sum_min_against_loop(lo, hi, w):
    assert _sum_min(lo, hi, w) == sum(min(c, w) for c in range(lo, hi + 1))


def test_sliding_window_caps_attention_flops():
    # Gemma-2: every other layer has a 4,096 window (google/gemma-2-9b config.json), so past 4,096 tokens only the
    # global layers keep growing. Compare with a direct per-layer loop.
    spec = get_preset("Gemma-2-9B")
    past = 10_000
    per_pos = 2 * spec.num_heads * 2 * spec.head_dim
    expected = sum(per_pos * (min(past + 1, 4096) if spec.layer_is_sliding(i) else past + 1)
                   for i in range(spec.num_layers))
    assert attention_flops(spec, 1, past) == expected


@pytest.mark.parametrize("name", ["Meta-Llama-3-8B", "Gemma-2-9B", "DeepSeek-V3", "Mistral-7B-v0.1"])
def test_vectorized_kv_bytes_equal_kvcache_module(name):
    spec = get_preset(name)
    contexts = [1, 17, 4095, 4096, 4097, 10_000, 131_072]
    got = kv_bytes_at(spec, 3, contexts, "bf16")
    want = [kv_cache_bytes(spec, 3, c, "bf16") for c in contexts]
    np.testing.assert_allclose(got, want, rtol=0, atol=0.5)


@pytest.mark.parametrize("kind", ["llama", "llama-tied"])
def test_weight_bytes_read_match_real_tensors(kind):
    """Reference: the bf16 tensors of a real model. A decode step reads every weight except the (untied) embedding
    table, of which it reads one row per token; a tied table is read whole as the output head."""
    import torch

    model, spec = _tiny(kind)
    model = model.to(torch.bfloat16)
    embed = model.get_input_embeddings().weight
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p is embed and kind == "llama":
            continue
        total += p.numel() * p.element_size()
    tokens = 5
    rows = tokens * spec.hidden_size * 2
    assert weight_bytes_read(spec, tokens, "bf16") == pytest.approx(total + rows, rel=0, abs=1e-6)


def test_expected_experts_touched_against_simulation():
    # Monte Carlo: each token picks k = 2 distinct of E = 8 experts uniformly (Mixtral's shape).
    spec = get_preset("Mixtral-8x7B-v0.1")
    rng = np.random.default_rng(0)
    for tokens in (1, 3, 16):
        trials = 4000
        picks = np.argsort(rng.random((trials, tokens, 8)), axis=-1)[..., :2]
        distinct = np.array([len(np.unique(t)) for t in picks])
        assert expected_experts_touched(spec, tokens) == pytest.approx(distinct.mean(), rel=0.02)
    assert expected_experts_touched(get_preset("Meta-Llama-3-8B"), 4) == 0.0


def test_llama3_8b_decode_on_h100_by_hand():
    """Independent arithmetic from the published count: one decode step (prompt 1, output 2) reads the weights
    except the embedding table (plus the one looked-up row) and one position of KV cache; memory-bound."""
    spec = get_preset("Meta-Llama-3-8B")
    est = estimate(spec, ServingSetup(batch=1, prompt_tokens=1, output_tokens=2), H100)
    step_bytes = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED + 4096) * 2 + LLAMA3_8B_KV_PER_TOKEN
    assert est.decode_bound == "memory"
    assert est.tokens_per_s_per_seq == pytest.approx(3.35e12 / step_bytes, rel=1e-12)
    assert est.weights_stored_bytes == LLAMA3_8B_TOTAL * 2
    # prefill of one token: 2 x (8.03e9 - 2 x embeddings - norms) + head + attention over 1 position
    norms = (2 * 32 + 1) * 4096
    flops = 2 * (LLAMA3_8B_TOTAL - 2 * LLAMA3_8B_EMBED - norms) + 2 * LLAMA3_8B_EMBED + 32 * 2 * 32 * 256
    assert est.prefill_flops == flops


def test_long_decode_sums_every_step():
    # 1024-token prompt, 256 outputs: step j reads KV of 1024 + j - 1 positions... by a plain loop.
    spec = get_preset("Meta-Llama-3-8B")
    setup = ServingSetup(batch=4, prompt_tokens=1024, output_tokens=256)
    est = estimate(spec, setup, H100)
    weights = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED + 4 * 4096) * 2
    total = 0.0
    for c in range(1025, 1024 + 256):
        mem = (weights + 4 * LLAMA3_8B_KV_PER_TOKEN * (c - 1)) / 3.35e12
        comp = 4 * decode_flops(spec, c) / 989e12
        total += max(mem, comp)
    assert est.decode_s == pytest.approx(total, rel=1e-9)
    assert est.decode_steps == 255


def test_batching_raises_throughput_until_the_roof():
    spec = get_preset("Meta-Llama-3-8B")
    sweep = batch_sweep(spec, ServingSetup(prompt_tokens=128, output_tokens=128), H100, max_batch=1024)
    assert np.all(np.diff(sweep.tokens_per_s_total) > 0)
    assert np.all(np.diff(sweep.tokens_per_s_per_seq) <= 0)
    # By hand: per step the weights (W bytes) are shared, each sequence adds KV reads and FLOPs; both grow linearly
    # with context, so the sums over steps equal steps x the value at the mean context (contexts 129..255, mean 192,
    # KV of 191 positions). Compute-bound once b x F_seq / F >= (W + b x KV_seq) / B.
    w = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED) * 2
    kv_seq = LLAMA3_8B_KV_PER_TOKEN * 191
    f_seq = 2 * (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED - 65 * 4096) + 32 * 2 * 32 * 256 * 192
    b_star = (w / 3.35e12) / (f_seq / 989e12 - kv_seq / 3.35e12)
    assert 500 < b_star < 700
    assert sweep.compute_bound_from == min(b for b in sweep.batch if b >= b_star)
    i = list(sweep.batch).index(sweep.compute_bound_from)
    assert sweep.compute_s[i] >= sweep.memory_s[i] and sweep.compute_s[i - 1] < sweep.memory_s[i - 1]


def test_batch_grid():
    assert list(batch_grid(16)) == [1, 2, 3, 4, 6, 8, 12, 16]
    assert list(batch_grid(10)) == [1, 2, 3, 4, 6, 8, 10]
    assert list(batch_grid(1)) == [1]


def test_max_batch_in_memory_is_the_boundary():
    spec = get_preset("Meta-Llama-3-8B")
    setup = ServingSetup(prompt_tokens=4000, output_tokens=97)
    mem = 81_559 * 2**20  # H100 80GB as nvidia-smi reports it
    b = max_batch_in_memory(spec, setup, mem)
    weights = LLAMA3_8B_TOTAL * 2
    assert weights + kv_cache_bytes(spec, b, 4096) <= mem < weights + kv_cache_bytes(spec, b + 1, 4096)
    assert max_batch_in_memory(get_preset("Meta-Llama-3-70B"), setup, mem) == 0  # 141 GB of bf16 weights


def test_moe_decode_reads_active_experts_only_at_batch_one():
    spec = get_preset("Mixtral-8x7B-v0.1")
    from calc.models import param_counts

    c = param_counts(spec)
    one = weight_bytes_read(spec, 1, "bf16")
    assert one == pytest.approx((c.active - c.embeddings + spec.hidden_size) * 2, rel=1e-12)
    assert weight_bytes_read(spec, 4096, "bf16") == pytest.approx((c.total - c.embeddings + 4096 * 4096) * 2, rel=1e-9)


@pytest.mark.parametrize("kwargs,field", [
    ({"batch": 0}, "batch"), ({"prompt_tokens": -1}, "prompt tokens"), ({"output_tokens": 1}, "output tokens"),
    ({"batch": 2.5}, "batch"), ({"weight_dtype": "fp64"}, "weight dtype"), ({"kv_dtype": "nf4"}, "kv dtype"),
    ({"batch": True}, "batch"),
])
def test_bad_setup_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ServingSetup(**kwargs)


@pytest.mark.parametrize("flops,bw", [(0, 1e12), (1e12, float("nan")), (float("inf"), 1e12), (-1, 1), ("x", 1)])
def test_bad_hardware(flops, bw):
    with pytest.raises(ValueError, match="throughput|bandwidth"):
        Hardware(flops, bw)


def test_estimates_are_finite_for_extremes():
    for name in ("DeepSeek-V3", "Gemma-2-27B", "GPT-2"):
        est = estimate(get_preset(name), ServingSetup(batch=4096, prompt_tokens=100_000, output_tokens=3), H100)
        for v in (est.prefill_s, est.decode_s, est.tokens_per_s_total, est.memory_bytes):
            assert math.isfinite(v) and v > 0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "calc", "speed", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_cli_speed_json_matches_hand_arithmetic():
    r = _cli("--model", "Meta-Llama-3-8B", "--gpu", "H100 SXM", "--prompt", "1", "--output", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    step_bytes = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED + 4096) * 2 + LLAMA3_8B_KV_PER_TOKEN
    assert out["tokens_per_s_per_seq"] == pytest.approx(3.35e12 / step_bytes, rel=1e-12)
    r = _cli("--model", "Meta-Llama-3-8B", "--bandwidth-gbs", "1000", "--prompt", "1", "--output", "2", "--json")
    assert json.loads(r.stdout)["tokens_per_s_per_seq"] == pytest.approx(1e12 / step_bytes, rel=1e-12)


@pytest.mark.parametrize("args", [("--output", "1"), ("--tflops", "nan"), ("--gpu", "nope"),
                                  ("--gpu", "V100 SXM2 32GB", "--compute", "bf16")])
def test_cli_speed_bad_input_one_line_exit_2(args):
    r = _cli("--model", "Meta-Llama-3-8B", *args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


# ----- the page ------------------------------------------------------------------------------
def _speed_page(query: dict | None = None, measured: dict | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.test_pages import TIMEOUT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if measured:
        at.session_state["measured"] = measured
    at.run()
    at.switch_page("app_pages/speed.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at, label: str) -> float:
    value = next(m.value for m in at.metric if m.label == label)
    return float(value.split()[0].replace(",", ""))


def test_speed_page_decode_rate_for_one_step():
    at = _speed_page({"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "sprompt": "1", "soutput": "2"})
    step_bytes = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED + 4096) * 2 + LLAMA3_8B_KV_PER_TOKEN
    assert _metric(at, "Decode, per sequence (tokens/s)") == pytest.approx(3.35e12 / step_bytes, abs=0.05)  # shown to 0.1


def test_speed_page_uses_measured_figures_and_says_so():
    measured = {"device": "Test GPU (cuda)", "gpu": "H100 SXM", "flops_per_s": {"bf16": 500e12},
                "bandwidth_bytes_per_s": 2.0e12}  # matched to the sidebar's GPU: used by default
    at = _speed_page({"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "sprompt": "1", "soutput": "2"}, measured)
    step_bytes = (LLAMA3_8B_TOTAL - LLAMA3_8B_EMBED + 4096) * 2 + LLAMA3_8B_KV_PER_TOKEN
    assert _metric(at, "Decode, per sequence (tokens/s)") == pytest.approx(2.0e12 / step_bytes, abs=0.05)
    roofs = " ".join(i.value for i in at.info)
    assert "measured bf16 matmul on Test GPU" in roofs and "measured copy bandwidth" in roofs
    # fp8 was not measured: the page falls back to the datasheet peak and warns
    at.selectbox(key="scdtype").set_value("fp8").run()
    assert any("No fp8 matmul was measured" in w.value for w in at.warning)
    assert "H100 SXM datasheet dense fp8 peak" in " ".join(i.value for i in at.info)


def test_speed_page_unsupported_dtype_is_an_error_not_a_traceback():
    at = _speed_page({"gpu": "V100 SXM2 32GB", "scdtype": "bf16"})
    assert any("no bf16 matmul peak" in e.value for e in at.error)
