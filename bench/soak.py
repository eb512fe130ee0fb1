"""Soak: the server's memory over 10,000 reruns, with config.toml's options (post-script GC off).

    python bench/soak.py                        # 10,000 reruns by 4 sessions; RSS after 100 and after 10,000
    python bench/soak.py --reruns 2000 --gc     # the same with Streamlit's gc.collect() after every run
    python bench/soak.py --reruns 3000 --trace /tmp/growth.txt   # what grows, by source line (tracemalloc)

Sessions (Streamlit's websocket protocol, ``tests/ws_client.py``) go through every page except the
Benchmark and change random inputs, as ``bench/load.py`` does. The server's resident memory (VmRSS from
/proc) is sampled along the way. Target (issue 18): RSS after 10,000 reruns within 10% of RSS after 100.
Every 500 reruns a session leaves and a new one takes its place (Streamlit keeps a closed session for
``server.disconnectedSessionTTL`` = 120 s), so the run also covers sessions coming and going.
Before counting, one session visits every page and changes a few inputs on each (``--no-warm-up`` skips
it): from a cold server the RSS "after 100" was taken before some pages had ever run, and the 100 -> 1,000
step (221 -> 289 MiB) was modules imported on first use, not memory reruns keep (1,000 -> 3,000: +4 MiB).

The server's caches are bounded in bytes (ui/charts.py, ui/memo.py; tests/test_cache_bytes.py holds the counts
to tracemalloc). With figures weighed in points and results in entries, 3,000 reruns went 276.1 -> 317.9 MiB
(1.151x, +19.9 MiB from 1,000 to 3,000); weighed in bytes, 272.6 -> 289.8 MiB (1.063x, +1.7 MiB), and 6,000
reruns 276.6 -> 294.9 MiB (1.066x; +1.2 MiB per 1,000 over the second half, the caches still filling), and
10,000 reruns 274.7 -> 298.3 MiB (1.086x; +0.1 MiB per 1,000 from 5,000 on), with 30 MiB of cache budgets.
They are 24 MiB now (figures 12 -> 8, derived results 8 -> 6), for a margin below the 10 %. With a frozen figure
made of the built figure's own dicts (ui/charts.py) and the share and token panels built only while open, 10,000
reruns went 269.4 -> 280.6 MiB (1.042x; highest 286.3 at 4,000, then 280-284). A rerun that gets no answer within
120 s is counted as an error naming its page (and fragment) and its session is replaced: the run used to stop
there, after its 10,000th rerun, without its summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.replicas import start_streamlit, stop_process  # noqa: E402
from tests.ws_client import WsSession  # noqa: E402


def cache_ceiling_mib() -> float:
    """What the server's process-wide caches may hold together (their byte budgets)."""
    from ui import charts, memo

    budgets = charts.FIGURE_BUDGET_BYTES, memo.DERIVED_BUDGET_BYTES, memo.QUANT_BUDGET_BYTES, memo.RUNS_BUDGET_BYTES
    return sum(budgets) / 2**20


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


async def soak(url: str, pid: int, reruns: int, sessions: int, marks: list[int]) -> tuple[dict[int, float], list]:
    done = 0
    samples: dict[int, float] = {}
    errors: list[str] = []
    lock = asyncio.Lock()

    async def one(idx: int) -> None:
        nonlocal done
        rng = random.Random(idx)
        while done < reruns:
            s = WsSession(url, timeout_s=120)
            await s.open()
            try:
                await s.rerun(page_name="")
                pages = [p for p in s.pages if p[1] != "benchmark"]
                for step in range(500):
                    if done >= reruns:
                        break
                    state, where = None, ""
                    try:
                        if step % 3 == 0 or not s.widgets:
                            s.page_hash = rng.choice(pages)[0]
                            _, errs = await s.rerun(page_hash=s.page_hash)
                        else:
                            state = s.random_state(rng)
                            where = s.fragment_of(state)
                            _, errs = await s.rerun(page_hash=s.page_hash, states=[state] if state else [],
                                                    fragment_id=where)
                    except (TimeoutError, asyncio.TimeoutError):  # counted, and the session is replaced
                        page = dict(s.pages).get(s.page_hash, "?")
                        errors.append(f"no answer within {s.timeout_s:.0f} s: page /{page}, "
                                      + (f"fragment {where} rerun" if where else "page rerun")
                                      + (f", widget {state.id}" if state is not None else ""))
                        break
                    errors.extend(errs)
                    async with lock:
                        done += 1
                        if marks and done >= marks[0]:
                            samples[marks.pop(0)] = rss_mib(pid)
                            print(f"  after {done:6d} reruns: RSS {samples[max(samples)]:7.1f} MiB", flush=True)
            finally:
                await s.close()

    await asyncio.gather(*(one(i) for i in range(sessions)))
    return samples, errors


