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
from calc.arch.kinds import MLP, Attention, GatedDeltaNet, LinearAttention, Mamba, Mamba2, MoE, ShortConv, T


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
              qk_rope_head_dim=c.int("qk_rope_head_dim"),
              v_head_dim=c.int("v_head_dim", c.int("qk_nope_head_dim")),  # MiniCPM3: None is qk_nope_head_dim
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


def _types_rule(full: str, other: str, field_name: str, default: int):
    """Layer i is ``full`` when (i + 1) % n == 0, else ``other`` (n read from ``field_name``)."""
    def rule(c, L):
        n = c.int(field_name, default, hi=MAX_LAYERS) if field_name else default
        return [other if (i + 1) % n else full for i in range(L)]
    return rule


def _mamba(b: Build) -> None:
    """Mamba: every layer one Mamba mixer and one norm, no MLP (``modeling_mamba.py``)."""
    c, h = b.c, b.hidden
    d_inner = c.int("intermediate_size", c.int("expand", 2) * h)
    b.mixers = {"mamba": Mamba(d_inner, c.int("state_size"), c.int("conv_kernel"), _dt_rank(c, "time_step_rank", h),
                               conv_bias=c.bool("use_conv_bias"), proj_bias=c.bool("use_bias"))}
    b.types = ["mamba"] * b.layers


def _dt_rank(c, key: str, h: int) -> int:
    value = c.get(key)
    return -(-h // 16) if value == "auto" else c.int(key)


def _mamba2(b: Build) -> None:
    """Mamba-2: d_inner = expand x hidden (``modeling_mamba2.py``)."""
    c, h = b.c, b.hidden
    heads = c.int("num_heads")
    b.mixers = {"mamba": Mamba2(heads, c.int("head_dim"), c.int("state_size"), c.int("n_groups"),
                                c.int("conv_kernel"), conv_bias=c.bool("use_conv_bias"), proj_bias=c.bool("use_bias"),
                                d_inner_override=int(c.get("expand") * h))}
    b.types = ["mamba"] * b.layers


def _jamba(b: Build) -> None:
    """Jamba: attention where i % attn_layer_period == attn_layer_offset, Mamba (with dt/B/C norms)
    elsewhere; MoE where i % expert_layer_period == expert_layer_offset (``modeling_jamba.py``)."""
    c, h = b.c, b.hidden
    period = c.int("attn_layer_period", hi=MAX_LAYERS)
    offset = c.int("attn_layer_offset", lo=0, hi=MAX_LAYERS)
    b.types = ["full_attention" if i % period == offset else "mamba" for i in range(b.layers)]
    b.mixers["full_attention"] = replace(b.attention, rope=False)  # JambaAttention applies no positional encoding
    b.mixers["mamba"] = Mamba(c.int("mamba_expand") * h, c.int("mamba_d_state"), c.int("mamba_d_conv"),
                              _dt_rank(c, "mamba_dt_rank", h), conv_bias=c.bool("mamba_conv_bias"),
                              proj_bias=c.bool("mamba_proj_bias"), inner_norms=True)


def _qwen3_next(b: Build) -> None:
    """Qwen3-Next: gated DeltaNet layers and gated full-attention layers (q_proj also emits the output
    gate) (``modeling_qwen3_next.py``)."""
    c = b.c
    b.attention = replace(b.attention, gate=True)
    b.mixers["full_attention"] = b.attention
    b.mixers["linear_attention"] = GatedDeltaNet(
        c.int("linear_num_key_heads"), c.int("linear_num_value_heads"), c.int("linear_key_head_dim"),
        c.int("linear_value_head_dim"), c.int("linear_conv_kernel_dim"))


def _minimax(b: Build) -> None:
    """MiniMax-01: lightning (linear) attention layers between softmax ones (``modeling_minimax.py``)."""
    a = b.attention
    b.mixers["linear_attention"] = LinearAttention(a.heads, a.head_dim)


def _llama4_types(c, L: int) -> list[str]:
    """Llama 4: RoPE layers use chunked attention, every no_rope_layer_interval-th layer is a global
    no-RoPE layer (``configuration_llama4.py``)."""
    rope = c.int_list("no_rope_layers", L, lo=0, hi=1, default=None) if c.has("no_rope_layers") and \
        c.get("no_rope_layers") else None
    if rope is None:
        n = c.int("no_rope_layer_interval", 4, hi=MAX_LAYERS)
        rope = [int((i + 1) % n != 0) for i in range(L)]
    chunk = c.get("attention_chunk_size", None)
    return ["chunked_attention" if r and chunk is not None else "full_attention" for r in rope]


def _llama4(b: Build) -> None:
    """Llama 4: global layers have no RoPE; q/k L2-norm has no weights."""
    b.mixers["full_attention"] = replace(b.mixers["full_attention"], rope=False)


def _falcon(b: Build) -> None:
    """Falcon: fused query-key-value (multi-query, or num_kv_heads groups in the new architecture),
    plain MLP, one or two LayerNorms (``modeling_falcon.py``)."""
    c, h = b.c, b.hidden
    heads = b.attention.heads
    new = c.bool("new_decoder_architecture")
    bias = c.bool("bias")
    kv = c.int("num_kv_heads", heads) if new else (1 if c.bool("multi_query") else heads)
    b.attention = Attention(heads, kv, h // heads, qkv_bias=bias, o_bias=bias, fused_qkv=True)
    b.mixers = {"full_attention": b.attention}
    b.mlp = MLP(c.int("ffn_hidden_size", 4 * h), gated=False, bias=bias)
    b.nominal["intermediate_size"] = b.mlp.intermediate
    if new:
        b.norms = 2 if c.int("num_ln_in_parallel_attn", 2) == 2 else 1
    else:
        b.norms = 1 if c.bool("parallel_attn") else 2


def _inner_4h(key: str):
    """GPT-J / BLOOM style: a plain MLP of ``key`` (default 4 x hidden) with biases."""
    def hook(b: Build) -> None:
        b.mlp = MLP(b.c.int(key, 4 * b.hidden) if key else 4 * b.hidden, gated=False, bias=True)
        b.nominal["intermediate_size"] = b.mlp.intermediate
    return hook


def _opt(b: Build) -> None:
    """OPT: word embeddings of word_embed_proj_dim with project_in/out when it differs from hidden;
    learned positions offset by 2; final norm unless removed (``modeling_opt.py``)."""
    c, h = b.c, b.hidden
    ed = c.int("word_embed_proj_dim", h)
    b.embed_dim = ed
    if ed != h:
        b.extra += [T("project_in.weight", (h, ed), "other", linear=True),
                    T("project_out.weight", (ed, h), "other", linear=True)]
    if not c.bool("layer_norm_elementwise_affine"):
        b.norm = "nonparametric"
    before = c.bool("do_layer_norm_before")
    b.final_norm = b.norm if before and not c.bool("_remove_final_layer_norm") else None


def _bloom(b: Build) -> None:
    """BLOOM: a LayerNorm right after the word embeddings."""
    b.embed_norm = "layernorm"


def _phi(b: Build) -> None:
    """Phi: optional per-head LayerNorm on queries and keys (qk_layernorm)."""
    if b.c.bool("qk_layernorm"):
        b.attention = replace(b.attention, qk_norm="head", qk_norm_kind="layernorm")
        b.mixers = {k: replace(m, qk_norm="head", qk_norm_kind="layernorm") for k, m in b.mixers.items()}


def _cohere_qk(b: Build) -> None:
    """Cohere: optional LayerNorm (weight only) over (heads, head_dim) on queries and keys."""
    if b.c.bool("use_qk_norm"):
        b.mixers = {k: replace(m, qk_norm="full", qk_norm_kind="layernorm_nobias") for k, m in b.mixers.items()}


def _glm4_moe(b: Build) -> None:
    """GLM-4.5: optional per-head q/k RMSNorm; multi-token-prediction layers stored apart."""
    if b.c.bool("use_qk_norm"):
        b.mixers = {k: replace(m, qk_norm="head") for k, m in b.mixers.items()}
    b.mtp_layers = b.c.int("num_nextn_predict_layers", 0, lo=0, hi=MAX_LAYERS)


def _hunyuan_moe(b: Build) -> None:
    """HunYuan-MoE: one shared MLP of intermediate_size beside the routed experts (``modeling_hunyuan_v1_moe``)."""
    if b.moe is not None:
        b.moe = replace(b.moe, shared=MLP(b.c.int("intermediate_size")))
        b.nominal["num_shared_experts"] = 1


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
           norm="layernorm", qkv_bias=True, o_bias=True, gated=False, fused_qkv=True, heads_divide=True,
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
    # ----- llama-like dense decoders ------------------------------------------------------------------------
    Family(("gemma",), "GemmaForCausalLM",
           {"num_key_value_heads": 16, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
            "max_position_embeddings": 8192, "tie_word_embeddings": True, "attention_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias"),
    Family(("gemma3_text",), "Gemma3ForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 131072, "tie_word_embeddings": True, "attention_bias": False,
            "sliding_window": 4096, "sliding_window_pattern": 6},
           qkv_bias="attention_bias", o_bias="attention_bias", norms=4, qk_norm="head",
           layer_types=every_nth_full("sliding_window_pattern", 6)),
    Family(("granite",), "GraniteForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "mlp_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias"),
    Family(("olmo",), "OlmoForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", norm="nonparametric"),
    Family(("olmo2",), "Olmo2ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="full"),
    Family(("cohere",), "CohereForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "attention_bias": False, "use_qk_norm": False},
           qkv_bias="attention_bias", o_bias="attention_bias", norm="layernorm_nobias", norms=1,
           hooks=(_cohere_qk,)),
    Family(("cohere2",), "Cohere2ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "attention_bias": False, "sliding_window": 4096, "sliding_window_pattern": 4},
           qkv_bias="attention_bias", o_bias="attention_bias", norm="layernorm_nobias", norms=1,
           layer_types=every_nth_full("sliding_window_pattern", 4)),
    Family(("starcoder2",), "Starcoder2ForCausalLM",
           {"num_key_value_heads": 2, "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 4096,
            "sliding_window": None, "use_bias": True, "tie_word_embeddings": True},
           qkv_bias="use_bias", o_bias="use_bias", mlp_bias="use_bias", gated=False, norm="layernorm",
           layer_types=all_sliding_if_window),
    Family(("glm",), "GlmForCausalLM",
           {"num_key_value_heads": 2, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": True},
           qkv_bias="attention_bias"),
    Family(("glm4",), "Glm4ForCausalLM",
           {"num_key_value_heads": 2, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": True},
           qkv_bias="attention_bias", norms=4),
    Family(("ernie4_5",), "Ernie4_5ForCausalLM",
           {"num_key_value_heads": 2, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": True, "use_bias": False},
           qkv_bias="use_bias", o_bias="use_bias", mlp_bias="use_bias"),
    Family(("hunyuan_v1_dense",), "HunYuanDenseV1ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "mlp_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias", qk_norm="head"),
    Family(("smollm3",), "SmolLM3ForCausalLM",
           {"num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 32768,
            "use_sliding_window": False, "sliding_window": None, "attention_bias": False, "mlp_bias": False,
            "tie_word_embeddings": True},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias"),
    Family(("exaone4",), "Exaone4ForCausalLM",
           {"num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 2048,
            "tie_word_embeddings": False, "sliding_window": 4096, "sliding_window_pattern": 4},
           qk_norm="head", layer_types=every_nth_full("sliding_window_pattern", 4)),
    Family(("phi",), "PhiForCausalLM",
           {"hidden_act": "gelu_new", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "qk_layernorm": False},
           qkv_bias=True, o_bias=True, mlp_bias=True, gated=False, norm="layernorm", norms=1, head_bias=True,
           hooks=(_phi,)),
    Family(("gpt_neox",), "GPTNeoXForCausalLM",
           {"hidden_act": "gelu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": True},
           names={"num_key_value_heads": ""}, qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias=True,
           gated=False, norm="layernorm", fused_qkv=True, window=None),
    Family(("gptj",), "GPTJForCausalLM",
           {"n_positions": 2048, "activation_function": "gelu_new", "tie_word_embeddings": False},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "", "intermediate_size": "", "max_position_embeddings": "n_positions"},
           norm="layernorm", norms=1, head_bias=True, window=None, hooks=(_inner_4h("n_inner"),)),
    Family(("bloom",), "BloomForCausalLM",
           {"tie_word_embeddings": True},
           names={"num_hidden_layers": "n_layer", "num_attention_heads": "n_head", "num_key_value_heads": "",
                  "intermediate_size": ""},
           norm="layernorm", qkv_bias=True, o_bias=True, fused_qkv=True, window=None,
           hooks=(_inner_4h(""), _bloom)),
    Family(("opt",), "OPTForCausalLM",
           {"max_position_embeddings": 2048, "do_layer_norm_before": True, "_remove_final_layer_norm": False,
            "activation_function": "relu", "enable_bias": True, "layer_norm_elementwise_affine": True,
            "tie_word_embeddings": True},
           names={"intermediate_size": "ffn_dim", "num_key_value_heads": ""}, qkv_bias="enable_bias",
           o_bias="enable_bias", mlp_bias="enable_bias", gated=False, norm="layernorm", window=None,
           learned_positions="max_position_embeddings", positions_offset=2, hooks=(_opt,)),
    Family(("falcon",), "FalconForCausalLM",
           {"num_ln_in_parallel_attn": None, "num_kv_heads": None, "new_decoder_architecture": False,
            "multi_query": True, "parallel_attn": True, "bias": False, "max_position_embeddings": 2048,
            "ffn_hidden_size": None, "activation": "gelu", "tie_word_embeddings": True},
           names={"num_key_value_heads": "", "intermediate_size": "", "hidden_act": "activation"},
           norm="layernorm", window=None, hooks=(_falcon,)),
    # ----- mixtures of experts ---------------------------------------------------------------------------------
    Family(("qwen2_moe",), "Qwen2MoeForCausalLM",
           {"num_key_value_heads": 16, "hidden_act": "silu", "max_position_embeddings": 32768,
            "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": 4096,
            "max_window_layers": 28, "decoder_sparse_step": 1, "moe_intermediate_size": 1408,
            "shared_expert_intermediate_size": 5632, "num_experts_per_tok": 4, "num_experts": 60, "qkv_bias": True},
           qkv_bias="qkv_bias", hooks=(_qwen_window,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), shared_intermediate="shared_expert_intermediate_size",
                         shared_gate=True, layers="sparse_step")),
    Family(("olmoe",), "OlmoeForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "attention_bias": False, "num_experts_per_tok": 8, "num_experts": 64},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="full",
           moe=MoEFields(experts=("num_experts", "num_local_experts"), intermediate=None)),
    Family(("granitemoe",), "GraniteMoeForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "num_local_experts": 8, "num_experts_per_tok": 2},
           qkv_bias="attention_bias", o_bias="attention_bias", moe=MoEFields(intermediate=None)),
    Family(("phimoe",), "PhimoeForCausalLM",
           {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "sliding_window": None, "num_experts_per_tok": 2, "num_local_experts": 16,
            "attention_bias": False, "lm_head_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", norm="layernorm", head_bias="lm_head_bias",
           layer_types=all_sliding_if_window, moe=MoEFields(intermediate=None)),
    Family(("gpt_oss",), "GptOssForCausalLM",
           {"num_local_experts": 128, "head_dim": 64, "num_key_value_heads": 8, "sliding_window": 128,
            "tie_word_embeddings": False, "hidden_act": "silu", "max_position_embeddings": 131072,
            "num_experts_per_tok": 4, "attention_bias": True},
           qkv_bias="attention_bias", o_bias="attention_bias", sinks=True,
           layer_types=every_nth_full("", 2),
           moe=MoEFields(intermediate=None, router_bias=True, expert_bias=True)),
    Family(("deepseek_v2",), "DeepseekV2ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "first_k_dense_replace": 0, "kv_lora_rank": 512, "q_lora_rank": 1536,
            "n_routed_experts": 64, "n_shared_experts": 2, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
            "v_head_dim": 128, "moe_intermediate_size": 1407, "moe_layer_freq": 1},
           window=None, hooks=(_mla,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", layers="first_k_dense")),
    Family(("glm4_moe",), "Glm4MoeForCausalLM",
           {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 1408,
            "num_experts_per_tok": 8, "n_shared_experts": 1, "n_routed_experts": 128, "first_k_dense_replace": 1,
            "use_qk_norm": False},
           qkv_bias="attention_bias", window=None, hooks=(_glm4_moe,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers="first_k_dense")),
    Family(("hunyuan_v1_moe",), "HunYuanMoEV1ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "num_experts": 1, "moe_topk": 1},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", hooks=(_hunyuan_moe,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), top_k="moe_topk", intermediate=None)),
    Family(("minimax",), "MiniMaxForCausalLM",
           {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "sliding_window": None, "num_experts_per_tok": 2, "num_local_experts": 8},
           allowed_types=("full_attention", "linear_attention"),
           layer_types=_types_rule("linear_attention", "full_attention", "", 2), hooks=(_minimax,),
           moe=MoEFields(experts=("num_local_experts", "num_experts"), intermediate=None)),
    Family(("llama4_text",), "Llama4ForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "num_experts_per_tok": 1, "num_local_experts": 16,
            "interleave_moe_layer_step": 1, "use_qk_norm": True, "attention_chunk_size": 8192,
            "attention_bias": False, "no_rope_layer_interval": 4},
           names={"intermediate_size": "intermediate_size_mlp"}, qkv_bias="attention_bias",
           o_bias="attention_bias", allowed_types=("full_attention", "chunked_attention"), layer_types=_llama4_types,
           hooks=(_llama4,),
           moe=MoEFields(intermediate="intermediate_size", shared_intermediate="intermediate_size",
                         layers="interleave")),
    # ----- hybrids and state-space models ----------------------------------------------------------------------
    Family(("qwen3_next",), "Qwen3NextForCausalLM",
           {"num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
            "tie_word_embeddings": False, "attention_bias": False, "head_dim": 256, "linear_conv_kernel_dim": 4,
            "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
            "linear_num_value_heads": 32, "decoder_sparse_step": 1, "moe_intermediate_size": 512,
            "shared_expert_intermediate_size": 512, "num_experts_per_tok": 10, "num_experts": 512,
            "full_attention_interval": 4},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head",
           allowed_types=("full_attention", "linear_attention"),
           layer_types=_types_rule("full_attention", "linear_attention", "full_attention_interval", 4),
           hooks=(_qwen3_next,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), shared_intermediate="shared_expert_intermediate_size",
                         shared_gate=True, layers="sparse_step")),
    Family(("mamba", "falcon_mamba"), "MambaForCausalLM",
           {"state_size": 16, "expand": 2, "conv_kernel": 4, "use_bias": False, "use_conv_bias": True,
            "hidden_act": "silu", "tie_word_embeddings": True, "time_step_rank": "auto"},
           aliases=("FalconMambaForCausalLM",), names={"intermediate_size": ""}, attention=False, norms=1,
           window=None, hooks=(_mamba,)),
    Family(("mamba2",), "Mamba2ForCausalLM",
           {"num_heads": 128, "head_dim": 64, "state_size": 128, "expand": 2, "n_groups": 8, "conv_kernel": 4,
            "use_bias": False, "use_conv_bias": True, "hidden_act": "silu", "tie_word_embeddings": False},
           names={"intermediate_size": ""}, attention=False, norms=1, window=None, hooks=(_mamba2,)),
    Family(("jamba",), "JambaForCausalLM",
           {"tie_word_embeddings": False, "num_key_value_heads": 8, "hidden_act": "silu",
            "max_position_embeddings": 262144, "num_experts_per_tok": 2, "num_experts": 16, "expert_layer_period": 2,
            "expert_layer_offset": 1, "attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16,
            "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto", "mamba_conv_bias": True,
            "mamba_proj_bias": False},
           allowed_types=("full_attention", "mamba"), window=None, hooks=(_jamba,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), intermediate=None, layers="period",
                         dense_if_one=True)),
)


# ===== multimodal wrappers (helper arch-mm): a text decoder of a family above + towers ======================
# Each entry mirrors its ``modeling_*.py`` ``__init__``; widths are products of config fields (calc/arch/towers.py).
from calc.arch.towers import Choice, Encoder, Lin, Norm, Projector, Weight, Wrapper  # noqa: E402


def _text(model_type: str, architecture: str, defaults: dict) -> Family:
    """A decoder family re-used under a multimodal model's text-config type, with that class's defaults."""
    base = next(f for f in FAMILIES if model_type in f.model_types)
    return replace(base, model_types=(), architecture=architecture, aliases=(), defaults=defaults)


# the text config classes' defaults (python tools/arch_defaults.py <type>): Hub configs leave them out
_GEMMA3_TEXT = {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131072,
                "attention_bias": False, "sliding_window": 4096}
_LLAMA4_TEXT = {"vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
                "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
                "hidden_act": "silu", "max_position_embeddings": 131072, "num_experts_per_tok": 1,
                "num_local_experts": 16, "interleave_moe_layer_step": 1, "use_qk_norm": True,
                "attention_chunk_size": 8192, "attention_bias": False}
_MISTRAL_TEXT = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                 "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
                 "max_position_embeddings": 131072, "sliding_window": 4096}
_QWEN25_TEXT = {"vocab_size": 152064, "hidden_size": 8192, "intermediate_size": 29568, "num_hidden_layers": 80,
                "num_attention_heads": 64, "num_key_value_heads": 8, "hidden_act": "silu",
                "max_position_embeddings": 32768, "use_sliding_window": False, "sliding_window": 4096,
                "max_window_layers": 80}
_QWEN3_TEXT = {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
               "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128, "hidden_act": "silu",
               "max_position_embeddings": 128000, "attention_bias": False}
_LLAMA4_VISION = {"hidden_size": 768, "num_hidden_layers": 34, "num_attention_heads": 16, "num_channels": 3,
                  "intermediate_size": 5632, "image_size": 448, "patch_size": 14, "vision_output_dim": 7680,
                  "projector_input_dim": 4096, "projector_output_dim": 4096}


_SIGLIP = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "num_channels": 3, "image_size": 224, "patch_size": 16, "vision_use_head": True}
_PIXTRAL = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
            "num_channels": 3, "image_size": 1024, "patch_size": 16}
_QWEN_VIT = {"names": {"num_hidden_layers": "depth", "num_attention_heads": "num_heads", "num_channels": "in_channels"},
             "patch": "conv3d", "positions": "", "post_norm": None, "fused_qkv": True}
_QWEN25_VISION = {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16, "in_channels": 3,
                  "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 3584}
_QWEN3_VISION = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16, "in_channels": 3,
                 "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 3584,
                 "num_position_embeddings": 2304, "deepstack_visual_indexes": [8, 16, 24]}
_V = "vision_config."
_MERGED = "vision_config.hidden_size*vision_config.spatial_merge_size*vision_config.spatial_merge_size"

_QWEN25_TEXT_FAMILY = _text("qwen2", "Qwen2_5_VLTextModel", _QWEN25_TEXT)
_QWEN3_TEXT_FAMILY = _text("qwen3", "Qwen3VLTextModel", _QWEN3_TEXT)

_PHI4_TEXT = {"vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
              "max_position_embeddings": 131072, "sliding_window": None}
_PHI4_VISION = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                "num_channels": 3, "image_size": 448, "patch_size": 14}
_PHI4_AUDIO = {"hidden_size": 1024, "intermediate_size": 1536, "num_blocks": 24, "num_attention_heads": 16,
               "ext_pw_out_channel": 1024, "depthwise_separable_out_channel": 1024, "depthwise_multiplier": 1,
               "kernel_size": 3, "time_reduction": 8, "bias_max_distance": 1000, "bias_symmetric": False,
               "nemo_conv_channels": 1024, "downsample_rate": 1, "nemo_final_size": 10}
