"""A bounded reader for the header of a ``.gguf`` file: metadata and tensor infos, never tensor data.

Layout (GGUF spec, ``ggml/docs/gguf.md``; reader ``ggml/src/gguf.cpp``), little-endian unless the
version field reads byte-swapped (a big-endian file):

    magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
    n_kv x  (string key, u32 value type, value)      strings are u64 length + UTF-8 bytes
    n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 data offset)
    padding to ``general.alignment`` (default 32), then the tensor data

Every count and length is checked against an explicit maximum before anything is allocated, the
whole header may not exceed ``MAX_HEADER_BYTES``, and a short read is reported with the byte
position, so a wrong magic, an absurd count or a truncated file is refused quickly with a message
(``ValueError``). Arrays keep their length and only their first ``KEEP_ITEMS`` items. The reader
works on any binary file object (an upload's ``BytesIO``) or a path; it never maps the file.

``spec_from_gguf`` turns the metadata into a ``ModelSpec`` directly (not through
``from_hf_config``): GGUF keys are ``{arch}.block_count``, ``{arch}.embedding_length``, ... as
``gguf-py/gguf/constants.py`` ``Keys`` names them, and the tensor list settles what the keys leave
open (tied output head, biases, which layers are MoE). The architectures of ``calc/gguf_config.py`` (Llama 4,
gpt-oss, Qwen3-MoE, Qwen3-Next, Gemma 3, OLMo 2, Mamba, Mamba-2, Jamba, Falcon-H1) go the other way round: their
metadata is turned back into the transformers config the converter read, which ``ModelSpec.from_hf_config``
and the ``calc/arch`` family table read as they read a ``config.json``.
"""

from __future__ import annotations

import io
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from math import prod

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from calc.files import open_regular
from calc.gguf_config import GGUF_ARCHS, config_from_gguf
from calc.models import MAX_DIM, MAX_EXPERTS, MAX_LAYERS, ModelSpec

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_TENSORS = 100_000  # DeepSeek-V3 has 1,025; per-expert layouts reach a few 10,000
MAX_KV = 10_000  # real files carry 20-60 keys
MAX_STRING_BYTES = 1 << 20  # the longest chat templates are tens of KB
MAX_ARRAY_LEN = 1 << 21  # vocabularies and merge lists reach a few 100,000 entries
MAX_NAME_BYTES = 64  # GGML_MAX_NAME: llama.cpp refuses longer tensor names
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_HEADER_BYTES = 64 << 20  # Llama 3's header is 8.3 MB; 256k-token vocabularies stay under 20 MB
MAX_TOTAL_ITEMS = 1 << 22  # array elements in the whole header (vocabulary + merges: ~0.5 M)
KEEP_ITEMS = 8
KEEP_NUMBERS = 4096
_CHUNK = 1 << 20

#: GGUF value types: id -> (name, struct code or None for string / array)
_VALUE_TYPES = {0: ("u8", "B"), 1: ("i8", "b"), 2: ("u16", "H"), 3: ("i16", "h"), 4: ("u32", "I"),
                5: ("i32", "i"), 6: ("f32", "f"), 7: ("bool", "?"), 8: ("string", None),
                9: ("array", None), 10: ("u64", "Q"), 11: ("i64", "q"), 12: ("f64", "d")}


