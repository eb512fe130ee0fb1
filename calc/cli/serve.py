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
    p.add_argument("--gpu-memory-utilization", type=float_range(0.01, 1.0), default=0.9,
                   help="share of each GPU's memory vLLM may use (vLLM default 0.9)")
    p.add_argument("--max-model-len", type=int_range(1, 100_000_000), default=8192, help="tokens per request")
    p.add_argument("--max-num-seqs", type=int_range(1, 1_000_000), default=None,
                   help="default as vLLM's server: 1024 on >= 70 GiB GPUs other than A100, else 256")
    p.add_argument("--max-num-batched-tokens", type=int_range(1, 100_000_000), default=None,
                   help="tokens of one scheduler step and of the profile forward (default 8192 or 2048, as vLLM)")
    p.add_argument("--block-size", type=int, choices=(1, 8, 16, 32, 64, 128), default=16, help="tokens per KV block")
    o = p.add_argument_group("figures from a log (replace the estimates, GiB per GPU)")
    o.add_argument("--gpu-total-gib", type=float_range(0.1, 1e5, "GiB"), default=None,
                   help="total memory as vLLM logs it (total_gpu_memory); default: the catalog GPU's")
    o.add_argument("--weights-gib", type=_GIB, default=None, help="model weights per GPU")
    o.add_argument("--activation-gib", type=_GIB, default=None, help="PyTorch activation peak of the profile run")
    o.add_argument("--non-torch-gib", type=_GIB, default=None, help="non-torch memory (CUDA context, NCCL)")
    o.add_argument("--cuda-graph-gib", type=_GIB, default=0.0, help="CUDA graph memory counted before the KV cache")
    p.add_argument("--json", action="store_true", help="print JSON (bytes per GPU)")
    p.set_defaults(run=run)


def _gib(v):
    return None if v is None else int(round(v * GIB))


def run(args) -> int:
    from calc.serve import ServeSetup, serve_memory, vllm_batch_defaults

    checkpoint_bytes = None
    if args.hf is not None:
        found = hub_model_from_args(args)
        if found.spec is None:
            raise ValueError(f"{found.name}: {found.note}")
        spec = found.spec
        if args.weights_dtype is None and found.checkpoint is not None:
            checkpoint_bytes = int(found.checkpoint.bytes)
    else:
        spec = model_from_args(args)
    gpu = gpu_from_args(args, default="H100 SXM")
    gpus = args.gpus if args.gpus is not None else args.tp
    if gpus % args.tp:
        raise ValueError(f"--gpus {gpus} is not a multiple of --tp {args.tp}")
    total = _gib(args.gpu_total_gib) or gpu.memory_bytes
    tokens, seqs = vllm_batch_defaults(gpu.memory_bytes, gpu.name)
    setup = ServeSetup(
        gpu_memory_bytes=total, tp=args.tp, weights_dtype=args.weights_dtype or "bf16", kv_dtype=args.kv_dtype,
        gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs or seqs, max_num_batched_tokens=args.max_num_batched_tokens or tokens,
        block_size=args.block_size, weights_bytes=_gib(args.weights_gib), activation_peak_bytes=_gib(args.activation_gib),
        non_torch_bytes=_gib(args.non_torch_gib), cuda_graph_bytes=_gib(args.cuda_graph_gib) or 0,
        checkpoint_bytes=checkpoint_bytes)
    m = serve_memory(spec, setup)
    replicas = gpus // args.tp
    out = {"model": spec.name, "gpu": gpu.name, "gpus": gpus, "tp": args.tp, "replicas": replicas,
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
    if args.json:
        emit_json(out)
        return 0
    print(f"{printable(spec.name, 200)} on {replicas} x {args.tp} {gpu.name}: per GPU {format_bytes(total)} x "
          f"{setup.gpu_memory_utilization:g} = {format_bytes(m.requested_bytes)}")
    print_table([{"part": k, "GiB": f"{v / GIB:,.2f}"} for k, v in (
        ("weights", m.weights_bytes), ("activation peak", m.activation_peak_bytes), ("non-torch", m.non_torch_bytes),
        ("CUDA graphs", m.cuda_graph_bytes), ("KV cache", max(m.kv_cache_bytes, 0)))])
    print(f"GPU KV cache size: {m.kv_cache_tokens:,} tokens ({m.kv_cache_blocks:,} blocks of {m.block_size})")
    print(f"Maximum concurrency for {setup.max_model_len:,} tokens per request: {m.max_concurrency:.2f}x per replica")
    if not m.fits:
        print("vLLM would refuse to start: one request of max_model_len does not fit in the KV cache")
    for n in m.notes:
        print(f"note: {printable(n, 300)}")
    return 0
