"""One benchmark per device at a time, however many users press Run.

Streamlit serves every browser session from threads of one process, so a module-level
``threading.Lock`` per device serializes them; an ``fcntl.flock`` on a file in the temp directory
does the same between server processes on one machine (the kernel drops it if a process dies).
Where ``fcntl`` is missing (Windows) or the lock file cannot be opened, only the thread lock holds.

Waiters poll: every ``poll_s`` they call ``on_wait(seconds_waited)`` (the page shows "another
benchmark is running, waiting..." and Streamlit can interrupt the script there), check ``cancel``
and the ``timeout_s``.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_REGISTRY = threading.Lock()
_THREAD_LOCKS: dict[str, threading.Lock] = {}


class Cancelled(Exception):
    """The user stopped the benchmark (or stopped waiting for the device)."""


def lock_path(key: str, lock_dir: str | os.PathLike | None = None) -> Path:
    """The lock file for device ``key`` (``cuda:0``, ``cpu``): one per device and machine."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:64] or "device"
    return Path(lock_dir or tempfile.gettempdir()) / f"gpu-calc-bench-{safe}.lock"


def _thread_lock(key: str) -> threading.Lock:
    with _REGISTRY:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def is_busy(key: str) -> bool:
    """Whether a benchmark of this process holds ``key`` now (other processes are not seen)."""
    return _thread_lock(key).locked()


def _wait(try_acquire: Callable[[], bool], start: float, on_wait, cancel, timeout_s, poll_s) -> None:
    while not try_acquire():
        waited = time.monotonic() - start
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for the device")
        if timeout_s is not None and waited >= timeout_s:
            raise TimeoutError(f"another benchmark held the device for more than {timeout_s:.0f} s")
        if on_wait is not None:
            on_wait(waited)
        time.sleep(poll_s)


@contextmanager
def device_lock(key: str, *, on_wait: Callable[[float], None] | None = None,
                cancel: threading.Event | None = None, timeout_s: float | None = None,
                poll_s: float = 0.1, lock_dir: str | os.PathLike | None = None) -> Iterator[float]:
    """Hold device ``key`` for the ``with`` block; yields the seconds spent waiting for it."""
    start = time.monotonic()
    tlock = _thread_lock(key)
    _wait(lambda: tlock.acquire(blocking=False), start, on_wait, cancel, timeout_s, poll_s)
    fd = None
    try:
        if fcntl is not None:
            try:
                fd = os.open(lock_path(key, lock_dir), os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:
                fd = None  # e.g. a lock file another user owns: the thread lock still holds
        if fd is not None:
            _wait(lambda: _try_flock(fd), start, on_wait, cancel, timeout_s, poll_s)
        yield time.monotonic() - start
    finally:
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock
        tlock.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
