"""One ``python -m calc params --config F --json`` in-process, for every architecture family we read.

Run: ``python bench/bench_params.py [model_type ...]``. For each model_type that ``calc/arch`` reads, the config
is transformers' own default config for the type (``AutoConfig.for_model(t).to_dict()``, written to a file as a
user would upload it); the timed call is ``calc.cli.main(["params", "--config", F, "--json"])`` (read, parse,
``ModelSpec.from_hf_config``, ``param_counts``, JSON out), first call and median of 20. Issue 12 asks for under
5 ms each; the figures are printed with their ratio to that budget, never asserted (timings belong here, not in
tests). Needs transformers (for the default configs only).
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.arch.registry import BY_TYPE  # noqa: E402
from calc.cli import main  # noqa: E402

BUDGET_S = 0.005


def default_config(model_type: str) -> dict | None:
    from transformers import AutoConfig

    from tests.census import REPAIRS

    try:
        return AutoConfig.for_model(model_type, **REPAIRS.get(model_type, {})).to_dict()
    except Exception:  # noqa: BLE001 - a config class transformers cannot make is skipped
        return None


def time_params(path: str, repeat: int = 20) -> tuple[float, float]:
    argv = ["params", "--config", path, "--json"]
    sink = io.StringIO()
    times = []
    for _ in range(repeat + 1):
        sink.seek(0)
        sink.truncate()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            code = main(argv)
        times.append(time.perf_counter() - t0)
        if code != 0:
            raise SystemExit(f"{path}: exit {code}")
    return times[0], statistics.median(times[1:])


def main_bench(types: list[str]) -> int:
    warnings.filterwarnings("ignore")
    import transformers.utils.logging as tlog

    tlog.set_verbosity_error()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in types or sorted(BY_TYPE):
            cfg = default_config(t)
            if cfg is None:
                print(f"{t:28s} (transformers cannot make its default config)")
                continue
            path = Path(tmp) / f"{t}.json"
            path.write_text(json.dumps(cfg, default=str))
            first, median = time_params(str(path))
            rows.append((t, first, median))
            print(f"{t:28s} first {first * 1e3:7.2f} ms   median {median * 1e3:6.2f} ms   "
                  f"{median / BUDGET_S:5.2f} x the 5 ms budget")
    worst = max(rows, key=lambda r: r[2])
    over = [r[0] for r in rows if r[2] > BUDGET_S]
    print(f"\n{len(rows)} model_types; median of medians {statistics.median(r[2] for r in rows) * 1e3:.2f} ms; "
          f"slowest {worst[0]} {worst[2] * 1e3:.2f} ms; over 5 ms: {', '.join(over) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_bench(sys.argv[1:]))
