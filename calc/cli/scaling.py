"""``python -m calc scaling``: compute-optimal model size, tokens and loss under each published fit.

    python -m calc scaling --compute 5.76e23 --fit approach1 --json
    python -m calc scaling --gpus 256 --days 30 --gpu "H100 SXM" --mfu 0.4 --fit all
    python -m calc scaling --params 70e9 --fit hoffmann                    # tokens and compute for that size
    python -m calc scaling --params 8.03B --tokens 15T --fit epoch         # over-training cost
    python -m calc scaling --params 13e9 --inference-tokens 2T --fit sardana   # Sardana et al. 2024 Figure 1
    python -m calc scaling --compute 1e22 --unique-tokens 25B              # data-constrained: params, tokens, epochs
    python -m calc scaling --params 6.34B --tokens 242B --unique-tokens 25B   # that run's loss under repetition
    python -m calc scaling --compute 6.46e21 --experts 64                  # MoE: optimal granularity, size, tokens
    python -m calc scaling --compute 1e23 --precision-bits 8               # training precision (Kumar et al. 2024)
    python -m calc scaling --runs runs.csv --compute 1e23 --json           # fit your own law, optimum and band

Every ``--json`` result carries ``params_low``, ``params_high``, ``tokens_low``, ``tokens_high``, ``loss_low``,
``loss_high`` (10th-90th percentile over bootstrap refits) where the law has published or fitted refits: ``epoch``
(Besiroglu et al. 2024's bootstrap), ``gadre`` (our bootstrap over Gadre et al.'s released runs) and your own runs, whose ``inference_aware`` block (with ``saving_low``,
``saving_high``) and ``overtraining`` block (``loss_low``, ``loss_high``) carry theirs too. Chinchilla's approaches
carry Table 2's published intervals of the exponents (``a_low``, ``a_high``, ``b_low``, ``b_high``).
``--params N --tokens D --precision-bits B`` also gives ``post_training_quantization``: the loss a 16-bit-trained model
loses when its weights are quantized to B bits afterwards (Kumar et al. 2024 sec. 3.1 eq. 2; N counts non-embedding
parameters, as the paper's), and ``critical_tokens``, the D past which more pretraining makes the quantized model worse
(App. E.1 eq. 13). The Quantization page's loss-cost table prints this command for its model.
"""

from __future__ import annotations

from calc import scaling_data, scaling_moe, scaling_precision
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
from calc.scaling_bands import (
    BAND_ORIGIN,
    inference_aware_band,
    loss_band,
    optimum_band,
    published_exponent_band,
    samples_for,
)
from calc.units import format_count

SPECIAL_FITS = ("krajewski", "kumar")


