"""Load test: N concurrent sessions change pages and inputs on a local server; p50/p95 latency, errors.

    python bench/load.py                          # N = 10 and 50, websocket protocol, own server
    python bench/load.py -n 50 --steps 8 --mode browser
    python bench/load.py --bench-queue 3          # 3 sessions press "Run benchmark" at once
    python bench/load.py -n 50 --replicas 1,2     # behind HAProxy (deploy/replicas.py): throughput per count

Two ways to drive a session, both against a server this script starts on 127.0.0.1 (a free port;
``--url`` may name another server, but only on a loopback address). Its own server starts as a deployed
replica does (``deploy/replicas.start_streamlit``) and one session visits every page before the count, so
the figures are about serving, not about modules imported on a page's first visit.

- ``ws`` (default): Streamlit's own websocket protocol (``BackMsg.rerun_script`` with the page hash
  and widget states, as the browser sends them; the reply is read until ``script_finished``). Light
  enough to hold 50 sessions on 2 cores, so the figures are the server's.
- ``browser``: one Debian Chromium (Playwright, the flags of ``tests/conftest.py``) with N browser
  contexts; each opens a deep link, then clicks page links and types into number inputs. Closer to
  users, but on a 2-core machine the browsers compete with the server for the CPU.

Each session does ``--steps`` actions (a page change or an input change on the current page, with a
``--think-s`` pause), so the run is bounded in requests (N x (steps + 1)) and in time
(``--deadline-s``, each action at most ``--action-timeout-s``). An error is an exception element
on the page, a script that did not finish, a timeout or a lost connection. The server's peak memory
(VmHWM) and CPU time come from /proc.

``--bench-queue K`` checks that Benchmark-page runs from K sessions queue instead of overlapping:
K sessions press "Run benchmark" at the same moment (small CPU settings) and the measured
intervals each page reports ("from ... to ... UTC") must not overlap.

Where the CPU went is printed per action (ws mode): each Streamlit process, this load generator, HAProxy,
and how many of the machine's cores other processes took meanwhile (/proc/stat). On a shared machine that
last figure bounds what a second replica can add: measured with 2 replicas on this 2-core machine shared
with other work (issue 18), each action cost the same 31 ms of Streamlit CPU with 1 or 2 replicas, the load
generator 3 ms and HAProxy 0.7 ms, while other processes held 1.1-1.4 of the 2 cores; so 1.27x (not the
1.7x target) was the cores left, not the replicas' overhead. A second run (other processes 0.96-1.35 cores):
1.52x over the whole run, 1.59x while every session was active ("steady", below), and per Streamlit
CPU-second the two replicas served what one did.

After the shared frame's cuts of issue 18 (budget watchdog, icon, figure freezing, share and token panels, theme
messages; the trivial page 10.5 -> 9.3 ms of server CPU per rerun) and with input changes carrying the page's query
string as a browser's do: ``--replicas 1,2,1,2 -n 50`` gave 1.39x whole / 1.55x steady, other processes holding
1.21-1.41 of the 2 cores; Streamlit CPU per action 25.5-27.8 ms with one replica and 23.6-25.6 ms (12.4 + 11.1 ...)
with two, 36-39 vs 39-42 actions per Streamlit CPU-second: the second replica costs nothing per action, the cores
other processes leave decide the ratio.

``--replicas`` keeps replica i on CPU i at every count alike (``--no-pin``: left to the scheduler;
``deploy/replicas.py cpu_plan``). A replica left free moves between the cores, and its threads' GIL hand-overs across
cores wake the other core; on this virtual machine that also shows as steal time (printed apart: two processes passing
a byte 3,000 times a second showed 0.59 cores of steal). Measured 2026-12-03 with ``--replicas 1,2 -n 100 --think-s
0.25 --steps 20``: with a helper's work sharing the machine (and steal), unpinned 57.6/s and 82.1/s (1.43x) at
16.8-17.1 ms of Streamlit CPU per action, pinned 106.7/s with two replicas at 13.9 ms; on a quiet host, pinned 1.53x,
2.05x and 1.41x in three runs, unpinned 1.63x in one: no difference the spread lets one see. With the server at
10-12 ms per action, the load generator (1.0-1.3 ms) and HAProxy (0.3-0.6 ms) on the same two cores cap two
replicas near 1.7x: ``--replicas 1,2,1,2 --steps 40`` (longer runs; medians) read 1.58x, steady 1.64x.

``--replicas 1,2,1,2,...`` starts one cluster of the largest count and, for a run of fewer replicas, puts the others in
HAProxy's maintenance state (``--fresh``: a cluster started and warmed per run, as before 2026-12-03). Without a
restart between runs they can alternate more often in the same minutes, and besides the medians per count the bench
prints each run's ratio to the one-replica runs just before and after it: on this shared virtual machine a single
replica's rate moved between 66 and 108 actions/s from one run to the next (steal, other tenants' use of the shared
cache), so a ratio of runs minutes apart carried that drift.

"steady" is the rate while every session was active (from the last session's first load to the first
session's end): the whole-run rate also counts arrivals and the stragglers at the end, and with two
replicas the busier one's last sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import random
import re
import statistics
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: deploy/haproxy.cfg's ``slowstart``: a replica back from maintenance ramps up its weight over this long
_SLOWSTART_S = 5.0
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.ws_client import WsSession  # noqa: E402


@dataclass
class Result:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # action kind -> seconds
    errors: list[str] = field(default_factory=list)
    actions: int = 0
    done: list[float] = field(default_factory=list)  # time.monotonic() at the end of each action
    spans: list[tuple[float, float]] = field(default_factory=list)  # per session: first load done, last action done

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.actions += 1
        self.done.append(time.monotonic())

    def steady(self) -> tuple[float, float] | None:
        """``(actions per second, seconds)`` while every session was active: from the last session's first load
        to the first session's end. The whole-run rate also counts the arrivals and the stragglers of the end
        (with two replicas, the last sessions of the busier one), which is not the servers' capacity."""
        if not self.spans:
            return None
        t0, t1 = max(a for a, _ in self.spans), min(b for _, b in self.spans)
        if t1 - t0 < 2.0:
            return None
        return sum(t0 < t <= t1 for t in self.done) / (t1 - t0), t1 - t0


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def report(mode: str, n: int, res: Result, wall_s: float, server: dict) -> list[str]:
    every = [x for xs in res.latencies.values() for x in xs]
    lines = [f"{mode} N={n}: {res.actions} actions in {wall_s:.1f} s ({res.actions / wall_s:.1f}/s), "
             f"{len(res.errors)} errors"]
    if every:
        lines.append(f"  all actions: p50 {_pct(every, 0.5) * 1e3:.0f} ms, p95 {_pct(every, 0.95) * 1e3:.0f} ms, "
                     f"max {max(every) * 1e3:.0f} ms, mean {statistics.mean(every) * 1e3:.0f} ms")
    for kind, xs in sorted(res.latencies.items()):
        lines.append(f"  {kind:>12}: n={len(xs):4d} p50 {_pct(xs, 0.5) * 1e3:6.0f} ms  p95 {_pct(xs, 0.95) * 1e3:6.0f} ms")
    if (steady := res.steady()) is not None:
        lines.append(f"  steady: {steady[0]:.1f} actions/s over the {steady[1]:.1f} s every session was active")
    if server:
        lines.append(f"  server: peak RSS {server['hwm_mib']:.0f} MiB, CPU {server['cpu_s']:.1f} s "
                     f"({server['cpu_s'] / wall_s:.2f} cores busy on average)")
    for e in res.errors[:10]:
        lines.append(f"  ERROR {e[:600]}")
    return lines


