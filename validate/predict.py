"""Pair each measurement with what the calculator predicts for the same setup.

One row per (architecture, formula, case): ``predicted`` (from ``calc``), ``measured`` (from
``validate.measure``), the signed error ``100 (predicted - measured) / measured`` and the tolerance
the tests hold it to: 0 (exact) for parameters, weights, gradients, optimizer states and the KV
cache; 10 % for activations. A formula that ``calc`` does not provide yet gives ``predicted = None``
and a note naming the missing function, so the page shows the gap instead of hiding it.

Conventions that make the two sides comparable (each is stated again in the row's note):
- Saved activations are compared per decoder layer through ``calc.activations.layer_terms`` with
  ``device="cpu"`` (PyTorch's CPU kernels are what ran), ``act_bits`` = the dtype the model ran in
  (fp32: 32, bf16: 16), ``flash_attention`` = the run used SDPA and ``dropout`` = the config's
  (``calc.activations.config_dropout``). The CPU flash kernel needs equal query/key and value head
  dims and no dropout; DeepSeek-V3's dims differ (48 vs 32) and GPT-2 drops out 10%, so their SDPA
  runs use the math kernel and store the ``s x s`` probabilities, which ``layer_terms`` models for
  the CPU (``Arch.sdpa_fused`` says which; a test checks the saved shapes agree with it).
- The whole-model peak is compared with ``calc.memory.activation_bytes`` for
  ``TrainingSetup(device="cpu", dropout=None)``: the CPU kernels, the config's dropout.
- MLA's KV cache: ``transformers`` 5 caches the compressed latent (``kv_lora_rank`` + the shared
  RoPE key per token, ``modeling_deepseek_v3.py``: "Cache read / write is performed while latent
  KV is still compressed"), so it is compared with ``mla_compressed=True``.
- AdamW states: ``exp_avg`` + ``exp_avg_sq`` (per element); the 0-dim ``step`` tensors
  (4 B per parameter tensor) are listed in the note, not in the comparison.
"""

from __future__ import annotations

import importlib

from calc.models import ModelSpec, param_counts

EXACT, ACTIVATION_TOL = 0.0, 10.0
BITS = {"fp32": 32, "bf16": 16}


def _fn(module: str, name: str):
    """``calc.<module>.<name>`` or ``None`` when it does not exist (yet)."""
    try:
        return getattr(importlib.import_module(f"calc.{module}"), name, None)
    except ImportError:
        return None


def _missing(module: str, name: str) -> str:
    return f"calc.{module}.{name} is not available, so there is no prediction yet"


def row(m: dict, formula: str, case: str, predicted, measured: int, tol: float, calc: str, note: str = "",
        unit: str = "bytes") -> dict:
    err = None if predicted is None or not measured else round(100.0 * (predicted - measured) / measured, 3)
    ok = None if err is None else abs(err) <= tol + 1e-9
    return {"arch": m["key"], "label": m["label"], "formula": formula, "case": case,
            "predicted": None if predicted is None else int(predicted), "measured": int(measured),
            "error_pct": err, "tolerance_pct": tol, "ok": ok, "unit": unit, "calc": calc, "note": note}


def case_label(run: dict) -> str:
    attn = {"eager": "eager", "sdpa": "SDPA"}[run["attn"]]
    return f"{run['dtype']} · {attn} · {'checkpointing' if run['checkpointing'] else 'no recompute'}"


def records(measurements: list[dict], settings) -> list[dict]:
    from validate.configs import get_arch

    out: list[dict] = []
    for m in measurements:
        arch = get_arch(m["key"])
        spec = ModelSpec.from_hf_config(m["config"], name=arch.label)
        out += model_state_rows(m, spec, settings)
        out += kv_rows(m, spec, settings)
        out += activation_rows(m, spec, arch, settings)
        out += lora_rows(m, spec, settings)
    return out


