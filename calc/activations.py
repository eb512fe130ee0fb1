"""Activation memory of training, derived tensor by tensor for the block the model actually has.

Method: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
(sec. 4, Table 2): list every tensor the forward pass saves for the backward pass and add up its
bytes. Their GPT block (LayerNorm, GeLU MLP of 4h, 16-bit activations, 1-byte dropout masks) gives
``sbh (34 + 5as/h)`` per layer; ``layer_terms`` reproduces exactly that for such a block (see the
tests), and derives the terms for SwiGLU, GQA, RMSNorm, MoE and MLA blocks the same way instead of
reusing the constants.

Every per-layer formula reads the architecture description, not the family: the layer's kind
(``spec.layout.kind(i)``, ``calc/arch/kinds.py``: its token mixer ``Attention`` / ``MLA`` / ``Mamba`` /
``Mamba2`` / ``GatedDeltaNet``, its feed-forward ``MLP`` / ``MoE`` with shared experts and gates, its norm
count and kind) and the per-layer pattern; what ``transformers`` does differently inside a kind (an op's
dtype, a view that keeps a storage alive) is declarative data, ``IMPL``. Layers of one kind are computed
once (``layer_groups``).

What is counted (the definition the validation harness holds us to): the bytes of the distinct
tensors that autograd saves for backward inside one decoder layer (``saved_tensors_hooks``,
parameters excluded, a storage saved by several ops counted once), for the Hugging Face
``transformers`` implementation of each architecture, which is what the tests measure:

- RMSNorm (Llama, Mistral, Qwen, Phi-3, DeepSeek): the fp32 copy of the input, the normalized
  16-bit tensor and the fp32 ``rsqrt`` per row: ``(4 + e) h + 4`` bytes per token (``8h + 4`` when
  activations are fp32, ``e = 4``). Gemma 2 keeps the normalized tensor in fp32: ``8h + 4``.
  LayerNorm (GPT-2): the input plus mean and rstd per row.
- Linear layers save their input (once per distinct input: q/k/v share the norm output).
- Attention with a fused kernel (``flash_attention=True``: FlashAttention-2, SDPA's flash / CPU
  kernels) saves q, k, v, the output (which is also the o_proj input) and the fp32 log-sum-exp per
  head; GQA keys and values stay at ``kv_heads`` width. Eager attention saves q and the keys and
  values expanded to all heads (``repeat_kv``) plus the ``s x s`` matrices: the fp32 softmax output
  and its 16-bit copy (Llama family upcasts the softmax; GPT-2 does not), Gemma 2's soft-cap
  ``tanh`` output, and with dropout the mask and the dropped-out probabilities.
- Phi-3 fuses q, k, v into one projection and v stays a view of it: with fused attention the
  whole ``qkv_proj`` output is kept. DeepSeek's router runs on an fp32 copy of its input.
- Attention sinks (gpt-oss): the sink logit joins the scores, the softmax runs over ``s + 1`` keys in the
  activation dtype and its row max (an int64 index) is saved. An output gate (Qwen3-Next) keeps the
  sigmoid and the gated output. Gemma's norms keep the normalized tensor in fp32 (``(1 + w)`` scale).
- Recurrent mixers (Mamba, Mamba-2, gated DeltaNet) are counted as their fused CUDA kernels keep them
  (``_recurrent_per_token``: projections, conv output, scan inputs and output, gated norm; unvalidated
  on a GPU). With ``device="cpu"`` gated DeltaNet is counted as ``transformers``' PyTorch fallback keeps it
  (``DELTA_RULE_CPU``: fp32 copies, the sequence padded to chunks of 64, five chunk x chunk matrices per
  head, the state entering each chunk), which the harness measures on Qwen3-Next; the CPU fallbacks of
  Mamba / Mamba-2 are not modelled.
- Full recompute (gradient checkpointing) keeps the layer input only (GPT-2's eager path also
  hands the checkpoint its ``(b, 1, s, s)`` mask, one shared tensor).
- SwiGLU/GeGLU MLP: input, gate (activation input), activation output, up, and their product
  (down_proj input): ``e h + 4 e f``. Plain MLP: ``e h + 2 e f`` (GPT-2's ``gelu_new`` is composed
  of Python ops and saves 3 more ``f``-wide tensors).
- MoE (``transformers`` expert loop): router logits softmax in fp32, top-k values/indices and
  index tensors, and per selected expert its gathered input, gate_up output, activation output,
  product and output: ``k (2 e h + 4 e f_e)`` per token.
- Dropout masks only where the model applies dropout with ``0 < p < 1`` (``Dropout``; read from the
  config by ``config_dropout``): 1 byte per element on CUDA (``native_dropout``'s bool mask) and ``e``
  bytes on the CPU (PyTorch's CPU path multiplies by a noise tensor of the activation dtype; ``p = 1``
  multiplies by a zero scalar and saves no mask). Attention-probability dropout exists in every
  attention implementation; residual dropout (one ``h``-wide mask after the attention output
  projection, one after the feed-forward), embedding dropout and MLP-activation dropout only where
  the family's config names them (GPT-2, Phi, Phi-3, GPT-NeoX, Falcon, BLOOM, Starcoder2, OPT...).

``device`` names the kernels: ``"cuda"`` (default) = FlashAttention-2 (native GQA and sliding
windows), ``native_dropout``'s 1-byte masks, fp32 LayerNorm statistics; ``"cpu"`` = what
``transformers`` runs on the CPU and the tests measure: SDPA's CPU kernel, which receives a 16-bit
mask (one tensor shared by all layers) and expanded k/v once a sliding window is shorter than the
sequence, falls back to the fp32 math path for dropout or for MLA's narrower v, and keeps GPT-2's
strided q/k/v storage plus contiguous copies; dropout noise in the activation dtype.

Not counted: RoPE cos/sin tables (``s x head_dim``, shared by all layers, about 0.5% of a small
test layer), and transient buffers that are not saved for backward. Terms marked ``shared`` (a
mask every layer saves) are counted once per pipeline stage by ``calc.memory``. With
``sequence_parallel`` off, tensor parallelism splits the head- and ``f``-wide tensors by ``tp``
and replicates the ``h``-wide ones (Korthikanti eq. 2: ``10 + 24/t``); with it on, every term is
split (eq. 3: ``34/t``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from calc.arch.kinds import MLA, MLP, Attention, Block, GatedDeltaNet, Mamba, Mamba2, MoE
from calc.models import ModelSpec

RECOMPUTE = ("none", "selective", "full")
#: what ``recompute="selective"`` keeps: ``"attention"``, Korthikanti et al. 2022 sec. 5 (Megatron-LM: the attention
#: core is recomputed, everything else saved); ``"ops"``, torchtitan's per-op selective checkpointing
#: (``selective_ac_option = "op"``: the layer is recomputed except the outputs of every other matmul and of the
#: attention kernel, ``op_selective_terms``)
SELECTIVE = ("attention", "ops")
DROPOUT_SITES = ("attention", "residual", "embedding", "activation")

#: Hugging Face config fields holding a dropout probability -> where ``transformers``' modeling code
#: applies it (paths in ``transformers/models/``; checked against transformers 5.x):
#: - attention: the softmax probabilities, ``nn.functional.dropout(attn_weights, p=dropout)`` in every
#:   ``eager_attention_forward`` (``llama/modeling_llama.py`` and the families copied from it:
#:   ``dropout=0.0 if not self.training else self.attention_dropout``) or SDPA's ``dropout_p``;
#:   GPT-2's ``GPT2Attention.attn_dropout = nn.Dropout(config.attn_pdrop)`` (``gpt2/modeling_gpt2.py``).
#: - residual: the hidden-width output of the attention block and of the feed-forward before the residual
#:   add: GPT-2 ``GPT2Attention.resid_dropout`` and ``GPT2MLP.dropout`` (``resid_pdrop``); Phi-3
#:   ``resid_attn_dropout`` / ``resid_mlp_dropout`` (``resid_pdrop``); GPT-NeoX ``post_attention_dropout`` /
#:   ``post_mlp_dropout`` (``hidden_dropout``; it also drops the embeddings, not counted: one mask per token);
#:   Falcon and BLOOM ``dropout_add(..., hidden_dropout)``; Starcoder2 ``residual_dropout``; OPT ``dropout``.
#: - embedding: after the token (+ position) embedding: GPT-2 ``GPT2Model.drop`` (``embd_pdrop``), Phi
#:   ``embed_dropout``, Starcoder2 ``embedding_dropout``.
#: - activation: after the MLP activation, OPT ``activation_dropout`` (an ``f``-wide mask).
DROPOUT_FIELDS: dict[str, str] = {
    "attention_dropout": "attention", "attn_pdrop": "attention", "attention_probs_dropout_prob": "attention",
    "resid_pdrop": "residual", "hidden_dropout": "residual", "residual_dropout": "residual",
    "hidden_dropout_prob": "residual", "dropout": "residual",
    "embd_pdrop": "embedding", "embedding_dropout": "embedding", "emb_pdrop": "embedding",
    "activation_dropout": "activation",
}
#: The defaults of ``transformers``' config classes where they are not 0, by architecture: a config that
#: leaves the field out gets them (``GPT2Config``: attn_pdrop = resid_pdrop = embd_pdrop = 0.1; ``OPTConfig``:
#: dropout = 0.1). ``tests/test_dropout.py`` checks this against every config class calc reads.
DROPOUT_DEFAULTS: dict[str, dict[str, float]] = {
    "GPT2LMHeadModel": {"attn_pdrop": 0.1, "resid_pdrop": 0.1, "embd_pdrop": 0.1},
    "OPTForCausalLM": {"dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0},
    # CTRLConfig: resid_pdrop = embd_pdrop = 0.1 (modeling_ctrl.py: EncoderLayer.dropout1/2, CTRLModel.dropout)
    "CTRLLMHeadModel": {"resid_pdrop": 0.1, "embd_pdrop": 0.1},
    # SeedOssConfig: attention_dropout = residual_dropout = 0.1 (modeling_seed_oss.py drops the attention
    # probabilities, the attention output and the MLP's down_proj output)
    "SeedOssForCausalLM": {"attention_dropout": 0.1, "residual_dropout": 0.1},
    # the GPT-2-shaped configs (GPTBigCodeConfig, OpenAIGPTConfig): attn/resid/embd_pdrop = 0.1
    "GPTBigCodeForCausalLM": {"attn_pdrop": 0.1, "resid_pdrop": 0.1, "embd_pdrop": 0.1},
    "OpenAIGPTLMHeadModel": {"attn_pdrop": 0.1, "resid_pdrop": 0.1, "embd_pdrop": 0.1},
    "GPTNeoXJapaneseForCausalLM": {"attention_dropout": 0.1, "hidden_dropout": 0.0},  # GPTNeoXJapaneseConfig
    "XGLMForCausalLM": {"dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0},  # XGLMConfig
    # the BERT-shaped configs (BertGenerationConfig, BioGptConfig, GitConfig): hidden_dropout_prob =
    # attention_probs_dropout_prob = 0.1 (BertGenerationConfig / BioGptConfig / GitConfig defaults)
    "BertGenerationDecoder": {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1},
    "BioGptForCausalLM": {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "activation_dropout": 0.0},
    "GitForCausalLM": {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1},
    "TrOCRForCausalLM": {"dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0},  # TrOCRConfig
}

#: Fields a config class declares but its model never applies, by architecture: ``Phi3Config.embd_pdrop``
#: (``phi3/modeling_phi3.py`` has no embedding dropout; Phi-1/2's ``PhiModel.embed_dropout`` does).
DROPOUT_UNUSED: dict[str, tuple[str, ...]] = {"Phi3ForCausalLM": ("embd_pdrop",)}


@dataclass(frozen=True)
class Dropout:
    """Dropout probabilities where the model applies them (``DROPOUT_FIELDS`` names the places); 0 = none."""

    attention: float = 0.0
    residual: float = 0.0
    embedding: float = 0.0
    activation: float = 0.0

    def __post_init__(self) -> None:
        for site in DROPOUT_SITES:
            check_probability(f"dropout ({site})", getattr(self, site))

    def masks(self, site: str) -> bool:
        """Whether dropout at ``site`` saves a mask: ``0 < p < 1`` (``p = 1`` multiplies by a zero scalar)."""
        return 0.0 < getattr(self, site) < 1.0


def check_probability(name: str, p) -> float:
    """``p`` as a float in [0, 1], else a ``ValueError`` naming ``name``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r:.40}")
    return float(p)