_A = "audio_config."
_AH, _AC = _A + "hidden_size", _A + "nemo_conv_channels"
_EXT, _DW = _A + "ext_pw_out_channel", _A + "hidden_size*audio_config.depthwise_multiplier"
_FFN = (Norm(_AH, "layernorm"), Lin(_AH, "2*" + _A + "intermediate_size", True), Lin(_A + "intermediate_size", _AH, True))
#: Phi-4-multimodal's conformer block (modeling_phi4_multimodal.py Phi4MultimodalAudioConformerEncoderLayer):
#: macaron feed-forwards, attention with biases, the conv module (GLU pointwise conv with b1/b2, depthwise-
#: separable conv, pointwise conv), two LayerNorms
_CONFORMER = (*_FFN, *(Lin(_AH, _AH, True),) * 4, Norm(_AH, "layernorm"), Weight((_EXT,)), Weight((_EXT,)),
              Weight(("2*" + _EXT, _AH, "1")), Weight(("2*" + _EXT,)), Weight((_DW, "1", _A + "kernel_size")),
              Weight((_DW,)), Weight((_A + "depthwise_separable_out_channel", _DW, "1")),
              Weight((_A + "depthwise_separable_out_channel",)), Weight((_EXT, _AH, "1")), Weight((_EXT,)),
              *_FFN, Norm(_AH, "layernorm"), Norm(_AH, "layernorm"))

_CLIP = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
         "num_channels": 3, "image_size": 224, "patch_size": 32}
