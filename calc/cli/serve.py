"""``python -m calc serve``: a vLLM replica's memory at start-up: weights, activation peak, non-torch memory and the
KV cache left, in blocks and tokens, with the maximum concurrency vLLM logs (``calc/serve.py``)."""

from __future__ import annotations

from calc.cli import emit_json, print_table, printable
from calc.cli.common import (
    add_gpu_args,
    add_model_args,
    float_range,
    gpu_from_args,
    hub_model_from_args,
    int_range,
    model_from_args,
)
from calc.units import GIB, format_bytes

_DTYPES = ("fp32", "bf16", "fp16", "fp8_e4m3", "int8", "int4")
_GIB = float_range(0, 1e5, "GiB")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="vLLM serving memory: KV cache blocks, tokens and maximum concurrency")
    add_model_args(p)
    add_gpu_args(p, "catalog GPU (see `python -m calc gpus`)", default="H100 SXM")
    p.add_argument("--gpus", type=int_range(1, 100_000), default=None, help="GPUs in all (default: --tp); replicas = gpus / tp")
    p.add_argument("--tp", type=int_range(1, 1024), default=1, help="tensor-parallel size of one replica")
    p.add_argument("--weights-dtype", choices=_DTYPES, default=None,
                   help="weight storage (default bf16; with --hf the checkpoint's bytes as published)")
    p.add_argument("--kv-dtype", choices=_DTYPES, default="bf16", help="KV-cache storage (vLLM --kv-cache-dtype)")
    p.add_argument("--engine", choices=("vllm", "sglang", "trtllm"), default="vllm",
                   help="how the KV cache is sized (calc/serve.py ENGINES): vLLM's gpu_memory_utilization of the total, "
                        "SGLang's mem_fraction_static (weights + KV), TensorRT-LLM's kv_cache_free_gpu_memory_fraction "
                        "of the memory free after the weights; each engine's block size and batch defaults")
    p.add_argument("--gpu-memory-utilization", type=float_range(0.01, 1.0), default=None,
                   help="the engine's memory fraction (default: the engine's: vLLM 0.9, SGLang by GPU memory and tp, "
                        "TensorRT-LLM 0.9 of the free memory)")
    p.add_argument("--max-model-len", type=int_range(1, 100_000_000), default=8192, help="tokens per request")
    p.add_argument("--max-num-seqs", type=int_range(1, 1_000_000), default=None,
                   help="default as vLLM's server: 1024 on >= 70 GiB GPUs other than A100, else 256")
    p.add_argument("--max-num-batched-tokens", type=int_range(1, 100_000_000), default=None,
                   help="tokens of one scheduler step and of the profile forward (default 8192 or 2048, as vLLM)")
    p.add_argument("--block-size", type=int, choices=(1, 8, 16, 32, 64, 128), default=None,
                   help="tokens per KV block (default: the engine's: vLLM 16, SGLang 1, TensorRT-LLM 32)")
    o = p.add_argument_group("figures from a log (replace the estimates, GiB per GPU)")
    o.add_argument("--gpu-total-gib", type=float_range(0.1, 1e5, "GiB"), default=None,
                   help="total memory as vLLM logs it (total_gpu_memory); default: the catalog GPU's")
    o.add_argument("--weights-gib", type=_GIB, default=None, help="model weights per GPU")
    o.add_argument("--activation-gib", type=_GIB, default=None, help="PyTorch activation peak of the profile run")
    o.add_argument("--non-torch-gib", type=_GIB, default=None, help="non-torch memory (CUDA context, NCCL)")
    o.add_argument("--cuda-graph-gib", type=_GIB, default=0.0, help="CUDA graph memory counted before the KV cache")
    r = p.add_argument_group("load (continuous-batching simulation, calc/serve_sim.py)")
    r.add_argument("--rate", type=float_range(0.001, 1e6, "requests/s"), default=None,
                   help="Poisson request rate over all replicas: adds throughput and TTFT/TPOT/E2E percentiles")
    r.add_argument("--prompt-tokens", type=int_range(1, 10_000_000), default=1024, help="mean prompt tokens")
    r.add_argument("--output-tokens", type=int_range(2, 10_000_000), default=256, help="mean output tokens")
    r.add_argument("--length-cv", type=float_range(0, 10), default=0.0,
                   help="coefficient of variation of both lengths (gamma); 0: fixed")
    r.add_argument("--requests", type=int_range(10, 200_000), default=2000, help="requests simulated")
    r.add_argument("--target-rate", type=float_range(0.001, 1e6, "requests/s"), default=None,
                   help="with --slo-ttft/--slo-tpot: the replicas (and GPUs) this rate needs")
    r.add_argument("--slo-ttft", type=float_range(1e-6, 1e5, "s"), default=None, help="p99 time to first token")
    r.add_argument("--slo-tpot", type=float_range(1e-6, 1e3, "s"), default=None, help="p99 time per output token")
    r.add_argument("--tflops", type=float_range(0.001, 1e8, "TFLOP/s"), default=None,
                   help="matmul TFLOP/s (default: the GPU's peak x --matmul-efficiency, in the weights' GEMM precision: "
                        "FP8 for FP8 weights on GPUs with FP8 tensor cores, else bf16; calc.serve.gemm_dtype)")
    r.add_argument("--bandwidth-gbs", type=float_range(0.001, 1e8, "GB/s"), default=None,
                   help="memory GB/s (default: the datasheet x --bandwidth-efficiency)")
    r.add_argument("--matmul-efficiency", type=float_range(0.01, 1), default=None,
                   help="share of the peak (0.6; FP8 GEMMs 0.6 x their mamf-finder share over bf16's: 0.53 on H100)")
    r.add_argument("--bandwidth-efficiency", type=float_range(0.01, 1), default=None, help="share of the GB/s (0.8)")
    r.add_argument("--usd-per-gpu-hour", type=float_range(0, 1e4, "USD"), default=None,
                   help="adds the cost per million output tokens")
    p.add_argument("--json", action="store_true", help="print JSON (bytes per GPU)")
    p.set_defaults(run=run)


