"""Hugging Face ``config.json`` -> ``ModelSpec`` keyword arguments.

The field names, defaults and per-family rules live in ``calc/arch`` (``families.py`` declares every
family; ``build.py`` reads them; ``config.py`` type- and range-checks each value). This module is the
entry point ``ModelSpec.from_hf_config`` calls.
"""

from __future__ import annotations

from calc.arch.registry import BY_TYPE, spec_kwargs

ARCH_TO_MODEL_TYPE = {f.architecture: t for t, f in BY_TYPE.items()}


def spec_kwargs_from_hf(cfg: dict) -> dict:
    """Map a config dict to ``ModelSpec`` keyword arguments (without name/source)."""
    return spec_kwargs(cfg)
