"""``python deploy/serve.py [app.py] [streamlit options]``: ``streamlit run`` that tells visitors nothing
about the install they do not need.

Streamlit's ``new_session`` message, sent to every browser at every rerun, carries the app's absolute
path (``/home/.../app.py``), the Python version, the server's OS and an installation id derived from
the machine; a visitor's browser can ask for the git state of the checkout (branch, remote,
uncommitted and untracked file names), and any visitor can send "clear cache", which empties every
session's ``st.cache_data`` and ``st.cache_resource``. The frontend needs none of it: it gets the
script's file name instead of its path, empty environment and installation fields, no git answer, and
"clear cache" is ignored (the menu that offers it is hidden: ``toolbarMode = "minimal"``). Streamlit's own
version stays visible in the JavaScript bundle it serves, which no setting changes.

The replicas of ``deploy/replicas.py`` (and so the Docker image) start through this file;
``tests/test_deploy.py`` reads what a session receives through the proxy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def harden() -> None:
    """Patch Streamlit's session messages (idempotent). Streamlit internals: a test holds the result."""
    from streamlit.runtime.app_session import AppSession

    original = AppSession._create_new_session_message
    if getattr(original, "hardened", False):
        return

    def new_session_message(self, *args, **kwargs):
        msg = original(self, *args, **kwargs)
        ns = msg.new_session
        ns.main_script_path = os.path.basename(ns.main_script_path)
        # Emptied, not removed: the frontend reads both (``propsFromNewSessionMessage``: userInfo.installationIdV3,
        # environmentInfo.streamlitVersion), and an absent one is null there, which showed every visitor a
        # "Bad message format: Cannot read properties of null (reading 'installationIdV3')" dialog.
        for part in ("environment_info", "user_info"):
            ns.initialize.ClearField(part)
            getattr(ns.initialize, part).SetInParent()
        return msg

    new_session_message.hardened = True
    AppSession._create_new_session_message = new_session_message
    AppSession._handle_git_information_request = lambda self: None
    AppSession._handle_clear_cache_request = lambda self: None
    cache_theme_messages()


def cache_theme_messages() -> None:
    """Build each ``[theme*]`` section's part of the ``new_session`` message once per parsed configuration
    (idempotent). Streamlit rebuilds the six theme sections from ``config.get_options_for_section`` for every
    rerun of every session: about half of that message's cost, ~0.35 ms of the trivial page's ~10 ms of server CPU
    (py-spy --gil, issue 18). The configuration of a running server changes only when it is parsed again, which
    makes a new options dict (``config._config_options``): a cached section is rebuilt then. Streamlit internals:
    tests/test_replicas_frame.py holds every section to the original's output."""
    from streamlit import config
    from streamlit.runtime import app_session

    original = app_session._populate_theme_msg
    if getattr(original, "__wrapped__", None) is not None:
        return
    cache: dict[str, tuple[object, object]] = {}

    def populate(msg, section: str = "theme") -> None:
        options = config._config_options
        hit = cache.get(section)
        if hit is None or hit[0] is not options:
            built = type(msg)()
            original(built, section)
            hit = cache[section] = (options, built)
        msg.MergeFrom(hit[1])  # into the fresh message _create_new_session_message made

    populate.__wrapped__ = original
    app_session._populate_theme_msg = populate


def trace_memory(path: str, every_s: float = 30, top: int = 25) -> None:
    """Debug only (``CALC_TRACEMALLOC=<file>``, used by ``bench/soak.py --trace``): every ``every_s`` seconds,
    write to ``path`` the source lines whose allocations grew most since the first snapshot. tracemalloc
    slows the server down; a deployment never sets the variable."""
    import gc
    import threading
    import time
    import tracemalloc

    tracemalloc.start(1)

    def loop() -> None:
        time.sleep(every_s)
        gc.collect()
        base = tracemalloc.take_snapshot()
        while True:
            time.sleep(every_s)
            gc.collect()  # what is kept, not garbage the generational collector has not reached yet
            snap = tracemalloc.take_snapshot()
            stats = snap.compare_to(base, "lineno")
            now, _peak = tracemalloc.get_traced_memory()
            with open(path, "a") as f:
                f.write(f"--- {time.strftime('%H:%M:%S')} traced {now / 2**20:.1f} MiB; growth since first snapshot:\n")
                f.writelines(f"{s}\n" for s in stats[:top])

    threading.Thread(target=loop, name="trace-memory", daemon=True).start()


def parse_cpus(spec: str) -> set[int]:
    """``"3"``, ``"0,2"`` or ``"0-3"`` (the ``taskset -c`` list format) as a set of CPU numbers; ValueError otherwise."""
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, sep, hi = part.strip().partition("-")
        first, last = int(lo), int(hi) if sep else int(lo)
        if not 0 <= first <= last < 4096:
            raise ValueError(f"CPU range {part.strip()!r} outside 0-4095")
        cpus.update(range(first, last + 1))
    return cpus


def pin_cpus(spec: str | None) -> set[int] | None:
    """Keep this process (and every thread it starts later: Linux threads inherit their creator's affinity) on the
    CPUs of ``spec`` (``CALC_CPUS``, set per replica by ``deploy/replicas.py``); returns them, or None when ``spec``
    is empty or names no CPU this process may use (one line on stderr; the process then runs where it may).

    Why: a Streamlit process runs Python on one core at a time, and its script threads and event loop hand the GIL
    to each other hundreds of times a second; left free, the scheduler moves them between cores, and a hand-over
    across cores wakes another core (an inter-processor interrupt; in a virtual machine, a halted vCPU the host must
    schedule again). ``python bench/load.py --replicas 1,2`` against ``--no-pin`` measures it (issue 18)."""
    if not spec:
        return None
    try:
        cpus = parse_cpus(spec)
        allowed = os.sched_getaffinity(0)
        if not cpus <= allowed:
            raise ValueError(f"CPUs {sorted(cpus - allowed)} are not among this process's {sorted(allowed)}")
        os.sched_setaffinity(0, cpus)
    except (ValueError, OSError, AttributeError) as exc:  # AttributeError: no sched_setaffinity (not Linux)
        print(f"CALC_CPUS={spec!r:.40} ignored: {exc}", file=sys.stderr)
        return None
    return cpus


def main(argv: list[str] | None = None) -> None:
    pin_cpus(os.environ.get("CALC_CPUS"))  # first: the threads Streamlit starts inherit it
    argv = list(sys.argv[1:] if argv is None else argv)
    script = argv.pop(0) if argv and not argv[0].startswith("-") else str(ROOT / "app.py")
    harden()
    sys.path.insert(0, str(ROOT))
    from ui import ws_coalesce

    ws_coalesce.install()  # before the server accepts its first websocket (app.py installs it too, for `streamlit run`)
    if os.environ.get("CALC_TRACEMALLOC"):
        trace_memory(os.environ["CALC_TRACEMALLOC"], float(os.environ.get("CALC_TRACEMALLOC_S", "30")))
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", script, *argv]
    cli.main()


if __name__ == "__main__":
    main()
