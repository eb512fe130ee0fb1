"""Two browser sessions press Run on the Benchmark page at once: the runs never overlap on the device."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.conftest import screenshot, wait_for_app

# numpy backend, a few small sizes with many runs: about a second or two of work per session on 2 cores
QUERY = "bbackend=numpy&bsizes=256,384,512&bruns=30&bbw=0&bwarm=2"
SPAN = re.compile(r"from (\d\d:\d\d:\d\d\.\d{3}) to (\d\d:\d\d:\d\d\.\d{3}) UTC(; waited ([\d.]+) s)?")


def _span(pg) -> tuple[float, float, float]:
    text = pg.get_by_text(re.compile(r"Measured on .* UTC")).inner_text()
    m = SPAN.search(text)
    assert m, text
    t = [datetime.strptime(x, "%H:%M:%S.%f") for x in m.group(1, 2)]
    return t[0].timestamp(), t[1].timestamp(), float(m.group(4) or 0)


@pytest.mark.browser
def test_two_sessions_never_overlap(server, browser):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1400}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.goto(f"{server}/benchmark?{QUERY}")
            wait_for_app(pg)
        buttons = [pg.get_by_role("button", name="Run benchmark") for pg in pages]
        for b in buttons:  # as close together as Playwright clicks
            b.click()
        told = False  # one session is told it is queued while the other runs
        for _ in range(300):
            told = any(pg.get_by_text(re.compile("Queued: 1 run ahead of yours")).count() for pg in pages)
            if told or all(pg.get_by_text(re.compile(r"Measured on .* UTC")).count() for pg in pages):
                break
            pages[0].wait_for_timeout(100)
        assert told, "neither session said it was queued behind the other"
        for pg in pages:
            pg.get_by_text(re.compile(r"Measured on .* UTC")).wait_for(timeout=120_000)
            wait_for_app(pg)
        screenshot(pages[1], "benchmark_two_sessions")
        (s1, e1, w1), (s2, e2, w2) = sorted(_span(pg) for pg in pages)
        assert e1 <= s2, f"runs overlap: {s1}-{e1} and {s2}-{e2}"  # the queue ran them one after the other
    finally:
        for c in contexts:
            c.close()


@pytest.mark.browser
def test_stop_frees_the_device_at_once(server, browser):
    """Stop cancels between timed runs: another session gets the device within a run or two, not after the sweep
    (about a minute of work here), and the stopped session keeps the sizes it measured (issue 17, item 11)."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1400}) for _ in range(2)]
    try:
        long_run, other = (c.new_page() for c in contexts)
        long_run.goto(f"{server}/benchmark?bbackend=numpy&bsizes=1024,1536&bruns=200&bbw=0&bbudget=600")
        other.goto(f"{server}/benchmark?bbackend=numpy&bsizes=128&bruns=3&bbw=0")
        for pg in (long_run, other):
            wait_for_app(pg)
        long_run.get_by_role("button", name="Run benchmark").click()
        # the first size is measured (a CI run stopped at "0/2 measured", so no size was left to keep)
        long_run.get_by_text(re.compile(r"[12]/2 measured")).wait_for(timeout=120_000)
        long_run.get_by_role("button", name="Stop").click()
        long_run.get_by_text("Benchmark stopped").wait_for(timeout=30_000)
        long_run.get_by_text(re.compile(r"The sweep stopped early \(cancelled\)")).wait_for(timeout=30_000)
        # the first size is kept; waited for, not counted at once: a CI run counted 0 while the page was still
        # re-rendering after the stopped run was collected
        from playwright.sync_api import expect
        expect(long_run.get_by_text(re.compile(r"Measured on .* UTC"))).to_have_count(1, timeout=30_000)
        other.get_by_role("button", name="Run benchmark").click()
        other.get_by_text(re.compile(r"Measured on .* UTC")).wait_for(timeout=60_000)
        _, _, waited = _span(other)
        assert waited < 5, f"the stopped run kept the device {waited:.1f} s"
    finally:
        for c in contexts:
            c.close()