_QWEN2_VISION = {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16, "in_channels": 3,
                 "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
_QWEN2_VL_TEXT = {**_QWEN25_TEXT}
_MERGED2 = "vision_config.embed_dim*vision_config.spatial_merge_size*vision_config.spatial_merge_size"
_QWEN2_TEXT_FAMILY = _text("qwen2", "Qwen2VLTextModel", _QWEN2_VL_TEXT)
_GEMMA_TEXT = {"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
               "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256,
               "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 8192, "attention_bias": False}
#: Llava's vision tower: whatever vision_config names (modeling_clip.py: class token, pre- and post-LayerNorm,
#: no patch bias; SigLIP; Pixtral as in Mistral 3)
_LLAVA_VISION = Choice("vision_config", {
    "clip_vision_model": Encoder("vision", "vision_config", _CLIP, patch_bias=False, positions="grid+1",
                                 class_embedding=True, pre_norm="layernorm"),
    "siglip_vision_model": Encoder("vision", "vision_config", _SIGLIP, head="vision_use_head"),
    "pixtral": Encoder("vision", "vision_config", _PIXTRAL, patch_bias=False, positions="", pre_norm="rmsnorm",
                       post_norm=None, norm="rmsnorm", qkv_bias=False, o_bias=False, gated=True, mlp_bias=False)},
    "clip_vision_model")

_QWEN3_MOE_TEXT = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "num_key_value_heads": 16, "hidden_act": "silu",
                   "max_position_embeddings": 128000, "attention_bias": False, "decoder_sparse_step": 1,
                   "moe_intermediate_size": 1408, "num_experts_per_tok": 4, "num_experts": 60}
_QWEN3_MOE_TEXT_FAMILY = _text("qwen3_moe", "Qwen3VLMoeTextModel", _QWEN3_MOE_TEXT)
_QWEN3_VL_TOWERS = (
    Encoder("vision", "vision_config", _QWEN3_VISION, **_QWEN_VIT | {"positions": "num_position_embeddings"}),
    Projector("vision projector", (Norm(_V + "hidden_size", "layernorm"), Lin(_MERGED, _MERGED, True),
                                   Lin(_MERGED, _V + "out_hidden_size", True))),
    Projector("deepstack projectors", (Norm(_MERGED, "layernorm"), Lin(_MERGED, _MERGED, True),
                                       Lin(_MERGED, _V + "out_hidden_size", True)),
              count="#vision_config.deepstack_visual_indexes"))

WRAPPERS: tuple[Wrapper, ...] = (
    # Gemma 3 (modeling_gemma3.py, modeling_siglip.py): SigLIP ViT (its attention-pooling head only with
    # vision_use_head, false in Google's configs); projector: a bare (vision x text) matrix after an RMSNorm.
    Wrapper(("gemma3",), "Gemma3ForConditionalGeneration", "gemma3_text", {"tie_word_embeddings": True},
            text_defaults=_GEMMA3_TEXT, sub_defaults={"vision_config": _SIGLIP},
            towers=(Encoder("vision", "vision_config", _SIGLIP, head="vision_use_head"),
                    Projector("vision projector", (Weight((_V + "hidden_size", "text.hidden")),
                                                   Norm(_V + "hidden_size"))))),
    # Llama 4 (modeling_llama4.py): ViT with an unfolded-patch Linear, class token, LayerNorms before and
    # after; pixel-shuffle MLP (vision_adapter) and one Linear to the text width.
    Wrapper((), "Llama4ForConditionalGeneration", "llama4_text", {"tie_word_embeddings": False},
            text_defaults=_LLAMA4_TEXT, sub_defaults={"vision_config": _LLAMA4_VISION},
            towers=(Encoder("vision", "vision_config", _LLAMA4_VISION, patch="linear", positions="grid+1",
                            class_embedding=True, pre_norm="layernorm"),
                    Projector("vision projector", (Lin(_V + "intermediate_size", _V + "projector_input_dim"),
                                                   Lin(_V + "projector_output_dim", _V + "projector_output_dim"),
                                                   Lin(_V + "vision_output_dim", "text.hidden"))))),
    # a llama4 config without architectures is what AutoModelForCausalLM builds from it: Llama4ForCausalLM
    # on its text_config (auto_factory swaps in the text config), no vision tower
    Wrapper(("llama4",), "Llama4ForCausalLM", "llama4_text", {"tie_word_embeddings": False},
            text_defaults=_LLAMA4_TEXT),
    # Mistral Small 3.1 / 3.2 (modeling_mistral3.py, modeling_pixtral.py): Pixtral ViT without biases,
    # RMSNorms, gated MLP, 2-D RoPE (no position table); projector: RMSNorm, patch merger, 2 Linears.
    Wrapper(("mistral3",), "Mistral3ForConditionalGeneration", "mistral",
            {"multimodal_projector_bias": False, "spatial_merge_size": 2, "tie_word_embeddings": True,
             "vision_feature_layer": -1},
            text_defaults=_MISTRAL_TEXT, sub_defaults={"vision_config": _PIXTRAL},
            absent={"text_config": {"model_type": "mistral", "head_dim": 128, "hidden_size": 5120,
                                    "intermediate_size": 32768, "max_position_embeddings": 131072,
                                    "num_attention_heads": 32, "num_hidden_layers": 40, "num_key_value_heads": 8,
                                    "sliding_window": None, "vocab_size": 131072},
                    "vision_config": {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14,
                                      "image_size": 1540, "num_hidden_layers": 24, "num_attention_heads": 16,
                                      "head_dim": 64}},
            towers=(Encoder("vision", "vision_config", _PIXTRAL, patch_bias=False, positions="", pre_norm="rmsnorm",
                            post_norm=None, norm="rmsnorm", qkv_bias=False, o_bias=False, gated=True,
                            mlp_bias=False),
                    Projector("vision projector", (
                        Norm(_V + "hidden_size"),
                        Lin(_V + "hidden_size*spatial_merge_size*spatial_merge_size", _V + "hidden_size"),
                        Lin(_V + "hidden_size*#vision_feature_layer", "text.hidden", "multimodal_projector_bias"),
                        Lin("text.hidden", "text.hidden", "multimodal_projector_bias"))))),
    # Qwen2.5-VL (modeling_qwen2_5_vl.py): windowed ViT with RMSNorms, fused qkv, gated MLP with biases,
    # 3-D patch conv; merger: RMSNorm over the ViT width, MLP over 2x2 merged patches.
    Wrapper(("qwen2_5_vl",), "Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl_text",
            {"tie_word_embeddings": False}, text_defaults=_QWEN25_TEXT, text_tie=True,
            sub_defaults={"vision_config": _QWEN25_VISION}, absent={"text_config": None},
            text_family=_QWEN25_TEXT_FAMILY,
            towers=(Encoder("vision", "vision_config", _QWEN25_VISION, **_QWEN_VIT, patch_bias=False,
                            norm="rmsnorm", gated=True),
                    Projector("vision projector", (Norm(_V + "hidden_size"), Lin(_MERGED, _MERGED, True),
                                                   Lin(_MERGED, _V + "out_hidden_size", True))))),
    # Qwen3-VL (modeling_qwen3_vl.py): ViT with a learned position table, LayerNorms, plain MLP; merger and
    # one "deepstack" merger per deepstack_visual_indexes entry (those norm the merged width).
    Wrapper(("qwen3_vl",), "Qwen3VLForConditionalGeneration", "qwen3_vl_text",
            {"tie_word_embeddings": False}, text_defaults=_QWEN3_TEXT,
            sub_defaults={"vision_config": _QWEN3_VISION},
            text_family=_QWEN3_TEXT_FAMILY, towers=_QWEN3_VL_TOWERS),
    # a text_config read alone (the language model of the two above)
    Wrapper(("qwen2_5_vl_text",), "Qwen2_5_VLTextModel", "qwen2_5_vl_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN25_TEXT, text_key=None, text_family=_QWEN25_TEXT_FAMILY),
    Wrapper(("qwen3_vl_text",), "Qwen3VLTextModel", "qwen3_vl_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN3_TEXT, text_key=None, text_family=_QWEN3_TEXT_FAMILY),
    # Phi-4-multimodal (modeling_phi4_multimodal.py): a Phi-3 decoder whose config is the top level; SigLIP
    # image encoder with its pooling head, two feature separators and a 2-Linear projection; a conformer audio
    # encoder (NeMo conv subsampling, relative-position bias table, num_blocks conformer blocks) and two
    # 2-Linear projections (speech, vision-speech). The LoRA adapters of Microsoft's checkpoint are not in it.
    Wrapper(("phi4_multimodal",), "Phi4MultimodalForCausalLM", "phi4_multimodal", {"tie_word_embeddings": False},
            text_defaults=_PHI4_TEXT, text_key=None,
            text_family=_text("phi3", "Phi4MultimodalForCausalLM", _PHI4_TEXT),
            sub_defaults={"vision_config": _PHI4_VISION, "audio_config": _PHI4_AUDIO},
            towers=(Encoder("vision", "vision_config", _PHI4_VISION, head=True),
                    Projector("vision projector", (Weight((_V + "hidden_size",)), Weight((_V + "hidden_size",)),
                                                   Lin(_V + "hidden_size", "text.hidden", True),
                                                   Lin("text.hidden", "text.hidden", True))),
                    Projector("audio", _CONFORMER, count=_A + "num_blocks"),
                    Projector("audio", (Weight((_AC, "1", "3", "3")), Weight((_AC,)),
                                        Lin(_AC + "*" + _A + "nemo_final_size", _AH, True))),
                    Projector("audio", (Weight((_AC, "1", "3", "3")), Weight((_AC,)), Weight((_AC, _AC, "1", "1")),
                                        Weight((_AC,))), count="log2:" + _A + "time_reduction-1"),
                    Projector("audio", (Weight(("2*" + _A + "bias_max_distance", _A + "num_attention_heads")),),
                              when="!" + _A + "bias_symmetric"),
                    Projector("audio", (Weight((_A + "bias_max_distance", _A + "num_attention_heads")),),
                              when=_A + "bias_symmetric"),
                    Projector("audio projector", (Lin(_AH + "*" + _A + "downsample_rate", "text.hidden", True),
                                                  Lin("text.hidden", "text.hidden", True)), count="2"))),
)


# ===== arch (issue 12 item 2): census batch 2 - each entry checked by tests/test_census.py =================
def _first_of_n(n: int):
    """Layer i is full attention when i % n == 0, else sliding (CWM, Granite-SWA)."""
    def rule(c, L: int) -> list[str]:
        return ["full_attention" if i % n == 0 else "sliding_attention" for i in range(L)]
    return rule


def _post_norms(b: Build) -> None:
    """HyperCLOVA X: two more norms after attention and MLP when use_post_norm (``modeling_hyperclovax.py``)."""
    b.norms = 4 if b.c.bool("use_post_norm") else 2


def _xielu(b: Build) -> None:
    """Apertus: the xIELU activation learns alpha_p and alpha_n per layer (``activations.XIELUActivation``)."""
    if b.mlp is not None and (b.c.str("hidden_act") or "") == "xielu":
        b.mlp = replace(b.mlp, act_params=2)


def _bitnet(b: Build) -> None:
    """BitNet b1.58: an RMSNorm over the intermediate width before down_proj (ffn_sub_norm); the attention's
    attn_sub_norm over the hidden width is the third per-layer norm (``modeling_bitnet.py``)."""
    b.mlp = replace(b.mlp, inner_norm="rmsnorm")


def _llama_like(types: tuple[str, ...], arch: str, defaults: dict, **kw) -> Family:
    """A Llama-shaped decoder (q/k/v/o, gated MLP, two RMSNorms) with attention_bias / mlp_bias fields."""
    kw.setdefault("qkv_bias", "attention_bias")
    kw.setdefault("o_bias", "attention_bias")
    kw.setdefault("mlp_bias", "mlp_bias")
    return Family(types, arch, defaults, **kw)


FAMILIES += (
    _llama_like(("cwm",), "CwmForCausalLM",
                {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
                 "tie_word_embeddings": False, "mlp_bias": False, "sliding_window": 8192},
                layer_types=_first_of_n(4)),
    _llama_like(("helium",), "HeliumForCausalLM",
                {"num_key_value_heads": 20, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 4096,
                 "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}),
    _llama_like(("hyperclovax",), "HyperCLOVAXForCausalLM",
                {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
                 "attention_bias": False, "mlp_bias": False, "use_post_norm": True},
                hooks=(_post_norms,)),
    _llama_like(("internlm3",), "InternLM3ForCausalLM",
                {"num_key_value_heads": 2, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 32768,
                 "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False},
                o_bias=False),
    _llama_like(("iquestcoder",), "IQuestCoderForCausalLM",
                {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
                 "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}),
    _llama_like(("jais2",), "Jais2ForCausalLM",
                {"hidden_act": "relu2", "max_position_embeddings": 8192, "tie_word_embeddings": False,
                 "attention_bias": True, "mlp_bias": True},
                gated=False, norm="layernorm"),
    _llama_like(("arcee",), "ArceeForCausalLM",
                {"hidden_act": "relu2", "max_position_embeddings": 4096, "tie_word_embeddings": False,
                 "attention_bias": False, "mlp_bias": False},
                gated=False),
    _llama_like(("apertus", "apertus1p5_text"), "ApertusForCausalLM",
                {"hidden_act": "xielu", "max_position_embeddings": 65536, "tie_word_embeddings": False,
                 "attention_bias": False},
                aliases=("Apertus1p5ForCausalLM",), gated=False, mlp_bias=False, qk_norm="head", hooks=(_xielu,)),
    _llama_like(("bitnet",), "BitNetForCausalLM",
                {"num_key_value_heads": 5, "hidden_act": "relu2", "max_position_embeddings": 2048,
                 "tie_word_embeddings": False, "attention_bias": False},
                mlp_bias=False, norms=3, hooks=(_bitnet,)),
    _llama_like(("seed_oss",), "SeedOssForCausalLM",
                {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 524288,
                 "tie_word_embeddings": False, "attention_bias": True, "attention_out_bias": False, "mlp_bias": False},
                o_bias="attention_out_bias"),
    Family(("ministral",), "MinistralForCausalLM",
           {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "sliding_window": 4096},
           layer_types=all_sliding_if_window),
    Family(("ministral3",), "Ministral3ForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 262144,
            "tie_word_embeddings": False, "sliding_window": None},
           layer_types=all_sliding_if_window),
    Family(("olmo3",), "Olmo3ForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "sliding_window": 4096},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="full", layer_types=every_nth_full("", 4)),
    Family(("vaultgemma",), "VaultGemmaForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "attention_bias": False, "sliding_window": 4096, "hidden_activation": "gelu_pytorch_tanh"},
           qkv_bias="attention_bias", o_bias="attention_bias", layer_types=every_nth_full("", 2)),
    _llama_like(("granite_swa",), "GraniteSWAForCausalLM",
                {"num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 8192,
                 "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False, "sliding_window": 128},
                sinks=True, layer_types=_first_of_n(4)),
    Family(("granitemoe_swa",), "GraniteMoeSWAForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "sliding_window": 128, "num_local_experts": 8, "num_experts_per_tok": 2,
            "shared_intermediate_size": 0},
           qkv_bias="attention_bias", o_bias="attention_bias", sinks=True, layer_types=_first_of_n(4),
           moe=MoEFields(intermediate=None, shared_intermediate="shared_intermediate_size")),
    Family(("granitemoeshared",), "GraniteMoeSharedForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "num_local_experts": 8, "num_experts_per_tok": 2, "shared_intermediate_size": 0},
           qkv_bias="attention_bias", o_bias="attention_bias",
           moe=MoEFields(intermediate=None, shared_intermediate="shared_intermediate_size")),
    Family(("nanochat",), "NanoChatForCausalLM",
           {"hidden_act": "relu2", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", gated=False, norm="nonparametric"),
    Family(("mellum",), "MellumForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "sliding_window": 1024, "num_experts": 64,
            "num_experts_per_tok": 8, "moe_intermediate_size": 896},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head",
           moe=MoEFields(experts=("num_local_experts", "num_experts"), layers="mlp_layer_types")),
    Family(("solar_open",), "SolarOpenForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "num_experts_per_tok": 8,
            "moe_intermediate_size": 1280, "n_shared_experts": 1, "n_routed_experts": 128},
           names={"intermediate_size": ""}, qkv_bias="attention_bias", window=None,
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True)),
)


def _afmoe_layers(c, L: int) -> list[bool]:
    """AFMoE: the first num_dense_layers layers are dense, the rest MoE (``modeling_afmoe.py``)."""
    dense = c.int("num_dense_layers", 1, lo=0, hi=MAX_LAYERS)
    return [i >= dense for i in range(L)]


def _ernie_moe_layers(c, L: int) -> list[bool]:
    """ERNIE 4.5 MoE: (i + 1) % moe_layer_interval == 0 and start <= i <= end; end -1 is the last layer
    (``configuration_ernie4_5_moe.py``)."""
    start = c.int("moe_layer_start_index", 1, lo=0, hi=MAX_LAYERS)
    end = c.get("moe_layer_end_index", -1)
    end = L - 1 if end == -1 else c.int("moe_layer_end_index", lo=0, hi=MAX_LAYERS)
    step = c.int("moe_layer_interval", 1, hi=MAX_LAYERS)
    return [(i + 1) % step == 0 and start <= i <= end for i in range(L)]


def _gate_attention(b: Build) -> None:
    """AFMoE: a gate_proj of the query width beside q_proj (sigmoid output gate, ``modeling_afmoe.py``)."""
    b.attention = replace(b.attention, gate=True)
    b.mixers = {k: replace(m, gate=True) for k, m in b.mixers.items()}


def _diff_lambdas(b: Build) -> None:
    """DiffLlama: four learned lambda vectors of head_dim per layer (``modeling_diffllama.py``)."""
    b.mixers = {k: replace(m, lambdas=4) for k, m in b.mixers.items()}


def _cohere2_moe_shared(b: Build) -> None:
    """Cohere2-MoE: num_shared_experts shared MLPs of intermediate_size, fused (``modeling_cohere2_moe.py``)."""
    n = b.c.int("num_shared_experts", 0, lo=0, hi=MAX_LAYERS)
    if b.moe is not None and n:
        b.moe = replace(b.moe, shared=MLP(b.moe.intermediate * n))


FAMILIES += (
    Family(("afmoe",), "AfmoeForCausalLM",
           {"head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 16384, "tie_word_embeddings": False,
            "attention_bias": False, "sliding_window": 1024, "num_experts": 64, "num_experts_per_tok": 6,
            "moe_intermediate_size": 1408, "num_dense_layers": 1, "num_shared_experts": 2,
            "global_attn_every_n_layers": 4},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", norms=4,
           layer_types=every_nth_full("global_attn_every_n_layers", 4), hooks=(_gate_attention,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), shared="num_shared_experts", router_bias=True,
                         layers=_afmoe_layers)),
    Family(("aria_text",), "AriaTextForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "mlp_bias": False, "moe_num_experts": 8, "moe_topk": 2,
            "moe_num_shared_experts": 2},
           qkv_bias="attention_bias", o_bias="attention_bias",
           moe=MoEFields(experts=("moe_num_experts",), top_k="moe_topk", intermediate=None,
                         shared="moe_num_shared_experts")),
    Family(("cohere2_moe",), "Cohere2MoeForCausalLM",
           {"head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "attention_bias": False, "sliding_window": 4096, "num_experts": 8, "num_experts_per_tok": 2,
            "sliding_window_pattern": 4, "num_shared_experts": 0},
           qkv_bias="attention_bias", o_bias="attention_bias", norm="layernorm_nobias", norms=1,
           layer_types=every_nth_full("sliding_window_pattern", 4), hooks=(_cohere2_moe_shared,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), intermediate=None, layers="mlp_layer_types")),
    Family(("codegen",), "CodeGenForCausalLM",
           {"n_positions": 2048, "activation_function": "gelu_new", "tie_word_embeddings": False},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "", "intermediate_size": "", "max_position_embeddings": "n_positions"},
           norm="layernorm", norms=1, head_bias=True, fused_qkv=True, window=None, hooks=(_inner_4h("n_inner"),)),
    Family(("ctrl",), "CTRLLMHeadModel",
           {"n_positions": 256, "dff": 8192, "tie_word_embeddings": True},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "", "intermediate_size": "dff", "max_position_embeddings": "n_positions"},
           norm="layernorm", qkv_bias=True, o_bias=True, mlp_bias=True, gated=False, head_bias=True, window=None),
    _llama_like(("diffllama",), "DiffLlamaForCausalLM",
                {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
                 "attention_bias": False},
                mlp_bias=False, hooks=(_diff_lambdas,)),
    Family(("ernie4_5_moe",), "Ernie4_5_MoeForCausalLM",
           {"num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": True, "moe_intermediate_size": 1536, "use_bias": False, "moe_k": 6,
            "moe_num_experts": 64, "moe_num_shared_experts": 2, "moe_layer_start_index": 1,
            "moe_layer_end_index": -1, "moe_layer_interval": 1},
           qkv_bias="use_bias", o_bias="use_bias", mlp_bias="use_bias", window=None,
           moe=MoEFields(experts=("moe_num_experts",), top_k="moe_k", shared="moe_num_shared_experts",
                         router_bias=True, layers=_ernie_moe_layers)),
    _llama_like(("exaone",), "ExaoneForCausalLM",
                {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 4096,
                 "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False},
                field_aliases={"num_layers": "num_hidden_layers", "activation_function": "hidden_act"}, window=None),
    Family(("exaone_moe",), "ExaoneMoeForCausalLM",
           {"num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 2048,
            "tie_word_embeddings": False, "sliding_window": 4096, "num_experts": 64, "num_experts_per_tok": 8,
            "moe_intermediate_size": 1024, "first_k_dense_replace": 1, "sliding_window_pattern": 4,
            "num_shared_experts": 1},
           qk_norm="head", layer_types=every_nth_full("sliding_window_pattern", 4),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), shared="num_shared_experts",
                         router_buffer=True, router_fp32=True, layers="mlp_layer_types")),
    # Llava (modeling_llava.py): a vision tower of the vision config's type, a 2-Linear projector from the
    # (stacked) feature layers; the text decoder any family (Llama by default)
    Wrapper(("llava",), "LlavaForConditionalGeneration", "llama",
            {"multimodal_projector_bias": True, "tie_word_embeddings": False, "vision_feature_layer": -2},
            text_defaults=_LLAMA_DEFAULTS, text_tie=True, sub_defaults={"vision_config": _CLIP},
            absent={"text_config": {"model_type": "llama"},
                    "vision_config": {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14,
                                      "image_size": 336, "num_hidden_layers": 24, "num_attention_heads": 16}},
            towers=(_LLAVA_VISION,
                    Projector("vision projector", (
                        Lin(_V + "hidden_size*#vision_feature_layer", "text.hidden", "multimodal_projector_bias"),
                        Lin("text.hidden", "text.hidden", "multimodal_projector_bias"))))),
    # Qwen2-VL (modeling_qwen2_vl.py): ViT of width embed_dim with LayerNorms and a plain MLP of
    # embed_dim x mlp_ratio; merger: LayerNorm, MLP over 2x2 merged patches to hidden_size
    Wrapper(("qwen2_vl",), "Qwen2VLForConditionalGeneration", "qwen2_vl_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN2_VL_TEXT, text_tie=True, sub_defaults={"vision_config": _QWEN2_VISION},
            absent={"text_config": None}, text_family=_QWEN2_TEXT_FAMILY,
            towers=(Encoder("vision", "vision_config", _QWEN2_VISION, **_QWEN_VIT | {"names": {
                        **_QWEN_VIT["names"], "hidden_size": "embed_dim", "intermediate_size": "embed_dim*mlp_ratio"}},
                            patch_bias=False),
                    Projector("vision projector", (
                        Norm(_V + "embed_dim", "layernorm"),
                        Lin(_MERGED2,
                            _MERGED2, True),
                        Lin(_MERGED2, _V + "hidden_size", True))))),
    Wrapper(("qwen2_vl_text",), "Qwen2VLTextModel", "qwen2_vl_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN2_VL_TEXT, text_key=None, text_family=_QWEN2_TEXT_FAMILY),
    # PaliGemma 1/2 (modeling_paligemma.py): SigLIP (no pooling head unless the config asks) and one Linear
    # to projection_dim; the decoder Gemma (PaliGemma 2: Gemma 2)
    Wrapper(("paligemma",), "PaliGemmaForConditionalGeneration", "gemma",
            {"projection_dim": 2048, "tie_word_embeddings": True}, text_defaults=_GEMMA_TEXT,
            sub_defaults={"vision_config": _SIGLIP},
            absent={"text_config": {"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18,
                                    "intermediate_size": 16384, "num_attention_heads": 8, "num_key_value_heads": 1,
                                    "vocab_size": 257152},
                    "vision_config": {"intermediate_size": 4096, "hidden_size": 1152, "patch_size": 14,
                                      "image_size": 224, "num_hidden_layers": 27, "num_attention_heads": 16,
                                      "vision_use_head": False}},
            towers=(Encoder("vision", "vision_config", _SIGLIP, head="vision_use_head"),
                    Projector("vision projector", (Lin(_V + "hidden_size", "projection_dim", True),)))),
)


# ===== arch: census batch 3 ==================================================================================
def _mla_indexer(b: Build) -> None:
    """DeepSeek-V3.2 sparse attention: MLA plus a lightning indexer per layer (``modeling_deepseek_v32.py``)."""
    c = b.c
    b.attention = replace(b.attention, index_heads=c.int("index_n_heads"), index_head_dim=c.int("index_head_dim"))
    b.mixers = {"full_attention": b.attention}


def _qk_full_if(key: str, kind: str = "rmsnorm"):
    """q/k norms over all heads' width when the config's ``key`` is true (StableLM: per-head LayerNorms
    without bias, as many weights as the full width)."""
    def hook(b: Build) -> None:
        if b.c.bool(key):
            b.mixers = {k: replace(m, qk_norm="full", qk_norm_kind=kind) for k, m in b.mixers.items()}
    return hook


def _stablelm(b: Build) -> None:
    """StableLM: LayerNorms with bias; one norm per layer with use_parallel_residual (``modeling_stablelm.py``)."""
    if b.c.bool("use_parallel_residual"):
        b.norms = 1


def _gpt_neo(b: Build) -> None:
    """GPT-Neo: intermediate_size None is 4 x hidden (``modeling_gpt_neo.py``)."""
    b.mlp = MLP(b.c.int("intermediate_size", 4 * b.hidden), gated=False, bias=True)
    b.nominal["intermediate_size"] = b.mlp.intermediate


def _bigcode(b: Build) -> None:
    """GPT-BigCode (StarCoder 1): multi-query attention (one K/V head) unless multi_query is false."""
    a = b.attention
    if b.c.bool("multi_query"):
        b.attention = replace(a, kv_heads=1)
        b.mixers = {"full_attention": b.attention}
    b.mlp = MLP(b.c.int("n_inner", 4 * b.hidden), gated=False, bias=True)
    b.nominal["intermediate_size"] = b.mlp.intermediate


def _mpt(b: Build) -> None:
    """MPT: MLP of expansion_ratio x d_model; no_bias drops every bias and the LayerNorms' (``modeling_mpt.py``)."""
    c = b.c
    nb = c.bool("no_bias")
    b.mlp = MLP(c.int("expansion_ratio") * b.hidden, gated=False, bias=not nb)
    b.nominal["intermediate_size"] = b.mlp.intermediate
    b.attention = replace(b.attention, qkv_bias=not nb, o_bias=not nb)
    b.mixers = {"full_attention": b.attention}
    b.norm = b.final_norm = "layernorm_nobias" if nb else "layernorm"


def _lfm2(b: Build) -> None:
    """LFM2: gated short-convolution layers between attention layers (layer_types, else full_attn_idxs); the
    feed-forward width is adjusted to 2/3 x multiplier, rounded up to block_multiple_of (``modeling_lfm2.py``);
    the final norm is stored as embedding_norm."""
    c, h, L = b.c, b.hidden, b.layers
    if c.get("layer_types", None) is None:
        full = set(c.int_list("full_attn_idxs", default=list(range(L))))
        b.types = ["full_attention" if i in full else "conv" for i in range(L)]
    b.mixers["conv"] = ShortConv(h, c.int("conv_L_cache"), bias=c.bool("conv_bias"))
    f = b.mlp.intermediate
    if c.bool("block_auto_adjust_ff_dim"):
        f = int(2 * f / 3)
        mult = c.get("block_ffn_dim_multiplier", None)
        if mult is not None:
            if not isinstance(mult, (int, float)) or isinstance(mult, bool) or not 0 < mult < 1e3:
                raise ValueError(f"config field 'block_ffn_dim_multiplier' must be a number in (0, 1000), got {mult!r:.40}")
            m = c.int("block_multiple_of", hi=2**20)
            f = m * ((int(mult * f) + m - 1) // m)
    b.mlp = MLP(f)
    b.nominal["intermediate_size"] = f


def _uniform_heads(b: Build) -> None:
    """Laguna: a config may give heads per layer (num_attention_heads_per_layer); only one width is modelled."""
    per = b.c.get("num_attention_heads_per_layer", None)
    if per is not None and (not isinstance(per, list) or len(set(map(str, per))) > 1):
        raise ValueError("config field 'num_attention_heads_per_layer' with different head counts per layer "
                         "is not modelled (one head count for every layer is)")
    b.mixers = {k: replace(m, head_gate=True) if b.c.bool("gating") else m for k, m in b.mixers.items()}


def _gdn_hybrid(b: Build) -> None:
    """Qwen3.5 / Lara: gated DeltaNet layers (projections split into qkv, z, b, a: the same count as
    Qwen3-Next's fused ones) beside softmax-attention layers."""
    c = b.c
    b.mixers["linear_attention"] = GatedDeltaNet(
        c.int("linear_num_key_heads"), c.int("linear_num_value_heads"), c.int("linear_key_head_dim"),
        c.int("linear_value_head_dim"), c.int("linear_conv_kernel_dim"))


def _qwen3_5_attention(b: Build) -> None:
    """Qwen3.5: the full-attention layers' q_proj also emits the output gate (as Qwen3-Next)."""
    b.attention = replace(b.attention, gate=True)
    b.mixers["full_attention"] = b.attention
    _gdn_hybrid(b)


_LARA_PATTERN = ("linear_attention", "sliding_attention", "linear_attention", "full_attention", "sliding_attention")
_MLA_DEFAULTS = {"hidden_act": "silu", "attention_bias": False, "qk_rope_head_dim": 64}

FAMILIES += (
    Family(("flex_olmo",), "FlexOlmoForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "attention_bias": False, "num_experts": 7, "num_experts_per_tok": 5},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="full", window=None,
           moe=MoEFields(experts=("num_experts", "num_local_experts"), intermediate=None)),
    Family(("minimax_m2",), "MiniMaxM2ForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 196608,
            "tie_word_embeddings": False, "num_local_experts": 256, "num_experts_per_tok": 8},
           qk_norm="full", window=None,
           moe=MoEFields(experts=("num_local_experts", "num_experts"), intermediate=None, router_buffer=True,
                         router_fp32=True)),
    Family(("hy_v3",), "HYV3ForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "num_experts": 192,
            "num_experts_per_tok": 8, "moe_intermediate_size": 1536, "num_shared_experts": 1,
            "first_k_dense_replace": 1},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias", qk_norm="head", window=None,
           moe=MoEFields(experts=("num_experts", "num_local_experts"), shared="num_shared_experts",
                         router_buffer=True, router_fp32=True, layers="mlp_layer_types")),
    Family(("sarvam_moe",), "SarvamMoEForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 64, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "num_experts_per_tok": 6,
            "moe_intermediate_size": 1024, "n_shared_experts": 1, "n_routed_experts": 128,
            "first_k_dense_replace": 1, "use_qk_norm": True},
           qkv_bias="attention_bias", o_bias="attention_bias", window=None, hooks=(_glm4_moe,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", layers="first_k_dense")),
    Family(("laguna",), "LagunaForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": False, "attention_bias": False, "sliding_window": 512, "num_experts": 256,
            "num_experts_per_tok": 8, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
            "gating": True, "first_k_dense_replace": 1},  # mlp_layer_types default: ["dense"] + ["sparse"] * (L - 1)
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", hooks=(_uniform_heads,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"),
                         shared_intermediate="shared_expert_intermediate_size", router_bias=True,
                         layers="mlp_layer_types")),
    # ----- multi-head latent attention -------------------------------------------------------------------------
    Family(("minicpm3",), "MiniCPM3ForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 32768, "tie_word_embeddings": True, "kv_lora_rank": 256,
            "q_lora_rank": 768, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32},
           window=None, hooks=(_mla,)),
    Family(("youtu",), "YoutuForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 131072, "tie_word_embeddings": True, "kv_lora_rank": 512,
            "q_lora_rank": 1536, "v_head_dim": 128, "qk_nope_head_dim": 128},
           window=None, hooks=(_mla,)),
    Family(("glm4_moe_lite",), "Glm4MoeLiteForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 202752, "tie_word_embeddings": False,
            "num_experts_per_tok": 4, "moe_intermediate_size": 1536, "n_shared_experts": 1, "n_routed_experts": 64,
            "kv_lora_rank": 512, "q_lora_rank": 768, "v_head_dim": 256, "qk_nope_head_dim": 192,
            "first_k_dense_replace": 1},
           window=None, hooks=(_mla,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers="mlp_layer_types")),
    Family(("sarvam_mla",), "SarvamMLAForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "n_shared_experts": 1, "n_routed_experts": 128,
            "first_k_dense_replace": 1, "kv_lora_rank": 512, "q_lora_rank": None, "v_head_dim": 128,
            "qk_nope_head_dim": 128},
           window=None, hooks=(_mla,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", layers="first_k_dense")),
    Family(("deepseek_v32",), "DeepseekV32ForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 163840, "tie_word_embeddings": False,
            "moe_intermediate_size": 2048, "num_experts_per_tok": 8, "n_shared_experts": 1, "n_routed_experts": 256,
            "first_k_dense_replace": 3, "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": 1536,
            "qk_nope_head_dim": 128, "v_head_dim": 128, "index_head_dim": 128, "index_n_heads": 64},
           window=None, allowed_types=("full_attention", "indexed_attention"), hooks=(_mla, _mla_indexer),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers="mlp_layer_types")),
    # ----- GPT-style ----------------------------------------------------------------------------------------------
    Family(("gpt_bigcode",), "GPTBigCodeForCausalLM",
           {"n_positions": 1024, "activation_function": "gelu_pytorch_tanh", "tie_word_embeddings": True,
            "multi_query": True},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "", "intermediate_size": "", "max_position_embeddings": "n_positions"},
           norm="layernorm", qkv_bias=True, o_bias=True, gated=False, fused_qkv=True, window=None,
           learned_positions="n_positions", hooks=(_bigcode,)),
    Family(("gpt_neo",), "GPTNeoForCausalLM",
           {"max_position_embeddings": 2048, "tie_word_embeddings": True, "activation_function": "gelu_new",
            "window_size": 256},
           names={"num_hidden_layers": "num_layers", "num_attention_heads": "num_heads", "num_key_value_heads": "",
                  "intermediate_size": "", "hidden_act": "activation_function"},
           norm="layernorm", o_bias=True, gated=False, window=None, learned_positions="max_position_embeddings",
           hooks=(_gpt_neo,)),
    Family(("openai-gpt",), "OpenAIGPTLMHeadModel",
           {"n_positions": 512, "afn": "gelu", "tie_word_embeddings": True},
           names={"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                  "num_key_value_heads": "", "intermediate_size": "", "max_position_embeddings": "n_positions",
                  "hidden_act": "afn"},
           norm="layernorm", qkv_bias=True, o_bias=True, gated=False, fused_qkv=True, window=None, final_norm=None,
           learned_positions="n_positions", hooks=(_inner_4h(""),)),
    Family(("mpt",), "MptForCausalLM",
           {"expansion_ratio": 4, "max_seq_len": 2048, "tie_word_embeddings": True, "no_bias": True},
           names={"hidden_size": "d_model", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                  "num_key_value_heads": "", "intermediate_size": "", "max_position_embeddings": "max_seq_len"},
           norm="layernorm", gated=False, fused_qkv=True, window=None, hooks=(_mpt,)),
    Family(("persimmon",), "PersimmonForCausalLM",
           {"hidden_act": "relu2", "max_position_embeddings": 16384, "tie_word_embeddings": False,
            "qk_layernorm": True},
           names={"num_key_value_heads": ""}, norm="layernorm", qkv_bias=True, o_bias=True, mlp_bias=True,
           gated=False, fused_qkv=True, window=None, hooks=(_phi,)),
    Family(("stablelm",), "StableLmForCausalLM",
           {"num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "qk_layernorm": False, "use_qkv_bias": False,
            "use_parallel_residual": False},
           norm="layernorm", qkv_bias="use_qkv_bias", window=None,
           hooks=(_qk_full_if("qk_layernorm", "layernorm_nobias"), _stablelm)),
    Family(("xglm",), "XGLMForCausalLM",
           {"max_position_embeddings": 2048, "tie_word_embeddings": True, "activation_function": "gelu"},
           names={"hidden_size": "d_model", "num_hidden_layers": "num_layers", "num_attention_heads": "attention_heads",
                  "num_key_value_heads": "", "intermediate_size": "ffn_dim", "hidden_act": "activation_function"},
           norm="layernorm", qkv_bias=True, o_bias=True, mlp_bias=True, gated=False, window=None),
    # ----- hybrids -------------------------------------------------------------------------------------------------
    Family(("lfm2",), "Lfm2ForCausalLM",
           {"num_key_value_heads": 8, "max_position_embeddings": 128000, "tie_word_embeddings": True,
            "conv_bias": False, "conv_L_cache": 3, "block_multiple_of": 256, "block_ffn_dim_multiplier": 1.0,
            "block_auto_adjust_ff_dim": True},
           qk_norm="head", window=None, allowed_types=("full_attention", "conv"), hooks=(_lfm2,)),
    Family(("qwen3_5_text",), "Qwen3_5ForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 256, "hidden_act": "silu", "max_position_embeddings": 32768,
            "tie_word_embeddings": False, "attention_bias": False, "linear_conv_kernel_dim": 4,
            "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
            "linear_num_value_heads": 32, "full_attention_interval": 4},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", window=None,
           allowed_types=("full_attention", "linear_attention"),
           layer_types=_types_rule("full_attention", "linear_attention", "full_attention_interval", 4),
           hooks=(_qwen3_5_attention,)),
    Family(("qwen3_5_moe_text",), "Qwen3_5MoeForCausalLM",
           {"num_key_value_heads": 2, "head_dim": 256, "hidden_act": "silu", "max_position_embeddings": 32768,
            "tie_word_embeddings": False, "attention_bias": False, "num_experts": 256, "num_experts_per_tok": 8,
            "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512, "linear_conv_kernel_dim": 4,
            "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
            "linear_num_value_heads": 32, "full_attention_interval": 4},
           names={"intermediate_size": ""}, qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head",
           window=None, allowed_types=("full_attention", "linear_attention"),
           layer_types=_types_rule("full_attention", "linear_attention", "full_attention_interval", 4),
           hooks=(_qwen3_5_attention,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"),
                         shared_intermediate="shared_expert_intermediate_size", shared_gate=True)),
    Family(("lara_mini",), "LaraMiniForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "tie_word_embeddings": True, "attention_bias": False, "sliding_window": 512, "num_experts": 128,
            "num_experts_per_tok": 4, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
            "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
            "linear_num_key_heads": 8, "linear_num_value_heads": 16},
           names={"intermediate_size": ""}, qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head",
           allowed_types=("full_attention", "sliding_attention", "linear_attention"),
           layer_types=lambda c, L: [_LARA_PATTERN[i % 5] for i in range(L)], hooks=(_gdn_hybrid,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"),
                         shared_intermediate="shared_expert_intermediate_size")),
)


