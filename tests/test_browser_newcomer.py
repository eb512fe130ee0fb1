"""What a newcomer hit in Chromium (issue 17), replayed in a real browser on one server for the module.

Item 1: a CPU benchmark's figures applied to the sidebar's H100; item 3: the Against-batch log axis running to
10^17.9; item 4: QLoRA on an RTX 4090 "does not fit" with no word of recompute; item 5: Home's Details link
dropping Home's settings; item 13: at 390 px the stacked-bar legend, the Plotly toolbar and the scaling chart's
labels ran into the axis, the titles and each other. Expected figures come from calc (itself checked against papers and real tensors)
and the H100 datasheet (989 dense bf16 TFLOP/s, REFERENCE.md).
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlencode

import pytest

from calc.memory import TrainingSetup, training_memory
from calc.presets import get_preset
from calc.units import format_bytes
from tests.browser_helpers import main, open_expander, text_of, wait_for_rerun
from tests.conftest import screenshot, start_server, wait_for_app
from tests.test_browser_memory_pages import metric, wait_for_text

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app():
    proc, url = start_server()
    yield url
    proc.terminate()
    proc.wait(10)


def go(page, url: str, *needles: str) -> str:
    page.goto(url)
    wait_for_app(page, 120_000)  # a cold page under a loaded machine (8 sessions on 2 cores) took over 60 s
    return wait_for_text(page, *needles) if needles else text_of(page)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the main area's selectbox ``label`` (clicking its input, not its wrapped label's help;
    a second try if a rerun replaced the box while it opened)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        wait_for_app(page)
        main(page).locator("[data-testid='stSelectbox']").filter(has_text=label).first.locator("input").click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise
    wait_for_rerun(page)


def nav(page, title: str, *needles: str) -> str:
    """Follow the sidebar link to ``title`` (same session: what the Benchmark page handed over stays)."""
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    return wait_for_text(page, *needles)


def test_cpu_benchmark_is_not_applied_to_the_sidebar_h100(app, page):
    url = f"{app}/benchmark?" + urlencode({"bbackend": "numpy", "bdtypes": "fp32", "bsizes": "128,256", "bbw": "0",
                                            "bruns": "3", "bwarm": "1", "bflush": "0", "gpu": "H100 SXM"})
    go(page, url, "Run benchmark")
    main(page).get_by_role("button", name="Run benchmark").click()
    main(page).get_by_role("button", name="Use these figures in the estimates").wait_for(timeout=60_000)
    wait_for_app(page)
    main(page).get_by_role("button", name="Use these figures in the estimates").click()
    wait_for_text(page, "Estimates use figures measured on")
    text = nav(page, "Inference speed", "Memory roof")
    assert "3,350 GB/s" in text and "H100 SXM datasheet bandwidth" in text  # not the CPU's copy bandwidth
    pick(page, "Matmul dtype", "fp32")
    text = wait_for_text(page, "Compute roof")
    assert "67.0 TFLOP/s" in text  # H100 SXM dense fp32 peak, not the CPU's fraction of a TFLOP/s
    assert "not H100 SXM" in text  # the explicit choice is offered, off
    text = nav(page, "Compute and cost", "Wall-clock")
    assert "dense peak 989 TFLOP/s" in text
    screenshot(page, "newcomer_compute_after_cpu_benchmark")


def _x_range(page, title: str) -> list[float]:
    return page.evaluate("""(start) => {
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
            const t = gd.layout && gd.layout.title;
            const text = (t && (t.text || t)) || '';
            if (String(text).includes(start)) return gd._fullLayout.xaxis.range;
        }
        return null;
    }""", title)


def test_against_batch_axis_spans_the_batches(app, page):
    for batch in (16, 64):  # main: the axis ran to 10^17.9 and 10^71 (the "current" label at x = batch, read as log10)
        go(page, f"{app}/inference-memory?model=Meta-Llama-3-8B&im_b={batch}", "Against batch")
        page.locator(".js-plotly-plot").nth(2).wait_for(timeout=30_000)
        lo, hi = _x_range(page, "Against batch")
        # the sweep runs from batch 1 to max(4 x batch, 256)
        assert 10**hi == pytest.approx(max(4 * batch, 256), rel=0.01) and lo == pytest.approx(0, abs=0.01)
        lo, hi = _x_range(page, "Against context")
        assert 10**hi == pytest.approx(32768, rel=0.01) and 10**lo == pytest.approx(256, rel=0.01)


def test_qlora_on_a_4090_names_recompute_and_fits_with_it(app, page):
    full = training_memory(get_preset("Llama-3.1-8B"), TrainingSetup(finetune="qlora", seq_len=4096,
                                                                    recompute="full")).total
    q = urlencode({"model": "Llama-3.1-8B", "gpu": "RTX 4090", "tm_ft": "qlora", "tm_rc": "none"})
    text = go(page, f"{app}/training-memory?{q}", "Does not fit")
    assert "40.19 GB" in text
    assert f"activation recompute (gradient checkpointing): full: {format_bytes(full, 'GB')} per GPU" in text
    pick(page, "Activation recompute (gradient checkpointing)", "full")
    text = wait_for_text(page, "Fits on RTX 4090")
    assert metric(text, "Total per GPU") == "14.44 GB"


def test_home_details_link_carries_homes_setup(app, page):
    # the session changed the Training memory page first: Home's link must still show Home's numbers
    go(page, f"{app}/training-memory?model=Meta-Llama-3-8B&tm_seq=8192&tm_rc=none", "Total per GPU")
    home = nav(page, "Home", "Train:")
    lines = [ln.strip() for ln in home.splitlines() if ln.strip()]
    train = next(i for i, ln in enumerate(lines) if ln.startswith("Train:"))
    home_total = lines[train + 1]
    main(page).get_by_role("link", name="Details: Training memory").click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    text = wait_for_text(page, "Total per GPU")
    assert metric(text, "Total per GPU") == home_total
    assert "tm_seq=4096" in page.url and "tm_rc=full" in page.url
    assert not math.isnan(float(home_total.split()[0].replace(",", "")))


def test_a_page_load_requests_nothing_beyond_the_app(app, browser):
    """Item 14: every page load asked a font CDN for the favicon (fails offline, tells the CDN who visits)."""
    from urllib.parse import urlparse

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        pg = ctx.new_page()
        hosts: list[str] = []
        pg.on("request", lambda r: hosts.append(r.url))
        for path in ("", "training-memory", "compute", "dtypes"):
            go(pg, f"{app}/{path}")
            pg.wait_for_timeout(500)
        outside = [u for u in hosts if urlparse(u).hostname not in ("127.0.0.1", None) and not u.startswith("data:")]
        assert not outside, outside
        icon = pg.evaluate("() => document.querySelector('link[rel*=icon]').href")
        from ui.nav import ICON_URL

        assert icon == ICON_URL, icon[:80]  # the app's own icon inlined as a data URL: no request at all
    finally:
        ctx.close()


#: Where each drawn part of every chart sits (the browser's layout, not our figure dicts): legends (not the
#: hover box), axis titles and tick labels, chart titles, annotations, point labels, the Plotly toolbar.
PARTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
    const R = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const parts = [];
    const add = (sel, kind) => gd.querySelectorAll(sel).forEach(e => parts.push([kind, (e.textContent || '').slice(0, 40), R(e)]));
    add('.infolayer g.legend rect.bg', 'legend');
    add('.infolayer g.legend .scrollbar', 'legend scrollbar');
    add('.g-xtitle text', 'axis title');
    add('.xtick text', 'tick');
    add('.ytick text, .y2tick text', 'ytick');
    add('.g-gtitle text', 'title');
    add('g.annotation', 'annotation');
    add('.textpoint text', 'label');
    add('.modebar-container', 'toolbar');
    add('.draglayer .nsewdrag', 'plot');
    return {chart: R(gd), parts};
})"""


