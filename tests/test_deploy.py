"""Scale-out: 2 Streamlit replicas behind Debian's HAProxy on 127.0.0.1 (``deploy/replicas.py``), driven
through the proxy over Streamlit's websocket protocol (``tests/ws_client.py``).

- Every answer carries the security headers (no framing, no sniffing) and no server banner; the metrics
  and agent endpoints are not reachable through the proxy; a session learns neither the app's path, nor
  the Python version, nor an installation id, and gets no git state of the checkout.
- Sessions stay on their replica: each reconnect (as after a network blip) resumes the same server
  session, whose inputs are still there.
- Killing one replica (SIGKILL) loses no other session's state: the other replica's sessions keep their
  session and inputs; the killed replica's visitors are sent to the live one (a fresh session there) and
  the page works; HAProxy's health check marks the dead one DOWN, and back UP when it returns.
- A graceful restart: a drained replica gets no new visitors while its sessions finish; after the restart
  it takes visitors again. A proxy reload (SIGUSR2) keeps open websockets working.
- Each replica runs, every thread of it, on the CPU ``deploy/replicas.py`` gave it, a restarted one too.
- The image (deploy/Dockerfile, read as text): it copies every package the copied code imports, and keeps the
  scenarios database on a volume its user may write.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.ws_client import WsSession, run_async

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)


@pytest.fixture(scope="module")
def cluster():
    if HAPROXY is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's haproxy (.ci/run installs it)")
        pytest.skip("no haproxy on this machine (apt-get install haproxy)")
    from deploy.replicas import Cluster

    with Cluster(2, drain_s=3, pin=True) as c:
        yield c


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback)
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}


async def _visit(url: str, page: str = "compute") -> WsSession:
    """A visitor: loads the page (gets the sticky cookie), opens the websocket, goes to ``page``."""
    s = WsSession(url, timeout_s=60)
    await asyncio.to_thread(s.load_page)
    await s.open()
    _, errs = await s.rerun(page_name="")
    assert not errs, errs
    s.page_hash = next(h for h, p in s.pages if p == page)
    _, errs = await s.rerun(page_hash=s.page_hash)
    assert not errs, errs
    return s


def _first_number(s: WsSession):
    """The first number input of the page's main area (the sidebar's come first in the element list, so
    take the last one with a plain key) and its widget id."""
    numbers = [(wid, w) for wid, (et, w) in s.widgets.items() if et == "number_input"]
    assert numbers, "the page has no number input"
    wid, w = numbers[-1]
    return wid, wid.rsplit("-", 1)[-1], w


async def _set_number(s: WsSession, value: int) -> str:
    """Set the page's number input to ``value`` (as a user typing it); returns its URL key."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    wid, key, w = _first_number(s)
    state = WidgetState(id=wid)
    if w.data_type == w.INT:
        state.int_value = value
    else:
        state.double_value = float(value)
    _, errs = await s.rerun(page_hash=s.page_hash, states=[state])
    assert not errs, errs
    return key


async def _kept(s: WsSession, key: str) -> str | None:
    """Rerun with no widget states and no query string (a reconnected browser before it resends them):
    the value the page writes back to the URL comes from the server session's memory, or is the default
    if the session is new."""
    _, errs = await s.rerun(page_hash=s.page_hash, query_string="")
    assert not errs, errs
    from urllib.parse import parse_qs

    return parse_qs(s.query_string).get(key, [None])[0]


def test_headers_hidden_endpoints_and_no_install_details(cluster):
    status, headers = _get(cluster.url + "/")
    assert status == 200
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "server" not in headers  # Streamlit's "uvicorn" banner is removed
    assert headers["set-cookie"].startswith("SRV=r")
    for path in ("/_stcore/metrics", "/_stcore/metrics?x=1", "/_stcore/agent/mcp", "/_stcore/script-health-check"):
        assert _get(cluster.url + path)[0] == 404, path
    # The replica itself serves metrics (for an operator on the private address), so the 404 is the proxy's.
    assert _get(f"http://127.0.0.1:{cluster.ports[0]}/_stcore/metrics")[0] == 200

    async def session_details():
        from streamlit.proto.BackMsg_pb2 import BackMsg

        s = await _visit(cluster.url, "models")
        git = BackMsg()
        git.load_git_info = True
        await s.send(git)
        await s.rerun(page_hash=s.page_hash)  # the git answer, if any, would come before this run ends
        await s.close()
        return s

    s = run_async(session_details())
    ns = s.new_session
    assert ns.main_script_path == "app.py"
    env, user = ns.initialize.environment_info, ns.initialize.user_info
    # present and empty: the frontend reads both (tests/test_browser_deploy.py)
    assert ns.initialize.HasField("environment_info") and ns.initialize.HasField("user_info")
    assert (env.python_version, env.server_os, env.streamlit_version) == ("", "", "")
    assert (user.installation_id, user.installation_id_v3) == ("", "")
    assert "git_info_changed" not in s.kinds


