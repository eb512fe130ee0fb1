"""``ui/gc_freeze.py``: after an app run that imported modules, the process's objects are frozen out of the
collector's full collections (``gc.get_freeze_count()``), once per wave of imports; off with ``CALC_GC_FREEZE=0``.
Each case runs in a child process, so this test process's collector is left as it is."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(code: str, env: dict | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


WAVES = (
    "import gc, time\n"
    "from ui import gc_freeze as g\n"
    "def settled(n):\n"
    "    for _ in range(400):\n"
    "        if g.freezes == n: return\n"
    "        time.sleep(0.01)\n"
    "print(gc.get_freeze_count() == 0)\n"
    "g.after_run(); settled(1); print(g.freezes, gc.get_freeze_count() > 0)\n"
    "frozen = gc.get_freeze_count()\n"
    "g.after_run(); time.sleep(2 * g.DELAY_S + 0.2); print(g.freezes)  # nothing imported since: no new freeze\n"
    "import xml.dom.minidom  # noqa: F401  (a wave of imports)\n"
    "g.after_run(); settled(2); print(g.freezes, gc.get_freeze_count() > frozen)\n")


def test_one_freeze_per_wave_of_imports():
    assert _child(WAVES) == ["True", "1", "True", "1", "2", "True"]


def test_turned_off_by_the_environment():
    code = ("import gc, time\nfrom ui import gc_freeze as g\n"
            "g.after_run(); time.sleep(2 * g.DELAY_S + 0.2); print(g.freezes, gc.get_freeze_count())\n")
    assert _child(code, {"CALC_GC_FREEZE": "0"}) == ["0", "0"]


def test_the_app_freezes_after_its_first_run():
    code = ("import gc, time\nfrom streamlit.testing.v1 import AppTest\nfrom ui import gc_freeze as g\n"
            "AppTest.from_file('app.py', default_timeout=120).run()\n"
            "for _ in range(400):\n"
            "    if g.freezes: break\n"
            "    time.sleep(0.01)\n"
            "print(g.freezes >= 1, gc.get_freeze_count() > 0)\n")
    assert _child(code) == ["True", "True"]
