"""N Streamlit replicas behind HAProxy, on one machine or in one container.

    python deploy/replicas.py --replicas 2 --bind 127.0.0.1:8080     # then open http://127.0.0.1:8080

Each replica is ``deploy/serve.py`` (Streamlit without install details) on a free port of 127.0.0.1,
reachable only through the proxy; HAProxy (``deploy/haproxy.cfg``) keeps each session on its replica
(SRV cookie), passes websockets, health-checks every replica each second, drops a dead one and sends
its visitors elsewhere, and adds security headers. The replicas share one cookie secret, so a visitor
moved to another replica keeps a valid XSRF cookie (uploads keep working).

Signals to this process: HUP restarts the replicas one at a time, gracefully (HAProxy stops sending
new visitors to it, its sessions get up to ``--drain-s`` to leave, then it is stopped, started again,
checked healthy and put back); USR2 reloads HAProxy without dropping open websockets; INT or TERM stop
everything. The number of replicas that helps is about the number of CPU cores: a Streamlit process
runs Python scripts on one core at a time.

``tests/test_deploy.py`` and ``bench/load.py --replicas`` use the ``Cluster`` class directly.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
SERVE = ROOT / "deploy" / "serve.py"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 60, path: str = "/_stcore/health") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + path, timeout=2) as r:  # noqa: S310 (loopback URL we built)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}{path} did not answer within {timeout_s:.0f} s")


def start_streamlit(script: Path = ROOT / "app.py", port: int | None = None, address: str = "127.0.0.1",
                    extra_args=(), env: dict | None = None, log=subprocess.DEVNULL,
                    timeout_s: float = 60) -> tuple[subprocess.Popen, str]:
    """One hardened Streamlit server (``deploy/serve.py``) with the repository's config.toml; waits until
    it answers its health check and returns ``(process, url)``."""
    port = port or free_port(address)
    # Streamlit runs every script run in a thread of its own, and glibc gives threads their own malloc arenas
    # (up to 8 per core) whose freed memory stays scattered. Two arenas (M_ARENA_MAX, glibc mallopt(3)):
    # bench/soak.py from a cold server, 289 -> 271 MiB after 1,000 reruns and 293 -> 286 MiB after 3,000.
    env = dict(os.environ if env is None else env)
    env.setdefault("MALLOC_ARENA_MAX", "2")
    proc = subprocess.Popen(  # noqa: S603 (our interpreter, our script, our options)
        [sys.executable, str(SERVE), str(script), "--server.headless=true", f"--server.port={port}",
         f"--server.address={address}", *extra_args],
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )
    url = f"http://{address}:{port}"
    try:
        wait_healthy(url, timeout_s)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc, url


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


def cpu_plan(n: int, pin: bool | None = None, allowed: set[int] | None = None) -> list[int | None]:
    """The CPU each of ``n`` replicas is kept on (``deploy/serve.py``'s ``pin_cpus``), or None for each when they
    are left to the scheduler. ``pin`` True: replica i on the i-th CPU this process may use (round robin past the
    last); False: none pinned; None (the default): pinned only when there is one replica per CPU this process may use
    (the default ``--replicas``), the only case where the CPUs are known to be the deployment's own to split. A
    container limited by a CPU quota rather than a CPU set sees every CPU of its host, and pinning there could put
    the replicas of several containers on the same few cores."""
    try:
        cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    except AttributeError:  # not Linux: nothing to pin with
        return [None] * n
    if pin is False or not cpus or (pin is None and n != len(cpus)):
        return [None] * n
    return [cpus[i % len(cpus)] for i in range(n)]


class Cluster:
    """``n`` replicas of ``app`` and one HAProxy in master-worker mode, all children of this process."""

    def __init__(self, n: int = 2, bind: str = "127.0.0.1:0", app: Path = ROOT / "app.py", drain_s: float = 30,
                 extra_args=(), log_dir: Path | None = None, pin: bool | None = None):
        if not 1 <= n <= 64:
            raise ValueError(f"replicas must be 1..64, got {n}")
        self.cpus = cpu_plan(n, pin)  # the CPU each replica is kept on (``CALC_CPUS``), or None for each
        host, _, port = bind.rpartition(":")
        self.bind = f"{host or '127.0.0.1'}:{int(port) or free_port(host or '127.0.0.1')}"
        self.n, self.app, self.drain_s, self.extra_args = n, Path(app), drain_s, tuple(extra_args)
        self.run_dir = Path(tempfile.mkdtemp(prefix="calc-replicas-"))
        self.log_dir = Path(log_dir) if log_dir else self.run_dir
        self.env = dict(os.environ, STREAMLIT_SERVER_COOKIE_SECRET=secrets.token_hex(32))
        self.ports = [free_port() for _ in range(n)]
        self.replicas: list[subprocess.Popen | None] = [None] * n
        self.proxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host, port = self.bind.rsplit(":", 1)
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104 (a name, not a bind)

    def name(self, i: int) -> str:
        return f"r{i + 1}"

    # --- replicas ---
    def start_replica(self, i: int) -> None:
        log = open(self.log_dir / f"{self.name(i)}.log", "ab")  # noqa: SIM115 (the child keeps it)
        env = self.env if self.cpus[i] is None else dict(self.env, CALC_CPUS=str(self.cpus[i]))
        self.replicas[i], _ = start_streamlit(self.app, self.ports[i], extra_args=self.extra_args, env=env, log=log)
        log.close()

    def kill_replica(self, i: int) -> None:
        """SIGKILL, as a crash would."""
        stop_process(self.replicas[i], signal.SIGKILL)

    def restart_replica(self, i: int) -> None:
        """Drain (no new sessions; open ones may finish within drain_s), stop, start, check, put back."""
        name = self.name(i)
        self.admin(f"set server app/{name} state drain")
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and self.servers()[name]["scur"] > 0:
            time.sleep(0.5)
        stop_process(self.replicas[i])
        self.start_replica(i)
        self.admin(f"set server app/{name} state ready")
        self.wait_up(name)

    def rolling_restart(self) -> None:
        for i in range(self.n):
            self.restart_replica(i)

    # --- proxy ---
    def _write_servers(self) -> Path:
        lines = ["backend app"] + [f"    server {self.name(i)} 127.0.0.1:{p} cookie {self.name(i)} check"
                                   for i, p in enumerate(self.ports)]
        path = self.run_dir / "servers.cfg"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start_proxy(self) -> None:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        env = dict(self.env, PROXY_BIND=self.bind, HAPROXY_RUN=str(self.run_dir))
        log = open(self.log_dir / "haproxy.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proxy = subprocess.Popen(  # noqa: S603 (the system haproxy, our config files)
            [haproxy, "-W", "-f", str(HAPROXY_CFG), "-f", str(self._write_servers())],
            cwd=ROOT, env=env, stdout=log, stderr=log)
        log.close()
        wait_healthy(self.url, 30, "/_proxy/health")
        for i in range(self.n):
            self.wait_up(self.name(i))

    def reload_proxy(self) -> None:
        """HAProxy's graceful reload: new workers take new connections, old ones keep their websockets."""
        self.proxy.send_signal(signal.SIGUSR2)
        time.sleep(0.5)
        wait_healthy(self.url, 30, "/_proxy/health")

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.run_dir / "admin.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict]:
        """HAProxy's view of each replica: status (UP, DOWN, DRAIN, ...), scur (open sessions), stot, chkfail
        (failed health checks) and chkdown (times marked DOWN)."""
        text = self.admin("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: {"status": r["status"], "scur": int(r["scur"] or 0), "stot": int(r["stot"] or 0),
                              "chkfail": int(r["chkfail"] or 0), "chkdown": int(r["chkdown"] or 0)}
                for r in rows if r["pxname"] == "app" and r["svname"] not in ("FRONTEND", "BACKEND")}

    def wait_up(self, name: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.servers()[name]["status"] == "UP":  # not "UP 1/2" (going down) nor "DRAIN"
                return
            time.sleep(0.2)
        raise RuntimeError(f"HAProxy did not see {name} up within {timeout_s:.0f} s")

    def wait_status(self, name: str, prefix: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.servers()[name]["status"].startswith(prefix):
                return
            time.sleep(0.2)
        raise RuntimeError(f"HAProxy did not see {name} {prefix} within {timeout_s:.0f} s")

    # --- whole ---
    def start(self) -> Cluster:
        try:
            for i in range(self.n):
                self.start_replica(i)
            self.start_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.proxy)
        for p in self.replicas:
            stop_process(p)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=max(1, os.cpu_count() or 1),
                    help="Streamlit processes (default: one per CPU core)")
    ap.add_argument("--bind", default="127.0.0.1:8080", help="address:port visitors reach (0.0.0.0:8080 in Docker)")
    ap.add_argument("--drain-s", type=float, default=30, help="graceful restart: wait this long for sessions to leave")
    ap.add_argument("--log-dir", type=Path, help="replica and HAProxy logs (default: a temporary folder)")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                    help="keep replica i on CPU i (default: only when there is one replica per CPU)")
    args = ap.parse_args(argv)
    if not 1 <= args.replicas <= 64:
        print(f"error: --replicas must be 1..64, got {args.replicas}", file=sys.stderr)
        return 2
    cluster = Cluster(args.replicas, args.bind, drain_s=args.drain_s, log_dir=args.log_dir, pin=args.pin)
    pending: list[int] = []
    for sig in (signal.SIGHUP, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: pending.append(s))
    cluster.start()
    pinned = "" if cluster.cpus[0] is None else f", each on a CPU of its own ({', '.join(map(str, cluster.cpus))})"
    print(f"{args.replicas} replicas behind HAProxy at {cluster.url}{pinned} (HUP: rolling restart, USR2: reload "
          f"proxy, INT/TERM: stop)", flush=True)
    try:
        while True:
            time.sleep(1)  # a signal handler only records the signal; it is acted on here
            sig = pending.pop(0) if pending else None
            if sig in (signal.SIGINT, signal.SIGTERM):
                break
            if sig == signal.SIGHUP:
                cluster.rolling_restart()
                print("rolling restart done", flush=True)
            elif sig == signal.SIGUSR2:
                cluster.reload_proxy()
                print("proxy reloaded", flush=True)
            for i, p in enumerate(cluster.replicas):  # a crashed replica comes back (HAProxy skips it meanwhile)
                if p is not None and p.poll() is not None:
                    cluster.start_replica(i)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
