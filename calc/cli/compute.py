"""``python -m calc compute``: training FLOPs, time, GPU-hours, cost and energy; or the inverses.

    python -m calc compute --params 7e9 --tokens 2T --gpu "H100 SXM" --gpus 64 --mfu 0.4 --price 2.0 --json
    python -m calc compute --params 6.7B --tokens 1T --gpu "A100 SXM 40GB" --gpus 440 --days 9.5   # implied MFU
    python -m calc compute --model Meta-Llama-3-8B --tokens 15T --days 30                          # GPUs needed
"""

from __future__ import annotations

import argparse
import math

from calc.cli import emit_json, print_table
from calc.cli.common import (
    Bounded,
    add_gpu_args,
    add_model_args,
    float_range,
    gpu_from_args,
    int_range,
    model_from_args,
)
from calc.compute import (
    MAX_FLOPS,
    RECOMPUTE,
    check_mfu,
    check_positive,
    gpus_needed,
    implied_mfu,
    time_and_cost,
    training_flops,
    training_flops_6nd,
)
from calc.models import param_counts
from calc.units import format_count, format_flops

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


def quantity(text: str) -> float:
    """Parse 7e9, 7B, 1.4T, 500M, 1_000; wrapped in a ``Bounded`` range for each flag (``quantity_range``)."""
    s = text.strip().replace(",", "").replace("_", "")
    scale = 1.0
    if s and s[-1].lower() in _SUFFIXES:
        scale, s = _SUFFIXES[s[-1].lower()], s[:-1]
    try:
        value = float(s) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 7e9, 7B or 1.4T, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def quantity_range(lo: float, hi: float, unit: str = "") -> Bounded:
    """An argparse type: ``quantity`` (7e9, 7B, 1.4T) within ``[lo, hi]``."""
    return Bounded(lo, hi, parse=quantity, unit=unit)


def add_hardware_args(p: argparse.ArgumentParser) -> None:
    add_gpu_args(p, "GPU from `python -m calc gpus`", default="H100 SXM")
    p.add_argument("--dtype", default="bf16", help="dtype whose dense peak is used (default: bf16)")
    p.add_argument("--mfu", type=float_range(0.0001, 1), default=0.4, help="model FLOPs utilization in (0, 1] (default: 0.4)")
    p.add_argument("--tflops", type=float_range(0.001, 1e8, "TFLOP/s"), default=None,
                   help="measured sustained TFLOP/s per GPU; replaces peak x MFU")


def throughput(args) -> tuple[float, str, float | None]:
    """(FLOP/s per GPU, how it was obtained, dense peak or None)."""
    gpu = gpu_from_args(args, default="H100 SXM", need=() if args.tflops is not None else ("flops",))
    peak = gpu.peak(args.dtype)
    if args.tflops is not None:
        rate = check_positive("--tflops", args.tflops, 1e8) * 1e12
        return rate, f"measured {args.tflops:g} TFLOP/s per GPU", peak
    if peak is None:
        raise ValueError(f"{gpu.name} has no {args.dtype} peak in the catalog; supported: "
                         f"{', '.join(gpu.peak_flops_per_s)}")
    mfu = check_mfu(args.mfu)
    return peak * mfu, f"{args.dtype} dense peak {peak / 1e12:g} TFLOP/s x MFU {mfu:g}", peak