def test_sessions_stay_on_their_replica_and_keep_their_inputs(cluster):
    async def scenario():
        sessions = [await _visit(cluster.url) for _ in range(4)]
        replicas = [s.cookies["SRV"] for s in sessions]
        values = [1000 + 7 * i for i in range(4)]
        keys = [await _set_number(s, v) for s, v in zip(sessions, values, strict=True)]
        ids = [s.session_id for s in sessions]
        kept = []
        for s, key in zip(sessions, keys, strict=True):
            await s.reconnect()
            kept.append(await _kept(s, key))
        resumed = [s.session_id for s in sessions]
        for s in sessions:
            await s.close()
        return replicas, values, kept, ids, resumed

    replicas, values, kept, ids, resumed = run_async(scenario())
    assert set(replicas) == {"r1", "r2"}  # new visitors are spread over both replicas
    assert resumed == ids  # every reconnect reached the replica that holds the session
    assert kept == [str(v) for v in values]


def test_killing_one_replica_loses_no_other_sessions_state(cluster):
    async def scenario():
        sessions = [await _visit(cluster.url) for _ in range(4)]
        keys = [await _set_number(s, 2000 + i) for i, s in enumerate(sessions)]
        ids = [s.session_id for s in sessions]
        cluster.kill_replica(0)
        await asyncio.to_thread(cluster.wait_status, "r1", "DOWN", 15)
        out = []
        for s, key, sid in zip(sessions, keys, ids, strict=True):
            if s.cookies["SRV"] == "r2":  # its websocket was never interrupted
                out.append(("r2", sid, s.session_id, await _kept(s, key)))
                continue
            # The killed replica's visitor: the browser reconnects; the proxy sends it to r2.
            await s.close()
            await s.open(resume=sid)
            _, errs = await s.rerun(page_hash=s.page_hash)
            assert not errs, errs
            out.append(("r1", sid, s.session_id, None))
        for s in sessions:
            await s.close()
        return out

    try:
        out = run_async(scenario())
        survivors = [o for o in out if o[0] == "r2"]
        moved = [o for o in out if o[0] == "r1"]
        assert survivors and moved, out
        for _, sid, now, value in survivors:
            assert now == sid and value is not None and int(value) >= 2000
        for _, sid, now, _ in moved:
            assert now and now != sid  # a new session on the live replica, the page rendered without error
        fresh = WsSession(cluster.url, 30)
        fresh.load_page()
        assert fresh.cookies["SRV"] == "r2"  # new visitors go to the live replica only
    finally:
        cluster.start_replica(0)
        cluster.wait_up("r1")


