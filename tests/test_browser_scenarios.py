"""Scenarios in Chromium: one saved on a page is still there after a reload and after the server restarts
(issue 17 item 10), and a colleague with the link sees the same list."""

from __future__ import annotations

import subprocess

import pytest

from tests.browser_helpers import open_expander, text_of
from tests.conftest import start_server, wait_for_app

pytestmark = pytest.mark.browser


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_a_saved_scenario_survives_reload_and_server_restart(page, browser, tmp_path, monkeypatch):
    monkeypatch.setenv("CALC_SCENARIOS_DB", f"sqlite:///{tmp_path / 'scenarios.sqlite'}")
    proc, url = start_server()
    try:
        page.goto(f"{url}/models?model=GPT-2")
        wait_for_app(page)
        assert "ws=" in page.url  # the workspace id is in the link
        ws = page.url.split("ws=")[1].split("&")[0]
        open_expander(page, "Share, export and save this result")
        page.get_by_role("textbox", name="Scenario name").fill("gpt2 kept")
        page.get_by_role("textbox", name="Scenario name").press("Enter")  # Enter, then a click: one copy
        page.get_by_text("Saved 'gpt2 kept'").wait_for(timeout=30_000)
        page.get_by_role("button", name="Save as scenario").click()
        page.get_by_text("Already saved as 'gpt2 kept'").wait_for(timeout=30_000)
        page.reload()
        wait_for_app(page)
        page.goto(f"{url}/scenarios?ws={ws}")
        wait_for_app(page)
        assert "1 of at most" in text_of(page) and "gpt2 kept" in text_of(page)
    finally:
        _stop(proc)
    proc, url = start_server()  # a new server process on the same database
    try:
        colleague = browser.new_context().new_page()  # another browser, only the link in common
        colleague.goto(f"{url}/scenarios?ws={ws}")
        wait_for_app(colleague)
        assert "gpt2 kept" in text_of(colleague) and "1 of at most" in text_of(colleague)
        colleague.context.close()
    finally:
        _stop(proc)
