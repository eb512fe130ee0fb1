"""Property-based tests for GGUF sizes (``calc.gguf``) and the GGUF header reader (``calc.gguf_file``).

Invariants: raising a tensor to a ggml type with more bits per weight never makes the file
smaller; every file type of every model is a ``QuantResult`` with positive bytes or a
``ValueError``; the payload holds exactly the model's parameters (plus DeepSeek's router-bias
buffers, which the checkpoint stores); the file-type ladder Q8_0 >= Q6_K >= ... >= Q2_K never
inverts on real models. Header reader: for any bytes, a header or a ``ValueError``, and every
derived property of an accepted header is a finite, non-negative number.
"""

from __future__ import annotations

import dataclasses
import struct

import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
from hypothesis import assume, given
from hypothesis import strategies as st

from calc.gguf import FILE_TYPES, GGUF_ARCH, QuantTensor, quantize_model, tensor_bytes, type_bits
from calc.gguf_file import read_gguf, spec_from_gguf
from calc.models import ModelSpec, param_counts
from calc.presets import PRESETS, get_preset
from tests.test_fuzz_parsers import fuzz
from tests.test_properties import FAST, SLOW, hf_configs

GGML_TYPES = [t.name for t in GGMLQuantizationType if t in GGML_QUANT_SIZES and GGML_QUANT_SIZES[t][1] > 0]
#: presets of the architectures calc.gguf lays out as llama.cpp does (the others have no GGUF layout here)
GGUF_PRESETS = [n for n in PRESETS if get_preset(n).architecture in GGUF_ARCH]
SPECS = st.one_of(st.sampled_from([get_preset(n) for n in GGUF_PRESETS]), hf_configs().map(ModelSpec.from_hf_config))
LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K")


#: Types the gguf package quantizes itself (gguf.quants.quantize, numpy ports of ggml-quants.c): the bytes of a
#: real quantized array are the reference.
QUANTIZABLE = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4")
#: K-quant super-block structs of ggml/src/ggml-common.h (QK_K = 256, K_SCALE_SIZE = 12, ggml_half = 2 B), which
#: gguf.quants cannot quantize: block_q2_K {scales[QK_K/16], qs[QK_K/4], d, dmin}; q3_K {hmask[QK_K/8],
#: qs[QK_K/4], scales[12], d}; q4_K {d, dmin, scales[12], qs[QK_K/2]}; q5_K {d, dmin, scales[12], qh[QK_K/8],
#: qs[QK_K/2]}; q6_K {ql[QK_K/2], qh[QK_K/4], scales[QK_K/16], d}; q8_K {float d, qs[QK_K], bsums[QK_K/16]}.
K_STRUCTS = {"Q2_K": 16 + 64 + 2 + 2, "Q3_K": 32 + 64 + 12 + 2, "Q4_K": 2 + 2 + 12 + 128,
             "Q5_K": 2 + 2 + 12 + 32 + 128, "Q6_K": 128 + 64 + 16 + 2, "Q8_K": 4 + 256 + 16 * 2}


