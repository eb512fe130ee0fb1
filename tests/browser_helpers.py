"""Helpers for driving Streamlit widgets in Chromium (Playwright)."""

from __future__ import annotations

import csv
import io
import re

from tests.conftest import wait_for_app


def main(page):
    return page.locator("[data-testid='stMainBlockContainer']")


def set_number(page, label: str, value, where=None) -> None:
    """Type into the number input labelled ``label`` and commit with Enter."""
    scope = where or main(page)
    box = scope.locator("[data-testid='stNumberInput']").filter(has_text=label).first.locator("input")
    box.fill(str(value))
    box.press("Enter")
    wait_for_rerun(page)


def choose(page, label: str, option: str, where=None) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (typing filters long lists)."""
    scope = where or page
    sel = scope.locator("[data-testid='stSelectbox']").filter(has_text=label).first
    sel.click()
    page.keyboard.type(option)
    # a preset's entry reads "name · org/repo" (its Hugging Face id, ui.pickers.model_label)
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}( · .+)?$")).click()
    wait_for_rerun(page)


def sidebar(page):
    return page.locator("[data-testid='stSidebar']")


def wait_for_rerun(page) -> None:
    page.wait_for_timeout(300)
    wait_for_app(page)


def download_csv(page, button_label: str) -> list[dict]:
    """Click a download button and parse the CSV it serves."""
    with page.expect_download() as info:
        main(page).get_by_role("button", name=button_label).first.click()
    path = info.value.path()
    with open(path, newline="") as fh:
        return list(csv.DictReader(io.StringIO(fh.read())))


def text_of(page) -> str:
    return main(page).inner_text()


def open_expander(page, title: str) -> None:
    """Expand the expander titled ``title`` unless it is open already."""
    details = main(page).locator("details").filter(has_text=title).first
    if details.get_attribute("open") is None:
        details.locator("summary").click()
        page.wait_for_timeout(200)