@dataclass(frozen=True)
class ArrayValue:
    """A metadata array: element type, full length, and its items (strings: the first ``KEEP_ITEMS``;
    numbers: all of them up to ``KEEP_NUMBERS``, else the first ``KEEP_ITEMS``)."""

    item_type: str
    length: int
    head: tuple = ()


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: ne[0] (the row) first
    type: str
    offset: int  # from the start of the data section
    bytes: int

    @property
    def n_elements(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    big_endian: bool
    metadata: dict = field(repr=False)
    tensors: tuple[GGUFTensorInfo, ...] = field(repr=False)
    alignment: int
    header_bytes: int  # start of the tensor data (header + padding)
    file_bytes: int | None  # size of what was read from, when known

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def tensor_bytes(self) -> int:
        return sum(t.bytes for t in self.tensors)

    @property
    def n_elements(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def bits_per_weight(self) -> float | None:
        return self.tensor_bytes * 8 / self.n_elements if self.n_elements else None

    @property
    def tensor_types(self) -> dict[str, int]:
        return dict(Counter(t.type for t in self.tensors).most_common())

    @property
    def data_end(self) -> int:
        """Where the last tensor's data ends, from the start of the file."""
        return self.header_bytes + max((t.offset + t.bytes for t in self.tensors), default=0)

    @property
    def data_complete(self) -> bool | None:
        """True if the file holds all tensor data; False for a header-only piece; None if unknown."""
        return None if self.file_bytes is None else self.file_bytes >= self.data_end

    @property
    def file_type(self) -> str | None:
        """``general.file_type`` as its llama.cpp name (``MOSTLY_Q4_K_M`` -> ``Q4_K_M``)."""
        ft = self.metadata.get("general.file_type")
        try:
            name = LlamaFileType(int(ft)).name
        except (TypeError, ValueError, OverflowError):  # missing, not a number, NaN/inf, unknown enum value
            return None
        return {"ALL_F32": "F32"}.get(name, name.removeprefix("MOSTLY_"))


class _Reader:
    """Buffered little/big-endian reads that never go past ``MAX_HEADER_BYTES`` or the end of data."""

    def __init__(self, fh, prefix: str) -> None:
        self.fh, self.prefix = fh, prefix
        self.buf, self.at, self.pos, self.items = b"", 0, 0, 0

    def _fill(self, n: int, what: str) -> None:
        """Make ``n`` bytes available at ``self.at`` (or refuse: header budget, end of file)."""
        if self.pos + n > MAX_HEADER_BYTES:
            raise ValueError(f"GGUF header is larger than {MAX_HEADER_BYTES:,} bytes at {what}; refused")
        while len(self.buf) - self.at < n:
            more = self.fh.read(max(_CHUNK, n))
            if not more:
                raise ValueError(f"GGUF file is truncated: needed {n:,} bytes for {what} at byte {self.pos:,}, "
                                 f"the file ends at byte {self.pos + len(self.buf) - self.at:,}")
            self.buf = self.buf[self.at:] + more
            self.at = 0

    def take(self, n: int, what: str) -> bytes:
        if len(self.buf) - self.at < n:
            self._fill(n, what)
        out = self.buf[self.at:self.at + n]
        self.at += n
        self.pos += n
        return out

    def strings(self, n: int, what: str) -> tuple[str, ...]:
        """Step over ``n`` length-prefixed strings (the hot loop of a vocabulary); decode the first few."""
        unpack = struct.Struct(self.prefix + "Q").unpack_from
        head = []
        for i in range(n):
            if len(self.buf) - self.at < 8:
                self._fill(8, f"{what}[{i}]")
            length = unpack(self.buf, self.at)[0]
            if length > MAX_STRING_BYTES:
                raise ValueError(f"GGUF length of {what}[{i}] is {length:,}; at most {MAX_STRING_BYTES:,} are accepted")
            if len(self.buf) - self.at < 8 + length:
                self._fill(8 + length, f"{what}[{i}]")
            if i < KEEP_ITEMS:
                head.append(self.buf[self.at + 8:self.at + 8 + length].decode("utf-8", errors="replace"))
            self.at += 8 + length
            self.pos += 8 + length
        return tuple(head)

    def scalar(self, code: str, what: str):
        size = struct.calcsize(code)
        return struct.unpack(self.prefix + code, self.take(size, what))[0]

    def count(self, what: str, limit: int) -> int:
        n = self.scalar("Q", what)
        if n > limit:
            raise ValueError(f"GGUF {what} is {n:,}; at most {limit:,} are accepted")
        return n

    def string(self, what: str, limit: int = MAX_STRING_BYTES) -> str:
        n = self.count(f"length of {what}", limit)
        return self.take(n, what).decode("utf-8", errors="replace")


def _value(r: _Reader, type_id: int, key: str):
    if type_id not in _VALUE_TYPES:
        raise ValueError(f"GGUF key {key!r:.80} has unknown value type {type_id}")
    name, code = _VALUE_TYPES[type_id]
    if name == "string":
        return r.string(f"value of {key!r:.80}")
    if name == "array":
        return _array(r, key)
    return r.scalar(code, f"value of {key!r:.80}")


def _array(r: _Reader, key: str) -> ArrayValue:
    item_type = r.scalar("I", f"array type of {key!r:.80}")
    if item_type not in _VALUE_TYPES:
        raise ValueError(f"GGUF key {key!r:.80} is an array of unknown type {item_type}")
    n = r.count(f"array length of {key!r:.80}", MAX_ARRAY_LEN)
    r.items += n
    if r.items > MAX_TOTAL_ITEMS:
        raise ValueError(f"GGUF arrays hold more than {MAX_TOTAL_ITEMS:,} elements in all; refused")
    name, code = _VALUE_TYPES[item_type]
    if code is not None:  # numbers: one read, keep the head
        size = struct.calcsize(code)
        raw = r.take(n * size, f"array {key!r:.80}")
        keep = n if n <= KEEP_NUMBERS else KEEP_ITEMS  # small numeric arrays (per-layer values) whole
        head = struct.unpack(r.prefix + code * keep, raw[:keep * size])
        return ArrayValue(name, n, head)
    if item_type == 8:  # strings: decode only the head, step over the rest
        return ArrayValue(name, n, r.strings(n, repr(key)[:80]))
    raise ValueError(f"GGUF key {key!r:.80} holds nested arrays, which are not supported")


def _ggml_type(type_id: int, name: str) -> tuple[str, int, int]:
    try:
        t = GGMLQuantizationType(type_id)
        elems, nbytes = GGML_QUANT_SIZES[t]
    except (ValueError, KeyError):
        raise ValueError(f"tensor {name!r:.80} has unknown ggml type id {type_id}") from None
    return t.name, elems, nbytes


def _tensor_info(r: _Reader, i: int, alignment: int, expected_offset: int) -> GGUFTensorInfo:
    name = r.string(f"name of tensor {i}", MAX_NAME_BYTES - 1)
    n_dims = r.scalar("I", f"n_dims of {name!r:.80}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise ValueError(f"tensor {name!r:.80} has {n_dims} dimensions; 1 to {MAX_DIMS} are allowed")
    shape = tuple(r.scalar("Q", f"shape of {name!r:.80}") for _ in range(n_dims))
    if any(d < 1 or d > 2**40 for d in shape) or prod(shape) > 2**50:
        raise ValueError(f"tensor {name!r:.80} has an impossible shape {shape}")
    type_name, elems, nbytes = _ggml_type(r.scalar("I", f"type of {name!r:.80}"), name)
    if shape[0] % elems:
        raise ValueError(f"tensor {name!r:.80}: rows of {shape[0]} do not divide into {type_name} blocks of {elems}")
    offset = r.scalar("Q", f"offset of {name!r:.80}")
    if offset != expected_offset:
        raise ValueError(f"tensor {name!r:.80} has data offset {offset:,}; expected {expected_offset:,} "
                         f"(tensors are stored in order, each aligned to {alignment} bytes)")
    return GGUFTensorInfo(name, shape, type_name, offset, prod(shape[1:]) * (shape[0] // elems) * nbytes)


def _open_endian(r: _Reader) -> tuple[int, bool]:
    magic = r.take(4, "magic")
    if magic != MAGIC:
        raise ValueError(f"not a GGUF file: it starts with {magic!r}, not {MAGIC!r}")
    raw = r.take(4, "version")
    little, big = struct.unpack("<I", raw)[0], struct.unpack(">I", raw)[0]
    if little in VERSIONS:
        return little, False
    if big in VERSIONS:
        r.prefix = ">"
        return big, True
    version = little if little < big else big
    hint = " (GGUF v1 files from before October 2023 need re-conversion)" if version == 1 else ""
    raise ValueError(f"GGUF version {version} is not supported; versions {VERSIONS} are{hint}")


def read_gguf(source, file_bytes: int | None = None) -> GGUFHeader:
    """Read the header of ``source`` (a path, bytes, or a binary file object positioned at 0).

    ``file_bytes`` (the size of what is being read) is looked up for paths and in-memory buffers;
    with it the header tells whether the tensor data is all there (``data_complete``).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        with open_regular(source, "GGUF file") as fh:  # never a FIFO or device: the header read is bounded
            return read_gguf(fh, os.fstat(fh.fileno()).st_size)
    if file_bytes is None and isinstance(source, io.BytesIO):
        file_bytes = source.getbuffer().nbytes
    r = _Reader(source, "<")
    version, big = _open_endian(r)
    n_tensors = r.count("tensor count", MAX_TENSORS)
    n_kv = r.count("metadata key count", MAX_KV)
    meta: dict = {}
    for i in range(n_kv):
        key = r.string(f"key {i}", 65_535)
        if key in meta:
            raise ValueError(f"GGUF metadata key {key!r:.80} appears twice")
        meta[key] = _value(r, r.scalar("I", f"type of {key!r:.80}"), key)
    alignment = meta.get("general.alignment", 32)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"general.alignment must be a power of two, got {alignment!r:.40}")
    tensors, seen, offset = [], set(), 0
    for i in range(n_tensors):
        t = _tensor_info(r, i, alignment, offset)
        if t.name in seen:
            raise ValueError(f"tensor {t.name!r:.80} appears twice")
        seen.add(t.name)
        tensors.append(t)
        offset += -(-t.bytes // alignment) * alignment
    header = -(-r.pos // alignment) * alignment
    return GGUFHeader(version, big, meta, tuple(tensors), alignment, header, file_bytes)


# ----- metadata -> ModelSpec -------------------------------------------------------------------
_ARCHES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
           "gemma2": "Gemma2ForCausalLM", "phi3": "Phi3ForCausalLM",
           "gpt2": "GPT2LMHeadModel", "deepseek2": "DeepseekV3ForCausalLM"}


def _key_int(meta: dict, key: str, default=None, lo: int = 1, hi: int = MAX_DIM) -> int:
    value = meta.get(key, default)
    if isinstance(value, ArrayValue):  # per-layer values (e.g. head_count): all equal is supported
        if value.length != len(value.head) or len(set(value.head)) != 1:
            raise ValueError(f"GGUF key {key!r} varies per layer; only uniform values are supported")
        value = value.head[0]
    if value is None:
        raise ValueError(f"GGUF metadata has no {key!r} (an integer in [{lo}, {hi}])")
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"GGUF key {key!r} must be an integer in [{lo}, {hi}], got {value!r:.40}")
    return value


def spec_from_gguf(header: GGUFHeader, name: str | None = None) -> ModelSpec:
    """A ``ModelSpec`` from GGUF metadata (``{arch}.*`` keys) and the tensor list.

    Vocabulary: ``{arch}.vocab_size``, else the length of ``tokenizer.ggml.tokens``, else
    ``token_embd.weight``'s second dimension. Tied head: no ``output.weight`` tensor.
    """
    arch = header.architecture
    if arch not in _ARCHES and arch not in GGUF_ARCHS:
        raise ValueError(f"GGUF architecture {arch!r:.40} is not supported; supported: "
                         f"{', '.join(sorted({*_ARCHES, *GGUF_ARCHS}))}")
    meta, p = header.metadata, arch + "."
    shapes = {t.name: t.shape for t in header.tensors}
    vocab = meta.get(p + "vocab_size")
    if vocab is None:
        tokens = meta.get("tokenizer.ggml.tokens")
        vocab = tokens.length if isinstance(tokens, ArrayValue) else shapes.get("token_embd.weight", (0, None))[1]
    label = name or str(meta.get("general.name") or arch)[:80]
    if arch in GGUF_ARCHS:  # declarative: metadata -> transformers config -> the calc/arch family table
        return _spec_from_config(header, arch, vocab, label)
    h = _key_int(meta, p + "embedding_length")
    L = _key_int(meta, p + "block_count", hi=MAX_LAYERS)
    heads = _key_int(meta, p + "attention.head_count")
    kv = _key_int(meta, p + "attention.head_count_kv", heads)
    experts = _key_int(meta, p + "expert_count", 0, lo=0, hi=MAX_EXPERTS)
    kw = dict(
        architecture=_ARCHES[arch], hidden_size=h, num_layers=L, num_heads=heads, num_kv_heads=kv,
        head_dim=_key_int(meta, p + "attention.key_length", h // heads),
        intermediate_size=_key_int(meta, p + "feed_forward_length", 4 * h if arch == "gpt2" else None),
        vocab_size=_key_int({"v": vocab}, "v"), max_position_embeddings=_key_int(meta, p + "context_length", 4096, hi=2**31),
        tie_embeddings="output.weight" not in shapes,
        qkv_bias="blk.0.attn_q.bias" in shapes or "blk.0.attn_qkv.bias" in shapes,
        out_bias="blk.0.attn_output.bias" in shapes, mlp_bias="blk.0.ffn_down.bias" in shapes,
    )
    if experts:
        kw.update(num_experts=experts, experts_per_token=_key_int(meta, p + "expert_used_count", hi=experts),
                  moe_intermediate_size=_key_int(meta, p + "expert_feed_forward_length", kw["intermediate_size"]),
                  moe_layers=tuple(f"blk.{i}.ffn_gate_inp.weight" in shapes for i in range(L)))
        if arch == "llama":
            kw["architecture"] = "MixtralForCausalLM"
    if arch == "qwen3":
        kw["qk_norm"] = True
    elif arch == "gemma2":
        kw.update(norms_per_layer=4, tie_embeddings=True, activation="gelu_pytorch_tanh",
                  sliding_window=_key_int(meta, p + "attention.sliding_window", 4096, hi=2**31),
                  sliding_layers=tuple(i % 2 == 0 for i in range(L)))
    elif arch == "gpt2":
        kw.update(gated_mlp=False, norm="layernorm", activation="gelu_new", num_kv_heads=heads,
                  learned_positions=shapes.get("position_embd.weight", (0, 0))[1])
    elif arch == "deepseek2":
        rope = _key_int(meta, p + "rope.dimension_count")
        k_mla = meta.get(p + "attention.key_length_mla", meta.get(p + "attention.key_length"))
        kw.update(num_kv_heads=heads, q_lora_rank=_key_int(meta, p + "attention.q_lora_rank", 0, lo=0),
                  kv_lora_rank=_key_int(meta, p + "attention.kv_lora_rank"), qk_rope_head_dim=rope,
                  qk_nope_head_dim=_key_int({"k": k_mla}, "k") - rope,
                  v_head_dim=_key_int(meta, p + "attention.value_length_mla",
                                      meta.get(p + "attention.value_length")),
                  num_shared_experts=_key_int(meta, p + "expert_shared_count", 0, lo=0, hi=MAX_EXPERTS))
        kw["head_dim"] = kw["qk_nope_head_dim"] + rope
    if heads % kw["num_kv_heads"]:
        raise ValueError(f"GGUF head_count ({heads}) must be a multiple of head_count_kv ({kw['num_kv_heads']})")
    return ModelSpec(name=label, source="GGUF header", **kw)


def _spec_from_config(header: GGUFHeader, arch: str, vocab, label: str) -> ModelSpec:
    """``calc/gguf_config.py``: the metadata as the transformers config it was converted from."""
    meta, p = header.metadata, arch + "."

    def read(key: str):
        if key == "vocab_size":
            return _key_int({p + "vocab_size": vocab}, p + "vocab_size")  # else the tokens, else token_embd
        value = meta.get(p + key)
        if value is None:
            return None
        if isinstance(value, ArrayValue):  # per layer (Jamba's head_count_kv): the whole list, each checked
            if value.length != len(value.head):
                raise ValueError(f"GGUF key {p + key!r} holds {value.length:,} values; at most {KEEP_NUMBERS:,} "
                                 "per-layer values are read")
            items = [_key_int({p + key: v}, p + key, lo=0, hi=2**31) for v in value.head]
            return items[0] if len(set(items)) == 1 else items
        return _key_int(meta, p + key, lo=0, hi=2**31)

    cfg = config_from_gguf(arch, meta, {t.name for t in header.tensors}, read)
    try:
        return ModelSpec.from_hf_config(cfg, name=label, source="GGUF header")
    except ValueError as exc:
        raise ValueError(f"GGUF {arch} metadata: {exc}") from None
