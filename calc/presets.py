"""Popular open models as the fields of their Hugging Face ``config.json``, each with its source.

Each preset is the subset of config fields that ``ModelSpec.from_hf_config`` reads, copied from the
model's ``config.json`` at the URL in ``source``; ``published_total`` is the parameter count the
model card or the safetensors index reports (``tests/test_models.py`` holds both the formula and a
``transformers`` meta-device build to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from calc.models import ModelSpec

HF = "https://huggingface.co/"


@dataclass(frozen=True)
class Preset:
    name: str
    config: dict
    source: str
    published_total: int


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

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


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
    p = PRESETS[name]
    return ModelSpec.from_hf_config(p.config, name=p.name, source=p.source)
