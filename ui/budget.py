"""Server time per page run: a budget with a clear message past it, and a fair share for every visitor.

Streamlit runs every session's page in a thread of one process, so a page whose inputs ask for a lot of work
(a 1,000-layer, 65,536-expert config took 62 s; issue 20) held the interpreter and slowed every other visitor
from 2.1 s to 15.8 s. The calculations are bounded by design (per distinct layer kind, never layers x experts);
this module is the safety net around whatever a page still does. ``app.py`` runs each page inside :func:`guard`:

1. **Budget.** A page run may use ``CPU_BUDGET_S`` seconds of its thread's CPU time (``pthread_getcpuclockid``:
   time spent waiting for the interpreter, the network or the benchmark's child process does not count).
   Past it, a watchdog thread asks the interpreter to raise :class:`PageBudgetExceeded` in the page's thread
   (``PyThreadState_SetAsyncExc``, the mechanism behind ``KeyboardInterrupt`` in threads). An exception that
   can arrive between any two bytecodes is only safe where nothing shared is half updated, so it is asked for
   only while the page's innermost Python frame is in our own pure code (``calc/``, ``app_pages/``, ``ui/`` but
   not this module or ``ui/memo.py``'s shared cache; never Streamlit, SQLAlchemy, ``hub/`` or ``measure/``):
   a page busy elsewhere is asked at its next step there. A request the interpreter lost (delivered inside a
   ``__del__`` or weakref callback, which print and drop it) is repeated every ``REFIRE_S``. The page shows
   what it had drawn and an error naming the limit.
2. **Heavy sessions wait their turn.** A session whose recent server time (exponentially decayed, half-life
   ``HALF_LIFE_S``) passes ``HEAVY_SESSION_CPU_S``, or one of whose runs passes ``HEAVY_RUN_CPU_S``, is
   *heavy*: its runs go one at a time (one gate for all heavy sessions), start once no light session's run
   is going, and while one is going wait at each element they draw (``_pausing``), so a light visitor shares
   the interpreter with at most one heavy run, and only between its elements (``bench/bench_hostile.py``). A light run that turns heavy mid-way is restarted in heavy mode (``st.rerun``).
   (A profile hook that made heavy runs sleep while light ones ran was tried: any exception leaving a profile
   hook, one set from outside included, left CPython 3.11's thread looping at its next function entry.)
3. The run's CPU time is added to the session's record, however the run ends (``st.rerun``, ``st.switch_page``
   and ``st.stop`` end a run by an exception too).

Light runs pay nothing per step. The watchdog looks at a run only when its CPU clock could have reached a
threshold (CPU time grows at most as fast as wall time), at least ``POLL_S`` apart: about once a second
under load rather than every ``POLL_S``.
Fragment reruns (``st.fragment``) do not run ``app.py`` and so are not guarded: keep fragments small, or run their
body through :func:`guard_fragment`.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

CPU_BUDGET_S = float(os.environ.get("CALC_PAGE_CPU_BUDGET_S", "8"))
HEAVY_RUN_CPU_S = 1.0  # the heaviest page needs about 0.06 s per rerun (bench/bench_pages.py)
HEAVY_SESSION_CPU_S = 1.5  # a visitor rerunning a 60 ms page every 2 s stays near 0.9 s
HALF_LIFE_S = 20.0
YIELD_S = 0.005  # a heavy run waiting for its turn looks again after this long ...
HEAVY_WAIT_S = 10.0  # ... and waits at most this long for the heavy runs' gate, then for light runs to end
POLL_S = 0.02  # the shortest wait between two looks of the watchdog
REFIRE_S = 0.25  # a stop request not acted on is repeated after this long

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Where a stop may be raised: our own code that holds no shared state between two of its bytecodes.
SAFE_DIRS = tuple(os.path.join(_ROOT, d) + os.sep for d in ("calc", "app_pages", "ui"))
UNSAFE_FILES = frozenset(os.path.join(_ROOT, "ui", f) for f in ("budget.py", "memo.py"))


class PageBudgetExceeded(BaseException):  # noqa: N818 - not an Exception: a page's ``except Exception`` must not eat it
    """The page run used its server-time budget."""


class BecameHeavy(BaseException):  # noqa: N818
    """A light session's run passed ``HEAVY_RUN_CPU_S``: it is restarted in heavy mode."""


@dataclass
class _Run:
    tid: int
    clock: Callable[[], float]
    start: float
    budget_s: float
    heavy: bool
    fired: type[BaseException] | None = None
    fired_at: float = -math.inf  # the run's CPU seconds when a stop was last asked for (none yet)
    ended: bool = False


