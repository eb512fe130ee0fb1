"""The server's long-lived objects moved out of the garbage collector's way (``gc.freeze``) once they exist (issue 18).

Why: with Streamlit's post-script ``gc.collect()`` off (``.streamlit/config.toml``), Python's own collector still
runs a full (generation 2) collection now and then, and a full collection visits every container object the process
holds: the modules of Streamlit, pandas, plotly, numpy, Numba and ours, ~1 M objects. Logged with ``gc.callbacks``
in a server under ``bench/bench_pages.py --only compute --rounds 30`` (2026-12-03): 6 full collections took 609 ms
in all, up to 159 ms each, landing on whichever rerun happened to allocate at that moment (a Compute rerun of
~17 ms read 184 ms), plus 139 ms in 70 generation-1 collections.

What: at the end of an app run (app.py), when the process has imported modules since the last time
(``len(sys.modules)`` grew: the first run, a page's first visit, Numba's load in ``calc/serve_sim_jit.py``'s
thread), a thread of this module collects once and then freezes (``gc.freeze()``: every object tracked now goes
to the permanent generation, which collections skip). Objects are still freed by reference counting; only cyclic
garbage that existed at a freeze would stay, and there are as many freezes as import waves (a few per process), so
that is bounded. ``CALC_GC_FREEZE=0`` in the environment turns it off (for A/B measurements).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

#: seconds the thread waits after a run's end before it collects: the run's last messages go out first
DELAY_S = 0.3

_LOCK = threading.Lock()
_EVENT = threading.Event()
_thread: threading.Thread | None = None
_seen = 0  # len(sys.modules) at the last request
freezes = 0  # collections-and-freezes done (tests)


def _loop() -> None:
    global freezes
    while True:
        _EVENT.wait()
        time.sleep(DELAY_S)  # more imports may land meanwhile: one freeze for them all
        _EVENT.clear()
        gc.collect()
        gc.freeze()
        freezes += 1


def after_run() -> None:
    """Called at the end of each app run: asks for a collect-and-freeze when modules were imported since the last."""
    global _seen, _thread
    n = len(sys.modules)
    if n <= _seen or os.environ.get("CALC_GC_FREEZE", "1") == "0":
        return
    with _LOCK:
        _seen = n
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="gc-freeze", daemon=True)
            _thread.start()
    _EVENT.set()
