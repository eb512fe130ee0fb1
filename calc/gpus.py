"""Accelerator catalog: memory as the device reports it, bandwidth, dense peak per dtype, board power.

Peaks are *dense* (no 2:4 sparsity) tensor-core TFLOPS from the vendor datasheets in ``source``;
GeForce figures are with fp32 accumulation (what PyTorch uses). ``memory_bytes`` is what
``nvidia-smi`` (``cudaMemGetInfo`` total) reports, in MiB x 2**20: an "80GB" A100 shows 81,920 MiB,
an H100 80GB 81,559 MiB (observed lists: modal-labs/modal-client PR 2797; NVIDIA/nccl issue 1264),
an H200 143,771 MiB. Apple M-series share unified memory with the CPU: ``memory_bytes`` is the
installed RAM and ``usable_fraction`` the share Metal lets one process wire by default
(``recommendedMaxWorkingSetSize``, about 75% on 64 GB+ machines).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 2**20
GIB = 2**30


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

    def peak(self, dtype: str) -> float | None:
        """Dense peak FLOP/s for ``dtype`` (fp16 and bf16 share a figure); ``None`` if unsupported."""
        key = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}.get(dtype, dtype)
        return self.peak_flops_per_s.get(key)

    @property
    def usable_memory_bytes(self) -> int:
        return int(self.memory_bytes * self.usable_fraction)


def _peaks(fp32=None, tf32=None, bf16=None, fp16=None, fp8=None, int8=None) -> dict[str, float]:
    """TFLOPS (TOPS for int8) -> FLOP/s, leaving out what the device does not support."""
    raw = {"fp32": fp32, "tf32": tf32, "bf16": bf16, "fp16": fp16 if fp16 is not None else bf16,
           "fp8": fp8, "int8": int8}
    return {k: v * 1e12 for k, v in raw.items() if v is not None}


_NV = "https://www.nvidia.com/"
_GPUS: tuple[GPU, ...] = (
    GPU("A100 SXM 40GB", "NVIDIA", 40_960 * MIB, 1.555e12, _peaks(19.5, 156, 312, int8=624), 400,
        _NV + "content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    GPU("A100 SXM 80GB", "NVIDIA", 81_920 * MIB, 2.039e12, _peaks(19.5, 156, 312, int8=624), 400,
        _NV + "content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    GPU("A100 PCIe 80GB", "NVIDIA", 81_920 * MIB, 1.935e12, _peaks(19.5, 156, 312, int8=624), 300,
        _NV + "content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    GPU("H100 SXM", "NVIDIA", 81_559 * MIB, 3.35e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 700,
        _NV + "en-us/data-center/h100/ (H100 SXM column, dense = half the sparse figure)"),
    GPU("H100 PCIe", "NVIDIA", 81_559 * MIB, 2.0e12, _peaks(51, 378, 756, fp8=1513, int8=1513), 350,
        _NV + "en-us/data-center/h100/ (H100 PCIe column)"),
    GPU("H200", "NVIDIA", 143_771 * MIB, 4.8e12, _peaks(67, 494.5, 989, fp8=1979, int8=1979), 700,
        _NV + "en-us/data-center/h200/ (H200 SXM column)"),
    GPU("B200", "NVIDIA", 183_359 * MIB, 8.0e12, _peaks(80, 1125, 2250, fp8=4500, int8=4500), 1000,
        _NV + "en-us/data-center/dgx-b200/ and HGX B200 datasheet (per-GPU dense)"),
    GPU("L40S", "NVIDIA", 46_068 * MIB, 0.864e12, _peaks(91.6, 183, 362.05, fp8=733, int8=733), 350,
        _NV + "en-us/data-center/l40s/"),
    GPU("L4", "NVIDIA", 23_034 * MIB, 0.3e12, _peaks(30.3, 60, 121, fp8=242.5, int8=242.5), 72,
        _NV + "en-us/data-center/l4/"),
    GPU("A10", "NVIDIA", 23_028 * MIB, 0.6e12, _peaks(31.2, 62.5, 125, int8=250), 150,
        _NV + "en-us/data-center/products/a10-gpu/"),
    GPU("V100 SXM2 32GB", "NVIDIA", 32_768 * MIB, 0.9e12, {"fp32": 15.7e12, "fp16": 125e12}, 300,
        _NV + "en-us/data-center/v100/ (no bf16, no tf32: Volta)"),
    GPU("RTX 3090", "NVIDIA", 24_576 * MIB, 0.936e12, _peaks(35.6, 35.6, 71), 350,
        _NV + "content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf (fp32 accumulate)"),
    GPU("RTX 4090", "NVIDIA", 24_564 * MIB, 1.008e12, _peaks(82.6, 82.6, 165.2, fp8=330.3, int8=660.6), 450,
        "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf (fp32 accumulate)"),
    GPU("RTX 5090", "NVIDIA", 32_607 * MIB, 1.792e12, _peaks(104.8, 104.8, 209.5, fp8=419, int8=838), 575,
        "https://images.nvidia.com/aem-dam/Solutions/geforce/blackwell/nvidia-rtx-blackwell-gpu-architecture.pdf"),
    GPU("MI300X", "AMD", 196_592 * MIB, 5.3e12, _peaks(163.4, 653.7, 1307.4, fp8=2614.9, int8=2614.9), 750,
        "https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/amd-instinct-mi300x-data-sheet.pdf"),
    GPU("Apple M2 Ultra 192GB", "Apple", 192 * GIB, 0.8e12, {"fp32": 27.2e12, "fp16": 27.2e12, "bf16": 27.2e12},
        295, "https://www.apple.com/newsroom/2023/06/apple-introduces-m2-ultra/ (76-core GPU)",
        unified_memory=True, usable_fraction=0.75),
    GPU("Apple M3 Max 128GB", "Apple", 128 * GIB, 0.4e12, {"fp32": 16.4e12, "fp16": 16.4e12, "bf16": 16.4e12},
        90, "https://www.apple.com/macbook-pro/specs/ (M3 Max, 40-core GPU)",
        unified_memory=True, usable_fraction=0.75),
    GPU("Apple M4 Max 128GB", "Apple", 128 * GIB, 0.546e12, {"fp32": 18.4e12, "fp16": 18.4e12, "bf16": 18.4e12},
        90, "https://www.apple.com/macbook-pro/specs/ (M4 Max, 40-core GPU)",
        unified_memory=True, usable_fraction=0.75),
)

GPUS: dict[str, GPU] = {g.name: g for g in _GPUS}


def gpu_names() -> list[str]:
    return list(GPUS)


def get_gpu(name: str) -> GPU:
    """Catalog lookup (case-insensitive); a ``ValueError`` lists the known names."""
    if name in GPUS:
        return GPUS[name]
    lowered = {_norm(k): v for k, v in GPUS.items()}
    if _norm(name) in lowered:
        return lowered[_norm(name)]
    raise ValueError(f"unknown GPU {name!r:.80}; known GPUs: {', '.join(GPUS)}")


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def match_device_name(device_name: str) -> GPU | None:
    """Best catalog match for a name such as torch's ``"NVIDIA H100 80GB HBM3"``, or ``None``."""
    n = device_name.lower()
    rules: tuple[tuple[str, str | None], ...] = (
        ("h200", "H200"), ("b200", "B200"), ("h100 pcie", "H100 PCIe"), ("h100", "H100 SXM"),
        ("a100-sxm4-40", "A100 SXM 40GB"), ("a100 40", "A100 SXM 40GB"), ("a100-pcie-80", "A100 PCIe 80GB"),
        ("a100", "A100 SXM 80GB"), ("l40s", "L40S"), ("l40", None), ("l4", "L4"), ("a10", "A10"), ("v100", "V100 SXM2 32GB"),
        ("3090", "RTX 3090"), ("4090", "RTX 4090"), ("5090", "RTX 5090"), ("mi300x", "MI300X"),
    )
    for needle, name in rules:
        if needle in n:
            return GPUS[name] if name else None  # None: a known name that the catalog lacks (L40)
    return None
