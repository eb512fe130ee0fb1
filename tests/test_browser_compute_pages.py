"""The browser suite for the compute pages (Compute and cost, Scaling laws, Benchmark, Inference speed).

For each page: a deep link with query parameters shows the expected numbers (computed here from the formula or
taken from the paper the page cites), changing an input updates the numbers and a Plotly chart is drawn, the CSV
(or JSON) download holds the right content, a screenshot is saved, and the same link opened in a new browser
context reproduces the result (the benchmark: restores its inputs; its measurements differ per run).
st.dataframe draws on a canvas, so table cells are checked through the downloads, never through innerText.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from calc.gpus import get_gpu
from calc.presets import get_preset
from calc.scaling import CHINCHILLA_TABLE3, FIT_KEYS, optimum
from calc.speed import Hardware, ServingSetup, estimate
from tests.browser_helpers import download_csv, main, open_expander, set_number, text_of
from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

DAY_S = 86_400


def link(path: str, **params) -> str:
    return f"{path}?{urlencode(params, quote_via=quote)}"


def wait_for_text(page, *needles: str, timeout_ms: int = 60_000) -> str:
    """Wait until the main block's text holds every one of ``needles``, then until the app is idle.

    wait_for_app alone is not enough on a first visit in a fresh browser context: the markdown can sit unchanged
    for its three polls while the widget and metric elements (loaded lazily by the frontend) are still missing,
    so a page was read without its numbers (seen twice in the first runs on this 2-core machine)."""
    page.wait_for_function(
        """needles => {
            const main = document.querySelector('[data-testid="stMainBlockContainer"]');
            return main !== null && needles.every(n => main.innerText.includes(n));
        }""", arg=list(needles), timeout=timeout_ms, polling=250)
    wait_for_app(page)
    return text_of(page)


def open_link(page, server, url: str, *needles: str) -> str:
    """Open ``url`` and wait until its text shows ``needles`` (the numbers, or the labels, the test expects)."""
    page.goto(f"{server}/{url}")
    return wait_for_text(page, *needles)


def in_new_context(browser, server, url: str, *needles: str):
    """A page in a fresh browser context (no cookies, no session state) showing ``url``."""
    other = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    open_link(other, server, url, *needles)
    return other


def wait_for_chart(page) -> None:
    main(page).locator(".js-plotly-plot").first.wait_for(timeout=30_000)


def download_bytes(page, button_label: str) -> bytes:
    with page.expect_download() as info:
        main(page).get_by_role("button", name=button_label).first.click()
    with open(info.value.path(), "rb") as fh:
        return fh.read()


# ----- Compute and cost -------------------------------------------------------------------------------

def mpt_mfu(days: float) -> float:
    """MosaicML, 'Introducing MPT-7B' (2023): about 6.7B params on 1T tokens, 440 A100-40GB for 9.5 days.
    MFU = 6ND / (GPUs x seconds x dense bf16 peak); A100 dense bf16 = 312 TFLOP/s (NVIDIA A100 datasheet)."""
    return 6 * 6.7e9 * 1e12 / (440 * days * DAY_S * 312e12)


def test_compute(server, page, browser):
    url = link("compute", cq="What MFU did a run achieve?", csrc="typed N", cn="6.7", cd="1000",
               gpu="A100 SXM 40GB", cdt="bf16", cg="440", cdays="9.5", cp="2.0")
    text = open_link(page, server, url, "Implied MFU", "Days the run took")
    mfu = mpt_mfu(9.5)
    assert abs(mfu - 0.357) < 0.001  # the page's own caption: "gives about 36%"
    assert f"{mfu:.1%}" in text  # 35.7%
    assert "4.020e+22" in text  # 6 x 6.7e9 x 1e12
    assert f"{440 * 9.5 * 24:,.0f}" in text  # GPU-hours 100,320
    assert f"${440 * 9.5 * 24 * 2.0:,.0f}" in text  # $200,640 at $2 per GPU-hour
    assert f"{440 * 9.5 * 24 * 400 / 1e6:,.1f} MWh" in text  # A100 SXM board power 400 W: 40.1 MWh

    set_number(page, "Days the run took", 12)
    text = wait_for_text(page, "12.00 days")
    assert f"{mpt_mfu(12):.1%}" in text and f"{mfu:.1%}" not in text  # 28.2%
    assert f"{440 * 12 * 24:,.0f}" in text  # 126,720 GPU-hours
    wait_for_chart(page)

    rows = download_csv(page, "Download CSV")  # the reported-runs table
    assert {"run", "params", "tokens", "GPU", "GPU-hours", "6ND FLOPs", "implied MFU (6ND, bf16 peak)"} <= set(rows[0])
    mpt = next(r for r in rows if r["run"] == "MPT-7B")
    assert float(mpt["GPU-hours"]) == 440 * 9.5 * 24
    assert float(mpt["6ND FLOPs"]) == pytest.approx(6 * 6.7e9 * 1e12, rel=1e-12)
    assert float(mpt["implied MFU (6ND, bf16 peak)"]) == pytest.approx(mfu, rel=1e-9)
    screenshot(page, "suite_compute")

    other = in_new_context(browser, server, url, "Implied MFU")
    assert f"{mfu:.1%}" in text_of(other) and "100,320" in text_of(other)
    other.context.close()


# ----- Scaling laws --------------------------------------------------------------------------------------

def table3(params: float):
    return next(r for r in CHINCHILLA_TABLE3 if r.params == params)


def assert_approach1(rows: list[dict], budget: float, row) -> None:
    """The Approach 1 optimum in the CSV equals calc.scaling's, and Hoffmann et al. 2022 Table 3 within its
    rounding: the table prints FLOPs to 3 digits (1.23e22: +-0.41%) and tokens to their last digit (205.1B, 3.7T);
    the projection is a least-squares line through the rows, so D may be off by both roundings, and N ~ C^0.5
    by half the FLOPs rounding (0.5% allowed)."""
    a1 = next(r for r in rows if r["fit"] == "Chinchilla Approach 1 (projection)")
    n, d = float(a1["params N"]), float(a1["tokens D"])
    ref = optimum("approach1", budget)
    assert n == pytest.approx(ref.params, rel=1e-9) and d == pytest.approx(ref.tokens, rel=1e-9)
    assert n == pytest.approx(row.params, rel=0.005)
    flops_rounding = 0.005e22 / 1.23e22 if row.flops < 1e23 else 0.005e24 / 3.85e24
    last_digit = 0.1e9 if row.tokens < 1e12 else 0.1e12
    assert abs(d - row.tokens) <= last_digit / 2 + row.tokens * flops_rounding
    assert n * d * 6 == pytest.approx(budget, rel=1e-9)  # C = 6ND


def test_scaling(server, page, browser):
    small, large = table3(10e9), table3(175e9)  # Table 3: 10B 1.23e22 FLOPs 205.1B tokens; 175B 3.85e24 3.7T
    url = link("scaling", sbs="FLOPs", sc=repr(small.flops))
    text = open_link(page, server, url, "Budget", "Compute budget C (FLOPs)")
    assert "Budget" in text and "1.230e+22 FLOPs" in text
    rows = download_csv(page, "Download CSV")
    assert {"fit", "params N", "tokens D", "tokens / param", "loss (own fit)", "source"} <= set(rows[0])
    assert len(rows) == len(FIT_KEYS)  # approaches 1-3, Chinchilla, Epoch, Kaplan, 20x, Sardana, Muennighoff, Gadre
    assert_approach1(rows, small.flops, small)

    set_number(page, "Compute budget C (FLOPs)", "3.85e24")
    assert "3.850e+24 FLOPs" in text_of(page)
    wait_for_chart(page)
    assert_approach1(download_csv(page, "Download CSV"), large.flops, large)
    screenshot(page, "suite_scaling")

    other = in_new_context(browser, server, url, "Budget", "Compute budget C (FLOPs)")
    assert "1.230e+22 FLOPs" in text_of(other)
    assert_approach1(download_csv(other, "Download CSV"), small.flops, small)
    other.context.close()


# ----- Inference speed ----------------------------------------------------------------------------------

def speed_reference(batch: int):
    spec, gpu = get_preset("Meta-Llama-3-8B"), get_gpu("H100 SXM")
    hw = Hardware(gpu.peak("bf16"), gpu.bandwidth_bytes_per_s)
    return spec, gpu, estimate(spec, ServingSetup(batch=batch, prompt_tokens=1024, output_tokens=256), hw)


def rate(x: float) -> str:
    return f"{x:,.1f}"


def test_speed(server, page, browser):
    url = link("speed", model="Meta-Llama-3-8B", gpu="H100 SXM", sbatch="1", sprompt="1024", soutput="256",
               swdtype="bf16", skvdtype="bf16", scdtype="bf16")
    text = open_link(page, server, url, "Time to first token", "Request latency")
    spec, gpu, est = speed_reference(1)
    # First-principles bounds, independent of calc.speed: decode at batch 1 reads all bf16 weights but the
    # embedding table each step (Meta-Llama-3-8B: 8,030,261,248 params, V = 128,256, h = 4,096; H100 SXM
    # 3.35 TB/s), so at most 3.35e12 / (2 x (N - V h)) tokens/s; the KV cache adds a few percent of reads.
    v_h = 128_256 * 4_096
    decode_bound = 3.35e12 / (2 * (8_030_261_248 - v_h))
    assert 0.95 * decode_bound < est.tokens_per_s_per_seq < decode_bound
    # Prefill of 1,024 tokens: 2 FLOPs per matmul weight per token (no embedding; logits of the last token only)
    # at the 989 TFLOP/s dense bf16 peak, plus a few percent of attention.
    prefill_floor = 2 * (8_030_261_248 - 2 * v_h) * 1024 / 989e12
    assert prefill_floor < est.ttft_s < 1.05 * prefill_floor
    assert f"{est.ttft_s * 1e3:.2f} ms" in text  # 14.73 ms
    assert rate(est.tokens_per_s_per_seq) in text  # 221.0 tokens/s
    assert f"{est.end_to_end_s:.2f} s" in text  # request latency 1.17 s

    set_number(page, "Batch (sequences)", 8)
    _, _, est8 = speed_reference(8)
    text = text_of(page)
    assert rate(est8.tokens_per_s_total) in text and rate(est8.tokens_per_s_per_seq) in text
    assert f"{est8.ttft_s * 1e3:.2f} ms" in text
    wait_for_chart(page)

    open_expander(page, "Share, export and save this result")
    doc = json.loads(download_bytes(page, "Download result as JSON"))
    assert doc["page"] == "speed"
    assert doc["inputs"]["sbatch"] == "8" and doc["inputs"]["model"] == "Meta-Llama-3-8B"
    res = doc["results"]
    assert res["time to first token"] == pytest.approx(est8.ttft_s, rel=1e-9)
    assert res["decode tokens/s whole batch"] == pytest.approx(est8.tokens_per_s_total, rel=1e-9)
    assert res["decode tokens/s per sequence"] == pytest.approx(est8.tokens_per_s_per_seq, rel=1e-9)
    assert res["memory (weights + KV)"] == est8.memory_bytes
    screenshot(page, "suite_speed")

    other = in_new_context(browser, server, url, "Time to first token", "Request latency")
    text = text_of(other)
    assert f"{est.ttft_s * 1e3:.2f} ms" in text and rate(est.tokens_per_s_per_seq) in text
    other.context.close()


# ----- Benchmark ------------------------------------------------------------------------------------------

def run_benchmark(page, runs: int | None = None) -> list[dict]:
    """Run, then read the results CSV. With ``runs``, wait (60 s at most) until the table holds this run's rows: a
    second run starts with the first run's "Results" still on the page while the child process measures."""
    main(page).get_by_role("button", name="Run benchmark").click()
    main(page).get_by_text("Results", exact=True).wait_for(timeout=60_000)
    wait_for_app(page)
    rows = download_csv(page, "Download CSV")
    for _ in range(60):
        if runs is None or all(int(r["runs"]) == runs for r in rows):
            break
        page.wait_for_timeout(1000)
        wait_for_app(page)
        rows = download_csv(page, "Download CSV")
    for r in rows:  # TFLOPS = 2mnk / median time (the page's Method expander)
        m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
        assert float(r["flops"]) == 2 * m * n * k
        assert float(r["tflops"]) == pytest.approx(2 * m * n * k / float(r["median_s"]) / 1e12, rel=1e-9)
        assert float(r["median_ms"]) == pytest.approx(float(r["median_s"]) * 1e3, rel=1e-9)
    return rows