# ----- server ---------------------------------------------------------------------------------

def _check_loopback(url: str) -> None:
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise SystemExit(f"refusing to load-test {url}: only loopback addresses (127.0.0.1)")


def _proc_stats(pid: int) -> dict:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return {"hwm_mib": hwm, "cpu_s": (int(stat[11]) + int(stat[12])) / ticks}
    except (OSError, AttributeError, ValueError):
        return {}


# ----- websocket protocol (tests/ws_client.py) -------------------------------------------------

async def ws_session(url: str, idx: int, steps: int, think_s: float, timeout_s: float, res: Result,
                     deadline: float, skip_pages: tuple[str, ...]) -> None:
    rng = random.Random(idx)
    s = WsSession(url, timeout_s)
    await asyncio.sleep(rng.uniform(0, 1.0))  # users do not arrive in the same millisecond
    start = None
    try:
        await asyncio.to_thread(s.load_page)  # as a browser: the page first (through a proxy: its sticky cookie)
        await s.open()
        dt, errs = await s.rerun(page_name="")
        res.add("first load", dt)
        start = time.monotonic()
        res.errors += [f"session {idx} first load: {e}" for e in errs]
        for step in range(steps):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(rng.uniform(0, 2 * think_s))
            pages = [p for p in s.pages if p[1] not in skip_pages]
            if step % 2 == 0 or not s.widgets:
                page = rng.choice(pages)
                # a browser clears the query string when the page changes (Streamlit's frontend keeps only embed
                # parameters): the new page writes its inputs' parameters
                dt, errs = await s.rerun(page_hash=page[0], query_string="")
                s.page_hash = page[0]
                res.add("page change", dt)
            else:
                state = s.random_state(rng)
                states = [state] if state is not None else []
                # ... and sends its address bar's query string with an input change: with an empty one every
                # widget wrote its parameter again and each rerun carried a page_info_changed message (py-spy:
                # ui/state._sync's query-parameter writes were 7% of the server's time under this load)
                dt, errs = await s.rerun(page_hash=s.page_hash, states=states, fragment_id=s.fragment_of(state),
                                         query_string=s.query_string)
                res.add("input change", dt)
            res.errors += [f"session {idx} step {step}: {e}" for e in errs]
    except (TimeoutError, asyncio.TimeoutError):
        res.errors.append(f"session {idx}: no answer within {timeout_s} s")
    except Exception as exc:  # noqa: BLE001 - a lost connection is an error to count, not to raise
        res.errors.append(f"session {idx}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        if start is not None:
            res.spans.append((start, time.monotonic()))
        await s.close()


async def warm_up(url: str, timeout_s: float) -> None:
    """One session visits every page once (first runs import modules and compile page scripts)."""
    s = WsSession(url, timeout_s)
    await s.open()
    try:
        await s.rerun(page_name="")
        for page_hash, path in s.pages:
            if path != "benchmark":
                await s.rerun(page_hash=page_hash)
    finally:
        await s.close()


async def run_ws(url: str, n: int, steps: int, think_s: float, timeout_s: float, deadline_s: float) -> Result:
    res = Result()
    deadline = time.monotonic() + deadline_s
    await asyncio.gather(*(ws_session(url, i, steps, think_s, timeout_s, res, deadline, ("benchmark",))
                           for i in range(n)))
    return res


# ----- browser ----------------------------------------------------------------------------------

#: Pages with number inputs (the rest show tables and text); only used to make input changes possible.
INPUT_PAGES = ("training-memory", "inference-memory", "quantization", "compute", "scaling", "speed")


async def browser_session(browser, url: str, idx: int, steps: int, think_s: float, timeout_s: float, res: Result,
                          deadline: float, paths: list[str]) -> None:
    rng = random.Random(idx)
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    timeout_ms = timeout_s * 1000

    async def settled() -> None:
        await page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null"
            " && document.querySelectorAll('[data-testid=\"stMainBlockContainer\"] *').length > 5",
            timeout=timeout_ms, polling=100)

    async def check() -> None:
        n_exc = await page.locator("[data-testid='stException']").count()
        if n_exc:
            res.errors.append(f"browser session {idx}: exception on {page.url}")

    try:
        await asyncio.sleep(rng.uniform(0, 2.0))
        t0 = time.perf_counter()
        await page.goto(f"{url}/{rng.choice(paths)}", timeout=timeout_ms)
        await settled()
        res.add("first load", time.perf_counter() - t0)
        await check()
        for step in range(steps):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(rng.uniform(0, 2 * think_s))
            inputs = page.locator("[data-testid='stMainBlockContainer'] [data-testid='stNumberInput'] input")
            n_inputs = await inputs.count()
            t0 = time.perf_counter()
            if step % 2 == 0 or not n_inputs:
                # Every other step, or when this page has no number input: go (by its sidebar link) to a
                # random page; after a page without inputs, to one of the calculator pages that have them.
                target = rng.choice(paths if step % 2 == 0 else INPUT_PAGES)
                link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{target}']")
                await link.first.click(timeout=timeout_ms)
                kind = "page change"
            else:
                box = inputs.nth(rng.randrange(n_inputs))
                await box.fill(str(rng.randint(1, 64)), timeout=timeout_ms)
                await box.press("Enter")
                kind = "input change"
            await page.wait_for_timeout(50)  # let the rerun start before waiting for it to end
            await settled()
            res.add(kind, time.perf_counter() - t0)
            await check()
    except Exception as exc:  # noqa: BLE001 - timeouts and navigation errors are counted
        res.errors.append(f"browser session {idx}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    finally:
        await ctx.close()


async def run_browser(url: str, n: int, steps: int, think_s: float, timeout_s: float, deadline_s: float) -> Result:
    from playwright.async_api import async_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS
    from ui.nav import PAGES

    paths = [p.url_path for p in PAGES if p.url_path != "benchmark"]
    res = Result()
    deadline = time.monotonic() + deadline_s
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(browser_session(browser, url, i, steps, think_s, timeout_s, res, deadline, paths)
                                   for i in range(n)))
        finally:
            await browser.close()
    return res


