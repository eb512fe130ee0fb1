"""The validation harness: build each small architecture with ``transformers``, measure, predict, compare.

``python -m validate`` runs everything (two to six minutes on two shared CPU cores) and writes
``validate/results.json``, which the Validation page reads. ``tests/test_validation.py`` calls
the same functions, so CI re-measures instead of trusting the file.

Measured per architecture (``validate.configs.ARCHS``), all on the CPU with random weights:
- parameters, and weight bytes in fp32 and bf16;
- one training step (forward + loss, backward, ``torch.optim.AdamW.step``) for every combination of
  dtype (fp32, bf16), attention implementation (``eager``, ``sdpa``) and gradient checkpointing
  (``model.gradient_checkpointing_enable()``): gradient bytes, AdamW state bytes, and the bytes
  saved for backward (``validate.measure.SavedTensorCounter``: each storage once, parameters
  excluded) per decoder layer and in total;
- the KV cache after greedy generation, in fp32 and bf16;
- LoRA adapters (``peft``) on two architectures: trainable parameters, their gradients and AdamW
  states, and the bytes saved for backward.
The measurements are plain JSON; ``validate.predict`` turns them into predicted-vs-measured rows.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class Settings:
    """Workload sizes: small enough for CI, large enough that every term is visible (s > window)."""

    batch: int = 2
    seq_len: int = 160  # differs from hidden (128) so s x s score tensors are told apart by shape
    kv_batch: int = 2
    kv_prompt: int = 40
    kv_new_tokens: int = 9  # cache ends at 40 + 9 - 1 = 48 positions, past Gemma 2's window of 32
    lora_rank: int = 8
    lora_alpha: int = 16


#: LoRA runs: architecture key -> target module names (all linear layers; attention q and v only)
LORA_RUNS = {"llama_gqa": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
             "qwen2": ("q_proj", "v_proj")}


def _torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def build_model(arch, dtype: str = "fp32", attn: str = "eager", checkpointing: bool = False):
    """A randomly initialised ``*ForCausalLM`` for ``arch`` (seeded, so runs are repeatable)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = {k: v for k, v in arch.config.items() if k not in ("architectures", "model_type")}
    hf_config = AutoConfig.for_model(arch.config["model_type"], **cfg)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config, attn_implementation=attn, dtype=_torch_dtype(dtype))
    if checkpointing:
        model.gradient_checkpointing_enable()
    return model


def score_matrix_bytes(counter, seq_len: int) -> int:
    """Bytes of saved attention scores/probabilities: tensors whose last two dims are (seq, seq), or (seq,
    seq + 1) with gpt-oss's sink column, and that have a head dimension (a mask, ``(b, 1, s, s)``, is not a
    score matrix)."""
    def scores(shape: tuple) -> bool:
        return (len(shape) >= 3 and shape[-2] == seq_len and shape[-1] in (seq_len, seq_len + 1)
                and shape[-3] != 1)
    return sum(r.bytes for r in counter.records.values() if r.region.startswith("layer") and scores(r.shape))


def measure_training(arch, settings: Settings, dtype: str, attn: str, checkpointing: bool,
                     optimizer: bool = False) -> dict:
    """One forward+loss under the saved-tensor counter, backward, and optionally one AdamW step."""
    import torch

    from validate import measure

    model = build_model(arch, dtype, attn, checkpointing)
    n_layers = len(measure.decoder_layers(model)[0])
    counter, peaks = measure.measured_step(model, settings.batch, settings.seq_len)
    out = {
        "dtype": dtype, "attn": attn, "checkpointing": checkpointing,
        "saved_total_bytes": counter.total_bytes,
        "saved_regions": counter.by_region(),
        "saved_layer_bytes": counter.layer_bytes(n_layers),
        "score_matrix_bytes": score_matrix_bytes(counter, settings.seq_len),
        "saved_tensors_last_layer": counter.items(f"layer {n_layers - 1}"),
        "grad_bytes": measure.grad_bytes(model),
        **peaks,
    }
    if optimizer:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        opt.step()
        out["optimizer"] = measure.optimizer_state_bytes(opt)
    return out


