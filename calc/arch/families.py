"""Every architecture family as a declarative ``Family`` entry (see ``calc/arch/build.py``).

Adding a family: copy the nearest entry, set its ``model_types``, ``architecture``, the defaults of its
``transformers`` config class (``python tools/arch_defaults.py <model_type>`` prints them), and the flags
that differ; run ``python tools/arch_shapes.py <model_type>`` to compare with the meta-device model; add
the type to the census expectations (``tests/test_census.py``). A hook is a last resort for what the
vocabulary of ``calc/arch/kinds.py`` cannot say with flags.
"""

from __future__ import annotations

from dataclasses import replace

from calc.arch.build import Build, Family, MoEFields, all_sliding_if_window, every_nth_full
from calc.arch.config import MAX_LAYERS


# ----- hooks: what a family does differently ----------------------------------------------------------
def _qwen_window(b: Build) -> None:
    """Qwen2/Qwen3: the window applies only with use_sliding_window, to layers >= max_window_layers
    (``configuration_qwen2.py``: sliding_window = None unless use_sliding_window)."""
    c = b.c
    use = c.bool("use_sliding_window")
    window = c.opt_int("sliding_window", hi=2**31) if use else None
    if c.get("layer_types", None) is None:
        first = c.int("max_window_layers", b.layers, lo=0, hi=MAX_LAYERS)
        b.types = ["sliding_attention" if window is not None and i >= first else "full_attention"
                   for i in range(b.layers)]
    b.mixers["sliding_attention"] = replace(b.attention, window=window) if window else b.attention


def _qwen_moe_window(b: Build) -> None:
    """Qwen2-MoE/Qwen3-MoE have no layer_types: with use_sliding_window every layer uses the window
    (``cache_utils.get_layer_types_and_kwargs`` reads the config's sliding_window per layer)."""
    c = b.c
    window = c.opt_int("sliding_window", hi=2**31) if c.bool("use_sliding_window") else None
    b.types = ["sliding_attention" if window else "full_attention"] * b.layers
    b.mixers["sliding_attention"] = replace(b.attention, window=window) if window else b.attention


def _mla(b: Build) -> None:
    """DeepSeek-V2/V3 multi-head latent attention (``modeling_deepseek_v3.py``)."""
    from calc.arch.kinds import MLA

    c = b.c
    mla = MLA(heads=b.attention.heads, q_lora_rank=c.int("q_lora_rank", 0, lo=0),
              kv_lora_rank=c.int("kv_lora_rank"), qk_nope_head_dim=c.int("qk_nope_head_dim"),
              qk_rope_head_dim=c.int("qk_rope_head_dim"), v_head_dim=c.int("v_head_dim"),
              qkv_bias=c.bool("attention_bias"), o_bias=c.bool("attention_bias"))
    b.attention = mla
    b.mixers = {"full_attention": mla}
    b.types = ["full_attention"] * b.layers
    b.mtp_layers = c.int("num_nextn_predict_layers", 0, lo=0, hi=MAX_LAYERS)


def _gpt2_inner(b: Build) -> None:
    """GPT-2: n_inner defaults to 4 x n_embd; heads must divide n_embd."""
    from calc.arch.kinds import MLP

    c = b.c
    b.mlp = MLP(c.int("n_inner", 4 * b.hidden), gated=False, bias=True)
    b.nominal["intermediate_size"] = b.mlp.intermediate


# ----- the table ----------------------------------------------------------------------------------------
_LLAMA_DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "hidden_act": "silu", "max_position_embeddings": 2048,
                   "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}

FAMILIES: tuple[Family, ...] = (
    Family(("llama",), "LlamaForCausalLM", _LLAMA_DEFAULTS, qkv_bias="attention_bias", o_bias="attention_bias",
           mlp_bias="mlp_bias"),
    Family(("mistral",), "MistralForCausalLM",
           {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
            "max_position_embeddings": 131072, "tie_word_embeddings": False, "sliding_window": 4096},
           layer_types=all_sliding_if_window),
    Family(("mixtral",), "MixtralForCausalLM",
           {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
            "max_position_embeddings": 131072, "tie_word_embeddings": False, "sliding_window": None,
            "num_experts_per_tok": 2, "num_local_experts": 8},
           layer_types=all_sliding_if_window, moe=MoEFields(intermediate=None)),
    Family(("qwen2",), "Qwen2ForCausalLM",
           {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
            "max_position_embeddings": 32768, "tie_word_embeddings": False, "use_sliding_window": False,
            "sliding_window": 4096, "max_window_layers": 28},
           qkv_bias=True, hooks=(_qwen_window,)),
    Family(("qwen3",), "Qwen3ForCausalLM",
           {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128, "hidden_act": "silu",
            "max_position_embeddings": 32768, "tie_word_embeddings": False, "attention_bias": False,
            "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 28},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", hooks=(_qwen_window,)),
    Family(("qwen3_moe",), "Qwen3MoeForCausalLM",
           {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 24,
            "num_attention_heads": 32, "num_key_value_heads": 4, "hidden_act": "silu",
            "max_position_embeddings": 32768, "tie_word_embeddings": False, "attention_bias": False,
            "use_sliding_window": False, "sliding_window": 4096,
            "decoder_sparse_step": 1, "moe_intermediate_size": 768, "num_experts_per_tok": 8, "num_experts": 128},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", hooks=(_qwen_moe_window,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), layers="sparse_step")),
    Family(("gemma2",), "Gemma2ForCausalLM",
           {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
            "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
            "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "attention_bias": False, "sliding_window": 4096},
           qkv_bias="attention_bias", o_bias="attention_bias", norms=4, layer_types=every_nth_full("", 2)),
    Family(("phi3",), "Phi3ForCausalLM",
           {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
            "num_attention_heads": 32, "hidden_act": "silu", "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "sliding_window": None},
           layer_types=all_sliding_if_window),
    Family(("gpt2",), "GPT2LMHeadModel",
           {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
            "activation_function": "gelu_new", "tie_word_embeddings": True},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "n_head", "intermediate_size": ""},
           norm="layernorm", qkv_bias=True, o_bias=True, gated=False, fused_qkv=True,
           learned_positions="n_positions", window=None, hooks=(_gpt2_inner,)),
    Family(("deepseek_v3",), "DeepseekV3ForCausalLM",
           {"vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
            "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
            "n_shared_experts": 1, "n_routed_experts": 256, "kv_lora_rank": 512, "q_lora_rank": 1536,
            "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "num_experts_per_tok": 8,
            "first_k_dense_replace": 3, "hidden_act": "silu", "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "attention_bias": False},
           window=None, hooks=(_mla,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers="first_k_dense")),
)