def _dropout_fields(spec: ModelSpec) -> dict[str, float]:
    """The dropout fields of the model's config (its family's defaults where the config leaves one out)."""
    cfg = spec.hf_config if isinstance(spec.hf_config, dict) else {}
    if isinstance(cfg.get("text_config"), dict):  # a multimodal model: its decoder's dropout
        cfg = {**cfg, **cfg["text_config"]}
    fields = dict(DROPOUT_DEFAULTS.get(spec.decoder_architecture, {}))
    unused = DROPOUT_UNUSED.get(spec.decoder_architecture, ())
    for key in DROPOUT_FIELDS:
        value = None if key in unused else cfg.get(key)
        if value is not None:
            fields[key] = check_probability(f"config field {key}", value)
    return fields


def config_dropout(spec: ModelSpec, override: float | None = None) -> Dropout:
    """The dropout a training step of ``spec`` applies: its config's (``override=None``), or ``override``
    at every place the model has dropout (attention probabilities always; residual, embedding and
    activation dropout where its config names them). Raises ``ValueError`` for a value outside [0, 1].

    >>> from calc.presets import get_preset
    >>> config_dropout(get_preset("GPT-2"))  # openai-community/gpt2 config.json: 0.1 everywhere
    Dropout(attention=0.1, residual=0.1, embedding=0.1, activation=0.0)
    >>> config_dropout(get_preset("Meta-Llama-3-8B"), 0.1)  # Llama has attention dropout only
    Dropout(attention=0.1, residual=0.0, embedding=0.0, activation=0.0)
    """
    if override is None or type(override) in (int, float):  # hashable as is: one lookup per model and value
        return _config_dropout(spec, override)
    return _config_dropout.__wrapped__(spec, override)


