"""GPU catalog: the rows people own, figures against the datasheets, device names as drivers print them,
the custom GPU on the CLI and on every page."""

from __future__ import annotations

import json

import pytest

from calc.cli import main as cli_main
from calc.gpus import GPUS, custom_gpu, get_gpu, match_device_name, search_gpus
from tests.apptest_helpers import open_page
from tests.test_pages import run_page
from ui.nav import PAGES

MIB, GIB = 2**20, 2**30

# Issue 17 item 9: hardware people own must be in the catalog.
REQUIRED = ["T4", "A10G", "L40", "L40S", "A40", "RTX A6000", "RTX 6000 Ada", "RTX PRO 6000 Blackwell",
            "RTX 3060 12GB", "RTX 3080", "RTX 3090", "RTX 4060 Ti 16GB", "RTX 4070 Ti Super", "RTX 4080", "RTX 4090",
            "RTX 5080", "RTX 5090", "H20", "GH200", "B200", "B300", "GB200", "MI250X GCD", "MI300X", "MI325X",
            "MI355X", "Gaudi 3", "A100 SXM 80GB", "H100 SXM", "H200", "L4", "A10", "V100 SXM2 32GB"]


def test_catalog_has_the_hardware_people_own_each_row_sourced():
    assert len(GPUS) >= 40
    missing = [r for r in REQUIRED if r not in GPUS]
    assert not missing
    assert any(g.unified_memory and "Max" in g.name for g in GPUS.values())
    assert any(g.unified_memory and "Ultra" in g.name for g in GPUS.values())
    for g in GPUS.values():
        assert g.source.strip(), g.name
        assert g.memory_bytes > 0 and g.bandwidth_bytes_per_s > 0 and g.board_power_w > 0, g.name
        assert g.peak_flops_per_s and all(v > 0 for v in g.peak_flops_per_s.values()), g.name


# REFERENCE.md "GPUs" table (vendor datasheets, dense): FP32, TF32, BF16/FP16, FP8 TFLOPS, TB/s.
DATASHEET = {
    "A100 SXM 80GB": (19.5, 156, 312, None, 2.04),
    "H100 SXM": (67, 494.5, 989, 1979, 3.35),
    "H100 PCIe": (51, 378, 756, 1513, 2.0),
    "H200": (67, 494.5, 989, 1979, 4.8),
    "B200": (80, 1125, 2250, 4500, 8.0),
    "L40S": (91.6, 183, 362, 733, 0.86),
    "MI300X": (163.4, 653.7, 1300, 2610, 5.3),
    "RTX 4090": (82.6, None, 165, 330, 1.01),
}


@pytest.mark.parametrize("name", DATASHEET)
def test_peaks_and_bandwidth_match_the_reference_table(name):
    g = GPUS[name]
    fp32, tf32, bf16, fp8, tbs = DATASHEET[name]
    for dtype, want in (("fp32", fp32), ("tf32", tf32), ("bf16", bf16), ("fp8", fp8)):
        if want is None:
            continue
        assert g.peak(dtype) == pytest.approx(want * 1e12, rel=0.01), dtype  # the table rounds to 3-4 digits
    assert g.peak("fp16") == g.peak("bf16")
    assert g.bandwidth_bytes_per_s == pytest.approx(tbs * 1e12, rel=0.01)