# ===== arch: census batch 4 (Mamba-2 hybrids and the rest) ===================================================
def _mamba2_of(c, h: int, heads: str, head_dim: str, state: str, groups: str, conv: str, conv_bias: str,
               proj_bias: str, expand: str = "") -> Mamba2:
    """A Mamba-2 mixer from a hybrid's field names; head_dim "auto" is expand x hidden / heads."""
    n = c.int(heads)
    hd = c.get(head_dim)
    hd = c.int(expand, 2) * h // n if hd == "auto" else c.int(head_dim)
    return Mamba2(n, hd, c.int(state), c.int(groups), c.int(conv), conv_bias=c.bool(conv_bias),
                  proj_bias=c.bool(proj_bias))


def _bamba(b: Build) -> None:
    """Bamba: Mamba-2 layers except attn_layer_indices; each layer also has a gated MLP (``modeling_bamba.py``)."""
    c = b.c
    attn = set(c.int_list("attn_layer_indices", lo=0, hi=MAX_LAYERS, default=[]))
    b.types = ["full_attention" if i in attn else "mamba" for i in range(b.layers)]
    b.mixers["mamba"] = _mamba2_of(c, b.hidden, "mamba_n_heads", "mamba_d_head", "mamba_d_state", "mamba_n_groups",
                                   "mamba_d_conv", "mamba_conv_bias", "mamba_proj_bias", "mamba_expand")


