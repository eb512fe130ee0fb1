"""What a published checkpoint stores, read from its safetensors headers (never the tensor data).

A ``.safetensors`` file starts with ``u64 n`` (little-endian) and ``n`` bytes of JSON:
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``; the
tensor data follows, each tensor's bytes at ``8 + n + begin`` (safetensors format spec,
huggingface/safetensors README "Format"; the Rust reader refuses gaps, overlaps and sizes that do
not match ``dtype x shape``, and so do we). Sub-byte types (``F4``, ``F6_*``) count one element per
value, so a ``float4_e2m1fn_x2`` tensor of shape (4, 4) is stored as ``F4`` (4, 8) in 16 bytes.

From the headers: the exact bytes of the weights as published, by dtype, and the exact parameter
count, with quantized layouts read as stored (declarative ``STORAGE_RULES``):

- FP8 with block scales (DeepSeek-V3, Qwen3-FP8; transformers ``FineGrainedFP8``): ``X.weight`` F8_E4M3
  plus ``X.weight_scale_inv`` F32 of one scale per 128 x 128 block; compressed-tensors / fbgemm FP8:
  ``weight_scale`` and ``input_scale``; KV-cache scales ``k_scale`` / ``v_scale``.
- MXFP4 (gpt-oss; OCP Microscaling spec v1.0, transformers ``integrations/mxfp4.py``): ``X_blocks``
  U8 of two FP4 (E2M1) values per byte, ``X_scales`` U8 of one E8M0 exponent per 32 values.
- GPTQ (AutoGPTQ / GPTQModel ``QuantLinear``): ``qweight`` I32 of ``32 / bits`` values per element
  ``[in * bits / 32, out]``, ``qzeros`` I32, ``scales`` F16 ``[groups, out]``, ``g_idx`` I32 ``[in]``.
  AWQ (AutoAWQ ``WQLinear_GEMM``): ``qweight`` I32 ``[in, out * bits / 32]``, ``qzeros``, ``scales``.
- bitsandbytes 4-bit (``Params4bit``, ``QuantState.as_dict(packed=True)``): ``X.weight`` U8 of two
  values per byte plus ``weight.absmax``, ``weight.quant_map``, ``weight.nested_absmax``,
  ``weight.nested_quant_map`` and ``weight.quant_state.bitsandbytes__nf4`` (or ``__fp4``); 8-bit
  (``Int8Params``): ``X.weight`` I8 plus ``X.SCB`` F32 row scales and ``X.weight_format``.
- compressed-tensors ``pack-quantized``: ``weight_packed`` I32 of ``32 / num_bits`` values per element,
  ``weight_shape``, ``weight_scale``, ``weight_zero_point``, ``weight_g_idx``.

"parameters" counts the values of the model's weights (packed values unpacked; scales, zero points and
group indices are not parameters, their bytes are "scale bytes"). Buffers some checkpoints store
(GPT-2's causal-mask ``attn.bias``, ``rotary_emb.inv_freq``, DeepSeek-V3's router
``e_score_correction_bias``) are counted apart as ``buffers``, as ``calc.models`` does.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from pathlib import Path

from calc.files import open_regular, read_regular

#: Largest header read: huggingface_hub's SAFETENSORS_MAX_HEADER_LENGTH (DeepSeek-V3's shards: ~100 KB).
MAX_HEADER_BYTES = 25_000_000
MAX_TENSORS = 2_000_000  # in a whole checkpoint; DeepSeek-V3 has 91,991, per-expert layouts a few 100,000
MAX_FILES = 4096  # shards; DeepSeek-V3 has 163
MAX_NAME_CHARS = 1024
MAX_DIMS = 8
MAX_INDEX_BYTES = 50_000_000  # model.safetensors.index.json (DeepSeek-V3's is 8.9 MB)

#: Bits per stored element of every safetensors dtype (safetensors ``Dtype``, src/tensor.rs ``bitsize``).
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
              "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
              "C64": 64, "F64": 64, "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


@dataclass(frozen=True)
class StoredTensor:
    """One tensor as a checkpoint stores it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str

    @property
    def n_elements(self) -> int:
        return prod(self.shape)

    @property
    def bytes(self) -> int:
        return self.n_elements * DTYPE_BITS[self.dtype] // 8


