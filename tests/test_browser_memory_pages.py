"""The browser suite for the memory pages (Training memory, Inference memory, Quantization, Validation).

For each page: a deep link with query parameters shows the expected numbers, changing an input updates the
numbers and a Plotly chart is drawn, the main table's CSV download holds the right content, a screenshot is
saved, and the same link opened in a fresh browser context (no session state) reproduces the same numbers.
Expected values come from the papers and published files named in REFERENCE.md, or are computed here with
the calc API and formatted as the pages format them (calc.units).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from calc.memory import InferenceSetup, inference_memory
from calc.models import ModelSpec, param_counts
from calc.presets import get_preset
from calc.units import GIB, format_bytes
from tests.browser_helpers import choose, download_csv, open_expander, set_number, text_of
from tests.conftest import ROOT, screenshot, wait_for_app

pytestmark = pytest.mark.browser

PLOT = ".js-plotly-plot"


def wait_for_text(page, *needles: str, timeout_ms: int = 60_000) -> str:
    """Wait until the main area's text holds every one of ``needles``, then until the app is idle; return the text.

    Call it after ``wait_for_app`` (``open_link``, ``set_number`` and ``choose`` do). That alone is not enough on a
    busy machine: a rerun may not have started 300 ms after an input changed, and on a cold browser context the
    widget and metric components (loaded lazily) can appear after the text has already been stable a while."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    js = """(needles) => {
        const main = document.querySelector('[data-testid="stMainBlockContainer"]');
        return main !== null && needles.every((n) => main.innerText.includes(n));
    }"""
    if not page.evaluate(js, list(needles)):  # not there yet: wait for them, then for the run to finish
        try:
            page.wait_for_function(js, arg=list(needles), timeout=timeout_ms, polling=250)
        except PlaywrightTimeout:
            pass  # the assertion below shows what the page holds instead
        wait_for_app(page)
    text = text_of(page)
    missing = [n for n in needles if n not in text]
    assert not missing, f"{missing} not on the page; its text:\n{text}"
    return text


def open_link(page, server, link: str, *needles: str) -> str:
    page.goto(f"{server}/{link}")
    wait_for_app(page)
    return wait_for_text(page, *needles)


def fresh_text(browser, server, link: str, *needles: str) -> str:
    """The page's text for ``link`` in a new browser context (a new session: nothing carried over)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        return open_link(ctx.new_page(), server, link, *needles)
    finally:
        ctx.close()


