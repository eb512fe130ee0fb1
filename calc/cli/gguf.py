"""``python -m calc gguf``: GGUF file types of a model (llama.cpp's per-tensor rules), or a .gguf header.

    python -m calc gguf --model Meta-Llama-3-8B --quant Q4_K_M [--json]
    python -m calc gguf --config config.json --quant all [--context 16384 --gpu "RTX 4090"] [--json]
    python -m calc gguf --file model.gguf [--json]
    python -m calc gguf --hf bartowski/Meta-Llama-3.1-8B-Instruct-GGUF [--context 8192 --gpu "RTX 4090"] --json
    python -m calc gguf --hf meta-llama/Llama-3.1-8B --quant Q4_K_M   # no .gguf in the repo: what its GGUFs weigh
"""

from __future__ import annotations

from calc.cli import emit_json, print_table, printable
from calc.cli.common import add_gpu_args, add_model_args, gpu_from_args, hub_model_from_args, int_range, model_from_args
from calc.gguf import FILE_TYPES, QuantResult, quantize_all, quantize_model
from calc.gguf_file import ArrayValue, read_gguf, spec_from_gguf
from calc.gguf_run import CACHE_TYPES, RunSetup, run_memory
from calc.units import GB, GIB


def add_parser(sub) -> None:
    p = sub.add_parser("gguf", help="GGUF quant sizes, tensor by tensor (llama.cpp rules), or read a .gguf header")
    add_model_args(p, required=False)
    p.add_argument("--file", metavar="PATH", help="read the header of a .gguf file (no tensor data is read)")
    p.add_argument("--quant", default="Q4_K_M", type=str.upper,
                   help=f"file type or 'all' (default Q4_K_M); one of {', '.join(FILE_TYPES)}")
    p.add_argument("--imatrix", choices=("auto", "yes", "no"), default="auto",
                   help="importance matrix used when quantizing (auto: only where llama-quantize requires one)")
    p.add_argument("--context", type=int_range(1, 10_000_000), help="also estimate memory to run at this context length")
    p.add_argument("--cache-type", default="f16", choices=CACHE_TYPES, help="KV-cache type (llama.cpp -ctk/-ctv)")
    add_gpu_args(p, "GPU from `python -m calc gpus` for the run estimate (default: CPU only)")
    p.add_argument("--tensors", action="store_true", help="list every tensor with its type and bytes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


#: ``--tensors`` lists at most this many tensors in all (a 10,000-layer config for all 33 file types asked for
#: 3 million rows: 497 MB of JSON, 110 s and 4.6 GB; issue 20). One file type of it is 90,009 rows, 5.7 s.
MAX_TENSOR_ROWS = 100_000


def _check_rows(results: dict) -> None:
    ok = [r for r in results.values() if isinstance(r, QuantResult)]
    n = sum(len(r.tensors) for r in ok)
    if n > MAX_TENSOR_ROWS:
        raise ValueError(f"--tensors would list {n:,} tensors ({len(ok)} file types x {len(ok[0].tensors):,}); "
                         f"at most {MAX_TENSOR_ROWS:,} are listed: pick one file type with --quant, or drop --tensors")


def _result_dict(r: QuantResult, tensors: bool) -> dict:
    out = {"quant": r.ftype, "tensor_bytes": r.tensor_bytes, "bits_per_weight": round(r.bits_per_weight, 4),
           "tensor_types": r.tensor_types, "file_bytes_estimate": r.file_bytes_estimate, "imatrix": r.imatrix}
    if tensors:
        out["tensors"] = [{"name": t.name, "shape": list(t.shape), "type": t.type, "bytes": t.bytes} for t in r.tensors]
    return out


def _run_dict(spec, r: QuantResult, args) -> dict:
    mem = run_memory(spec, r, RunSetup(context=args.context, cache_type=args.cache_type),
                     gpu_from_args(args))
    return {"context": args.context, "cache_type": args.cache_type, "weights_bytes": mem.weights_bytes,
            "kv_cache_bytes": mem.kv_cache_bytes, "compute_bytes_estimate": mem.compute_bytes,
            "total_bytes": mem.total_bytes, "placement": mem.placement, "gpu_layers": mem.gpu_layers,
            "gpu_bytes": mem.gpu_bytes, "cpu_bytes": mem.cpu_bytes, "fits": mem.fits}


def run(args) -> int:
    if args.file:
        if args.model or args.config or args.hf:
            raise ValueError("give either --file or --model/--config/--hf, not both")
        return _run_file(args)
    found = hub_model_from_args(args) if args.hf else None
    if found is not None and found.snapshot.gguf:
        return _run_hf(args, found)
    if not (args.model or args.config or args.hf):
        raise ValueError("one of --model, --config, --hf or --file is required")
    if found is not None and found.spec is None:
        raise ValueError(f"{found.name} holds no .gguf file and its architecture is not modelled ({found.note}); "
                         f"`python -m calc params --hf {found.snapshot.repo_id}` reads its checkpoint")
    spec = found.spec if found is not None else model_from_args(args)  # a safetensors repo: what its GGUFs weigh
    imatrix = {"auto": None, "yes": True, "no": False}[args.imatrix]
    if args.quant == "ALL":
        results = quantize_all(spec, imatrix=imatrix)
    else:
        results = {args.quant: quantize_model(spec, args.quant, imatrix)}
    if args.tensors:
        _check_rows(results)
    rows = []
    for ftype, r in results.items():
        if isinstance(r, ValueError):
            rows.append({"quant": ftype, "error": str(r)})
            continue
        row = _result_dict(r, args.tensors)
        if args.context:
            row["run"] = _run_dict(spec, r, args)
        rows.append(row)
    if args.json:
        emit_json(rows if args.quant == "ALL" else rows[0])
        return 0
    print(f"{printable(spec.name, 200)} ({spec.architecture}): payload by llama.cpp's per-tensor rules; file = payload + header estimate")
    table = []
    for row in rows:
        if "error" in row:
            table.append({"quant": row["quant"], "types": "not possible: " + row["error"][:60]})
            continue
        line = {"quant": row["quant"], "payload GB": f"{row['tensor_bytes'] / GB:.3f}",
                "GiB": f"{row['tensor_bytes'] / GIB:.3f}", "bpw": f"{row['bits_per_weight']:.3f}",
                "types": " ".join(f"{k}:{v}" for k, v in row["tensor_types"].items())}
        if "run" in row:
            run_ = row["run"]
            line["run GB"] = f"{run_['total_bytes'] / GB:.2f}"
            line["placement"] = run_["placement"] + (f" {run_['gpu_layers']}/{spec.num_layers}"
                                                    if run_["placement"] == "split" else "")
        table.append(line)
    print_table(table)
    if args.tensors and len(rows) == 1 and "tensors" in rows[0]:
        print_table([{"tensor": t["name"], "shape": "x".join(map(str, t["shape"])), "type": t["type"],
                      "bytes": f"{t['bytes']:,}"} for t in rows[0]["tensors"]])
    return 0


def _run_file(args) -> int:
    h = read_gguf(args.file)
    out = {"file": args.file, "version": h.version, "architecture": h.architecture, "file_type": h.file_type,
           "n_tensors": len(h.tensors), "tensor_bytes": h.tensor_bytes, "header_bytes": h.header_bytes,
           "file_bytes": h.file_bytes, "data_complete": h.data_complete,
           "bits_per_weight": round(h.bits_per_weight, 4) if h.bits_per_weight else None,
           "tensor_types": h.tensor_types,
           "metadata": {k: (f"[{v.length} x {v.item_type}]" if isinstance(v, ArrayValue) else v)
                        for k, v in h.metadata.items() if not (isinstance(v, str) and len(v) > 200)}}
    try:
        spec = spec_from_gguf(h)
        out["model"] = {"hidden_size": spec.hidden_size, "num_layers": spec.num_layers, "num_heads": spec.num_heads,
                        "num_kv_heads": spec.num_kv_heads, "head_dim": spec.head_dim,
                        "intermediate_size": spec.intermediate_size, "vocab_size": spec.vocab_size,
                        "num_experts": spec.num_experts, "tie_embeddings": spec.tie_embeddings}
    except ValueError as exc:
        out["model_error"] = str(exc)
    if args.json or args.tensors:
        out["tensors"] = [{"name": t.name, "shape": list(t.shape), "type": t.type, "bytes": t.bytes} for t in h.tensors]
    if args.json:
        emit_json(out)
        return 0
    print(printable(f"{args.file}: GGUF v{h.version}, architecture {h.architecture}, "
                    f"file type {h.file_type or 'unknown'}"))
    print(f"{len(h.tensors)} tensors, {h.tensor_bytes:,} bytes of tensor data ({h.tensor_bytes / GB:.3f} GB, "
          f"{h.tensor_bytes / GIB:.3f} GiB); header {h.header_bytes:,} bytes")
    if h.data_complete is False:
        print(f"note: the file has {h.file_bytes:,} bytes; the tensor data would end at byte {h.data_end:,} "
              "(a header-only piece or a truncated download)")
    print_table([{"type": k, "tensors": v} for k, v in h.tensor_types.items()])
    if "model" in out:
        print(printable("model: " + ", ".join(f"{k}={v}" for k, v in out["model"].items())))
    else:
        print(printable(f"model: {out['model_error']}"))
    if args.tensors:
        print_table([{"tensor": t["name"], "shape": "x".join(map(str, t["shape"])), "type": t["type"],
                      "bytes": f"{t['bytes']:,}"} for t in out["tensors"]])
    return 0


def _run_hf(args, found) -> int:
    """Every GGUF model of a Hub repository: real size (the Hub's listing; split parts summed), header read by
    range requests, our prediction and the difference; with --context, whether it runs on --gpu."""
    from calc.gguf_compare import compare_file
    from hub import gguf_header

    snap = found.snapshot
    setup = RunSetup(context=args.context, cache_type=args.cache_type) if args.context else None
    gpu = gpu_from_args(args)
    rows = []
    for entry in snap.gguf:
        try:
            row = compare_file(entry.name, entry.size_bytes, gguf_header(snap, entry), setup, gpu)
        except ValueError as exc:
            row = {"file": entry.name, "size_bytes": entry.size_bytes, "error": str(exc)[:300]}
        row["parts"] = list(entry.parts)
        rows.append(row)
    if args.json:
        emit_json(rows)
        return 0
    print(printable(f"{found.name}: {len(rows)} GGUF model(s); sizes from the Hub's listing, headers by range requests"))
    table = []
    for r in rows:
        line = {"file": printable(r["file"], 60), "type": r.get("file_type") or "?",
                "size GB": "?" if r["size_bytes"] is None else f"{r['size_bytes'] / GB:.3f}",
                "predicted GB": "" if r.get("predicted_bytes") is None else f"{r['predicted_bytes'] / GB:.3f}",
                "difference": "" if r.get("difference_bytes") is None else f"{r['difference_bytes']:+,}"}
        if "run" in r:
            line["run GB"] = f"{r['run']['total_bytes'] / GB:.2f}"
            line["fits"] = "yes" if r["run"]["fits"] else r["run"]["placement"]
        line["note"] = printable(r.get("error") or r.get("note") or "", 70)
        table.append(line)
    print_table(table)
    return 0
