"""``python -m validate``: measure every architecture, compare with ``calc``, write ``validate/results.json``."""

from __future__ import annotations

import sys

from validate.harness import RESULTS_PATH, run, write


def main(argv: list[str] | None = None) -> int:
    doc = run()
    path = write(doc, RESULTS_PATH)
    rows = doc["records"]
    failed = [r for r in rows if r["ok"] is False]
    missing = [r for r in rows if r["predicted"] is None]
    print(f"{len(rows)} comparisons in {doc['runtime_s']} s -> {path}")
    for r in rows:
        err = "   n/a" if r["error_pct"] is None else f"{r['error_pct']:+7.2f}%"
        flag = {True: "ok", False: "OVER TOLERANCE", None: "no prediction"}[r["ok"]]
        print(f"  {r['arch']:16s} {r['formula']:30s} {r['case']:34s} {err}  {flag}")
    print(f"{len(failed)} over tolerance, {len(missing)} without a prediction")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
