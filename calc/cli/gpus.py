"""``python -m calc gpus``: the accelerator catalog, with the source of every row."""

from __future__ import annotations

from calc.cli import emit_json, print_table
from calc.gpus import GPUS, search_gpus
from calc.units import GB, GIB


def add_parser(sub) -> None:
    p = sub.add_parser("gpus", help="list the GPU catalog")
    p.add_argument("--find", metavar="WORDS", help="only rows whose name has these words (\"T4\", \"rtx 40\")")
    p.add_argument("--sources", action="store_true", help="add each row's source")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _tflops(g, dtype: str, digits: int) -> str:
    v = g.peak(dtype)
    return f"{v / 1e12:,.{digits}f}" if v else "-"


def run(args) -> int:
    rows = search_gpus(args.find) if args.find is not None else list(GPUS.values())
    if args.find is not None and not rows:
        raise ValueError(f"no GPU in the catalog matches {args.find[:60]!r}; `python -m calc gpus` lists them all")
    if args.json:
        emit_json([{"name": g.name, "vendor": g.vendor, "memory_bytes": g.memory_bytes,
                    "memory_reported": g.memory_reported, "bandwidth_bytes_per_s": g.bandwidth_bytes_per_s,
                    "peak_flops_per_s": g.peak_flops_per_s, "board_power_w": g.board_power_w,
                    "unified_memory": g.unified_memory, "usable_fraction": g.usable_fraction,
                    "aliases": list(g.aliases), "source": g.source} for g in rows])
        return 0
    table = []
    for g in rows:
        row = {"name": g.name, "memory GB": f"{g.memory_bytes / GB:,.1f}", "memory GiB": f"{g.memory_bytes / GIB:,.1f}",
               "as": "reported" if g.memory_reported else ("installed" if g.unified_memory else "datasheet"),
               "TB/s": f"{g.bandwidth_bytes_per_s / 1e12:.2f}", "bf16 TFLOPS": _tflops(g, "bf16", 0),
               "fp8 TFLOPS": _tflops(g, "fp8", 0), "fp32 TFLOPS": _tflops(g, "fp32", 1), "W": f"{g.board_power_w:,.0f}"}
        if args.sources:
            row["source"] = g.source
        table.append(row)
    print_table(table)
    return 0
