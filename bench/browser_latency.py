"""Real-browser latency per page (Debian's chromium via Playwright, app on 127.0.0.1).

For every page in ui/nav.py it measures
- cold start: a freshly started server, from `streamlit run` to the health check answering, and from the
  first request of the page to its first complete render;
- input change: the time from changing the page's first number input (or, without one, the sidebar model)
  to the re-rendered result, repeated --repeats times; median and p95 are printed.

Usage: python bench/browser_latency.py [--repeats 10] [--pages models,compute]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, start_server, wait_for_app  # noqa: E402
from ui.nav import PAGES  # noqa: E402


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def change_input(page, i: int) -> None:
    main = "[data-testid='stMainBlockContainer']"
    step_up = page.locator(f"{main} [data-testid='stNumberInputStepUp']:visible:enabled").first
    step_down = page.locator(f"{main} [data-testid='stNumberInputStepDown']:visible:enabled").first
    if step_up.count() and step_down.count():
        (step_up if i % 2 == 0 else step_down).click()
        return
    sel = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
    sel.click()
    name = "Llama-2-7B" if i % 2 == 0 else "Meta-Llama-3-8B"
    page.keyboard.type(name)
    page.get_by_role("option", name=name, exact=True).click()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--pages", default="", help="comma-separated url paths (default: all)")
    args = ap.parse_args()
    wanted = [p for p in PAGES if not args.pages or (p.url_path or "home") in args.pages.split(",")]
    print(f"{'page':22s} {'server_s':>8s} {'first_render_s':>14s} {'change_med_s':>12s} {'change_p95_s':>12s}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for info in wanted:
            t0 = time.perf_counter()
            proc, url = start_server()
            server_s = time.perf_counter() - t0
            try:
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                t1 = time.perf_counter()
                page.goto(f"{url}/{info.url_path}")
                wait_for_app(page)
                first_s = time.perf_counter() - t1
                changes = []
                for i in range(args.repeats):
                    t2 = time.perf_counter()
                    change_input(page, i)
                    page.wait_for_timeout(50)
                    wait_for_app(page)
                    changes.append(time.perf_counter() - t2)
                ctx.close()
            finally:
                proc.terminate()
                proc.wait(10)
            # wait_for_app needs three stable polls 250 ms apart: subtract that fixed 0.75 s settle time
            settle = 0.75
            med = max(0.0, statistics.median(changes) - settle)
            print(f"{info.url_path or 'home':22s} {server_s:8.2f} {max(0.0, first_s - settle):14.2f} {med:12.2f} "
                  f"{max(0.0, p95(changes) - settle):12.2f}", flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