def _setup(dtype: str, settings, **kw):
    """The ``TrainingSetup`` that describes what the harness ran: pure fp32 or pure bf16, AdamW, no overhead,
    PyTorch's CPU kernels, the config's dropout."""
    from calc.memory import TrainingSetup

    return TrainingSetup(precision={"fp32": "fp32", "bf16": "bf16"}[dtype], optimizer="adamw",
                         micro_batch=settings.batch, seq_len=settings.seq_len, overhead_bytes=0, device="cpu", **kw)


def model_state_rows(m: dict, spec: ModelSpec, settings) -> list[dict]:
    n = param_counts(spec).total
    rows = [row(m, "Parameters", "all", n, m["parameters"], EXACT, "param_counts(spec).total",
                "sum of p.numel() over model.parameters() (tied embeddings once)", unit="parameters")]
    training_memory = _fn("memory", "training_memory")
    for run in m["training"]:
        if "optimizer" not in run:
            continue
        dtype = run["dtype"]
        prec = {"fp32": "fp32", "bf16": "bf16"}[dtype]
        b = training_memory(spec, _setup(dtype, settings)) if training_memory else None
        call = f"training_memory(spec, TrainingSetup(precision={prec!r}, optimizer='adamw')).{{}}"
        missing = _missing("memory", "training_memory")
        o = run["optimizer"]
        for formula, comp, measured, note in (
            ("Weights", "weights", m["weight_bytes"][dtype],
             f"storage bytes of model.parameters() of the {dtype} model" + _fp32_kept(m, dtype)),
            ("Gradients", "gradients", run["grad_bytes"],
             f"storage bytes of p.grad after backward ({dtype} model: {dtype} gradients)"),
            ("Optimizer states (AdamW)", "optimizer_states", o["state_bytes"],
             f"exp_avg + exp_avg_sq after one torch.optim.AdamW step on the {dtype} model (states take the "
             f"parameter dtype); not compared: {o['step_scalars']} fp32 step scalars = {o['step_scalar_bytes']} B"),
        ):
            pred = getattr(b, comp) if b is not None else None
            rows.append(row(m, formula, dtype, pred, measured, EXACT, call.format(comp), note if b else missing))
    return rows


def _fp32_kept(m: dict, dtype: str) -> str:
    kept = m.get("fp32_params", {}).get(dtype) or {}
    if not kept:
        return ""
    names = ", ".join(f"{k} ({v:,})" for k, v in kept.items())
    return f"; transformers keeps these parameters in fp32 (_keep_in_fp32_modules_strict): {names}"


def kv_rows(m: dict, spec: ModelSpec, settings) -> list[dict]:
    from calc.kvcache import kv_cache_bytes, state_bytes

    rows = []
    for dtype, kv in m["kv_cache"].items():
        pred = kv_cache_bytes(spec, settings.kv_batch, kv["positions"], dtype, mla_compressed=True)
        note = (f"storage of DynamicCache keys/values after generate: batch {settings.kv_batch}, "
                f"{kv['positions']} cached positions")
        if spec.sliding_window:
            note += (f"; sliding layers keep a view of window-1 = {spec.sliding_window - 1} positions into a "
                     f"buffer of {spec.sliding_window} (visible elements: {kv['tensor_bytes']} B)")
        if spec.is_mla:
            note += "; MLA latent cached compressed (kv_lora_rank + qk_rope_head_dim per token)"
        rows.append(row(m, "KV cache", dtype, pred, kv["storage_bytes"], EXACT,
                        f"kv_cache_bytes(spec, {settings.kv_batch}, {kv['positions']}, {dtype!r}, "
                        "mla_compressed=True)", note))
        if kv.get("state_bytes"):  # a hybrid: conv and recurrent states, the same at any length
            rows.append(row(m, "Recurrent state", dtype, state_bytes(spec, settings.kv_batch, dtype, ssm_dtype="fp32"),
                            kv["state_bytes"], EXACT,
                            f"state_bytes(spec, {settings.kv_batch}, {dtype!r}, ssm_dtype='fp32')",
                            "storage of the cache's conv_states and recurrent_states after generate (conv state in "
                            f"the model's dtype, recurrent state in fp32): batch {settings.kv_batch}"))
    return rows


