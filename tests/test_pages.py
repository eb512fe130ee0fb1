"""Every page renders through app.py without an exception (Streamlit AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import open_page
from ui.nav import PAGES

TIMEOUT = 60


def run_page(path: str, query: dict | None = None) -> AppTest:
    return open_page(path, query, timeout_s=TIMEOUT)


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_page_renders_without_exception(info):
    at = run_page(info.path)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{info.path} shows no title"


def test_models_page_numbers_for_deep_link():
    at = run_page("app_pages/models.py", {"model": "Mixtral-8x7B-v0.1"})
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    # Mixtral-8x7B: 46,702,792,704 total (REFERENCE.md), 12.88 B active (2 of 8 experts)
    assert values["Total parameters"] == "46.70 B"
    assert values["Active per token"] == "12.88 B"


def test_bad_upload_shows_error_not_traceback():
    at = run_page("app_pages/models.py")
    assert not at.exception
