"""The Benchmark page's queue: one run per visitor, one at a time per server, each in its own process.

The server process never imports torch and never allocates a benchmark's buffers: a run is a child process
(``python -m measure.child run``) that this module starts, reads and stops. Bounds (issue 20):

- **one run per visitor** (a browser session): a second Run while one is queued or running is refused;
- **a queue with positions**: at most ``MAX_WAITING`` runs wait; ``position`` says how many are ahead;
- **a maximum run time**: a run's own time budget is at most ``MAX_BUDGET_S``; the process is stopped at its
  budget plus ``GRACE_S`` (start-up, a last timed run), and killed ``KILL_AFTER_S`` later if it has not ended;
- **sizes bounded by free memory**: the page sizes a run with ``measure.memory_limit`` of the memory free when it
  is submitted, and the child checks again before each measurement (``watch_free_memory``);
- **a visitor who leaves** (the session ends, or nobody has looked at the run for ``ABANDON_S``) loses the run.

Stop keeps what was measured (issue 17, item 11): the child prints each measurement as it completes, and a
stopped run's report holds them. ``probe()`` asks a child once per server which backends and devices exist.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from measure import BenchConfig, BenchReport
from measure.child import config_to_dict, report_from_events

ROOT = Path(__file__).resolve().parent.parent
MAX_WAITING = 8  # runs queued behind the one that runs
MAX_BUDGET_S = 120.0  # a run's own time budget may not exceed this
GRACE_S = 30.0  # start-up (importing torch, a CUDA context) and the last timed run after the budget
KILL_AFTER_S = 5.0  # SIGTERM first (the child reports what it has), SIGKILL if it does not end
ABANDON_S = 120.0  # nobody looked at the run (the page polls every second or so; background tabs slower)
KEEP_DONE_S = 900.0  # a finished run waits this long for its visitor to look at it
MAX_LINE_BYTES = 65_536
MAX_EVENTS = 10_000
PROBE_TIMEOUT_S = 120.0

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One visitor's run. ``state`` is "queued", "running" or "done"; ``events`` are the child's JSON lines."""

    owner: str
    config: BenchConfig
    session_id: str | None = None  # the Streamlit session that asked (its end cancels the run)
    submitted_at: float = field(default_factory=time.monotonic)
    state: str = "queued"
    started_at: float | None = None
    ended_at: float | None = None
    events: list[dict] = field(default_factory=list)
    error: str | None = None
    stopped: str | None = None  # why the server ended it: "cancelled", "maximum run time", "visitor left"
    last_seen: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen | None = None
    term_sent_at: float | None = None

    @property
    def deadline_s(self) -> float:
        return min(float(self.config.time_budget_s), MAX_BUDGET_S) + GRACE_S

    def progress(self) -> tuple[int, int, str] | None:
        for e in reversed(self.events):
            if e.get("event") == "progress":
                return int(e["done"]), int(e["total"]), str(e["text"])
        return None

    def waiting_for_device_s(self) -> float | None:
        """Seconds this run has waited for another benchmark (another server or the CLI) to free the device."""
        last = self.events[-1] if self.events else {}
        return float(last["seconds"]) if last.get("event") == "wait" else None

    def report(self) -> BenchReport | None:
        return report_from_events(self.events, self.stopped)