@functools.lru_cache(maxsize=256)
def _config_dropout(spec: ModelSpec, override: float | None) -> Dropout:
    """``config_dropout``, memoized: a pure function of a frozen spec (its config included, ``ModelSpec`` equality
    compares ``hf_config``) and a number, read for every training breakdown (issue 18: 17% of one)."""
    fields = _dropout_fields(spec)
    if override is not None:
        p = check_probability("dropout", override)
        sites = {"attention"} | {DROPOUT_FIELDS[k] for k in fields}
        return Dropout(**{site: p for site in sites})
    out: dict[str, float] = {}
    for key, value in fields.items():  # several fields of one site: the largest (one is normally set)
        site = DROPOUT_FIELDS[key]
        out[site] = max(out.get(site, 0.0), value)
    return Dropout(**out)


def _as_dropout(spec: ModelSpec, dropout: float | Dropout) -> Dropout:
    """A ``Dropout``; a bare probability means that probability wherever the model has dropout."""
    return dropout if isinstance(dropout, Dropout) else config_dropout(spec, dropout)
DEVICES = ("cuda", "cpu")
#: activation functions whose ``transformers`` implementation saves only its input
_ONE_TENSOR_ACTS = ("silu", "swish", "gelu", "gelu_pytorch_tanh", "relu", "gelu_fast", "quick_gelu")


@dataclass(frozen=True)
class ActivationTerm:
    """One saved tensor (or a group of same-shaped ones).

    bytes = b * s * per_token + b * s * s * per_token_key, divided by ``tp`` where sharded.
    """

    name: str
    per_token: float
    per_token_key: float = 0.0  # eager attention's s x s matrices: bytes per (query, key) pair
    tp_sharded: bool = True  # False: h-wide, replicated across tensor-parallel ranks unless SP
    attention_core: bool = False  # recomputed by selective recompute (Korthikanti sec. 5)
    shared: bool = False  # one tensor that every layer saves (a mask): counted once per stage


def _check(recompute: str, act_bits: float, device: str) -> None:
    if recompute not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {RECOMPUTE}, got {recompute!r}")
    if act_bits not in (16, 32):
        raise ValueError(f"act_bits must be 16 or 32, got {act_bits!r}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")


@dataclass(frozen=True)
class Impl:
    """How ``transformers`` implements a family where its layer kinds (``calc/arch/kinds.py``) say nothing:
    which dtype an op runs in, which views keep a larger storage alive. Declarative data per architecture
    (``IMPL``); the formulas read these flags and the layer kinds, never the family's name."""

    norm_fp32: bool = False  # Gemma's RMSNorm scales by (1 + w) in fp32: the normalized tensor is kept in fp32
    softmax_upcast: bool = True  # eager softmax in fp32, then a copy in the activation dtype (Llama); else in e
    softcap: bool = False  # Gemma 2: tanh soft-capping of the attention logits (its output is saved)
    strided_qkv: bool = False  # GPT-2: q, k, v are strided views of c_attn's output (CPU SDPA copies k and v)
    qkv_view: bool = False  # Phi-3: v is a view of the fused qkv_proj output, which stays alive whole
    expert_f_tensors: int = 4  # f-wide tensors a routed expert keeps (gated: gate, act(gate), up, product)


#: ``Impl`` per architecture (``modeling_<family>.py`` of transformers 5; the rest is ``Impl()``, Llama's):
#: GPT-2 ``eager_attention_forward`` softmaxes in the activation dtype and ``GPT2Attention`` splits one
#: ``c_attn`` output; Gemma 2/3 ``Gemma*RMSNorm`` computes ``x.float() * (1 + w.float())``; Gemma 2 soft-caps
#: logits with ``tanh``; Phi-3 slices q, k, v out of ``qkv_proj``; gpt-oss ``GptOssExperts`` keeps the
#: ``gate_up`` storage (2f: its ``::2``/``1::2`` slices) and five f-wide tensors of its clamped SwiGLU
#: (``gate.clamp``, ``sigmoid(alpha gate)``, ``glu``, ``up + 1``, the product).
IMPL: dict[str, Impl] = {
    "GPT2LMHeadModel": Impl(softmax_upcast=False, strided_qkv=True),
    "Gemma2ForCausalLM": Impl(norm_fp32=True, softcap=True),
    "Gemma3ForCausalLM": Impl(norm_fp32=True),
    "Phi3ForCausalLM": Impl(qkv_view=True),
    "GptOssForCausalLM": Impl(expert_f_tensors=7),
    "Qwen3NextForCausalLM": Impl(norm_fp32=True),  # Qwen3NextRMSNorm: (x.float() * rsqrt) * (1 + w.float())
}


def _impl(spec: ModelSpec) -> Impl:
    return IMPL.get(spec.decoder_architecture, _DEFAULT_IMPL)


_DEFAULT_IMPL = Impl()


def _norm_terms(spec: ModelSpec, width: int, e: float, device: str, name: str, sharded: bool = False,
                frozen: bool = False, kind: str | None = None):
    """What one norm over ``width`` features saves per token (see the module docstring).

    A frozen RMSNorm weight (LoRA) needs no normalized tensor for its gradient: only the fp32 copy
    and ``rsqrt`` remain. LayerNorm (with or without parameters) keeps input and statistics either way.
    ``kind``: the norm kind of the layer (``Block.norm``); default the model's.
    """
    kind = kind or spec.norm
    if kind != "rmsnorm":
        stats = 2 * (4 if device == "cuda" else e)  # mean and rstd per row
        return [ActivationTerm(name, e * width + stats, tp_sharded=sharded)]
    normalized = 0 if frozen else 4 if _impl(spec).norm_fp32 else e
    fp32_copy = 4  # x.to(float32): a new tensor unless x already is fp32
    return [ActivationTerm(name, (fp32_copy + normalized) * width + 4, tp_sharded=sharded)]


def _mlp_terms(spec: ModelSpec, mlp: MLP, e: float, name: str, frozen: bool = False) -> list[ActivationTerm]:
    """Saved tensors of one feed-forward block past its (shared) input (a frozen down/fc2 projection
    does not keep its input)."""
    last = 0 if frozen else 1
    f = mlp.intermediate
    if mlp.gated:  # act(gate) saves gate; act * up saves both; down saves the product
        return [ActivationTerm(f"{name}: gate, act(gate), up" + ("" if frozen else ", product"), (3 + last) * e * f)]
    per_act = 1 if spec.activation in _ONE_TENSOR_ACTS else 4  # gelu_new: x, tanh, 0.5x, 1+tanh
    return [ActivationTerm(f"{name}: activation ({spec.activation})" + ("" if frozen else " and fc2 input"),
                           (per_act + last) * e * f)]