# ----- benchmark queue --------------------------------------------------------------------------

_CLOCK = re.compile(r"from (\d\d):(\d\d):(\d\d\.\d+) to (\d\d):(\d\d):(\d\d\.\d+) UTC")


async def bench_queue(url: str, k: int, timeout_s: float) -> list[str]:
    """K sessions press "Run benchmark" together; their measured intervals must not overlap."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    sessions = [WsSession(url, timeout_s) for _ in range(k)]
    for s in sessions:
        await s.open()
        await s.rerun(page_name="")
        bench = next(h for h, path in s.pages if path == "benchmark")
        s.page_hash = bench
        await s.rerun(page_hash=bench)

    def states(s: WsSession) -> list:
        out = []
        for wid in s.widgets:
            if wid.endswith("-brun"):
                out.append(WidgetState(id=wid, trigger_value=True))
            elif wid.endswith("-bruns"):
                out.append(WidgetState(id=wid, int_value=3))
            elif wid.endswith("-bwarm"):
                out.append(WidgetState(id=wid, int_value=1))
            elif wid.endswith("-bcopy"):
                out.append(WidgetState(id=wid, int_value=16))
        return out

    async def press_and_wait(s: WsSession):
        """Run is queued and measured in a child process: rerun the page until it shows the result."""
        dt, errs = await s.rerun(page_hash=s.page_hash, states=states(s))
        deadline = time.perf_counter() + timeout_s
        while not any(_CLOCK.search(t) for t in s.texts) and time.perf_counter() < deadline and not errs:
            await asyncio.sleep(0.5)
            dt2, errs = await s.rerun(page_hash=s.page_hash)
            dt += dt2
        return dt, errs

    t0 = time.perf_counter()
    outs = await asyncio.gather(*(press_and_wait(s) for s in sessions))
    wall = time.perf_counter() - t0
    intervals, lines = [], []
    for i, (s, (dt, errs)) in enumerate(zip(sessions, outs, strict=True)):
        m = next((_CLOCK.search(t) for t in s.texts if _CLOCK.search(t)), None)
        if m is None:
            lines.append(f"  session {i}: no result caption ({'; '.join(errs) or 'no error shown'})")
            continue
        h1, m1, s1, h2, m2, s2 = m.groups()
        start = int(h1) * 3600 + int(m1) * 60 + float(s1)
        end = int(h2) * 3600 + int(m2) * 60 + float(s2)
        intervals.append((start, end))
        lines.append(f"  session {i}: measured {start % 60:.3f}-{end % 60:.3f} s (rerun took {dt:.1f} s)")
    for s in sessions:
        await s.close()
    intervals.sort()
    overlaps = sum(1 for a, b in zip(intervals, intervals[1:], strict=False) if b[0] < a[1])
    verdict = "queued, no overlap" if intervals and not overlaps else f"{overlaps} OVERLAPS"
    return [f"benchmark queue: {k} sessions pressed Run at once; {len(intervals)} reported intervals; {verdict}; "
            f"all done in {wall:.1f} s"] + lines


# ----- main -------------------------------------------------------------------------------------

def _stats(pids: list[int]) -> dict:
    each = [_proc_stats(p) for p in pids]
    each = [e for e in each if e]
    return {"hwm_mib": sum(e["hwm_mib"] for e in each), "cpu_s": sum(e["cpu_s"] for e in each)} if each else {}


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (HAProxy's master and its worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def _machine_busy_s() -> tuple[float, float]:
    """(CPU seconds the machine's cores were not idle, of them stolen): /proc/stat's first line, all but idle and
    iowait, and its steal field, the time a virtual machine's CPUs were ready to run but the host ran something
    else. On this sandbox (a Firecracker VM with halt polling off) steal also grows with wake-ups of an idle vCPU:
    two processes passing a byte back and forth 3,000 times a second showed 0.59 cores of steal (2026-12-03)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - fields[3] - fields[4]) / tick, (fields[7] if len(fields) > 7 else 0) / tick


