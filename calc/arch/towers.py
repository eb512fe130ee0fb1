"""Multimodal models as data: a text decoder (any family of ``calc/arch/families.py``) plus towers.

A multimodal checkpoint (Gemma 3, Llama 4, Mistral Small 3.1, Qwen2.5-VL, Qwen3-VL, Phi-4-multimodal) is
described by a ``Wrapper`` entry: where its text decoder's config lives (``text_config``, or the top-level
config itself) and which family reads it, plus a tuple of towers. A tower is one of two declarative kinds:

- ``Encoder``: a transformer encoder (ViT, SigLIP, Pixtral, the Qwen-VL and Llama 4 vision models): a patch
  embedding, an optional class token and position table, N encoder layers (``kinds.Block`` of an
  ``Attention`` and an ``MLP``: the same layer vocabulary as the decoder), pre/post norms and SigLIP's
  optional attention-pooling head;
- ``Projector``: the small modules between towers and the decoder (Gemma 3's soft-embedding projection,
  Mistral 3's patch merger, the Qwen-VL mergers, Llama 4's pixel-shuffle MLP): a list of ``Lin``, ``Norm``
  and ``Weight`` steps, repeated ``count`` times.

Widths are written as products of config fields, ``"vision_config.hidden_size*vision_config.spatial_merge_size"``
(``text.hidden`` is the decoder's hidden size; ``#field`` is the length of a list field, 1 for a number), so an
entry reads like the ``__init__`` it mirrors. Each tower becomes a ``kinds.Tower``: counted in parameters and
weight memory and shown apart (``ParamCounts.tower_parts``); the text decoder alone drives KV cache,
activations and FLOPs. Shapes follow ``transformers`` 5 (``modeling_siglip.py``, ``modeling_gemma3.py``,
``modeling_llama4.py``, ``modeling_pixtral.py``, ``modeling_mistral3.py``, ``modeling_qwen2_5_vl.py``,
``modeling_qwen3_vl.py``, ``modeling_phi4_multimodal.py``); ``tests/test_multimodal.py`` holds every entry to
the model ``transformers`` builds on the meta device, to the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calc.arch.build import Family
from calc.arch.config import MAX_LAYERS, Cfg
from calc.arch.kinds import MLP, NORM_PARAMS, Attention, Block, T, Tower

#: Widest tensor dimension a tower may declare (a product of config fields); keeps counts sane.
MAX_WIDTH = 2**31

Flag = bool | str  # a constant, or a "sub_config.field" holding it


class Ctx:
    """The configs an entry's expressions read: the top level ("") and its sub-configs, with defaults."""

    def __init__(self, cfgs: dict[str, Cfg], text_hidden: int) -> None:
        self.cfgs = cfgs
        self.text_hidden = text_hidden

    def _where(self, token: str) -> tuple[Cfg, str]:
        key, _, name = token.rpartition(".")
        if key not in self.cfgs:  # pragma: no cover - a table error
            raise ValueError(f"unknown sub-config {key!r} in a tower entry")
        return self.cfgs[key], name

    def size(self, expr: str) -> int:
        """Product of ``*``-separated tokens: integers, ``text.hidden``, ``[sub.]field``, ``#[sub.]field``
        (a list's length, 1 for a number), ``log2:[sub.]field`` (``int(math.log2(v))``), less an optional
        ``-k`` at the end (NeMo's subsampling: ``log2(time_reduction) - 1`` conv pairs)."""
        less = 0
        if "-" in expr:
            expr, k = expr.rsplit("-", 1)
            less = int(k)
        n = 1
        for tok in expr.split("*"):
            if tok.isdigit():
                n *= int(tok)
            elif tok == "text.hidden":
                n *= self.text_hidden
            elif tok.startswith("#"):
                c, name = self._where(tok[1:])
                v = c.get(name)
                n *= len(c.int_list(name, lo=-MAX_LAYERS)) if isinstance(v, list) else 1
            elif tok.startswith("log2:"):
                c, name = self._where(tok[5:])
                n *= c.int(name).bit_length() - 1
            else:
                c, name = self._where(tok)
                n *= c.int(name)
        n -= less
        if n < 0:
            raise ValueError(f"tower size {expr}-{less} is negative; check the config's sizes")
        if n > MAX_WIDTH:
            raise ValueError(f"tower width {expr} = {n} is above {MAX_WIDTH}; check the config's sizes")
        return n

    def flag(self, f: Flag) -> bool:
        """A constant, or a boolean ``[sub.]field`` (``!`` in front negates it; ``?`` in front: the field is
        set, not null, as GIT's num_image_with_embedding)."""
        if isinstance(f, bool):
            return f
        if f.startswith("?"):
            c, name = self._where(f[1:])
            return c.get(name, None) is not None
        c, name = self._where(f.lstrip("!"))
        return c.bool(name) != f.startswith("!")


