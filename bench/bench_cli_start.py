"""CLI start-up: ``python -m calc params`` and ``memory`` against a bare ``python -c pass``.

Run: ``python bench/bench_cli_start.py [--repeat 15]``. Each round runs every command once, in turn
(interleaved, so a busy neighbour on the machine slows all of them alike), and the medians and their
ratios to ``python -c pass`` are printed. Target (issue 18): both commands within 8x of the bare
interpreter. For comparison the script also times the old behaviour, every subcommand's module imported
before parsing (``build_parser()`` without argv), which is what each command paid before.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -m calc params": [sys.executable, "-m", "calc", "params", "--model", "Meta-Llama-3-8B"],
    "python -m calc memory": [sys.executable, "-m", "calc", "memory", "--mode", "train", "--params", "7.5e9",
                              "--zero", "1", "--dp", "64"],
    "params, every command imported (before)": [
        sys.executable, "-c",
        "import sys; from calc.cli import build_parser; "
        "a = build_parser().parse_args(['params', '--model', 'Meta-Llama-3-8B']); a.run(a)"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(args.repeat):
        for name, cmd in CASES.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':42s} {'median':>9s} {'x bare':>7s}   (medians of {args.repeat} interleaved runs)")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:42s} {m * 1e3:7.0f} ms {m / base:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
