"""Accelerator catalog: memory as the device reports it, bandwidth, dense peak per dtype, board power.

Peaks are *dense* (no 2:4 sparsity) tensor-core TFLOPS from the vendor datasheets in ``source``;
where a datasheet prints only the sparse figure, the row halves it and says so. GeForce figures are with
fp32 accumulation (what PyTorch uses): the whitepapers' "FP16 Tensor TFLOPS with FP32 Accumulate".
Where a GeForce whitepaper has no column for a card, the row derives the figure from SMs x boost clock x
the per-SM rate of a card of the same generation that the whitepaper does list (stated in ``source``).

``memory_bytes`` is what ``nvidia-smi`` (``cudaMemGetInfo`` total) or ``rocm-smi`` reports, in MiB x 2**20,
where such a report is known (``memory_reported=True``): an "80GB" A100 shows 81,920 MiB, an H100 80GB
81,559 MiB (modal-labs/modal-client PR 2797; NVIDIA/nccl issue 1264), an H200 143,771 MiB; the other totals
were read from nvidia-smi tables published in public repositories (e.g. T4 15,360 MiB, A10G 23,028 MiB,
L40/L40S/A40 46,068 MiB, RTX A6000 and RTX 6000 Ada 49,140 MiB, H20 and GH200 97,871 MiB, GB200
189,471 MiB, B300 275,040 MiB). Otherwise it is the capacity the vendor sells (HBM and GDDR are built in
binary sizes, so "128 GB" of HBM is 128 GiB) and ``memory_reported`` is False.
Apple M-series share unified memory with the CPU: ``memory_bytes`` is the installed RAM and
``usable_fraction`` the share Metal lets one process wire by default (``recommendedMaxWorkingSetSize``,
about 75% on 64 GB+ machines).

Fields are added with defaults only (keyword arguments), so that later additions such as interconnect
bandwidths (NVLink, PCIe, network per GPU) extend rows without touching the existing ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MIB = 2**20
GIB = 2**30

#: dtype names (calc.dtypes and common spellings) that share one tensor-core rate.
_PEAK_KEY = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "mxfp8": "fp8", "mxfp4": "fp4", "nvfp4": "fp4",
             "fp4_e2m1": "fp4"}


@dataclass(frozen=True)
class GPU:
    name: str
    vendor: str
    memory_bytes: int
    bandwidth_bytes_per_s: float
    peak_flops_per_s: dict[str, float] = field(hash=False)  # dtype -> dense peak; absent = unsupported
    board_power_w: float = 0.0
    source: str = ""
    unified_memory: bool = False
    usable_fraction: float = 1.0  # share of memory_bytes a single process can use
    memory_reported: bool = False  # True: memory_bytes is a device report (nvidia-smi / rocm-smi total)
    aliases: tuple[str, ...] = ()  # other names it is known by ("T4" for "Tesla T4", "MI250X" for its GCD)
    custom: bool = False  # True: typed in by the user, not a catalog row

    def peak(self, dtype: str) -> float | None:
        """Dense peak FLOP/s for ``dtype`` (fp16 and bf16 share a figure); ``None`` if unsupported."""
        return self.peak_flops_per_s.get(_PEAK_KEY.get(dtype, dtype))

    @property
    def usable_memory_bytes(self) -> int:
        return int(self.memory_bytes * self.usable_fraction)


def _peaks(fp32=None, tf32=None, bf16=None, fp16=None, fp8=None, int8=None, fp4=None) -> dict[str, float]:
    """TFLOPS (TOPS for int8) -> FLOP/s, leaving out what the device does not support."""
    raw = {"fp32": fp32, "tf32": tf32, "bf16": bf16, "fp16": fp16 if fp16 is not None else bf16,
           "fp8": fp8, "int8": int8, "fp4": fp4}
    return {k: v * 1e12 for k, v in raw.items() if v is not None}


_NV = "https://www.nvidia.com/"
_A100 = _NV + "content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
_AMPERE_WP = _NV + "content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf"
_ADA_WP = "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
_BW_WP = "https://images.nvidia.com/aem-dam/Solutions/geforce/blackwell/nvidia-rtx-blackwell-gpu-architecture.pdf"
_AMD = "https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/"
_APPLE = "unified memory; peak is the GPU's fp32 rate (no separate matrix units); "
_R = {"memory_reported": True}

_GPUS: tuple[GPU, ...] = (
    # ---- NVIDIA data centre ------------------------------------------------------------------------
    GPU("V100 SXM2 32GB", "NVIDIA", 32_510 * MIB, 0.9e12, {"fp32": 15.7e12, "fp16": 125e12}, 300,
        _NV + "en-us/data-center/v100/ (no bf16, no tf32: Volta); nvidia-smi 32,510 MiB", aliases=("V100",), **_R),
    GPU("T4", "NVIDIA", 15_360 * MIB, 0.32e12, {"fp32": 8.1e12, "fp16": 65e12, "int8": 130e12}, 70,
        _NV + "content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf "
        "(Turing: fp16 mixed precision, no bf16/tf32); nvidia-smi 15,360 MiB", aliases=("Tesla T4",), **_R),
    GPU("A100 PCIe 40GB", "NVIDIA", 40_960 * MIB, 1.555e12, _peaks(19.5, 156, 312, int8=624), 250, _A100, **_R),
    GPU("A100 SXM 40GB", "NVIDIA", 40_960 * MIB, 1.555e12, _peaks(19.5, 156, 312, int8=624), 400, _A100, **_R),
    GPU("A100 SXM 80GB", "NVIDIA", 81_920 * MIB, 2.039e12, _peaks(19.5, 156, 312, int8=624), 400, _A100,
        aliases=("A100",), **_R),
    GPU("A100 PCIe 80GB", "NVIDIA", 81_920 * MIB, 1.935e12, _peaks(19.5, 156, 312, int8=624), 300, _A100, **_R),
    GPU("A10", "NVIDIA", 23_028 * MIB, 0.6e12, _peaks(31.2, 62.5, 125, int8=250), 150,
        _NV + "en-us/data-center/products/a10-gpu/", **_R),
    GPU("A10G", "NVIDIA", 23_028 * MIB, 0.6e12, _peaks(35, 35, 70, int8=140), 300,
        "AWS G5 instances (https://aws.amazon.com/ec2/instance-types/g5/): 24 GB, 600 GB/s; NVIDIA publishes no "
        "A10G datasheet, tensor rates as tabulated in https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-"
        "inference/ (fp32 accumulate); nvidia-smi 23,028 MiB", **_R),
    GPU("A40", "NVIDIA", 46_068 * MIB, 0.696e12, _peaks(37.4, 74.8, 149.7, int8=299.3), 300,
        _NV + "content/dam/en-zz/Solutions/Data-Center/a40/proviz-print-nvidia-a40-datasheet-us-nvidia-1469711-r8-web.pdf"
        " (dense column); nvidia-smi 46,068 MiB (ECC on)", **_R),
    GPU("L4", "NVIDIA", 23_034 * MIB, 0.3e12, _peaks(30.3, 60, 121, fp8=242.5, int8=242.5), 72,
        _NV + "en-us/data-center/l4/", **_R),
    GPU("L40", "NVIDIA", 46_068 * MIB, 0.864e12, _peaks(90.5, 90.5, 181.05, fp8=362, int8=362), 300,
        _NV + "en-us/data-center/l40/ (sparse figures halved); nvidia-smi 46,068 MiB", **_R),
    GPU("L40S", "NVIDIA", 46_068 * MIB, 0.864e12, _peaks(91.6, 183, 362.05, fp8=733, int8=733), 350,
        _NV + "en-us/data-center/l40s/", **_R),
    GPU("H100 PCIe", "NVIDIA", 81_559 * MIB, 2.0e12, _peaks(51, 378, 756, fp8=1513, int8=1513), 350,
        _NV + "en-us/data-center/h100/ (H100 PCIe column)", **_R),
    GPU("H100 SXM", "NVIDIA", 81_559 * MIB, 3.35e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 700,
        _NV + "en-us/data-center/h100/ (H100 SXM column, dense = half the sparse figure)", aliases=("H100",), **_R),
    GPU("H100 NVL", "NVIDIA", 95_830 * MIB, 3.9e12, _peaks(60, 417.5, 835.5, fp8=1670.5, int8=1670.5), 400,
        _NV + "en-us/data-center/h100/ (H100 NVL column, sparse halved); nvidia-smi 95,830 MiB", **_R),
    GPU("H20", "NVIDIA", 97_871 * MIB, 4.0e12, _peaks(44, 74, 148, fp8=296, int8=296), 400,
        "NVIDIA H20 product brief as reproduced in Lenovo's ThinkSystem NVIDIA H20 product guide "
        "(https://lenovopress.lenovo.com/lp1944); nvidia-smi 97,871 MiB", **_R),
    GPU("H200", "NVIDIA", 143_771 * MIB, 4.8e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 700,
        _NV + "en-us/data-center/h200/ (H200 SXM column)", **_R),
    GPU("GH200", "NVIDIA", 97_871 * MIB, 4.0e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 900,
        _NV + "en-us/data-center/grace-hopper-superchip/ (the Hopper GPU of the 96 GB HBM3 superchip; power is the "
        "GPU limit nvidia-smi shows); nvidia-smi 97,871 MiB", aliases=("GH200 96GB",), **_R),
    GPU("GH200 144GB", "NVIDIA", 145_920 * MIB, 4.9e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 900,
        _NV + "en-us/data-center/grace-hopper-superchip/ (HBM3e version); CUDA reports 153,008,209,920 B", **_R),
    GPU("B200", "NVIDIA", 183_359 * MIB, 8.0e12, _peaks(80, 1125, 2250, fp8=4500, int8=4500, fp4=9000), 1000,
        _NV + "en-us/data-center/dgx-b200/ and HGX B200 datasheet (per-GPU dense)", **_R),
    GPU("B300", "NVIDIA", 275_040 * MIB, 8.0e12, _peaks(75, 1125, 2250, fp8=4500), 1100,
        _NV + "en-us/data-center/hgx/ (HGX B300: 8-GPU sparse figures / 8 / 2; int8 cut on Blackwell Ultra); "
        "nvidia-smi 275,040 MiB and 1,100 W (B300 SXM6 AC)", aliases=("B300 SXM6",), **_R),
    GPU("GB200", "NVIDIA", 189_471 * MIB, 8.0e12, _peaks(80, 1250, 2500, fp8=5000, int8=5000, fp4=10000), 1200,
        _NV + "en-us/data-center/gb200-nvl72/ (NVL72 sparse figures / 72 GPUs / 2); nvidia-smi 189,471 MiB, "
        "1,200 W", **_R),
    # ---- NVIDIA workstation -------------------------------------------------------------------------
    GPU("RTX A6000", "NVIDIA", 49_140 * MIB, 0.768e12, _peaks(38.7, 77.4, 154.8, int8=309.7), 300,
        _NV + "content/dam/en-zz/Solutions/design-visualization/quadro-product-literature/proviz-print-nvidia-rtx-"
        "a6000-datasheet-us-nvidia-1454980-r9-web.pdf (sparse tensor figures halved); nvidia-smi 49,140 MiB", **_R),
    GPU("RTX 6000 Ada", "NVIDIA", 49_140 * MIB, 0.96e12, _peaks(91.1, 182.1, 364.2, fp8=728.5, int8=728.5), 300,
        _NV + "en-us/design-visualization/rtx-6000/ (1,457 sparse FP8 TFLOPS halved, fp16 = fp8 / 2); "
        "nvidia-smi 49,140 MiB", aliases=("RTX 6000 Ada Generation",), **_R),
    GPU("RTX PRO 6000 Blackwell", "NVIDIA", 97_887 * MIB, 1.792e12, _peaks(125, 250, 500, fp8=1000, int8=1000,
                                                                          fp4=2000), 600,
        _NV + "en-us/products/workstations/professional-desktop-gpus/rtx-pro-6000/ (Workstation Edition: 4,000 "
        "sparse FP4 AI TOPS -> 2,000 dense FP4, fp8 half that, fp16 a quarter); nvidia-smi 97,887 MiB", **_R),
    # ---- NVIDIA GeForce (fp32 accumulate) --------------------------------------------------------------
    GPU("RTX 3060 12GB", "NVIDIA", 12_288 * MIB, 0.36e12, _peaks(12.7, 12.7, 25.5), 170,
        _AMPERE_WP + " (3060 derived: 28 SMs x 1.777 GHz at the 3090's per-SM rates); nvidia-smi 12,288 MiB",
        aliases=("RTX 3060",), **_R),
    GPU("RTX 3080", "NVIDIA", 10_240 * MIB, 0.76e12, _peaks(29.8, 29.8, 59.5), 320,
        _AMPERE_WP + " (RTX 3080 10 GB column); nvidia-smi 10,240 MiB", **_R),
    GPU("RTX 3090", "NVIDIA", 24_576 * MIB, 0.936e12, _peaks(35.6, 35.6, 71), 350,
        _AMPERE_WP + " (fp32 accumulate)", **_R),
    GPU("RTX 4060 Ti 16GB", "NVIDIA", 16_380 * MIB, 0.288e12, _peaks(22.1, 22.1, 44.1, fp8=88.3, int8=176.5), 165,
        _ADA_WP + " (4060 Ti derived: 34 SMs x 2.535 GHz at the 4090's per-SM rates); nvidia-smi 16,380 MiB",
        aliases=("RTX 4060 Ti",), **_R),
    GPU("RTX 4070 Ti Super", "NVIDIA", 16_376 * MIB, 0.672e12, _peaks(44.1, 44.1, 88.2, fp8=176.4, int8=352.8), 285,
        _ADA_WP + " (derived: 66 SMs x 2.61 GHz at the 4090's per-SM rates); nvidia-smi 16,376 MiB", **_R),
    GPU("RTX 4080", "NVIDIA", 16_376 * MIB, 0.7168e12, _peaks(48.7, 48.7, 97.5, fp8=194.9, int8=389.9), 320,
        _ADA_WP + " (RTX 4080 16 GB column); nvidia-smi 16,376 MiB", **_R),
    GPU("RTX 4090", "NVIDIA", 24_564 * MIB, 1.008e12, _peaks(82.6, 82.6, 165.2, fp8=330.3, int8=660.6), 450,
        _ADA_WP + " (fp32 accumulate)", **_R),
    GPU("RTX 5080", "NVIDIA", 16_303 * MIB, 0.96e12, _peaks(56.3, 56.3, 112.6, fp8=225.1, int8=450.2, fp4=900.4), 360,
        _BW_WP + " (derived: 84 SMs x 2.617 GHz at the 5090's per-SM rates; 1,801 sparse FP4 AI TOPS); "
        "nvidia-smi 16,303 MiB", **_R),
    GPU("RTX 5090", "NVIDIA", 32_607 * MIB, 1.792e12, _peaks(104.8, 104.8, 209.5, fp8=419, int8=838, fp4=1676), 575,
        _BW_WP, **_R),
    # ---- AMD, Intel -------------------------------------------------------------------------------------
    GPU("MI250X GCD", "AMD", 64 * GIB, 1.6384e12, {"fp32": 23.95e12, "bf16": 191.5e12, "fp16": 191.5e12,
                                                  "int8": 191.5e12}, 280,
        _AMD + "amd-instinct-mi250x-data-sheet.pdf (one of the card's two GCDs, which ROCm and PyTorch see as two "
        "devices: half of 128 GB, 3.2768 TB/s, 383 TFLOPS fp16, 560 W; no tf32)", aliases=("MI250X",)),
    GPU("MI300X", "AMD", 196_592 * MIB, 5.3e12, _peaks(163.4, 653.7, 1307.4, fp8=2614.9, int8=2614.9), 750,
        _AMD + "amd-instinct-mi300x-data-sheet.pdf", **_R),
    GPU("MI325X", "AMD", 256 * GIB, 6.0e12, _peaks(163.4, 653.7, 1307.4, fp8=2614.9, int8=2614.9), 1000,
        _AMD + "amd-instinct-mi325x-datasheet.pdf"),
    GPU("MI355X", "AMD", 288 * GIB, 8.0e12, {"fp32": 157.3e12, "bf16": 2516.6e12, "fp16": 2516.6e12,
                                            "fp8": 5033.2e12, "int8": 5033.2e12, "fp4": 10066.3e12}, 1400,
        _AMD + "amd-instinct-mi355x-gpu-datasheet.pdf (dense; CDNA 4 has no tf32)"),
    GPU("Gaudi 3", "Intel", 128 * GIB, 3.67e12, {"bf16": 1835e12, "fp16": 1835e12, "fp8": 1835e12}, 900,
        "Intel Gaudi 3 AI accelerator white paper and Hot Chips 2024 (R. Kaplan): 1,835 TFLOPS bf16/fp8 matrix, "
        "128 GB HBM2e at 3.67 TB/s, 900 W air-cooled OAM; fp32/tf32 matrix rates not published",
        aliases=("Gaudi3", "HL-325L")),
    # ---- Apple (unified memory) -------------------------------------------------------------------------
    GPU("Apple M1 Max 64GB", "Apple", 64 * GIB, 0.4e12, {"fp32": 10.4e12, "fp16": 10.4e12}, 90,
        "https://www.apple.com/newsroom/2021/10/introducing-m1-pro-and-m1-max-the-most-powerful-chips-apple-has-"
        "ever-built/ (32-core GPU, 10.4 TFLOPS); " + _APPLE + "no bf16 before M2",
        unified_memory=True, usable_fraction=0.75, aliases=("M1 Max",)),
    GPU("Apple M1 Ultra 128GB", "Apple", 128 * GIB, 0.8e12, {"fp32": 21e12, "fp16": 21e12}, 215,
        "https://www.apple.com/newsroom/2022/03/apple-unveils-m1-ultra-the-worlds-most-powerful-chip-for-a-personal-"
        "computer/ (64-core GPU, 21 TFLOPS; Mac Studio maximum 215 W); " + _APPLE + "no bf16 before M2",
        unified_memory=True, usable_fraction=0.75, aliases=("M1 Ultra",)),
    GPU("Apple M2 Ultra 192GB", "Apple", 192 * GIB, 0.8e12, {"fp32": 27.2e12, "fp16": 27.2e12, "bf16": 27.2e12},
        295, "https://www.apple.com/newsroom/2023/06/apple-introduces-m2-ultra/ (76-core GPU)",
        unified_memory=True, usable_fraction=0.75, aliases=("M2 Ultra",)),
    GPU("Apple M3 Max 128GB", "Apple", 128 * GIB, 0.4e12, {"fp32": 16.4e12, "fp16": 16.4e12, "bf16": 16.4e12},
        90, "https://www.apple.com/macbook-pro/specs/ (M3 Max, 40-core GPU)",
        unified_memory=True, usable_fraction=0.75, aliases=("M3 Max",)),
    GPU("Apple M3 Ultra 512GB", "Apple", 512 * GIB, 0.819e12, {"fp32": 32.8e12, "fp16": 32.8e12, "bf16": 32.8e12},
        270, "https://www.apple.com/mac-studio/specs/ (M3 Ultra, 80-core GPU, 819 GB/s, 512 GB; peak = 2 x the "
        "M3 Max's 40-core figure, Apple publishes no TFLOPS; Mac Studio maximum 270 W)",
        unified_memory=True, usable_fraction=0.75, aliases=("M3 Ultra",)),
    GPU("Apple M4 Max 128GB", "Apple", 128 * GIB, 0.546e12, {"fp32": 18.4e12, "fp16": 18.4e12, "bf16": 18.4e12},
        90, "https://www.apple.com/macbook-pro/specs/ (M4 Max, 40-core GPU)",
        unified_memory=True, usable_fraction=0.75, aliases=("M4 Max",)),
)

GPUS: dict[str, GPU] = {g.name: g for g in _GPUS}


def gpu_names() -> list[str]:
    return list(GPUS)


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_BY_NORM: dict[str, GPU] = {_norm(a): g for g in _GPUS for a in (g.name, *g.aliases)}


def get_gpu(name: str) -> GPU:
    """Catalog lookup by name or alias (case, spaces and dashes ignored); a ``ValueError`` lists the known
    names, first those that share a word with ``name`` (so "RTX 409" suggests the RTX 4090)."""
    if name in GPUS:
        return GPUS[name]
    if isinstance(name, str) and _norm(name) in _BY_NORM:
        return _BY_NORM[_norm(name)]
    near = search_gpus(name) if isinstance(name, str) else []
    hint = f"did you mean {', '.join(g.name for g in near[:5])}? " if near else ""
    raise ValueError(f"unknown GPU {name!r:.80}; {hint}known GPUs: {', '.join(GPUS)}")


# ---- matching names to catalog rows --------------------------------------------------------------------
# A name is split into lower-case words of letters and digits ("NVIDIA A100-SXM4-80GB" -> a100 sxm4 80gb).
# Words are compared whole: "t4" is not a word of "RTX 4090" and "h20" is not "h200", so a short name never
# matches a longer one by accident. Vendor words carry no information and are dropped.
_NOISE = {"nvidia", "geforce", "tesla", "amd", "instinct", "radeon", "intel", "habana", "apple", "gpu",
          "graphics", "device", "generation", "edition", "workstation", "server", "hbm3", "hbm3e", "oam", "ac",
          "the", "card", "120gb", "480gb", "624gb"}  # GH200 "120GB"/"480GB" name the superchip's CPU+GPU total
#: Words that name a different product when present: a device name with one of them matches only a
#: catalog row whose own words include it ("RTX 4090 D", "RTX 3060 Ti", "H100 PCIe", "RTX 4080 SUPER").
_QUALIFIERS = {"laptop", "mobile", "maxq", "super", "ti", "d", "pcie", "nvl", "max", "ultra", "pro", "ada",
               "s", "x", "nvl72", "blackwell", "vf"}
_SIZE = re.compile(r"(\d+)gb?")


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("max-q", "maxq"))
    return [w for w in words if w not in _NOISE]


def _patterns(g: GPU) -> list[tuple[str, ...]]:
    return [tuple(_words(n)) for n in (g.name, *g.aliases) if _words(n)]


def _equivalent(word: str) -> set[str]:
    """Spellings one catalog word stands for (sxm -> sxm4, 144gb -> 144g)."""
    if word == "sxm":
        return {"sxm", "sxm2", "sxm4", "sxm5", "sxm6"}
    size = _SIZE.fullmatch(word)
    return {word, f"{size.group(1)}g"} if size else {word}


def _score(g: GPU, pattern: tuple[str, ...], device: list[str]) -> int:
    """How many words of a device name a catalog pattern explains; 0 when it does not match: every pattern
    word must be in the device name, no qualifier of the device may be left unexplained, and a memory size
    the device prints ("16GB") must be within 15% of the row's memory (in GB or GiB)."""
    matched: set[str] = set()
    for w in pattern:
        hits = _equivalent(w) & set(device)
        if not hits:
            return 0
        matched |= hits
    for w in device:
        if w in matched:
            continue
        if w in _QUALIFIERS:
            return 0
        size = _SIZE.fullmatch(w)
        if size:
            n = int(size.group(1))
            if min(abs(n * 1e9 - g.memory_bytes), abs(n * GIB - g.memory_bytes)) > 0.15 * g.memory_bytes:
                return 0
    return len(matched)


