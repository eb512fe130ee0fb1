"""``python -m calc params``: exact parameter counts of a preset or a config.json."""

from __future__ import annotations

from calc.cli import emit_json, print_table, printable
from calc.cli.common import add_model_args, model_from_args
from calc.models import param_counts
from calc.units import format_count


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="exact parameter counts (total, active, by component)")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    spec = model_from_args(args)
    counts = param_counts(spec)
    if args.json:
        emit_json({"model": spec.name, "architecture": spec.architecture, "total": counts.total,
                   "active": counts.active, "components": counts.components(),
                   "buffers": counts.buffers, "mtp_layers_excluded": spec.mtp_layers})
        return 0
    print(printable(f"{spec.name} ({spec.architecture})"))
    rows = [{"component": k, "params": f"{v:,}", "share": f"{v / counts.total:.1%}"}
            for k, v in counts.components().items() if v]
    rows.append({"component": "total", "params": f"{counts.total:,}", "share": "100.0%"})
    print_table(rows)
    print(f"total {format_count(counts.total)} params; active per token {format_count(counts.active)}")
    if counts.buffers:
        print(f"plus {counts.buffers:,} stored buffer values (router bias), not parameters")
    if spec.mtp_layers:
        print(f"excludes {spec.mtp_layers} multi-token-prediction layer(s) stored in the checkpoint")
    return 0
