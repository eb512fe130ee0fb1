"""The Methodology page's data: each formula the product uses, its source, and the tests that hold it.

``tests/test_methodology.py`` checks that every test named here exists, so the list cannot rot silently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    topic: str
    name: str
    formula: str  # Markdown / LaTeX
    source: str
    code: str  # where it lives
    tests: tuple[str, ...]  # "tests/test_file.py::test_name"


METHODS: tuple[Method, ...] = (
    Method("Models", "Parameter count",
           r"per layer: attention $h n_q d + 2 h n_{kv} d + n_q d h$ (+biases); MLP $3hf$ (gated) or $2hf$; "
           r"MoE $E(3hf_e + h)$ (+ shared); norms; plus embeddings $Vh$ and head $Vh$ unless tied",
           "the modules transformers builds (modeling_llama.py, modeling_mixtral.py, modeling_deepseek_v3.py, ...)",
           "calc/models.py: param_counts",
           ("tests/test_models.py::test_preset_total_matches_published_count",
            "tests/test_models.py::test_preset_total_matches_transformers_meta_build",
            "tests/test_models.py::test_config_variants_match_transformers",
            "tests/test_cli.py::test_params_config_file_matches_transformers")),
    Method("Models", "Active parameters (MoE)",
           r"total $-$ routed experts $+$ $k/E$ of them (embeddings and head included)",
           "Mixtral announcement (12.9B active), DeepSeek-V3 report (37B activated), Qwen3 model card",
           "calc/models.py: ParamCounts.active",
           ("tests/test_models.py::test_active_parameters_of_moe_models",)),
    Method("Reference", "Number formats",
           r"bits = sign + exponent + mantissa; eps $= 2^{-\text{mantissa}}$; range from finfo",
           "IEEE 754; bfloat16; Micikevicius et al. 2022 (FP8); numpy / ml_dtypes finfo", "calc/dtypes.py",
           ("tests/test_reference_data.py::test_float_layout_matches_finfo",
            "tests/test_reference_data.py::test_bf16_has_fp32_range_and_less_precision")),
    Method("Reference", "Units", r"GB $=10^9$ B, GiB $=2^{30}$ B; 1B params x 4 B = 4.00 GB = 3.73 GiB",
           "IEC 80000-13; scipy.constants giga / gibi", "calc/units.py",
           ("tests/test_reference_data.py::test_units_rule_of_thumb",)),
    Method("Memory", "KV cache",
           r"$\sum_\text{layers} 2 \cdot n_{kv} \cdot d \cdot \min(s, w) \cdot b \cdot \text{bytes}$; "
           r"MLA: $(r_{kv} + d_{rope}) \cdot s \cdot b \cdot \text{bytes}$ per layer, no factor 2",
           "Pope et al. 2022; DeepSeek-V2 paper sec. 2.1.2", "calc/kvcache.py: kv_cache_bytes", ()),
)
