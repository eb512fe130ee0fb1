"""First visits stay cheap: the memory, serving and quantization pages do not load scipy.optimize (about 0.7 s of
imports in a fresh server, issue 18); only the pages that fit or minimise something do."""

from __future__ import annotations

from tests.test_perf import _modules_after

LIGHT_PAGES = ("app_pages/inference_memory.py", "app_pages/training_memory.py", "app_pages/serving.py",
               "app_pages/quantization.py")


def test_memory_pages_do_not_import_scipy_optimize():
    code = (
        "import json, sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=120)\n"
        "at.run()\n"
        "seen, errors = {}, []\n"
        f"for path in {LIGHT_PAGES!r}:\n"
        "    at.switch_page(path)\n"
        "    at.run()\n"
        "    errors += [f'{path}: {e.value}' for e in at.exception]\n"
        "    seen[path] = 'scipy.optimize' in sys.modules\n"
        "import calc.fit\n"  # the check sees an import: the Scaling page's fits still load scipy.optimize
        "print(json.dumps({'errors': errors[:3], 'seen': seen, 'after': 'scipy.optimize' in sys.modules}))\n"
    )
    got = _modules_after(code)
    assert got["errors"] == []
    assert got["seen"] == dict.fromkeys(LIGHT_PAGES, False)
    assert got["after"] is True