def _granite_hybrid(b: Build) -> None:
    """Granite 4.0 (GraniteMoeHybrid): Mamba-2 ("mamba") or attention layers, each with the MoE and a shared
    gated MLP of shared_intermediate_size; without experts the shared MLP alone (``modeling_granitemoehybrid.py``)."""
    c = b.c
    types = c.str_list("layer_types", b.layers, {"mamba", "attention", "linear_attention", "full_attention"})
    types = types or ["mamba"] * b.layers
    b.types = ["full_attention" if t in ("attention", "full_attention") else "mamba" for t in types]
    b.mixers["mamba"] = _mamba2_of(c, b.hidden, "mamba_n_heads", "mamba_d_head", "mamba_d_state", "mamba_n_groups",
                                   "mamba_d_conv", "mamba_conv_bias", "mamba_proj_bias", "mamba_expand")
    if b.moe is None:
        b.mlp = MLP(c.int("shared_intermediate_size"))
        b.nominal["intermediate_size"] = b.mlp.intermediate


_NEMOTRON_PATTERN = {"M": "mamba", "E": "moe", "*": "full_attention", "-": "mlp"}
_NEMOTRON_TYPES = {"linear_attention": "mamba", "mamba": "mamba", "moe": "moe", "full_attention": "full_attention",
                   "attention": "full_attention", "mlp": "mlp"}


