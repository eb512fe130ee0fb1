"""Popular open models as the fields of their Hugging Face ``config.json``, each with its source.

Each preset is the subset of config fields that ``ModelSpec.from_hf_config`` reads, copied from the
model's ``config.json`` at the URL in ``source``; ``published_total`` is the parameter count the
model card or the safetensors index reports (``tests/test_models.py`` holds both the formula and a
``transformers`` meta-device build to it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from calc.models import ModelSpec

HF = "https://huggingface.co/"


@dataclass(frozen=True)
class Preset:
    name: str
    config: dict
    source: str
    published_total: int
    total_includes_mtp: bool = False  # the published total counts the checkpoint's MTP layers (models.mtp_params)


def _llama(h, ffn, layers, heads, kv, vocab, max_pos, tied=False, head_dim=None, arch="LlamaForCausalLM",
           model_type="llama", **extra):
    cfg = {
        "architectures": [arch],
        "model_type": model_type,
        "hidden_size": h,
        "intermediate_size": ffn,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
    }
    if head_dim is not None:
        cfg["head_dim"] = head_dim
    cfg.update(extra)
    return cfg


_PRESETS: tuple[Preset, ...] = (
    Preset("Llama-2-7B", _llama(4096, 11008, 32, 32, 32, 32000, 4096),
           HF + "meta-llama/Llama-2-7b-hf/blob/main/config.json", 6_738_415_616),
    Preset("Llama-2-13B", _llama(5120, 13824, 40, 40, 40, 32000, 4096),
           HF + "meta-llama/Llama-2-13b-hf/blob/main/config.json", 13_015_864_320),
    Preset("Llama-2-70B", _llama(8192, 28672, 80, 64, 8, 32000, 4096),
           HF + "meta-llama/Llama-2-70b-hf/blob/main/config.json", 68_976_648_192),
    Preset("Meta-Llama-3-8B", _llama(4096, 14336, 32, 32, 8, 128256, 8192),
           HF + "meta-llama/Meta-Llama-3-8B/blob/main/config.json", 8_030_261_248),
    Preset("Meta-Llama-3-70B", _llama(8192, 28672, 80, 64, 8, 128256, 8192),
           HF + "meta-llama/Meta-Llama-3-70B/blob/main/config.json", 70_553_706_496),
    Preset("Llama-3.1-8B", _llama(4096, 14336, 32, 32, 8, 128256, 131072),
           HF + "meta-llama/Llama-3.1-8B/blob/main/config.json", 8_030_261_248),
    Preset("Llama-3.1-70B", _llama(8192, 28672, 80, 64, 8, 128256, 131072),
           HF + "meta-llama/Llama-3.1-70B/blob/main/config.json", 70_553_706_496),
    Preset("Llama-3.1-405B", _llama(16384, 53248, 126, 128, 8, 128256, 131072),
           HF + "meta-llama/Llama-3.1-405B/blob/main/config.json", 405_853_388_800),
    Preset("Llama-3.2-1B", _llama(2048, 8192, 16, 32, 8, 128256, 131072, tied=True, head_dim=64),
           HF + "meta-llama/Llama-3.2-1B/blob/main/config.json", 1_235_814_400),
    Preset("Llama-3.2-3B", _llama(3072, 8192, 28, 24, 8, 128256, 131072, tied=True, head_dim=128),
           HF + "meta-llama/Llama-3.2-3B/blob/main/config.json", 3_212_749_824),
    Preset("Llama-3.3-70B-Instruct", _llama(8192, 28672, 80, 64, 8, 128256, 131072),
           HF + "meta-llama/Llama-3.3-70B-Instruct/blob/main/config.json", 70_553_706_496),
    Preset("Mistral-7B-v0.1", _llama(4096, 14336, 32, 32, 8, 32000, 32768, arch="MistralForCausalLM",
                                     model_type="mistral", sliding_window=4096),
           HF + "mistralai/Mistral-7B-v0.1/blob/main/config.json", 7_241_732_096),
    Preset("Mistral-Nemo-Base-2407", _llama(5120, 14336, 40, 32, 8, 131072, 1024000, head_dim=128,
                                            arch="MistralForCausalLM", model_type="mistral", sliding_window=None),
           HF + "mistralai/Mistral-Nemo-Base-2407/blob/main/config.json", 12_247_782_400),
    Preset("Mixtral-8x7B-v0.1", _llama(4096, 14336, 32, 32, 8, 32000, 32768, arch="MixtralForCausalLM",
                                       model_type="mixtral", num_local_experts=8, num_experts_per_tok=2),
           HF + "mistralai/Mixtral-8x7B-v0.1/blob/main/config.json", 46_702_792_704),
    Preset("Mixtral-8x22B-v0.1", _llama(6144, 16384, 56, 48, 8, 32000, 65536, arch="MixtralForCausalLM",
                                        model_type="mixtral", num_local_experts=8, num_experts_per_tok=2),
           HF + "mistralai/Mixtral-8x22B-v0.1/blob/main/config.json", 140_620_634_112),
    Preset("Qwen2.5-0.5B", _llama(896, 4864, 24, 14, 2, 151936, 32768, tied=True, arch="Qwen2ForCausalLM",
                                  model_type="qwen2"),
           HF + "Qwen/Qwen2.5-0.5B/blob/main/config.json", 494_032_768),
    Preset("Qwen2.5-7B", _llama(3584, 18944, 28, 28, 4, 152064, 131072, arch="Qwen2ForCausalLM",
                                model_type="qwen2"),
           HF + "Qwen/Qwen2.5-7B/blob/main/config.json", 7_615_616_512),
    Preset("Qwen2.5-72B", _llama(8192, 29568, 80, 64, 8, 152064, 131072, arch="Qwen2ForCausalLM",
                                 model_type="qwen2"),
           HF + "Qwen/Qwen2.5-72B/blob/main/config.json", 72_706_203_648),
    Preset("Qwen3-8B", _llama(4096, 12288, 36, 32, 8, 151936, 40960, head_dim=128, arch="Qwen3ForCausalLM",
                              model_type="qwen3"),
           HF + "Qwen/Qwen3-8B/blob/main/config.json", 8_190_735_360),
    Preset("Qwen3-30B-A3B", _llama(2048, 6144, 48, 32, 4, 151936, 40960, head_dim=128,
                                   arch="Qwen3MoeForCausalLM", model_type="qwen3_moe", num_experts=128,
                                   num_experts_per_tok=8, moe_intermediate_size=768, decoder_sparse_step=1,
                                   mlp_only_layers=[]),
           HF + "Qwen/Qwen3-30B-A3B/blob/main/config.json", 30_532_122_624),
    Preset("Qwen3-235B-A22B", _llama(4096, 12288, 94, 64, 4, 151936, 40960, head_dim=128,
                                     arch="Qwen3MoeForCausalLM", model_type="qwen3_moe", num_experts=128,
                                     num_experts_per_tok=8, moe_intermediate_size=1536, decoder_sparse_step=1,
                                     mlp_only_layers=[]),
           HF + "Qwen/Qwen3-235B-A22B/blob/main/config.json", 235_093_634_560),
    Preset("Gemma-2-2B", _llama(2304, 9216, 26, 8, 4, 256000, 8192, tied=True, head_dim=256,
                                arch="Gemma2ForCausalLM", model_type="gemma2", hidden_act="gelu_pytorch_tanh",
                                hidden_activation="gelu_pytorch_tanh", sliding_window=4096),
           HF + "google/gemma-2-2b/blob/main/config.json", 2_614_341_888),
    Preset("Gemma-2-9B", _llama(3584, 14336, 42, 16, 8, 256000, 8192, tied=True, head_dim=256,
                                arch="Gemma2ForCausalLM", model_type="gemma2", hidden_act="gelu_pytorch_tanh",
                                hidden_activation="gelu_pytorch_tanh", sliding_window=4096),
           HF + "google/gemma-2-9b/blob/main/config.json", 9_241_705_984),
    Preset("Gemma-2-27B", _llama(4608, 36864, 46, 32, 16, 256000, 8192, tied=True, head_dim=128,
                                 arch="Gemma2ForCausalLM", model_type="gemma2", hidden_act="gelu_pytorch_tanh",
                                 hidden_activation="gelu_pytorch_tanh", sliding_window=4096),
           HF + "google/gemma-2-27b/blob/main/config.json", 27_227_128_320),
    Preset("Phi-3-mini-4k-instruct", _llama(3072, 8192, 32, 32, 32, 32064, 4096, arch="Phi3ForCausalLM",
                                            model_type="phi3", sliding_window=2047),
           HF + "microsoft/Phi-3-mini-4k-instruct/blob/main/config.json", 3_821_079_552),
    Preset("Phi-4", _llama(5120, 17920, 40, 40, 10, 100352, 16384, arch="Phi3ForCausalLM", model_type="phi3"),
           HF + "microsoft/phi-4/blob/main/config.json", 14_659_507_200),
    Preset("GPT-2", {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_layer": 12,
                     "n_head": 12, "n_positions": 1024, "vocab_size": 50257, "activation_function": "gelu_new"},
           HF + "openai-community/gpt2/blob/main/config.json", 124_439_808),
    Preset("GPT-2-XL", {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 1600,
                        "n_layer": 48, "n_head": 25, "n_positions": 1024, "vocab_size": 50257,
                        "activation_function": "gelu_new"},
           HF + "openai-community/gpt2-xl/blob/main/config.json", 1_557_611_200),
    Preset("DeepSeek-V3", {
        "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
        "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
        "num_attention_heads": 128, "num_key_value_heads": 128, "n_routed_experts": 256, "n_shared_experts": 1,
        "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536,
        "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "vocab_size": 129280, "max_position_embeddings": 163840, "tie_word_embeddings": False,
        "num_nextn_predict_layers": 1, "n_group": 8, "topk_group": 4, "hidden_act": "silu"},
           HF + "deepseek-ai/DeepSeek-V3/blob/main/config.json", 671_026_419_200),
)

def _gpt_oss(layers: int, experts: int) -> dict:
    """gpt-oss: alternating sliding (128) / full layers with sinks, MoE in every layer (config.json)."""
    return {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880,
            "intermediate_size": 2880, "num_hidden_layers": layers, "num_attention_heads": 64, "num_key_value_heads": 8,
            "head_dim": 64, "num_local_experts": experts, "num_experts_per_tok": 4, "experts_per_token": 4,
            "vocab_size": 201088, "max_position_embeddings": 131072, "sliding_window": 128, "attention_bias": True,
            "tie_word_embeddings": False, "hidden_act": "silu",
            "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]}


def _gemma3(text: dict) -> dict:
    """Gemma 3 4B-27B: the text decoder plus the SigLIP vision tower (400M) and its projector (config.json)."""
    return {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "mm_tokens_per_image": 256,
            "text_config": {"model_type": "gemma3_text", "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                            "sliding_window": 1024, **text},
            "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                              "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                              "patch_size": 14, "vision_use_head": False}}


def _llama4(experts: int, moe_step: int) -> dict:
    """Llama 4: chunked-attention layers with every 4th a global no-RoPE one, MoE every ``moe_step``-th layer
    with a shared expert, the vision tower and projector (config.json)."""
    return {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "tie_word_embeddings": False,
            "text_config": {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
                            "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
                            "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 202048,
                            "num_local_experts": experts, "num_experts_per_tok": 1,
                            "interleave_moe_layer_step": moe_step, "attention_chunk_size": 8192,
                            "max_position_embeddings": 10485760 if experts == 16 else 1048576,
                            "use_qk_norm": experts == 16, "hidden_act": "silu", "attention_bias": False},
            "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 1408, "image_size": 336,
                              "intermediate_size": 5632, "num_attention_heads": 16, "num_channels": 3,
                              "num_hidden_layers": 34, "patch_size": 14, "pixel_shuffle_ratio": 0.5,
                              "projector_input_dim": 4096, "projector_output_dim": 4096, "vision_output_dim": 4096,
                              "multi_modal_projector_bias": False}}


def _glm45(h: int, ffn: int, layers: int, moe_ffn: int, experts: int, dense: int, **extra) -> dict:
    """GLM-4.5 / -Air: 96 query heads of 128, 8 KV heads, one shared expert, biased q/k/v, one MTP layer."""
    return _llama(h, ffn, layers, 96, 8, 151552, 131072, head_dim=128, arch="Glm4MoeForCausalLM",
                  model_type="glm4_moe", moe_intermediate_size=moe_ffn, n_routed_experts=experts, n_shared_experts=1,
                  num_experts_per_tok=8, first_k_dense_replace=dense, attention_bias=True, partial_rotary_factor=0.5,
                  num_nextn_predict_layers=1, **extra)


_DEEPSEEK_V3 = _PRESETS[-1].config

# Models people size in 2025-2026 (issue 12 item 6). Totals: the safetensors parameter count the model page shows
# (the sum of the checkpoint's tensors); the preset tests check each against it and against transformers' meta build.
_PRESETS += (
    Preset("gpt-oss-20b", _gpt_oss(24, 32), HF + "openai/gpt-oss-20b/blob/main/config.json", 20_914_757_184),
    Preset("gpt-oss-120b", _gpt_oss(36, 128), HF + "openai/gpt-oss-120b/blob/main/config.json", 116_829_156_672),
    Preset("Qwen3-32B", _llama(5120, 25600, 64, 64, 8, 151936, 40960, head_dim=128, arch="Qwen3ForCausalLM",
                               model_type="qwen3"),
           HF + "Qwen/Qwen3-32B/blob/main/config.json", 32_762_123_264),
    Preset("Qwen3-Next-80B-A3B", {
        "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 2048,
        "intermediate_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2,
        "head_dim": 256, "vocab_size": 151936, "max_position_embeddings": 262144, "tie_word_embeddings": False,
        "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "full_attention_interval": 4, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
        "linear_value_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32, "hidden_act": "silu"},
           HF + "Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json", 79_674_391_296),
    Preset("Gemma-3-1B", _llama(1152, 6912, 26, 4, 1, 262144, 32768, tied=True, head_dim=256,
                                arch="Gemma3ForCausalLM", model_type="gemma3_text", hidden_act="gelu_pytorch_tanh",
                                hidden_activation="gelu_pytorch_tanh", sliding_window=512, sliding_window_pattern=6),
           HF + "google/gemma-3-1b-it/blob/main/config.json", 999_885_952),
    Preset("Gemma-3-4B", _gemma3({"hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34}),
           HF + "google/gemma-3-4b-it/blob/main/config.json", 4_300_079_472),
    Preset("Gemma-3-12B", _gemma3({"hidden_size": 3840, "intermediate_size": 15360, "num_hidden_layers": 48,
                                   "num_attention_heads": 16, "num_key_value_heads": 8}),
           HF + "google/gemma-3-12b-it/blob/main/config.json", 12_187_325_040),
    Preset("Gemma-3-27B", _gemma3({"hidden_size": 5376, "intermediate_size": 21504, "num_hidden_layers": 62,
                                   "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128,
                                   "query_pre_attn_scalar": 168}),
           HF + "google/gemma-3-27b-it/blob/main/config.json", 27_432_406_640),
    Preset("Llama-4-Scout-17B-16E", _llama4(16, 1), HF + "meta-llama/Llama-4-Scout-17B-16E/blob/main/config.json",
           108_641_793_536),
    Preset("Llama-4-Maverick-17B-128E", _llama4(128, 2),
           HF + "meta-llama/Llama-4-Maverick-17B-128E/blob/main/config.json", 401_583_781_376),
    Preset("GLM-4.5-Air", _glm45(4096, 10944, 46, 1408, 128, 1, use_qk_norm=False),
           HF + "zai-org/GLM-4.5-Air/blob/main/config.json", 110_468_824_832, total_includes_mtp=True),
    Preset("GLM-4.5", _glm45(5120, 12288, 92, 1536, 160, 3, use_qk_norm=True),
           HF + "zai-org/GLM-4.5/blob/main/config.json", 358_337_791_296, total_includes_mtp=True),
    Preset("Kimi-K2", {**_DEEPSEEK_V3, "num_attention_heads": 64, "num_key_value_heads": 64, "n_routed_experts": 384,
                       "first_k_dense_replace": 1, "vocab_size": 163840, "max_position_embeddings": 131072,
                       "num_nextn_predict_layers": 0, "n_group": 1, "topk_group": 1},
           HF + "moonshotai/Kimi-K2-Instruct/blob/main/config.json", 1_026_408_232_448),
    # same architecture and sizes as DeepSeek-V3 (their config.json files differ only in generation settings)
    Preset("DeepSeek-R1", _DEEPSEEK_V3, HF + "deepseek-ai/DeepSeek-R1/blob/main/config.json", 671_026_419_200),
    Preset("DeepSeek-V3.1", _DEEPSEEK_V3, HF + "deepseek-ai/DeepSeek-V3.1/blob/main/config.json", 671_026_419_200),
    Preset("OLMo-2-7B", _llama(4096, 11008, 32, 32, 32, 100352, 4096, arch="Olmo2ForCausalLM", model_type="olmo2"),
           HF + "allenai/OLMo-2-1124-7B/blob/main/config.json", 7_298_617_344),
    Preset("OLMo-2-32B", _llama(5120, 27648, 64, 40, 8, 100352, 4096, arch="Olmo2ForCausalLM", model_type="olmo2"),
           HF + "allenai/OLMo-2-0325-32B/blob/main/config.json", 32_234_279_936),
    Preset("Granite-3.3-8B", _llama(4096, 12800, 40, 32, 8, 49159, 131072, tied=True, arch="GraniteForCausalLM",
                                    model_type="granite"),
           HF + "ibm-granite/granite-3.3-8b-instruct/blob/main/config.json", 8_170_864_640),
    Preset("SmolLM3-3B", _llama(2048, 11008, 36, 16, 4, 128256, 65536, tied=True, arch="SmolLM3ForCausalLM",
                                model_type="smollm3"),
           HF + "HuggingFaceTB/SmolLM3-3B/blob/main/config.json", 3_075_098_624),
    # attention (8 x 128, 2 KV heads) and a Mamba-2 mixer (48 heads x 64, state 256, gated RMSNorm) in parallel in
    # every layer; untied head. Total: the safetensors header of revision 80ebc50d (411 tensors, 3,109,773,032 bytes
    # in BF16 = 1,554,863,488 x 2).
    Preset("Falcon-H1-1.5B-Instruct", {
        "architectures": ["FalconH1ForCausalLM"], "model_type": "falcon_h1", "hidden_size": 2048,
        "intermediate_size": 4608, "num_hidden_layers": 24, "num_attention_heads": 8, "num_key_value_heads": 2,
        "head_dim": 128, "vocab_size": 65537, "max_position_embeddings": 131072, "tie_word_embeddings": False,
        "mamba_d_ssm": 3072, "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_n_groups": 1, "mamba_d_state": 256,
        "mamba_d_conv": 4, "mamba_expand": 2, "mamba_chunk_size": 128, "mamba_conv_bias": True,
        "mamba_proj_bias": False, "mamba_rms_norm": True, "mamba_norm_before_gate": False, "projectors_bias": False,
        "attention_bias": False, "mlp_bias": False, "hidden_act": "silu"},
           HF + "tiiuae/Falcon-H1-1.5B-Instruct/blob/main/config.json", 1_554_863_488),
    # Mistral Small 3.2 (a minor update of 3.1, same shapes): the Mistral text decoder, the Pixtral vision tower and
    # its projector. Its config.json leaves tie_word_embeddings to Mistral3Config's default (true in transformers 5),
    # yet the checkpoint stores lm_head.weight apart from the embeddings (from_pretrained unties them: see
    # tests/data/multimodal/mistral_small_31.json), and its published total counts both (revision 95a6d26c:
    # 24,011,361,280 = the tied model's 23,340,272,640 + 131,072 x 5,120): the preset states the untied head.
    Preset("Mistral-Small-3.2-24B-Instruct-2506", {
        "architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "tie_word_embeddings": False,
        "multimodal_projector_bias": False, "projector_hidden_act": "gelu", "spatial_merge_size": 2,
        "vision_feature_layer": -1,
        "text_config": {"model_type": "mistral", "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
                        "intermediate_size": 32768, "max_position_embeddings": 131072, "num_attention_heads": 32,
                        "num_hidden_layers": 40, "num_key_value_heads": 8, "rope_theta": 1000000000.0,
                        "sliding_window": None, "vocab_size": 131072},
        "vision_config": {"model_type": "pixtral", "head_dim": 64, "hidden_act": "silu", "hidden_size": 1024,
                          "image_size": 1540, "intermediate_size": 4096, "num_attention_heads": 16, "num_channels": 3,
                          "num_hidden_layers": 24, "patch_size": 14, "rope_theta": 10000.0}},
           HF + "mistralai/Mistral-Small-3.2-24B-Instruct-2506/blob/main/config.json", 24_011_361_280),
    # Jamba: Mamba layers with attention every 8th (offset 4), 16-expert MoE every 2nd (offset 1). Jamba Mini 1.5 /
    # 1.6 and Jamba2-Mini keep this shape (52B total, 12B active; the Jamba2-Mini config.json mirrored at
    # huggingface.co/ssdataanalysis/AI21-Jamba2-Mini-mlx-fp16 has the same fields); Jamba-v0.1's config is the one
    # read here. Total: 51,570,323,328 (its safetensors count).
    Preset("Jamba-v0.1", {
        "architectures": ["JambaForCausalLM"], "model_type": "jamba", "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "num_experts": 16,
        "num_experts_per_tok": 2, "expert_layer_period": 2, "expert_layer_offset": 1, "attn_layer_period": 8,
        "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 256,
        "mamba_conv_bias": True, "mamba_proj_bias": False, "vocab_size": 65536, "tie_word_embeddings": False,
        "max_position_embeddings": 262144, "sliding_window": None, "hidden_act": "silu"},
           HF + "ai21labs/Jamba-v0.1/blob/main/config.json", 51_570_323_328),
    # EXAONE 4.0 32B: 3 sliding-window (4096) layers then a global no-RoPE one, q/k RMSNorms per head, norms after
    # attention and MLP (QK-Reorder-Norm); the config writes its pattern as "LLLG" beside layer_types. Total:
    # metadata.total_size / 2 of the safetensors index of revision a1d54d1c (all BF16), as a public EXAONE
    # architecture brief reconciles it to the parameter.
    Preset("EXAONE-4.0-32B", _llama(5120, 27392, 64, 40, 8, 102400, 131072, head_dim=128, arch="Exaone4ForCausalLM",
                                    model_type="exaone4", sliding_window=4096, sliding_window_pattern="LLLG",
                                    layer_types=["full_attention" if i % 4 == 3 else "sliding_attention"
                                                 for i in range(64)]),
           HF + "LGAI-EXAONE/EXAONE-4.0-32B/blob/a1d54d1c148c30881ed27e035b650da489b51b92/config.json",
           32_003_216_384),
    # Granite 3.1 1B-A400M: 32 experts, 8 per token, tied embeddings. Total: the safetensors header of revision
    # 0da7a48b (one file, all BF16: 2,669,256,704 bytes / 2), as a public GraniteMoE expert-offload report quotes it;
    # the GGUF conversions' header count is the same. Its config.json is mirrored in github.com/leok7v/nano-lamma.
    Preset("Granite-3.1-1B-A400M", _llama(1024, 512, 24, 16, 8, 49155, 131072, tied=True, arch="GraniteMoeForCausalLM",
                                          model_type="granitemoe", rms_norm_eps=1e-6, num_local_experts=32,
                                          num_experts_per_tok=8, embedding_multiplier=12.0,
                                          attention_multiplier=0.015625, residual_multiplier=0.22, logits_scaling=6.0),
           HF + "ibm-granite/granite-3.1-1b-a400m-instruct/blob/0da7a48b0276d500ce5922fd2b33944091fc6c09/config.json",
           1_334_628_352),
    # Hunyuan 4B: q/k RMSNorms per head, 4096-wide queries on a 3072 hidden, tied embeddings. Total: 4,221,757,440, the
    # model.safetensors.index.json total_size / 2 (BF16) as a public test of HunYuan head_dim handling quotes it; the
    # shapes are the Hub config's as a public HunYuanDenseV1 transformers audit tabulates them.
    Preset("Hunyuan-4B-Instruct", _llama(3072, 8192, 36, 32, 8, 120818, 262144, tied=True, head_dim=128,
                                         arch="HunYuanDenseV1ForCausalLM", model_type="hunyuan_v1_dense"),
           HF + "tencent/Hunyuan-4B-Instruct/blob/main/config.json", 4_221_757_440),
)

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def hf_id(name: str) -> str:
    """The Hugging Face repository id of a preset, read from its source URL ("meta-llama/Llama-3.1-8B")."""
    src = PRESETS[name].source
    return src.removeprefix(HF).split("/blob/")[0] if src.startswith(HF) else ""


def find_preset(text: str) -> str | None:
    """The preset a name or Hugging Face id names (case-insensitive; "meta-llama/Llama-3.1-8B" ->
    "Llama-3.1-8B"), else None."""
    t = text.strip().lower()
    for name in PRESETS:
        if t in (name.lower(), hf_id(name).lower()):
            return name
    return None


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> ModelSpec:
    """The ``ModelSpec`` of a preset; a ``ValueError`` lists the known names."""
    if name not in PRESETS:
        lowered = {k.lower(): k for k in PRESETS}
        if name.lower() in lowered:
            name = lowered[name.lower()]
        else:
            raise ValueError(f"unknown model {name!r:.80}; known models: {', '.join(PRESETS)}")
    return _preset_spec(name)


@functools.cache
def _preset_spec(name: str) -> ModelSpec:
    """A preset's spec, built once per process (80-180 us; every page asks for the sidebar model on every rerun).
    The same object is shared by every caller: it is frozen, and its ``hf_config`` is read only."""
    p = PRESETS[name]
    return ModelSpec.from_hf_config(p.config, name=p.name, source=p.source)
