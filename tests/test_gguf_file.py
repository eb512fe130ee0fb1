"""The bounded GGUF header reader: files written by the ``gguf`` package's GGUFWriter read back with the
same types, shapes and bytes (cross-checked with ``gguf.GGUFReader``), and malformed files are refused
with a message after reading a bounded number of bytes."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import quantize

from calc.gguf import quantize_model
from calc.gguf_file import MAX_HEADER_BYTES, read_gguf, spec_from_gguf
from calc.models import ModelSpec, param_counts
from tests.conftest import ROOT

TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
        "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000}
TINY_QWEN = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
             "tie_word_embeddings": True}
TINY_MOE = {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
            "vocab_size": 500, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 256}


def write_gguf(path, spec: ModelSpec, ftype: str, endian=gguf.GGUFEndian.LITTLE) -> dict:
    """Write ``spec`` as ``ftype`` with GGUFWriter: real quantization where gguf.quants implements the
    type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, TQ1_0, TQ2_0, MXFP4), random blocks of the right
    byte size for the others (K- and IQ-quants). Returns name -> (shape, type, bytes) as written."""
    arch = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "Qwen3MoeForCausalLM": "qwen3moe"}
    a = arch[spec.architecture]
    w = GGUFWriter(str(path), a, endianess=endian)
    w.add_block_count(spec.num_layers)
    w.add_embedding_length(spec.hidden_size)
    w.add_feed_forward_length(spec.intermediate_size)
    w.add_head_count(spec.num_heads)
    w.add_head_count_kv(spec.num_kv_heads)
    w.add_key_length(spec.head_dim)
    w.add_context_length(4096)
    w.add_file_type(getattr(gguf.LlamaFileType, "MOSTLY_" + ftype))
    if spec.is_moe:
        w.add_expert_count(spec.num_experts)
        w.add_expert_used_count(spec.experts_per_token)
        w.add_expert_feed_forward_length(spec.moe_intermediate_size)
    w.add_token_list([f"tok{i}" for i in range(spec.vocab_size)])
    rng = np.random.default_rng(0)
    written = {}
    for t in quantize_model(spec, ftype).tensors:
        qt = GGMLQuantizationType[t.type]
        x = rng.standard_normal(tuple(reversed(t.shape))).astype(np.float32)
        try:
            data = quantize(x, qt)
        except NotImplementedError:
            elems, nbytes = gguf.GGML_QUANT_SIZES[qt]
            data = rng.integers(0, 256, size=tuple(reversed(t.shape[1:])) + (t.shape[0] // elems * nbytes,),
                                dtype=np.uint8)
        w.add_tensor(t.name, data, raw_dtype=None if qt in (GGMLQuantizationType.F32, GGMLQuantizationType.F16)
                     else qt)
        written[t.name] = (t.shape, t.type, t.bytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return written


@pytest.mark.parametrize("config,ftype", [(TINY, "Q4_K_M"), (TINY, "Q8_0"), (TINY, "IQ2_XXS"), (TINY, "Q4_0"),
                                          (TINY_QWEN, "Q5_K_M"), (TINY_MOE, "MXFP4_MOE"), (TINY_MOE, "Q3_K_M")])
def test_writer_files_read_back_with_same_types_shapes_bytes(tmp_path, config, ftype):
    spec = ModelSpec.from_hf_config(config, name="tiny")
    path = tmp_path / "m.gguf"
    written = write_gguf(path, spec, ftype)
    h = read_gguf(path)
    assert {t.name: (t.shape, t.type, t.bytes) for t in h.tensors} == written
    # independent reader: the gguf package's own memory-mapping GGUFReader
    ref = GGUFReader(path)
    assert {rt.name: (tuple(int(d) for d in rt.shape), rt.tensor_type.name, int(rt.n_bytes))
            for rt in ref.tensors} == written
    assert h.header_bytes == ref.data_offset
    assert h.data_complete and h.file_bytes == path.stat().st_size
    assert h.file_type == ftype and h.architecture in ("llama", "qwen2", "qwen3moe")
    # the metadata becomes a model with the same parameters
    back = spec_from_gguf(h)
    assert param_counts(back).total == param_counts(spec).total
    assert (back.num_experts, back.num_kv_heads, back.tie_embeddings) == (spec.num_experts, spec.num_kv_heads,
                                                                         spec.tie_embeddings)
    # an upload (BytesIO) reads the same
    assert read_gguf(io.BytesIO(path.read_bytes())).tensors == h.tensors


def test_big_endian_and_header_only_piece(tmp_path):
    spec = ModelSpec.from_hf_config(TINY, name="tiny")
    path = tmp_path / "be.gguf"
    written = write_gguf(path, spec, "Q8_0", gguf.GGUFEndian.BIG)
    h = read_gguf(path)
    assert h.big_endian and {t.name: (t.shape, t.type, t.bytes) for t in h.tensors} == written
    # the first header_bytes + 100 bytes of a file: the header is all there, the data is not
    piece = read_gguf(path.read_bytes()[:h.header_bytes + 100])
    assert piece.tensors == h.tensors and piece.data_complete is False


def _header(n_tensors=0, n_kv=0, version=3, magic=b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def _s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


GOOD_TENSOR = _s(b"w") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 2) + struct.pack("<I", 8) + struct.pack("<Q", 0)

MALFORMED = {
    "empty file": (b"", "truncated"),
    "wrong magic": (b"GGML" + bytes(20), "not a GGUF file"),
    "version 1": (_header(version=1), "version 1"),
    "version 99": (_header(version=99), "version 99"),
    "absurd tensor count": (_header(n_tensors=2**40), "tensor count"),
    "absurd key count": (_header(n_kv=2**62), "metadata key count"),
    "absurd key length": (_header(n_kv=1) + struct.pack("<Q", 2**50), "length of key"),
    "absurd string value": (_header(n_kv=1) + _s(b"k") + struct.pack("<IQ", 8, 2**40), "length of value"),
    "absurd array": (_header(n_kv=1) + _s(b"k") + struct.pack("<IIQ", 9, 4, 2**40), "array length"),
    "nested array": (_header(n_kv=1) + _s(b"k") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 4, 1),
                     "nested arrays"),
    "unknown value type": (_header(n_kv=1) + _s(b"k") + struct.pack("<I", 77), "unknown value type"),
    "duplicate key": (_header(n_kv=2) + (_s(b"k") + struct.pack("<IB", 0, 1)) * 2, "appears twice"),
    "bad alignment": (_header(n_kv=1) + _s(b"general.alignment") + struct.pack("<II", 4, 24), "power of two"),
    "five dims": (_header(n_tensors=1) + _s(b"w") + struct.pack("<I", 5), "dimensions"),
    "zero dim": (_header(n_tensors=1) + _s(b"w") + struct.pack("<IQ", 1, 0), "impossible shape"),
    "huge shape": (_header(n_tensors=1) + _s(b"w") + struct.pack("<IQQ", 2, 2**40, 2**40), "impossible shape"),
    "unknown ggml type": (_header(n_tensors=1) + _s(b"w") + struct.pack("<IQI", 1, 32, 99), "unknown ggml type"),
    "row not in blocks": (_header(n_tensors=1) + _s(b"w") + struct.pack("<IQI", 1, 33, 8), "do not divide"),
    "long tensor name": (_header(n_tensors=1) + _s(b"x" * 100), "length of name"),
    "bad data offset": (_header(n_tensors=1) + GOOD_TENSOR[:-8] + struct.pack("<Q", 64), "expected 0"),
    "duplicate tensor": (_header(n_tensors=2) + GOOD_TENSOR + GOOD_TENSOR[:-8] + struct.pack("<Q", 96),
                         "appears twice"),
    "truncated tensor info": (_header(n_tensors=1) + GOOD_TENSOR[:-3], "truncated"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_headers_are_refused_with_a_message(name):
    data, message = MALFORMED[name]
    with pytest.raises(ValueError, match=message):
        read_gguf(data)


def test_every_truncation_of_a_real_header_is_refused(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path, ModelSpec.from_hf_config(TINY_QWEN, name="q"), "Q8_0")
    data = path.read_bytes()
    h = read_gguf(data)
    end = h.header_bytes - 32  # somewhere in the last tensor info or the padding
    for cut in range(0, end, 97):
        with pytest.raises(ValueError, match="truncated"):
            read_gguf(data[:cut])


class EndlessStream(io.RawIOBase):
    """A file that never ends (filled with one byte value), counting what was read from it."""

    def __init__(self, head: bytes, fill: int) -> None:
        self.head, self.fill, self.served = head, fill, 0

    def readable(self) -> bool:
        return True

    def read(self, n=-1):
        n = 1 << 20 if n is None or n < 0 else n
        chunk = (self.head[self.served:self.served + n] + bytes([self.fill]) * n)[:n]
        self.served += len(chunk)
        return chunk


@pytest.mark.parametrize("fill", [0x00, 0x01, 0x41, 0xFF])
def test_endless_garbage_is_refused_within_the_header_budget(fill):
    # a plausible start then endless filler: the reader must stop by itself, having read a bounded amount
    stream = EndlessStream(_header(n_tensors=1000, n_kv=1000), fill)
    with pytest.raises(ValueError):
        read_gguf(stream)
    assert stream.served <= MAX_HEADER_BYTES + (2 << 20)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "calc", "gguf", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_reports_a_file_and_refuses_a_bad_one(tmp_path):
    path = tmp_path / "m.gguf"
    written = write_gguf(path, ModelSpec.from_hf_config(TINY, name="tiny"), "Q4_K_M")
    out = _cli("--file", str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["tensor_bytes"] == sum(b for _, _, b in written.values())
    assert data["tensor_types"] == {"Q4_K": 25, "F32": 9, "Q6_K": 5}
    assert data["model"]["num_kv_heads"] == 2
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0))
    out = _cli("--file", str(bad))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "tensor count" in out.stderr


def test_cli_quant_json():
    out = _cli("--model", "Llama-2-7B", "--quant", "Q4_K_M", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["tensor_bytes"] + 741_056 == 4_081_004_224  # TheBloke/Llama-2-7B-GGUF, REFERENCE.md
    assert set(data) >= {"quant", "tensor_bytes", "bits_per_weight", "tensor_types"}
    every = json.loads(_cli("--model", "GPT-2", "--quant", "all", "--json").stdout)
    assert [r["quant"] for r in every][:3] == ["F32", "F16", "BF16"] and len(every) == 33