def test_graceful_restart_drains_and_proxy_reload_keeps_websockets(cluster):
    async def open_on(replica: str) -> WsSession:
        for _ in range(6):
            s = await _visit(cluster.url)
            if s.cookies["SRV"] == replica:
                return s
            await s.close()
        raise AssertionError(f"no new visitor reached {replica}")

    async def scenario():
        a, b = await open_on("r1"), await open_on("r2")
        key_b = await _set_number(b, 3141)
        restart = threading.Thread(target=cluster.restart_replica, args=(0,))
        restart.start()
        await asyncio.to_thread(cluster.wait_status, "r1", "DRAIN", 10)
        during = WsSession(cluster.url, 30)
        await asyncio.to_thread(during.load_page)
        _, errs = await a.rerun(page_hash=a.page_hash)  # a draining replica still serves its own sessions
        assert not errs, errs
        await a.close()
        await asyncio.to_thread(restart.join, 120)
        assert not restart.is_alive()
        cluster.reload_proxy()
        kept_b = await _kept(b, key_b)  # b's websocket was opened before the reload
        await b.close()
        after = [await _visit(cluster.url) for _ in range(2)]
        replicas_after = {s.cookies["SRV"] for s in after}
        for s in after:
            await s.close()
        return during.cookies["SRV"], kept_b, replicas_after

    t0 = time.monotonic()
    during, kept_b, after = run_async(scenario())
    assert during == "r2"  # no new visitor for the draining replica
    assert kept_b == "3141"
    assert after == {"r1", "r2"}  # the restarted replica takes visitors again
    assert cluster.servers()["r1"]["status"] == "UP"
    assert time.monotonic() - t0 < 120


def _threads_cpus(pid: int) -> set[str]:
    """Each thread's allowed CPUs as the kernel lists them (``Cpus_allowed_list`` of /proc/<pid>/task/*/status)."""
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                out |= {line.split(":", 1)[1].strip() for line in f if line.startswith("Cpus_allowed_list:")}
        except OSError:  # a thread that ended meanwhile
            pass
    return out


def test_each_replica_runs_on_its_own_cpu(cluster):
    """Replica i is kept on the i-th CPU this process may use (``pin=True``), every thread of it (Streamlit's script
    threads start after the pin, and inherit it), replica r1 after its graceful restart above as well; with one CPU,
    both on it. The test process itself is left as it was."""
    allowed = sorted(os.sched_getaffinity(0))
    assert cluster.cpus == [allowed[0], allowed[1 % len(allowed)]]
    for i, proc in enumerate(cluster.replicas):
        threads = _threads_cpus(proc.pid)
        assert threads == {str(allowed[i % len(allowed)])}, (i, threads)
        assert len(os.listdir(f"/proc/{proc.pid}/task")) > 2  # Streamlit's threads were started, and are pinned too
    assert sorted(os.sched_getaffinity(0)) == allowed


def test_one_replica_that_stalls_keeps_every_session():
    """One replica behind the proxy, 8 sessions at once, and the replica stalls for 6 s (SIGSTOP, then
    SIGCONT) while their reruns wait: as a busy server does, whose health answer is late (measured up to
    2.7 s with 50 sessions on 2 cores, bench/load.py). HAProxy must not take its only replica for dead and
    close every websocket: with a 1 s check timeout and fall 2 it did, and ``bench/load.py -n 50
    --replicas 1`` lost all 50 sessions ("no close frame received or sent"). A crashed replica is still
    marked DOWN within seconds (its port refuses connections), as the test above holds."""
    if HAPROXY is None:
        pytest.skip("no haproxy on this machine (apt-get install haproxy)")
    import signal

    from deploy.replicas import Cluster

    async def scenario(cluster):
        sessions = await asyncio.gather(*(_visit(cluster.url) for _ in range(8)))
        ids = [s.session_id for s in sessions]
        values = [4000 + i for i in range(8)]
        keys = await asyncio.gather(*(_set_number(s, v) for s, v in zip(sessions, values, strict=True)))
        pid = cluster.replicas[0].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            waiting = asyncio.gather(*(s.rerun(page_hash=s.page_hash) for s in sessions))
            await asyncio.sleep(6)
        finally:
            os.kill(pid, signal.SIGCONT)
        errors = [e for _, errs in await waiting for e in errs]
        kept = await asyncio.gather(*(_kept(s, k) for s, k in zip(sessions, keys, strict=True)))
        now = [s.session_id for s in sessions]
        for s in sessions:
            await s.close()
        return ids, now, values, kept, errors

    with Cluster(1, drain_s=3) as cluster:
        ids, now, values, kept, errors = run_async(scenario(cluster))
        state = cluster.servers()["r1"]
    assert not errors, errors
    assert now == ids  # the same server sessions, over the same websockets
    assert kept == [str(v) for v in values]
    # Never marked DOWN; one check may have timed out during the stall ("UP 2/3" until the next good one).
    assert state["chkdown"] == 0 and state["status"].startswith("UP"), state