def _overlaps(chart: dict) -> list[str]:
    def visible(r):
        return r[2] - r[0] > 0.5 and r[3] - r[1] > 0.5

    def hit(a, b):
        return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1

    parts = [(k, t, r) for k, t, r in chart["parts"] if visible(r) and k != "plot"]
    bad = [f"{k} {t!r} beside the chart" for k, t, r in parts
           if k != "toolbar" and (r[0] < chart["chart"][0] - 1 or r[2] > chart["chart"][2] + 1)]
    bad += [f"{k} {t!r} scrolls" for k, t, r in parts if k == "legend scrollbar"]
    # a tick at a rounding residue ('−2.78e−14' where 0 was meant: the speed chart's synced right axis)
    bad += [f"tick {t!r}" for k, t, r in parts if k in ("tick", "ytick") and re.search(r"e[−-]\d\d", t)]
    for i, (k1, t1, r1) in enumerate(parts):
        for k2, t2, r2 in parts[i + 1:]:
            if k1 == k2 and k1 in ("tick", "ytick", "legend", "legend scrollbar", "toolbar") or "ytick" in (k1, k2):
                continue
            if hit(r1, r2):
                bad.append(f"{k1} {t1!r} covers {k2} {t2!r}")
    return bad


@pytest.mark.parametrize("width,path", [(390, "training-memory?model=Meta-Llama-3-70B"), (390, "scaling"),
                                        (390, "speed"), (390, "quantization"),
                                        (390, "models?compare=Mixtral-8x7B-v0.1,GPT-2"),
                                        (1400, "training-memory"), (1400, "quantization"),
                                        (390, "compute"), (1400, "compute")])  # its half-width charts carry titles
