"""Training FLOPs, time, cost and energy against papers, real PyTorch FLOP counts and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calc.compute import (
    chinchilla_forward_flops,
    compute_budget_flops,
    flops_per_token,
    gpus_needed,
    implied_mfu,
    kaplan_training_flops,
    megatron_training_flops,
    time_and_cost,
    training_flops,
    training_flops_6nd,
)
from calc.models import ModelSpec, param_counts
from calc.presets import get_preset
from tests.conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calc", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


# ----- FLOP counts against the papers -----------------------------------------------------------------

# Hoffmann et al. 2022 Table 3 rows (params, FLOPs, tokens); the paper computed them as 6ND. The 67B row is
# left out: its 1.5T tokens do not go with 5.76e23 FLOPs (6ND would be 6.03e23).
TABLE3 = [(400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9), (175e9, 3.85e24, 3.7e12),
          (280e9, 9.90e24, 5.9e12), (520e9, 3.43e25, 11.0e12), (1e12, 1.27e26, 21.2e12), (10e12, 1.30e28, 216.2e12)]


@pytest.mark.parametrize("n,flops,d", TABLE3)
def test_6nd_reproduces_chinchilla_table3(n, flops, d):
    # tokens are printed to 3-4 significant digits: 1.5% covers the rounding (worst: 175B, 3.7T -> 0.9%)
    assert training_flops_6nd(n, d) == pytest.approx(flops, rel=0.015)


# Hoffmann et al. 2022 Table A4 (FLOP ratio of their Appendix F count to 6ND) with the parameter counts of
# Table A9 for the same configurations; seq_len 2048 and vocab 32k (sec. 4.1 / App. F). The ratios reproduce
# only without the embedding and logit terms, which the authors confirmed they left out (reported in
# karpathy/nanoGPT scaling_laws.ipynb); the table prints 2 decimals, hence 0.01.
TABLE_A4 = [  # layers, d_model, ffw, heads, kv size, params (Table A9), ratio (Table A4)
    (10, 640, 2560, 10, 64, 74e6, 1.03), (20, 1024, 4096, 16, 64, 306e6, 1.10),
    (24, 1280, 5120, 10, 128, 552e6, 1.08), (26, 1792, 7168, 14, 128, 1143e6, 1.04),
    (28, 2048, 8192, 16, 128, 1593e6, 1.03), (40, 3584, 14336, 28, 128, 6796e6, 0.99),
]


@pytest.mark.parametrize("layers,d,f,h,k,params,ratio", TABLE_A4)
def test_chinchilla_appendix_f_reproduces_table_a4(layers, d, f, h, k, params, ratio):
    fwd = chinchilla_forward_flops(2048, 32_000, d, layers, h, k, f, embeddings_and_logits=False)
    assert 3 * fwd / (6 * params * 2048) == pytest.approx(ratio, abs=0.01)
    with_all = chinchilla_forward_flops(2048, 32_000, d, layers, h, k, f)
    assert with_all > fwd  # the printed formula (with embeddings and logits) counts more


def test_kaplan_attention_term():
    # Kaplan et al. 2020 sec. 2.1: the context term 2 n_layer n_ctx d_attn is small against 2N when
    # d_model > n_ctx / 12; for GPT-3 175B (96 layers, d 12288, ctx 2048) it is under 2%.
    n = 174.6e9
    ratio = kaplan_training_flops(n, 1.0, 96, 2048, 12288) / (6 * n)
    assert 1.01 < ratio < 1.02


def test_kaplan_context_term_is_half_of_what_torch_counts_for_attention():
    """Real PyTorch: FlopCounterMode on a GPT-2 forward at two context lengths. Per token, only the attention
    scores grow with the context: QK^T and softmax x V, 2 n_ctx d_attn FLOPs each per layer over the full
    s x s matrices. Kaplan's Table 1 counts one of the two (the "Attention: Mask" row, QK^T): half."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from torch.utils.flop_counter import FlopCounterMode

    layers, d = 3, 64
    cfg = transformers.GPT2Config(n_layer=layers, n_embd=d, n_head=4, n_positions=256, vocab_size=300)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.config._attn_implementation = "eager"

    def per_token(seq: int) -> float:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(torch.zeros(1, seq, dtype=torch.long))
        return fc.get_total_flops() / seq

    measured = per_token(192) - per_token(64)
    assert measured > 0
    kaplan = (kaplan_training_flops(1e6, 1.0, layers, 192, d) - kaplan_training_flops(1e6, 1.0, layers, 64, d)) / 3
    assert kaplan == measured / 2