def add_parser(sub) -> None:
    p = sub.add_parser("scaling", help="compute-optimal params, tokens and loss (Chinchilla, Epoch, data-constrained, "
                                       "inference-aware, MoE, precision)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--compute", type=quantity_range(1e15, 1e32, "FLOPs"), help="training budget in FLOPs, e.g. 1e23")
    what.add_argument("--params", type=quantity_range(1e6, 1e15), help="model size N: the tokens and compute that make it optimal "
                                                      "(active parameters with --experts)")
    p.add_argument("--gpus", type=int_range(1, 10_000_000), help="budget from GPUs x days (with --days, --gpu, --mfu)")
    p.add_argument("--days", type=float_range(0.01, 36_500), help="budget from GPUs x days")
    add_hardware_args(p)
    p.add_argument("--fit", default=None, choices=(*FIT_KEYS, *SPECIAL_FITS, "all"),
                   help="which law (default epoch; muennighoff with --unique-tokens, krajewski with --experts or "
                        "--granularity, kumar with --precision-bits; 'all' lists every dense fit)")
    p.add_argument("--tokens", type=quantity_range(1, 1e17), help="with --params: that run's loss (over-training, repetition, MoE, "
                                                   "precision)")
    p.add_argument("--inference-tokens", type=quantity_range(0, 1e18),
                   help="expected inference tokens: the Sardana et al. 2024 optimum of the same loss")
    p.add_argument("--unique-tokens", type=quantity_range(1e6, 1e17),
                   help="unique tokens available (Muennighoff et al. 2023): repeated epochs are discounted")
    p.add_argument("--granularity", type=float_range(1, 1024), help="MoE granularity G (Krajewski et al. 2024); searched if omitted")
    p.add_argument("--experts", type=int_range(1, 4096), help="MoE expansion rate E (experts at G = 1); the law is fitted at 64")
    p.add_argument("--precision-bits", type=float_range(1, 32),
                   help="training precision of weights, activations and KV cache (Kumar et al. 2024)")
    p.add_argument("--runs", metavar="CSV", help="fit L(N,D) to your runs (columns params,tokens,loss) and use it")
    p.add_argument("--bootstrap", type=int_range(0, 200), default=100, help="refits for the band with --runs (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _resolve_fit(args) -> str:
    wanted = [(args.unique_tokens is not None, "muennighoff", "--unique-tokens"),
              (args.granularity is not None or args.experts is not None, "krajewski", "--granularity/--experts"),
              (args.precision_bits is not None, "kumar", "--precision-bits")]
    implied = [(key, flag) for on, key, flag in wanted if on]
    if len(implied) > 1:
        raise ValueError(f"{implied[0][1]} and {implied[1][1]} are different laws; give one of them")
    if implied:
        key, flag = implied[0]
        if args.fit not in (None, key):
            raise ValueError(f"{flag} goes with --fit {key} (got --fit {args.fit})")
        return key
    return args.fit or "epoch"


def _budget(args) -> float | None:
    if args.compute is not None:
        return args.compute
    if args.gpus is not None or args.days is not None:
        if args.gpus is None or args.days is None:
            raise ValueError("a budget from hardware needs both --gpus and --days")
        rate, _, _ = throughput(args)
        return compute_budget_flops(args.gpus, args.days, rate)
    return None


def _optimum_dict(fit, o) -> dict:
    return {"fit": fit.key, "label": fit.label, "source": fit.source, "flops": o.flops, "params": o.params,
            "tokens": o.tokens, "tokens_per_param": o.tokens_per_param, "loss": o.loss, "note": fit.note}


def _dense(args, fit_key: str, flops, user_fit, samples_user) -> tuple[dict, list[dict]]:
    out: dict = {}
    keys = list(FIT_KEYS) if fit_key == "all" else [fit_key]
    fits = ([user_fit] if user_fit else []) + [get_fit(k) for k in keys]
    results = []
    for fit in fits:
        o = optimum(fit, flops) if flops is not None else optimum_for_params(fit, args.params)
        d = _optimum_dict(fit, o)
        samples = samples_user if fit is user_fit else samples_for(fit.key)
        if samples is not None:
            d.update(optimum_band(samples, o.flops).as_dict())
            d["band"] = (f"10th-90th percentile over {len(samples)} bootstrap refits: "
                         + ("of your runs" if fit is user_fit else BAND_ORIGIN[fit.key]))
        exponents = published_exponent_band(fit.key)
        if exponents is not None:
            d.update(exponents)
            d["band"] = "Hoffmann et al. 2022 Table 2: 10th-90th percentiles of the exponents only (no N or D band)"
        if args.tokens is not None:
            ot = overtraining(fit, args.params, args.tokens)
            d["overtraining"] = {"params": ot.params, "tokens": ot.tokens, "flops": ot.flops,
                                 "tokens_per_param": ot.tokens_per_param, "loss": ot.loss,
                                 "same_compute_optimum": {"params": ot.same_compute.params,
                                                          "tokens": ot.same_compute.tokens,
                                                          "loss": ot.same_compute.loss},
                                 "loss_penalty": ot.loss_penalty, "flops_for_same_loss": ot.flops_for_same_loss,
                                 "compute_overhead": ot.compute_overhead}
            if samples is not None:  # this run's loss across the refits
                d["overtraining"]["loss_low"], d["overtraining"]["loss_high"] = loss_band(samples, ot.params,
                                                                                          ot.tokens)
        if args.inference_tokens is not None and fit.loss_model is not None:
            ia = inference_aware_optimum(fit, o.loss, args.inference_tokens)
            d["inference_aware"] = {"target_loss": ia.target_loss, "inference_tokens": ia.inference_tokens,
                                    "params": ia.params, "tokens": ia.tokens, "training_flops": ia.training_flops,
                                    "total_flops": ia.total_flops, "chinchilla_total_flops": ia.chinchilla_total_flops,
                                    "flops_saved": ia.chinchilla_total_flops - ia.total_flops, "saving": ia.saving}
            if samples is not None:  # each refit's own target and optimum
                d["inference_aware"].update(inference_aware_band(samples, o.flops, args.inference_tokens).as_dict())
        results.append(d)
    return out, results


def _data_constrained(args, flops) -> dict:
    fit = get_fit("muennighoff")
    base = {"fit": "muennighoff", "label": "Muennighoff et al. 2023 (data-constrained)", "source": scaling_data.SOURCE}
    if args.unique_tokens is None:
        raise ValueError("--fit muennighoff with repetition needs --unique-tokens U")
    if args.params is not None and args.tokens is not None:
        return {**base, **scaling_data.run_loss(args.params, args.tokens, args.unique_tokens),
                "flops": 6.0 * args.params * args.tokens}
    if flops is None:
        raise ValueError("--unique-tokens needs --compute C (the optimum) or --params N --tokens D (one run's loss)")
    o = scaling_data.optimum(flops, args.unique_tokens)
    return {**base, "flops": o.flops, "unique_tokens": o.unique_tokens, "params": o.params, "tokens": o.tokens,
            "epochs": o.epochs, "tokens_per_param": o.tokens / o.params, "loss": o.loss,
            "last_epoch_value": o.marginal_epoch_value,
            "epochs_until_10pct_value": scaling_data.epochs_until_value(0.1),
            "unlimited_data": {"params": o.unconstrained[0], "tokens": o.unconstrained[1],
                               "loss": o.unconstrained[2]}, "note": fit.note}


def _moe(args, flops) -> dict:
    e = scaling_moe.EXPANSION if args.experts is None else args.experts
    base = {"fit": "krajewski", "label": "Krajewski et al. 2024 (fine-grained MoE)", "source": scaling_moe.SOURCE}
    if args.params is not None and args.tokens is not None:
        if args.granularity is None:
            raise ValueError("one MoE run's loss needs --granularity G with --params N_active --tokens D")
        return {**base, **scaling_moe.run_loss(args.params, args.tokens, args.granularity, e)}
    if flops is None:
        raise ValueError("MoE needs --compute C (the optimum) or --params N_active --tokens D --granularity G")
    o = scaling_moe.optimum(flops, args.granularity, e)
    dense = scaling_moe.dense_optimum(flops)
    return {**base, "flops": o.flops, "granularity": o.granularity, "granularity_searched": args.granularity is None,
            "experts": o.expansion, "experts_per_layer": o.experts, "active_params": o.active_params,
            "params": o.params, "tokens": o.tokens, "loss": o.loss,
            "dense": {"params": dense[0], "tokens": dense[1], "loss": dense[2]},
            "dense_flops_for_same_loss": scaling_moe.dense_flops_for_loss(o.loss)}


def _precision(args, flops) -> dict:
    base = {"fit": "kumar", "label": "Kumar et al. 2024 (training precision)", "source": scaling_precision.SOURCE}
    if args.params is not None and args.tokens is not None:
        if args.precision_bits is None:
            raise ValueError("one run's loss under Kumar et al.'s law needs --precision-bits")
        pc = scaling_precision.ptq_cost(args.params, args.tokens, args.precision_bits)
        return {**base, **scaling_precision.run_loss(args.params, args.tokens, args.precision_bits),
                "post_training_quantization": {  # trained in 16 bits, weights quantized afterwards (sec. 3.1 eq. 2)
                    "bits": pc.bits, "loss_before": pc.loss_before, "degradation": pc.degradation,
                    "relative": pc.relative, "loss_after": pc.loss_after, "critical_tokens": pc.critical_tokens,
                    "source": scaling_precision.PTQ_SOURCE}}
    if flops is None:
        raise ValueError("--fit kumar needs --compute C, or --params N --tokens D --precision-bits B")
    o = scaling_precision.optimum(flops, args.precision_bits)
    best = scaling_precision.optimum(flops) if args.precision_bits is not None else o
    return {**base, "flops": o.flops, "bits": o.bits, "params": o.params, "tokens": o.tokens, "loss": o.loss,
            "effective_params": o.effective_params, "optimal_bits": best.bits, "loss_at_optimal_bits": best.loss}


def run(args) -> int:
    fit_key = _resolve_fit(args)
    user_fit = samples_user = None
    out: dict = {}
    if args.runs:
        if fit_key in SPECIAL_FITS or fit_key == "muennighoff" and args.unique_tokens is not None:
            raise ValueError("--runs fits the Chinchilla form; it does not combine with the MoE, precision or "
                             "repetition laws")
        data = read_regular(args.runs, MAX_CSV_BYTES, "runs file")
        lf = fit_loss(parse_runs_csv(data), n_bootstrap=args.bootstrap)
        user_fit = fit_from_loss(lf.loss, "yours", f"your fit ({lf.n_runs} runs)", args.runs[-80:])
        samples_user = lf.samples
        out["your_fit"] = {"E": lf.loss.E, "A": lf.loss.A, "B": lf.loss.B, "alpha": lf.loss.alpha,
                           "beta": lf.loss.beta, "a": lf.loss.a, "intervals_10_90": lf.intervals,
                           "rms_log_residual": lf.rms_log_residual, "warnings": list(lf.warnings)}
    flops = _budget(args)
    if args.tokens is not None and args.params is None:
        raise ValueError("--tokens goes with --params (that run's loss)")
    special = {"kumar": _precision, "krajewski": _moe}.get(fit_key)
    if special or (fit_key == "muennighoff" and args.unique_tokens is not None):
        result = special(args, flops) if special else _data_constrained(args, flops)
        if args.json:
            emit_json(result)
            return 0
        _print_special(result)
        return 0
    if flops is None and args.params is None:
        raise ValueError("give --compute FLOPs, --params N, or --gpus K --days X")
    _, results = _dense(args, fit_key, flops, user_fit, samples_user)
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
                  "loss": "-" if r["loss"] is None else f"{r['loss']:.4f}",
                  "params 10-90%": (f"{format_count(r['params_low'])} - {format_count(r['params_high'])}"
                                    if "params_low" in r else "-")} for r in results])
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
                  f"with {ia['saving']:.1%} fewer lifetime FLOPs ({ia['flops_saved']:.2e} FLOPs)")
    return 0