# ----- the image (deploy/Dockerfile): checked from its text, no Docker daemon needed -----------------------------

def _dockerfile() -> str:
    from deploy.replicas import ROOT

    return (ROOT / "deploy" / "Dockerfile").read_text()


def test_image_copies_every_package_the_app_imports():
    """The image holds only the folders the Dockerfile copies; every package of the repository that their code
    imports (at any depth, lazily inside a function too) must be one of them. hub/ and store/ were missing: every
    page imports ui/results.py, which imports store/, so no page ran in the image."""
    import ast
    import re

    from deploy.replicas import ROOT

    copied = set(re.findall(r"^COPY (\S+) \S+$", _dockerfile(), re.M)) - {"requirements.txt"}
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {p.stem for p in ROOT.glob("*.py")}
    missing = {}
    for entry in copied:
        path = ROOT / entry
        for f in [path] if path.suffix == ".py" else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names} & local:
                    if top not in copied and f"{top}.py" not in copied:
                        missing.setdefault(top, str(f.relative_to(ROOT)))
    assert not missing, f"imported but not copied into the image: {missing}"
    assert {"app.py", "app_pages", "calc", "ui", "hub", "store", "deploy"} <= copied


def test_image_keeps_scenarios_on_a_volume_the_app_user_may_write(monkeypatch):
    """The scenarios database's default (data/ beside the code) is read-only to the image's user: the image's
    CALC_SCENARIOS_DB, resolved by store/scenarios.py itself, must name a file in a VOLUME owned by that user."""
    import re
    from pathlib import PurePosixPath

    import sqlalchemy as sa

    from store import scenarios

    text = _dockerfile()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", text, re.M))))
    monkeypatch.setenv(scenarios.ENV, env[scenarios.ENV])
    db = PurePosixPath(sa.engine.make_url(scenarios.database_url()).database)
    user = re.search(r"^USER (\S+)$", text, re.M).group(1)
    volumes = {PurePosixPath(v) for v in re.findall(r"^VOLUME (\S+)$", text, re.M)}
    assert db.is_absolute() and db.parent in volumes, db
    assert re.search(rf"chown {user} {db.parent}\b", text), f"{db.parent} is not made the app user's"


def _bench_load():
    """bench/load.py as a module (bench/ is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    if (mod := sys.modules.get("bench_load")) is not None:
        return mod
    spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parent.parent / "bench" / "load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_the_load_bench_serves_with_fewer_replicas_through_maintenance(cluster):
    """``bench/load.py --replicas 1,2,...`` runs one cluster and puts the replicas a run does not use in maintenance:
    every new visitor then lands on r1 (its sticky cookie says so), and once r2 is back both take visitors."""
    load = _bench_load()

    async def cookies(k: int) -> list[str]:
        sessions = [await _visit(cluster.url) for _ in range(k)]
        try:
            return [s.cookies.get("SRV") for s in sessions]
        finally:
            for s in sessions:
                await s.close()

    try:
        load._serve_with(cluster, 1)
        assert cluster.servers()["r2"]["status"] == "MAINT"
        assert run_async(cookies(4)) == ["r1"] * 4
        load._serve_with(cluster, 2)
        assert cluster.servers()["r2"]["status"] == "UP"
        both = run_async(cookies(6))
        assert set(both) == {"r1", "r2"}, both
    finally:
        cluster.admin("set server app/r2 state ready")
        cluster.wait_up("r2")


def test_the_load_bench_compares_each_run_with_the_runs_beside_it():
    load = _bench_load()
    runs = [(1, {"t": 100.0}), (2, {"t": 180.0}), (1, {"t": 80.0}), (2, {"t": 170.0}), (1, {"t": 90.0}), (2, {})]
    # 180 / mean(100, 80) = 2.0; 170 / mean(80, 90) = 2.0; the last run has no figure
    assert load._neighbour_ratios(runs, "t", 1) == [(2, 2.0), (2, 2.0)]
    assert load._neighbour_ratios([(2, {"t": 150.0}), (1, {"t": 100.0})], "t", 1) == [(2, 1.5)]  # one side at an end
    assert load._neighbour_ratios([(1, {"t": 100.0}), (1, {"t": 90.0})], "t", 1) == []