def _moe_terms(spec: ModelSpec, moe: MoE, e: float, frozen: bool) -> list[ActivationTerm]:
    """Router and routed experts (``transformers``' expert loop: each token's ``top_k`` experts gather its
    input, run the expert MLP, and scale the output), plus the shared expert(s) and their gate."""
    k, h = moe.top_k, spec.hidden_size
    t = [ActivationTerm("router (fp32 softmax, top-k, indices)", 4 * moe.experts + 40 * k + 4, tp_sharded=False)]
    if moe.router_fp32:  # DeepSeek-V3 / GLM-4.5: the gate runs in fp32 on an fp32 copy of its input
        t.append(ActivationTerm("router input (fp32 copy)", 4 * h if e != 4 else 0, tp_sharded=False))
    t.append(ActivationTerm("experts: gathered input and output", k * 2 * e * h, tp_sharded=False))
    n_f = _impl(spec).expert_f_tensors if moe.gated else None
    if n_f is not None:
        t.append(ActivationTerm(f"expert: {n_f} f-wide tensors x {k} experts", k * n_f * e * moe.intermediate))
    else:
        t += [ActivationTerm(f"{x.name} x {k} experts", k * x.per_token)
              for x in _mlp_terms(spec, MLP(moe.intermediate, gated=False), e, "expert")]
    if moe.shared is not None:
        t += _mlp_terms(spec, moe.shared, e, "shared experts", frozen)
        if moe.shared_gate:  # Qwen2-MoE: sigmoid(shared_expert_gate(x)) * shared_expert(x)
            t.append(ActivationTerm("shared expert gate: sigmoid and shared output", e * h + e, tp_sharded=False))
    return t


#: LoRA target -> (group of modules sharing one input, input width) for a Llama-style layer
def _lora_inputs(spec: ModelSpec, block: Block) -> dict[str, tuple[str, int]]:
    h = spec.hidden_size
    out = {}
    if isinstance(block.mixer, (Attention, MLA)):
        out = {"q_proj": ("attention input", h), "k_proj": ("attention input", h), "v_proj": ("attention input", h),
               "o_proj": ("o_proj input", block.mixer.out_width)}
    ffn = block.ffn
    mlp = ffn.shared if isinstance(ffn, MoE) else ffn  # routed experts are not adapted
    if mlp is not None:
        out.update({"gate_proj": ("MLP input", h), "up_proj": ("MLP input", h),
                    "down_proj": ("down_proj input", mlp.intermediate)})
    return out


def _lora_terms(spec: ModelSpec, block: Block, e: float, lora: tuple[int, tuple[str, ...], float]):
    """PEFT LoRA paths: each adapted matrix casts its input to the adapter dtype (a copy per matrix
    when that differs from the activations, else the shared input once) and ``lora_B`` saves
    ``lora_A``'s rank-``r`` output. lora_dropout = 0 assumed."""
    rank, targets, adapter_bits = lora
    a = adapter_bits / 8
    inputs = _lora_inputs(spec, block)
    used = [inputs[t] for t in targets if t in inputs]
    if not used:
        return []
    if a != e:
        copies = sum(width for _, width in used)
    else:
        copies = sum(dict(used).values())
    sharded = {"o_proj input", "down_proj input"}
    return [ActivationTerm("LoRA inputs (adapter-dtype copies)", a * copies if a != e else e * copies,
                           tp_sharded=all(g in sharded for g, _ in used)),
            ActivationTerm("LoRA A outputs (rank r)", a * rank * len(used), tp_sharded=False)]


def _attention_terms(spec: ModelSpec, mixer: Attention | MLA, e: float, flash: bool, p_attn: float, mask: float,
                     device: str, window_mask: bool) -> list[ActivationTerm]:
    """Saved tensors of one softmax-attention mixer (``Attention`` or ``MLA`` kind) past its input."""
    impl = _impl(spec)
    a = mixer.heads
    mla = isinstance(mixer, MLA)
    t: list[ActivationTerm] = []
    # SDPA on the CPU has no fused kernel for dropout or for v narrower than q/k (MLA): it runs
    # the math path, which keeps q, k, v and the s x s matrices in fp32
    mixed_dims = (mixer.v_head_dim if mla else mixer.vdim) != mixer.head_dim
    math_fallback = flash and device == "cpu" and (p_attn > 0 or mixed_dims)
    if math_fallback:
        flash, e_attn = False, 4.0
    else:
        e_attn = e
    if mla:  # modeling_deepseek_v3: latents normed, then up-projected per head
        if mixer.q_lora_rank:
            t += _norm_terms(spec, mixer.q_lora_rank, e, "cuda", "MLA q_a norm", kind="rmsnorm")
            t.append(ActivationTerm("MLA q_b_proj input", e * mixer.q_lora_rank, tp_sharded=False))
        t += _norm_terms(spec, mixer.kv_lora_rank, e, "cuda", "MLA kv_a norm", kind="rmsnorm")
        t.append(ActivationTerm("MLA kv_b_proj input", e * mixer.kv_lora_rank, tp_sharded=False))
        q_w = k_w = mixer.q_width  # heads x (nope + rope), keys concatenated per head
        v_w = mixer.out_width
    else:
        q_w = mixer.q_width
        # eager, and SDPA given a mask, expand k and v to all heads (repeat_kv)
        k_w = mixer.kv_width if flash and not window_mask else q_w
        v_w = mixer.kv_heads * mixer.vdim if flash and not window_mask else mixer.out_width
    if window_mask:
        t.append(ActivationTerm("sliding-window mask (SDPA argument, 16-bit, shared)", 0, e, shared=True))
    if not mla and mixer.qk_norm:  # RMSNorm over head_dim (Qwen3, Gemma 3) or all heads (OLMo 2): fp32 rsqrt
        per_head = mixer.qk_norm == "head"
        qn = 4 if impl.norm_fp32 else e
        # q_norm's input is a slice of q_proj's output; with an output gate (Qwen3-Next) that output is q and
        # the gate side by side, and in fp32 ``x.float()`` is the slice itself, so both stay alive
        q_in = 4 * mixer.q_width * (2 if mixer.gate and e == 4 else 1)
        t.append(ActivationTerm("q_norm", q_in + qn * mixer.q_width + 4 * (a if per_head else 1)))
        t.append(ActivationTerm("k_norm", (4 + qn) * mixer.kv_width + 4 * (mixer.kv_heads if per_head else 1)))
    t.append(ActivationTerm("q, k, v", e_attn * (q_w + k_w + v_w)))
    if not mla and mixer.gate:  # Qwen3-Next: attention output * sigmoid(gate) feeds o_proj
        # on the CPU the SDPA kernel's (b, heads, s, d) output is copied to (b, s, heads d) for the product
        copy = flash and device == "cpu"
        t.append(ActivationTerm("output gate: sigmoid and gated output" + (" (and the output's (b, s, h d) copy)"
                                if copy else ""), (3 if copy else 2) * e * mixer.out_width))
    if flash:
        if impl.strided_qkv and device == "cpu":
            # GPT-2's q, k, v are strided views of one c_attn output; the CPU kernel keeps that
            # storage and contiguous copies of k and v
            t.append(ActivationTerm("k, v contiguous copies (CPU SDPA kernel)", e * (k_w + v_w)))
        if impl.qkv_view:
            # Phi-3's v is a view of the fused qkv_proj output, so the whole output stays alive
            t.append(ActivationTerm("rest of the fused qkv_proj output (v is a view of it)", e * (q_w + k_w)))
        t.append(ActivationTerm("attention output (= o_proj input)", e * mixer.out_width))
        t.append(ActivationTerm("log-sum-exp (fp32, per head)", 4 * a))
        return t
    t.append(ActivationTerm("o_proj input", e * mixer.out_width))
    if math_fallback:
        softmax = 4.0
    elif not mla and mixer.sinks:
        # gpt-oss: one learned sink logit per head joins the scores; softmax in the activation dtype over
        # s + 1 keys, and the row max (int64 index) is saved
        softmax = e
        t.append(ActivationTerm("attention sinks: sink column and row-max indices", a * (e + 8)))
    elif not impl.softmax_upcast:
        softmax = e  # GPT-2's eager softmax runs in the activation dtype
    else:
        softmax = 4 + (e if e != 4 else 0)  # fp32 softmax, then a copy in the activation dtype
    if impl.softcap:
        softmax += e  # tanh soft-capping output
    t.append(ActivationTerm("softmax (s x s per head)", 0, a * softmax, attention_core=True))
    if p_attn > 0:  # the dropped-out probabilities (the input of probs @ v) and, for p < 1, the mask
        m = 0.0 if p_attn >= 1 else 4.0 if math_fallback else mask
        t.append(ActivationTerm("attention dropout mask and output", 0, a * (m + e_attn), attention_core=True))
    return t


