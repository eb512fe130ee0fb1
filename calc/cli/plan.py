"""``python -m calc plan``: the fastest parallel layouts of a training run on a cluster (``calc/plan.py``).

    python -m calc plan --model Llama-3.1-405B --gpu "H100 SXM" --gpus 16384 --seq 8192 \\
        --global-batch-tokens 16777216 --tokens 15.6T --top 5 --json   # 2,048 sequences of 8,192
    python -m calc plan ... --tp 8 --pp 16 --vpp 4          # pin knobs; the rest is searched

``--global-batch-tokens 16M`` is 16,000,000 tokens: 1,953 sequences of 8,192, an odd count, so data parallelism
over 16,384 GPUs is capped at 1 (a note on stderr says so); Llama 3's "16M" is 2^24.

When no layout fits the GPU's memory by ``calc.memory``'s estimate, the fastest are printed anyway with the memory
each would need, a one-line warning on stderr and ``"fits_memory": false`` in the JSON (as the Cluster planner page
does): Llama 3 405B's published layouts (``calc.plan_runs``) are such a case. ``"notes"`` in the JSON repeats what
stderr says (that warning, a batch whose sequence count caps data parallelism).
"""

from __future__ import annotations

import sys

from calc.cli import emit_json, print_table
from calc.cli.common import add_gpu_args, add_model_args, float_range, gpu_from_args, int_range, model_from_args

_KNOBS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch", "recompute", "zero")


def _quantity(lo: float, hi: float):
    from calc.cli.common import Bounded

    def parse(text: str) -> float:
        from calc.cli.compute import quantity
        return quantity(text)
    return Bounded(lo, hi, parse=parse)


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="training-cluster planner: the fastest layouts (tp/pp/dp/cp/ep), step time, MFU")
    add_model_args(p)
    add_gpu_args(p, "catalog GPU (see `python -m calc gpus`)", default="H100 SXM")
    p.add_argument("--gpus", type=int_range(1, 10_000_000), required=True, help="GPUs in the job")
    p.add_argument("--gpus-per-node", type=int_range(1, 1024), default=8, help="GPUs joined by the intra-node link")
    p.add_argument("--seq", type=int_range(1, 100_000_000), default=4096, help="sequence length (tokens)")
    p.add_argument("--global-batch-tokens", type=_quantity(1, 1e12), required=True,
                   help="tokens per iteration (e.g. 4194304 = 2^22), rounded to whole sequences of --seq; dp must "
                        "divide the sequence count (4M of 4,096 is 977 sequences, a prime: dp 1)")
    p.add_argument("--tokens", type=_quantity(1, 1e18), default=None, help="training tokens, for days and cost")
    p.add_argument("--precision", choices=("bf16", "fp8"), default="bf16", help="matmul precision of the peak")
    p.add_argument("--price", type=float_range(0, 10_000, "$/GPU-hour"), default=0.0, help="$ per GPU-hour")
    p.add_argument("--matmul-efficiency", type=float_range(0.001, 1), default=None,
                   help="share of the dense peak the matmuls sustain (default: the fitted curve of hidden/tp)")
    p.add_argument("--intra-gbps", type=float_range(0.001, 1e6, "GB/s"), default=None,
                   help="intra-node bus bandwidth per GPU in GB/s (default: the GPU's NVLink/PCIe row)")
    p.add_argument("--inter-gbps", type=float_range(0.001, 1e6, "GB/s"), default=None,
                   help="inter-node bandwidth per GPU in GB/s (default: the GPU's NIC row)")
    p.add_argument("--measured-links", action="store_true",
                   help="intra-node link at NCCL's published measured ring bus bandwidth (calc.plan.MEASURED_INTRA: "
                        "A100, H100, H200) instead of the datasheet's; --intra-gbps still wins")
    k = p.add_argument_group("pin knobs (the others are searched)")
    for name in ("tp", "pp", "dp", "cp", "ep", "vpp"):
        k.add_argument(f"--{name}", type=int_range(1, 1_000_000), default=None, help=f"pin {name}")
    k.add_argument("--micro-batch", type=int_range(1, 1_000_000), default=None, help="pin the micro-batch")
    k.add_argument("--recompute", choices=("none", "selective", "full"), default=None, help="pin recompute")
    k.add_argument("--zero", type=int_range(0, 3), default=None, help="pin the ZeRO stage")
    # calc.plan.STACKS' names, written out so that building the parser does not import the planner (CLI start-up,
    # issue 18); tests/test_plan.py::test_cli_offers_every_stack holds the two equal
    p.add_argument("--stack", choices=("any", "megatron-2021", "megatron-2022", "metaseq-2021",
                                       "megatron-deepspeed-2022", "composer-fsdp-2023", "composer-fsdp-2024",
                                       "torchtitan-2024", "llama3-2024"),
                   default="any", help="search only what a published run's training stack supported (calc.plan.STACKS)")
    p.add_argument("--top", type=int_range(1, 1000), default=5, help="layouts to list")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(run=run)


