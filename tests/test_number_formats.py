"""FP4 / MXFP4 / NVFP4 on Number formats (issue 17 item 13), against sources that are not calc/dtypes.py.

- The E2M1 element: its values decoded from the sign/exponent/mantissa split we declare (OCP Microscaling
  Formats spec v1.0, sec. 5.3.3: bias 1, no infinities or NaN, subnormals at exponent 0) must equal every
  code point ``ml_dtypes.float4_e2m1fn`` decodes, and the spec's table (max normal 6.0, min normal 1.0,
  subnormal 0.5).
- Bits per weight of the block formats: llama.cpp's block layouts as the ``gguf`` package lists them
  (``GGML_QUANT_SIZES``: MXFP4 32 weights in 17 bytes = 16 B of nibbles + one E8M0 byte; NVFP4 64 weights in
  36 bytes = 32 B of nibbles + four E4M3 bytes, one per 16), and torch's packed ``float4_e2m1fn_x2`` (two
  elements per byte).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from calc.dtypes import float_info, get_dtype
from tests.apptest_helpers import open_page
from tests.test_pages import run_page


def _decode(sign_bits: int, exponent_bits: int, mantissa_bits: int) -> list[float]:
    """Every value of a sign/exponent/mantissa format with IEEE bias and subnormals, no inf/NaN codes ("fn")."""
    bias = 2 ** (exponent_bits - 1) - 1
    out = []
    for code in range(2 ** (sign_bits + exponent_bits + mantissa_bits)):
        m = code & (2**mantissa_bits - 1)
        e = (code >> mantissa_bits) & (2**exponent_bits - 1)
        s = -1.0 if code >> (mantissa_bits + exponent_bits) else 1.0
        frac = m / 2**mantissa_bits
        out.append(s * (2.0 ** (1 - bias) * frac if e == 0 else 2.0 ** (e - bias) * (1 + frac)))
    return out


@pytest.mark.parametrize("name", ["fp4_e2m1", "mxfp4", "nvfp4"])
def test_fp4_element_values_match_ml_dtypes_and_the_ocp_table(name):
    d = get_dtype(name)
    ours = _decode(d.sign_bits, d.exponent_bits, d.mantissa_bits)
    theirs = np.arange(16, dtype=np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float32).tolist()
    assert ours == theirs
    # OCP MX v1.0 Table 5 (FP4 E2M1): max normal 6.0, min normal 1.0, max = min subnormal 0.5; 15 distinct values
    assert sorted(v for v in set(ours) if v >= 0) == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert len({v for v in ours}) == 15  # +0 and -0 are one value
    fi = float_info(name)
    assert (fi.max, fi.smallest_normal, fi.eps) == (6.0, 1.0, 0.5)


@pytest.mark.parametrize("name,ggml", [("mxfp4", "MXFP4"), ("nvfp4", "NVFP4")])
def test_block_formats_bits_per_weight_match_llama_cpp_blocks(name, ggml):
    weights, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType[ggml]]
    assert get_dtype(name).bits == nbytes * 8 / weights  # MXFP4 4.25, NVFP4 4.5
    assert get_dtype(name).bytes_per_element == nbytes / weights


def test_fp4_element_is_half_a_byte_as_torch_packs_it():
    torch = pytest.importorskip("torch")
    packed = torch.empty(8, dtype=torch.float4_e2m1fn_x2)  # two E2M1 elements per byte
    assert packed.element_size() / 2 == get_dtype("fp4_e2m1").bytes_per_element == 0.5


def test_number_formats_page_lists_fp4_rows_and_no_empty_cells():
    at = run_page("app_pages/dtypes.py")
    assert not at.exception
    table = at.dataframe[0].value
    rows = table.set_index("dtype")
    assert rows.loc["mxfp4", "bits"] == 4.25 and rows.loc["nvfp4", "bits"] == 4.5
    assert rows.loc["fp4_e2m1", "max"] == "6.000e+00"
    # every cell is a value or "—": main showed "None" for int8's exponent and tf32's range
    assert not table.isna().any().any()
    assert not (table.astype(str).map(str.strip) == "").any().any()
    assert rows.loc["int8", "exponent"] == "—" and rows.loc["int8", "sign"] == "1"


def test_quantization_split_wording_does_not_contradict_itself():
    """Item 13: "split: 32/32 layers on GPU" read as everything on the GPU while the row said it did not fit.

    llama.cpp (llama_model::load_tensors): -ngl n_layer offloads every block and leaves the output head on the
    CPU; n_layer + 1 offloads the head too. calc.gguf_run.run_memory picks k (checked in test_gguf*.py)."""
    from calc.gguf import quantize_all
    from calc.gguf_run import RunSetup, run_memory
    from calc.gpus import get_gpu
    from calc.presets import get_preset

    at = run_page("app_pages/quantization.py", {"model": "Meta-Llama-3-8B", "gpu": "T4", "gctx": "8192"})
    assert not at.exception
    fits = at.dataframe[0].value.set_index("file type")["fits"]
    spec, t4 = get_preset("Meta-Llama-3-8B"), get_gpu("T4")
    quants = quantize_all(spec)
    for f in ("F32", "F16"):
        m = run_memory(spec, quants[f], RunSetup(context=8192), t4)
        assert m.placement == "split"
        if m.gpu_layers == m.n_layers:  # F16 on a T4: every block fits, the head does not
            assert fits[f] == f"split: all {m.n_layers} layers on GPU, output head on CPU"
        else:
            assert fits[f] == (f"split: {m.gpu_layers} of {m.n_layers} layers on GPU, "
                               f"{m.n_layers - m.gpu_layers} on CPU")
    assert fits["F16"].startswith("split: all 32") and not any("/" in v for v in fits)


def _formats(element) -> dict[str, str]:
    import json

    return {c: v.get("type_config", {}).get("format") for c, v in json.loads(element.proto.columns).items()}


@pytest.mark.parametrize("path,units", [("app_pages/training_memory.py", "GB"), ("app_pages/inference_memory.py", "GiB")])
def test_memory_tables_have_one_precision_per_column_and_separators(path, units):
    """Item 13: the component table's GB column read "16.115" above "0" (the grid's default drops trailing zeros)
    and 1141.87 without a separator. Every row of a column now has one printf precision, with separators."""
    import re

    # both pages' tables sit in a lazy expander (im_xtab, tm_xtab), opened here
    at = open_page(path, {"model": "Meta-Llama-3-70B", "units": units}, session={"im_xtab": True, "tm_xtab": True},
                   timeout_s=120)
    assert not at.exception
    table = next(d for d in at.dataframe if "component" in d.value.columns)
    formats = _formats(table)
    assert re.fullmatch(r"%,\.3f", formats[units] or ""), formats
    assert formats["bytes"] == "localized"  # the browser's grouping: 16,115,048,448
