"""The Home page's first row (issue 18): its three metrics in one horizontal container, not three columns (each
column a block sent on every rerun), with the numbers of the sidebar's model and GPU."""

from __future__ import annotations

import pytest

from calc.gpus import get_gpu
from calc.units import GB
from tests.apptest_helpers import open_page
from ui.nav import PAGES


def test_home_metrics_row_is_one_container_with_the_sidebar_numbers():
    at = open_page(PAGES[0].path, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"})
    assert not at.exception, [e.value for e in at.exception]
    values = {m.label: m.value for m in at.metric}
    # Meta-Llama-3-8B: 8,030,261,248 parameters (REFERENCE.md), 2 bytes each in bf16
    assert values["Parameters"] == "8.03 B"
    assert values["bf16 weights"] == f"{8_030_261_248 * 2 / GB:.2f} GB"
    assert values["H100 SXM memory"] == f"{get_gpu('H100 SXM').memory_bytes / GB:.2f} GB"
    # the two "At a glance" columns only: the first row is one horizontal container
    assert len(at.columns) == 2


def test_page_list_is_lazy_and_names_every_page_once_open():
    """Closed (the default), the expander sends none of the 14 links, only the two "Details" links of the glance;
    opened, one link per page after Home, with its question."""
    closed = open_page(PAGES[0].path)
    assert not closed.exception, [e.value for e in closed.exception]
    assert "Which page answers what" in [e.label for e in closed.expander]
    assert sorted(p.proto.label for p in closed.get("page_link")) == ["Details: Inference memory",
                                                                       "Details: Training memory"]
    opened = open_page(PAGES[0].path, session={"home_xpages": True})
    labels = [p.proto.label for p in opened.get("page_link")]
    assert labels[2:] == [f"**{info.title}**: {info.question}" for info in PAGES[1:]]


@pytest.mark.browser
def test_page_list_opens_and_its_links_switch_page(server, page):
    from tests.browser_helpers import main, open_expander, text_of, wait_for_rerun
    from tests.conftest import screenshot, wait_for_app

    page.goto(server)
    wait_for_app(page)
    assert "How many parameters does this model have" not in text_of(page)
    open_expander(page, "Which page answers what")
    wait_for_rerun(page)
    assert all(info.question in text_of(page) for info in PAGES[1:])
    screenshot(page, "home_pages_open")
    main(page).get_by_role("link").filter(has_text="How many parameters does this model have").first.click()
    page.locator("[data-testid='stMainBlockContainer'] h1").filter(has_text="Models").first.wait_for(timeout=60_000)
