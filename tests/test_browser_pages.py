"""The browser suite: for each page, a deep link with query parameters shows the expected numbers, changing an
input updates chart and numbers, the CSV download holds the right content, and a screenshot is saved.
The same link opened in a new browser context reproduces the same numbers."""

from __future__ import annotations

import pytest

from tests.browser_helpers import choose, download_csv, open_expander, sidebar, text_of
from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def open_link(page, server, link: str) -> str:
    page.goto(f"{server}/{link}")
    wait_for_app(page)
    return text_of(page)


def test_home(server, page):
    text = open_link(page, server, "?model=Meta-Llama-3-70B&gpu=H200&units=GiB")
    assert "70.55 B" in text  # Meta-Llama-3-70B: 70,553,706,496 (REFERENCE.md)
    assert "131.42 GiB" in text  # 70,553,706,496 x 2 B / 2**30
    assert "140.40 GiB" in text  # H200: 143,771 MiB
    choose(page, "Model", "Llama-2-7B", where=sidebar(page))
    assert "6.74 B" in text_of(page)
    screenshot(page, "suite_home")


def test_models(server, page, browser):
    link = "models?model=Qwen3-30B-A3B&compare=Mixtral-8x7B-v0.1,GPT-2"
    text = open_link(page, server, link)
    assert "30.53 B" in text and "3.35 B" in text  # Qwen3-30B-A3B model card: 30.5B total, 3.3B activated
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    rows = download_csv(page, "Download CSV")
    by_model = {r["model"]: r for r in rows}
    assert int(by_model["Mixtral-8x7B-v0.1"]["total"]) == 46_702_792_704
    assert int(by_model["GPT-2"]["total"]) == 124_439_808
    choose(page, "Model", "DeepSeek-V3", where=sidebar(page))
    assert "671.03 B" in text_of(page)
    screenshot(page, "suite_models")
    # the same link in a fresh context (no session state) shows the same numbers
    other = browser.new_context().new_page()
    assert "30.53 B" in open_link(other, server, link)
    other.context.close()


def test_dtypes(server, page):
    text = open_link(page, server, "dtypes?units=GiB")
    assert "65504" in text.replace(",", "") or "6.550e+04" in text
    rows = download_csv(page, "Download CSV")
    bits = {r["dtype"]: float(r["bits"]) for r in rows}
    assert bits["bf16"] == 16 and bits["int4"] == 4 and bits["fp8_e4m3"] == 8
    screenshot(page, "suite_dtypes")


def test_methodology(server, page):
    text = open_link(page, server, "methodology")
    assert "Parameter count" in text and "tests/test_models.py" in text
    screenshot(page, "suite_methodology")


def test_scenarios_saved_from_a_page_compare_and_export(server, page):
    open_link(page, server, "models?model=Meta-Llama-3-8B")
    open_expander(page, "Share, export and save this result")
    page.get_by_role("textbox", name="Scenario name").fill("llama8")
    page.get_by_role("button", name="Save as scenario").click()
    page.get_by_text("Saved 'llama8'").wait_for(timeout=30_000)
    choose(page, "Model", "Meta-Llama-3-70B", where=sidebar(page))
    open_expander(page, "Share, export and save this result")
    page.get_by_role("textbox", name="Scenario name").fill("llama70")
    page.get_by_role("button", name="Save as scenario").click()
    page.get_by_text("Saved 'llama70'").wait_for(timeout=30_000)
    page.locator("[data-testid='stSidebarNav']").get_by_text("Scenarios").click()
    wait_for_app(page)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)  # canvas grid: content via CSV
    rows = download_csv(page, "Download CSV")
    totals = {r["scenario"]: float(r["total parameters"]) for r in rows}
    assert totals == {"llama8": 8_030_261_248, "llama70": 70_553_706_496}
    screenshot(page, "suite_scenarios")