def metric(text: str, label: str) -> str:
    """The value printed under the st.metric labelled ``label`` (label and value are consecutive lines)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    assert label in lines, f"no metric {label!r} in the page text:\n{text}"
    return lines[lines.index(label) + 1]


def assert_chart(page) -> None:
    page.locator(PLOT).first.wait_for(timeout=30_000)
    assert page.locator(PLOT).count() >= 1


def zero1_bytes(params: int, dp: int) -> int:
    # ZeRO (Rajbhandari et al. 2019, sec. 5): stage 1 keeps 2 + 2 bytes/param of fp16 weights and gradients and
    # shards the 12 bytes/param of fp32 master weights + Adam moments over Nd
    return params * 4 + params * 12 // dp


def test_training_memory(server, page, browser):
    link = "training-memory?" + urlencode({"tm_src": "parameter count only", "tm_pb": "7.5", "tm_zero": "1",
                                           "tm_dp": "64", "tm_ovh": "0.0", "units": "GB"})
    text = open_link(page, server, link, "Total per GPU", "Model states per GPU")
    # ZeRO paper, sec. 5 / Figure 1: 7.5B parameters, Nd = 64, ZeRO-1 (P_os) -> 31.4 GB per device
    assert zero1_bytes(7_500_000_000, 64) == 31_406_250_000
    assert metric(text, "Total per GPU") == "31.41 GB"
    assert metric(text, "Model states per GPU") == "31.41 GB"
    assert metric(text, "GPUs in the job") == "64"
    assert "not computed" in text  # parameter count only: no activations

    open_expander(page, "Details: components in bytes")  # lazy (tm_xtab): the table and its CSV drawn once open
    rows = download_csv(page, "Download CSV")
    assert list(rows[0]) == ["component", "bytes", "GB"]
    by = {r["component"]: r for r in rows}
    assert int(by["Total (GPU)"]["bytes"]) == 31_406_250_000
    assert int(by["Weights"]["bytes"]) == 15_000_000_000  # fp16 weights, 2 B/param, not sharded by ZeRO-1
    assert int(by["Gradients"]["bytes"]) == 15_000_000_000  # fp16 gradients, 2 B/param, not sharded by ZeRO-1
    assert int(by["Optimizer states"]["bytes"]) == 7_500_000_000 * 8 // 64  # Adam m + v, fp32, sharded
    assert int(by["Master weights (fp32)"]["bytes"]) == 7_500_000_000 * 4 // 64
    assert float(by["Total (GPU)"]["GB"]) == pytest.approx(31.406, abs=1e-3)

    # dp 64 -> 8: ZeRO-1 4 + 12/8 = 5.5 B/param = 41.25 GB
    set_number(page, "Data parallel (dp)", 8)
    text = wait_for_text(page, "41.25 GB")
    assert metric(text, "Total per GPU") == format_bytes(zero1_bytes(7_500_000_000, 8), "GB") == "41.25 GB"
    assert metric(text, "GPUs in the job") == "8"
    assert_chart(page)
    screenshot(page, "suite_training-memory")

    assert metric(fresh_text(browser, server, link, "Total per GPU"), "Total per GPU") == "31.41 GB"


def test_inference_memory(server, page, browser):
    params = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "units": "GiB", "im_w": "bf16", "im_kv": "fp8",
              "im_b": "4", "im_ctx": "8192", "im_tp": "1", "im_ovh": "1.0"}
    link = "inference-memory?" + urlencode(params)
    text = open_link(page, server, link, "Total per GPU", "KV cache per GPU", "KV per token (all layers)")
    spec = get_preset("Meta-Llama-3-8B")

    def expected(batch: int):
        return inference_memory(spec, InferenceSetup(weights_dtype="bf16", kv_dtype="fp8", batch=batch, context=8192,
                                                     tp=1, overhead_bytes=GIB))

    # Pope et al. 2022: 2 (K, V) x 32 layers x 8 KV heads x 128 x 8192 tokens x 4 sequences x 1 B (fp8) = 2 GiB
    kv4 = 2 * 32 * 8 * 128 * 8192 * 4 * 1
    assert kv4 == 2 * GIB
    assert metric(text, "KV cache per GPU") == "2.00 GiB"
    # Meta-Llama-3-8B: 8,030,261,248 parameters (REFERENCE.md) x 2 B (bf16)
    assert metric(text, "Weights per GPU") == format_bytes(8_030_261_248 * 2, "GiB") == "14.96 GiB"
    assert metric(text, "KV per token (all layers)") == "64.00 KiB"  # 2 x 32 x 8 x 128 x 1 B = 65,536 B
    total4 = expected(4).total
    assert expected(4).kv_cache == kv4
    assert metric(text, "Total per GPU") == format_bytes(total4, "GiB")

    # batch 4 -> 8 doubles the cache: 4 GiB
    set_number(page, "Batch (concurrent sequences)", 8)
    text = wait_for_text(page, "4.00 GiB")
    assert metric(text, "KV cache per GPU") == "4.00 GiB"
    assert metric(text, "Total per GPU") == format_bytes(expected(8).total, "GiB") != format_bytes(total4, "GiB")
    assert metric(text, "Weights per GPU") == "14.96 GiB"
    assert_chart(page)

    open_expander(page, "Components in bytes")  # lazy (im_xtab): the table and its CSV drawn once open
    rows = download_csv(page, "Download CSV")
    assert list(rows[0]) == ["component", "bytes", "GiB"]
    by = {r["component"]: r for r in rows}
    assert int(by["KV cache"]["bytes"]) == 2 * kv4
    assert int(by["Weights"]["bytes"]) == 8_030_261_248 * 2
    assert int(by["Overhead (CUDA context, reserve)"]["bytes"]) == GIB
    assert int(by["Total"]["bytes"]) == expected(8).total
    assert float(by["KV cache"]["GiB"]) == pytest.approx(4.0, abs=1e-3)
    screenshot(page, "suite_inference-memory")

    fresh = fresh_text(browser, server, link, "KV cache per GPU", "Total per GPU")
    assert metric(fresh, "KV cache per GPU") == "2.00 GiB"
    assert metric(fresh, "Total per GPU") == format_bytes(total4, "GiB")


# TheBloke/Llama-2-7B-GGUF (REFERENCE.md): llama-2-7b.Q4_K_M.gguf 4,081,004,224 B, Q5_K_M 4,783,156,928 B;
# the tensor payload is exactly 741,056 B less (header, metadata, tokenizer)
Q4_K_M_FILE, Q5_K_M_FILE, HEADER = 4_081_004_224, 4_783_156_928, 741_056


def test_quantization(server, page, browser):
    link = "quantization?" + urlencode({"model": "Llama-2-7B", "gpu": "H100 SXM", "units": "GB", "gq": "Q4_K_M",
                                        "gctx": "8192", "gkv": "f16", "gpar": "1"})
    text = open_link(page, server, link, "KV cache (f16)", "payload ")
    assert f"payload {Q4_K_M_FILE - HEADER:,} B" in text
    # 32 layers x 9 tensors (q, k, v, o, gate, up, down, two norms) + token_embd, output_norm, output
    assert f"Q4_K_M: {32 * 9 + 3} tensors" in text
    # KV cache, f16: 2 x 32 layers x 32 KV heads x 128 x 8192 tokens x 2 B = 4,294,967,296 B
    assert metric(text, "KV cache (f16)") == format_bytes(2 * 32 * 32 * 128 * 8192 * 2, "GB") == "4.29 GB"

    rows = download_csv(page, "Download CSV")
    for col in ("file type", "file (GB)", "file (GiB)", "bits/weight", "run memory (GB)", "fits", "payload bytes"):
        assert col in rows[0]
    by = {r["file type"]: r for r in rows}
    assert int(by["Q4_K_M"]["payload bytes"]) == Q4_K_M_FILE - HEADER
    assert int(by["Q5_K_M"]["payload bytes"]) == Q5_K_M_FILE - HEADER
    # the file size adds an estimated header: within 1 KB of the published file
    assert float(by["Q4_K_M"]["file (GB)"]) == pytest.approx(Q4_K_M_FILE / 1e9, abs=1e-6)

    choose(page, "File type", "Q5_K_M")
    wait_for_text(page, f"payload {Q5_K_M_FILE - HEADER:,} B")
    set_number(page, "Context (tokens)", 4096)
    text = wait_for_text(page, "2.15 GB")
    assert metric(text, "KV cache (f16)") == format_bytes(2 * 32 * 32 * 128 * 4096 * 2, "GB") == "2.15 GB"
    assert f"payload {Q5_K_M_FILE - HEADER:,} B" in text
    assert_chart(page)
    screenshot(page, "suite_quantization")

    fresh = fresh_text(browser, server, link, "KV cache (f16)", "payload ")
    assert f"payload {Q4_K_M_FILE - HEADER:,} B" in fresh
    assert metric(fresh, "KV cache (f16)") == "4.29 GB"


def test_validation(server, page, browser):
    doc = json.loads((ROOT / "validate" / "results.json").read_text(encoding="utf-8"))
    records, by_key = doc["records"], {m["key"]: m for m in doc["measurements"]}
    # the summary, counted here from the measurements file (predicted vs what PyTorch allocated)
    exact = sum(1 for r in records if r["predicted"] is not None and r["predicted"] == r["measured"])
    within = sum(1 for r in records if r["predicted"] is not None and r["predicted"] != r["measured"] and r["ok"])
    over = sum(1 for r in records if r["predicted"] is not None and not r["ok"])
    missing = sum(1 for r in records if r["predicted"] is None)
    archs = ["llama_gqa", "gpt2"]
    link = "validation?" + urlencode({"v_arch": ",".join(archs), "v_larch": "llama_gqa"})
    text = open_link(page, server, link, "Comparisons", "Peak of the whole step")

    def check_summary(t: str) -> None:
        assert metric(t, "Comparisons") == str(len(records))
        assert metric(t, "Exact") == str(exact)
        assert metric(t, "Within tolerance") == str(within)
        assert metric(t, "Over tolerance") == str(over)
        assert metric(t, "No prediction") == str(missing)

    check_summary(text)
    peak = by_key["llama_gqa"]["training"][0]["peak_bytes"]
    assert f"Peak of the whole step (gradients excluded): {peak:,} B." in text

    rows = download_csv(page, "Download CSV")
    for col in ("architecture", "formula", "case", "unit", "predicted", "measured", "error %", "tolerance %", "status"):
        assert col in rows[0]
    labels = {by_key[a]["label"] for a in archs}
    assert {r["architecture"] for r in rows} == labels  # only the architectures in the link
    assert len(rows) == sum(1 for r in records if r["arch"] in archs)
    params = {r["architecture"]: r for r in rows if r["formula"] == "Parameters"}
    for a in archs:
        # sum of p.numel() of the real transformers model (measured) = param_counts of the same config.json
        counted = param_counts(ModelSpec.from_hf_config(by_key[a]["config"])).total
        assert int(params[by_key[a]["label"]]["measured"]) == counted

    # the per-layer section follows the architecture picker
    choose(page, "Architecture", by_key["gpt2"]["label"])
    gpt2_peak = by_key["gpt2"]["training"][0]["peak_bytes"]
    assert gpt2_peak != peak
    text = wait_for_text(page, f"Peak of the whole step (gradients excluded): {gpt2_peak:,} B.")
    check_summary(text)
    assert page.locator(PLOT).count() >= 2  # the error strip and the per-layer bars
    screenshot(page, "suite_validation")

    fresh = fresh_text(browser, server, link, "Comparisons", "Peak of the whole step")
    check_summary(fresh)
    assert f"Peak of the whole step (gradients excluded): {peak:,} B." in fresh
