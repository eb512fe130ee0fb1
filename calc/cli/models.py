"""``python -m calc models``: the preset catalog."""

from __future__ import annotations

from calc.cli import emit_json, print_table
from calc.models import param_counts
from calc.presets import PRESETS, get_preset
from calc.units import format_count


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the model presets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--architectures", action="store_true",
                   help="list the architectures a config.json may have (model_type and class names) instead")
    p.set_defaults(run=run)


def _architectures(args) -> int:
    from calc.arch.families import FAMILIES

    rows = [{"model_type": ", ".join(f.model_types), "architecture": ", ".join((f.architecture, *f.aliases))}
            for f in FAMILIES]
    if args.json:
        emit_json(rows)
    else:
        print_table(rows, ["model_type", "architecture"])
    return 0


def run(args) -> int:
    if args.architectures:
        return _architectures(args)
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
