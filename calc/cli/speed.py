"""``python -m calc speed``: roofline inference speed (time to first token, decode tokens/s, batch sweep)."""

from __future__ import annotations

from calc.cli import emit_json, print_table, printable
from calc.cli.common import add_gpu_args, add_model_args, float_range, gpu_from_args, int_range, model_from_args
from calc.speed import (
    KV_DTYPES,
    WEIGHT_DTYPES,
    Hardware,
    ServingSetup,
    batch_sweep,
    estimate,
    max_batch_in_memory,
    memory_per_gpu,
    smallest_tp_that_fits,
)
from calc.units import format_bytes, format_duration


def add_parser(sub) -> None:
    p = sub.add_parser("speed", help="roofline inference speed: prefill, decode tokens/s, batch sweep")
    add_model_args(p)
    add_gpu_args(p, "catalog GPU (see `python -m calc gpus`)", default="H100 SXM")
    p.add_argument("--batch", type=int_range(1, 4096), default=1, help="sequences decoded together")
    p.add_argument("--prompt", type=int_range(1, 1_000_000), default=1024, help="prompt tokens per sequence")
    p.add_argument("--output", type=int_range(2, 1_000_000), default=256, help="generated tokens per sequence (>= 2)")
    p.add_argument("--weights", default="bf16", choices=WEIGHT_DTYPES, help="weight storage format")
    p.add_argument("--kv", default="bf16", choices=KV_DTYPES, help="KV-cache storage format")
    p.add_argument("--compute", default="bf16", choices=("bf16", "fp16", "fp8", "tf32", "fp32"),
                   help="matmul dtype whose peak is the compute roof")
    p.add_argument("--tflops", type=float_range(0.001, 1e8, "TFLOP/s"), default=None, help="measured matmul TFLOPS instead of the datasheet peak")
    p.add_argument("--bandwidth-gbs", type=float_range(0.001, 1e8, "GB/s"), default=None, help="measured GB/s instead of the datasheet figure")
    p.add_argument("--tp", type=int_range(1, 1024), default=1,
                   help="tensor-parallel GPUs: weights, FLOPs and KV heads split over them, two all-reduces per layer "
                        "(a degree that splits the heads as vLLM needs; see the Inference speed page)")
    p.add_argument("--link-gbs", type=float_range(0.001, 1e8, "GB/s"), default=None,
                   help="GPU-to-GPU bus bandwidth for --tp > 1 (default: the GPU's NVLink/PCIe figure, calc/plan.py LINKS)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    spec = model_from_args(args)
    need = ("flops",) * (args.tflops is None) + ("bandwidth",) * (args.bandwidth_gbs is None)
    gpu = gpu_from_args(args, default="H100 SXM", need=need)
    flops = args.tflops * 1e12 if args.tflops is not None else gpu.peak(args.compute)
    if not flops:
        raise ValueError(f"{gpu.name} has no {args.compute} peak in the catalog; pass --tflops or another --compute")
    bw = args.bandwidth_gbs * 1e9 if args.bandwidth_gbs is not None else gpu.bandwidth_bytes_per_s
    from calc.plan import DEFAULT_LINKS, LINKS
    from calc.solvers import MAX_TP, valid_tps

    tps = valid_tps(spec, training=False, max_tp=MAX_TP)
    if args.tp not in tps:
        raise ValueError(f"--tp {args.tp} does not split {spec.name}'s {spec.num_heads} heads / {spec.num_kv_heads} "
                         f"KV heads as vLLM needs: allowed {', '.join(map(str, tps))}")
    links = LINKS.get(gpu.name, DEFAULT_LINKS)
    link = args.link_gbs * 1e9 if args.link_gbs is not None else links.intra_bytes_per_s
    hw = Hardware(flops, bw, "measured" if args.tflops or args.bandwidth_gbs else "datasheet", link_bytes_per_s=link)
    setup = ServingSetup(args.batch, args.prompt, args.output, args.weights, args.kv, tp=args.tp)
    cap = gpu.usable_memory_bytes
    need = memory_per_gpu(spec, setup)
    if need > cap:  # no speed for a setup that cannot run: how many GPUs it needs instead
        return _does_not_fit(args, spec, gpu, setup, need, cap, smallest_tp_that_fits(spec, setup, cap, tps),
                             max_batch_in_memory(spec, setup, cap), max(tps))
    est = estimate(spec, setup, hw)
    sweep = batch_sweep(spec, setup, hw, max_batch=max(1024, args.batch))
    fit = max_batch_in_memory(spec, setup, cap)
    if args.json:
        emit_json({"model": spec.name, "gpu": gpu.name, "tp": args.tp, "gpus": args.tp, "fits": True,
                   "link_bytes_per_s": link if args.tp > 1 else None,
                   "flops_per_s": flops, "bandwidth_bytes_per_s": bw,
                   "batch": setup.batch, "prompt_tokens": setup.prompt_tokens, "output_tokens": setup.output_tokens,
                   "prefill_flops": est.prefill_flops, "ttft_s": est.ttft_s, "prefill_bound": est.prefill_bound,
                   "decode_s": est.decode_s, "decode_bound": est.decode_bound,
                   "tokens_per_s_per_seq": est.tokens_per_s_per_seq, "tokens_per_s_total": est.tokens_per_s_total,
                   "weights_read_per_step_bytes": est.weights_read_per_step_bytes,
                   "memory_bytes": est.memory_bytes, "max_batch_in_memory": fit,
                   "decode_allreduce_s": est.decode_allreduce_s,
                   "compute_bound_from_batch": sweep.compute_bound_from,
                   "sweep": [{"batch": int(b), "tokens_per_s_total": float(t)}
                             for b, t in zip(sweep.batch, sweep.tokens_per_s_total, strict=True)]})
        return 0
    on = gpu.name if args.tp == 1 else f"{args.tp} x {gpu.name} (tensor-parallel, link {link / 1e9:,.0f} GB/s)"
    print(f"{printable(spec.name, 200)} on {on}: {flops / 1e12:,.1f} TFLOPS ({args.compute}), {bw / 1e9:,.0f} GB/s ({hw.source})")
    print(f"time to first token {format_duration(est.ttft_s)} ({est.prefill_bound}-bound); "
          f"decode {est.tokens_per_s_per_seq:,.1f} tokens/s per sequence, {est.tokens_per_s_total:,.0f} in total "
          f"({est.decode_bound}-bound)")
    print(f"memory per GPU: weights {format_bytes(est.weights_stored_bytes)} + KV {format_bytes(est.kv_stored_bytes)}; "
          f"at most {fit:,} sequences fit")
    print_table([{"batch": int(b), "tokens/s total": f"{t:,.0f}", "tokens/s per seq": f"{s:,.1f}"}
                 for b, t, s in zip(sweep.batch, sweep.tokens_per_s_total, sweep.tokens_per_s_per_seq, strict=True)])
    return 0


def _does_not_fit(args, spec, gpu, setup, need, cap, needed_tp, fit, most) -> int:
    """What a setup that does not fit prints instead of a speed: the smallest tp that fits, else the batch that
    does, else why nothing does (the Inference speed page's rule)."""
    if needed_tp is not None and needed_tp > setup.tp:
        how = f"it needs {needed_tp} GPUs (--tp {needed_tp}, the smallest degree that fits)"
    elif fit >= 1:
        how = f"at most {fit:,} sequences of {setup.final_context:,} tokens fit (--batch {fit} or less)"
    else:
        how = f"not even {most} GPUs fit one sequence: narrower --weights, a shorter prompt or a larger GPU"
    if args.json:
        emit_json({"model": spec.name, "gpu": gpu.name, "tp": setup.tp, "fits": False, "memory_bytes": need,
                   "usable_memory_bytes": cap, "gpus_needed": needed_tp if needed_tp and needed_tp > setup.tp else None,
                   "max_batch_in_memory": fit, "message": how})
        return 0
    print(f"{printable(spec.name, 200)} does not fit on {'one' if setup.tp == 1 else f'each of {setup.tp}'} "
          f"{gpu.name}: {format_bytes(need)} per GPU (weights + KV cache at {setup.final_context:,} tokens) > "
          f"{format_bytes(cap)}; {how}. No speed for a setup that cannot run.")
    return 0