def _cpu_lines(actions: int, wall_s: float, replica_cpu: list[float], own_cpu_s: float, proxy_cpu_s: float | None,
               machine_s: float, steal_s: float = 0.0) -> list[str]:
    """Where the CPU went, per action: each Streamlit process (replica), this load generator, the proxy, and everything else the
    machine ran meanwhile (other users of a shared machine), which bounds what more replicas can give."""
    ms = 1e3 / max(actions, 1)
    ours = sum(replica_cpu) + own_cpu_s + (proxy_cpu_s or 0)
    parts = [f"Streamlit {sum(replica_cpu) * ms:.1f} ms (" + ", ".join(f"{c * ms:.1f}" for c in replica_cpu) + ")",
             f"load generator {own_cpu_s * ms:.1f} ms"]
    if proxy_cpu_s is not None:
        parts.append(f"HAProxy {proxy_cpu_s * ms:.1f} ms")
    return [f"  CPU per action: {', '.join(parts)}; {actions / max(sum(replica_cpu), 1e-9):.1f} actions per Streamlit "
            f"CPU-second",
            f"  machine: {machine_s / wall_s:.2f} of {os.cpu_count()} cores busy, "
            f"{max(machine_s - ours, 0) / wall_s:.2f} of them by other processes "
            f"({steal_s / wall_s:.2f} of which stolen by the host: /proc/stat steal)"]