def gpt_spec(layers: int, hidden: int, vocab: int, seq: int) -> ModelSpec:
    return ModelSpec.from_hf_config({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": hidden,
                                     "n_layer": layers, "n_head": hidden // 64, "vocab_size": vocab,
                                     "n_positions": seq, "tie_word_embeddings": True})


@pytest.mark.parametrize("layers,hidden,seq", [(12, 768, 1024), (24, 2048, 2048), (96, 12288, 2048)])
def test_general_count_matches_megatron_for_gpt_blocks(layers, hidden, seq):
    # Korthikanti et al. 2022 sec. 6 (model FLOPs) and Narayanan et al. 2021 eq. 3 (full recompute); their
    # closed forms ignore biases and LayerNorms (under 0.2% here).
    spec = gpt_spec(layers, hidden, 50257, seq)
    per = flops_per_token(spec, seq)
    assert per.model_training == pytest.approx(megatron_training_flops(1.0, layers, hidden, seq, 50257), rel=2e-3)
    assert per.hardware_training("full") == pytest.approx(
        megatron_training_flops(1.0, layers, hidden, seq, 50257, full_recompute=True), rel=2e-3)
    assert per.hardware_training("none") == per.model_training
    assert per.model_training < per.hardware_training("selective") < per.hardware_training("full")


TINY_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
              "intermediate_size": 704, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2,
              "vocab_size": 1000, "max_position_embeddings": 256, "tie_word_embeddings": False}
TINY_MIXTRAL = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 128,
                "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                "vocab_size": 500, "num_local_experts": 4, "num_experts_per_tok": 2, "max_position_embeddings": 256,
                "tie_word_embeddings": False}


