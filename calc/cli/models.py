"""``python -m calc models``: the preset catalog."""

from __future__ import annotations

from calc.cli import emit_json, print_table
from calc.models import param_counts
from calc.presets import PRESETS, get_preset
from calc.units import format_count


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the model presets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    rows = []
    for name, preset in PRESETS.items():
        spec = get_preset(name)
        c = param_counts(spec)
        rows.append({"name": name, "architecture": spec.architecture, "total": c.total, "active": c.active,
                     "source": preset.source})
    if args.json:
        emit_json(rows)
    else:
        print_table([{**r, "total": format_count(r["total"]), "active": format_count(r["active"])} for r in rows],
                    ["name", "architecture", "total", "active"])
    return 0
