"""``python -m calc params``: exact parameter counts of a preset, a config.json, a Hub id or local checkpoint.

    python -m calc params --model Meta-Llama-3-8B --json
    python -m calc params --hf Qwen/Qwen3-8B-FP8 --json          # + the checkpoint as published (headers)
    python -m calc params --safetensors path/to/model-dir --json  # a file, an index with its shards, a directory

With a checkpoint (``--hf``, ``--safetensors``) the JSON adds ``"checkpoint": {"parameters", "bytes",
"by_dtype": {dtype: {"parameters", "bytes"}}, "quantization": ...}``; ``total`` stays our count from the
architecture when we model it, else the headers' parameter count.
"""

from __future__ import annotations

from pathlib import Path

from calc.checkpoint import NOT_MODELLED, model_from_config, read_local_checkpoint, summarize
from calc.cli import emit_json, print_table, printable
from calc.cli.common import add_model_args, hub_model_from_args, model_from_args
from calc.models import param_counts
from calc.units import GB, GIB, format_count


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="exact parameter counts (total, active, by component; checkpoint headers)")
    group = add_model_args(p)
    group.add_argument("--safetensors", metavar="PATH", help="a .safetensors file, a model.safetensors.index.json "
                       "with its shards beside it, or a directory: only the headers are read")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _from_args(args):
    """(name, spec or None, note, checkpoint or None, architectures named by the config)."""
    if args.safetensors:
        if args.revision is not None:
            raise ValueError("--revision goes with --hf ID")
        headers, config = read_local_checkpoint(args.safetensors)
        name = Path(args.safetensors).name or str(args.safetensors)
        if config is None:
            spec, note = None, f"{NOT_MODELLED} (no config.json beside the checkpoint)"
        else:
            spec, note = model_from_config(config, name, f"local {args.safetensors}")
        return name, spec, note, summarize(headers, config), config
    if args.hf:
        if args.revision is not None and "@" in args.hf:
            raise ValueError("give the revision once: ID@REV or --revision REV")
        found = hub_model_from_args(args)
        if found.spec is None and found.checkpoint is None:
            raise ValueError(f"{found.name}: no safetensors headers to count ({found.note}); for GGUF files use "
                             f"`python -m calc gguf --hf {found.snapshot.repo_id}`")
        return found.name, found.spec, found.note, found.checkpoint, found.snapshot.config
    spec = model_from_args(args)
    return spec.name, spec, None, None, None


def run(args) -> int:
    name, spec, note, ckpt, config = _from_args(args)
    counts = param_counts(spec) if spec is not None else None
    archs = (config or {}).get("architectures")
    out = {"model": name,
           "architecture": spec.architecture if spec else (str(archs[0])[:80] if isinstance(archs, list) and archs
                                                           else None),
           "total": counts.total if counts else ckpt.parameters,
           "active": counts.active if counts else None,
           "components": counts.components() if counts else None,
           "buffers": counts.buffers if counts else None,
           "mtp_layers_excluded": spec.mtp_layers if spec else None}
    if counts and counts.tower_parts:  # multimodal: each tower and projector apart, and the decoder alone
        out["towers"] = dict(counts.tower_parts)
        out["decoder"] = counts.decoder
    if note:
        out["note"] = note
    if ckpt is not None:
        out["checkpoint"] = ckpt.as_dict()
        if counts:
            out["checkpoint"]["minus_architecture"] = ckpt.parameters - counts.total
            if spec.mtp_layers:
                out["checkpoint"]["parameters_beyond_num_layers"] = ckpt.parameters_beyond_layer(spec.num_layers)
    if args.json:
        emit_json(out)
        return 0
    _print(out, spec, counts, ckpt)
    return 0


def _print(out: dict, spec, counts, ckpt) -> None:
    print(printable(f"{out['model']} ({out['architecture'] or 'architecture unknown'})"))
    if out.get("note"):
        print(printable(f"note: {out['note']}"))
    if counts:
        rows = [{"component": k, "params": f"{v:,}", "share": f"{v / counts.total:.1%}"}
                for k, v in counts.components().items() if v]
        at = next((i for i, r in enumerate(rows) if r["component"] == "towers"), len(rows))
        rows[at + 1:at + 1] = [{"component": f"  {t}", "params": f"{v:,}", "share": f"{v / counts.total:.1%}"}
                               for t, v in counts.tower_parts]
        rows.append({"component": "total", "params": f"{counts.total:,}", "share": "100.0%"})
        print_table(rows)
        print(f"total {format_count(counts.total)} params; active per token {format_count(counts.active)}")
        if counts.buffers:
            print(f"plus {counts.buffers:,} stored buffer values (router bias), not parameters")
        if spec.mtp_layers:
            print(f"excludes {spec.mtp_layers} multi-token-prediction layer(s) stored in the checkpoint")
    if ckpt is None:
        return
    print(f"\ncheckpoint as published ({len(ckpt.files)} file(s), {ckpt.n_tensors:,} tensors, headers only):")
    print_table([{"dtype": printable(k), "params": f"{v.parameters:,}", "bytes": f"{v.bytes:,}", "GB": f"{v.bytes / GB:.3f}",
                  "GiB": f"{v.bytes / GIB:.3f}", "tensors": v.tensors} for k, v in ckpt.by_dtype.items()])
    print(f"parameters {ckpt.parameters:,}; weights {ckpt.bytes:,} bytes ({ckpt.bytes / GB:.3f} GB, "
          f"{ckpt.bytes / GIB:.3f} GiB)" + (f"; scales {ckpt.scale_bytes:,} bytes" if ckpt.scale_bytes else "")
          + (f"; buffers {ckpt.buffers:,} values" if ckpt.buffers else ""))
    if ckpt.method or ckpt.quantization:
        print(printable(f"quantization: {ckpt.method}; {ckpt.quantized_parameters:,} parameters stored quantized; "
                        f"config {ckpt.quantization}"))
    if counts and ckpt.parameters != counts.total:
        diff = ckpt.parameters - counts.total
        print(f"MISMATCH: the checkpoint holds {diff:+,} parameters against the architecture's count"
              + (f" ({ckpt.parameters_beyond_layer(spec.num_layers):,} in layers beyond num_hidden_layers)"
                 if ckpt.parameters_beyond_layer(spec.num_layers) else ""))
    for n in ckpt.notes:
        print(printable(f"note: {n}"))
