"""Six sessions hammering the worst allowed inputs: how much slower is another visitor's page? (issue 20)

    python bench/bench_hostile.py                 # 6 hostile sessions, the victim reruns Inference memory 15 x
    python bench/bench_hostile.py --hostile 6 --reruns 30 --victim training-memory

One server (``deploy/serve.py`` with config.toml, on 127.0.0.1). The victim, a session of its own, reruns one
page with its default inputs ``--reruns`` times on the idle server, then again while ``--hostile`` sessions
rerun the heaviest pages with the largest inputs the pages accept, back to back with no pause (the largest
presets' 33 GGUF file types, training memory at 10 million tokens x 100,000 micro-batch, inference at 100 million
tokens x a million sequences, the speed sweep at 4,096). Printed: the victim's median and p90 latency, idle
and loaded, and their ratio (issue 20's target: less than 2x), with the hostile sessions' reruns per second.

Uploaded configs (1,000 layers x 65,536 experts, 10,000 layers) cannot ride in a link, so the largest presets
stand in for them here; ``tests/test_hostile.py`` runs those configs on the pages and in the CLI.
A benchmark: it prints figures and asserts nothing. On a shared machine, run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.replicas import start_streamlit, stop_process  # noqa: E402
from tests.ws_client import WsSession  # noqa: E402

#: (page url path, query string): the heaviest page runs a link can ask for.
HOSTILE = (
    ("quantization", "model=DeepSeek-V3"),
    ("training-memory", "model=Qwen3-235B-A22B&tm_seq=10000000&tm_mb=100000"),
    ("inference-memory", "model=DeepSeek-V3&im_ctx=100000000&im_b=1000000"),
    ("speed", "model=Qwen3-235B-A22B&sbatch=4096"),
    ("quantization", "model=Qwen3-235B-A22B"),
    ("training-memory", "model=DeepSeek-V3&tm_seq=10000000&tm_mb=100000"),
)


async def _open(url: str, timeout_s: float) -> WsSession:
    s = WsSession(url, timeout_s)
    await s.open()
    await s.rerun(page_name="")
    return s


def _hash(s: WsSession, path: str) -> str:
    return next(h for h, p in s.pages if p == path)


async def victim(url: str, page: str, reruns: int, timeout_s: float) -> list[float]:
    s = await _open(url, timeout_s)
    try:
        h = _hash(s, page)
        await s.rerun(page_hash=h)  # first run of the page in this session
        out = []
        for _ in range(reruns):
            dt, errs = await s.rerun(page_hash=h)
            if errs:
                print("victim error:", errs[:2])
            out.append(dt)
            await asyncio.sleep(0.2)  # a visitor, not a load generator
        return out
    finally:
        await s.close()


async def hammer(url: str, idx: int, stop: asyncio.Event, counts: list[int], errors: list[str],
                 timeout_s: float) -> None:
    s = await _open(url, timeout_s)
    page, query = HOSTILE[idx % len(HOSTILE)]
    try:
        h = _hash(s, page)
        while not stop.is_set():
            _, errs = await s.rerun(page_hash=h, query_string=query)
            errors += errs[:1]
            counts[idx] += 1
    except (TimeoutError, asyncio.TimeoutError):
        errors.append(f"hostile {idx}: no answer within {timeout_s} s")
    finally:
        await s.close()


def _line(label: str, xs: list[float]) -> str:
    xs = sorted(xs)
    return f"{label:8s} median {statistics.median(xs) * 1000:7.0f} ms  p90 {xs[int(0.9 * (len(xs) - 1))] * 1000:7.0f} ms"


async def main_async(args) -> None:
    proc, url = start_streamlit()
    try:
        warm = await _open(url, args.timeout_s)  # compile every page once
        for h, p in warm.pages:
            if p != "benchmark":
                await warm.rerun(page_hash=h)
        await warm.close()
        idle = await victim(url, args.victim, args.reruns, args.timeout_s)
        stop, counts, errors = asyncio.Event(), [0] * args.hostile, []
        tasks = [asyncio.create_task(hammer(url, i, stop, counts, errors, args.timeout_s)) for i in range(args.hostile)]
        await asyncio.sleep(args.ramp_s)  # the hostile sessions' usage builds up: they become heavy
        t0, before = time.monotonic(), sum(counts)
        loaded = await victim(url, args.victim, args.reruns, args.timeout_s)
        rate = (sum(counts) - before) / (time.monotonic() - t0)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop_process(proc)
    print(f"victim page: {args.victim}, {args.reruns} reruns each; {args.hostile} hostile sessions: "
          f"{', '.join(f'{p}?{q}' for p, q in HOSTILE[:args.hostile])}")
    print(_line("idle", idle))
    print(_line("loaded", loaded))
    print(f"ratio loaded/idle: median {statistics.median(loaded) / statistics.median(idle):.2f}x, "
          f"p90 {sorted(loaded)[int(0.9 * (len(loaded) - 1))] / sorted(idle)[int(0.9 * (len(idle) - 1))]:.2f}x "
          f"(target < 2x); hostile reruns {rate:.1f}/s, errors {len(errors)} {errors[:2]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hostile", type=int, default=6)
    ap.add_argument("--reruns", type=int, default=15)
    ap.add_argument("--victim", default="inference-memory", help="url path of the victim's page")
    ap.add_argument("--ramp-s", type=float, default=20.0)
    ap.add_argument("--timeout-s", type=float, default=120.0)
    asyncio.run(main_async(ap.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