#: What ``transformers``' PyTorch fallback of the gated delta rule saves for backward, per linear-attention
#: layer (``device="cpu"``: no ``fla`` / ``causal-conv1d`` kernels). Read from ``qwen3_next/
#: modeling_qwen3_next.py`` (transformers 5.24): ``Qwen3NextGatedDeltaNet.forward`` (concatenated q, k, v
#: into ``causal_conv1d_fn``, whose ``F.conv1d(..., padding=kernel - 1)[:, :, :seq_len]`` output keeps its
#: ``s + kernel - 1`` positions behind the silu; ``beta = b.sigmoid()``; ``g = -A_log.exp() *
#: softplus(a.float() + dt_bias)``), ``torch_chunk_gated_delta_rule`` (q, k, v, beta, g copied to fp32 with
#: q and k repeated to the value heads; ``l2norm``; the sequence padded to a multiple of ``chunk_size = 64``;
#: five chunk x chunk fp32 matrices per head (pairwise decay, k_beta k^T, q k^T, the UT system, the
#: intra-chunk attention); ``solve_triangular`` outputs; the decayed q and k; ``v_new`` per chunk; the
#: recurrent state entering each chunk, ``v_heads x k_head_dim x v_head_dim`` fp32) and
#: ``Qwen3NextRMSNormGated`` (fp32 input, normalized, ``silu(gate.float())`` and its input; the weighted and
#: the gated product). Each row: (what, count, bytes per element (``"e"`` = the activation dtype),
#: width, basis): width ``qkv`` = 2K + V conv channels, ``Hdk``/``Hdv`` = value heads x key/value head dim,
#: ``HC`` = value heads x chunk, ``H`` = value heads, ``V`` = value_dim, ``state`` = H x dk x dv; basis
#: ``token`` (each of the s tokens), ``conv`` (s + kernel - 1 positions per sequence), ``padded`` (the
#: sequence padded to whole chunks), ``chunk`` (once per chunk per sequence). Checked against the bytes the
#: harness measures (``validate``: Qwen3-Next, fp32 and bf16, to the byte but for the chunk x chunk bool
#: mask, 4 KiB per layer, and a few per-head scalars).
DELTA_RULE_CHUNK = 64
DELTA_RULE_CPU: tuple[tuple[str, int, str | int, str, str], ...] = (
    ("conv1d input (q, k, v concatenated)", 1, "e", "qkv", "token"),
    ("conv1d output (silu input, s + kernel - 1 positions)", 1, "e", "qkv", "conv"),
    ("q, k fp32 copies at value-head width (l2norm input) ", 2, 4, "Hdk", "token"),
    ("l2norm inverse norms (fp32)", 2, 4, "H", "token"),
    ("g (fp32: softplus input and output)", 2, 4, "H", "token"),
    ("beta (sigmoid output)", 1, "e", "H", "token"),
    ("chunk x chunk matrices (fp32, 5 per head)", 5, 4, "HC", "padded"),
    ("padded k and k_beta, q (chunked), k_cumdecay, decayed q and k (fp32)", 6, 4, "Hdk", "padded"),
    ("padded v, new values, v_new per chunk (fp32)", 3, 4, "Hdv", "padded"),
    ("padded beta, decay and its cumulative sum (fp32)", 4, 4, "H", "padded"),
    ("recurrent state entering each chunk (fp32)", 1, 4, "state", "chunk"),
    ("gated norm: fp32 input, normalized, silu(gate) and gate", 3, 4, "V", "token"),
    ("gated norm: weighted and gated output", 2, "e", "V", "token"),
    ("gated norm rsqrt (fp32, per head)", 1, 4, "H", "token"),
    ("out_proj input", 1, "e", "V", "token"),
)