def run(args) -> int:
    from calc.plan import STACKS, Cluster, Job, batch_dp_note, plan_dict, search

    model = model_from_args(args)
    gpu = gpu_from_args(args, default="H100 SXM", need=("bandwidth", "flops"))
    sequences = round(args.global_batch_tokens / args.seq)  # 16M at 8k: 1,953 sequences
    if sequences < 1:
        raise ValueError(f"--global-batch-tokens ({args.global_batch_tokens:g}) must hold at least one --seq "
                         f"({args.seq:,}) sequence")
    tokens = sequences * args.seq
    cluster = Cluster(gpu, args.gpus, args.gpus_per_node,
                      None if args.intra_gbps is None else args.intra_gbps * 1e9,
                      None if args.inter_gbps is None else args.inter_gbps * 1e9, args.price,
                      measured_links=args.measured_links)
    job = Job(args.seq, tokens, args.precision, args.tokens, args.matmul_efficiency)
    pins = {k: getattr(args, k) for k in _KNOBS if getattr(args, k) is not None}
    stack = None if args.stack == "any" else STACKS[args.stack]
    fits = True
    notes = []  # what stderr says, for a --json reader too
    try:
        plans = search(model, cluster, job, pins, args.top, stack=stack)
    except ValueError as exc:
        if not str(exc).startswith("no layout fits"):
            raise
        # as the Cluster planner page does: the fastest layouts anyway, with the memory they would need (a published
        # layout the memory model puts over the card, Llama 3 405B's, must still show the numbers its test checks)
        plans = search(model, cluster, job, pins, args.top, require_fit=False, stack=stack)
        fits = False
        notes.append(f"{exc}; the fastest layouts are shown anyway, with the memory each would need")
        print(f"warning: {notes[-1]}", file=sys.stderr)
    rows = [plan_dict(p, job, args.price) for p in plans]
    note = batch_dp_note(sequences, args.gpus, args.seq)
    if note:
        notes.append(note)
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        emit_json({"layouts": rows, "fits_memory": fits, "notes": notes})
        return 0
    table = [{"tp": r["tp"], "pp": r["pp"], "dp": r["dp"], "cp": r["cp"], "ep": r["ep"], "vpp": r["vpp"],
              "mb": r["micro_batch"], "recompute": r["recompute"], "zero": r["zero"],
              "GiB/GPU": f"{r['memory_per_gpu_bytes'] / 2**30:.1f}", "step s": f"{r['step_s']:.3f}",
              "MFU": f"{r['mfu']:.1%}", "TFLOP/s/GPU": f"{r['model_tflops_per_gpu']:.0f}",
              **({"days": f"{r['days']:.1f}"} if "days" in r else {})} for r in rows]
    print_table(table)
    return 0