@dataclass(frozen=True)
class HeaderFile:
    """The header of one ``.safetensors`` file: its tensors, ``__metadata__`` and sizes."""

    file: str
    tensors: tuple[StoredTensor, ...] = field(repr=False)
    metadata: dict = field(default_factory=dict, repr=False)
    header_bytes: int | None = None  # the JSON length n (the file starts with 8 + n header bytes)
    file_bytes: int | None = None  # size of the whole file, when known

    @property
    def data_bytes(self) -> int:
        return sum(t.bytes for t in self.tensors)


# ----- one header ------------------------------------------------------------------------------
def header_length(prefix: bytes, file: str = "file") -> int:
    """``n`` from the first 8 bytes, refused above ``MAX_HEADER_BYTES``."""
    if len(prefix) < 8:
        raise ValueError(f"{file}: not a safetensors file: {len(prefix)} bytes, the header length alone takes 8")
    n = struct.unpack("<Q", prefix[:8])[0]
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{file}: safetensors header claims {n:,} bytes; at most {MAX_HEADER_BYTES:,} are read")
    if n < 2:
        raise ValueError(f"{file}: safetensors header length is {n}; a header is a JSON object of at least 2 bytes")
    return n


def parse_safetensors_header(data: bytes, file: str = "file", file_bytes: int | None = None) -> HeaderFile:
    """Read a header from the first bytes of a ``.safetensors`` file (an upload may hold only these).

    ``file_bytes``: the whole file's size when known; it must then equal ``8 + n + data``.
    """
    data = bytes(data)
    n = header_length(data, file)
    if len(data) < 8 + n:
        raise ValueError(f"{file}: truncated safetensors header: it needs {8 + n:,} bytes, {len(data):,} were given")
    return header_from_json(data[8:8 + n], file, file_bytes)


def header_from_json(raw: bytes, file: str = "file", file_bytes: int | None = None) -> HeaderFile:
    """Decode the JSON part of a header (untrusted: JSON only, bounded, every field checked)."""
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"{file}: safetensors header is {len(raw):,} bytes; at most {MAX_HEADER_BYTES:,} are read")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file}: safetensors header is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: safetensors header is not valid JSON: {exc.msg} at column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:  # absurd nesting; a 4,300-digit integer
        raise ValueError(f"{file}: safetensors header cannot be read: {str(exc)[:80] or 'nested too deep'}") from None
    return header_from_dict(obj, file, file_bytes, header_bytes=len(raw))


def _no_constant(name: str):
    raise ValueError(f"the header contains {name}, which is not a number")