class BenchQueue:
    """Runs in submission order, one at a time, from a dispatcher thread of this process."""

    def __init__(self, python: str = sys.executable, max_waiting: int = MAX_WAITING,
                 session_alive=None):
        self.python = python
        self.max_waiting = max_waiting
        self.session_alive = session_alive or _session_alive
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._done: dict[str, Job] = {}
        self._thread: threading.Thread | None = None

    # ----- what the page calls -----------------------------------------------------------------
    def submit(self, owner: str, config: BenchConfig, session_id: str | None = None) -> Job:
        """Queue ``config`` for ``owner`` (a visitor's key); ``ValueError`` if the owner has a run already or the
        queue is full. ``session_id``: the Streamlit session whose end cancels the run."""
        if float(config.time_budget_s) > MAX_BUDGET_S:
            raise ValueError(f"the time budget may be at most {MAX_BUDGET_S:.0f} s, got {config.time_budget_s}")
        with self._lock:
            mine = self._find(owner)
            if mine is not None and mine.state != "done":
                raise ValueError("you already have a benchmark " + ("running" if mine.state == "running" else
                                 f"waiting in the queue ({self._position(mine)} ahead of it)") +
                                 "; stop it or wait for it to finish")
            if len(self._waiting) >= self.max_waiting:
                raise ValueError(f"the benchmark queue is full ({self.max_waiting} runs waiting behind the one that "
                                 "runs); try again in a few minutes")
            self._done.pop(owner, None)
            job = Job(owner, config, session_id)
            self._waiting.append(job)
            self._ensure_thread()
        return job

    def get(self, owner: str) -> Job | None:
        """The owner's run (queued, running or done and not yet collected); marks the owner as present."""
        with self._lock:
            job = self._find(owner)
            if job is not None:
                job.last_seen = time.monotonic()
            return job

    def position(self, job: Job) -> int:
        """Runs ahead of ``job``: 0 when it runs (or ran), 1 when it is next, ..."""
        with self._lock:
            return self._position(job)

    def collect(self, owner: str) -> Job | None:
        """Hand a finished run to its owner once (None if it is not finished)."""
        with self._lock:
            job = self._done.get(owner)
            if job is not None:
                del self._done[owner]
            return job

    def cancel(self, owner: str, why: str = "cancelled") -> bool:
        """Stop the owner's run: a queued run leaves the queue, a running one is sent SIGTERM (it reports what it
        measured and ends). Returns whether there was a run to stop."""
        with self._lock:
            return self._cancel(self._find(owner), why)

    def snapshot(self) -> dict:
        """For a status line: how many run and wait."""
        with self._lock:
            return {"running": self._running is not None, "waiting": len(self._waiting)}

    # ----- internals -----------------------------------------------------------------------------
    def _find(self, owner: str) -> Job | None:
        if self._running is not None and self._running.owner == owner:
            return self._running
        for job in self._waiting:
            if job.owner == owner:
                return job
        return self._done.get(owner)

    def _position(self, job: Job) -> int:
        if job.state != "queued":
            return 0
        return (1 if self._running is not None else 0) + next(
            (i for i, j in enumerate(self._waiting) if j is job), len(self._waiting))

    def _cancel(self, job: Job | None, why: str) -> bool:
        if job is None or job.state == "done":
            return False
        if job.state == "queued":
            self._waiting.remove(job)
            self._finish(job, why)
            return True
        if job.stopped is None:
            job.stopped = why
        if job.term_sent_at is None and job.proc is not None:
            job.term_sent_at = time.monotonic()
            _signal(job.proc, signal.SIGTERM)
        return True

    def _finish(self, job: Job, stopped: str | None = None) -> None:
        job.state = "done"
        job.ended_at = time.monotonic()
        if stopped and job.stopped is None:
            job.stopped = stopped
        if self._running is job:
            self._running = None
        self._done[job.owner] = job

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._dispatch, name="bench-queue", daemon=True)
            self._thread.start()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                self._tick()
                idle = self._running is None and not self._waiting
            if idle:
                with self._lock:
                    if self._running is None and not self._waiting:
                        self._thread = None
                        return
            time.sleep(0.1)

    def _tick(self) -> None:
        now = time.monotonic()
        for owner, job in list(self._done.items()):
            if now - (job.ended_at or now) > KEEP_DONE_S:
                del self._done[owner]
        for job in list(self._waiting):
            if now - job.last_seen > ABANDON_S or not self.session_alive(job.session_id):
                self._waiting.remove(job)
                self._finish(job, "visitor left")
        job = self._running  # its reader thread finishes it once the child's output has ended
        if job is not None:
            if job.term_sent_at is not None and now - job.term_sent_at > KILL_AFTER_S:
                _signal(job.proc, signal.SIGKILL)
            elif now - (job.started_at or now) > job.deadline_s:
                self._cancel(job, "maximum run time")
            elif now - job.last_seen > ABANDON_S or not self.session_alive(job.session_id):
                self._cancel(job, "visitor left")
        if self._running is None and self._waiting:
            self._start(self._waiting.popleft())

    def _start(self, job: Job) -> None:
        job.state = "running"
        job.started_at = time.monotonic()
        self._running = job
        try:
            job.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell, arguments fixed
                [self.python, "-m", "measure.child", "run"], cwd=ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True)
        except OSError as exc:
            job.error = f"the benchmark process could not start ({exc.strerror or exc})"
            self._finish(job)
            return
        threading.Thread(target=self._feed, args=(job,), daemon=True, name="bench-stdin").start()
        threading.Thread(target=self._read, args=(job,), daemon=True, name="bench-stdout").start()
        threading.Thread(target=_drain_stderr, args=(job.proc,), daemon=True, name="bench-stderr").start()

    @staticmethod
    def _feed(job: Job) -> None:
        try:
            job.proc.stdin.write(json.dumps(config_to_dict(job.config)).encode())
            job.proc.stdin.close()
        except OSError:
            pass

    def _read(self, job: Job) -> None:
        """Read the child's events until its output ends, then finish the run (no event is lost to a race)."""
        for raw in job.proc.stdout:
            if len(raw) > MAX_LINE_BYTES:
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            with self._lock:
                if event.get("event") == "error":
                    job.error = str(event.get("message", "refused"))[:1000]
                elif len(job.events) < MAX_EVENTS:
                    if event.get("event") == "wait" and job.events and job.events[-1].get("event") == "wait":
                        job.events[-1] = event  # one line per poll while waiting: keep the latest
                    else:
                        job.events.append(event)
        code = job.proc.wait()
        with self._lock:
            if code not in (0, 2) and job.error is None and job.stopped is None:
                job.error = f"the benchmark process ended unexpectedly (exit code {code})"
            self._finish(job)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the child leads its own process group (start_new_session)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        try:
            proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass


def _drain_stderr(proc: subprocess.Popen) -> None:
    tail = b""
    for line in proc.stderr:
        tail = (tail + line)[-4000:]
    if tail.strip():
        log.warning("benchmark process stderr: %s", tail.decode("utf-8", "replace"))


def _session_alive(session_id: str | None) -> bool:
    """Whether Streamlit session ``session_id`` is still connected (True where no runtime runs, e.g. AppTest)."""
    if session_id is None:
        return True
    try:
        from streamlit.runtime import Runtime

        return not Runtime.exists() or Runtime.instance().is_active_session(session_id)
    except Exception:  # noqa: BLE001 - an internal API changed: fall back to the ABANDON_S heartbeat
        return True


# ----- one queue and one probe per server process --------------------------------------------------------------
_QUEUE: BenchQueue | None = None
_PROBE: dict | None = None
_QUEUE_LOCK = threading.Lock()
_PROBE_LOCK = threading.Lock()


def queue() -> BenchQueue:
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = BenchQueue()
        return _QUEUE


def probe(python: str = sys.executable) -> dict:
    """Backends and devices of this machine, asked of a child process once per server (``ValueError`` if it
    fails). Free memory changes: the page reads the CPU's itself; a GPU's is checked again by the run."""
    global _PROBE
    with _PROBE_LOCK:
        if _PROBE is None:
            try:
                out = subprocess.run([python, "-m", "measure.child", "probe"], cwd=ROOT,  # noqa: S603
                                     capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                raise ValueError(f"could not find out which devices this machine has ({type(exc).__name__})") \
                    from None
            try:
                found = json.loads(out.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                log.warning("benchmark probe failed (exit %s): %s", out.returncode, out.stderr[-2000:])
                raise ValueError("could not find out which devices this machine has (the probe process failed)") \
                    from None
            _PROBE = found
        return _PROBE


def reset_probe() -> None:
    """Forget the probe (tests; a server whose hardware or torch install changed)."""
    global _PROBE
    with _PROBE_LOCK:
        _PROBE = None