def _load(args, url: str, pids: list[int], label: str, proxy_pid: int | None = None) -> tuple[bool, dict]:
    """Runs the load once per ``-n``; returns (any errors, {n: actions/s over the run, ("steady", n): while every
    session was active})."""
    failed, throughput = False, {}
    for n in args.n or [10, 50]:
        before = _stats(pids)
        each0 = [_proc_stats(p).get("cpu_s", 0.0) for p in pids]
        proxy0 = _stats(_tree(proxy_pid)).get("cpu_s", 0.0) if proxy_pid else None
        own0, (machine0, steal0) = sum(os.times()[:2]), _machine_busy_s()
        t0 = time.perf_counter()
        runner = run_ws if args.mode == "ws" else run_browser
        res = asyncio.run(runner(url, n, args.steps, args.think_s, args.action_timeout_s, args.deadline_s))
        wall = time.perf_counter() - t0
        after = _stats(pids)
        each = [_proc_stats(p).get("cpu_s", 0.0) - c for p, c in zip(pids, each0, strict=True)]
        machine1, steal1 = _machine_busy_s()
        own, machine, steal = sum(os.times()[:2]) - own0, machine1 - machine0, steal1 - steal0
        proxy = _stats(_tree(proxy_pid)).get("cpu_s", 0.0) - proxy0 if proxy_pid else None
        server = {"hwm_mib": after["hwm_mib"], "cpu_s": after["cpu_s"] - before["cpu_s"]} if after else {}
        lines = report(f"{label}{args.mode}", n, res, wall, server)
        if pids and args.mode == "ws":  # browser mode: Chromium's CPU is not this process's
            k = next((i for i, line in enumerate(lines) if line.startswith("  ERROR")), len(lines))
            lines[k:k] = _cpu_lines(res.actions, wall, each, own, proxy, machine, steal)
        print("\n".join(lines), flush=True)
        throughput[n] = res.actions / wall
        if (steady := res.steady()) is not None:
            throughput[("steady", n)] = steady[0]
        failed |= bool(res.errors)
    return failed, throughput