def _gib(v):
    return None if v is None else int(round(v * GIB))


def run(args) -> int:
    from calc.serve import ServeSetup, get_engine, serve_memory

    checkpoint_bytes = checkpoint = None
    if args.hf is not None:
        found = hub_model_from_args(args)
        if found.spec is None:
            raise ValueError(f"{found.name}: {found.note}")
        spec = found.spec
        if args.weights_dtype is None and found.checkpoint is not None:
            checkpoint_bytes = int(found.checkpoint.bytes)
            checkpoint = found.checkpoint
    else:
        spec = model_from_args(args)
    gpu = gpu_from_args(args, default="H100 SXM")
    gpus = args.gpus if args.gpus is not None else args.tp
    if gpus % args.tp:
        raise ValueError(f"--gpus {gpus} is not a multiple of --tp {args.tp}")
    total = _gib(args.gpu_total_gib) or gpu.memory_bytes
    engine = get_engine(args.engine)
    tokens, seqs = engine.batch_defaults(gpu.memory_bytes, gpu.name)
    fraction = (args.gpu_memory_utilization if args.gpu_memory_utilization is not None
                else engine.fraction(gpu.memory_bytes, args.tp))
    setup = ServeSetup(
        gpu_memory_bytes=total, tp=args.tp, weights_dtype=args.weights_dtype or "bf16", kv_dtype=args.kv_dtype,
        gpu_memory_utilization=fraction, engine=args.engine, max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs or seqs, max_num_batched_tokens=args.max_num_batched_tokens or tokens,
        block_size=args.block_size or engine.block_size, weights_bytes=_gib(args.weights_gib), activation_peak_bytes=_gib(args.activation_gib),
        non_torch_bytes=_gib(args.non_torch_gib), cuda_graph_bytes=_gib(args.cuda_graph_gib) or 0,
        checkpoint_bytes=checkpoint_bytes)
    m = serve_memory(spec, setup)
    replicas = gpus // args.tp
    out = {"model": spec.name, "gpu": gpu.name, "engine": args.engine, engine.fraction_name: fraction, "gpus": gpus, "tp": args.tp, "replicas": replicas,
           "gpu_memory_bytes": total, "gpu_memory_utilization": setup.gpu_memory_utilization,
           "requested_bytes": m.requested_bytes, "weights_bytes": m.weights_bytes,
           "activation_peak_bytes": m.activation_peak_bytes, "non_torch_bytes": m.non_torch_bytes,
           "cuda_graph_bytes": m.cuda_graph_bytes, "kv_cache_bytes": max(m.kv_cache_bytes, 0),
           "kv_cache_blocks": m.kv_cache_blocks, "kv_cache_tokens": m.kv_cache_tokens,
           "max_model_len": setup.max_model_len, "max_concurrency": m.max_concurrency,
           "max_concurrency_all_replicas": m.max_concurrency * replicas, "fits": m.fits,
           "block_size": m.block_size, "page_bytes": m.page_bytes, "kv_cache_groups": m.groups,
           "blocks_per_request": m.blocks_per_request, "request_kv_bytes": m.request_kv_bytes, "max_num_seqs": setup.max_num_seqs,
           "max_num_batched_tokens": setup.max_num_batched_tokens, "notes": m.notes}
    if args.rate is not None or args.target_rate is not None:
        out.update(_load(args, spec, gpu, setup, m, replicas, _stored_dtype(setup.weights_dtype, checkpoint)))
    if args.json:
        emit_json(out)
        return 0
    print(f"{printable(spec.name, 200)} on {replicas} x {args.tp} {gpu.name} ({engine.label}, {engine.fraction_name} "
          f"{fraction:g}): per GPU {format_bytes(total)}"
          + (f" x {fraction:g} = {format_bytes(m.requested_bytes)}" if engine.kv_rule != "free" else ""))
    print_table([{"part": k, "GiB": f"{v / GIB:,.2f}"} for k, v in (
        ("weights", m.weights_bytes), ("activation peak", m.activation_peak_bytes), ("non-torch", m.non_torch_bytes),
        ("CUDA graphs", m.cuda_graph_bytes), ("KV cache", max(m.kv_cache_bytes, 0)))])
    print(f"GPU KV cache size: {m.kv_cache_tokens:,} tokens ({m.kv_cache_blocks:,} blocks of {m.block_size})")
    print(f"Maximum concurrency for {setup.max_model_len:,} tokens per request: {m.max_concurrency:.2f}x per replica")
    if not m.fits:
        print("vLLM would refuse to start: one request of max_model_len does not fit in the KV cache")
    for n in m.notes:
        print(f"note: {printable(n, 300)}")
    if "ttft_s" in out:
        print(f"at {args.rate:g} requests/s over {replicas} replica(s): {out['throughput_tokens_per_s']:,.0f} output "
              f"tokens/s; " + "; ".join(f"{k[:-2].upper()} p50 {v['p50']:.3g} s, p99 {v['p99']:.3g} s"
                                       for k, v in ((k, out[k]) for k in ("ttft_s", "tpot_s", "e2e_s"))))
    if "replicas_needed" in out:
        need = out["replicas_needed"]
        print(f"one replica meets the SLOs up to {out['max_rate_per_replica']:.3g} requests/s: "
              + (f"{need} replica(s), {need * args.tp} GPUs for {args.target_rate:g} requests/s" if need
                 else "no rate meets them"))
    if out.get("cost_per_million_tokens") is not None:
        print(f"cost: {out['cost_per_million_tokens']:.3g} USD per million output tokens")
    return 0