def _best(device: list[str]) -> GPU | None:
    best, best_score = None, 0
    for g in _GPUS:
        score = max((_score(g, p, device) for p in _patterns(g)), default=0)
        if score > best_score:
            best, best_score = g, score
    return best


def match_device_name(device_name: str, memory_bytes: int | None = None) -> GPU | None:
    """Best catalog match for a name such as torch's ``"NVIDIA H100 80GB HBM3"``, or ``None``.

    Names are compared word by word (see ``_QUALIFIERS``): "NVIDIA L40" is the L40, not the L4; "RTX 4090
    Laptop GPU" and "RTX 3060 Ti" match nothing rather than a different card. With ``memory_bytes`` (what the
    device reports) a catalog row more than 10% away is refused: an 8 GB "RTX 4060 Ti" is not the 16 GB one.
    """
    if not isinstance(device_name, str):
        return None
    words = _words(device_name[:200])
    if not words:
        return None
    g = _best(words)
    if g is not None and memory_bytes and abs(memory_bytes - g.memory_bytes) > 0.1 * g.memory_bytes:
        return None
    return g


def search_gpus(query: str) -> list[GPU]:
    """Catalog rows whose name or alias has every word of ``query`` as a whole word or a word's start
    ("rtx 40" -> the RTX 40-series; "T4" -> the T4 only, never the RTX 4090), in catalog order."""
    words = _words(query[:200]) if isinstance(query, str) else []
    if not words:
        return []
    out = []
    for g in _GPUS:
        names = [[w for w in re.findall(r"[a-z0-9]+", n.lower())] for n in (g.name, *g.aliases)]
        if any(all(any(nw.startswith(q) for nw in nwords) for q in words) for nwords in names):
            out.append(g)
    return out


