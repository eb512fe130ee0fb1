"""``python -m validate``: measure every architecture, compare with ``calc``, write ``validate/results.json``.

``python -m validate --sharded`` runs the real distributed engines instead (DDP and FSDP2; 2 and 4 gloo
ranks on 127.0.0.1; about an hour on two busy cores) and writes ``validate/sharded_results.json``;
``--sharded-deepspeed`` (where ``import deepspeed`` works) adds DeepSpeed ZeRO 1/2/3 to that file;
``--all`` does the harness and ``--sharded``.
"""

from __future__ import annotations

import argparse
import sys

from validate.harness import RESULTS_PATH, run, write


def _single(argv) -> int:
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


def _sharded(deepspeed: bool = False) -> int:
    from validate import sharded

    doc = sharded.run_deepspeed() if deepspeed else sharded.run()
    path = sharded.write(doc)
    rows = doc["records"]
    failed = [r for r in rows if not r["ok"]]
    print(f"{len(rows)} comparisons of real engines in {doc['runtime_s']} s -> {path} (DeepSpeed: {doc['deepspeed']})")
    for r in rows:
        prof = "n/a" if r["profiler_error_pct"] is None else f"{r['profiler_error_pct']:+.2f}%"
        print(f"  {r['arch']:12s} {r['case']:16s} {r['world']} ranks, rank {r['rank']}  {r['quantity']:21s} "
              f"{r['error_pct']:+7.2f}% (profiler {prof})  {'ok' if r['ok'] else 'OVER TOLERANCE'}")
    print(f"{len(failed)} over tolerance")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m validate", description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--sharded", action="store_true", help="only the real distributed engines (sharded_results.json)")
    g.add_argument("--sharded-deepspeed", action="store_true",
                   help="DeepSpeed ZeRO 1/2/3 measured and merged into sharded_results.json (needs deepspeed)")
    g.add_argument("--all", action="store_true", help="both: results.json and sharded_results.json")
    args = ap.parse_args(argv)
    if args.sharded or args.sharded_deepspeed:
        return _sharded(args.sharded_deepspeed)
    rc = _single(argv)
    return max(rc, _sharded()) if args.all else rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