def measure_arch(arch, settings: Settings) -> dict:
    """Everything measured for one architecture, as JSON-able data."""
    from validate import measure

    result: dict = {"key": arch.key, "label": arch.label, "features": arch.features, "config": arch.config}
    weights, fp32_kept = {}, {}
    for dtype in DTYPES:
        model = build_model(arch, dtype)
        stats = measure.param_stats(model)
        result["parameters"] = stats["parameters"]
        weights[dtype] = stats["weight_bytes"]
        fp32_kept[dtype] = {n: p.numel() for n, p in model.named_parameters()
                            if dtype != "fp32" and p.dtype == _torch_dtype("fp32")}
    result["weight_bytes"] = weights
    result["fp32_params"] = fp32_kept
    runs = []
    for dtype in DTYPES:
        for attn in arch.attn_implementations:
            for ckpt in (False, True):
                first = attn == arch.attn_implementations[-1] and not ckpt  # one optimizer step per dtype
                runs.append(measure_training(arch, settings, dtype, attn, ckpt, optimizer=first))
    result["training"] = runs
    kv = {}
    for dtype in DTYPES:
        model = build_model(arch, dtype, arch.attn_implementations[-1])
        kv[dtype] = measure.kv_cache_after_generate(model, settings.kv_prompt, settings.kv_new_tokens,
                                                    settings.kv_batch)
    result["kv_cache"] = kv
    if arch.key in LORA_RUNS:
        result["lora"] = [measure_lora(arch, settings, LORA_RUNS[arch.key], ckpt) for ckpt in (False, True)]
    return result


def measure_lora(arch, settings: Settings, targets: tuple[str, ...], checkpointing: bool) -> dict:
    """LoRA through ``peft`` (dropout 0, no bias), fp32, SDPA: adapters, their grads and states, saved bytes."""
    import torch
    from peft import LoraConfig, get_peft_model

    from validate import measure

    base = build_model(arch, "fp32", "sdpa", checkpointing)
    model = get_peft_model(base, LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha,
                                            target_modules=list(targets), lora_dropout=0.0, bias="none",
                                            task_type="CAUSAL_LM"))
    stats = measure.param_stats(model)
    n_layers = len(measure.decoder_layers(model)[0])
    counter, peaks = measure.measured_step(model, settings.batch, settings.seq_len)
    grads = measure.grad_bytes(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    opt.step()
    return {"targets": list(targets), "rank": settings.lora_rank, "checkpointing": checkpointing,
            "dtype": "fp32", "attn": "sdpa", **stats, "grad_bytes": grads, **peaks,
            "optimizer": measure.optimizer_state_bytes(opt),
            "saved_total_bytes": counter.total_bytes, "saved_regions": counter.by_region(),
            "saved_layer_bytes": counter.layer_bytes(n_layers),
            "saved_tensors_last_layer": counter.items(f"layer {n_layers - 1}")}


def measure_all(settings: Settings | None = None, archs=None) -> list[dict]:
    import torch

    from validate.configs import ARCHS

    settings = settings or Settings()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add scheduling noise on a shared CPU
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _quiet_transformers()
            return [measure_arch(a, settings) for a in (archs or ARCHS)]
    finally:
        torch.set_num_threads(threads)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()


def run(settings: Settings | None = None, archs=None) -> dict:
    """Measure, predict and compare; returns the document ``results.json`` holds."""
    import torch
    import transformers

    from validate import predict

    settings = settings or Settings()
    t0 = time.perf_counter()
    measurements = measure_all(settings, archs)
    records = predict.records(measurements, settings)
    return {
        "command": "python -m validate",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "runtime_s": round(time.perf_counter() - t0, 1),
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "python": platform.python_version(), "device": "cpu",
                        "threads": torch.get_num_threads()},
        "settings": asdict(settings),
        "records": records,
        "measurements": measurements,
        "gpu": load_gpu_results(),
    }


def load_gpu_results() -> list[dict]:
    """Rows from ``validate/gpu_results.json`` if ``validate/gpu_step.py`` has been run on a GPU."""
    path = RESULTS_PATH.with_name("gpu_results.json")
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("rows", [])


def write(doc: dict, path: Path = RESULTS_PATH) -> Path:
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return path