async def warm_up(url: str, inputs_per_page: int = 4) -> int:
    """One session visits every page but the Benchmark and changes a few random inputs on each, so modules a
    page or an input imports on first use (scipy.optimize, gguf, plotly's validators, page bytecode) are
    loaded before the count starts: the target is about what reruns keep, not what a first visit imports
    once. Returns the reruns it made."""
    rng = random.Random(-1)
    s = WsSession(url, timeout_s=120)
    await s.open()
    n = 0
    try:
        await s.rerun(page_name="")
        for page_hash, path in s.pages:
            if path == "benchmark":
                continue
            s.page_hash = page_hash
            await s.rerun(page_hash=page_hash)
            n += 1
            for _ in range(inputs_per_page):
                state = s.random_state(rng)
                if state is None:
                    break
                await s.rerun(page_hash=page_hash, states=[state], fragment_id=s.fragment_of(state))
                n += 1
    finally:
        await s.close()
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--gc", action="store_true", help="run the server with runner.postScriptGC=true")
    ap.add_argument("--no-warm-up", action="store_true",
                    help="count from a cold server (first visits import modules: RSS after 100 is then lower)")
    ap.add_argument("--trace", type=Path, metavar="FILE",
                    help="debug: the server writes tracemalloc's growth by source line to FILE every 30 s "
                         "(deploy/serve.py; slows the server down, so RSS figures of such a run are not the target's)")
    args = ap.parse_args(argv)
    if args.trace:
        os.environ["CALC_TRACEMALLOC"] = str(args.trace.resolve())
    extra = ["--runner.postScriptGC=true"] if args.gc else []
    marks = sorted({100, *range(1000, args.reruns + 1, 1000), args.reruns})
    os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")
    proc, url = start_streamlit(extra_args=extra)
    t0 = time.perf_counter()
    try:
        print(f"server options: {' '.join(extra) or 'config.toml'}; {args.sessions} sessions, {args.reruns} reruns;"
              f" RSS at start {rss_mib(proc.pid):.1f} MiB", flush=True)
        if not args.no_warm_up:
            n = asyncio.run(warm_up(url))
            print(f"warm-up: {n} reruns over every page; RSS {rss_mib(proc.pid):.1f} MiB", flush=True)
        samples, errors = asyncio.run(soak(url, proc.pid, args.reruns, args.sessions, marks))
    finally:
        stop_process(proc)
    first, last = samples[100], samples[max(samples)]
    print(f"{max(samples)} reruns in {time.perf_counter() - t0:.0f} s; RSS after 100: {first:.1f} MiB, after "
          f"{max(samples)}: {last:.1f} MiB = {last / first:.3f}x (target <= 1.10x); {len(errors)} errors")
    half = min((m for m in samples if m >= max(samples) / 2), default=None)
    if half is not None and half < max(samples):  # the tail: does it still rise once the caches have filled?
        print(f"tail: {(last - samples[half]) / (max(samples) - half) * 1000:+.1f} MiB per 1,000 reruns from {half} "
              f"to {max(samples)} (the caches are bounded in bytes: figures, results and GGUF tables together "
              f"at most {cache_ceiling_mib():.0f} MiB)")
    for e in errors[:5]:
        print("  ERROR", e[:300])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