def test_charts_keep_legends_toolbar_and_labels_apart(app, browser, width, path):
    """390 px: an iPhone 12-15 screen. 1,400 px: the half-width charts, whose titles the toolbar covered."""
    ctx = browser.new_context(viewport={"width": width, "height": 844})
    try:
        pg = ctx.new_page()
        go(pg, f"{app}/{path}")
        plots = pg.locator(".js-plotly-plot")
        plots.first.wait_for(timeout=30_000)
        checked = 0
        for i in range(plots.count()):
            if not plots.nth(i).is_visible():
                continue  # in a closed expander
            plots.nth(i).scroll_into_view_if_needed()
            plots.nth(i).hover()  # the toolbar shows on hover
            pg.wait_for_timeout(300)
            chart = pg.evaluate(PARTS_JS)[i]
            assert _overlaps(chart) == [], (path, i)
            plot = next(r for k, _, r in chart["parts"] if k == "plot")
            assert plot[3] - plot[1] >= 60, (path, i, "plot area squeezed by its legend")
            checked += 1
        assert checked >= 1
        screenshot(pg, f"newcomer_{width}_{path.split('?')[0]}")
    finally:
        ctx.close()


def test_lora_targets_are_all_readable(app, page):
    """Item 13: in the fourth column the LoRA targets box showed 'q_proj', 'k_proj' and a cut-off third name."""
    from calc.memory import LORA_TARGETS

    go(page, f"{app}/training-memory?tm_ft=lora&tm_lt={','.join(LORA_TARGETS)}", "LoRA targets")
    box = main(page).locator("[data-testid='stMultiSelect']").filter(has_text="LoRA targets").first
    field = box.bounding_box()
    tags = box.locator("[data-tag]")
    assert tags.count() == len(LORA_TARGETS)
    for i in range(tags.count()):
        tag, name = tags.nth(i).bounding_box(), tags.nth(i).locator("span[title]")
        assert field["x"] <= tag["x"] and tag["x"] + tag["width"] <= field["x"] + field["width"], LORA_TARGETS[i]
        assert name.get_attribute("title") == LORA_TARGETS[i]
        assert name.evaluate("e => e.scrollWidth <= e.clientWidth"), LORA_TARGETS[i]  # not cut to "gate_pr..."


def test_two_sessions_saving_at_once_in_one_workspace_keep_both(app, browser):
    """Item 10 as two colleagues meet it: two browsers on one workspace link save different results at the same
    moment; the Scenarios page of either lists both (tests/test_scenarios.py races two stores on one file)."""
    import secrets

    ws = "team-" + secrets.token_hex(6)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg, model in zip(pages, ("GPT-2", "Llama-2-7B"), strict=True):
            go(pg, f"{app}/models?model={model}&ws={ws}", "Share, export and save this result")
            open_expander(pg, "Share, export and save this result")
            pg.get_by_role("textbox", name="Scenario name").fill(f"{model} by me")
        for pg in pages:  # both Enter presses go out before either answer comes back
            pg.get_by_role("textbox", name="Scenario name").press("Enter")
        for pg, model in zip(pages, ("GPT-2", "Llama-2-7B"), strict=True):
            pg.get_by_text(f"Saved '{model} by me'").wait_for(timeout=60_000)
        for pg in pages:
            text = go(pg, f"{app}/scenarios?ws={ws}", "2 of at most")
            assert "GPT-2 by me" in text and "Llama-2-7B by me" in text
    finally:
        for c in contexts:
            c.close()