def _serve_with(cluster, c: int) -> None:
    """Replicas 1..c of ``cluster`` take new sessions, the others none (HAProxy's maintenance state: a replica there
    gets no connection and costs nothing but its idle process). A replica put back waits out the proxy's
    ``slowstart`` (deploy/haproxy.cfg: 5 s of ramping weight), so every run starts with its replicas weighted alike."""
    back = False
    for i in range(cluster.n):
        name = cluster.name(i)
        want_up = i < c
        if want_up and cluster.servers()[name]["status"] != "UP":
            cluster.admin(f"set server app/{name} state ready")
            cluster.wait_up(name)
            back = True
        elif not want_up:
            cluster.admin(f"set server app/{name} state maint")
            cluster.wait_status(name, "MAINT")
    if back:
        time.sleep(_SLOWSTART_S + 0.5)


def _replica_run(args, cluster, c: int) -> tuple[bool, dict]:
    """The load against ``cluster``'s proxy with replicas 1..c serving; prints HAProxy's view of each."""
    pinned = "" if cluster.cpus[0] is None else f"on CPU {', '.join(map(str, cluster.cpus[:c]))} "
    before = cluster.servers()
    f, tp = _load(args, cluster.url, [p.pid for p in cluster.replicas[:c]], f"{c} replica(s) {pinned}via HAProxy, ",
                  proxy_pid=cluster.proxy.pid)
    # A replica HAProxy marked DOWN had its websockets closed: the run's throughput means nothing. (Counted over this
    # run: putting a replica in maintenance counts as one DOWN in HAProxy's own totals.)
    checks = ", ".join(f"{k} {v['status']}, {v['stot'] - before[k]['stot']} connections, "
                       f"{v['chkfail'] - before[k]['chkfail']} failed checks, {v['chkdown'] - before[k]['chkdown']}x DOWN"
                       for k, v in cluster.servers().items())
    print(f"  HAProxy during the run: {checks}", flush=True)
    return f, tp


