"""Reference modules: dtypes against numpy / ml_dtypes finfo, units, GPU catalog, and calc's purity."""

from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from calc import units
from calc.dtypes import DTYPES, dtype_bits, float_info, get_dtype
from calc.gpus import GPUS, get_gpu, match_device_name
from tests.conftest import ROOT


def test_calc_imports_no_ui_in_a_fresh_process():
    code = ("import sys, calc, calc.models, calc.presets, calc.dtypes, calc.gpus, calc.units, calc.kvcache, calc.cli;"
            "import pkgutil, importlib;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(calc.__path__, 'calc.')"
            " if m.name != 'calc.__main__'];"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly', 'torch')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name,np_type", [("fp32", np.float32), ("fp16", np.float16),
                                          ("bf16", ml_dtypes.bfloat16), ("fp8_e4m3", ml_dtypes.float8_e4m3fn),
                                          ("fp8_e5m2", ml_dtypes.float8_e5m2)])
def test_float_layout_matches_finfo(name, np_type):
    d, fi = get_dtype(name), (np.finfo(np_type) if np_type in (np.float32, np.float16) else ml_dtypes.finfo(np_type))
    assert d.sign_bits + d.exponent_bits + d.mantissa_bits == d.bits == fi.bits
    assert d.mantissa_bits == fi.nmant
    assert float_info(name).eps == float(fi.eps) == 2.0 ** -d.mantissa_bits


def test_bf16_has_fp32_range_and_less_precision():
    bf16, fp32, fp16 = float_info("bf16"), float_info("fp32"), float_info("fp16")
    assert bf16.max == pytest.approx(fp32.max, rel=0.01)  # same 8-bit exponent
    assert bf16.eps > fp16.eps > fp32.eps
    assert fp16.max == 65504.0


def test_widths_in_bits_never_integer_divided():
    assert dtype_bits("int4") == 4 and get_dtype("int4").bytes_per_element == 0.5
    assert get_dtype("tf32").bytes_per_element == 4  # stored as fp32
    assert set(DTYPES) >= {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8", "int4", "nf4"}


def test_units_rule_of_thumb():
    # REFERENCE.md: 1e9 params x 4 B = 4.0 GB = 3.73 GiB
    assert units.format_bytes(4e9, "GB") == "4.00 GB"
    assert units.format_bytes(4e9, "GiB") == "3.73 GiB"
    assert units.GB == 10**9 and units.GIB == 2**30


def test_gpu_catalog():
    assert len(GPUS) >= 15
    required = ["A100 SXM 40GB", "A100 SXM 80GB", "H100 SXM", "H100 PCIe", "H200", "B200", "L40S", "L4", "A10",
                "V100 SXM2 32GB", "RTX 3090", "RTX 4090", "RTX 5090", "MI300X"]
    assert all(r in GPUS for r in required)
    assert any(g.unified_memory for g in GPUS.values())
    # nvidia-smi totals (REFERENCE.md): A100 80GB 81,920 MiB; H200 143,771 MiB
    assert GPUS["A100 SXM 80GB"].memory_bytes == 81_920 * 2**20
    assert GPUS["H200"].memory_bytes == 143_771 * 2**20
    # Dense (not sparse) peaks, REFERENCE.md: H100 SXM bf16 989, fp8 1979; A100 bf16 312
    assert GPUS["H100 SXM"].peak("bf16") == 989e12 and GPUS["H100 SXM"].peak("fp8_e4m3") == 1979e12
    assert GPUS["A100 SXM 80GB"].peak("fp16") == 312e12 and GPUS["A100 SXM 80GB"].peak("fp8") is None
    assert all(g.source for g in GPUS.values())
    assert get_gpu("h100-sxm").name == "H100 SXM"
    assert match_device_name("NVIDIA H100 80GB HBM3").name == "H100 SXM"
    assert match_device_name("Some Unknown Accelerator") is None
    assert match_device_name("NVIDIA L40").name == "L40" and match_device_name("NVIDIA L4").name == "L4"
    with pytest.raises(ValueError, match="known GPUs"):
        get_gpu("TPU v9")
