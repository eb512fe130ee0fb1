"""The memory pages on hybrid and windowed models (AppTest): a Qwen3-Next config shows its fixed recurrent state
apart from its KV cache, the cache table by layer kind, and a verdict; gpt-oss's KV cache counts its sliding layers
at the window. Configs: tests/data/arch (the published config.json fields)."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from calc.kvcache import kv_cache_bytes, state_bytes
from calc.memory import InferenceSetup, inference_memory
from calc.models import ModelSpec
from tests.apptest_helpers import open_page
from tests.test_pages import TIMEOUT

DATA = Path(__file__).parent / "data" / "arch"
INFER = "app_pages/inference_memory.py"


def spec(name: str) -> ModelSpec:
    return ModelSpec.from_hf_config(json.loads((DATA / f"{name}.json").read_text()), name=f"{name} (uploaded)")


def run_with(path: str, model: ModelSpec, query: dict) -> AppTest:
    return open_page(path, {"model": model.name, **query}, session={"custom_models": {model.name: model}},
                     timeout_s=TIMEOUT)


def test_inference_page_shows_recurrent_state_of_qwen3_next():
    m = spec("Qwen3-Next-80B-A3B-Instruct")
    at = run_with(INFER, m, {"im_ctx": "32768", "im_b": "4", "units": "GB", "gpu": "H200"})
    assert not at.exception, [e.value for e in at.exception]
    shown = {x.label: x.value for x in at.metric}
    # 36 gated DeltaNet layers: conv (2 x 16 x 128 + 32 x 128) x 4 in bf16 + 32 x 128 x 128 in fp32 per layer
    per_seq = 36 * ((2 * 16 * 128 + 32 * 128) * 4 * 2 + 32 * 128 * 128 * 4)
    assert state_bytes(m, 1, "bf16", ssm_dtype="fp32") == per_seq
    assert shown["Recurrent state per GPU"] == f"{4 * per_seq / 1e9:.2f} GB"
    # 12 full-attention layers x 2 KV heads x 256 x 2 (K, V) x 2 B x 32768 x 4
    assert shown["KV cache per GPU"] == f"{12 * 2 * 256 * 2 * 2 * 32768 * 4 / 1e9:.2f} GB"
    # 79,674,391,296 parameters x 2 B = 159 GB of weights alone: above the H200's 143.8 GB
    assert any("Does not fit" in e.value for e in at.error) and not at.success
    table = at.dataframe[0].value
    assert sorted(table["layers"]) == [12, 36]


def test_inference_page_gpt_oss_sliding_layers_at_the_window():
    m = spec("gpt-oss-20b")
    at = run_with(INFER, m, {"im_ctx": "131072", "im_b": "1", "units": "GB", "im_ovh": "0.0"})
    assert not at.exception, [e.value for e in at.exception]
    want = inference_memory(m, InferenceSetup(context=131072, overhead_bytes=0))
    # 12 full layers x 8 KV heads x 64 x 2 x 2 B x 131072 + 12 sliding layers x the same x 128
    assert want.kv_cache == 12 * 8 * 64 * 2 * 2 * (131072 + 128) == kv_cache_bytes(m, 1, 131072)
    assert {x.label: x.value for x in at.metric}["KV cache per GPU"] == f"{want.kv_cache / 1e9:.2f} GB"
    assert "Recurrent state per GPU" not in {x.label for x in at.metric}


def test_speed_page_counts_the_recurrent_state():
    """Inference speed: Qwen3-Next's memory need is weights + KV + its fixed state, and the message adds up."""
    m = spec("Qwen3-Next-80B-A3B-Instruct")
    at = run_with("app_pages/speed.py", m, {"units": "GB"})
    assert not at.exception, [e.value for e in at.exception]
    msg = next(e.value for e in at.error if "Does not fit" in e.value)
    assert f"recurrent state {state_bytes(m, 1, 'bf16', ssm_dtype='fp32') / 1e9:.2f} GB" in msg