@FAST
@given(st.sampled_from(QUANTIZABLE), st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_tensor_bytes_equal_a_real_quantized_array(ggml_type, blocks, rows, seed):
    import numpy as np
    from gguf import quants

    qtype = GGMLQuantizationType[ggml_type]
    elems = 256 if ggml_type.startswith("TQ") else 32  # QK_K or QK4_0/QK8_0/QK_MXFP4 (1 for F32/F16/BF16)
    x = np.random.default_rng(seed).standard_normal((rows, blocks * elems)).astype(np.float32)
    assert tensor_bytes((blocks * elems, rows), ggml_type) == quants.quantize(x, qtype).nbytes


@pytest.mark.parametrize("ggml_type", list(K_STRUCTS))
def test_k_quant_tensor_bytes_follow_ggml_structs(ggml_type):
    for shape in ((256, 1), (4096, 32000), (14336, 4096)):
        assert tensor_bytes(shape, ggml_type) == shape[0] // 256 * shape[1] * K_STRUCTS[ggml_type]


@FAST
@given(SPECS, st.sampled_from(FILE_TYPES), st.data())
def test_raising_a_tensor_to_more_bits_never_shrinks_the_file(spec, ftype, data):
    try:
        r = quantize_model(spec, ftype)
    except ValueError as exc:
        assert str(exc).strip()
        return
    i = data.draw(st.integers(0, len(r.tensors) - 1))
    t = r.tensors[i]
    wider = [g for g in GGML_TYPES if type_bits(g) > type_bits(t.type)
             and t.shape[0] % GGML_QUANT_SIZES[GGMLQuantizationType[g]][0] == 0]
    assume(wider)
    g = data.draw(st.sampled_from(wider))
    raised = dataclasses.replace(r, tensors=r.tensors[:i] + (QuantTensor(t.name, t.shape, g, tensor_bytes(t.shape, g)),)
                                 + r.tensors[i + 1:])
    assert raised.tensor_bytes >= r.tensor_bytes
    assert raised.file_bytes_estimate >= r.file_bytes_estimate


@SLOW
@given(SPECS, st.sampled_from(FILE_TYPES))
def test_every_file_type_is_a_result_or_a_value_error(spec, ftype):
    try:
        r = quantize_model(spec, ftype)
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert r.tensor_bytes > 0 and r.file_bytes_estimate >= r.tensor_bytes
    assert 0 < r.bits_per_weight <= 32
    c = param_counts(spec)
    assert r.n_elements == c.total + c.buffers  # every parameter (and DeepSeek's router bias) is stored once


def _no_fallbacks(name: str) -> bool:
    """Every 2-D tensor's rows divide into 256-element k-quant super-blocks. Where they do not
    (Qwen2.5-0.5B: 896, GPT-2 XL: 1600), llama.cpp falls back per tensor (Q4_K -> Q5_0, Q6_K -> Q8_0)
    and the ladder really can invert (Q4_K_M above Q5_K_S), so those models are left out. So is
    GPT-2 (124M): a third of it is the embedding, which Q3_K_L keeps wider than Q4_K_S does."""
    if param_counts(get_preset(name)).total < 10**9:
        return False
    return all(t.shape[0] % 256 == 0 for t in quantize_model(get_preset(name), "Q8_0").tensors if len(t.shape) > 1)


@pytest.mark.parametrize("name", [n for n in GGUF_PRESETS if _no_fallbacks(n)])
def test_file_type_ladder_never_inverts_on_real_models(name):
    sizes = [quantize_model(get_preset(name), f).tensor_bytes for f in LADDER]
    assert sizes == sorted(sizes, reverse=True), dict(zip(LADDER, sizes, strict=True))


@FAST
@given(st.binary(max_size=300))
def test_header_reader_refuses_random_bytes_with_value_error(data):
    try:
        read_gguf(data)
    except ValueError as exc:
        assert str(exc).strip()


@FAST
@given(st.integers(1, 6), st.data())
def test_header_reader_on_mutated_headers(n_layers, data):
    raw = bytearray(fuzz.gguf_header(n_layers=n_layers))
    for _ in range(data.draw(st.integers(0, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        fuzz.check_gguf(bytes(raw[:cut] if data.draw(st.booleans()) else raw))
    except ValueError as exc:
        assert str(exc).strip()


def test_valid_fuzz_header_reads_back():
    h = read_gguf(fuzz.gguf_header(n_layers=3))
    assert h.version == 3 and h.architecture == "llama" and len(h.tensors) == 5
    spec = spec_from_gguf(h)
    assert (spec.num_layers, spec.hidden_size, spec.num_heads, spec.num_kv_heads) == (3, 64, 4, 2)


def test_file_type_of_infinite_value_is_none_or_value_error():
    data = fuzz.gguf_header(override={"general.file_type": ("f32", struct.pack("<f", float("inf")))})
    try:
        assert read_gguf(data).file_type is None
    except ValueError:
        pass


@pytest.mark.parametrize("shape,ggml_type", [((256, -3), "Q4_K"), ((-5,), "F32"), ((0, 4), "F16")])
def test_tensor_bytes_refuses_non_positive_dims(shape, ggml_type):
    with pytest.raises(ValueError):
        tensor_bytes(shape, ggml_type)


@pytest.mark.parametrize("name", GGUF_PRESETS)
def test_small_medium_large_variants_grow(name):
    """Within one k-quant level, S <= M <= L (llama.cpp gives M and L more tensors at higher types)."""
    for family in (("Q3_K_S", "Q3_K_M", "Q3_K_L"), ("Q4_K_S", "Q4_K_M"), ("Q5_K_S", "Q5_K_M")):
        sizes = [quantize_model(get_preset(name), f).tensor_bytes for f in family]
        assert sizes == sorted(sizes), dict(zip(family, sizes, strict=True))


# ----- running a GGUF: llama.cpp memory (calc.gguf_run) -------------------------------------------

from calc.gguf_run import RunSetup, run_memory  # noqa: E402
from calc.gpus import GPUS  # noqa: E402

CACHE_TYPES = ["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"]


@FAST
@given(SPECS, st.sampled_from(["Q4_K_M", "Q8_0", "F16", "Q2_K"]), st.integers(1, 200_000), st.integers(1, 8),
       st.sampled_from(CACHE_TYPES), st.one_of(st.none(), st.sampled_from(list(GPUS))), st.integers(1, 4096))
def test_run_memory_is_sane_and_grows_with_context(spec, ftype, context, batch, cache, gpu, more):
    try:
        q = quantize_model(spec, ftype)
    except ValueError:
        return
    g = GPUS[gpu] if gpu else None
    setup = RunSetup(context=context, cache_type=cache, batch=batch)
    try:
        m = run_memory(spec, q, setup, g)
    except ValueError as exc:
        assert str(exc).strip()
        return
    for v in (m.weights_bytes, m.kv_cache_bytes, m.compute_bytes, m.gpu_bytes, m.cpu_bytes):
        assert isinstance(v, int) and v >= 0
    assert 0 <= m.gpu_layers <= m.n_layers == spec.num_layers
    assert m.gpu_bytes + m.cpu_bytes >= m.weights_bytes  # every weight is somewhere
    longer = run_memory(spec, q, dataclasses.replace(setup, context=context + more), g)
    assert longer.kv_cache_bytes >= m.kv_cache_bytes and longer.total_bytes >= m.total_bytes
    assert longer.gpu_layers <= m.gpu_layers  # more context never puts more layers on the GPU


@FAST
@given(st.sampled_from(["context", "cache_type", "batch", "n_ubatch"]),
       st.one_of(st.integers(-10**6, 0), st.integers(10**12, 10**30), st.floats(), st.text(max_size=4), st.none()))
def test_run_memory_bad_setup_is_a_value_error(field, value):
    spec = get_preset("Llama-3.2-1B")
    try:
        setup = dataclasses.replace(RunSetup(), **{field: value})
        m = run_memory(spec, quantize_model(spec, "Q4_K_M"), setup, GPUS["H100 SXM"])
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert all(isinstance(v, int) and v >= 0 for v in (m.weights_bytes, m.kv_cache_bytes, m.compute_bytes))


@pytest.mark.parametrize("value", [-1, 0, None, ""])
def test_run_memory_refuses_bad_n_ubatch(value):
    spec = get_preset("Llama-3.2-1B")
    with pytest.raises(ValueError):
        run_memory(spec, quantize_model(spec, "Q4_K_M"), RunSetup(n_ubatch=value), GPUS["H100 SXM"])