# nvidia-smi "Memory-Usage" totals (MiB) as printed in public logs and READMEs, with the name the driver
# prints; the row must hold exactly those bytes (REFERENCE.md: store the bytes the device reports).
NVIDIA_SMI = [
    ("Tesla T4", 15_360, "T4"), ("NVIDIA A10G", 23_028, "A10G"), ("NVIDIA L4", 23_034, "L4"),
    ("NVIDIA L40", 46_068, "L40"), ("NVIDIA L40S", 46_068, "L40S"), ("NVIDIA A40", 46_068, "A40"),
    ("NVIDIA RTX A6000", 49_140, "RTX A6000"), ("NVIDIA RTX 6000 Ada Generation", 49_140, "RTX 6000 Ada"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97_887, "RTX PRO 6000 Blackwell"),
    ("NVIDIA GeForce RTX 3060", 12_288, "RTX 3060 12GB"), ("NVIDIA GeForce RTX 3080", 10_240, "RTX 3080"),
    ("NVIDIA GeForce RTX 4060 Ti", 16_380, "RTX 4060 Ti 16GB"), ("NVIDIA GeForce RTX 4080", 16_376, "RTX 4080"),
    ("NVIDIA GeForce RTX 5080", 16_303, "RTX 5080"), ("NVIDIA H20", 97_871, "H20"),
    ("NVIDIA GH200 480GB", 97_871, "GH200"), ("NVIDIA H100 NVL", 95_830, "H100 NVL"),
    ("NVIDIA B200", 183_359, "B200"), ("NVIDIA GB200", 189_471, "GB200"), ("NVIDIA B300 SXM6 AC", 275_040, "B300"),
    ("Tesla V100-SXM2-32GB", 32_510, "V100 SXM2 32GB"), ("NVIDIA H100 80GB HBM3", 81_559, "H100 SXM"),
    ("NVIDIA A100-SXM4-80GB", 81_920, "A100 SXM 80GB"), ("NVIDIA A100-SXM4-40GB", 40_960, "A100 SXM 40GB"),
    ("NVIDIA H200", 143_771, "H200"),
]


@pytest.mark.parametrize("device,mib,row", NVIDIA_SMI, ids=[d for d, _, _ in NVIDIA_SMI])
def test_device_names_match_their_row_and_its_reported_bytes(device, mib, row):
    g = match_device_name(device, memory_bytes=mib * MIB)
    assert g is not None and g.name == row
    assert g.memory_reported and g.memory_bytes == mib * MIB


@pytest.mark.parametrize("device", [
    "NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA GeForce RTX 4090 D", "NVIDIA GeForce RTX 3060 Ti",
    "NVIDIA GeForce RTX 4070 Ti", "NVIDIA GeForce RTX 4080 SUPER", "NVIDIA H200 NVL", "Tesla V100-SXM2-16GB",
    "AMD Radeon Graphics", "Some Unknown Accelerator", "", "cpu"])
def test_other_products_match_nothing_rather_than_a_neighbour(device):
    assert match_device_name(device) is None


def test_short_names_never_match_longer_ones():
    assert [g.name for g in search_gpus("T4")] == ["T4"]
    assert "RTX 4090" not in [g.name for g in search_gpus("T4")]
    assert [g.name for g in search_gpus("H20")] == ["H20", "H200"]  # word starts: H20 then H200, never H100
    assert match_device_name("NVIDIA H20").name == "H20" and match_device_name("NVIDIA H200").name == "H200"
    assert match_device_name("NVIDIA A10").name == "A10"  # not the A10G or an A100
    # an 8 GB RTX 4060 Ti reports 8,188 MiB: not the 16 GB row
    assert match_device_name("NVIDIA GeForce RTX 4060 Ti", memory_bytes=8_188 * MIB) is None
    assert get_gpu("t4").name == "T4" and get_gpu("mi250x").name == "MI250X GCD"
    with pytest.raises(ValueError, match="did you mean RTX 4090"):
        get_gpu("RTX 409")


def test_custom_gpu_refuses_out_of_range_figures_naming_the_field():
    g = custom_gpu(24e9, 1.0e12, 165e12, 450)
    assert g.memory_bytes == 24_000_000_000 and g.peak("bf16") == g.peak("fp16") == 165e12
    assert g.peak("fp8") is None and g.custom
    for kwargs, field in ((dict(memory_bytes=-1), "memory_bytes"), (dict(memory_bytes=float("nan")), "memory_bytes"),
                          (dict(memory_bytes=24e9, bandwidth_bytes_per_s=0), "bandwidth"),
                          (dict(memory_bytes=24e9, peak_flops_per_s=1e30), "peak_flops")):
        with pytest.raises(ValueError, match=field):
            custom_gpu(**kwargs)


def _cli_json(capsys, *args) -> dict:
    assert cli_main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _without_names(d: dict) -> dict:
    return {k: (_without_names(v) if isinstance(v, dict) else v) for k, v in d.items() if k not in ("gpu", "name")}