def _nemotron_h(b: Build) -> None:
    """Nemotron-H: each layer is one of Mamba-2, attention, MoE or MLP (``layers_block_type``, or the
    published ``hybrid_override_pattern`` string M/*/E/-), with one norm; MLP and experts are plain
    (relu2) (``modeling_nemotron_h.py``)."""
    c, L = b.c, b.layers
    pattern = c.get("hybrid_override_pattern", None)
    if isinstance(pattern, str) and c.get("layers_block_type", None) is None:
        if len(pattern) != L or any(ch not in _NEMOTRON_PATTERN for ch in pattern):
            raise ValueError(f"config field 'hybrid_override_pattern' must be {L} characters of M, *, E, -")
        types = [_NEMOTRON_PATTERN[ch] for ch in pattern]
    else:
        listed = c.str_list("layers_block_type", L, set(_NEMOTRON_TYPES)) or ["mamba"] * L
        types = [_NEMOTRON_TYPES[t] for t in listed]
    b.types = [t if t in ("mamba", "full_attention") else "ffn_" + t for t in types]
    b.mixers["full_attention"] = replace(b.attention, rope=False)  # NemotronHAttention applies no RoPE
    b.mixers["mamba"] = _mamba2_of(c, b.hidden, "mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups",
                                   "conv_kernel", "use_conv_bias", "mamba_proj_bias")
    b.mixers["ffn_moe"] = b.mixers["ffn_mlp"] = None
    b.mlp = MLP(c.int("intermediate_size"), gated=False, bias=c.bool("mlp_bias"))
    moe = None
    if "moe" in types:
        shared = MLP(c.int("moe_shared_expert_intermediate_size"), gated=False) if c.int(
            "n_shared_experts", 0, lo=0) else None
        moe = MoE(c.int("n_routed_experts"), c.int("num_experts_per_tok"), c.int("moe_intermediate_size"),
                  gated=False, shared=shared, router_buffer=True, router_fp32=True)
        b.moe = moe
    b.ffn_by_layer = [b.mlp if t == "mlp" else moe if t == "moe" else None for t in types]


def _nemotron_layers(raw: dict) -> dict:
    """Nemotron-H's num_hidden_layers is the length of its layer pattern (a property of NemotronHConfig)."""
    if raw.get("num_hidden_layers") is not None:
        return raw
    listed = raw.get("layers_block_type") or raw.get("hybrid_override_pattern")
    return {**raw, "num_hidden_layers": len(listed)} if isinstance(listed, (list, str)) else raw


def _neox_japanese(b: Build) -> None:
    """GPT-NeoX-Japanese: plain MLP of intermediate_multiple_size x hidden without biases; only the last
    layer's attention output has a bias (``modeling_gpt_neox_japanese.py``: use_bias on the last layer)."""
    c = b.c
    b.mlp = MLP(c.int("intermediate_multiple_size") * b.hidden, gated=False)
    b.nominal["intermediate_size"] = b.mlp.intermediate
    b.types = ["full_attention"] * (b.layers - 1) + ["last_attention"]
    b.mixers["last_attention"] = replace(b.attention, o_bias=True)


def _olmo_hybrid(b: Build) -> None:
    """OLMo-Hybrid: gated DeltaNet layers (separate q/k/v/g/a/b projections, the same count as the fused
    ones) beside OLMo-2 attention layers; linear widths default from the heads (``configuration_olmo_hybrid.py``)."""
    c, h = b.c, b.hidden
    heads = b.attention.heads
    kh = c.int("linear_num_key_heads", heads)
    vh = c.int("linear_num_value_heads", heads)
    kd = c.int("linear_key_head_dim", int(0.75 * h / kh))
    vd = c.int("linear_value_head_dim", 2 * kd)
    b.mixers["linear_attention"] = GatedDeltaNet(kh, vh, kd, vd, c.int("linear_conv_kernel_dim"))


def _olmo_hybrid_types(c, L: int) -> list[str]:
    types = ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(L)]
    if "full_attention" not in types:
        types[-1] = "full_attention"
    return types


_MAMBA2_HYBRID = {"mamba_n_heads": 128, "mamba_d_head": "auto", "mamba_n_groups": 1, "mamba_d_state": 256,
                  "mamba_d_conv": 4, "mamba_expand": 2, "mamba_conv_bias": True, "mamba_proj_bias": False}

FAMILIES += (
    _llama_like(("bamba",), "BambaForCausalLM",
                {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 262144,
                 "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, **_MAMBA2_HYBRID},
                window=None, allowed_types=("full_attention", "mamba"), hooks=(_bamba,)),
    Family(("granitemoehybrid",), "GraniteMoeHybridForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False, "num_local_experts": 8, "num_experts_per_tok": 2, "shared_intermediate_size": 1024,
            **_MAMBA2_HYBRID},
           qkv_bias="attention_bias", o_bias="attention_bias", window=None,
           allowed_types=("full_attention", "mamba", "attention", "linear_attention"), hooks=(_granite_hybrid,),
           moe=MoEFields(intermediate=None, shared_intermediate="shared_intermediate_size")),
    Family(("nemotron_h",), "NemotronHForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "attention_bias": False, "mlp_bias": False, "num_experts_per_tok": 2, "moe_intermediate_size": 7688,
            "n_shared_experts": 1, "n_routed_experts": 8, "mlp_hidden_act": "relu2", "ssm_state_size": 128,
            "mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8, "conv_kernel": 4, "use_conv_bias": True,
            "mamba_proj_bias": False, "moe_shared_expert_intermediate_size": 7688},
           names={"intermediate_size": "", "hidden_act": "mlp_hidden_act"}, qkv_bias="attention_bias",
           o_bias="attention_bias", norms=1, window=None, allowed_types=("full_attention",), hooks=(_nemotron_h,),
           prepare=_nemotron_layers),
    Family(("gpt_neox_japanese",), "GPTNeoXJapaneseForCausalLM",
           {"hidden_act": "gelu", "max_position_embeddings": 2048, "tie_word_embeddings": True,
            "intermediate_multiple_size": 4},
           names={"num_key_value_heads": "", "intermediate_size": ""}, norm="layernorm", fused_qkv=True,
           window=None, hooks=(_neox_japanese,)),
    Family(("olmo_hybrid",), "OlmoHybridForCausalLM",
           {"hidden_act": "silu", "max_position_embeddings": 65536, "tie_word_embeddings": False,
            "attention_bias": False, "linear_conv_kernel_dim": 4},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="full", window=None,
           allowed_types=("full_attention", "linear_attention"), layer_types=_olmo_hybrid_types,
           hooks=(_olmo_hybrid,)),
)


def _mimo_v2(b: Build) -> None:
    """MiMo-V2-Flash: value heads of v_head_dim; sliding layers have twice the KV heads and sinks
    (``modeling_mimo_v2_flash.py``: num_key_value_heads * 2 if is_swa)."""
    a = replace(b.attention, v_head_dim=b.c.int("v_head_dim"), o_bias=False)
    b.attention = a
    b.mixers["full_attention"] = a
    w = b.c.opt_int("sliding_window", hi=2**31)
    b.mixers["sliding_attention"] = replace(a, kv_heads=2 * a.kv_heads, sinks=True, window=w)


def _beam(b: Build) -> None:
    """Beam: a sigmoid output gate of the query width (gate_proj) with a bias per head (``modeling_beam.py``)."""
    b.mixers = {k: replace(m, gate=True, gate_bias=True) for k, m in b.mixers.items()}
    b.attention = b.mixers["full_attention"]


FAMILIES += (
    Family(("glm_moe_dsa",), "GlmMoeDsaForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 202752, "tie_word_embeddings": False, "mlp_bias": False,
            "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "n_shared_experts": 1, "n_routed_experts": 256,
            "first_k_dense_replace": 3, "kv_lora_rank": 512, "q_lora_rank": 2048, "v_head_dim": 256,
            "qk_nope_head_dim": 192, "index_head_dim": 128, "index_n_heads": 32},
           window=None, allowed_types=("full_attention", "indexed_attention"), hooks=(_mla, _mla_indexer),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers="mlp_layer_types")),
    Family(("kolibri1",), "Kolibri1ForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 262144,
            "tie_word_embeddings": False, "sliding_window": 513, "num_experts": 384, "num_experts_per_tok": 6,
            "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512},
           names={"intermediate_size": ""}, qk_norm="head", norms=4,
           moe=MoEFields(experts=("num_experts", "num_local_experts"),
                         shared_intermediate="shared_expert_intermediate_size", router_buffer=True, router_fp32=True)),
    Family(("mimo_v2_flash",), "MiMoV2FlashForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 192, "v_head_dim": 128, "hidden_act": "silu",
            "max_position_embeddings": 131072, "tie_word_embeddings": False, "attention_bias": False,
            "sliding_window": 129, "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "n_routed_experts": 256,
            "first_k_dense_replace": 1},
           qkv_bias="attention_bias",
           layer_types=lambda c, L: ["full_attention" if i == 0 or not (i + 1) % 6 else "sliding_attention"
                                     for i in range(L)],
           hooks=(_mimo_v2,),
           moe=MoEFields(experts=("n_routed_experts",), router_buffer=True, router_fp32=True,
                         layers="mlp_layer_types")),
    Family(("beam",), "BeamForCausalLM",
           {"num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 8192,
            "tie_word_embeddings": False, "attention_bias": False, "sliding_window": 512, "num_experts": 256,
            "num_experts_per_tok": 8, "moe_intermediate_size": 2560, "first_k_dense_replace": 3},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", norms=4,
           layer_types=every_nth_full("", 6), hooks=(_beam,),
           moe=MoEFields(experts=("num_experts", "num_local_experts"), router_buffer=True, router_fp32=True,
                         layers="mlp_layer_types")),
)