def add_parser(sub) -> None:
    p = sub.add_parser("compute", help="training FLOPs, time, GPU-hours, cost and energy (and the inverses)")
    p.add_argument("--params", type=quantity_range(1, 1e15), help="parameters N (active ones for MoE), e.g. 7e9 or 7B")
    add_model_args(p, required=False)
    p.add_argument("--tokens", type=quantity_range(1, 1e17), required=True, help="training tokens D, e.g. 2e12 or 2T")
    p.add_argument("--seq-len", type=int_range(1, 2**21), default=4096, help="context length for the attention FLOPs (with --model)")
    p.add_argument("--recompute", choices=RECOMPUTE, default="none",
                   help="activation recompute (with --model): extra hardware FLOPs, same model FLOPs")
    add_hardware_args(p)
    p.add_argument("--gpus", type=int_range(1, 10_000_000), default=None, help="number of GPUs (default 1)")
    p.add_argument("--days", type=float_range(0.01, 36_500), default=None,
                   help="with --gpus: the MFU a run of that length achieved; without: GPUs needed for this many days")
    p.add_argument("--price", type=float_range(0, 10_000, "$/GPU-hour"), default=2.0, help="$ per GPU-hour (default 2.0)")
    p.add_argument("--pue", type=float_range(1, 10), default=1.0, help="facility power / IT power for the energy (default 1.0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    has_model = bool(args.model or args.config or args.hf or args.revision)
    if args.params is None and not has_model:
        raise ValueError("give --params N or a model (--model NAME, --config FILE or --hf ID)")
    out: dict = {}
    if has_model:
        spec = model_from_args(args)
        n = float(param_counts(spec).active) if args.params is None else args.params
        tf = training_flops(spec, args.tokens, args.seq_len, args.recompute)
        model_flops, hardware_flops = tf.model_flops, tf.hardware_flops
        formula = f"{spec.name}: 3 x (2 x active layer params + attention over {args.seq_len} + head) per token"
        out["model"] = spec.name
    else:
        n = args.params
        model_flops = hardware_flops = training_flops_6nd(n, args.tokens)
        formula = "6ND"
    flops_6nd = training_flops_6nd(n, args.tokens)
    check_positive("FLOPs", model_flops, MAX_FLOPS)
    rate, how, peak = throughput(args)
    gpu = gpu_from_args(args, default="H100 SXM")
    # peak x MFU is a rate of model FLOPs; a measured throughput is what the hardware executes.
    work = hardware_flops if args.tflops is not None else model_flops
    out.update({"params": n, "tokens": args.tokens, "flops": model_flops, "flops_formula": formula,
                "flops_6nd": flops_6nd, "hardware_flops": hardware_flops, "recompute": args.recompute,
                "gpu": gpu.name, "dtype": args.dtype, "peak_flops_per_s": peak, "throughput": how})

    if args.days is not None and args.gpus is not None:
        if peak is None:
            raise ValueError(f"{gpu.name} has no {args.dtype} peak to measure an MFU against")
        mfu = implied_mfu(model_flops, args.gpus, args.days, peak)
        t = time_and_cost(model_flops, args.gpus, mfu * peak, args.price, gpu.board_power_w, args.pue)
        out.update({"mode": "implied_mfu", "implied_mfu": mfu, "mfu": mfu, "flops_per_s_per_gpu": mfu * peak})
        if mfu > 1:
            out["warning"] = f"implied MFU {mfu:.2f} exceeds 1: not possible at the {args.dtype} dense peak"
    elif args.days is not None:
        gpus = gpus_needed(work, args.days, rate)
        t = time_and_cost(work, gpus, rate, args.price, gpu.board_power_w, args.pue)
        out.update({"mode": "gpus_needed", "gpus_needed": gpus, "flops_per_s_per_gpu": rate,
                    "mfu": None if args.tflops is not None else args.mfu})
    else:
        t = time_and_cost(work, 1 if args.gpus is None else args.gpus, rate, args.price, gpu.board_power_w, args.pue)
        out.update({"mode": "time", "flops_per_s_per_gpu": rate, "mfu": None if args.tflops is not None else args.mfu})
    out.update({"gpus": t.num_gpus, "gpu_hours": t.gpu_hours, "days": t.days, "cost_usd": t.cost_usd,
                "price_per_gpu_hour": t.price_per_gpu_hour, "energy_kwh": t.energy_kwh,
                "board_power_w": gpu.board_power_w, "pue": t.pue})
    if args.json:
        emit_json(out)
        return 0
    rows = [{"quantity": "params", "value": format_count(n)}, {"quantity": "tokens", "value": format_count(args.tokens)},
            {"quantity": "training FLOPs", "value": f"{format_flops(model_flops)} ({formula})"},
            {"quantity": "hardware FLOPs", "value": f"{format_flops(hardware_flops)} (recompute: {args.recompute})"},
            {"quantity": "throughput per GPU", "value": f"{rate / 1e12:.1f} TFLOP/s ({how})"
             if out["mode"] != "implied_mfu" else "-"},
            {"quantity": "GPUs", "value": f"{t.num_gpus:,} x {gpu.name}"},
            {"quantity": "wall-clock", "value": f"{t.days:.2f} days"},
            {"quantity": "GPU-hours", "value": f"{t.gpu_hours:,.0f}"},
            {"quantity": "cost", "value": f"${t.cost_usd:,.0f} at ${t.price_per_gpu_hour:g}/GPU-hour"},
            {"quantity": "energy", "value": f"{t.energy_kwh:,.0f} kWh ({gpu.board_power_w:g} W board power x PUE {t.pue:g})"}]
    if out["mode"] == "implied_mfu":
        rows.insert(4, {"quantity": "implied MFU", "value": f"{out['implied_mfu']:.1%} of the {args.dtype} dense peak"})
    print_table(rows)
    if "warning" in out:
        print("warning: " + out["warning"])
    return 0
