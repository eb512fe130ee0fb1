"""Server CPU per element: a page of 300 ``st.markdown`` elements against an empty one, with ``ui/st_batch.py``
on and off (``CALC_ST_BATCH``).

    python bench/bench_elements.py              # 3 rounds x 2 settings, interleaved
    python bench/bench_elements.py --rounds 5

Each setting gets its own server (``deploy.replicas.start_streamlit``, config.toml's options) running
``bench/elements_page.py``; one websocket session reruns it 20 times with ``?n=0`` and 20 times with ``?n=300``, and
the server's CPU time (its process CPU-time clock, every thread) over each batch gives the cost per rerun; the
difference over 300 is the cost of one element, from the script's call to the websocket frame. Rounds interleave
the settings; the minimum per setting is printed (a busy neighbour only ever adds), with each round's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pages import cpu_s  # noqa: E402 (the server's process CPU-time clock)
from deploy.replicas import start_streamlit, stop_process  # noqa: E402
from tests.ws_client import WsSession  # noqa: E402

PAGE = ROOT / "bench" / "elements_page.py"
N, RERUNS = 300, 20


async def per_element(url: str, pid: int) -> float:
    s = WsSession(url, timeout_s=120)
    await s.open()
    try:
        await s.rerun(page_name="")
        for _ in range(3):  # warm
            await s.rerun(query_string=f"n={N}")
        cost = {}
        for n in (0, N):
            c0 = cpu_s(pid)
            for _ in range(RERUNS):
                _, errors = await s.rerun(query_string=f"n={n}")
                if errors:
                    raise SystemExit(f"the page failed: {errors[:1]}")
            cost[n] = (cpu_s(pid) - c0) / RERUNS
        return (cost[N] - cost[0]) / N
    finally:
        await s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    got: dict[str, list[float]] = {"0": [], "1": []}
    for _ in range(args.rounds):
        for setting in got:
            proc, url = start_streamlit(PAGE, env={**os.environ, "CALC_ST_BATCH": setting})
            try:
                got[setting].append(asyncio.run(per_element(url, proc.pid)))
            finally:
                stop_process(proc)
    off, on = min(got["0"]), min(got["1"])
    for setting, label in (("0", "Streamlit's hand-off"), ("1", "ui/st_batch.py")):
        print(f"{label:22s} {min(got[setting]) * 1e6:6.0f} us per element  (rounds: "
              + ", ".join(f"{x * 1e6:.0f}" for x in got[setting]) + ")")
    print(f"batched: {on / off:.2f}x the server CPU per element")
    return 0


if __name__ == "__main__":
    sys.exit(main())