def layer_predictions(spec: ModelSpec, settings, *, recompute: str, flash: bool, act_bits: int,
                      lora: tuple | None = None):
    """Predicted bytes per decoder layer and for the tensors all layers share (masks), or ``None``.

    Summed as ``calc.memory`` sums a stage: ``layer_terms`` per layer, a term marked ``shared`` (one
    tensor every layer saves, such as the mask a checkpoint keeps) once. ``device="cpu"``: the
    kernels that ran are PyTorch's CPU ones (``calc.activations`` knows where they differ).
    """
    import inspect

    layer_terms = _fn("activations", "layer_terms")
    terms_bytes = _fn("activations", "terms_bytes")
    if layer_terms is None or terms_bytes is None:
        return None
    accepted = inspect.signature(layer_terms).parameters
    kw = dict(recompute=recompute, flash_attention=flash, act_bits=act_bits, device="cpu")
    config_dropout = _fn("activations", "config_dropout")
    if config_dropout is not None:
        kw["dropout"] = config_dropout(spec)
    if "seq_len" in accepted:
        kw["seq_len"] = settings.seq_len
    if lora is not None:
        if "lora" not in accepted:
            return None
        kw["lora"] = lora
    per_layer, shared = [], {}
    for i in range(spec.num_layers):
        terms = layer_terms(spec, i, **kw)
        shared.update({x.name: x for x in terms if getattr(x, "shared", False)})
        per_layer.append(terms_bytes([x for x in terms if not getattr(x, "shared", False)],
                                     settings.batch, settings.seq_len))
    return per_layer, terms_bytes(list(shared.values()), settings.batch, settings.seq_len)


def activation_rows(m: dict, spec: ModelSpec, arch, settings) -> list[dict]:
    activation_bytes = _fn("memory", "activation_bytes")
    rows = []
    for run in m["training"]:
        sdpa = run["attn"] == "sdpa"
        recompute = "full" if run["checkpointing"] else "none"
        bits = BITS[run["dtype"]]
        case = case_label(run)
        pred = layer_predictions(spec, settings, recompute=recompute, flash=sdpa, act_bits=bits)
        run["predicted_layer_bytes"], run["predicted_shared_bytes"] = pred if pred else (None, None)
        measured = sum(run["saved_layer_bytes"]) + run["saved_regions"].get("shared", 0)
        kw = f"recompute={recompute!r}, flash_attention={sdpa}, act_bits={bits}, device='cpu', dropout=config_dropout(spec)"
        call = f"sum over layers i of terms_bytes(layer_terms(spec, i, {kw}), {settings.batch}, {settings.seq_len})"
        note = (f"bytes saved for backward inside the {spec.num_layers} decoder layers, plus the tensors they "
                f"share (RoPE tables, a checkpoint's mask): saved_tensors_hooks, each storage once, parameters "
                f"excluded; s x s scores saved: {run['score_matrix_bytes']:,} B")
        if sdpa and not arch.sdpa_fused:
            note += ("; CPU SDPA ran its math kernel (" + arch.sdpa_math_reason + "), which layer_terms models "
                     "for device='cpu'")
        rows.append(row(m, "Activations saved (decoder layers)", case,
                        None if pred is None else sum(pred[0]) + pred[1], measured, ACTIVATION_TOL, call,
                        note if pred is not None else _missing("activations", "layer_terms")))
        setup_kw = dict(recompute=recompute, flash_attention=sdpa)
        peak_pred = activation_bytes(spec, _setup(run["dtype"], settings, **setup_kw)) if activation_bytes else None
        prec = {"fp32": "fp32", "bf16": "bf16"}[run["dtype"]]
        rows.append(row(m, "Activations peak (whole model)", case, peak_pred, run["peak_bytes"], ACTIVATION_TOL,
                        f"activation_bytes(spec, TrainingSetup(precision={prec!r}, micro_batch={settings.batch}, "
                        f"seq_len={settings.seq_len}, recompute={recompute!r}, flash_attention={sdpa}, "
                        "device='cpu'))",
                        "peak of the tensor bytes created during forward + loss + backward, gradients excluded "
                        "(validate.measure.PeakTracker: every ATen op, storages dropped when freed); dropout: "
                        + _dropout_note(spec)
                        if peak_pred is not None else _missing("memory", "activation_bytes")))
    return rows