def header_from_dict(obj, file: str = "file", file_bytes: int | None = None,
                     header_bytes: int | None = None) -> HeaderFile:
    """Check a decoded header (``{name: {dtype, shape, data_offsets}}``) as the safetensors reader does.

    Also used for headers huggingface_hub parsed from the Hub: the same checks apply to them.
    ``header_bytes`` (n) may be unknown; with ``file_bytes`` it is then inferred and must fit the bound.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{file}: safetensors header must be a JSON object, got {type(obj).__name__}")
    meta = obj.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError(f"{file}: safetensors __metadata__ must be an object of strings")
    metadata = {str(k)[:100]: str(v)[:500] for k, v in list(meta.items())[:64]}
    entries = [(k, v) for k, v in obj.items() if k != "__metadata__"]
    if len(entries) > MAX_TENSORS:
        raise ValueError(f"{file}: {len(entries):,} tensors in one header; at most {MAX_TENSORS:,} are accepted")
    spans, tensors = [], []
    for name, info in entries:
        t, begin, end = _tensor(name, info, file)
        tensors.append(t)
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            what = "overlaps the previous tensor" if begin < at else f"leaves a gap of {begin - at:,} bytes"
            raise ValueError(f"{file}: tensor {name!r:.80} starts at byte {begin:,} and {what} "
                             "(safetensors data is contiguous)")
        at = end
    if file_bytes is not None:
        if header_bytes is None:
            header_bytes = file_bytes - 8 - at
            if not 2 <= header_bytes <= MAX_HEADER_BYTES:
                raise ValueError(f"{file}: the file has {file_bytes:,} bytes but its tensors need {at:,}: "
                                 "size and header disagree")
        elif file_bytes != 8 + header_bytes + at:
            raise ValueError(f"{file}: the header describes {8 + header_bytes + at:,} bytes but the file has "
                             f"{file_bytes:,} (truncated or padded)")
    return HeaderFile(file, tuple(tensors), metadata, header_bytes, file_bytes)


def _tensor(name, info, file: str) -> tuple[StoredTensor, int, int]:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"{file}: tensor names must be 1 to {MAX_NAME_CHARS} characters, got {str(name)[:80]!r}")
    if not isinstance(info, dict):
        raise ValueError(f"{file}: tensor {name!r:.80} must be an object with dtype, shape and data_offsets")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_BITS:
        raise ValueError(f"{file}: tensor {name!r:.80} has dtype {str(dtype)[:20]!r}; known: {', '.join(DTYPE_BITS)}")
    if (not isinstance(shape, (list, tuple)) or len(shape) > MAX_DIMS
            or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 2**48 for d in shape)):
        raise ValueError(f"{file}: tensor {name!r:.80} has shape {str(shape)[:60]}; "
                         f"expected up to {MAX_DIMS} whole numbers in [0, 2**48]")
    if (not isinstance(offsets, (list, tuple)) or len(offsets) != 2
            or any(isinstance(o, bool) or not isinstance(o, int) or o < 0 for o in offsets) or offsets[0] > offsets[1]):
        raise ValueError(f"{file}: tensor {name!r:.80} has data_offsets {str(offsets)[:60]}; expected [begin, end] "
                         "with 0 <= begin <= end")
    t = StoredTensor(name, dtype, tuple(shape), file)
    bits = t.n_elements * DTYPE_BITS[dtype]
    if t.n_elements > 2**50 or bits % 8 or offsets[1] - offsets[0] != bits // 8:
        raise ValueError(f"{file}: tensor {name!r:.80} ({dtype} {list(shape)}) needs {bits / 8:,.1f} bytes but its "
                         f"data_offsets span {offsets[1] - offsets[0]:,}")
    return t, offsets[0], offsets[1]


def read_safetensors_header(path: str | os.PathLike, file: str | None = None) -> HeaderFile:
    """Read only the header of a local file: 8 bytes, then at most ``MAX_HEADER_BYTES``."""
    label = file or os.path.basename(path)
    with open_regular(path, "safetensors file") as fh:
        size = os.fstat(fh.fileno()).st_size
        n = header_length(fh.read(8), label)
        raw = fh.read(n)
    if len(raw) < n:
        raise ValueError(f"{label}: truncated safetensors header: it needs {8 + n:,} bytes, the file has {size:,}")
    return header_from_json(raw, label, size)


# ----- local checkpoints: a file, an index with its shards, or a directory -------------------------
_SHARD = re.compile(r"[\w.\-]{1,200}\.safetensors")


def shard_names(index: dict, file: str = "model.safetensors.index.json") -> list[str]:
    """Shard file names from an index's ``weight_map`` (plain names beside the index, no paths)."""
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not wm:
        raise ValueError(f"{file}: 'weight_map' must be a non-empty object of tensor name -> shard file")
    names = sorted({v for v in wm.values() if isinstance(v, str)})
    bad = [v for v in names if not _SHARD.fullmatch(v) or v.startswith(".")]
    if bad or len(names) != len(set(wm.values())):
        raise ValueError(f"{file}: shard names must be plain *.safetensors file names beside the index, "
                         f"got {str((bad or ['a non-string'])[0])[:80]!r}")
    if len(names) > MAX_FILES:
        raise ValueError(f"{file}: {len(names):,} shards; at most {MAX_FILES:,} are read")
    return names


def read_index_bytes(data: bytes, file: str = "model.safetensors.index.json") -> dict:
    if len(data) > MAX_INDEX_BYTES:
        raise ValueError(f"{file} is {len(data):,} bytes; at most {MAX_INDEX_BYTES:,} are read")
    try:
        obj = json.loads(bytes(data).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"{file} is not a JSON index: {str(exc)[:80]}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{file} must hold a JSON object")
    return obj


