"""Scenarios page cost for the worst file the importer accepts (issue 20 item 7: a 0.85 MB scenarios file took
20-28 s of server time and built a 168 MB chart). Prints the import time, the page's run time (AppTest, one run)
and the size of the chart it sends, on a temporary database.

    python bench/bench_scenarios.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CALC_SCENARIOS_DB"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"

from streamlit.testing.v1 import AppTest  # noqa: E402

from calc import scenarios as sc  # noqa: E402
from store.scenarios import database_url, open_store  # noqa: E402


def main() -> None:
    items = [sc.make_scenario(f"{i:03d} " + "x" * 90, "models", {f"p{j}": "v" * 40 for j in range(15)},
                              {f"metric {j:02d} " + "y" * 30: float(i * j + 1) for j in range(32)},
                              {f"metric {j:02d} " + "y" * 30: "count" for j in range(32)}) for i in range(200)]
    data = sc.dumps(items).encode()
    t0 = time.perf_counter()
    added = open_store(database_url()).import_many("bench-workspace", sc.loads(data)).added
    t_import = time.perf_counter() - t0
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["ws"] = "bench-workspace"
    at.run()
    at.switch_page("app_pages/scenarios.py")
    t0 = time.perf_counter()
    at.run()
    t_page = time.perf_counter() - t0
    chart = at.get("plotly_chart")[0].proto.spec
    print(f"file {len(data) / 1e6:.2f} MB, {added} scenarios: import {t_import:.2f} s; scenarios page run "
          f"{t_page:.2f} s; chart {len(chart) / 1e3:.0f} kB; exceptions: {len(at.exception)}")


if __name__ == "__main__":
    main()
