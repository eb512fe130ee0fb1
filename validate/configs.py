"""The small architectures the harness builds: Hugging Face ``config.json`` fields, one per family.

Each config is read twice: by ``calc.models.ModelSpec.from_hf_config`` (the prediction) and by
``transformers.AutoConfig.for_model`` + ``AutoModelForCausalLM.from_config`` (the measurement), so
both sides see the same fields. Sizes are tiny (hidden 128, 4 layers, vocab 512) so the whole
harness runs on two CPU cores in well under a minute, yet every structural feature the formulas
handle is present: GQA, q/k/v biases, tied embeddings, explicit head_dim, sliding-window layers,
logit soft-capping, learned positions, LayerNorm with biases, routed experts, shared experts,
dense-then-MoE layers, and multi-head latent attention (MLA) with a low-rank query.

Dropout is each config's own: 0 for the Llama-style families (``attention_dropout: 0.0``, as their
published configs), 0.1 for GPT-2 (``attn_pdrop``, ``resid_pdrop`` and ``embd_pdrop``, as
openai-community/gpt2's config.json), so the masks it saves are measured and predicted
(``calc.activations.config_dropout``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """One architecture to validate: a short key, a label for the page, the config and what it tests."""

    key: str
    label: str
    config: dict
    features: str
    attn_implementations: tuple[str, ...] = ("eager", "sdpa")
    #: whether PyTorch's CPU SDPA runs a fused (flash) kernel for this model; it needs equal
    #: query/key and value head dims and no explicit mask, else it falls back to the math kernel,
    #: which stores the s x s probabilities like eager attention; also with dropout
    sdpa_fused: bool = True
    sdpa_math_reason: str = ""  # why CPU SDPA runs its math kernel, when it does


_COMMON = {"vocab_size": 512, "max_position_embeddings": 512, "hidden_act": "silu", "rms_norm_eps": 1e-6,
           "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}

ARCHS: tuple[Arch, ...] = (
    Arch("llama_gqa", "Llama-style (GQA)", {
        **_COMMON, "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": False,
    }, "SwiGLU, RMSNorm, RoPE, 4 query heads sharing 2 KV heads, untied head"),
    Arch("qwen2", "Qwen2", {
        **_COMMON, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True,
        "use_sliding_window": False,
    }, "q/k/v biases, GQA, tied embeddings"),
    Arch("gemma2", "Gemma 2", {
        **_COMMON, "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
        "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
        "query_pre_attn_scalar": 64, "sliding_window": 32, "hidden_activation": "gelu_pytorch_tanh",
        "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "tie_word_embeddings": True,
    }, "explicit head_dim 64 (not hidden/heads = 32), 4 norms per layer, sliding window 32 on alternate "
       "layers, logit soft-capping, GeGLU; transformers has no SDPA path for it (soft-capping)",
         ("eager",)),
    Arch("gpt2", "GPT-2", {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 512,
        "n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 512,
        "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "bos_token_id": 0, "eos_token_id": 1,
    }, "LayerNorm with biases, biases everywhere, learned positions, tied head, GeLU MLP of 4h "
       "(transformers' gelu_new, written as Python tensor ops); its config's dropout 0.1 on the attention "
       "probabilities, both residual branches and the embeddings, so CPU SDPA uses its math kernel",
         sdpa_fused=False, sdpa_math_reason="dropout 0.1: the CPU flash kernel has no dropout"),
    Arch("mixtral_moe", "Mixtral-style MoE", {
        **_COMMON, "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
        "hidden_size": 128, "intermediate_size": 192, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 4,
        "num_experts_per_tok": 2, "tie_word_embeddings": False, "router_jitter_noise": 0.0,
    }, "4 routed experts, top-2, router per layer, GQA"),
    Arch("deepseek_v3_mla", "DeepSeek-V3-style (MLA + MoE)", {
        **_COMMON, "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
        "hidden_size": 128, "intermediate_size": 256, "moe_intermediate_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 64, "kv_lora_rank": 32,
        "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32, "n_routed_experts": 4,
        "num_experts_per_tok": 2, "n_shared_experts": 1, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "num_nextn_predict_layers": 0, "tie_word_embeddings": False,
        "routed_scaling_factor": 1.0,
    }, "MLA: low-rank query (64) and KV latent (32) + decoupled RoPE key (16); first layer dense, "
       "then 4 routed experts top-2 + 1 shared expert; value head_dim 32 != query/key head_dim 48, so "
       "CPU SDPA uses its math kernel", sdpa_fused=False,
         sdpa_math_reason="v head_dim 32 != qk head_dim 48"),
)


#: Families of 2025-2026 (issue 12): a MoE with a gated shared expert, a 5:1 sliding/global pattern,
#: gpt-oss. Each reads its layer kinds from calc/arch (``ModelSpec.layout``).
ARCHS += (
    Arch("qwen2_moe", "Qwen2-MoE (shared expert)", {
        **_COMMON, "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
        "hidden_size": 128, "intermediate_size": 256, "moe_intermediate_size": 64,
        "shared_expert_intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_experts": 4, "num_experts_per_tok": 2, "decoder_sparse_step": 1,
        "mlp_only_layers": [0], "tie_word_embeddings": False, "use_sliding_window": False, "qkv_bias": True,
    }, "4 routed experts top-2 plus a shared expert (width 128) behind a sigmoid gate; first layer dense "
       "(mlp_only_layers); q/k/v biases, GQA"),
    Arch("gemma3_text", "Gemma 3 (text)", {
        **_COMMON, "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
        "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 6, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 32, "query_pre_attn_scalar": 32, "sliding_window": 32,
        "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True,
    }, "5 sliding-window layers (window 32) then 1 global (transformers' default 5:1 pattern), q/k RMSNorm "
       "per head, 4 norms per layer computed in fp32 with a (1 + w) scale, GeGLU, two RoPE tables "
       "(local and global)"),
    Arch("gpt_oss", "gpt-oss", {
        **_COMMON, "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss",
        "hidden_size": 128, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 32, "sliding_window": 32, "num_local_experts": 4,
        "num_experts_per_tok": 2, "tie_word_embeddings": False, "router_aux_loss_coef": 0.0,
    }, "alternating sliding (32) / full layers, one learned attention sink per head (softmax over s + 1 in "
       "the activation dtype), 4 experts top-2 with biases and a clamped SwiGLU, router bias; "
       "transformers has no SDPA path for it (sinks)", ("eager",)),
)

#: The hybrid family (issue 12 item 5): gated DeltaNet (linear attention) layers 3:1 with gated full attention.
#: On the CPU transformers runs its PyTorch fallbacks of the fused kernels (``torch_chunk_gated_delta_rule``,
#: ``causal_conv1d_fn``), which ``calc.activations`` models for ``device="cpu"``.
ARCHS += (
    Arch("qwen3_next", "Qwen3-Next (gated DeltaNet hybrid)", {
        **_COMMON, "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next",
        "hidden_size": 128, "intermediate_size": 256, "moe_intermediate_size": 64,
        "shared_expert_intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 32, "num_experts": 4, "num_experts_per_tok": 2,
        "decoder_sparse_step": 1, "mlp_only_layers": [], "full_attention_interval": 4,
        "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 32,
        "linear_value_head_dim": 32, "linear_conv_kernel_dim": 4, "tie_word_embeddings": False,
        "router_aux_loss_coef": 0.0,
    }, "3 gated DeltaNet layers (2 key heads shared by 4 value heads, causal conv of 4, chunked delta rule "
       "in fp32 with chunks of 64: the 160 tokens padded to 192) then 1 full-attention layer (output gate, "
       "q/k RMSNorm, partial RoPE); 4 experts top-2 plus a gated shared expert"),
)


def get_arch(key: str) -> Arch:
    for a in ARCHS:
        if a.key == key:
            return a
    raise ValueError(f"architecture must be one of {[a.key for a in ARCHS]}, got {key!r}")