def test_gguf_page_names_an_architecture_without_a_gguf_layout():
    """The Quantization (GGUF) page on an architecture whose GGUF tensor names are not modelled: one error naming
    it, no traceback (it raised StopIteration once every file type was refused). gpt-oss and Falcon-H1 have
    layouts since calc/gguf_layout.py; Granite (written as llama.cpp's "granite") has none yet. Its preset's config
    under an uploaded name (a session model named like a preset is a different picker entry)."""
    from dataclasses import replace

    from calc.presets import get_preset

    m = replace(get_preset("Granite-3.3-8B"), name="Granite-3.3-8B (uploaded)")
    at = run_with("app_pages/quantization.py", m, {})
    assert not at.exception, [e.value for e in at.exception]
    assert any("GraniteForCausalLM" in e.value for e in at.error)


def test_gguf_page_gemma3_windowed_cache():
    """Gemma 3 1B on the GGUF page at 32,768 tokens: 4 global layers keep the context, 22 sliding layers
    min(32768, 512 + 512) = 1,024 cells (llama.cpp's iSWA cache), 1 KV head x 256, f16."""
    m = spec("gemma-3-1b-it")
    at = run_with("app_pages/quantization.py", m, {"gctx": "32768", "units": "GB"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    kv = (4 * 32768 + 22 * 1024) * 2 * 256 * 2
    assert {x.label: x.value for x in at.metric}["KV cache (f16)"] == f"{kv / 1e9:.2f} GB"


def test_state_format_on_page_and_cli(tmp_path, capsys):
    """The recurrent-state format (fp32 by default, as transformers keeps it): bf16 halves the DeltaNet state,
    the conv state stays bf16; the page and `memory --state-dtype` agree. Only hybrids show the input."""
    from calc.cli import main

    m = spec("Qwen3-Next-80B-A3B-Instruct")
    per_seq_bf16 = 36 * ((2 * 16 * 128 + 32 * 128) * 4 * 2 + 32 * 128 * 128 * 2)
    at = run_with(INFER, m, {"im_st": "bf16", "im_b": "8", "units": "GB"})
    assert not at.exception, [e.value for e in at.exception]
    assert {x.label: x.value for x in at.metric}["Recurrent state per GPU"] == f"{8 * per_seq_bf16 / 1e9:.2f} GB"
    assert main(["memory", "--mode", "infer", "--config", str(DATA / "Qwen3-Next-80B-A3B-Instruct.json"),
                 "--batch", "8", "--state-dtype", "bf16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["components"]["recurrent_state"] == 8 * per_seq_bf16
    dense = run_with(INFER, spec("gpt-oss-20b"), {})
    assert "Recurrent-state format" not in {s.label for s in dense.selectbox}


def test_sweeps_equal_the_scalar_functions_on_new_kinds():
    """The vectorized paths (memory sweeps, roofline decode steps) give the scalar results point by point on
    windowed, sink, hybrid and state models, with tensor parallelism and an fp32 / bf16 state."""
    from dataclasses import replace

    from calc.memory import MemoryBreakdown, breakdown_grid
    from calc.speed import kv_bytes_at

    for name in ("gemma-3-1b-it", "gpt-oss-20b", "Qwen3-Next-80B-A3B-Instruct"):
        m = spec(name)
        for setup in (InferenceSetup(), InferenceSetup(tp=2, kv_dtype="fp8", state_dtype="bf16")):
            bs, ss = [1, 7], [100, 512, 4097, 300_000]
            g = breakdown_grid(m, setup, bs, ss)
            for i, b in enumerate(bs):
                for j, s in enumerate(ss):
                    want = inference_memory(m, replace(setup, batch=b, context=s))
                    assert {k: g[k][i, j] for k in MemoryBreakdown.COMPONENTS} == want.components(), (name, b, s)
        assert list(kv_bytes_at(m, 3, [1, 600, 70_000])) == [kv_cache_bytes(m, 3, c) for c in (1, 600, 70_000)]