def _dropout_note(spec: ModelSpec) -> str:
    config_dropout = _fn("activations", "config_dropout")
    if config_dropout is None:
        return "not modelled"
    d = config_dropout(spec)
    sites = [f"{site} {getattr(d, site)}" for site in ("attention", "residual", "embedding", "activation")
             if getattr(d, site)]
    return "the config's (" + (", ".join(sites) or "none") + ")"


def lora_rows(m: dict, spec: ModelSpec, settings) -> list[dict]:
    """LoRA (peft, fp32, SDPA): trainable count, model states and activations against ``finetune='lora'``."""
    lora_params = _fn("memory", "lora_params")
    training_memory = _fn("memory", "training_memory")
    activation_bytes = _fn("memory", "activation_bytes")
    rows = []
    for run in m.get("lora", []):
        targets = tuple(run["targets"])
        recompute = "full" if run["checkpointing"] else "none"
        case = f"r={run['rank']} on {', '.join(targets)}" + (" · checkpointing" if run["checkpointing"] else "")
        pred = lora_params(spec, run["rank"], targets) if lora_params else None
        rows.append(row(m, "LoRA trainable parameters", case, pred, run["trainable"], EXACT,
                        f"lora_params(spec, {run['rank']}, {targets})",
                        "peft adapters: r x (d_in + d_out) per adapted matrix" if pred is not None
                        else _missing("memory", "lora_params"), unit="parameters"))
        setup = _setup("fp32", settings, finetune="lora", lora_rank=run["rank"], lora_targets=targets,
                       recompute=recompute, flash_attention=True)
        b = training_memory(spec, setup) if training_memory else None
        call = (f"training_memory(spec, TrainingSetup(precision='fp32', finetune='lora', lora_rank={run['rank']}, "
                f"lora_targets={targets})).{{}}")
        o = run["optimizer"]
        for formula, comp, measured, note in (
            ("LoRA weights (base + adapters)", "weights", run["weight_bytes"],
             "storage bytes of every parameter of the peft model (frozen base in fp32 + fp32 adapters)"),
            ("LoRA gradients", "gradients", run["grad_bytes"], "p.grad exists only for the adapters"),
            ("LoRA optimizer states (AdamW)", "optimizer_states", o["state_bytes"],
             f"AdamW over the adapters only; not compared: {o['step_scalar_bytes']} B of step scalars"),
        ):
            rows.append(row(m, formula, case, getattr(b, comp) if b else None, measured, EXACT, call.format(comp),
                            note if b else _missing("memory", "training_memory")))
        pl = layer_predictions(spec, settings, recompute=recompute, flash=True, act_bits=32,
                               lora=(run["rank"], targets, 32))
        run["predicted_layer_bytes"], run["predicted_shared_bytes"] = pl if pl else (None, None)
        measured = sum(run["saved_layer_bytes"]) + run["saved_regions"].get("shared", 0)
        rows.append(row(m, "LoRA activations saved (decoder layers)", case,
                        None if pl is None else sum(pl[0]) + pl[1], measured, ACTIVATION_TOL,
                        f"layer_terms(spec, i, recompute={recompute!r}, flash_attention=True, act_bits=32, "
                        f"device='cpu', lora=({run['rank']}, {targets}, 32)) summed over layers",
                        "with frozen base weights a Linear does not save its input unless an adapter reads it, and "
                        "layer 0's input does not require grad"))
        peak = activation_bytes(spec, setup) if activation_bytes else None
        rows.append(row(m, "LoRA activations peak (whole model)", case, peak, run["peak_bytes"], ACTIVATION_TOL,
                        f"activation_bytes(spec, TrainingSetup(precision='fp32', finetune='lora', "
                        f"recompute={recompute!r}))", "peak of forward + loss + backward, gradients excluded"))
    return rows