def _stored_dtype(weights_dtype: str, checkpoint) -> str:
    """The weights' format: ``weights_dtype``, or FP8 when most of an ``--hf`` checkpoint's parameters are stored in
    an FP8 type (safetensors ``F8_E4M3`` / ``F8_E5M2``)."""
    if checkpoint is not None:
        fp8 = sum(v.parameters for k, v in checkpoint.by_dtype.items() if k.upper().startswith("F8"))
        if 2 * fp8 > checkpoint.parameters:
            return "fp8_e4m3"
    return weights_dtype


def _load(args, spec, gpu, setup, m, replicas: int, stored: str) -> dict:
    """The simulation's figures (calc/serve_sim.py) for --rate and --target-rate."""
    from calc.serve import gemm_dtype
    from calc.serve_sim import (
        BANDWIDTH_EFFICIENCY,
        cost_per_million_tokens,
        max_rate,
        poisson_workload,
        replicas_for,
        simulate_replicas,
        step_model,
        typical_matmul_efficiency,
    )

    if not m.fits:
        raise ValueError(f"{spec.name} leaves no room for one request of {setup.max_model_len:,} tokens on {gpu.name} "
                         f"x tp={setup.tp}: no load to simulate")
    if args.prompt_tokens + args.output_tokens > setup.max_model_len:
        raise ValueError(f"--prompt-tokens + --output-tokens ({args.prompt_tokens + args.output_tokens:,}) exceed "
                         f"--max-model-len {setup.max_model_len:,}")
    compute = gemm_dtype(stored, gpu)
    flops = args.tflops * 1e12 if args.tflops else gpu.peak(compute)
    bw = args.bandwidth_gbs * 1e9 if args.bandwidth_gbs else gpu.bandwidth_bytes_per_s
    if not flops or not bw:
        raise ValueError(f"{gpu.name} lacks a {compute} peak or a bandwidth in the catalog: pass --tflops and "
                         "--bandwidth-gbs")
    me = args.matmul_efficiency or (1.0 if args.tflops else typical_matmul_efficiency(gpu, compute))
    be = args.bandwidth_efficiency or (1.0 if args.bandwidth_gbs else BANDWIDTH_EFFICIENCY)
    model = step_model(spec, flops, bw, tp=setup.tp, weights_dtype=stored, kv_dtype=setup.kv_dtype,
                       matmul_efficiency=me, bandwidth_efficiency=be)
    kw = {"max_num_seqs": min(setup.max_num_seqs, m.max_running or setup.max_num_seqs),
          "max_num_batched_tokens": setup.max_num_batched_tokens, "kv_capacity_tokens": m.sim_kv_tokens,
          "state_tokens_per_request": m.state_tokens_per_request}
    out: dict = {"matmul_flops_per_s": flops * me, "matmul_dtype": None if args.tflops else compute,
                 "bandwidth_bytes_per_s": bw * be}
    if args.rate is not None:
        w = poisson_workload(args.requests, args.rate, args.prompt_tokens, args.output_tokens, args.length_cv)
        long = int((w.prompt_tokens + w.output_tokens).max())
        if m.sim_kv_tokens is not None and long + m.state_tokens_per_request > m.sim_kv_tokens:
            raise ValueError(f"a sampled request of {long:,} tokens exceeds the KV cache ({m.sim_kv_tokens:,} tokens)"
                             "; lower --length-cv")
        r = simulate_replicas(model, w, replicas, **kw)
        out.update({"rate": args.rate, "requests": args.requests,
                    "throughput_tokens_per_s": r.throughput_tokens_per_s, **r.percentiles()})
        if args.usd_per_gpu_hour is not None:
            out["cost_per_million_tokens"] = cost_per_million_tokens(replicas * setup.tp, args.usd_per_gpu_hour,
                                                                     r.throughput_tokens_per_s)
    if args.target_rate is not None:
        if args.slo_ttft is None and args.slo_tpot is None:
            raise ValueError("--target-rate needs --slo-ttft S and/or --slo-tpot S")
        per = max_rate(model, args.prompt_tokens, args.output_tokens, args.slo_ttft, args.slo_tpot,
                       requests=min(args.requests, 2000), **kw)
        need = replicas_for(args.target_rate, per)
        out.update({"target_rate": args.target_rate, "slo_ttft_s": args.slo_ttft, "slo_tpot_s": args.slo_tpot,
                    "max_rate_per_replica": per, "replicas_needed": need,
                    "gpus_needed": None if need is None else need * setup.tp})
    return out