def _neighbour_ratios(runs: list[tuple[int, dict]], key, base: int) -> list[tuple[int, float]]:
    """For each run of another count, its throughput over the mean of the ``base``-count runs just before and after
    it (one side at the ends): a host that slows down or speeds up over minutes moves both alike, where the medians
    per count compare runs minutes apart."""
    out = []
    for j, (c, tp) in enumerate(runs):
        if c == base or key not in tp:
            continue
        near = [runs[k][1][key] for k in (j - 1, j + 1)
                if 0 <= k < len(runs) and runs[k][0] == base and key in runs[k][1]]
        if near:
            out.append((c, tp[key] / statistics.mean(near)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, action="append", help="concurrent sessions (repeatable; default 10 and 50)")
    ap.add_argument("--mode", choices=("ws", "browser"), default="ws")
    ap.add_argument("--steps", type=int, default=8, help="actions per session after the first load")
    ap.add_argument("--think-s", type=float, default=0.5, help="mean pause between a session's actions")
    ap.add_argument("--action-timeout-s", type=float, default=60)
    ap.add_argument("--deadline-s", type=float, default=300, help="no new action after this many seconds")
    ap.add_argument("--url", help="an already running server or proxy (loopback only); default: start one")
    ap.add_argument("--replicas", help="comma-separated replica counts, e.g. 1,2: each runs behind HAProxy "
                                       "(deploy/replicas.py) and the throughput per count is compared")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                    help="--replicas: keep replica i on CPU i, at every count alike (deploy/replicas.py cpu_plan); "
                         "--no-pin leaves them to the scheduler")
    ap.add_argument("--fresh", action="store_true",
                    help="--replicas: start (and warm) a cluster of each count for its run; default: one cluster of "
                         "the largest count, the replicas a run does not use in HAProxy's maintenance state")
    ap.add_argument("--bench-queue", type=int, default=0, metavar="K",
                    help="also press Run benchmark in K sessions at once and check the runs queue")
    args = ap.parse_args(argv)
    ns = args.n or [10, 50]
    if max(ns) > 200 or args.steps > 100:
        raise SystemExit("at most 200 sessions and 100 steps (bounded load)")
    # Our own servers show exception text (config.toml hides it from users) so errors are diagnosable.
    os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")

    if args.replicas:
        from deploy.replicas import Cluster

        counts = [int(c) for c in args.replicas.split(",")]
        if not all(1 <= c <= 16 for c in counts) or len(counts) > 8:
            raise SystemExit("--replicas: up to 8 counts, each from 1 to 16")
        failed, by_count, runs = False, {}, []
        if args.fresh:  # each count its own cluster, started and warmed for it
            for c in counts:  # a count may repeat (1,2,1,2): its runs are interleaved with the others'
                with Cluster(c, pin=args.pin) as cluster:
                    for i in range(c):  # every replica has run every page once (imports, bytecode) before timing
                        asyncio.run(warm_up(f"http://127.0.0.1:{cluster.ports[i]}", args.action_timeout_s))
                    f, tp = _replica_run(args, cluster, c)
                    failed |= f
                    runs.append((c, tp))
        else:  # one cluster of the largest count; a run of fewer replicas puts the others in maintenance
            with Cluster(max(counts), pin=args.pin) as cluster:
                for i in range(cluster.n):
                    asyncio.run(warm_up(f"http://127.0.0.1:{cluster.ports[i]}", args.action_timeout_s))
                for c in counts:
                    _serve_with(cluster, c)
                    f, tp = _replica_run(args, cluster, c)
                    failed |= f
                    runs.append((c, tp))
        for c, tp in runs:
            for n, v in tp.items():
                by_count.setdefault(c, {}).setdefault(n, []).append(v)
        base = counts[0]
        for n in ns:
            for what, key in (("throughput", n), ("steady throughput", ("steady", n))):
                if not all(key in by_count[c] for c in by_count):
                    continue
                med = {c: statistics.median(by_count[c][key]) for c in by_count}
                ratios = ", ".join(f"{c}: {med[c]:.1f}/s = {med[c] / med[base]:.2f}x" for c in med)
                print(f"{what} with N={n} sessions by replica count (median of runs; {os.cpu_count()} CPUs): {ratios}"
                      + ("; NOT COMPARABLE: a run had errors" if failed else ""))
                if pairs := _neighbour_ratios(runs, key, base):
                    print(f"  each run against the {base}-replica run(s) beside it: "
                          + ", ".join(f"{c}: {r:.2f}x" for c, r in pairs)
                          + (f"; median {statistics.median(r for _, r in pairs):.2f}x" if len(pairs) > 1 else ""))
        return 1 if failed else 0

    proc = None
    if args.url:
        _check_loopback(args.url)
        url = args.url.rstrip("/")
    else:  # as deployed: deploy/serve.py with the replicas' environment (deploy/replicas.py), warmed up as they are
        from deploy.replicas import start_streamlit

        proc, url = start_streamlit()
        asyncio.run(warm_up(url, args.action_timeout_s))
    try:
        failed, _ = _load(args, url, [proc.pid] if proc else [], "")
        if args.bench_queue:
            lines = asyncio.run(bench_queue(url, args.bench_queue, 900))
            print("\n".join(lines), flush=True)
            failed |= "OVERLAPS" in lines[0] or "0 reported" in lines[0]
    finally:
        if proc is not None:
            from deploy.replicas import stop_process

            stop_process(proc)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
