"""The memory calculator against real tensors: small random-weight ``transformers`` models on the CPU.

- KV cache = bytes of the cache tensors a model holds after a forward pass (MHA, GQA, sliding window, MLA).
- Weights and gradients = the real parameter and gradient bytes per dtype.
- AdamW / SGD-momentum states = the real ``torch.optim`` state bytes after one step.
- Activations per layer = the bytes autograd saves for backward (``saved_tensors_hooks``), eager and SDPA,
  with and without gradient checkpointing, within 2% (RoPE cos/sin tables, shared by all layers, are the
  only tensors left out; see ``calc/activations.py``).
- LoRA trainable parameters = what PEFT creates.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from calc.activations import activation_bytes_per_layer, model_terms, terms_bytes  # noqa: E402
from calc.kvcache import kv_cache_bytes  # noqa: E402
from calc.memory import (  # noqa: E402
    InferenceSetup,
    TrainingSetup,
    inference_memory,
    lora_params,
    optimizer_state_bytes,
    training_memory,
    weights_bytes,
)
from calc.models import ModelSpec, param_counts  # noqa: E402

TINY = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=8, vocab_size=512)
CONFIGS = {
    "llama-mha": dict(model_type="llama", num_key_value_heads=8, **TINY),
    "llama-gqa": dict(model_type="llama", num_key_value_heads=2, **TINY),
    "mistral-window": dict(model_type="mistral", num_key_value_heads=2, sliding_window=16, **TINY),
    "gemma2-window": dict(model_type="gemma2", num_key_value_heads=2, head_dim=32, sliding_window=16, **TINY),
    "qwen3": dict(model_type="qwen3", num_key_value_heads=2, head_dim=16, **TINY),
    "gpt2-dropout": dict(model_type="gpt2", n_embd=128, n_layer=2, n_head=8, vocab_size=512, n_positions=256,
                         bos_token_id=0, eos_token_id=0),
    "mixtral": dict(model_type="mixtral", num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, **TINY),
    "deepseek-v3": dict(model_type="deepseek_v3", hidden_size=128, intermediate_size=344, moe_intermediate_size=64,
                        num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8, vocab_size=512,
                        n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2, first_k_dense_replace=1,
                        q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                        n_group=2, topk_group=1),
}


def build(name: str, dtype=torch.float32, attn: str = "sdpa"):
    torch.manual_seed(0)
    cfg = transformers.AutoConfig.for_model(**CONFIGS[name])
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation=attn).to(dtype)
    spec = ModelSpec.from_hf_config(cfg.to_dict())
    return model, spec, cfg


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# ----- KV cache ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["llama-mha", "llama-gqa", "mistral-window", "gemma2-window", "deepseek-v3"])
def test_kv_cache_equals_transformers_cache(name):
    model, spec, cfg = build(name, torch.bfloat16, attn="eager")
    batch, seq = 2, 40
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, cfg.vocab_size, (batch, seq)), use_cache=True)
    real = tensor_bytes(t for layer in out.past_key_values.layers for t in (layer.keys, layer.values))
    # transformers keeps window - 1 positions between steps; the step's own token makes the window
    assert kv_cache_bytes(spec, batch, seq, "bf16", hf_window=True) == real
    sliding = sum(spec.layer_is_sliding(i) for i in range(spec.num_layers)) if spec.sliding_window else 0
    per_position = 2 * spec.num_kv_heads * spec.head_dim * 2 * batch
    assert inference_memory(spec, InferenceSetup(batch=batch, context=seq)).kv_cache == real + sliding * per_position


# ----- weights, gradients, optimizer states ---------------------------------------------------------------
@pytest.mark.parametrize("dtype, name", [(torch.float32, "fp32"), (torch.bfloat16, "bf16"), (torch.float16, "fp16")])
def test_weights_and_gradients_bytes(dtype, name):
    model, spec, cfg = build("llama-gqa", dtype)
    n = sum(p.numel() for p in model.parameters())
    assert n == param_counts(spec).total
    assert weights_bytes(n, name) == tensor_bytes(model.parameters())
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    assert weights_bytes(n, name) == tensor_bytes(p.grad for p in model.parameters())
    if name != "fp16":  # the pure-16-bit precision is bf16; fp32 has no master copy
        precision = {"fp32": "fp32", "bf16": "bf16"}[name]
        b = training_memory(spec, TrainingSetup(precision=precision, overhead_bytes=0))
        assert b.weights == tensor_bytes(model.parameters())
        assert b.gradients == tensor_bytes(p.grad for p in model.parameters())


@pytest.mark.parametrize("dtype, precision", [(torch.float32, "fp32"), (torch.bfloat16, "bf16")])
def test_adamw_state_bytes_after_one_step(dtype, precision):
    model, spec, cfg = build("llama-gqa", dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    moments = tensor_bytes(s[k] for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq"))
    steps = tensor_bytes(s["step"] for s in opt.state.values())
    n_tensors = len(list(model.parameters()))
    assert steps == 4 * n_tensors  # one fp32 step counter per parameter tensor: not counted by the calculator
    b = training_memory(spec, TrainingSetup(precision=precision, overhead_bytes=0))
    assert b.optimizer_states == moments
    if precision == "fp32":
        assert optimizer_state_bytes(param_counts(spec).total, "adamw") == moments


def test_sgd_momentum_state_bytes():
    model, spec, cfg = build("llama-gqa")
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    real = tensor_bytes(s["momentum_buffer"] for s in opt.state.values())
    assert training_memory(spec, TrainingSetup(precision="fp32", optimizer="sgd-momentum")).optimizer_states == real


# ----- activations: saved for backward --------------------------------------------------------------------
def saved_bytes(model, cfg, batch, seq, layer_index=None, checkpoint=False) -> int:
    """Bytes of distinct non-parameter storages autograd saves (inside one layer, or in the whole model)."""
    if checkpoint:
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    model.train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    layers = model.model.layers if hasattr(model, "model") else model.transformer.h
    active = [layer_index is None]
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if active[0] and storage.data_ptr() not in params:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return t

    if layer_index is not None:
        layers[layer_index].register_forward_pre_hook(lambda m, a: active.__setitem__(0, True))
        layers[layer_index].register_forward_hook(lambda m, a, o: active.__setitem__(0, False))
    ids = torch.randint(0, cfg.vocab_size, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    return sum(seen.values())


@pytest.mark.parametrize("name, attn, dtype, checkpoint", [
    ("llama-gqa", "sdpa", torch.bfloat16, False),
    ("llama-gqa", "eager", torch.bfloat16, False),
    ("llama-gqa", "sdpa", torch.bfloat16, True),
    ("llama-mha", "eager", torch.float32, False),
    ("mistral-window", "sdpa", torch.bfloat16, False),
    ("gemma2-window", "eager", torch.bfloat16, False),
    ("qwen3", "sdpa", torch.bfloat16, False),
    ("gpt2-dropout", "eager", torch.bfloat16, False),
    ("gpt2-dropout", "eager", torch.bfloat16, True),
    ("mixtral", "sdpa", torch.bfloat16, False),
    ("deepseek-v3", "eager", torch.bfloat16, False),
])
def test_activation_bytes_per_layer_match_saved_tensors(name, attn, dtype, checkpoint):
    model, spec, cfg = build(name, dtype, attn)
    batch, seq, layer = 2, 48, spec.num_layers - 1
    real = saved_bytes(model, cfg, batch, seq, layer, checkpoint)
    dropout = 0.1 if name.startswith("gpt2") else 0.0  # GPT-2's default attn/resid dropout
    calc = activation_bytes_per_layer(spec, batch, seq, flash_attention=attn == "sdpa",
                                      recompute="full" if checkpoint else "none",
                                      act_bits=16 if dtype == torch.bfloat16 else 32, layer=layer, dropout=dropout,
                                      device="cpu")
    assert calc == pytest.approx(real, rel=0.02)


def test_whole_model_saved_tensors():
    model, spec, cfg = build("llama-gqa", torch.bfloat16)
    batch, seq = 2, 48
    real = saved_bytes(model, cfg, batch, seq)
    layers = sum(activation_bytes_per_layer(spec, batch, seq, layer=i, device="cpu") for i in range(spec.num_layers))
    saved_outside = [t for t in model_terms(spec, device="cpu") if not t.name.startswith("loss backward")]
    assert layers + terms_bytes(saved_outside, batch, seq) == pytest.approx(real, rel=0.02)


# ----- LoRA ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("targets", [("q_proj", "v_proj"), ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj")])
def test_lora_params_equal_peft(targets):
    peft = pytest.importorskip("peft")
    model, spec, cfg = build("llama-gqa")
    lora = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=list(targets)))
    trainable, _ = lora.get_nb_trainable_parameters()
    assert lora_params(spec, 8, targets) == trainable


@pytest.mark.parametrize("targets, attn", [(("q_proj", "v_proj"), "sdpa"),
                                           (("q_proj", "k_proj", "v_proj", "o_proj"), "eager"),
                                           (("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"), "sdpa")])
def test_lora_activations_match_peft_saved_tensors(targets, attn):
    # PEFT keeps adapters in fp32 over a bf16 base (autocast_adapter_dtype): each adapted matrix saves
    # an fp32 copy of its input and lora_B saves lora_A's output; the frozen base saves less.
    peft = pytest.importorskip("peft")
    model, spec, cfg = build("llama-gqa", torch.bfloat16, attn)
    lora = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=list(targets), lora_dropout=0.0))
    real = saved_bytes(lora.base_model.model, cfg, 2, 48, layer_index=1)
    calc = activation_bytes_per_layer(spec, 2, 48, flash_attention=attn == "sdpa", layer=1, device="cpu",
                                      lora=(8, targets, 32))
    assert calc == pytest.approx(real, rel=0.02)