@pytest.mark.parametrize("config", [TINY_LLAMA, TINY_MIXTRAL], ids=["llama", "mixtral"])
def test_flops_per_token_equals_torch_flop_counter(config):
    """Real PyTorch: FlopCounterMode counts 2mnk per matmul of a forward (and backward) pass. With eager
    attention (QK^T and softmax x V as bmm over the full s x s matrix) and eager experts (only routed tokens
    go through an expert), the count must equal ours exactly; backward must be 2x the forward."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from torch.utils.flop_counter import FlopCounterMode

    cfg = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager",
                                                          experts_implementation="eager")
    seq = 64
    ids = torch.randint(0, config["vocab_size"], (1, seq))
    with FlopCounterMode(display=False) as fwd:
        model(ids)
    with FlopCounterMode(display=False) as train:
        model(ids, labels=ids).loss.backward()
    ours = flops_per_token(ModelSpec.from_hf_config(config), seq)
    assert ours.forward * seq == fwd.get_total_flops()
    assert ours.model_training * seq == train.get_total_flops()
    if config is TINY_MIXTRAL:  # MoE: active experts only, far below a dense count over all experts
        spec = ModelSpec.from_hf_config(config)
        counts = param_counts(spec)
        assert ours.layers_matmul < 2 * (counts.total - counts.embeddings - counts.output_head)


def test_moe_training_uses_active_parameters():
    spec = get_preset("Mixtral-8x7B-v0.1")
    counts = param_counts(spec)
    per = flops_per_token(spec, 4096)
    # Mixtral paper: "13B active parameters" (12.88 B exact, REFERENCE.md) of 46.7 B; the embedding lookup is free
    matmul_params = (per.layers_matmul + per.lm_head) / 2
    assert matmul_params == pytest.approx(counts.active - counts.embeddings - counts.norms, rel=1e-12)
    assert 12e9 < matmul_params < 13e9
    tf = training_flops(spec, 1e12, 4096)
    assert tf.model_flops < 6 * 14e9 * 1e12


def test_sliding_window_and_causal_reduce_attention():
    llama = get_preset("Meta-Llama-3-8B")
    full, causal = flops_per_token(llama, 8192), flops_per_token(llama, 8192, causal=True)
    assert causal.attention_scores == pytest.approx(full.attention_scores * 8193 / 2 / 8192)
    gemma = get_preset("Gemma-2-2B")  # every other layer slides over 4096 positions (its config)
    long = flops_per_token(gemma, 8192)
    per_layer = 2 * 8192 * (gemma.q_dim + gemma.attn_out_dim)
    assert long.attention_scores == pytest.approx(per_layer * (gemma.num_layers / 2) * (1 + 4096 / 8192))


# ----- time, cost, energy ---------------------------------------------------------------------------

def test_time_cost_energy_by_hand():
    # 1e24 FLOPs on 1,000 GPUs of 1e15 FLOP/s sustained: 1e6 s = 11.574 days, 277,778 GPU-hours
    t = time_and_cost(1e24, 1000, 1e15, price_per_gpu_hour=2.5, board_power_w=700, pue=1.2)
    assert t.seconds == pytest.approx(1e6)
    assert t.days == pytest.approx(1e6 / 86_400)
    assert t.gpu_hours == pytest.approx(1e9 / 3600)
    assert t.cost_usd == pytest.approx(1e9 / 3600 * 2.5)
    assert t.energy_kwh == pytest.approx(1e9 / 3600 * 0.7 * 1.2)


def test_implied_mfu_reproduces_palm():
    # Chowdhery et al. 2022 (PaLM), Table 3: 540B on 6144 TPU v4 chips (275 dense bf16 TFLOP/s each) at
    # 238.3k tokens/s is 46.2% MFU, with model FLOPs per token 6N + 12 L H Q T (Appendix B): N = 540.35B,
    # L = 118 layers, H = 48 heads, Q = 256 head size, T = 2048 tokens of context.
    per_token = 6 * 540.35e9 + 12 * 118 * 48 * 256 * 2048
    one_day = per_token * 238.3e3 * 86_400
    assert implied_mfu(one_day, 6144, 1.0, 275e12) == pytest.approx(0.462, abs=0.0005)


def test_inverses_agree():
    flops, rate = 7.7e23, 989e12 * 0.4
    n = gpus_needed(flops, 30, rate)
    assert time_and_cost(flops, n, rate).days <= 30 < time_and_cost(flops, n - 1, rate).days
    budget = compute_budget_flops(n, 30, rate)
    assert budget >= flops
    assert implied_mfu(budget, n, 30, 989e12) == pytest.approx(0.4)
    assert gpus_needed(compute_budget_flops(512, 10, rate), 10, rate) == 512  # no off-by-one from rounding


@pytest.mark.parametrize("call,field", [
    (lambda: training_flops_6nd(0, 1e12), "params"),
    (lambda: training_flops_6nd(-7e9, 1e12), "params"),
    (lambda: training_flops_6nd(7e9, float("nan")), "tokens"),
    (lambda: training_flops_6nd(7e9, float("inf")), "tokens"),
    (lambda: training_flops_6nd(True, 1e12), "params"),
    (lambda: time_and_cost(1e23, 0, 1e15), "GPU count"),
    (lambda: time_and_cost(1e23, 2.5, 1e15), "GPU count"),
    (lambda: time_and_cost(1e23, 8, 1e15, price_per_gpu_hour=-1), "price"),
    (lambda: time_and_cost(1e23, 8, 1e15, pue=0.5), "PUE"),
    (lambda: time_and_cost(0, 8, 1e15), "FLOPs"),
    (lambda: implied_mfu(1e23, 8, 0, 1e15), "days"),
    (lambda: gpus_needed(1e23, -1, 1e15), "days"),
    (lambda: training_flops(get_preset("GPT-2"), 1e9, 1024, "sometimes"), "recompute"),
])
def test_nonsense_is_a_clear_value_error(call, field):
    with pytest.raises(ValueError, match=field):
        call()


@pytest.mark.parametrize("mfu", [0, -0.1, 1.01, float("nan")])
def test_mfu_outside_unit_interval(mfu):
    from calc.compute import sustained_flops_per_s
    with pytest.raises(ValueError, match=r"MFU must be a number in \(0, 1\]"):
        sustained_flops_per_s(989e12, mfu)


@settings(max_examples=200, deadline=None)
@given(flops=st.floats(allow_nan=True, allow_infinity=True), gpus=st.integers(-5, 10**8),
       rate=st.floats(allow_nan=True, allow_infinity=True), price=st.floats(allow_nan=True, allow_infinity=True))
def test_time_and_cost_is_finite_or_refuses(flops, gpus, rate, price):
    try:
        t = time_and_cost(flops, gpus, rate, price, 700)
    except ValueError:
        return
    for v in (t.seconds, t.days, t.gpu_hours, t.cost_usd, t.energy_kwh):
        assert math.isfinite(v) and v >= 0


# ----- CLI ----------------------------------------------------------------------------------------

def test_cli_compute_json():
    out = cli("compute", "--params", "7e9", "--tokens", "2T", "--gpu", "H100 SXM", "--gpus", "64", "--mfu", "0.4",
              "--price", "2.0", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    flops = 6 * 7e9 * 2e12
    assert d["flops"] == pytest.approx(flops)
    assert d["gpu_hours"] == pytest.approx(flops / (989e12 * 0.4) / 3600)
    assert d["days"] == pytest.approx(flops / (64 * 989e12 * 0.4) / 86_400)
    assert d["cost_usd"] == pytest.approx(d["gpu_hours"] * 2.0)


def test_cli_mpt7b_implied_mfu_and_model_count():
    d = json.loads(cli("compute", "--params", "6.7B", "--tokens", "1T", "--gpu", "A100 SXM 40GB", "--gpus", "440",
                       "--days", "9.5", "--json").stdout)
    assert d["implied_mfu"] == pytest.approx(0.357, abs=0.001)
    assert d["gpu_hours"] == pytest.approx(440 * 9.5 * 24)
    d = json.loads(cli("compute", "--model", "Mixtral-8x7B-v0.1", "--tokens", "1T", "--days", "30", "--json").stdout)
    assert d["params"] == param_counts(get_preset("Mixtral-8x7B-v0.1")).active
    assert d["flops"] > d["flops_6nd"]  # attention over 4096 positions on top of 6ND
    assert d["gpus_needed"] >= 1 and d["days"] <= 30


@pytest.mark.parametrize("args", [
    ["--params", "0", "--tokens", "1T"], ["--params", "-5", "--tokens", "1T"], ["--params", "7B", "--tokens", "0"],
    ["--params", "7B", "--tokens", "1T", "--mfu", "0"], ["--params", "7B", "--tokens", "1T", "--mfu", "1.5"],
    ["--params", "7B", "--tokens", "1T", "--gpus", "0"], ["--params", "nan", "--tokens", "1T"],
    ["--params", "7B", "--tokens", "1T", "--gpu", "no-such-gpu"], ["--tokens", "1T"],
    ["--params", "7B", "--tokens", "1T", "--gpu", "A100 SXM 80GB", "--dtype", "fp8"],
    ["--params", "7B", "--tokens", "1T", "--days", "0"], ["--params", "seven", "--tokens", "1T"],
])
def test_cli_compute_nonsense_exits_2_with_one_line(args, capsys):
    from calc.cli import main  # in-process (a subprocess per case is slow); test_cli.py covers the real one

    assert main(["compute", *args]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err


# ----- the page (AppTest through app.py) ------------------------------------------------------------

def run_compute_page(query: dict | None = None, measured: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if measured is not None:
        at.session_state["measured"] = measured
    at.run()
    at.switch_page("app_pages/compute.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at, {m.label: m.value for m in at.metric}


def test_compute_page_default_numbers():
    at, m = run_compute_page()
    # Llama-3-8B (8,030,261,248 params, REFERENCE.md) on 2T tokens, 64 H100 at 40% of 989 TFLOP/s
    flops = 6 * 8_030_261_248 * 2e12
    assert m["Training FLOPs"] == f"{flops:.3e}" == "9.636e+22"
    assert m["GPU-hours"] == f"{flops / (989e12 * 0.4) / 3600:,.0f}" == "67,663"
    assert m["Wall-clock"] == "44.05 days"
    assert m["Cost"] == f"${flops / (989e12 * 0.4) / 3600 * 2:,.0f}"


def test_compute_page_mpt7b_implied_mfu():
    _, m = run_compute_page({"cq": "What MFU did a run achieve?", "csrc": "typed N", "cn": "6.7", "cd": "1000",
                             "cg": "440", "cdays": "9.5", "gpu": "A100 SXM 40GB"})
    assert m["Implied MFU"] == "35.7%"
    assert m["GPU-hours"] == "100,320"  # 440 x 9.5 x 24


def test_compute_page_gpus_needed():
    _, m = run_compute_page({"cq": "How many GPUs to finish in N days?", "cdays": "30"})
    assert m["GPUs needed"] == str(math.ceil(6 * 8_030_261_248 * 2e12 / (30 * 86_400 * 989e12 * 0.4)))


def test_compute_page_uses_measured_throughput():
    at, m = run_compute_page(measured={"device": "NVIDIA H100 80GB HBM3", "gpu": "H100 SXM",
                                       "flops_per_s": {"bf16": 500e12}, "bandwidth_bytes_per_s": None})
    flops = 6 * 8_030_261_248 * 2e12
    assert m["Wall-clock"] == f"{flops / (64 * 500e12) / 86_400:.2f} days"
    assert any("measured 500 TFLOP/s" in c.value for c in at.caption)
    _, off = run_compute_page({"cmeas": "0"}, measured={"device": "x", "flops_per_s": {"bf16": 500e12},
                                                         "bandwidth_bytes_per_s": None})
    assert off["Wall-clock"] == "44.05 days"