# ----- tower kinds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoder:
    """A transformer encoder tower (``name`` "vision" or "audio") read from sub-config ``key``.

    ``patch``: "conv" (Conv2d C x p x p), "conv3d" (Conv3d C x t x p x p, ``temporal_patch_size``),
    "linear" (an unfolded C*p*p Linear); ``positions``: "grid" ((image/patch)^2 rows), "grid+1" (and one
    for the class token), a field name holding the rows, or "" (rotary only); ``head``: "" or a boolean
    field (or True) for SigLIP's multi-head attention-pooling head (probe, fused in-projection, out
    projection, LayerNorm, MLP)."""

    name: str
    key: str
    defaults: dict
    names: dict = field(default_factory=dict)  # our name -> field of the sub-config
    patch: str = "conv"
    patch_bias: bool = True
    positions: str = "grid"
    class_embedding: bool = False
    pre_norm: str | None = None
    post_norm: str | None = "layernorm"
    norm: str = "layernorm"
    qkv_bias: bool = True
    o_bias: bool = True
    fused_qkv: bool = False
    gated: bool = False
    mlp_bias: bool = True
    head: Flag = ""

    def n(self, key: str) -> str:
        """Our size name -> an expression over this tower's sub-config (a name may be a product:
        Qwen2-VL's MLP width is ``embed_dim*mlp_ratio``)."""
        return "*".join(self.key + "." + f for f in self.names.get(key, key).split("*"))

    def tower(self, x: Ctx) -> Tower:
        h = x.size(self.n("hidden_size"))
        heads = x.size(self.n("num_attention_heads"))
        inter = x.size(self.n("intermediate_size"))
        layers = x.cfgs[self.key].int(self.names.get("num_hidden_layers", "num_hidden_layers"), hi=MAX_LAYERS)
        hd_field = self.names.get("head_dim")
        if hd_field is None and h % heads:
            raise ValueError(f"{self.n('hidden_size')} ({h}) must be a multiple of "
                             f"{self.n('num_attention_heads')} ({heads})")
        hd = x.size(self.key + "." + hd_field) if hd_field else h // heads
        attn = Attention(heads, heads, hd, qkv_bias=self.qkv_bias, o_bias=self.o_bias, fused_qkv=self.fused_qkv)
        layer = Block(attn, MLP(inter, gated=self.gated, bias=self.mlp_bias), norms=2, norm=self.norm)
        ch, p = x.size(self.n("num_channels")), x.size(self.n("patch_size"))
        extra: list[T] = []
        if self.patch == "linear":
            extra.append(T("patch_embedding.weight", (h, ch * p * p), self.name, linear=True))
        else:
            t = (x.size(self.n("temporal_patch_size")),) if self.patch == "conv3d" else ()
            extra.append(T("patch_embedding.weight", (h, ch, *t, p, p), self.name))
            if self.patch_bias:
                extra.append(T("patch_embedding.bias", (h,), self.name))
        if self.class_embedding:
            extra.append(T("class_embedding", (h,), self.name))
        if self.positions:
            if self.positions.startswith("grid"):
                rows = (x.size(self.n("image_size")) // p) ** 2 + (1 if self.positions == "grid+1" else 0)
            else:
                rows = x.size(self.n(self.positions))
            extra.append(T("position_embedding.weight", (rows, h), self.name))
        for nm, kind in (("pre_norm", self.pre_norm), ("post_norm", self.post_norm)):
            if kind:
                extra += [T(f"{nm}.{w}", (h,), self.name) for w in ("weight", "bias")[:NORM_PARAMS[kind]]]
        if self.head != "" and x.flag(self.head if isinstance(self.head, bool) else self.key + "." + self.head):
            extra.append(T("head.probe", (h,), self.name))
            extra += [T("head." + t.name, t.shape, self.name, t.linear)
                      for t in Attention(heads, heads, hd, qkv_bias=True, o_bias=True, fused_qkv=True).tensors(h)]
            extra += [T("head.layernorm.weight", (h,), self.name), T("head.layernorm.bias", (h,), self.name)]
            extra += [T("head." + t.name, t.shape, self.name, t.linear)
                      for t in MLP(inter, gated=False, bias=True).tensors(h)]
        return Tower(self.name, h, ((layer, layers),), tuple(extra))


@dataclass(frozen=True)
class Choice:
    """The tower a sub-config's ``model_type`` names (Llava's vision tower is CLIP, SigLIP or Pixtral:
    ``AutoModel.from_config(config.vision_config)``)."""

    key: str  # the sub-config
    options: dict  # model_type -> Encoder
    default: str  # the model_type when the sub-config names none

    def tower(self, x: Ctx) -> Tower:
        mt = x.cfgs[self.key].raw.get("model_type") or self.default
        if mt not in self.options:
            raise ValueError(f"config field '{self.key}.model_type' must be one of {sorted(self.options)} "
                             f"(towers modelled here), got {str(mt)[:40]!r}")
        enc = self.options[mt]
        return enc.tower(Ctx({**x.cfgs, self.key: Cfg(x.cfgs[self.key].raw, enc.defaults)}, x.text_hidden))


@dataclass(frozen=True)
class Lin:
    """A Linear ``d_in -> d_out`` (widths as expressions); ``bias`` a constant or a boolean field."""

    d_in: str
    d_out: str
    bias: Flag = False


@dataclass(frozen=True)
class Norm:
    width: str
    kind: str = "rmsnorm"


@dataclass(frozen=True)
class Weight:
    """A bare parameter (Gemma 3's ``mm_input_projection_weight``, Phi-4's feature separators)."""

    shape: tuple[str, ...]


@dataclass(frozen=True)
class Projector:
    """Modules between a tower and the decoder (or any stack of plain modules): ``steps`` repeated
    ``count`` times (an expression), present when ``when`` (a boolean field, "" always). Entries of one
    ``name`` in a wrapper's towers are one tower (Phi-4's conformer: its blocks, subsampling convs and
    relative-position bias)."""

    name: str
    steps: tuple[Lin | Norm | Weight, ...]
    count: str = "1"
    when: Flag = True

    def tower(self, x: Ctx) -> Tower:
        out: list[T] = []
        for i, s in enumerate(self.steps):
            if isinstance(s, Lin):
                d_in, d_out = x.size(s.d_in), x.size(s.d_out)
                out.append(T(f"{i}.weight", (d_out, d_in), self.name, linear=True))
                if x.flag(s.bias):
                    out.append(T(f"{i}.bias", (d_out,), self.name))
            elif isinstance(s, Norm):
                w = x.size(s.width)
                out += [T(f"{i}.{n}", (w,), self.name) for n in ("weight", "bias")[:NORM_PARAMS[s.kind]]]
            else:
                out.append(T(f"{i}", tuple(x.size(d) for d in s.shape), self.name))
        n = x.size(self.count) if x.flag(self.when) else 0
        if n > MAX_LAYERS:
            raise ValueError(f"{self.name}: {self.count} = {n} repeats, above {MAX_LAYERS}")
        # one kind counted n times (kinds.Tower.blocks), never n copies of its tensor list
        return Tower(self.name, 0, ((Block(None, None, norms=0, extra=tuple(out)), n),) if n else ())


# ----- a multimodal model -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wrapper:
    """A multimodal architecture: its text decoder's config (``text_key``; None: the top-level config is
    the decoder's own) read by ``text_family`` (or the family of the text config's ``model_type``,
    ``text_type`` when it names none), the defaults of its top-level config class and sub-configs, and
    its towers. ``towers=()`` reads the decoder alone (``Llama4ForCausalLM`` on a ``llama4`` config).

    A sub-config given as a JSON object is completed with its class's defaults (``text_defaults``,
    ``sub_defaults``: ``Gemma3TextConfig(**text_config)`` fills what a Hub config leaves out); an
    absent one is what the composite config builds instead (``absent``: its ``init_kwargs``;
    ``configuration_utils.SubConfigSpec.create_subconfig``). ``absent[text_key] = None``: an absent text
    config means the decoder's fields sit at the top level (Qwen2.5-VL's flat Hub configs)."""

    model_types: tuple[str, ...]
    architecture: str
    text_type: str
    defaults: dict = field(default_factory=dict)
    text_defaults: dict = field(default_factory=dict)  # the text config class's defaults
    sub_defaults: dict = field(default_factory=dict)  # sub-config key -> its class's defaults
    absent: dict = field(default_factory=dict)  # sub-config key -> the config used when it is absent
    text_key: str | None = "text_config"
    text_family: Family | None = None
    text_tie: bool = False  # a text config's tie_word_embeddings true ties the head too (Qwen2.5-VL's BC rule)
    towers: tuple[Encoder | Choice | Projector, ...] = ()
    aliases: tuple[str, ...] = ()
    note: str = ""


def _sub(raw: dict, key: str, absent: dict) -> dict | None:
    """The sub-config ``key`` as given, else what its composite builds (None: the top level)."""
    value = raw.get(key)
    if value is None:
        return absent.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"config field {key!r} must be a JSON object, got {type(value).__name__}")
    return value


