"""Pair each rank's measurement of a real engine (``validate.sharded``) with ``calc.engines``.

Two comparisons per (model, engine case, world size, rank), each held to 10 %:
- **states between steps**: ``calc.engines.between_steps`` against the bytes alive after
  ``optimizer.step()`` (before ``zero_grad``) on that rank;
- **step peak**: ``calc.engines.engine_memory`` (the largest of the step's three moments) against the
  highest live total of the measured step.
Each is compared with both instruments: the tracker within 10 % either way; the allocator's total seen by
the profiler, an upper bound (frees on threads it does not profile stay counted), at most 10 % below the
prediction.
The setup that describes a case: ``TrainingSetup(dp=world, micro_batch, seq_len, flash_attention=True
(SDPA), overhead_bytes=0, engine=Engine(..., optimizer_impl="for-loop"))`` (``torch.optim.AdamW`` on
CPU tensors runs its for-loop implementation); DDP fp32 is ``precision="fp32"``, the bf16 DDP model
``"bf16"``, FSDP2 with a bf16 ``param_dtype`` ``"bf16-mixed"``, DeepSpeed's bf16 ``"bf16-mixed"``.
"""

from __future__ import annotations

from calc.models import ModelSpec

TOLERANCE_PCT = 10.0


def setup_for(case: dict, world: int, batch: int, seq_len: int, optimizer_impl: str = "for-loop"):
    from calc.engines import Engine
    from calc.memory import TrainingSetup

    knobs = {"optimizer_impl": optimizer_impl}
    if case["engine"] == "ddp":
        knobs["gradient_as_bucket_view"] = case["gradient_as_bucket_view"]
        precision = "bf16" if case["dtype"] == "bf16" else "fp32"
    elif case["engine"] == "fsdp2":
        knobs.update(reshard_after_forward=case["reshard_after_forward"], reduce_dtype=case["reduce_dtype"])
        precision = "bf16-mixed" if case["dtype"] == "bf16" else "fp32"
    else:
        precision = "bf16-mixed"
        if case.get("persistence_threshold") is not None:
            knobs["param_persistence_threshold"] = case["persistence_threshold"]
        if case.get("bucket_elements") is not None:
            knobs.update(reduce_bucket_size=case["bucket_elements"], allgather_bucket_size=case["bucket_elements"])
    return TrainingSetup(precision=precision, optimizer="adamw", zero_stage=case.get("zero_stage", 0), dp=world,
                         micro_batch=batch, seq_len=seq_len, flash_attention=True, overhead_bytes=0,
                         engine=Engine(case["engine"], **knobs))


def _err(pred: int, meas: int | None) -> float | None:
    return None if not meas else round(100.0 * (pred - meas) / meas, 3)


def records(doc: dict) -> list[dict]:
    """One row per (model, case, world, rank, quantity) with both instruments' errors. A document measured on
    a GPU (``"backend": "nccl"``) is predicted with ``torch.optim``'s CUDA default (foreach)."""
    from calc.engines import between_steps, engine_memory
    from validate.sharded import get_arch

    cases = {c["key"]: c for c in doc["cases"]}
    batch, seq_len = doc["settings"]["batch"], doc["settings"]["seq_len"]
    specs: dict[str, ModelSpec] = {}
    out = []
    for r in doc["rows"]:
        arch = get_arch(r["arch"])
        spec = specs.setdefault(r["arch"], ModelSpec.from_hf_config(arch.config, name=arch.label))
        case = cases[r["case"]]
        impl = "foreach" if doc.get("backend") == "nccl" else "for-loop"
        setup = setup_for(case, r["world"], batch, seq_len, impl)
        states, peak = between_steps(spec, setup), engine_memory(spec, setup)
        phase = peak.notes[0].split(" at ", 1)[1].split(" (", 1)[0] if peak.notes else ""
        for quantity, pred, meas, prof in (("states between steps", states.total, r["states_bytes"],
                                            r["profiler_states_bytes"]),
                                           ("step peak", peak.total, r["peak_bytes"], r["profiler_peak_bytes"])):
            err, err_p = _err(pred, meas), _err(pred, prof)
            # the tracker is held to the tolerance; the profiler records allocations and frees only on the threads
            # it profiles, so a buffer freed by a gloo or DeepSpeed worker thread stays counted there: it may
            # read more than is alive, never (by that cause) less, and the prediction must not exceed it
            ok = err is not None and abs(err) <= TOLERANCE_PCT and (err_p is None or err_p <= TOLERANCE_PCT)
            out.append({"arch": r["arch"], "label": arch.label, "case": r["case"], "case_label": case["label"],
                        "engine": case["engine"], "world": r["world"], "rank": r["rank"], "quantity": quantity,
                        "predicted": int(pred), "measured": int(meas), "profiler": prof, "error_pct": err,
                        "profiler_error_pct": err_p, "tolerance_pct": TOLERANCE_PCT, "ok": ok,
                        "predicted_components": {k: v for k, v in
                                                 (states if quantity.startswith("states") else peak)
                                                 .components().items() if v},
                        "measured_by_kind": r["states_by_kind" if quantity.startswith("states") else "peak_by_kind"],
                        "predicted_phase": phase if quantity == "step peak" else "after optimizer.step()"})
    return out
