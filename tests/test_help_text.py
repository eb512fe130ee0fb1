"""Every input on every page explains itself: each widget AppTest finds carries non-empty help text."""

from __future__ import annotations

import pytest

from tests.test_pages import run_page
from ui.nav import PAGES

WIDGET_KINDS = ("number_input", "selectbox", "multiselect", "toggle", "radio", "slider", "text_input", "checkbox",
                "select_slider", "text_area")


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_every_input_has_help(info):
    at = run_page(info.path)
    assert not at.exception
    missing = []
    for kind in WIDGET_KINDS:
        for w in getattr(at, kind, []):
            if not (getattr(w, "help", None) or "").strip():
                missing.append(f"{kind} {w.label!r}")
    assert not missing, f"{info.path}: inputs without help: {missing}"