def text_config(raw: dict, w: Wrapper) -> dict:
    """The decoder's config dict: the ``text_config`` object completed by its class's defaults, or the
    top-level config itself. The head is tied by the top level's ``tie_word_embeddings`` (the composite
    model ties ``lm_head``); with ``text_tie`` also by the text config's (``configuration_qwen2_5_vl.py``
    forwards it; measured on Qwen2.5-VL and Qwen3-VL built with each combination of the two flags)."""
    sub = raw if w.text_key is None else _sub(raw, w.text_key, w.absent)
    if sub is None:
        sub = raw
    given = {k: v for k, v in sub.items() if v is not None}
    if sub is raw or not isinstance(given.get("model_type"), str):
        given["model_type"] = w.text_type
    # the class defaults complete a text config of the wrapper's own text type (Llava's may be any decoder)
    out = {**w.text_defaults, **given} if given["model_type"] == w.text_type else given
    # a field written as null stays null over the class default: the family reader then applies transformers'
    # rule for None (Mistral Small 3.1 / 3.2: sliding_window null is no window, not the class's 4096)
    out.update({k: None for k, v in sub.items() if v is None and k in out and sub is not raw})
    out.pop("architectures", None)
    top = Cfg(raw, w.defaults)
    out["tie_word_embeddings"] = top.bool("tie_word_embeddings") or (
        w.text_tie and sub is not raw and sub.get("tie_word_embeddings") is True)
    return out


def towers_of(raw: dict, w: Wrapper, text_hidden: int) -> tuple[Tower, ...]:
    cfgs = {"": Cfg(raw, w.defaults)}
    for key, d in w.sub_defaults.items():
        sub = _sub(raw, key, w.absent)
        cfgs[key] = Cfg(sub if sub is not None else raw, d)
    x = Ctx(cfgs, text_hidden)
    merged: dict[str, Tower] = {}
    for t in (t.tower(x) for t in w.towers):
        m = merged.get(t.name)
        merged[t.name] = t if m is None else Tower(t.name, m.hidden or t.hidden, m.blocks + t.blocks, m.extra + t.extra)
    return tuple(merged.values())