def checkpoint_files(path: str | os.PathLike) -> list[Path]:
    """The ``.safetensors`` files a local path names: a file, an index (shards beside it), or a directory
    (its index, else ``model.safetensors``, else every ``*.safetensors`` in it)."""
    p = Path(path)
    if p.is_dir():
        index = p / "model.safetensors.index.json"
        if index.is_file():
            return checkpoint_files(index)
        if (p / "model.safetensors").is_file():
            return [p / "model.safetensors"]
        files = sorted(f for f in p.glob("*.safetensors") if f.is_file())
        if not files:
            raise ValueError(f"{p}: no .safetensors file or model.safetensors.index.json in this directory")
        if len(files) > MAX_FILES:
            raise ValueError(f"{p}: {len(files):,} .safetensors files; at most {MAX_FILES:,} are read")
        return files
    if not p.exists():
        raise ValueError(f"{p}: no such file or directory")
    if p.name.endswith(".json"):
        names = shard_names(read_index_bytes(read_regular(p, MAX_INDEX_BYTES, "index"), p.name), p.name)
        missing = [n for n in names if not (p.parent / n).is_file()]
        if missing:
            raise ValueError(f"{p.name}: {len(missing)} shard(s) missing beside the index, e.g. {missing[0]}")
        return [p.parent / n for n in names]
    return [p]


def read_local_checkpoint(path: str | os.PathLike) -> tuple[list[HeaderFile], dict | None]:
    """Headers of a local checkpoint and the ``config.json`` beside it (``None`` if there is none)."""
    from calc.cli.common import MAX_CONFIG_BYTES, parse_config_bytes

    files = checkpoint_files(path)
    headers = [read_safetensors_header(f) for f in files]
    cfg_path = files[0].parent / "config.json"
    config = parse_config_bytes(read_regular(cfg_path, MAX_CONFIG_BYTES, "config.json")) if cfg_path.is_file() else None
    return headers, config


# ----- quantized layouts -----------------------------------------------------------------------
@dataclass(frozen=True)
class StorageRule:
    """How a tensor named ``<prefix><suffix>`` is stored: ``role`` is "packed" (``values`` model values per
    stored element), "aux" (scales, zero points, indices: bytes, no parameters) or "buffer" (not a parameter).
    ``sibling``: the rule applies only when ``<prefix><sibling>`` is also stored (e.g. GPTQ ``scales`` beside
    ``qweight``); ``dtypes``: only for these stored dtypes."""

    method: str
    suffix: str
    role: str
    values: str | int = 1  # an int, or "bits" = 32 / quantization bits (I32 packing)
    sibling: str | None = None
    dtypes: tuple[str, ...] = ()