# Qwen3.5 composite configs without architectures: AutoModelForCausalLM builds Qwen3_5(Moe)ForCausalLM on the
# text_config alone (no vision tower), as for llama4 above; a config naming the vision-language class is refused
# (registry.family_of) rather than counted without its tower.
_QWEN3_5_FAMILY = next(f for f in FAMILIES if f.model_types == ("qwen3_5_text",))
_QWEN3_5_MOE_FAMILY = next(f for f in FAMILIES if f.model_types == ("qwen3_5_moe_text",))
WRAPPERS += (
    Wrapper(("qwen3_5",), "Qwen3_5ForCausalLM", "qwen3_5_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN3_5_FAMILY.defaults, text_family=_QWEN3_5_FAMILY),
    Wrapper(("qwen3_5_moe",), "Qwen3_5MoeForCausalLM", "qwen3_5_moe_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN3_5_MOE_FAMILY.defaults, text_family=_QWEN3_5_MOE_FAMILY),
    # Qwen3-VL-MoE (modeling_qwen3_vl_moe.py): Qwen3-VL's towers, a Qwen3-MoE decoder
    Wrapper(("qwen3_vl_moe",), "Qwen3VLMoeForConditionalGeneration", "qwen3_vl_moe_text",
            {"tie_word_embeddings": False}, text_defaults=_QWEN3_MOE_TEXT, sub_defaults={"vision_config": _QWEN3_VISION},
            text_family=_QWEN3_MOE_TEXT_FAMILY, towers=_QWEN3_VL_TOWERS),
    Wrapper(("qwen3_vl_moe_text",), "Qwen3VLMoeTextModel", "qwen3_vl_moe_text", {"tie_word_embeddings": False},
            text_defaults=_QWEN3_MOE_TEXT, text_key=None, text_family=_QWEN3_MOE_TEXT_FAMILY),
)


# Emu3 (modeling_emu3.py): a Llama-shaped text decoder; AutoModelForCausalLM builds Emu3ForCausalLM on the
# composite config's text_config alone (the VQ-VAE image tokenizer belongs to Emu3ForConditionalGeneration,
# which is refused: towers not modelled).
_EMU3_TEXT = _llama_like(("emu3_text_model",), "Emu3TextModel",
                         {"num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 9216,
                          "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}, window=None)
FAMILIES += (_EMU3_TEXT,)
WRAPPERS += (
    Wrapper(("emu3",), "Emu3ForCausalLM", "emu3_text_model", {"tie_word_embeddings": False},
            text_defaults=_EMU3_TEXT.defaults, text_family=_EMU3_TEXT),
)


def _flint_types(c, L: int) -> list[str]:
    """Flint: full attention on the first two layers, every fourth layer (i % 4 == 1) and the last; sliding
    elsewhere (``configuration_flint.py`` __post_init__)."""
    return ["full_attention" if i < 2 or i % 4 == 1 or i == L - 1 else "sliding_attention" for i in range(L)]


FAMILIES += (
    # Flint (modeling_flint.py): Qwen2-MoE-shaped experts with an ungated shared expert, dense MLPs on
    # mlp_only_layers (class default [0, 1]), per-head q/k norms and attention sinks on every layer
    Family(("flint",), "FlintForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 262144,
            "tie_word_embeddings": False, "attention_bias": False, "sliding_window": 513, "decoder_sparse_step": 1,
            "moe_intermediate_size": 512, "shared_expert_intermediate_size": 1024, "num_experts_per_tok": 6,
            "num_experts": 256, "mlp_only_layers": [0, 1]},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head", sinks=True,
           layer_types=_flint_types,
           moe=MoEFields(experts=("num_experts",), shared_intermediate="shared_expert_intermediate_size",
                         layers="sparse_step")),
)


def _lfm3_types(c, L: int) -> list[str]:
    """LFM3: full attention at i % 4 == 2, sliding at i % 4 == 0 (i > 0), short convolutions elsewhere
    (``configuration_lfm3.py`` __post_init__)."""
    return ["full_attention" if i % 4 == 2 else "sliding_attention" if i % 4 == 0 and i > 0 else "conv"
            for i in range(L)]


def _lfm3(b: Build) -> None:
    """LFM3 (``modeling_lfm3.py``): LFM2's gated short convolutions; attention with a per-head output gate
    (g_proj: heads x hidden) when use_attention_gate; post-mixer and post-MLP norms when use_sandwich_norm."""
    c = b.c
    if c.bool("use_attention_gate"):
        b.mixers = {k: replace(m, head_gate=True) for k, m in b.mixers.items()}
        b.attention = b.mixers.get("full_attention", b.attention)
    b.mixers["conv"] = ShortConv(b.hidden, c.int("conv_L_cache"), bias=c.bool("conv_bias"))
    b.norms = 4 if c.bool("use_sandwich_norm") else 2


FAMILIES += (
    Family(("lfm3",), "Lfm3ForCausalLM",
           {"num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 128000, "tie_word_embeddings": True,
            "conv_bias": False, "conv_L_cache": 7, "sliding_window": 256, "use_sandwich_norm": True,
            "use_attention_gate": True, "attention_bias": False},
           qkv_bias="attention_bias", o_bias="attention_bias", qk_norm="head",
           allowed_types=("full_attention", "sliding_attention", "conv"), layer_types=_lfm3_types, hooks=(_lfm3,)),
)


# ===== arch: parallel hybrids (attention and a Mamba-2 mixer side by side in every layer) =======================
def _falcon_h1(b: Build) -> None:
    """Falcon-H1: every layer runs attention and a Mamba-2 mixer in parallel on the input norm's output, then
    the gated MLP (``modeling_falcon_h1.py`` FalconH1DecoderLayer). The mixer's width is ``mamba_d_ssm`` (else
    mamba_expand x hidden), its head size ``mamba_d_head`` ("auto": width / heads); in_proj's bias is
    mamba_proj_bias, out_proj's projectors_bias; the gated RMSNorm only with mamba_rms_norm. The muP vector is a
    non-persistent buffer (neither parameter nor checkpoint tensor)."""
    c, h = b.c, b.hidden
    width = c.opt_int("mamba_d_ssm") or c.int("mamba_expand") * h  # null: expand x hidden (the config class)
    heads = c.int("mamba_n_heads")
    hd = width // heads if c.get("mamba_d_head") == "auto" else c.int("mamba_d_head")
    if hd * heads != width:
        raise ValueError(f"mamba_d_head x mamba_n_heads ({hd} x {heads}) must equal the Mamba width ({width}: "
                         "mamba_d_ssm, else mamba_expand x hidden_size)")
    b.types = ["full_attention"] * b.layers
    b.parallel["full_attention"] = Mamba2(heads, hd, c.int("mamba_d_state"), c.int("mamba_n_groups"),
                                          c.int("mamba_d_conv"), conv_bias=c.bool("mamba_conv_bias"),
                                          proj_bias=c.bool("mamba_proj_bias"), gated_norm=c.bool("mamba_rms_norm"),
                                          d_inner_override=width, out_bias=c.bool("projectors_bias"))


FAMILIES += (
    _llama_like(("falcon_h1",), "FalconH1ForCausalLM",
                {"vocab_size": 128000, "tie_word_embeddings": False, "hidden_size": 4096, "intermediate_size": 14336,
                 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
                 "max_position_embeddings": 8192, "mamba_d_ssm": 1024, "mamba_n_heads": 128, "mamba_d_head": "auto",
                 "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_expand": 2,
                 "mamba_chunk_size": 256, "mamba_conv_bias": True, "mamba_proj_bias": False,
                 "mamba_norm_before_gate": True, "mamba_rms_norm": False, "projectors_bias": False,
                 "attention_bias": False, "mlp_bias": False},
                window=None, allowed_types=("full_attention", "hybrid"), hooks=(_falcon_h1,)),
)


def _doge(b: Build) -> None:
    """Doge (``modeling_doge.py``): every layer also stores two residual scales of hidden width
    (input_residual, post_attention_residual) and its attention a dynamic-mask vector A of kv heads and a
    dt_proj (kv width -> kv heads). The cross-domain MoE (is_moe) is not modelled: refused."""
    if b.c.bool("is_moe"):
        raise ValueError("Doge with is_moe=true (cross-domain MoE) is not modelled; set is_moe false or use the "
                         "parameter count of its safetensors header")
    a, h = b.attention, b.hidden
    bias = a.qkv_bias
    b.block_extra = [T("input_residual", (h,), "other"), T("post_attention_residual", (h,), "other"),
                     T("self_attn.A", (a.kv_heads,), "attention"),
                     T("self_attn.dt_proj.weight", (a.kv_heads, a.kv_width), "attention", linear=True)]
    if bias:
        b.block_extra.append(T("self_attn.dt_proj.bias", (a.kv_heads,), "attention"))


FAMILIES += (
    Family(("doge",), "DogeForCausalLM",
           {"hidden_act": "silu", "tie_word_embeddings": False, "max_position_embeddings": 2048,
            "attention_bias": False, "mlp_bias": False, "sliding_window": None, "keep_window_size": 2048,
            "is_moe": False},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias", qk_norm="head", window=None,
           hooks=(_doge,)),
)


def _modernbert_decoder(b: Build) -> None:
    """ModernBERT-decoder (``modeling_modernbert_decoder.py``): LayerNorms without bias unless norm_bias, one after
    the embeddings; layer 0 has no attention norm (Identity), so it is its own layer kind with one norm; sliding
    layers keep local_attention // 2 positions (the config class's sliding_window); the head is a dense + norm
    transform before the (tied) decoder with its vocabulary bias (decoder_bias)."""
    c, h = b.c, b.hidden
    kind = "layernorm" if c.bool("norm_bias") else "layernorm_nobias"
    b.norm = b.final_norm = b.embed_norm = kind
    local = c.opt_int("local_attention", hi=2**31)
    a = b.attention
    b.mixers = {"full_attention": replace(a, window=None),
                "sliding_attention": replace(a, window=local // 2 if local else None)}
    first = b.types[0]
    b.types = ["first_" + first] + b.types[1:]
    b.mixers["first_" + first] = b.mixers[first]
    b.norms_by_type["first_" + first] = 1
    b.extra += [T("lm_head.dense.weight", (h, h), "other", linear=True), T("lm_head.norm.weight", (h,), "norms")]
    if c.bool("classifier_bias"):
        b.extra.append(T("lm_head.dense.bias", (h,), "other"))
    if kind == "layernorm":
        b.extra.append(T("lm_head.norm.bias", (h,), "norms"))
    b.head_bias = c.bool("decoder_bias")


def _modernbert_types(c, L: int) -> list[str]:
    """Full attention every global_attn_every_n_layers-th layer from layer 0, sliding elsewhere."""
    n = c.int("global_attn_every_n_layers", 3, hi=MAX_LAYERS)
    return ["sliding_attention" if i % n else "full_attention" for i in range(L)]


FAMILIES += (
    Family(("modernbert-decoder",), "ModernBertDecoderForCausalLM",
           {"hidden_activation": "gelu", "max_position_embeddings": 8192, "norm_bias": False, "attention_bias": False,
            "mlp_bias": False, "decoder_bias": True, "classifier_bias": False, "local_attention": 128,
            "tie_word_embeddings": True, "global_attn_every_n_layers": 3},
           names={"num_key_value_heads": "", "hidden_act": "hidden_activation"},
           qkv_bias="attention_bias", o_bias="attention_bias", mlp_bias="mlp_bias", norm="layernorm", window=None,
           layer_types=_modernbert_types, hooks=(_modernbert_decoder,)),
)


# ----- BART-style decoders: learned positions offset by 2, post-attention LayerNorms with biases ------------------
def _trocr(b: Build) -> None:
    """TrOCR's decoder (``modeling_trocr.py``): learned positions (offset 2) unless use_learned_position_embeddings
    is off (then sinusoidal, a buffer), a LayerNorm after the embeddings when layernorm_embedding, no final norm.
    TrOCRForCausalLM sets is_decoder, so every layer also stores a cross-attention over the image encoder (keys and
    values from cross_attention_hidden_size, else d_model; biased) and its LayerNorm, kept as stored tensors of the
    layer: in weights and, like every layer tensor, in the per-token matmul FLOPs (an upper bound: a causal LM
    alone never runs them; fed by an encoder, q and out run per token), but no KV cache of their own."""
    c, h = b.c, b.hidden
    if not c.bool("use_learned_position_embeddings"):
        b.learned_positions = 0
    if c.bool("layernorm_embedding"):
        b.embed_norm = "layernorm"
    kv = c.opt_int("cross_attention_hidden_size") or h
    b.block_extra = _cross_attention("encoder_attn", h, kv, ("q_proj", "k_proj", "v_proj", "out_proj"),
                                     "encoder_attn_layer_norm")


def _cross_attention(prefix: str, h: int, kv: int, names: tuple[str, str, str, str], norm: str) -> list[T]:
    """A biased cross-attention (query from the decoder's width h, key and value from the encoder's width kv, output
    back to h) and its LayerNorm, as stored tensors of a decoder layer."""
    q, k, v, o = names
    out = []
    for name, d_in in ((q, h), (k, kv), (v, kv), (o, h)):
        out += [T(f"{prefix}.{name}.weight", (h, d_in), "attention", linear=True),
                T(f"{prefix}.{name}.bias", (h,), "attention")]
    return out + [T(f"{norm}.weight", (h,), "norms"), T(f"{norm}.bias", (h,), "norms")]


def _bert_generation(b: Build) -> None:
    """BertGenerationDecoder (``modeling_bert_generation.py``): BERT layers (post-LN: a LayerNorm after the attention
    output and one after the MLP output, no final norm), a LayerNorm after the word + position embeddings, the
    tied decoder's vocabulary bias; add_cross_attention adds a cross-attention (hidden_size wide) per layer. The
    decoder's own bias is tied to lm_head.bias only with tie_word_embeddings (``_tied_weights_keys``), so an untied
    head stores two vocabulary biases."""
    h = b.hidden
    b.embed_norm = "layernorm"
    if not b.tied:
        b.extra.append(T("lm_head.decoder.bias", (b.vocab,), "output_head"))
    if b.c.bool("add_cross_attention"):
        b.block_extra = _cross_attention("crossattention", h, h, ("self.query", "self.key", "self.value",
                                                                    "output.dense"), "crossattention.output.LayerNorm")


FAMILIES += (
    # BioGPT (modeling_biogpt.py): OPT-shaped pre-LN decoder, learned positions offset by 2, a final LayerNorm
    Family(("biogpt",), "BioGptForCausalLM",
           {"hidden_act": "gelu", "max_position_embeddings": 1024, "tie_word_embeddings": True},
           names={"num_key_value_heads": ""}, qkv_bias=True, o_bias=True, mlp_bias=True, gated=False,
           norm="layernorm", window=None, learned_positions="max_position_embeddings", positions_offset=2),
    Family(("trocr",), "TrOCRForCausalLM",
           {"activation_function": "gelu", "max_position_embeddings": 512, "use_learned_position_embeddings": True,
            "layernorm_embedding": True, "cross_attention_hidden_size": None, "tie_word_embeddings": True},
           names={"hidden_size": "d_model", "num_hidden_layers": "decoder_layers",
                  "num_attention_heads": "decoder_attention_heads", "num_key_value_heads": "",
                  "intermediate_size": "decoder_ffn_dim", "hidden_act": "activation_function"},
           field_aliases={"hidden_size": "d_model", "num_hidden_layers": "decoder_layers",
                          "num_attention_heads": "decoder_attention_heads"},
           qkv_bias=True, o_bias=True, mlp_bias=True, gated=False, norm="layernorm", final_norm=None, window=None,
           learned_positions="max_position_embeddings", positions_offset=2, hooks=(_trocr,)),
    Family(("bert-generation",), "BertGenerationDecoder",
           {"hidden_act": "gelu", "max_position_embeddings": 512, "add_cross_attention": False,
            "tie_word_embeddings": True},
           names={"num_key_value_heads": ""}, qkv_bias=True, o_bias=True, mlp_bias=True, gated=False,
           norm="layernorm", final_norm=None, window=None, head_bias=True, learned_positions="max_position_embeddings",
           hooks=(_bert_generation,)),
)


# Fuyu (modeling_fuyu.py): a Persimmon decoder fed image patches through one biased Linear (patch_size x patch_size x
# num_channels -> hidden), no vision encoder. Hub configs (adept/fuyu-8b) are flat: the decoder's fields sit at the
# top level (FuyuConfig.__post_init__ moves them into text_config); an absent text config is its init_kwargs.
_FUYU_TEXT = {"vocab_size": 262144, "max_position_embeddings": 16384, "hidden_size": 4096, "intermediate_size": 16384,
              "num_hidden_layers": 36, "num_attention_heads": 64, "hidden_act": "relu2", "qk_layernorm": True}
WRAPPERS += (
    Wrapper(("fuyu",), "FuyuForCausalLM", "persimmon",
            {"image_size": 300, "patch_size": 30, "num_channels": 3, "tie_word_embeddings": False},
            text_defaults=_FUYU_TEXT, absent={"text_config": None},
            towers=(Projector("patch embedding", (Lin("patch_size*patch_size*num_channels", "text.hidden", True),)),)),
)


def _axk1_moe_layers(c, L: int) -> list[bool]:
    """A.X-K1: mlp_layer_types, else the legacy first_k_dense_replace (default 1) and moe_layer_freq
    (``configuration_axk1.py`` __post_init__: sparse where i >= first and i % freq == 0)."""
    types = c.str_list("mlp_layer_types", L, {"dense", "sparse"})
    if types is not None:
        return [t == "sparse" for t in types]
    first = c.int("first_k_dense_replace", 1, lo=0, hi=MAX_LAYERS)
    freq = c.int("moe_layer_freq", 1, hi=MAX_LAYERS)
    return [i >= first and i % freq == 0 for i in range(L)]


FAMILIES += (
    # A.X-K1 (modeling_axk1.py): DeepSeek-V3's MLA and MoE (sigmoid router with its score-correction buffer, one
    # shared expert) with one more RMSNorm on every MoE block's output (post_mlp_layernorm)
    Family(("axk1",), "AXK1ForCausalLM",
           {**_MLA_DEFAULTS, "max_position_embeddings": 32768, "tie_word_embeddings": False, "n_shared_experts": 1,
            "n_routed_experts": 192, "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "kv_lora_rank": 512,
            "q_lora_rank": 1536, "v_head_dim": 128, "qk_nope_head_dim": 128},
           field_aliases={"num_local_experts": "n_routed_experts"}, window=None, hooks=(_mla,),
           moe=MoEFields(experts=("n_routed_experts",), shared="n_shared_experts", router_buffer=True,
                         router_fp32=True, layers=_axk1_moe_layers, post_norm="rmsnorm")),
)


def _cpmant(b: Build) -> None:
    """CPM-Ant (``modeling_cpmant.py``): the input embedding also holds prompt_types x prompt_length prompt rows, a
    segment embedding, and one relative-position bias table (segment_types^2 + position_bias_num_buckets rows per
    head) shared by all layers; the LM head is its own vocab_size-row matrix, never tied (``_tied_weights_keys`` is
    empty whatever tie_word_embeddings says)."""
    c, h = b.c, b.hidden
    prompts = c.int("prompt_types", lo=0) * c.int("prompt_length", lo=0)
    segments = c.int("segment_types")
    b.tied = False
    b.extra += [T("input_embedding.prompt_rows", (prompts, h), "embeddings"),
                T("segment_embedding.weight", (segments, h), "embeddings"),
                T("position_bias.relative_attention_bias",
                  (segments * segments + c.int("position_bias_num_buckets", lo=0), b.attention.heads), "attention")]


FAMILIES += (
    # CPM-Ant: pre-norm layers with weight-only LayerNorms (CpmAntLayerNorm: x * rsqrt(var) * weight, an RMS-style
    # norm), bias-free attention of dim_head-wide heads, a GELU-gated MLP (w_0 gate, w_1 up, w_out), a final norm
    Family(("cpmant",), "CpmAntForCausalLM",
           {"dim_head": 128, "position_bias_num_buckets": 512, "position_bias_max_distance": 2048, "prompt_types": 32,
            "prompt_length": 32, "segment_types": 32, "tie_word_embeddings": True},
           names={"num_key_value_heads": "", "intermediate_size": "dim_ff"}, head_dim="dim_head", window=None,
           hooks=(_cpmant,)),
)


# GIT (modeling_git.py): a BERT-style text decoder (post-LN layers, a LayerNorm after the word + position embeddings,
# no final norm, an output Linear with a vocabulary bias, tied only with tie_word_embeddings) whose fields sit at the
# top level of GitConfig; a CLIP-shaped image encoder (class token, positions for the grid + 1, a LayerNorm before
# and after, no patch bias); a Linear + LayerNorm projection to the text width; num_image_with_embedding temporal
# embeddings of the vision width (video checkpoints).
def _git_text(b: Build) -> None:
    b.embed_norm = "layernorm"


_GIT_TEXT_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 6, "num_attention_heads": 12,
                      "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 1024,
                      "tie_word_embeddings": False}
_GIT_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "num_channels": 3, "image_size": 224, "patch_size": 16}
_GIT_TEXT = Family((), "GitForCausalLM", _GIT_TEXT_DEFAULTS, names={"num_key_value_heads": ""}, qkv_bias=True,
                   o_bias=True, mlp_bias=True, gated=False, norm="layernorm", final_norm=None, window=None,
                   head_bias=True, learned_positions="max_position_embeddings", hooks=(_git_text,))
WRAPPERS += (
    Wrapper(("git",), "GitForCausalLM", "git", {"tie_word_embeddings": False, "num_image_with_embedding": None},
            text_defaults=_GIT_TEXT_DEFAULTS, text_key=None, text_family=_GIT_TEXT,
            sub_defaults={"vision_config": _GIT_VISION},
            towers=(Encoder("vision", "vision_config", _GIT_VISION, patch_bias=False, positions="grid+1",
                            class_embedding=True, pre_norm="layernorm"),
                    Projector("vision projector", (Lin(_V + "hidden_size", "text.hidden", True),
                                                   Norm("text.hidden", "layernorm"))),
                    Projector("temporal embeddings", (Weight((_V + "hidden_size",)),),
                              count="num_image_with_embedding", when="?num_image_with_embedding"))),
)


def _gemma4_text(b: Build) -> None:
    """Gemma 4's text decoder (``modeling_gemma4.py``, ``configuration_gemma4.py``): Gemma 3's four norms and per-head
    q/k RMSNorms; full-attention layers take their per_layer_config overrides (by default head_dim = global_head_dim,
    512); the last layer is always full attention; with hidden_size_per_layer_input p every layer also gates a
    p-wide per-layer input (gate h -> p, projection p -> h, a norm) fed by a second embedding table of L x p columns
    and its projection from the hidden state (and a p-wide norm); every layer stores a layer_scalar buffer.
    KV-shared layers, k = v global attention and the MoE block are refused, naming the field."""
    c, h, L = b.c, b.hidden, b.layers
    for key in ("num_kv_shared_layers", "attention_k_eq_v", "enable_moe_block"):
        if c.get(key, None):
            raise ValueError(f"config field {key!r} = {c.get(key)!r:.40} (Gemma 4's KV-shared layers, k = v global "
                             f"attention and MoE block) is not modelled yet; size the model from its parameter count "
                             f"or its safetensors headers")
    b.types[-1] = "full_attention"
    overrides = c.get("per_layer_config", None)
    if overrides is None:
        overrides = {i: {"head_dim": c.int("global_head_dim", 512)} for i, t in enumerate(b.types)
                     if t == "full_attention"}
    if not isinstance(overrides, dict):
        raise ValueError("config field 'per_layer_config' must be a JSON object of layer index -> overrides")
    by_type: dict[str, dict] = {}
    for key, o in overrides.items():
        i = int(key) if isinstance(key, int) or (isinstance(key, str) and key.isdigit()) else -1
        if not 0 <= i < L or not isinstance(o, dict) or set(o) - {"head_dim", "num_key_value_heads"}:
            raise ValueError(f"config field 'per_layer_config' entry {key!r:.20}: layer indices 0..{L - 1} with "
                             f"head_dim / num_key_value_heads overrides are modelled")
        if by_type.setdefault(b.types[i], o) != o:
            raise ValueError("config field 'per_layer_config': overrides that differ within one layer type are "
                             "not modelled")
    a = b.attention
    window = c.opt_int("sliding_window", hi=2**31)
    if window and c.get("use_bidirectional_attention", None) == "all":
        window = window // 2 + 1  # configuration_gemma4.py: the bidirectional window's exclusive bound
    for t in ("full_attention", "sliding_attention"):
        o = by_type.get(t, {})
        kind = replace(a, head_dim=int(o.get("head_dim", a.head_dim)), kv_heads=int(o.get("num_key_value_heads",
                                                                                        a.kv_heads)))
        b.mixers[t] = replace(kind, window=window) if t == "sliding_attention" and window else kind
    p = c.int("hidden_size_per_layer_input", 0, lo=0)
    b.block_extra = [T("layer_scalar", (1,), "other", buffer=True)]
    if p:
        b.block_extra += [T("per_layer_input_gate.weight", (p, h), "other", linear=True),
                          T("per_layer_projection.weight", (h, p), "other", linear=True),
                          T("post_per_layer_input_norm.weight", (h,), "norms")]
        b.extra += [T("embed_tokens_per_layer.weight", (c.int("vocab_size_per_layer_input"), L * p), "embeddings"),
                    T("per_layer_model_projection.weight", (L * p, h), "other", linear=True),
                    T("per_layer_projection_norm.weight", (p,), "norms")]


FAMILIES += (
    Family(("gemma4_text",), "Gemma4ForCausalLM",
           {"vocab_size": 262144, "num_key_value_heads": 4, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 131072, "tie_word_embeddings": True, "attention_bias": False,
            "sliding_window": 512, "vocab_size_per_layer_input": 262144, "hidden_size_per_layer_input": 256,
            "attention_k_eq_v": False, "num_kv_shared_layers": 0, "enable_moe_block": False},
           names={"hidden_act": "hidden_activation"}, qkv_bias="attention_bias", o_bias="attention_bias", norms=4,
           qk_norm="head", window=None, layer_types=every_nth_full("", 6), hooks=(_gemma4_text,)),
)
FAMILIES += (
    # Gemma 4 Unified's text decoder (modeling_gemma4_unified.py): Gemma 4's layers without the per-layer inputs or MoE
    # block (its config class has neither), a 1024-position window by default
    Family(("gemma4_unified_text",), "Gemma4UnifiedForCausalLM",
           {"vocab_size": 262144, "num_key_value_heads": 4, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 262144, "tie_word_embeddings": True, "attention_bias": False,
            "sliding_window": 1024, "hidden_size_per_layer_input": 0, "attention_k_eq_v": False,
            "num_kv_shared_layers": 0},
           names={"hidden_act": "hidden_activation"}, qkv_bias="attention_bias", o_bias="attention_bias", norms=4,
           qk_norm="head", window=None, layer_types=every_nth_full("", 6), hooks=(_gemma4_text,)),
)