def test_cli_custom_gpu_equal_to_a_catalog_row_gives_the_same_answers(capsys):
    h100 = GPUS["H100 SXM"]
    same = ["--gpu-memory", repr(h100.memory_bytes / 1e9), "--gpu-bandwidth", repr(h100.bandwidth_bytes_per_s / 1e9),
            "--gpu-tflops", repr(h100.peak("bf16") / 1e12), "--gpu-power", "700"]
    for cmd in (["speed", "--model", "Meta-Llama-3-8B", "--batch", "8"],
                ["memory", "--mode", "infer", "--model", "Meta-Llama-3-70B", "--context", "32768"],
                ["compute", "--params", "7e9", "--tokens", "1e12", "--gpus", "64"],
                ["gguf", "--model", "Llama-2-7B", "--context", "8192"]):
        ref, custom = _cli_json(capsys, *cmd, "--gpu", "H100 SXM"), _cli_json(capsys, *cmd, *same)
        assert _without_names(custom) == _without_names(ref), cmd[0]
    out = _cli_json(capsys, "memory", "--mode", "infer", "--model", "Meta-Llama-3-8B", "--gpu-memory", "24")
    assert out["gpu"]["capacity_bytes"] == 24_000_000_000


@pytest.mark.parametrize("args,fragment", [
    (["speed", "--model", "GPT-2", "--gpu-memory", "24"], "--gpu-bandwidth"),
    (["compute", "--params", "7e9", "--tokens", "1e12", "--gpu-memory", "80"], "--gpu-tflops"),
    (["memory", "--mode", "train", "--params", "7e9", "--gpu", "T4", "--gpu-memory", "16"], "not both"),
    (["memory", "--mode", "train", "--params", "7e9", "--gpu-bandwidth", "900"], "--gpu-memory"),
    (["memory", "--mode", "train", "--params", "7e9", "--gpu-memory", "nan"], "--gpu-memory: must be a number in [0.1, 100,000] GB"),
    (["memory", "--mode", "train", "--params", "7e9", "--gpu-memory", "1e9"], "--gpu-memory: must be a number in [0.1, 100,000] GB"),
])
def test_cli_custom_gpu_mistakes_exit_2_with_one_line(capsys, args, fragment):
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


@pytest.mark.parametrize("info", [p for p in PAGES if p.url_path in ("", "training-memory", "inference-memory",
                                                                      "compute", "speed", "quantization", "scaling")],
                         ids=lambda p: p.url_path or "home")
def test_custom_gpu_from_the_link_is_used_on_every_page(info):
    # the memory pages name the GPU in their formulas expander, built only while open (tm_xtab, im_xf; issue 18)
    at = open_page(info.path, {"gpu": "Custom GPU", "units": "GiB", "gpu_mem": "22.5", "gpu_bw": "900",
                               "gpu_tf": "120"}, session={"tm_xtab": True, "im_xf": True})
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["gpu"] == "Custom GPU" and at.session_state["gpu_mem"] == 22.5
    shown = " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.subheader, *at.title, *at.info, *at.error,
                                           *at.success))
    shown += " ".join(m.label for m in at.metric) + " ".join(str(n.help) for n in at.number_input)
    assert "Custom GPU (24.16 GB, 900 GB/s, 120 TFLOPS)" in shown  # 22.5 GiB = 24.16 GB


def test_custom_gpu_memory_follows_the_unit_toggle():
    at = run_page(PAGES[0].path, {"gpu": "Custom GPU", "units": "GiB", "gpu_mem": "22.5"})
    metric = {m.label: m.value for m in at.metric}
    assert "22.50 GiB" in metric.values()  # 22.5 GiB as typed, in the GiB system
    at.sidebar.radio(key="units").set_value("GB").run()
    assert at.session_state["gpu_mem"] == pytest.approx(22.5 * GIB / 1e9, abs=1e-4)  # the same bytes, in GB
    assert "24.16 GB" in {m.label: m.value for m in at.metric}.values()