def _print_special(r: dict) -> None:
    print(f"{r['label']} ({r['source']})")
    rows = []
    for key in ("flops", "unique_tokens", "bits", "granularity", "experts", "experts_per_layer", "active_params",
                "params", "effective_params", "tokens", "epochs", "tokens_per_param", "loss", "last_epoch_value",
                "optimal_bits", "loss_at_optimal_bits", "dense_flops_for_same_loss"):
        if key not in r:
            continue
        v = r[key]
        if key in ("flops", "dense_flops_for_same_loss"):
            text = f"{v:.3e}"
        elif key in ("unique_tokens", "active_params", "params", "effective_params", "tokens"):
            text = format_count(v)
        elif key in ("loss", "loss_at_optimal_bits", "epochs", "tokens_per_param", "bits", "optimal_bits"):
            text = f"{v:.4f}" if "loss" in key else f"{v:.2f}"
        elif key == "last_epoch_value":
            text = f"{v:.0%} of a fresh epoch"
        else:
            text = f"{v:g}"
        rows.append({"quantity": key.replace("_", " "), "value": text})
    ptq = r.get("post_training_quantization")
    if ptq is not None:  # trained in bf16, weights quantized to the same bits afterwards (eq. 2, eq. 13)
        rows += [{"quantity": "PTQ loss cost (bf16 -> bits)", "value": f"+{ptq['degradation']:.4f} ({ptq['relative']:.2%})"},
                 {"quantity": "PTQ loss after", "value": f"{ptq['loss_after']:.4f}"},
                 {"quantity": "PTQ: more data hurts past", "value": format_count(ptq["critical_tokens"]) + " tokens"}]
    print_table(rows)
