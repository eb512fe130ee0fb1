"""Model architectures: one frozen ``ModelSpec`` for every calculator, read from HF ``config.json``.

``ModelSpec.from_hf_config`` is the only place in the project that knows Hugging Face field names.
Parameter counts are exact: they follow the modules that ``transformers`` builds for each
architecture (``modeling_llama.py``, ``modeling_mixtral.py``, ``modeling_qwen2.py``,
``modeling_qwen3(_moe).py``, ``modeling_gemma2.py``, ``modeling_phi3.py``, ``modeling_gpt2.py``,
``modeling_deepseek_v3.py``), and the tests hold them to the count of the same config built with
``transformers`` on the meta device, to the parameter.

Conventions (stated once, used everywhere):
- "total" counts parameters (``model.parameters()``), not buffers: DeepSeek-V3's
  ``e_score_correction_bias`` (a buffer in ``transformers``, 256 per MoE layer = 14,848) is reported
  apart as ``buffers``; the published 671,026,419,200 is ``total + buffers``.
- DeepSeek-V3's multi-token-prediction (MTP) module is excluded from ``total``: its checkpoint stores
  one extra layer (``num_nextn_predict_layers``), but the published 671B and ``transformers``
  both leave it out. ``ModelSpec.mtp_layers`` records how many such layers the checkpoint holds.
- "active" = parameters that touch one token: everything except the routed experts that are not
  selected, i.e. ``experts_per_token`` of ``num_experts`` experts per MoE layer. Embeddings and the
  output head are included, as Mixtral's "12.9B active" and DeepSeek-V3's "37B activated" do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace

from calc.arch.config import MAX_DIM, MAX_EXPERTS, MAX_LAYERS  # noqa: F401 - re-exported
from calc.arch.flat import flat_key, layout_from_flat
from calc.arch.kinds import MLP, PARTS, Layout, MoE


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer, as every calculator needs it. Sizes are element counts."""

    name: str
    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool = False
    gated_mlp: bool = True  # SwiGLU / GeGLU: gate, up, down (3 matrices); else up, down
    activation: str = "silu"
    norm: str = "rmsnorm"  # or "layernorm" (weight + bias)
    norms_per_layer: int = 2  # Gemma 2: 4 (pre/post attention, pre/post feed-forward)
    qk_norm: bool = False  # Qwen3: RMSNorm over head_dim on queries and keys
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    learned_positions: int = 0  # GPT-2: rows of the position embedding table
    max_position_embeddings: int = 4096
    # Mixture of experts (num_experts = 0 means dense)
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    num_shared_experts: int = 0
    moe_layers: tuple[bool, ...] = ()  # per layer: True where the MLP is a MoE block
    # Multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank = 0 means ordinary attention
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # Sliding-window attention: window size and, per layer, whether the layer uses it
    sliding_window: int | None = None
    sliding_layers: tuple[bool, ...] = ()
    mtp_layers: int = 0
    source: str = ""
    #: The text decoder's own architecture (a multimodal model's ``Gemma3ForCausalLM``): what per-architecture
    #: implementation tables (activations, GGUF) are keyed by; "" = ``architecture``.
    decoder_architecture: str = ""
    #: The config as read (read only: a preset's spec is shared, ``calc.presets.get_preset``). Compared (not hashed):
    #: dropout (``calc.activations``) and rope scaling (``calc.gguf``) are read from it, so two
    #: specs that differ only here must not share a memoized result.
    hf_config: dict = field(default_factory=dict, hash=False, repr=False)
    #: The declarative description (``calc/arch``): distinct layer kinds, per-layer pattern, towers.
    #: Built by the family reader; derived from the flat fields above when not given, or when a
    #: ``dataclasses.replace`` changed a flat field it was read with.
    layout: Layout | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Reject sizes no model has (negative, zero, absurd) and per-layer tuples of the wrong
        length, so a hand-built or ``dataclasses.replace``-d spec cannot give negative counts or an
        ``IndexError`` in ``layer_params``."""
        for name, lo, hi in _FIELD_RANGES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"ModelSpec.{name} must be an integer in [{lo}, {hi}], got {value!r:.40}")
        if self.experts_per_token > self.num_experts:
            raise ValueError(f"ModelSpec.experts_per_token ({self.experts_per_token}) must be <= num_experts "
                             f"({self.num_experts})")
        for name in ("moe_layers", "sliding_layers"):
            flags = getattr(self, name)
            if flags and len(flags) != self.num_layers:
                raise ValueError(f"ModelSpec.{name} has {len(flags)} entries; it needs one per layer "
                                 f"(num_layers = {self.num_layers}) or none")
        if self.sliding_window is not None and not (isinstance(self.sliding_window, int)
                                                    and 1 <= self.sliding_window <= 2**31):
            raise ValueError(f"ModelSpec.sliding_window must be None or an integer in [1, 2**31], "
                             f"got {self.sliding_window!r:.40}")
        if self.norm not in ("rmsnorm", "layernorm"):
            raise ValueError(f"ModelSpec.norm must be 'rmsnorm' or 'layernorm', got {self.norm!r:.40}")
        if self.layout is not None and not isinstance(self.layout, Layout):
            raise ValueError(f"ModelSpec.layout must be a calc.arch Layout or None, got {type(self.layout).__name__}")
        if not self.decoder_architecture:
            object.__setattr__(self, "decoder_architecture", self.architecture)
        key = flat_key(self)
        if self.layout is not None and self.layout.flat_key is None:  # a reader's layout: stamp it
            object.__setattr__(self, "layout", replace(self.layout, flat_key=key))
        elif self.layout is None or self.layout.flat_key != key:  # hand-built, or a flat field replaced
            object.__setattr__(self, "layout", layout_from_flat(self))

    def __hash__(self) -> int:
        """The hash of the compared fields, computed once per spec (a spec keys memoized results everywhere, and
        hashing its fields and layout took 2-5 us a call). ``hf_config`` is left out (a dict; equal specs still hash
        alike): specs that differ only there share a hash and are told apart by ``__eq__``."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, name) for name in _HASHED))
            object.__setattr__(self, "_hash", h)
        return h

    def __eq__(self, other) -> bool:
        """Every compared field equal, ``hf_config`` included; the same object, or a different kept hash, answers
        without comparing fields (the generated ``__eq__`` compared every field and the whole layout)."""
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (hash(self) == hash(other) and all(getattr(self, n) == getattr(other, n) for n in _HASHED)
                and self.hf_config == other.hf_config)

    def __getstate__(self) -> dict:
        """Pickled without the kept hash (a string's hash differs between processes)."""
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    # ----- derived -------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def q_dim(self) -> int:
        """Width of the query projection output (heads x head_dim; MLA: heads x (nope + rope))."""
        if self.is_mla:
            return self.num_heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection output: kv_heads x head_dim (GQA shrinks it)."""
        return self.num_kv_heads * self.head_dim

    @property
    def attn_out_dim(self) -> int:
        """Input width of the attention output projection."""
        if self.is_mla:
            return self.num_heads * self.v_head_dim
        return self.num_heads * self.head_dim

    @property
    def shared_expert_intermediate_size(self) -> int:
        return self.moe_intermediate_size * self.num_shared_experts

    def layer_is_moe(self, i: int) -> bool:
        return bool(self.moe_layers[i]) if self.moe_layers else False

    def layer_is_sliding(self, i: int) -> bool:
        return bool(self.sliding_layers[i]) if self.sliding_layers else False

    @property
    def num_moe_layers(self) -> int:
        return sum(1 for x in self.moe_layers if x)

    def without_sliding(self) -> ModelSpec:
        """The same model with every sliding window removed (an engine that caches the full context in
        every layer); the layout changes with the flat fields, so hybrids keep their other kinds."""
        if self.sliding_window is None and not any(getattr(b.mixer, "window", None) for b in self.layout.kinds):
            return self
        kinds = tuple(replace(b, mixer=replace(b.mixer, window=None)) if getattr(b.mixer, "window", None) else b
                      for b in self.layout.kinds)
        return replace(self, sliding_window=None, sliding_layers=(),
                       layout=replace(self.layout, kinds=kinds, flat_key=None))

    # ----- construction --------------------------------------------------------------------
    @classmethod
    def from_hf_config(cls, config: dict, name: str | None = None, source: str = "") -> ModelSpec:
        """Read a Hugging Face ``config.json`` (as a dict). Raises ``ValueError`` naming the field.

        >>> spec = ModelSpec.from_hf_config({"architectures": ["GPT2LMHeadModel"], "n_embd": 768,
        ...     "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024})
        >>> param_counts(spec).total
        124439808
        """
        from calc._hf import spec_kwargs_from_hf

        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
        kwargs = spec_kwargs_from_hf(config)
        kwargs["name"] = (name or str(config.get("_name_or_path") or kwargs["architecture"]))[:200]
        return cls(**kwargs, source=source, hf_config=dict(config))


#: The fields ``ModelSpec.__hash__`` hashes: every compared one but ``hf_config`` (``__eq__`` compares it too).
_HASHED = tuple(f.name for f in fields(ModelSpec) if f.compare and f.name != "hf_config")


#: (field, lowest, highest) for every integer field of ``ModelSpec``; checked in ``__post_init__``.
_FIELD_RANGES = (
    ("hidden_size", 1, MAX_DIM), ("num_layers", 1, MAX_LAYERS), ("num_heads", 1, MAX_DIM),
    ("num_kv_heads", 1, MAX_DIM), ("head_dim", 1, MAX_DIM), ("intermediate_size", 0, MAX_DIM),
    ("vocab_size", 1, MAX_DIM), ("norms_per_layer", 0, 16), ("learned_positions", 0, 2**31),
    ("max_position_embeddings", 1, 2**31), ("num_experts", 0, MAX_EXPERTS), ("experts_per_token", 0, MAX_EXPERTS),
    ("moe_intermediate_size", 0, MAX_DIM), ("num_shared_experts", 0, MAX_EXPERTS), ("q_lora_rank", 0, MAX_DIM),
    ("kv_lora_rank", 0, MAX_DIM), ("qk_nope_head_dim", 0, MAX_DIM), ("qk_rope_head_dim", 0, MAX_DIM),
    ("v_head_dim", 0, MAX_DIM), ("mtp_layers", 0, MAX_LAYERS),
)

def _supported() -> tuple[str, ...]:
    from calc.arch.registry import SUPPORTED_ARCHITECTURES as archs

    return archs


SUPPORTED_ARCHITECTURES = _supported()


@dataclass(frozen=True)
class ParamCounts:
    """Exact parameter counts by component. ``total`` and ``active`` are properties of the parts."""

    embeddings: int  # token (and learned position) embeddings
    attention: int  # q, k, v, o projections (+ biases, sinks; MLA down/up projections)
    mlp: int  # dense feed-forward blocks
    experts: int  # routed experts, all of them
    shared_experts: int  # always-on experts (DeepSeek, Qwen2-MoE, Llama 4) and their gates
    router: int  # MoE gates
    norms: int  # every norm weight (and bias), q/k norms and MLA latent norms included
    output_head: int  # lm_head (0 when tied to the embeddings)
    active_experts: int  # routed expert parameters used by one token
    buffers: int = 0  # tensors the checkpoint stores that are not parameters (DeepSeek router bias)
    recurrent: int = 0  # state-space and linear-attention mixers (Mamba, gated DeltaNet, lightning attention)
    towers: int = 0  # vision / audio encoders and projectors (multimodal models), all of them
    other: int = 0  # tensors outside these parts (projections around the decoder, ...)
    tower_parts: tuple[tuple[str, int], ...] = ()  # (tower name, parameters) for each tower

    @property
    def total(self) -> int:
        return (self.embeddings + self.attention + self.mlp + self.experts + self.shared_experts
                + self.router + self.norms + self.output_head + self.recurrent + self.towers + self.other)

    @property
    def active(self) -> int:
        """Parameters one text token touches: the decoder less the routed experts it does not select.
        Towers are left out (they run once per image or clip, not per token): Llama 4 Scout's "17B active"
        is 17,172,894,720 here, 18.04 B with its vision tower."""
        return self.total - self.towers - self.experts + self.active_experts

    @property
    def decoder(self) -> int:
        """Parameters of the language model alone (total minus the towers)."""
        return self.total - self.towers

    def components(self) -> dict[str, int]:
        return {
            "embeddings": self.embeddings,
            "attention": self.attention,
            "recurrent": self.recurrent,
            "mlp": self.mlp,
            "experts": self.experts,
            "shared_experts": self.shared_experts,
            "router": self.router,
            "norms": self.norms,
            "output_head": self.output_head,
            "towers": self.towers,
            "other": self.other,
        }


def _norm_width_params(kind: str | None, width: int) -> int:
    from calc.arch.kinds import NORM_PARAMS

    return 0 if kind is None else NORM_PARAMS[kind] * width


@functools.lru_cache(maxsize=512)
def param_counts(spec: ModelSpec) -> ParamCounts:
    """Exact parameter counts of ``spec`` by component (see the module docstring for conventions).

    Per distinct layer kind, times the number of layers of that kind (``calc/arch``): the work grows
    with the kinds, never with layers x experts. Memoized (a pure function of a frozen spec, 35-100 us, that every
    page rerun asks again for the sidebar model: its caption, the memory and compute pages, issue 18); the result is
    a frozen dataclass.

    >>> from calc.presets import get_preset
    >>> param_counts(get_preset("Meta-Llama-3-8B")).total
    8030261248
    """
    lay = spec.layout
    h = lay.hidden
    parts = dict.fromkeys(PARTS, 0)
    active_experts = buffers = 0
    for b, n in lay.kind_counts():
        for part, v in b.parts(h).items():
            parts[part] += v * n
        if isinstance(b.ffn, MoE):
            active_experts += n * b.ffn.top_k * b.ffn.expert_params(h)
        buffers += n * b.buffers(h)
    e = lay.embed_width
    parts["embeddings"] += lay.vocab * e + lay.learned_positions * h
    parts["norms"] += _norm_width_params(lay.final_norm, h) + _norm_width_params(lay.embed_norm, e)
    if not lay.tied:
        parts["output_head"] += lay.vocab * e
    if lay.head_bias:
        parts["output_head"] += lay.vocab
    for t in lay.extra:
        if t.buffer:
            buffers += t.numel
        else:
            parts[t.part] += t.numel
    towers = tuple((t.name, t.params()) for t in lay.towers)
    parts["towers"] += sum(n for _, n in towers)
    return ParamCounts(parts["embeddings"], parts["attention"], parts["mlp"], parts["experts"],
                       parts["shared_experts"], parts["router"], parts["norms"], parts["output_head"],
                       active_experts, buffers, parts["recurrent"], parts["towers"], parts["other"], towers)


def _primary_attention(spec: ModelSpec):
    from calc.arch.flat import primary

    block, _ = primary(spec.layout, lambda b: b.is_attention)
    return block


def attention_params(spec: ModelSpec) -> int:
    """Parameters of one attention block of the model's primary attention kind (no norms).

    Standard/GQA: h*q_dim + 2*h*kv_dim + q_dim*h (+ q/k/v biases, + output bias, + sinks).
    MLA (DeepSeek-V2 paper sec. 2.1; ``modeling_deepseek_v3.py``): q_a (h x q_rank), q_b
    (q_rank x heads*(nope+rope)), kv_a (h x (kv_rank + rope)), kv_b (kv_rank x heads*(nope+v)),
    o (heads*v x h). 0 for a model without attention.
    """
    block = _primary_attention(spec)
    return block.mixer.parts(spec.hidden_size).get("attention", 0) if block is not None else 0


def mlp_params(spec: ModelSpec, intermediate: int) -> int:
    """One feed-forward block of width ``intermediate``: gated 3*h*f, plain 2*h*f, plus biases
    (f per up/gate, h for down) when the model's MLPs have them."""
    return sum(t.numel for t in MLP(intermediate, gated=spec.gated_mlp, bias=spec.mlp_bias).tensors(spec.hidden_size))


def norm_params(spec: ModelSpec) -> int:
    """Norm weights of one layer of the primary kind (LayerNorm also has a bias); q/k norms; MLA's
    latent norms."""
    block = _primary_attention(spec) or spec.layout.kinds[0]
    return block.parts(spec.hidden_size).get("norms", 0)


def layer_params(spec: ModelSpec, i: int) -> int:
    """Parameters of decoder layer ``i`` (mixer + norms + dense MLP or MoE block)."""
    return spec.layout.kind(i).params(spec.hidden_size)


def mtp_params(spec: ModelSpec) -> int:
    """Parameters (and router buffers) of the multi-token-prediction layers a checkpoint stores beyond the model
    ``transformers`` builds (``_keys_to_ignore_on_load_unexpected``: ``model.layers.{num_hidden_layers}``).

    Each MTP layer (DeepSeek-V3 paper sec. 2.2; GLM-4.5's checkpoint has the same layout) is a decoder layer like
    the last one, plus ``enorm`` and ``hnorm`` (h each), ``eh_proj`` (h x 2h), ``shared_head.norm`` (h) and its own
    copies of the embedding and the head (V x h each). GLM-4.5-Air's published 110,468,824,832 is
    ``total + buffers + mtp_params`` (tests/test_models.py). 0 without MTP layers.
    """
    n = spec.mtp_layers
    if not n:
        return 0
    h, lay = spec.hidden_size, spec.layout
    last = lay.kind(lay.num_layers - 1)
    per = last.params(h) + last.buffers(h) + 2 * h + 2 * h * h + h + 2 * lay.vocab * lay.embed_width
    return n * per
