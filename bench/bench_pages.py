"""Each page's server rerun against a trivial one-input page on the same server.

    python bench/bench_pages.py                      # config.toml's options
    python bench/bench_pages.py --rounds 6 --gc      # the same with Streamlit's post-script gc.collect() on
    python bench/bench_pages.py --only serving,validation --rounds 10   # some pages (and the trivial one) only

One server runs app.py's pages and sidebar plus ``bench/trivial_page.py`` (a copy of app.py with that page
added, written next to app.py for the run, since pages link to each other by paths relative to the main
script; the repository's ``.streamlit/config.toml`` applies). One session, over Streamlit's own websocket protocol
(``bench/load.py``'s ``WsSession``), visits every page in a shuffled order each round and changes one
input at a time: anywhere in the input's range (``--inputs random``, the default; on some pages most reruns then end
on an answer that can only be an error, e.g. a tensor-parallel size that divides no model's heads, which is cheaper
than the answer a user sees), or as a user moves it (``--inputs nearby``: a number of that page halved, doubled or
moved by one step from its current value, another option of a select box, a toggle flipped, and put back after the
page answered with an error; ``WsSession.nearby_state``); pages without inputs rerun as they are. Nothing else talks
to the server, so the server's CPU time over a rerun is that rerun's cost: read from the server's process CPU-time
clock (nanoseconds, every thread; ``cpu_s``), not ``/proc/<pid>/stat``'s 10 ms clock ticks, which made one rerun read
0, 10 or 20 ms. Rounds interleave the pages, so a busy neighbour on the machine slows them all alike, and each page's
figure is printed as a ratio to the trivial page's. Target (issue 18): every page within 2x of the trivial page.
A neighbour still moves the ratios (shared caches, a shared core): compare ratios from one run, and repeat it.
The last column is the share of measured reruns that ended showing an ``st.error`` (the page's answer to inputs it
cannot serve): a page measured mostly on that path is measured on its cheapest rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.replicas import start_streamlit, stop_process  # noqa: E402
from tests.ws_client import WsSession  # noqa: E402

#: app.py's frame plus the trivial page; written to the repository root for the run, removed after.
BENCH_APP = ROOT / "_bench_rerun_app.py"
TRIVIAL = ROOT / "bench" / "trivial_page.py"


def write_bench_app() -> Path:
    text = (ROOT / "app.py").read_text()
    anchor = "nav = st.navigation(sections"
    if anchor not in text:
        raise SystemExit("app.py changed: bench/bench_pages.py cannot add its trivial page")
    extra = f'sections["Bench"] = [st.Page({str(TRIVIAL)!r}, title="Trivial", url_path="trivial")]\n'
    BENCH_APP.write_text(text.replace(anchor, extra + anchor, 1))
    return BENCH_APP


def cpu_s(pid: int) -> float:
    """CPU seconds of process ``pid``, all its threads (those that ended too), to the nanosecond: its process CPU-time
    clock, the id ``clock_getcpuclockid(3)`` gives on Linux (``(~pid << 3) | 2``, CPUCLOCK_SCHED: the scheduler's
    ``sum_exec_runtime``); ``/proc/<pid>/stat``'s clock ticks (10 ms) where that clock cannot be read."""
    try:
        return time.clock_gettime_ns((~pid << 3) | 2) / 1e9
    except (OSError, OverflowError, AttributeError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, pid: int, rounds: int, changes: int, skip: set[str],
                  only: set[str] | None = None, inputs: str = "random") -> dict[str, dict[str, list]]:
    rng = random.Random(0)
    s = WsSession(url, timeout_s=120)
    await s.open()
    await s.rerun(page_name="")
    pages = [(h, p or "home") for h, p in s.pages if (p or "home") not in skip and (only is None or (p or "home") in only)]
    if only and len(pages) != len(only):
        raise SystemExit(f"--only: no page at {sorted(only - {p for _, p in pages})}; pages: "
                         f"{', '.join(p or 'home' for _, p in s.pages)}")
    out: dict[str, dict[str, list]] = {p: {"wall": [], "cpu": [], "errors": [], "shown_error": []} for _, p in pages}
    # Steady state: every page once (modules imported on first use, the simulator's compiled kernel that app.py
    # loads in a thread of its own: calc/serve_sim_jit.py), then the server left until its CPU is idle, so that no
    # one-time work is counted in the reruns measured
    for page_hash, _ in pages:
        s.page_hash = page_hash
        await s.rerun(page_hash=page_hash)
    for _ in range(120):
        c0 = cpu_s(pid)
        await asyncio.sleep(0.5)
        if cpu_s(pid) - c0 <= 0.02:
            break
    undos: dict[str, object] = {}  # page -> the widget state that reverts its last change, while the page shows an error
    try:
        for _ in range(rounds):
            rng.shuffle(pages)
            for page_hash, name in pages:
                s.page_hash = page_hash
                _, errs = await s.rerun(page_hash=page_hash)  # page change (not counted)
                out[name]["errors"] += errs
                for _ in range(changes):
                    undo = None
                    if inputs == "random":
                        state = s.random_state(rng)
                    elif undos.get(name) is not None:  # the page said no to the last change: a user puts it back
                        state = undos.pop(name)
                    else:
                        state = s.nearby_state(rng)
                        undo = s.undo
                    c0 = cpu_s(pid)
                    # the query string the page last set, as a browser sends its address bar's with every rerun:
                    # an empty one made every widget write its parameter again on every measured rerun
                    dt, errs = await s.rerun(page_hash=page_hash, states=[state] if state is not None else [],
                                             fragment_id=s.fragment_of(state), query_string=s.query_string)
                    out[name]["cpu"].append(cpu_s(pid) - c0)
                    out[name]["wall"].append(dt)
                    out[name]["errors"] += errs
                    out[name]["shown_error"].append(s.shown_errors > 0)
                    if s.shown_errors and undo is not None:  # kept per page: the visits in between must not lose it
                        undos[name] = undo
    finally:
        await s.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="visits of every page (shuffled order each round)")
    ap.add_argument("--changes", type=int, default=4, help="input changes measured per visit")
    ap.add_argument("--gc", action="store_true", help="run the server with runner.postScriptGC=true")
    ap.add_argument("--only", default="", help="comma-separated url paths of the pages to measure (with the "
                                               "trivial page); default all")
    ap.add_argument("--inputs", choices=("nearby", "random"), default="random",
                    help="how an input changes: anywhere in its range (default), or near its current value, as a user "
                         "moves it, and back after an error")
    args = ap.parse_args(argv)
    extra = ["--runner.postScriptGC=true"] if args.gc else []
    os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")
    try:
        proc, url = start_streamlit(write_bench_app(), extra_args=extra)
        t0 = time.perf_counter()
        try:
            only = {p.strip() for p in args.only.split(",") if p.strip()}
            res = asyncio.run(measure(url, proc.pid, args.rounds, args.changes, skip={"benchmark"},
                                      only=only | {"trivial"} if only else None, inputs=args.inputs))
        finally:
            stop_process(proc)
    finally:
        BENCH_APP.unlink(missing_ok=True)
    base = res.pop("trivial")
    b_cpu, b_wall = statistics.mean(base["cpu"]), statistics.median(base["wall"])
    print(f"server options: {' '.join(extra) or 'config.toml'}; {args.rounds} rounds x {args.changes} input "
          f"changes per page, one session, {time.perf_counter() - t0:.0f} s")
    print(f"{'page':18s} {'CPU/rerun':>10s} {'x trivial':>9s} {'wall p50':>9s} {'x trivial':>9s} {'st.error':>8s}")
    print(f"{'trivial':18s} {b_cpu * 1e3:7.1f} ms {1:8.2f}x {b_wall * 1e3:6.1f} ms {1:8.2f}x")
    worst = 0.0
    for name, r in sorted(res.items(), key=lambda kv: -statistics.mean(kv[1]["cpu"])):
        cpu, wall = statistics.mean(r["cpu"]), statistics.median(r["wall"])
        worst = max(worst, cpu / b_cpu)
        err = f"  ERRORS: {r['errors'][:2]}" if r["errors"] else ""
        shown = statistics.mean(r["shown_error"]) if r["shown_error"] else 0.0  # reruns that ended on st.error
        print(f"{name:18s} {cpu * 1e3:7.1f} ms {cpu / b_cpu:8.2f}x {wall * 1e3:6.1f} ms {wall / b_wall:8.2f}x "
              f"{shown:7.0%}{err}")
    print(f"worst page: {worst:.2f}x the trivial page's server CPU per rerun (target <= 2x)")
    return 1 if any(r["errors"] for r in res.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