STORAGE_RULES: tuple[StorageRule, ...] = (
    # FP8 (transformers FineGrainedFP8 / DeepSeek-V3: weight_scale_inv; compressed-tensors, fbgemm: weight_scale)
    StorageRule("fp8", ".weight_scale_inv", "aux"),
    StorageRule("fp8", ".input_scale", "aux"),
    StorageRule("fp8", ".k_scale", "aux"),
    StorageRule("fp8", ".v_scale", "aux"),
    # MXFP4 (gpt-oss): 16 bytes = 32 FP4 values per block, one E8M0 scale per block
    StorageRule("mxfp4", "_blocks", "packed", 2, sibling="_scales", dtypes=("U8",)),
    StorageRule("mxfp4", "_scales", "aux", sibling="_blocks"),
    # GPTQ / AWQ: int32 words of 32 / bits values
    StorageRule("gptq/awq", ".qweight", "packed", "bits", dtypes=("I32", "U32")),
    StorageRule("gptq/awq", ".qzeros", "aux", sibling=".qweight"),
    StorageRule("gptq/awq", ".scales", "aux", sibling=".qweight"),
    StorageRule("gptq/awq", ".g_idx", "aux", sibling=".qweight"),
    # bitsandbytes 4-bit (Params4bit + QuantState.as_dict(packed=True)) and 8-bit (Int8Params)
    StorageRule("bitsandbytes", ".weight", "packed", 2, sibling=".weight.quant_state.bitsandbytes__nf4",
                dtypes=("U8",)),
    StorageRule("bitsandbytes", ".weight", "packed", 2, sibling=".weight.quant_state.bitsandbytes__fp4",
                dtypes=("U8",)),
    StorageRule("bitsandbytes", ".weight.absmax", "aux"),
    StorageRule("bitsandbytes", ".weight.quant_map", "aux"),
    StorageRule("bitsandbytes", ".weight.nested_absmax", "aux"),
    StorageRule("bitsandbytes", ".weight.nested_quant_map", "aux"),
    StorageRule("bitsandbytes", ".weight.quant_state.bitsandbytes__nf4", "aux"),
    StorageRule("bitsandbytes", ".weight.quant_state.bitsandbytes__fp4", "aux"),
    StorageRule("bitsandbytes", ".weight", "packed", 1, sibling=".SCB", dtypes=("I8",)),
    StorageRule("bitsandbytes", ".SCB", "aux"),
    StorageRule("bitsandbytes", ".weight_format", "aux"),
    # compressed-tensors pack-quantized (int4/int8 in int32 words)
    StorageRule("compressed-tensors", ".weight_packed", "packed", "bits", dtypes=("I32", "U32")),
    StorageRule("compressed-tensors", ".weight_shape", "aux"),
    StorageRule("compressed-tensors", ".weight_zero_point", "aux"),
    StorageRule("compressed-tensors", ".weight_g_idx", "aux"),
    StorageRule("", ".weight_scale", "aux"),  # FP8 or int: the weights say which
    # buffers some checkpoints store (not model.parameters())
    StorageRule("", ".rotary_emb.inv_freq", "buffer"),
    StorageRule("", ".attn.bias", "buffer", dtypes=("F32", "BOOL", "U8", "F16", "BF16")),
    StorageRule("", ".attn.masked_bias", "buffer"),
    StorageRule("", ".e_score_correction_bias", "buffer"),
)

#: Stored dtypes whose values count as quantized (narrower than 16 bits) when not packed.
_NARROW = {"F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2", "I8"}


_BY_SUFFIX: dict[str, list[StorageRule]] = {}
for _r in STORAGE_RULES:
    _BY_SUFFIX.setdefault(_r.suffix, []).append(_r)
#: One pass over a name finds its rule suffix (no suffix of the table ends another, so at most one matches).
_SUFFIX = re.compile("(?:" + "|".join(re.escape(x) for x in sorted(_BY_SUFFIX, key=len, reverse=True)) + r")\Z")


def _match(t: StoredTensor, names: set[str]) -> StorageRule | None:
    m = _SUFFIX.search(t.name)
    if m is None:
        return None
    prefix = t.name[:m.start()]
    for r in _BY_SUFFIX[m.group()]:
        if r.dtypes and t.dtype not in r.dtypes:
            continue
        if r.sibling is None or prefix + r.sibling in names:
            if r.suffix == ".attn.bias" and not (len(t.shape) == 4 and t.shape[0] == t.shape[1] == 1):
                continue  # GPT-2's causal mask is [1, 1, n, n]; an attention projection bias is a parameter
            return r
    return None


def _quant_bits(config: dict | None) -> int | None:
    """Bits of packed integer weights from ``quantization_config`` (GPTQ/AWQ ``bits``; compressed-tensors
    ``config_groups.*.weights.num_bits``)."""
    qc = (config or {}).get("quantization_config")
    if not isinstance(qc, dict):
        return None
    bits = qc.get("bits", qc.get("w_bit"))
    if bits is None:
        for group in (qc.get("config_groups") or {}).values() if isinstance(qc.get("config_groups"), dict) else ():
            w = group.get("weights") if isinstance(group, dict) else None
            if isinstance(w, dict) and w.get("num_bits") is not None:
                bits = w["num_bits"]
                break
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in (2, 3, 4, 8):
        return None
    return bits


@dataclass(frozen=True)
class DtypeShare:
    parameters: int
    bytes: int
    tensors: int


