"""A published ``.gguf`` file beside our prediction: its real size and tensor bytes (from its header) against
llama.cpp's per-tensor rules applied to the architecture its metadata describes (``calc.gguf``), and whether
it runs on a GPU at a context with its KV cache (``calc.gguf_run``, on the file's real tensors)."""

from __future__ import annotations

from calc.checkpoint import NOT_MODELLED
from calc.gguf import FILE_TYPES, QuantResult, QuantTensor, quantize_model
from calc.gguf_file import GGUFHeader, spec_from_gguf
from calc.gguf_run import RunSetup, run_memory


def real_quant(header: GGUFHeader, name: str) -> QuantResult:
    """The file's own tensors as a ``QuantResult`` (types and bytes as stored, no rule applied)."""
    tensors = tuple(QuantTensor(t.name, t.shape, t.type, t.bytes) for t in header.tensors)
    return QuantResult(name, header.file_type or "unknown", False, tensors, header.header_bytes)


def compare_file(name: str, size_bytes: int | None, header: GGUFHeader, setup: RunSetup | None = None,
                 gpu=None) -> dict:
    """One row: {"file", "size_bytes", "file_type", "predicted_bytes", "difference_bytes", ...}.

    ``predicted_bytes`` is our file estimate (exact payload + header estimate) for the file type the header
    names, on the architecture its metadata gives; ``tensor_difference_bytes`` compares payloads exactly.
    An importance matrix is assumed when the metadata records one (``quantize.imatrix.*``), else as
    llama-quantize requires. ``run`` (with ``setup``) uses the file's real tensor bytes.
    """
    out: dict = {"file": name, "size_bytes": size_bytes, "file_type": header.file_type,
                 "architecture": header.architecture, "n_tensors": len(header.tensors),
                 "tensor_bytes": header.tensor_bytes, "predicted_bytes": None, "difference_bytes": None}
    try:
        spec = spec_from_gguf(header)
    except ValueError as exc:
        out["note"] = f"{NOT_MODELLED} ({str(exc)[:160]})"
        return out
    imatrix = True if any(k.startswith("quantize.imatrix") for k in header.metadata) else None
    ftype = header.file_type
    if ftype in FILE_TYPES:
        try:
            q = quantize_model(spec, ftype, imatrix=imatrix)
        except ValueError as exc:
            out["note"] = f"no prediction for {ftype}: {str(exc)[:160]}"
        else:
            out.update(predicted_bytes=q.file_bytes_estimate, predicted_tensor_bytes=q.tensor_bytes,
                       tensor_difference_bytes=header.tensor_bytes - q.tensor_bytes)
            if size_bytes is not None:
                out["difference_bytes"] = size_bytes - q.file_bytes_estimate
    else:
        out["note"] = f"file type {ftype or 'unknown'} has no llama.cpp rule here"
    if setup is not None:
        mem = run_memory(spec, real_quant(header, name), setup, gpu)
        out["run"] = {"context": setup.context, "cache_type": setup.cache_type, "weights_bytes": mem.weights_bytes,
                      "kv_cache_bytes": mem.kv_cache_bytes, "compute_bytes_estimate": mem.compute_bytes,
                      "total_bytes": mem.total_bytes, "placement": mem.placement, "gpu_layers": mem.gpu_layers,
                      "fits": mem.fits}
    return out
