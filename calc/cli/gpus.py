"""``python -m calc gpus``: the accelerator catalog."""

from __future__ import annotations

from calc.cli import emit_json, print_table
from calc.gpus import GPUS
from calc.units import GB, GIB


def add_parser(sub) -> None:
    p = sub.add_parser("gpus", help="list the GPU catalog")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.json:
        emit_json([{"name": g.name, "vendor": g.vendor, "memory_bytes": g.memory_bytes,
                    "bandwidth_bytes_per_s": g.bandwidth_bytes_per_s, "peak_flops_per_s": g.peak_flops_per_s,
                    "board_power_w": g.board_power_w, "unified_memory": g.unified_memory,
                    "source": g.source} for g in GPUS.values()])
        return 0
    rows = [{"name": g.name, "memory GB": f"{g.memory_bytes / GB:.1f}", "memory GiB": f"{g.memory_bytes / GIB:.1f}",
             "TB/s": f"{g.bandwidth_bytes_per_s / 1e12:.2f}",
             "bf16 TFLOPS": f"{g.peak('bf16') / 1e12:.0f}" if g.peak("bf16") else "-",
             "fp32 TFLOPS": f"{g.peak('fp32') / 1e12:.1f}"} for g in GPUS.values()]
    print_table(rows)
    return 0