@dataclass(frozen=True)
class Checkpoint:
    """Exact weights of a checkpoint as published, from its headers."""

    files: tuple[HeaderFile, ...] = field(repr=False)
    parameters: int  # model values (packed ones unpacked), no scales, no buffers
    bytes: int  # every stored tensor's bytes (weights + scales + buffers)
    buffers: int  # values of stored buffers (not parameters)
    scale_bytes: int  # bytes of quantization scales, zero points and indices
    quantized_parameters: int  # parameters stored in fewer than 16 bits (FP8, FP4, int4/int8 packed)
    by_dtype: dict[str, DtypeShare]
    by_group: dict[str, int]  # parameters by name prefix ("model.layers", "lm_head", "vision_tower", ...)
    layers: dict[int, int] = field(repr=False)  # parameters by transformer layer index, where names carry one
    method: str | None = None  # quant_method of the config, else what the layout shows (fp8, mxfp4, gptq/awq, ...)
    quantization: dict | None = None  # the config's quantization_config, as given
    notes: tuple[str, ...] = ()

    @property
    def file_bytes(self) -> int | None:
        sizes = [f.file_bytes for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)

    @property
    def n_tensors(self) -> int:
        return sum(len(f.tensors) for f in self.files)

    def parameters_beyond_layer(self, num_layers: int) -> int:
        """Parameters of layers numbered ``num_layers`` and up (DeepSeek-V3's multi-token-prediction layer)."""
        return sum(v for i, v in self.layers.items() if i >= num_layers)

    def as_dict(self) -> dict:
        """JSON for ``params --json``: {"parameters", "bytes", "by_dtype": {dtype: {"parameters", "bytes"}}, ...}."""
        return {"parameters": self.parameters, "bytes": self.bytes, "file_bytes": self.file_bytes,
                "buffers": self.buffers, "scale_bytes": self.scale_bytes,
                "by_dtype": {k: {"parameters": v.parameters, "bytes": v.bytes, "tensors": v.tensors}
                             for k, v in self.by_dtype.items()},
                "quantization": None if self.method is None and self.quantization is None else
                {"method": self.method, "quantized_parameters": self.quantized_parameters,
                 "config": self.quantization},
                "files": len(self.files), "tensors": self.n_tensors}


_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\.")


def _group(name: str) -> str:
    """``model.layers.3.mlp.down_proj.weight`` -> ``model.layers``; ``lm_head.weight`` -> ``lm_head``."""
    parts = []
    for p in name.split("."):
        if p.isdigit() or p in ("weight", "bias"):
            break
        parts.append(p)
        if len(parts) == 2:
            break
    return ".".join(parts) or name