def _delta_rule_cpu(mixer: GatedDeltaNet, e: float, seq_len: int | None) -> list[tuple[str, float]]:
    """(name, bytes per token) of ``DELTA_RULE_CPU`` for ``seq_len`` tokens (``None``: a whole number of
    chunks, no padding). Padded and per-chunk rows are spread over the s real tokens."""
    c = DELTA_RULE_CHUNK
    h, dk, dv = mixer.v_heads, mixer.k_head_dim, mixer.v_head_dim
    widths = {"qkv": mixer.conv_dim, "Hdk": h * dk, "Hdv": h * dv, "HC": h * c, "H": h, "V": mixer.value_dim,
              "state": h * dk * dv}
    s = seq_len or c
    padded = -(-s // c) * c
    basis = {"token": 1.0, "conv": (s + mixer.conv_kernel - 1) / s, "padded": padded / s, "chunk": padded / c / s}
    if seq_len is None:
        basis.update(conv=1.0, padded=1.0, chunk=1 / c)
    return [(name, n * (e if width_bytes == "e" else width_bytes) * widths[w] * basis[b])
            for name, n, width_bytes, w, b in DELTA_RULE_CPU]


def _recurrent_per_token(mixer, e: float, device: str, seq_len: int | None = None) -> list[tuple[str, float]]:
    """(name, bytes per token) of what a recurrent mixer keeps for backward with the fused CUDA kernels
    (``mamba_ssm`` ``mamba_inner_fn`` / ``mamba_chunk_scan_combined``, ``fla`` ``chunk_gated_delta_rule``),
    read from the mixer kind's widths: the input projection's output, the causal conv's output, the scan's
    per-token inputs and output, the gated norm and the output projection's input. The recurrent state is
    recomputed by the kernels' backward (chunked), so nothing grows with ``d_state x d_inner`` per token.
    These CUDA rows are read from the kernels' sources and are not validated (no GPU here; ``validate/
    gpu_step.py`` would measure them).

    ``device="cpu"``: gated DeltaNet as ``transformers``' PyTorch fallback keeps it (``DELTA_RULE_CPU``,
    validated to 0.1% on Qwen3-Next); Mamba and Mamba-2 keep the CUDA rows (their CPU fallbacks, a per-step
    scan and a chunked SSD in PyTorch ops, are not modelled)."""
    if isinstance(mixer, Mamba):
        d = mixer.d_inner
        return [("in_proj output (x, z)", 2 * e * d), ("conv1d output", e * d),
                ("x_proj output (dt, B, C)", e * (mixer.dt_rank + 2 * mixer.d_state)), ("delta (fp32)", 4 * d),
                ("scan output and out_proj input", 2 * e * d)]
    if isinstance(mixer, Mamba2):
        d, bc = mixer.d_inner, 2 * mixer.n_groups * mixer.d_state
        return [("in_proj output (z, x, B, C, dt)", e * (2 * d + bc + mixer.heads)), ("conv1d output", e * (d + bc)),
                ("dt (fp32)", 4 * mixer.heads), ("scan output, gated norm (fp32) and out_proj input", (2 * e + 8) * d)]
    if isinstance(mixer, GatedDeltaNet):
        if device == "cpu":
            return _delta_rule_cpu(mixer, e, seq_len)
        k2, v = 2 * mixer.key_dim, mixer.value_dim
        return [("in_proj outputs (q, k, v, z, b, a)", e * (k2 + 2 * v + 2 * mixer.v_heads)),
                ("conv1d output", e * (k2 + v)), ("q, k l2-normalized", e * k2),
                ("g and beta (fp32)", 8 * mixer.v_heads),
                # fla's ChunkGatedDeltaRuleFunction also saves A, the solved chunk x chunk UT matrix per
                # value head in the input dtype (fla/ops/gated_delta_rule/chunk.py: solve_tril(...,
                # output_dtype=k.dtype), chunk_size=64), and recomputes the states h in backward
                ("A (UT transform, chunk 64 per value head)", e * mixer.v_heads * DELTA_RULE_CHUNK),
                ("core output, gated norm (fp32) and out_proj input", (2 * e + 8) * v)]
    return [("linear attention: qkv, output, gate and norm", 6 * e * mixer.heads * mixer.head_dim)]


def _recurrent_terms(spec: ModelSpec, mixer, e: float, device: str, seq_len: int | None = None
                     ) -> list[ActivationTerm]:
    """Saved tensors of a state-space or linear-attention mixer past its input (``_recurrent_per_token``)."""
    return [ActivationTerm(f"{type(mixer).__name__}: {name}", per_token)
            for name, per_token in _recurrent_per_token(mixer, e, device, seq_len)]


def layer_key(spec: ModelSpec, layer: int, frozen: bool = False) -> tuple:
    """What ``layer_terms`` and ``backward_workspace_terms`` read of layer ``layer``: its layer kind (the
    index into ``spec.layout.kinds``) and, for LoRA (``frozen``), whether it is layer 0, whose input norm
    saves nothing. Two layers with the same key save the same tensors, so a breakdown computes each
    distinct key once and multiplies by its count (the work grows with the distinct layer kinds, not with
    the layers; issues 18 and 20). ``tests/test_perf.py`` compares the grouped sum with the layer-by-layer
    one for every preset."""
    return (spec.layout.pattern[layer], frozen and layer == 0)


def layer_groups(spec: ModelSpec, layers: range, frozen: bool = False) -> list[tuple[int, int]]:
    """``(first layer, count)`` per distinct ``layer_key`` among ``layers``, in order of first appearance,
    read from the layout's per-layer pattern (a slice, counted at C speed)."""
    lo, hi = layers.start, layers.stop
    if layers.step != 1 or hi <= lo:
        return [(i, 1) for i in layers]
    start = lo + 1 if frozen and lo == 0 else lo  # LoRA: layer 0 is a group of its own
    keys = spec.layout.pattern[start:hi]
    groups = [(start + keys.index(k), keys.count(k)) for k in dict.fromkeys(keys)]
    return [(0, 1), *groups] if start > lo else groups


def _is_attention(mixer) -> bool:
    return isinstance(mixer, (Attention, MLA))


def layer_terms(spec: ModelSpec, layer: int = 0, *, recompute: str = "none", flash_attention: bool = True,
                act_bits: float = 16, dropout: float | Dropout = 0.0, device: str = "cuda",
                seq_len: int | None = None, lora: tuple[int, tuple[str, ...], float] | None = None,
                selective: str = "attention") -> list[ActivationTerm]:
    """The tensors decoder layer ``layer`` saves for backward, as ``ActivationTerm`` rows.

    Read from the layer's kind (``spec.layout.kind(layer)``: its token mixer, feed-forward and norms) and
    the family's ``Impl`` flags; no family is named here. ``recompute="full"`` keeps only the layer input
    (Korthikanti sec. 4.3: ``2sbh``); ``"selective"`` drops the attention-core ``s x s`` terms (sec. 5),
    which a fused kernel never stores, so with ``flash_attention`` it equals ``"none"``. ``lora = (rank,
    targets, adapter_bits)``: the base is frozen, so its linear layers and norm weights keep nothing for
    their own gradients (bitsandbytes' 4-bit matmul of QLoRA neither), and the adapters add their
    inputs and rank-``r`` outputs (MoE experts are counted as if trained: an over-estimate).
    ``dropout``: a ``Dropout`` (``config_dropout(spec)`` is the config's), or one probability applied
    wherever the model has dropout. ``selective`` (``SELECTIVE``) says which selective recompute: ``"ops"`` is
    torchtitan's per-op policy (``op_selective_terms``).
    """
    _check(recompute, act_bits, device)
    if selective not in SELECTIVE:
        raise ValueError(f"selective must be one of {SELECTIVE}, got {selective!r}")
    if recompute == "selective" and selective == "ops":
        if lora is not None:
            raise ValueError("selective recompute 'ops' (torchtitan's per-op policy) is modelled for full training, "
                             "not LoRA: choose selective 'attention'")
        if not 0 <= layer < spec.num_layers:
            raise ValueError(f"layer must be in [0, {spec.num_layers - 1}], got {layer}")
        return op_selective_terms(spec, layer, flash_attention=flash_attention, act_bits=act_bits)
    if not 0 <= layer < spec.num_layers:
        raise ValueError(f"layer must be in [0, {spec.num_layers - 1}], got {layer}")
    drop = _as_dropout(spec, dropout)
    e = act_bits / 8
    h = spec.hidden_size
    block = spec.layout.kind(layer)
    mixer, ffn = block.mixer, block.ffn
    attention = _is_attention(mixer)
    window = getattr(mixer, "window", None) if attention else None
    if recompute == "full":
        t = [ActivationTerm("layer input (checkpoint)", e * h, tp_sharded=False)]
        # The checkpoint also keeps the layer's other arguments alive: eager attention's (b, 1, s, s)
        # mask in the activation dtype (one per mask kind: full and sliding), and SDPA's window mask
        # on the CPU; each is one tensor that every layer shares.
        if attention and not flash_attention:
            kind = "sliding" if window else "causal"
            t.append(ActivationTerm(f"attention mask, {kind} (checkpoint argument, shared)", 0, e, shared=True))
        elif attention and device == "cpu" and window and (seq_len is None or seq_len >= window):
            t.append(ActivationTerm("sliding-window mask (SDPA argument, 16-bit, shared)", 0, e, shared=True))
        return t
    mask = 1 if device == "cuda" else e
    frozen = lora is not None
    norm = block.norm
    # With a frozen embedding (LoRA) layer 0's input needs no gradient: its input norm saves nothing
    t = [] if frozen and layer == 0 else _norm_terms(spec, h, e, device, "input norm", frozen=frozen, kind=norm)
    if not frozen:
        t.append(ActivationTerm("mixer input (norm output)" if not attention else "attention input (norm output)",
                                e * h, tp_sharded=False))
    if attention:
        # SDPA on the CPU gets a float mask for a sliding window once s >= window (FlashAttention-2
        # on CUDA handles windows natively)
        window_mask = (flash_attention and device == "cpu" and bool(window)
                       and (seq_len is None or seq_len >= window))
        t += _attention_terms(spec, mixer, e, flash_attention, drop.attention, mask, device, window_mask)
    elif mixer is not None:
        t += _recurrent_terms(spec, mixer, e, device, seq_len)
    if block.parallel is not None:  # a mixer beside the attention on the same input (Falcon-H1's Mamba-2)
        t += _recurrent_terms(spec, block.parallel, e, device, seq_len)
    if drop.masks("residual"):
        t.append(ActivationTerm("attention residual dropout mask", mask * h, tp_sharded=False))
    if frozen and not flash_attention:  # eager: o_proj's input is its own tensor, kept only to train o_proj
        t = [x for x in t if x.name != "o_proj input"]
    # norms beyond the two pre-norms: Gemma's post-attention and post-feed-forward norms
    for i in range(max(0, block.norms - (2 if ffn is not None else 1))):
        t += _norm_terms(spec, h, e, device, f"post-norm {i + 1}", frozen=frozen, kind=norm)
    if ffn is not None:
        t += _norm_terms(spec, h, e, device, "pre-MLP norm", frozen=frozen, kind=norm)
        if not frozen:
            t.append(ActivationTerm("MLP input (norm output)", e * h, tp_sharded=False))
        if isinstance(ffn, MoE):
            t += _moe_terms(spec, ffn, e, frozen)
        else:
            t += _mlp_terms(spec, ffn, e, "MLP", frozen)
            if drop.masks("activation"):  # OPT: fc2's input is the dropped output
                t.append(ActivationTerm("MLP activation dropout mask", mask * ffn.intermediate))
    if lora is not None:
        t += _lora_terms(spec, block, e, lora)
    if drop.masks("residual") and ffn is not None:
        t.append(ActivationTerm("MLP residual dropout mask", mask * h, tp_sharded=False))
    if recompute == "selective":
        t = [x for x in t if not x.attention_core]
    return t


def op_selective_terms(spec: ModelSpec, layer: int = 0, *, flash_attention: bool = True,
                       act_bits: float = 16) -> list[ActivationTerm]:
    """What one decoder layer keeps under torchtitan's per-op selective activation checkpointing.

    torchtitan wraps each transformer block in ``torch.utils.checkpoint`` with a selective policy
    (``torchtitan/parallelisms/parallelize_llama.py`` at commit 9dec370, the one of its H100 benchmark,
    ``benchmarks/llama3_h100_202412_torchtitan.md``: ``_save_list`` and ``_custom_policy``, "Saves output of all
    compute ops, except every second mm"): the outputs of ``aten.mm`` (the 1st, 3rd, 5th... of the block's forward;
    the even ones are recomputed) and of the fused attention kernels (``_scaled_dot_product_flash_attention`` /
    ``_efficient_attention``: the output and its fp32 log-sum-exp per head) are saved, every other op is re-run in the
    backward pass from the block's input, which the checkpoint keeps. A linear layer with a bias dispatches
    ``addmm``, not ``mm``: it is neither saved nor counted. Without a fused kernel (``flash_attention=False``) the
    attention's batched matmuls are not on the list and are recomputed. ``tests/test_activations_ops.py`` measures
    this with real tensors on the CPU. Modelled for softmax-attention layers with a dense MLP (torchtitan's Llama);
    tensor parallelism's reduce-scattered outputs (also on the list) are not counted.
    """
    e = act_bits / 8
    mixer = spec.layout.kind(layer).mixer
    t = [ActivationTerm("layer input (checkpoint)", e * spec.hidden_size, tp_sharded=False)]
    t += [ActivationTerm(f"{name} output (mm, saved)", e * out, tp_sharded=sharded)
          for name, _, out, sharded, saved in _op_matmuls(spec, layer) if saved]
    if flash_attention:
        t.append(ActivationTerm("attention kernel output (saved)", e * mixer.out_width))
        t.append(ActivationTerm("attention log-sum-exp (fp32, saved)", 4 * mixer.heads))
    return t


def _op_matmuls(spec: ModelSpec, layer: int) -> list[tuple[str, int, int, bool, bool]]:
    """The linear layers of one block in the order its forward runs them, as (name, input width, output width,
    output sharded by tp, kept by torchtitan's per-op policy): a plain ``mm`` (no bias) at an odd count is kept;
    the even ones and the biased ones (``addmm``, not on the list) are recomputed."""
    h = spec.hidden_size
    block = spec.layout.kind(layer)
    mixer, ffn = block.mixer, block.ffn
    if not isinstance(mixer, Attention) or not isinstance(ffn, MLP) or block.parallel is not None:
        raise ValueError(f"selective recompute 'ops' (torchtitan's per-op policy) is modelled for softmax-attention "
                         f"layers with a dense MLP; layer {layer} of {spec.name} has {type(mixer).__name__} and "
                         f"{type(ffn).__name__}{' with a parallel mixer' if block.parallel is not None else ''}: "
                         "choose selective "
                         "'attention' or recompute 'full'")
    kb = mixer.qkv_bias if mixer.k_bias is None else mixer.k_bias
    q_out = mixer.q_width * (2 if mixer.gate else 1)
    v_out = mixer.kv_heads * mixer.vdim
    f = ffn.intermediate
    # (name, in, out, sharded by tp, a plain mm: no bias)
    if mixer.fused_qkv:
        mms = [("qkv_proj", h, q_out + mixer.kv_width + v_out, True, not mixer.qkv_bias)]
    else:
        mms = [("q_proj", h, q_out, True, not mixer.qkv_bias), ("k_proj", h, mixer.kv_width, True, not kb),
               ("v_proj", h, v_out, True, not mixer.qkv_bias)]
    mms.append(("o_proj", mixer.out_width, h, False, not mixer.o_bias))
    down_bias = ffn.bias if ffn.down_bias is None else ffn.down_bias
    if ffn.gated:
        mms += [("gate_proj", h, f, True, not ffn.bias), ("up_proj", h, f, True, not ffn.bias)]
    else:
        mms.append(("fc1", h, f, True, not ffn.bias))
    mms.append(("down_proj", f, h, False, not down_bias))
    out, count = [], 0
    for name, n_in, n_out, sharded, plain in mms:
        count += plain
        out.append((name, n_in, n_out, sharded, plain and count % 2 == 1))  # torchtitan counts mms from 1
    return out


def op_selective_recomputed_params(spec: ModelSpec, layer: int = 0) -> int:
    """Weights of the matmuls torchtitan's per-op policy re-runs in layer ``layer``'s backward pass (the even plain
    ``mm`` and every biased linear; see ``op_selective_terms``) but the block's last one (``down_proj``): no gradient
    needs its output, and non-reentrant ``torch.utils.checkpoint`` stops recomputing "as soon as it has computed all
    needed Tensors" (``set_checkpoint_early_stop``, on by default). They cost ``2 x`` this many FLOPs per token more
    (``calc.plan.step_time``); ``tests/test_activations_ops.py`` counts them with ``FlopCounterMode``."""
    mms = _op_matmuls(spec, layer)[:-1]
    return sum(n_in * n_out for _, n_in, n_out, _, saved in mms if not saved)


def backward_workspace_terms(spec: ModelSpec, layer: int = 0, *, act_bits: float = 16) -> list[ActivationTerm]:
    """Gradients alive while one layer runs backward (not saved tensors): the incoming gradient of
    the hidden state and two ``f``-wide gradients in the MLP (of the activation output and of up,
    or of fc1's output), with ``f`` summed over the experts a token visits, and for MoE layers with
    16-bit activations the fp32 buffer ``transformers`` combines expert outputs in. Fitted to the
    peak that ``validate.measure.PeakTracker`` records on small Llama, GPT-2, Mixtral and DeepSeek
    models (within 10%, most within 3%).
    """
    e = act_bits / 8
    ffn = spec.layout.kind(layer).ffn
    if isinstance(ffn, MoE):
        f = ffn.top_k * ffn.intermediate + (ffn.shared.intermediate if ffn.shared is not None else 0)
    else:
        f = ffn.intermediate if ffn is not None else 0
    t = [ActivationTerm("backward: gradient of the hidden state", e * spec.hidden_size, tp_sharded=False),
         ActivationTerm("backward: two MLP-wide gradients", 2 * e * f)]
    if isinstance(ffn, MoE) and e < 4:  # transformers combines the k expert outputs in an fp32 buffer
        t.append(ActivationTerm("backward: fp32 expert-combine buffer", 4 * ffn.top_k * spec.hidden_size,
                                tp_sharded=False))
    return t


def embedding_terms(spec: ModelSpec, *, act_bits: float = 16, device: str = "cuda",
                    dropout: float | Dropout = 0.0) -> list[ActivationTerm]:
    """Saved tensors of the embedding stage (pipeline stage 0) besides the token ids: the embedding dropout
    mask where the model drops its embeddings (GPT-2's ``GPT2Model.drop``, ``embd_pdrop``)."""
    if not _as_dropout(spec, dropout).masks("embedding"):
        return []
    return [ActivationTerm("embedding dropout mask", (1 if device == "cuda" else act_bits / 8) * spec.hidden_size,
                           tp_sharded=False)]


def model_terms(spec: ModelSpec, *, act_bits: float = 16, device: str = "cuda",
                frozen: bool = False) -> list[ActivationTerm]:
    """Saved tensors outside the decoder layers, and the logits.

    Measured on ``LlamaForCausalLM`` with labels: token ids (int64) for the embedding and the loss,
    the final norm, the lm_head input, and the fp32 log-softmax the cross-entropy saves
    (``4 s b v``; Korthikanti sec. 4.1 counts the same ``4sbv``). ``transformers``' loss
    (``loss_utils.ForCausalLMLoss``) upcasts the logits to fp32 whatever the activation dtype, so
    the backward pass starts with three fp32 ``s b v`` tensors alive at once: the saved
    log-softmax, ``nll_loss_backward``'s gradient of the log-probabilities and
    ``_log_softmax_backward_data``'s gradient of the fp32 logits: ``12 s b v`` bytes, for 16-bit
    activations too (``validate.measure.PeakTracker`` on the harness's bf16 models: the peak of
    Qwen2 with full recompute is this op). The 16-bit logits are not alive then: only the loss is
    kept from the model's output (as in the HF ``Trainer``); a loop that holds the whole output
    through backward adds ``e s b v``. With tensor parallelism the vocabulary is split.
    """
    e = act_bits / 8
    h, v = spec.hidden_size, spec.vocab_size
    t = [ActivationTerm("token ids (embedding, loss)", 16, tp_sharded=False)]
    t += _norm_terms(spec, h, e, device, "final norm", frozen=frozen)
    if not frozen:  # a frozen lm_head (LoRA) keeps nothing for its weight gradient
        t.append(ActivationTerm("lm_head input", e * h, tp_sharded=False))
    t.append(ActivationTerm("log-softmax (fp32, saved by cross-entropy)", 4 * v))
    # not saved: alive only at the start of backward (gradients of the fp32 log-probs and logits)
    t.append(ActivationTerm("loss backward: fp32 gradients of the log-probs and of the logits", 8 * v))
    return t


def terms_bytes(terms: list[ActivationTerm], micro_batch: int, seq_len: int, tp: int = 1,
                sequence_parallel: bool = False) -> int:
    """Add up ``terms`` for ``micro_batch`` sequences of ``seq_len`` tokens on one tensor-parallel rank."""
    total = 0.0
    for x in terms:  # a shared term listed by several layers is one tensor; callers dedupe by name
        n = micro_batch * seq_len * (x.per_token + seq_len * x.per_token_key)
        total += n / tp if (x.tp_sharded or sequence_parallel) else n
    return int(round(total))


def activation_bytes_per_layer(spec: ModelSpec, micro_batch: int, seq_len: int, *, tp: int = 1,
                               sequence_parallel: bool = False, recompute: str = "none",
                               flash_attention: bool = True, act_bits: float = 16, layer: int = 0,
                               dropout: float | Dropout = 0.0, device: str = "cuda",
                               lora: tuple[int, tuple[str, ...], float] | None = None) -> int:
    """Bytes one decoder layer saves for backward on one GPU (see the module docstring).

    >>> from calc.presets import get_preset
    >>> spec = get_preset("Meta-Llama-3-8B")
    >>> activation_bytes_per_layer(spec, 1, 4096, recompute="full")  # the layer input: 2 s h
    33554432
    """
    if micro_batch < 1:
        raise ValueError(f"micro_batch must be >= 1, got {micro_batch}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if tp < 1:
        raise ValueError(f"tp must be >= 1, got {tp}")
    terms = layer_terms(spec, layer, recompute=recompute, flash_attention=flash_attention, act_bits=act_bits,
                        dropout=dropout, device=device, seq_len=seq_len, lora=lora)
    return terms_bytes(terms, micro_batch, seq_len, tp, sequence_parallel)
