"""The sidebar GPU picker in Chromium: typing a short name finds that GPU only, and a custom GPU typed in
the sidebar drives the page (issue 17 item 9)."""

from __future__ import annotations

import pytest

from tests.browser_helpers import set_number, sidebar, text_of, wait_for_rerun
from tests.conftest import wait_for_app

pytestmark = pytest.mark.browser


def _options_after_typing(page, label: str, typed: str) -> list[str]:
    sel = sidebar(page).locator("[data-testid='stSelectbox']").filter(has_text=label).first
    sel.click()
    page.keyboard.type(typed)
    page.wait_for_timeout(400)
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [o.strip() for o in options]


def test_typing_t4_finds_the_t4_not_the_rtx_4090_and_a_custom_gpu_drives_the_page(server, page):
    page.goto(f"{server}/?gpu=H100+SXM&units=GB")
    wait_for_app(page)
    options = _options_after_typing(page, "GPU", "T4")
    assert "T4" in options and "RTX 4090" not in options, options
    options = _options_after_typing(page, "GPU", "4090")
    assert options == ["RTX 4090"], options

    page.goto(f"{server}/?gpu=Custom+GPU&units=GB&gpu_mem=24&gpu_bw=1008&gpu_tf=165")
    wait_for_app(page)
    assert "Custom GPU (24 GB, 1,008 GB/s, 165 TFLOPS)" in text_of(page)
    set_number(page, "Memory (GB)", 48, where=sidebar(page))
    wait_for_rerun(page)
    text = text_of(page)
    assert "Custom GPU (48 GB, 1,008 GB/s, 165 TFLOPS)" in text and "48.00 GB" in text
    assert "gpu_mem=48" in page.url