_LOCK = threading.Lock()
_RUNS: dict[int, _Run] = {}
_LIGHT = [0]  # light runs going now (a list: read without the lock)
_HEAVY_GATE = threading.Lock()
_WATCHDOG: threading.Thread | None = None
_WAKE = threading.Condition(_LOCK)  # the watchdog waits on it; ``limit`` notifies it
_WAKE_AT = math.inf  # monotonic time of the watchdog's next planned look (inf: none, no run going)


def thread_cpu_clock(tid: int | None = None) -> Callable[[], float]:
    """Seconds of CPU time of thread ``tid`` (default: the calling thread), readable from any thread; wall time
    where per-thread clocks are not available."""
    tid = threading.get_ident() if tid is None else tid
    try:
        clk = time.pthread_getcpuclockid(tid)
        time.clock_gettime(clk)
    except (AttributeError, OSError):
        return time.monotonic
    return lambda: time.clock_gettime(clk)


def _raise_in(tid: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


def safe_point(frame) -> bool:
    """Whether an exception may be raised in the thread whose innermost Python frame is ``frame``."""
    name = frame.f_code.co_filename if frame is not None else ""
    return name.startswith(SAFE_DIRS) and name not in UNSAFE_FILES


def _due(run: _Run, used: float) -> float:
    """Wall seconds before ``run`` may need the watchdog again, having used ``used`` CPU seconds. A thread's CPU
    clock advances at most one second per second of wall time, so a run ``t`` CPU seconds below its next
    threshold cannot cross it in less than ``t`` seconds: until then there is nothing to look at."""
    if run.fired is None:
        threshold = run.budget_s if run.heavy else min(run.budget_s, HEAVY_RUN_CPU_S)
        return max(POLL_S, threshold - used)
    if run.fired_at == -math.inf:  # decided but not raised yet: the page was not in safe code
        return POLL_S
    return max(POLL_S, REFIRE_S - (used - run.fired_at))


def _check(run: _Run, frames: Callable[[], dict]) -> float:
    """Stop ``run`` if it is past a threshold and in safe code (``frames()``: every thread's innermost frame,
    read only then); returns the wall seconds until it needs looking at again (``_due``)."""
    used = run.clock() - run.start
    if run.fired is None:
        if used > run.budget_s:
            run.fired = PageBudgetExceeded
        elif not run.heavy and used > HEAVY_RUN_CPU_S:
            run.fired = BecameHeavy
        else:
            return _due(run, used)
    elif used - run.fired_at < REFIRE_S:
        return _due(run, used)
    if safe_point(frames().get(run.tid)):
        run.fired_at = used
        _raise_in(run.tid, run.fired)
    return _due(run, used)


def _watch() -> None:
    """Looks at the runs only when one of them could have crossed a threshold (``_due``), and sleeps while no
    run is going; ``limit`` wakes it when a new run's first threshold comes before the planned look. Polling
    every ``POLL_S`` whatever the runs' CPU woke the watchdog 50 times a second, each wake taking the
    interpreter from a page and reading every running page's clock and ``sys._current_frames()`` (issue 18)."""
    global _WAKE_AT
    with _WAKE:
        while True:
            now = time.monotonic()
            frames: dict | None = None

            def current() -> dict:
                nonlocal frames
                if frames is None:
                    frames = sys._current_frames()
                return frames

            wait = min((_check(run, current) for run in list(_RUNS.values())), default=math.inf)
            frames = None
            _WAKE_AT = now + wait
            _WAKE.wait(None if wait == math.inf else wait)


def _ensure_watchdog() -> None:
    global _WATCHDOG
    if _WATCHDOG is None or not _WATCHDOG.is_alive():
        _WATCHDOG = threading.Thread(target=_watch, name="page-budget", daemon=True)
        _WATCHDOG.start()


def _admit_heavy() -> bool:
    """Wait for the heavy runs' turn: one heavy run at a time, started once no light run is going (each wait
    at most ``HEAVY_WAIT_S``). Returns whether the gate was taken (to be released by the caller)."""
    took = _HEAVY_GATE.acquire(timeout=HEAVY_WAIT_S)
    deadline = time.monotonic() + HEAVY_WAIT_S
    while _LIGHT[0] and time.monotonic() < deadline:
        time.sleep(YIELD_S)
    return took


MAX_PAUSE_S = 0.5  # the longest a heavy run waits at one element for light runs to end


def _pausing(enqueue: Callable) -> Callable:
    """``enqueue`` (a ScriptRunContext's, called at every element a page draws) that first waits while a light
    run is going, at most ``MAX_PAUSE_S``: a heavy run already going steps aside at its next element."""
    def wrapped(msg):
        if _LIGHT[0]:
            deadline = time.monotonic() + MAX_PAUSE_S
            while _LIGHT[0] and time.monotonic() < deadline:
                time.sleep(YIELD_S / 5)
        return enqueue(msg)

    return wrapped


@contextmanager
def _yield_at_elements():
    """While the block runs, the current script run's elements wait for light runs (``_pausing``)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    original = getattr(ctx, "_enqueue", None)
    if original is None:
        yield
        return
    ctx._enqueue = _pausing(original)
    try:
        yield
    finally:
        ctx._enqueue = original


def _end(run: _Run) -> None:
    """Forget ``run`` and withdraw a stop asked for but not raised yet (idempotent). Under the lock the watchdog
    holds while it asks, so once this returns no stop for this run can arrive."""
    with _LOCK:
        if run.ended:
            return
        _RUNS.pop(run.tid, None)
        if not run.heavy:
            _LIGHT[0] -= 1
        if run.fired is not None:
            _raise_in(run.tid, None)
        run.ended = True


@contextmanager
def limit(budget_s: float = CPU_BUDGET_S, heavy: bool = False):
    """Hold the calling thread to ``budget_s`` seconds of CPU time; a ``heavy`` run yields to light ones.

    Yields a function returning the CPU seconds used so far. Raises ``PageBudgetExceeded`` (past the budget) or,
    for a light run, ``BecameHeavy`` (past ``HEAVY_RUN_CPU_S``) inside the block. Nothing is raised after the
    block ends, and the bookkeeping is undone however the block ends.
    """
    tid = threading.get_ident()
    clock = thread_cpu_clock(tid)
    gate = _admit_heavy() if heavy else False
    run = _Run(tid, clock, clock(), float(budget_s), heavy)
    with _LOCK:
        _ensure_watchdog()
        if tid in _RUNS:
            raise RuntimeError("limit() does not nest in one thread")
        _RUNS[tid] = run
        if not heavy:
            _LIGHT[0] += 1
        if time.monotonic() + _due(run, 0.0) < _WAKE_AT:
            _WAKE.notify()
    ok = False
    try:
        yield lambda: clock() - run.start
        ok = True
    finally:
        late: BaseException | None = None
        while not run.ended:  # a stop may still arrive until _end has run: catch it, finish, then raise it
            try:
                _end(run)
            except (PageBudgetExceeded, BecameHeavy) as exc:
                late = exc
        if gate:
            _HEAVY_GATE.release()
        if late is not None and ok:
            raise late  # the block had ended normally: report the stop that came as it ended


def active() -> bool:
    """Whether the calling thread runs under ``limit`` now (a page run inside ``guard``)."""
    return threading.get_ident() in _RUNS


# ----- per session ---------------------------------------------------------------------------------
USAGE = "_server_cpu"  # session_state: (decayed CPU seconds, monotonic time of the value)
HEAVY_UNTIL = "_heavy_until"


def decayed(usage: tuple[float, float] | None, now: float) -> float:
    """A session's recent CPU seconds: each past second of CPU counts half after ``HALF_LIFE_S``."""
    if not usage:
        return 0.0
    value, at = usage
    return value * math.exp(-math.log(2) * max(0.0, now - at) / HALF_LIFE_S)


def is_heavy(state, now: float) -> bool:
    return decayed(state.get(USAGE), now) > HEAVY_SESSION_CPU_S or state.get(HEAVY_UNTIL, 0.0) > now


def guard_fragment(body: Callable[[], None]) -> None:
    """Run an ``st.fragment``'s ``body`` under :func:`guard` when the fragment reruns on its own (``app.py``'s guard
    does not run then); inside a page run, which that guard already holds (``limit`` does not nest), just run it."""
    if active():
        body()
    else:
        guard(body)


def guard(page: Callable[[], None], state=None, budget_s: float | None = None) -> None:
    """Run ``page`` (``nav.run``) under the budget for this session (``state``: ``st.session_state``).

    Past the budget: ``st.error`` naming it (what the page drew stays). A light session's run that turns heavy
    is marked and restarted (``st.rerun``) in heavy mode.
    """
    import streamlit as st

    state = st.session_state if state is None else state
    budget_s = CPU_BUDGET_S if budget_s is None else budget_s
    heavy = is_heavy(state, time.monotonic())
    used = 0.0
    try:
        with limit(budget_s, heavy) as spent, (_yield_at_elements() if heavy else nullcontext()):
            try:
                page()
            finally:
                used = spent()
    except PageBudgetExceeded:
        st.error(f"This page stopped after {used:.1f} s of server time, the most one page run may use "
                 f"({budget_s:g} s). Its inputs ask for more work than the server gives one visitor at a time; "
                 "smaller inputs (fewer layers or experts, a shorter sweep, a smaller file) will answer.")
    except BecameHeavy:
        state[HEAVY_UNTIL] = time.monotonic() + HALF_LIFE_S
        st.rerun()
    finally:
        now = time.monotonic()
        state[USAGE] = (decayed(state.get(USAGE), now) + used, now)
