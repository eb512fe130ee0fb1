"""vLLM's start-up memory and KV cache (calc/serve.py) against the logs vLLM printed in public GitHub threads.

Each case cites its URL. What a log gives is used as input only where our model cannot derive it: the device
total (``total_gpu_memory``), the activation peak and non-torch memory (they depend on the vLLM version, torch.compile
and the allocator; our estimates are printed beside them in the report, not held to 5 %), and the weights of
quantized checkpoints. Our own parts: the weights of bf16 models (from the architecture), the KV bytes per token
per TP rank (calc/arch layer kinds), the block arithmetic and the concurrency, each held to 5 % of the log.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calc.models import ModelSpec
from calc.presets import get_preset
from calc.serve import ServeSetup, kv_layout, serve_memory, vllm_batch_defaults
from calc.units import GIB
from tests.conftest import ROOT

QWEN3_14B = {"model_type": "qwen3", "hidden_size": 5120, "intermediate_size": 17408, "num_hidden_layers": 40,
             "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
             "tie_word_embeddings": False}  # Qwen/Qwen3-14B config.json
DEEPSEEK_V2_LITE = {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
                    "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
                    "num_key_value_heads": 16, "kv_lora_rank": 512, "q_lora_rank": None, "qk_nope_head_dim": 128,
                    "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64, "n_shared_experts": 2,
                    "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1,
                    "vocab_size": 102400, "tie_word_embeddings": False}  # deepseek-ai/DeepSeek-V2-Lite config.json


def _model(m):
    return get_preset(m) if isinstance(m, str) else ModelSpec.from_hf_config(m, name="config")


def gib(x: float) -> int:
    return int(round(x * GIB))


# Full breakdowns (vLLM v0 "Memory profiling results" / "the current vLLM instance can use ..." lines).
# (url, model, total GiB, utilization, tp, max_model_len, weights GiB (None: ours), activation GiB, non-torch GiB,
#  logged KV GiB, logged blocks (None: not logged), logged concurrency (None: not logged))
BREAKDOWNS = [
    # RTX 3090, Llama-3.1-8B-Instruct, 20k: peak_torch 17.06 GiB - weights 14.9888 = activation 2.07
    ("https://github.com/vllm-project/vllm/issues/10517", "Llama-3.1-8B", 23.58, 0.90, 1, 20000,
     14.9888, 17.06 - 14.9888, 0.35, 3.81, 1952, 1.56),
    # same thread, 29k: peak_torch 17.98 GiB; vLLM refused to start (0.82x < 1)
    ("https://github.com/vllm-project/vllm/issues/10517", "Llama-3.1-8B", 23.58, 0.90, 1, 29000,
     14.9888, 17.98 - 14.9888, 0.35, 2.89, 1478, 0.82),
    # H100 80GB, Meta-Llama-3-8B, default max_model_len 8192: weights derived by us
    ("https://github.com/vllm-project/vllm/pull/10511", "Meta-Llama-3-8B", 79.22, 0.90, 1, 8192,
     None, 1.26, 1.79, 53.29, None, None),
]


@pytest.mark.parametrize("case", BREAKDOWNS, ids=lambda c: f"{c[1]}-{c[5]}")
def test_breakdown_logs(case):
    url, model, total, util, tp, max_len, w, act, nt, kv, blocks, conc = case
    spec = _model(model)
    s = ServeSetup(gib(total), tp=tp, gpu_memory_utilization=util, max_model_len=max_len,
                   weights_bytes=None if w is None else gib(w), activation_peak_bytes=gib(act), non_torch_bytes=gib(nt))
    m = serve_memory(spec, s)
    assert m.kv_cache_bytes == pytest.approx(kv * GIB, rel=0.05), url
    if blocks is not None:
        assert m.kv_cache_blocks == pytest.approx(blocks, rel=0.05), url
    if conc is not None:
        assert m.max_concurrency == pytest.approx(conc, rel=0.05), url
        assert m.fits == (conc >= 1)


# Weights per GPU as vLLM logs them ("model weights take" / "Model loading took"), derived from the architecture.
WEIGHTS = [
    ("https://github.com/vllm-project/vllm/pull/10511", "Meta-Llama-3-8B", 1, 14.96),
    ("https://github.com/vllm-project/vllm/pull/10511", "Meta-Llama-3-8B", 2, 7.48),
    ("https://github.com/vllm-project/vllm/issues/10517", "Llama-3.1-8B", 1, 14.9888),
    ("https://github.com/vllm-project/vllm/pull/17122", "Llama-3.1-8B", 1, 14.9889),
]


@pytest.mark.parametrize("case", WEIGHTS, ids=lambda c: f"{c[1]}-tp{c[2]}")
def test_weights_match_logs(case):
    url, model, tp, logged = case
    m = serve_memory(_model(model), ServeSetup(80 * GIB, tp=tp))
    assert m.weights_bytes == pytest.approx(logged * GIB, rel=0.05), url


# vLLM v1 logs: "Available KV cache memory: X GiB", "GPU KV cache size: N tokens",
# "Maximum concurrency for L tokens per request: Cx". The KV GiB is the input; tokens and concurrency are ours.
# (url, model, tp, kv dtype, max_model_len, available GiB, logged tokens, logged concurrency)
V1_LOGS = [
    # Qwen3-14B, one GPU (LMCache thread quoting vLLM's log)
    ("https://github.com/LMCache/LMCache/issues/1739", QWEN3_14B, 1, "bf16", 32768, 6.51, 42656, 1.30),
    # Qwen3-235B-A22B-FP8 on 4 x H100, tp 4 (4 KV heads: one per rank)
    ("https://github.com/vllm-project/vllm/issues/21348", "Qwen3-235B-A22B", 4, "bf16", 40960, 8.11, 178880, None),
]


@pytest.mark.parametrize("case", V1_LOGS, ids=lambda c: c[0].rsplit("/", 3)[-3] + "-" + c[0].rsplit("/", 1)[-1])
def test_v1_kv_tokens_and_concurrency(case):
    url, model, tp, kv_dtype, max_len, avail, tokens, conc = case
    spec = _model(model)
    s = ServeSetup(80 * GIB, tp=tp, kv_dtype=kv_dtype, max_model_len=max_len)
    blocks, got_tokens, per_req, *_ = kv_layout(spec, s, gib(avail))
    assert got_tokens == pytest.approx(tokens, rel=0.05), url
    if conc is not None:
        assert blocks / per_req == pytest.approx(conc, rel=0.05), url


def test_mla_request_needs_the_latent_only():
    """DeepSeek-V2-Lite, max_model_len 32768: vLLM says "0.95 GiB KV cache is needed" for one request
    (https://github.com/vllm-project/vllm/issues/15871): 27 layers x (512 + 64) x 2 B x 32768 tokens."""
    spec = _model(DEEPSEEK_V2_LITE)
    s = ServeSetup(24 * GIB, max_model_len=32768)
    _, _, per_req, page, *_ = kv_layout(spec, s, GIB)
    assert per_req * page * spec.num_layers == pytest.approx(0.95 * GIB, rel=0.05)


def test_batch_defaults_follow_vllm():
    assert vllm_batch_defaults(gib(79.2), "H100 SXM") == (8192, 1024)
    assert vllm_batch_defaults(gib(79.2), "A100 SXM 80GB") == (2048, 256)
    assert vllm_batch_defaults(gib(23.6), "RTX 3090") == (2048, 256)


def test_sliding_window_layers_need_fewer_blocks():
    """Gemma 2 (alternate 4,096-token windows): at a 32k context the sliding group needs
    cdiv(4095 + 8192, 16) + 1 blocks per request, not 2,048 (SlidingWindowSpec.max_memory_usage_bytes)."""
    spec = get_preset("Gemma-2-9B")
    s = ServeSetup(80 * GIB, max_model_len=32768, max_num_batched_tokens=8192)
    blocks, tokens, per_req, page, groups, *_ = kv_layout(spec, s, 10 * GIB)
    assert groups == 2
    assert per_req == 2048 + (-(-(4095 + 8192) // 16) + 1)
    full = kv_layout(spec, ServeSetup(80 * GIB, max_model_len=4096, max_num_batched_tokens=8192), 10 * GIB)
    assert full[0] == blocks  # the pool does not depend on max_model_len


def test_not_enough_memory_is_reported_not_negative():
    m = serve_memory(get_preset("Meta-Llama-3-70B"), ServeSetup(gib(79.22)))
    assert m.kv_cache_bytes < 0 and m.kv_cache_blocks == 0 and m.max_concurrency == 0 and not m.fits


@pytest.mark.parametrize("field,value", [("tp", 0), ("gpu_memory_utilization", 1.5), ("max_model_len", 0),
                                         ("block_size", True), ("weights_bytes", -1)])
def test_bad_input_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        serve_memory(get_preset("Meta-Llama-3-8B"), ServeSetup(80 * GIB, **{field: value}))


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "calc", "serve", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_json_reproduces_a_log():
    out = _cli("--model", "Llama-3.1-8B", "--gpu", "RTX 3090", "--gpu-total-gib", "23.58", "--max-model-len", "20000",
               "--weights-gib", "14.9888", "--activation-gib", "2.0712", "--non-torch-gib", "0.35", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    for key in ("weights_bytes", "activation_peak_bytes", "non_torch_bytes", "kv_cache_bytes", "kv_cache_blocks",
                "kv_cache_tokens", "max_concurrency"):
        assert key in got
    assert got["kv_cache_blocks"] == pytest.approx(1952, rel=0.01)  # vllm-project/vllm#10517
    assert got["max_concurrency"] == pytest.approx(1.56, rel=0.01)


@pytest.mark.parametrize("argv", [["--model", "Meta-Llama-3-8B", "--gpu-memory-utilization", "1.5"],
                                  ["--model", "Meta-Llama-3-8B", "--tp", "2", "--gpus", "3"],
                                  ["--model", "Meta-Llama-3-8B", "--max-model-len", "0"],
                                  ["--model", "Meta-Llama-3-8B", "--weights-gib", "nan"]])
def test_cli_bad_input_one_line_exit_2(argv):
    out = _cli(*argv)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_cli_serve_imports_nothing_heavy():
    code = ("import io, json, sys, contextlib\nfrom calc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['serve', '--model', 'Meta-Llama-3-8B', '--json'])\n"
            "print(json.dumps({'rc': rc, 'heavy': [m for m in ('scipy', 'gguf', 'torch', 'pandas', 'plotly', "
            "'streamlit') if m in sys.modules]}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"rc": 0, "heavy": []}