def test_benchmark(server, page, browser):
    url = link("benchmark", bbackend="numpy", bdtypes="fp32", bsizes="128,256", bbw="0", bruns="5", bwarm="1",
               bflush="0", bbudget="30")
    text = open_link(page, server, url, "Square sizes n", "Run benchmark")
    assert "Benchmark" in text and "Results" not in text
    rows = run_benchmark(page)
    assert [(r["dtype"], int(r["m"]), int(r["runs"]), r["backend"]) for r in rows] == [
        ("fp32", 128, 5, "numpy"), ("fp32", 256, 5, "numpy")]
    best = max(float(r["tflops"]) for r in rows)
    assert f"{best:,.3f} TFLOPS" in text_of(page)  # the "Best fp32 matmul" metric
    wait_for_chart(page)

    open_expander(page, "Run settings")
    set_number(page, "Timed runs", 3)
    rows = run_benchmark(page, runs=3)
    assert [(int(r["m"]), int(r["n"]), int(r["k"]), int(r["runs"])) for r in rows] == [
        (128, 128, 128, 3), (256, 256, 256, 3)]
    assert "bruns=3" in page.url
    wait_for_chart(page)
    screenshot(page, "suite_benchmark")

    # measurements differ per run: a fresh context restores the inputs, and shows no result until run
    other = in_new_context(browser, server, url, "Square sizes n", "Run benchmark")
    assert "Results" not in text_of(other)
    backend = other.locator("[data-testid='stSelectbox']").filter(has_text="Backend").first
    assert backend.locator("input").input_value() == "numpy"
    sizes = main(other).locator("[data-testid='stMultiSelect']").filter(has_text="Square sizes").first
    assert {"128", "256"} <= set(sizes.inner_text().split()) and "512" not in sizes.inner_text().split()
    open_expander(other, "Run settings")
    runs_box = main(other).locator("[data-testid='stNumberInput']").filter(has_text="Timed runs").first
    assert runs_box.locator("input").input_value() == "5"
    bw = main(other).locator("[data-testid='stCheckbox']").filter(has_text="Measure bandwidth").first
    assert not bw.locator("input").is_checked()  # bbw=0
    other.context.close()
