"""A full training step on one CUDA GPU: ``torch.cuda.max_memory_allocated`` against the calculator.

Run on a machine with a CUDA GPU, from the repository root::

    python -m validate.gpu_step            # about a minute on an H100/H200; writes validate/gpu_results.json
    python -m validate                     # folds those rows into validate/results.json (the page reads it)
    python -m validate.gpu_step --dry-run  # no GPU needed: prints the configurations and predictions only
    python -m validate.gpu_step --engines  # DDP and FSDP2 under NCCL, one rank per GPU (validate.sharded);
                                           # writes validate/gpu_sharded_results.json

Each configuration is a real architecture from ``calc.presets`` with random weights (same shapes,
same allocations as the trained checkpoint), trained with ``torch.optim.AdamW`` for two steps on
random tokens. Step 1 allocates the optimizer states; the peak of step 2 (forward, loss, backward,
``optimizer.step()``, ``zero_grad(set_to_none=True)``) is compared with
``training_memory(spec, setup).total`` with ``overhead_bytes=0``: ``max_memory_allocated`` counts
tensors only, not the CUDA context or the caching allocator's reserve, which are reported apart
(``max_memory_reserved`` and the device's used memory from ``torch.cuda.mem_get_info``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "gpu_results.json"


@dataclass(frozen=True)
class GpuCase:
    name: str
    preset: str
    precision: str  # "bf16" (pure bf16, AdamW states in bf16) or "fp32"
    micro_batch: int
    seq_len: int
    recompute: str = "none"  # "full": model.gradient_checkpointing_enable()
    finetune: str = "full"
    lora_targets: tuple[str, ...] = ()
    lora_rank: int = 16
    attn: str = "sdpa"


CASES = (
    GpuCase("Llama-3.2-1B, bf16, AdamW, batch 4 x 2048, SDPA", "Llama-3.2-1B", "bf16", 4, 2048),
    GpuCase("Llama-3.2-1B, bf16, AdamW, batch 8 x 4096, SDPA, gradient checkpointing", "Llama-3.2-1B", "bf16",
            8, 4096, recompute="full"),
    GpuCase("Qwen2.5-0.5B, fp32, AdamW, batch 4 x 1024, SDPA", "Qwen2.5-0.5B", "fp32", 4, 1024),
    GpuCase("Llama-3.2-3B, bf16, LoRA r=16 on q,k,v,o, batch 4 x 2048, SDPA", "Llama-3.2-3B", "bf16", 4, 2048,
            finetune="lora", lora_targets=("q_proj", "k_proj", "v_proj", "o_proj")),
)


def setup_for(case: GpuCase):
    from calc.memory import TrainingSetup

    kw = dict(finetune=case.finetune, lora_rank=case.lora_rank, lora_targets=case.lora_targets) \
        if case.finetune != "full" else {}
    return TrainingSetup(precision=case.precision, optimizer="adamw", micro_batch=case.micro_batch,
                         seq_len=case.seq_len, recompute=case.recompute, flash_attention=case.attn == "sdpa",
                         overhead_bytes=0, **kw)


def predict(case: GpuCase) -> dict:
    from calc.memory import training_memory
    from calc.presets import get_preset

    b = training_memory(get_preset(case.preset), setup_for(case))
    return {"predicted_bytes": b.total, "predicted_components": b.components()}


def build(case: GpuCase):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from calc.presets import PRESETS

    cfg = {k: v for k, v in PRESETS[case.preset].config.items() if k not in ("architectures", "model_type")}
    hf = AutoConfig.for_model(PRESETS[case.preset].config["model_type"], **cfg)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[case.precision]
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(hf, attn_implementation=case.attn, dtype=dtype)
    if case.recompute == "full":
        model.gradient_checkpointing_enable()
    if case.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=case.lora_rank, lora_alpha=2 * case.lora_rank,
                                                 target_modules=list(case.lora_targets), lora_dropout=0.0,
                                                 bias="none", task_type="CAUSAL_LM"))
    return model


def measure(case: GpuCase) -> dict:
    """Two AdamW steps; the peak of the second, and the model states after it."""
    import torch

    from validate.measure import grad_bytes, optimizer_state_bytes, param_stats

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build(case)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (case.micro_batch, case.seq_len), device="cuda")
    states = {}
    for step in range(2):
        if step == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        del loss
        states = {"grad_bytes": grad_bytes(model), **optimizer_state_bytes(opt)} if step == 1 else states
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return {"measured_bytes": torch.cuda.max_memory_allocated(), "allocated_before_step_bytes": before,
            "max_reserved_bytes": torch.cuda.max_memory_reserved(), "device_used_bytes": total - free,
            "step_s": round(time.perf_counter() - t0, 3), **param_stats(model), **states}


def run_case(case: GpuCase) -> dict:
    import torch

    row = {"name": case.name, "preset": case.preset, "setup": repr(setup_for(case)), **predict(case)}
    try:
        row.update(measure(case))
        row["error_pct"] = round(100 * (row["predicted_bytes"] - row["measured_bytes"]) / row["measured_bytes"], 2)
    except torch.cuda.OutOfMemoryError as exc:
        row.update(measured_bytes=None, error_pct=None, error=f"out of memory: {str(exc)[:200]}")
    row["device"] = torch.cuda.get_device_name()
    return row


def _engines(dry_run: bool) -> int:
    """Issue 14 item 5: the sharded validation's steps under NCCL on this machine's GPUs."""
    from validate import predict_sharded, sharded

    if dry_run:
        for m in sharded.MODELS:
            for c in sharded.CASES:
                doc = {"rows": [{"arch": m, "case": c.key, "rank": 0, "world": 1, "states_bytes": 1, "peak_bytes": 1,
                                 "profiler_states_bytes": None, "profiler_peak_bytes": None, "states_by_kind": {},
                                 "peak_by_kind": {}}], "cases": [sharded.asdict(c)], "backend": "nccl",
                       "settings": {"batch": 2, "seq_len": 160}}
                rec = predict_sharded.records(doc)
                print(f"{m} {c.key}: states {rec[0]['predicted']:,} B, step peak {rec[1]['predicted']:,} B (1 rank)")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA device; use --engines --dry-run to see the predictions", file=sys.stderr)
        return 2
    doc = sharded.run_gpu()
    path = sharded.write(doc, sharded.GPU_PATH)
    for r in doc["records"]:
        print(f"{r['arch']:12s} {r['case']:16s} rank {r['rank']}  {r['quantity']:21s} predicted {r['predicted']:,} "
              f"measured {r['measured']:,} ({r['error_pct']:+.2f}%)")
    for r in doc["rows"]:
        print(f"{r['arch']:12s} {r['case']:16s} rank {r['rank']}  allocator reserve beyond the peak "
              f"(fragmentation, cache): {r['fragmentation_bytes']:,} B")
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print configurations and predictions; no GPU needed")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--engines", action="store_true",
                    help="DDP and FSDP2 under NCCL, one rank per GPU (validate.sharded.run_gpu): writes "
                         "validate/gpu_sharded_results.json")
    args = ap.parse_args(argv)
    if args.engines:
        return _engines(args.dry_run)
    if args.dry_run:
        for c in CASES:
            p = predict(c)
            print(f"{c.name}: predicted {p['predicted_bytes'] / 2**30:.2f} GiB {p['predicted_components']}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA device; use --dry-run to see the predictions", file=sys.stderr)
        return 2
    rows = []
    for c in CASES:
        row = run_case(c)
        rows.append(row)
        got = "n/a" if row["measured_bytes"] is None else f"{row['measured_bytes'] / 2**30:.2f} GiB"
        print(f"{c.name}: predicted {row['predicted_bytes'] / 2**30:.2f} GiB, measured {got}, "
              f"error {row['error_pct']}%", flush=True)
    import transformers

    args.out.write_text(json.dumps({"generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "torch": torch.__version__,
                                    "transformers": transformers.__version__, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
