"""Names of the models a session adds (a Hub id, an upload, a GGUF file): never a preset's name.

The sidebar picker lists presets and this session's models by name; two entries of one name could not be told
apart (the picker showed the name twice and only one of the two could be chosen). A Hub id may be exactly a
preset's name (the Hub's single-part legacy ids, e.g. ``gpt2``), so such a model is listed as ``"<name> (<tag>)"``.
Kept apart from ``ui.pickers`` so that ``ui.hub_model`` (which ``ui.pickers`` imports) can use it too.
"""

from __future__ import annotations

import dataclasses

from calc.models import ModelSpec
from calc.presets import PRESETS


def session_name(name: str, tag: str) -> str:
    """``name``, or ``"<name> (<tag>)"`` where a preset already has that name."""
    return f"{name} ({tag})" if name in PRESETS else name


def session_spec(spec: ModelSpec, tag: str) -> ModelSpec:
    """``spec`` under its :func:`session_name` (the same object where the name is free)."""
    name = session_name(spec.name, tag)
    return spec if name == spec.name else dataclasses.replace(spec, name=name)
