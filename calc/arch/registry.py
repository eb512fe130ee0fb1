"""Which family reads a config: by its ``architectures`` list, else its ``model_type``."""

from __future__ import annotations

from dataclasses import replace

from calc.arch.build import Family, assemble, read
from calc.arch.families import FAMILIES, WRAPPERS
from calc.arch.flat import flat_from_layout
from calc.arch.towers import Wrapper, text_config, towers_of

BY_ARCH: dict[str, Family | Wrapper] = {}
BY_TYPE: dict[str, Family | Wrapper] = {}
for _f in (*FAMILIES, *WRAPPERS):
    for _a in (_f.architecture, *_f.aliases):
        BY_ARCH.setdefault(_a, _f)
    for _t in _f.model_types:
        BY_TYPE.setdefault(_t, _f)

SUPPORTED_ARCHITECTURES: tuple[str, ...] = tuple(dict.fromkeys(f.architecture for f in (*FAMILIES, *WRAPPERS)))
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(BY_TYPE)

_WHAT_TO_DO = ("size it from its parameter count alone ('parameter count only' on the Training and Inference "
               "memory pages, or python -m calc memory --params N: weights, optimizer states and compute, no "
               "activations or KV cache), or read its checkpoint's safetensors headers (a Hugging Face id in the "
               "sidebar, or --hf ID) for exact weights")


def family_of(cfg: dict) -> tuple[Family | Wrapper, str]:
    """The family that reads ``cfg`` and the architecture name it is reported under."""
    archs = cfg.get("architectures")
    if archs is not None and (not isinstance(archs, list) or not all(isinstance(a, str) for a in archs)):
        raise ValueError(f"config field 'architectures' must be a list of strings, got {archs!r:.80}")
    for a in archs or []:
        if a in BY_ARCH:
            return BY_ARCH[a], a
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in BY_TYPE:
        f = BY_TYPE[model_type]
        if archs and isinstance(f, Wrapper) and not f.towers:
            # the entry reads the decoder alone (what AutoModelForCausalLM builds); a named multimodal class
            # would be counted without its towers
            raise ValueError(f"architecture {archs[0]!r:.80} is not supported (its {model_type} text decoder is, "
                             f"as {f.architecture}; the towers are not modelled): {_WHAT_TO_DO}")
        return f, f.architecture
    if archs:
        raise ValueError(f"architecture {archs[0]!r:.80} is not supported (not modelled here; "
                         f"{len(SUPPORTED_ARCHITECTURES)} are: python -m calc models --architectures): {_WHAT_TO_DO}")
    if model_type is None:
        raise ValueError("config has neither 'architectures' nor 'model_type', so its architecture is unknown: "
                         + _WHAT_TO_DO)
    raise ValueError(f"model_type {model_type!r:.80} is not supported (not modelled here; "
                     f"{len(SUPPORTED_MODEL_TYPES)} types are: python -m calc models --architectures): {_WHAT_TO_DO}")


def spec_kwargs(cfg: dict) -> dict:
    """``ModelSpec`` keyword arguments (flat fields, layout, architecture; not name/source) for ``cfg``."""
    family, arch = family_of(cfg)
    if isinstance(family, Wrapper):
        return _wrapped_kwargs(cfg, family, arch)
    return _family_kwargs(cfg, family, arch)


def _wrapped_kwargs(cfg: dict, w: Wrapper, arch: str) -> dict:
    """A multimodal model: its text decoder read by its family, its towers added (calc/arch/towers.py)."""
    text = text_config(cfg, w)
    mt = text.get("model_type")
    f = w.text_family or (BY_TYPE.get(mt) if isinstance(mt, str) else None)
    if not isinstance(f, Family):
        raise ValueError(f"{arch}: its text decoder (model_type {text.get('model_type')!r:.60}) is not modelled "
                         f"here: {_WHAT_TO_DO}")
    kw = _family_kwargs(text, f, arch)
    kw["decoder_architecture"] = f.architecture
    kw["layout"] = replace(kw["layout"], towers=towers_of(cfg, w, kw["layout"].hidden))
    return kw


def _family_kwargs(cfg: dict, family: Family, arch: str) -> dict:
    b = read(cfg, family)
    layout = assemble(b)
    kw = flat_from_layout(layout, b.nominal)
    kw["architecture"] = arch
    c = b.c
    kw["max_position_embeddings"] = b.nominal.get("max_position_embeddings") or c.int(
        family.name("max_position_embeddings"), 4096, hi=2**31)
    act = c.str(family.name("hidden_act")) or c.str("hidden_activation") or c.str("activation_function") or "silu"
    kw["activation"] = act
    kw["layout"] = layout  # ModelSpec stamps it with the flat fields (calc/arch/flat.py)
    return kw