def summarize(files: list[HeaderFile] | tuple[HeaderFile, ...], config: dict | None = None) -> Checkpoint:
    """Parameters and bytes of a checkpoint from its headers (and ``config``'s ``quantization_config``).

    >>> h = header_from_dict({"w": {"dtype": "BF16", "shape": [4, 8], "data_offsets": [0, 64]}})
    >>> c = summarize([h]); (c.parameters, c.bytes, c.by_dtype["BF16"].bytes)
    (32, 64, 64)
    """
    files = tuple(files)
    if not files:
        raise ValueError("a checkpoint needs at least one .safetensors file")
    if len(files) > MAX_FILES:
        raise ValueError(f"{len(files):,} files; at most {MAX_FILES:,} are read")
    all_t = [t for f in files for t in f.tensors]
    if len(all_t) > MAX_TENSORS:
        raise ValueError(f"{len(all_t):,} tensors; at most {MAX_TENSORS:,} are accepted")
    names = {t.name for t in all_t}
    if len(names) != len(all_t):
        seen: set[str] = set()
        dup = next(t.name for t in all_t if t.name in seen or seen.add(t.name))
        raise ValueError(f"tensor {dup!r:.80} is stored in more than one file")
    bits = _quant_bits(config)
    qc = (config or {}).get("quantization_config")
    qc = qc if isinstance(qc, dict) else None
    declared = str(qc.get("quant_method", "")).lower()[:40] if qc else ""
    notes: list[str] = []
    methods: set[str] = set()
    by_dtype: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_group: dict[str, int] = defaultdict(int)
    layers: dict[int, int] = defaultdict(int)
    params = buffers = scale_bytes = quantized = 0
    by_name: dict[str, StoredTensor] = {}
    for t in all_t:
        rule = _match(t, names)
        n, nbytes = t.n_elements, t.bytes
        if rule is None:
            values = n
            if t.dtype in _NARROW:
                quantized += n
                methods.add("fp8" if t.dtype.startswith("F8") else "low-precision")
        elif rule.role == "packed":
            per = rule.values
            if per == "bits":
                if not by_name:
                    by_name.update((x.name, x) for x in all_t)
                b = bits or _infer_bits(t, by_name)
                if b is None:
                    b = 4
                    notes.append("packed int32 weights read as 4-bit: no bits in quantization_config")
                per = Fraction(32, b)
            values = n * per
            if values != int(values):
                raise ValueError(f"tensor {t.name!r:.80}: {n:,} stored elements do not unpack to whole values")
            values = int(values)
            quantized += values
            methods.add(rule.method)
        elif rule.role == "aux":
            values = 0
            scale_bytes += nbytes
            methods.add(rule.method)
        else:  # buffer
            values = 0
            buffers += n
        params += values
        share = by_dtype[t.dtype]
        share[0] += values
        share[1] += nbytes
        share[2] += 1
        if values:
            by_group[_group(t.name)] += values
            m = _LAYER.search(t.name)
            if m:
                layers[int(m.group(1))] += values
    methods.discard("")
    if len(methods) > 1:
        methods.discard("low-precision")
    if declared:
        method = declared
        if not methods:
            notes.append(f"quantization_config says {declared!r} but no tensor is stored quantized")
    else:
        method = " + ".join(sorted(methods)) or None
    total_bytes = sum(share[1] for share in by_dtype.values())
    return Checkpoint(files, params, total_bytes, buffers, scale_bytes, quantized,
                      {k: DtypeShare(*v) for k, v in sorted(by_dtype.items(), key=lambda kv: -kv[1][1])},
                      dict(sorted(by_group.items(), key=lambda kv: -kv[1])), dict(sorted(layers.items())),
                      method, qc, tuple(dict.fromkeys(notes)))


def _infer_bits(t: StoredTensor, by_name: dict[str, StoredTensor]) -> int | None:
    """Bits of a packed ``qweight`` without a config: GPTQ ``[in * bits / 32, out]`` against ``g_idx [in]``;
    AWQ ``[in, out * bits / 32]`` against ``scales [groups, out]``."""
    prefix = t.name.rsplit(".", 1)[0]
    g_idx, scales = by_name.get(prefix + ".g_idx"), by_name.get(prefix + ".scales")
    if len(t.shape) != 2:
        return None
    if g_idx is not None and len(g_idx.shape) == 1 and g_idx.shape[0]:
        bits = Fraction(32 * t.shape[0], g_idx.shape[0])
    elif scales is not None and len(scales.shape) == 2 and scales.shape[1]:
        if scales.shape[1] == t.shape[1]:  # GPTQ without g_idx: out matches, in unknown
            return None
        bits = Fraction(32 * t.shape[1], scales.shape[1])
    else:
        return None
    return int(bits) if bits.denominator == 1 and int(bits) in (2, 3, 4, 8) else None


# ----- the architecture beside the checkpoint -----------------------------------------------------
NOT_MODELLED = "architecture not modelled: no KV cache or activation estimate"


def model_from_config(config: dict, name: str, source: str):
    """``(ModelSpec | None, note | None)`` from a ``config.json``: the config itself, else (multimodal
    models) its ``text_config``; when neither is modelled the note says so and the headers alone give
    exact weights and parameters."""
    from calc.arch.registry import _WHAT_TO_DO
    from calc.models import ModelSpec

    try:
        return ModelSpec.from_hf_config(config, name=name, source=source), None
    except (ValueError, TypeError) as exc:
        # the headers are at hand: the advice to type a count or read them is beside the point here
        reason = str(exc).removesuffix(f": {_WHAT_TO_DO}")[:300]
    text = config.get("text_config")
    if isinstance(text, dict):
        try:
            spec = ModelSpec.from_hf_config(text, name=name, source=f"{source} (text_config)")
        except (ValueError, TypeError):
            pass
        else:
            return spec, ("multimodal: the language model is read from text_config; the other towers "
                          "(vision, audio, projector) are counted from the checkpoint headers only")
    return None, f"{NOT_MODELLED} ({reason})"
