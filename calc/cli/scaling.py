"""``python -m calc scaling``: compute-optimal model size, tokens and loss under each published fit.

    python -m calc scaling --compute 5.76e23 --fit approach1 --json
    python -m calc scaling --gpus 256 --days 30 --gpu "H100 SXM" --mfu 0.4 --fit all
    python -m calc scaling --params 70e9 --fit hoffmann                    # tokens and compute for that size
    python -m calc scaling --params 8.03B --tokens 15T --fit epoch         # over-training cost
    python -m calc scaling --compute 1e23 --inference-tokens 2T --fit hoffmann   # Sardana et al. 2023
    python -m calc scaling --runs runs.csv --compute 1e23                  # fit your own law, then its optimum
"""

from __future__ import annotations

from calc.cli import emit_json, print_table
from calc.cli.common import float_range, int_range, read_regular
from calc.cli.compute import add_hardware_args, quantity_range, throughput
from calc.compute import compute_budget_flops
from calc.fit import MAX_CSV_BYTES, fit_loss, parse_runs_csv
from calc.scaling import (
    FIT_KEYS,
    fit_from_loss,
    get_fit,
    inference_aware_optimum,
    optimum,
    optimum_for_params,
    overtraining,
)
from calc.units import format_count


def add_parser(sub) -> None:
    p = sub.add_parser("scaling", help="compute-optimal params, tokens and loss (Chinchilla, Epoch, Kaplan)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--compute", type=quantity_range(1e15, 1e32, "FLOPs"), help="training budget in FLOPs, e.g. 1e23")
    what.add_argument("--params", type=quantity_range(1e6, 1e15), help="model size N: the tokens and compute that make it optimal")
    p.add_argument("--gpus", type=int_range(1, 10_000_000), help="budget from GPUs x days (with --days, --gpu, --mfu)")
    p.add_argument("--days", type=float_range(0.01, 36_500), help="budget from GPUs x days")
    add_hardware_args(p)
    p.add_argument("--fit", default="epoch", choices=(*FIT_KEYS, "all"),
                   help="which fit (default epoch; 'all' lists every one)")
    p.add_argument("--tokens", type=quantity_range(1, 1e17), help="with --params: the over-training cost of this many tokens")
    p.add_argument("--inference-tokens", type=quantity_range(0, 1e18),
                   help="expected inference tokens: the Sardana et al. 2023 optimum of the same loss")
    p.add_argument("--runs", metavar="CSV", help="fit L(N,D) to your runs (columns params,tokens,loss) and use it")
    p.add_argument("--bootstrap", type=int_range(0, 200), default=20, help="refits for the intervals with --runs (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _optimum_dict(fit, o) -> dict:
    return {"fit": fit.key, "label": fit.label, "source": fit.source, "flops": o.flops, "params": o.params,
            "tokens": o.tokens, "tokens_per_param": o.tokens_per_param, "loss": o.loss, "note": fit.note}


def _budget(args) -> float | None:
    if args.compute is not None:
        return args.compute
    if args.gpus is not None or args.days is not None:
        if args.gpus is None or args.days is None:
            raise ValueError("a budget from hardware needs both --gpus and --days")
        rate, _, _ = throughput(args)
        return compute_budget_flops(args.gpus, args.days, rate)
    return None


def run(args) -> int:
    out: dict = {}
    user_fit = None
    if args.runs:
        data = read_regular(args.runs, MAX_CSV_BYTES, "runs file")
        lf = fit_loss(parse_runs_csv(data), n_bootstrap=args.bootstrap)
        user_fit = fit_from_loss(lf.loss, "yours", f"your fit ({lf.n_runs} runs)", args.runs[-80:])
        out["your_fit"] = {"E": lf.loss.E, "A": lf.loss.A, "B": lf.loss.B, "alpha": lf.loss.alpha,
                           "beta": lf.loss.beta, "a": lf.loss.a, "intervals_10_90": lf.intervals,
                           "rms_log_residual": lf.rms_log_residual, "warnings": list(lf.warnings)}
    flops = _budget(args)
    if flops is None and args.params is None:
        raise ValueError("give --compute FLOPs, --params N, or --gpus K --days X")
    if args.tokens is not None and args.params is None:
        raise ValueError("--tokens goes with --params (the over-training of that run)")
    keys = list(FIT_KEYS) if args.fit == "all" else [args.fit]
    fits = ([user_fit] if user_fit else []) + [get_fit(k) for k in keys]
    results = []
    for fit in fits:
        o = optimum(fit, flops) if flops is not None else optimum_for_params(fit, args.params)
        d = _optimum_dict(fit, o)
        if args.tokens is not None:
            ot = overtraining(fit, args.params, args.tokens)
            d["overtraining"] = {"params": ot.params, "tokens": ot.tokens, "flops": ot.flops,
                                 "tokens_per_param": ot.tokens_per_param, "loss": ot.loss,
                                 "same_compute_optimum": {"params": ot.same_compute.params,
                                                          "tokens": ot.same_compute.tokens,
                                                          "loss": ot.same_compute.loss},
                                 "loss_penalty": ot.loss_penalty, "flops_for_same_loss": ot.flops_for_same_loss,
                                 "compute_overhead": ot.compute_overhead}
        if args.inference_tokens is not None and fit.loss_model is not None:
            ia = inference_aware_optimum(fit, o.loss, args.inference_tokens)
            d["inference_aware"] = {"target_loss": ia.target_loss, "inference_tokens": ia.inference_tokens,
                                    "params": ia.params, "tokens": ia.tokens, "training_flops": ia.training_flops,
                                    "total_flops": ia.total_flops, "chinchilla_total_flops": ia.chinchilla_total_flops,
                                    "saving": ia.saving}
        results.append(d)
    if args.json:
        if len(results) == 1:
            out.update(results[0])
        else:
            out["fits"] = results
        emit_json(out)
        return 0
    if user_fit:
        y = out["your_fit"]
        print(f"your fit: E={y['E']:.4g} A={y['A']:.4g} B={y['B']:.4g} alpha={y['alpha']:.4g} beta={y['beta']:.4g}")
    print_table([{"fit": r["fit"], "FLOPs": f"{r['flops']:.3e}", "params": format_count(r["params"]),
                  "tokens": format_count(r["tokens"]), "tokens/param": f"{r['tokens_per_param']:.1f}",
                  "loss": "-" if r["loss"] is None else f"{r['loss']:.4f}"} for r in results])
    for r in results:
        if "overtraining" in r and r["overtraining"]["compute_overhead"] is not None:
            ot = r["overtraining"]
            print(f"{r['fit']}: {format_count(ot['params'])} on {format_count(ot['tokens'])} tokens = loss "
                  f"{ot['loss']:.4f}; the optimum at the same compute reaches {ot['same_compute_optimum']['loss']:.4f}; "
                  f"the same loss needs {1 / ot['compute_overhead']:.0%} of the compute when trained optimally")
        if "inference_aware" in r:
            ia = r["inference_aware"]
            print(f"{r['fit']}: with {format_count(ia['inference_tokens'])} inference tokens, "
                  f"{format_count(ia['params'])} params on {format_count(ia['tokens'])} tokens reach the same loss "
                  f"with {ia['saving']:.1%} fewer lifetime FLOPs")
    return 0
