"""The Validation page shows what validate/results.json holds, and the file agrees with PyTorch."""

from __future__ import annotations

import json

import torch

from tests.apptest_helpers import open_page
from tests.test_pages import run_page
from validate.configs import get_arch
from validate.harness import RESULTS_PATH


def _parameters_on_meta(key: str) -> int:
    # independent of the harness: the config built by transformers on the meta device
    from transformers import AutoConfig, AutoModelForCausalLM

    a = get_arch(key)
    cfg = {k: v for k, v in a.config.items() if k not in ("architectures", "model_type")}
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(a.config["model_type"], **cfg))
    return sum(p.numel() for p in model.parameters())


def every_comparison(query: dict):
    """The page with its lazy 'Every comparison' expander open (issue 18)."""
    return open_page("app_pages/validation.py", query, session={"v_xevery": True})


def test_page_table_for_one_architecture():
    doc = json.loads(RESULTS_PATH.read_text())
    at = every_comparison({"v_arch": "gpt2"})
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Comparisons"] == str(len(doc["records"]))
    assert metrics["Over tolerance"] == str(sum(1 for r in doc["records"] if r["ok"] is False))
    table = at.dataframe[1].value  # "Every comparison", filtered to GPT-2
    assert len(table) == sum(1 for r in doc["records"] if r["arch"] == "gpt2")
    params = table[table["formula"] == "Parameters"].iloc[0]
    # GPT-2 (n_embd 128, 4 layers, vocab 512, 512 positions, tied head): transformers' own count
    assert params["measured"] == _parameters_on_meta("gpt2") == params["predicted"]
    kv = table[(table["formula"] == "KV cache") & (table["case"] == "bf16")].iloc[0]
    # 2 (K, V) x 4 layers x 4 heads x 32 head_dim x 48 positions x batch 2 x 2 B (REFERENCE.md KV formula)
    assert kv["measured"] == 2 * 4 * 4 * 32 * 48 * 2 * 2


def test_page_per_layer_view_and_bad_link():
    at = run_page("app_pages/validation.py", {"v_larch": "deepseek_v3_mla", "v_run": "not-a-run"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("v_run" in w.value for w in at.warning)  # the bad link parameter is named, then ignored


def test_page_shows_the_issue_12_families():
    """Qwen2-MoE (shared expert), Gemma 3 (sliding pattern), gpt-oss and the Qwen3-Next hybrid are on the page,
    each exact in parameters against transformers' own meta-device count, every activation row within its 10%."""
    doc = json.loads(RESULTS_PATH.read_text())
    at = every_comparison({"v_arch": "gpt_oss"})
    assert not at.exception, [e.value for e in at.exception]
    assert {"qwen2_moe", "gemma3_text", "gpt_oss", "qwen3_next"} <= set(at.multiselect[0].options)
    table = at.dataframe[1].value
    assert len(table) == sum(1 for r in doc["records"] if r["arch"] == "gpt_oss")
    for key in ("qwen2_moe", "gemma3_text", "gpt_oss", "qwen3_next"):
        rows = [r for r in doc["records"] if r["arch"] == key]
        params = next(r for r in rows if r["formula"] == "Parameters")
        assert params["predicted"] == params["measured"] == _parameters_on_meta(key)
        acts = [r for r in rows if r["formula"].startswith("Activations")]
        assert acts and all(abs(r["error_pct"]) <= 10 for r in acts), key


def test_page_shows_the_hybrid_state_and_its_linear_attention_layers():
    """Qwen3-Next: its table has the recurrent-state rows, equal to the states transformers' cache holds
    (gated DeltaNet: conv (2K + V) x kernel in the model dtype, recurrent v_heads x d_k x d_v in fp32, per
    linear-attention layer: counted here by hand from the config), and the linear-attention layers' saved
    bytes are within 10% layer by layer."""
    doc = json.loads(RESULTS_PATH.read_text())
    at = every_comparison({"v_arch": "qwen3_next", "v_larch": "qwen3_next"})
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[1].value
    state = table[table["formula"] == "Recurrent state"]
    c = get_arch("qwen3_next").config
    linear = sum(1 for i in range(c["num_hidden_layers"]) if (i + 1) % c["full_attention_interval"])
    conv = (2 * c["linear_num_key_heads"] * c["linear_key_head_dim"]
            + c["linear_num_value_heads"] * c["linear_value_head_dim"]) * c["linear_conv_kernel_dim"]
    rec = c["linear_num_value_heads"] * c["linear_key_head_dim"] * c["linear_value_head_dim"]
    batch = doc["settings"]["kv_batch"]
    for dtype, width in (("fp32", 4), ("bf16", 2)):
        row = state[state["case"] == dtype].iloc[0]
        assert row["measured"] == row["predicted"] == linear * batch * (conv * width + rec * 4)
    m = next(x for x in doc["measurements"] if x["key"] == "qwen3_next")
    for run in m["training"]:
        for measured, predicted in zip(run["saved_layer_bytes"], run["predicted_layer_bytes"], strict=True):
            assert abs(predicted - measured) <= 0.10 * measured, (run["dtype"], run["attn"], run["checkpointing"])


def test_page_lazy_expanders_build_their_content_only_when_open():
    """The per-layer saved tensors, the engines' peak parts and the two method texts are sent only while their
    expander is open (issue 18); open, the saved-tensor table is the run's own list from validate/results.json and
    stays open when the architecture changes (its label counts the tensors)."""
    doc = json.loads(RESULTS_PATH.read_text())
    closed = run_page("app_pages/validation.py")
    assert not closed.exception, [e.value for e in closed.exception]
    keys = ("v_xsaved", "v_xalive", "v_xengines", "v_xhow", "v_xevery", "v_xengrows")
    at = open_page("app_pages/validation.py", session={k: True for k in keys})
    assert not at.exception, [e.value for e in at.exception]
    # the saved tensors, the peak parts, every comparison and every engine comparison
    assert len(at.dataframe) == len(closed.dataframe) + 4
    columns = [set(d.value.columns) for d in at.dataframe]
    closed_columns = [set(d.value.columns) for d in closed.dataframe]
    for col in ("what is measured", "measured (allocator)"):  # the two row-by-row tables: sent only when open
        assert any(col in c for c in columns) and not any(col in c for c in closed_columns), col
    every = next(d.value for d in at.dataframe if "what is measured" in d.value.columns)
    assert len(every) == len(doc["records"])  # every architecture by default
    labels = [e.label for e in closed.expander]
    assert f"Every comparison ({len(doc['records']):,} rows)" in labels
    texts = " ".join(m.value for m in at.markdown)
    assert "gloo on a free port" in texts and "**Models.**" in texts
    assert "gloo on a free port" not in " ".join(m.value for m in closed.markdown)
    for arch in ("gpt2", "qwen2"):
        at.selectbox(key="v_larch").set_value(arch).run()
        assert not at.exception, [e.value for e in at.exception]
        run = next(m for m in doc["measurements"] if m["key"] == arch)["training"][0]
        saved = [d.value for d in at.dataframe if "module" in d.value.columns]
        assert len(saved) == 1, arch
        assert saved[0]["bytes"].tolist() == [t["bytes"] for t in run["saved_tensors_last_layer"]], arch
