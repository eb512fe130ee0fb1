"""Which tensor-parallel degrees a model allows, read from its layer kinds (``calc/arch``), and what one GPU of
a ``tp``-way split keeps of a recurrent mixer.

Tensor parallelism splits every token mixer in whole units (Shoeybi et al. 2019, "Megatron-LM", sec. 3: attention
by heads). Which units depends on the mixer kind, so the rule is read from the layout, never from the flat head
counts (a pure Mamba model has one placeholder head, which is not a unit):

- attention (softmax, MLA): the query heads and the KV heads, when some layer has attention;
- Mamba-1: its d_inner channels (Megatron-LM ``MambaMixer`` / vLLM ``MambaMixer`` column-split ``in_proj``);
- Mamba-2: its heads and its groups (Megatron-LM ``MambaMixer``: ``ngroups % tp == 0``; vLLM ``MambaMixer2``);
- gated DeltaNet (Qwen3-Next): its key heads and value heads (vLLM ``Qwen3NextGatedDeltaNet``);
- lightning attention (MiniMax-01): its heads; LFM2's short conv: its channels.

Training (Megatron-LM) needs ``tp`` to divide every unit. Serving (vLLM) also accepts a ``tp`` that is a multiple
of the KV heads (each GPU keeps a replica of one, ``QKVParallelLinear``) and a Mamba-2 mixer of one group (each
GPU keeps a replica of it: ``MambaMixer2`` asserts ``n_groups % tp == 0 or n_groups == 1``).

``tp_problem`` is the one check every caller uses (``calc.memory``'s setups, ``calc.solvers``' searches,
``calc.plan``'s layouts); ``valid_tps`` lists what it allows.
"""

from __future__ import annotations

from dataclasses import replace

from calc.arch.kinds import GatedDeltaNet, LinearAttention, Mamba, Mamba2, ShortConv

#: What a tensor-parallel split divides in each recurrent mixer kind: (field of the kind, unit name). A new
#: recurrent kind gets one entry (tests/test_tp_kinds.py checks that every kind with a state has one).
RECURRENT_UNITS: dict[type, tuple[tuple[str, str], ...]] = {
    Mamba: (("d_inner", "Mamba inner channels (d_inner)"),),
    Mamba2: (("heads", "Mamba-2 heads"), ("n_groups", "Mamba-2 groups")),
    GatedDeltaNet: (("k_heads", "DeltaNet key heads"), ("v_heads", "DeltaNet value heads")),
    LinearAttention: (("heads", "linear-attention heads"),),
    ShortConv: (("width", "conv channels"),),
}
#: Units a serving engine may replicate instead of splitting, and when (vLLM, see the module docstring).
SERVING_REPLICAS = {
    "KV heads": lambda n, tp: tp % n == 0,
    "Mamba-2 groups": lambda n, tp: n == 1,
}
#: How far ``tp_problem``'s message lists the allowed degrees.
SHOWN_UP_TO = 64


def mixer_units(mixer) -> dict[str, int]:
    """The units of one recurrent mixer that tensor parallelism splits ({} for attention or None)."""
    return {name: getattr(mixer, f) for f, name in RECURRENT_UNITS.get(type(mixer), ())}


def tp_units(model) -> dict[str, int]:
    """Every unit ``tp`` must split for ``model`` (a ``ModelSpec``), by name: the attention heads and KV heads when
    some layer has attention, then each recurrent mixer's own (the first mixer of a kind names it)."""
    units: dict[str, int] = {}
    kinds = model.layout.kinds
    if any(b.is_attention for b in kinds):
        units["attention heads"] = model.num_heads
        units["KV heads"] = model.num_kv_heads
    for b in kinds:
        for name, n in mixer_units(b.recurrent).items():
            units.setdefault(name, n)
    return units


def _bad(units: dict[str, int], tp: int, serving: bool) -> list[str]:
    return [k for k, n in units.items() if n % tp and not (serving and k in SERVING_REPLICAS
                                                            and SERVING_REPLICAS[k](n, tp))]


def valid_tps(model, serving: bool = False, max_tp: int = 8) -> list[int]:
    """Tensor-parallel degrees up to ``max_tp`` that ``model`` allows; a bare parameter count: powers of two.

    >>> from calc.presets import get_preset
    >>> valid_tps(get_preset("Meta-Llama-3-70B"), max_tp=64)  # 64 heads, 8 KV heads
    [1, 2, 4, 8]
    >>> valid_tps(get_preset("Meta-Llama-3-70B"), serving=True, max_tp=64)
    [1, 2, 4, 8, 16, 32, 64]
    """
    if not hasattr(model, "layout"):
        return [2**i for i in range(max_tp.bit_length()) if 2**i <= max_tp]
    units = tp_units(model)
    return [t for t in range(1, max_tp + 1) if not _bad(units, t, serving)]


def tp_problem(model, tp: int, serving: bool = False) -> str | None:
    """Why ``model`` cannot be split over ``tp`` GPUs (one sentence naming every unit tp must divide, and the
    degrees allowed), or None. A bare parameter count has no units: any tp."""
    if tp == 1 or not hasattr(model, "layout"):
        return None
    units = tp_units(model)
    bad = _bad(units, tp, serving)
    if not bad:
        return None
    parts = []
    for k, n in units.items():
        if serving and k == "KV heads":
            parts.append(f"the KV heads ({n}) (or be a multiple of them)")
        elif not (serving and k == "Mamba-2 groups" and n == 1):  # one group: a replica on every GPU
            parts.append(f"the {k} ({n})")
    ok = ", ".join(map(str, valid_tps(model, serving, SHOWN_UP_TO)))
    rule = "serving (vLLM)" if serving else "training (Megatron-LM)"
    return f"tp={tp} must divide {' and '.join(parts)}; allowed tp up to {SHOWN_UP_TO} for {rule}: {ok}"


def check_tp(model, tp: int, serving: bool = False) -> None:
    """``ValueError`` with ``tp_problem``'s sentence when ``model`` cannot be split over ``tp`` GPUs."""
    problem = tp_problem(model, tp, serving)
    if problem:
        raise ValueError(problem)


def mixer_on_gpu(mixer, tp: int):
    """The share of a recurrent ``mixer`` one GPU of a ``tp``-way split holds, as a mixer of the same kind: each unit
    divided by ``tp`` (rounded up: a unit tp does not divide is replicated, as vLLM keeps Mamba-2's single group
    on every GPU). Its ``state_elements()`` are that GPU's conv and recurrent state."""
    if tp == 1 or type(mixer) not in RECURRENT_UNITS:
        return mixer
    fields = {f: -(-getattr(mixer, f) // tp) for f, _ in RECURRENT_UNITS[type(mixer)]}
    if isinstance(mixer, Mamba2) and mixer.d_inner_override:
        fields["d_inner_override"] = -(-mixer.d_inner_override // tp)
    return replace(mixer, **fields)


def state_elements_on_gpu(block, tp: int) -> tuple[int, int]:
    """(conv-state, recurrent-state) elements one sequence keeps on one GPU of a ``tp``-way split, for a layer kind
    (``calc.arch.kinds.Block``): its recurrent mixer's split units (``mixer_on_gpu``)."""
    r = block.recurrent
    return mixer_on_gpu(r, tp).state_elements() if r is not None else (0, 0)