# ---- a GPU the user describes --------------------------------------------------------------------------
#: Ranges a custom GPU may take (bytes, bytes/s, FLOP/s, W): a phone NPU to a rack, nothing more.
CUSTOM_LIMITS = {"memory_bytes": (10**8, 10**14), "bandwidth_bytes_per_s": (1e9, 1e14),
                 "peak_flops_per_s": (1e10, 1e18), "board_power_w": (0.0, 1e5)}


def custom_gpu(memory_bytes: float, bandwidth_bytes_per_s: float | None = None,
               peak_flops_per_s: float | None = None, board_power_w: float = 0.0,
               name: str | None = None) -> GPU:
    """A GPU from the user's own figures: memory (bytes), bandwidth (bytes/s), dense 16-bit peak (FLOP/s,
    used for bf16 and fp16; other dtypes count as unsupported) and board power (W, 0 = unknown).

    Bandwidth and peak may be left out (``None``): a calculator that needs them refuses with a message.
    A ``ValueError`` names the field and its range.
    """
    def check(field_name: str, value, optional: bool):
        if value is None and optional:
            return None
        lo, hi = CUSTOM_LIMITS[field_name]
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not lo <= value <= hi:
            raise ValueError(f"custom GPU {field_name} must be a number in [{lo:g}, {hi:g}], got {value!r:.40}")
        return value

    mem = int(check("memory_bytes", memory_bytes, False))
    bw = check("bandwidth_bytes_per_s", bandwidth_bytes_per_s, True)
    peak = check("peak_flops_per_s", peak_flops_per_s, True)
    power = check("board_power_w", board_power_w, False)
    peaks = {"bf16": float(peak), "fp16": float(peak)} if peak is not None else {}
    if name is None:
        parts = [f"{mem / 1e9:,.4g} GB"]
        if bw is not None:
            parts.append(f"{bw / 1e9:,.4g} GB/s")
        if peak is not None:
            parts.append(f"{peak / 1e12:,.4g} TFLOPS")
        name = f"Custom GPU ({', '.join(parts)})"
    return GPU(name, "custom", mem, float(bw) if bw is not None else 0.0, peaks, float(power),
               "figures typed in by the user", custom=True)


# ----- measured maximum achievable matmul rate (the planner's and the serving model's ceiling) ------------
_MAMF_SRC = ("Bekman, 'Machine Learning Engineering', compute/accelerator/README.md, 'Maximum Achievable Matmul FLOPS "
             "comparison table' (mamf-finder.py, mean of 100 iterations at the best shape found; "
             "https://github.com/stas00/ml-engineering, read at commit 744d01e)")
#: Maximum achievable matmul FLOP/s measured by mamf-finder (``_MAMF_SRC``), keyed by catalog name, per
#: precision. The datasheet peak is not what a GEMM reaches, and the share differs by GPU (A100 SXM 86.9 %, H100 SXM
#: 80.3 %, MI300X 51.4 %: clocks under load, power limits, software), so the planner's fitted curve
#: (``calc.plan.E_MAX``), which only ever saw A100s, is a share of this rate, not of the peak. Measured, not fitted to any run the tests assert. The SXM A100 40GB has
#: the 80GB's chip and clocks; H200 is "the same" as H100 for bf16 (the table's note) and has its own fp8 row.
MAMF_FLOPS_PER_S: dict[str, dict[str, float]] = {
    "A100 SXM 80GB": {"bf16": 271.2e12},
    "A100 SXM 40GB": {"bf16": 271.2e12},
    "A100 PCIe 80GB": {"bf16": 252.9e12},
    "A100 PCIe 40GB": {"bf16": 252.9e12},
    "H100 SXM": {"bf16": 794.5e12, "fp8": 1402.6e12},
    "H200": {"bf16": 794.5e12, "fp8": 1453.4e12},
    "GH200 144GB": {"bf16": 828.6e12, "fp8": 1535.0e12},
    "B200": {"bf16": 1745.0e12, "fp8": 3432.5e12},
    "B300": {"bf16": 1769.0e12, "fp8": 3353.3e12},
    "GB200": {"bf16": 1822.0e12, "fp8": 3615.6e12},
    "MI300X": {"bf16": 668.4e12},
    "MI325X": {"bf16": 784.9e12},
    "MI355X": {"bf16": 1565.0e12},
    "Gaudi 3": {"bf16": 1243.0e12, "fp8": 1289.5e12},
}
#: A GPU without a measurement is assumed to reach the share the A100 SXM reaches (the GPU calc.plan's curve was fitted on,
#: so such a GPU is predicted as before this table existed).
DEFAULT_CEILING = 271.2 / 312


def matmul_ceiling(gpu: GPU, precision: str = "bf16") -> float:
    """MAMF / dense peak for ``gpu`` at ``precision`` (``MAMF_FLOPS_PER_S``; fp8 without its own row takes the
    bf16 share; a GPU without a row ``DEFAULT_CEILING``), at most 1.

    >>> round(matmul_ceiling(get_gpu("A100 SXM 80GB")), 3), round(matmul_ceiling(get_gpu("H100 SXM")), 3)
    (0.869, 0.803)
    """
    row = MAMF_FLOPS_PER_S.get(gpu.name, {})
    for dt in (precision, "bf16"):
        peak = gpu.peak(dt)
        if dt in row and peak:
            return min(1.0, row[dt] / peak)
    return DEFAULT_CEILING
