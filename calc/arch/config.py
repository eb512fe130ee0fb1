"""Typed, range-checked reads of an untrusted ``config.json`` dict, with a family's defaults.

Every value is checked here and a ``ValueError`` names the field, the value and what is allowed.
Defaults mirror the ``transformers`` config class of the family for fields a config may omit (the Hub's
``config.json`` files are written with ``to_diff_dict`` and leave out every field equal to the class
default).
"""

from __future__ import annotations

from typing import Any

#: Largest value accepted for a dimension from an untrusted config (a 2**24 hidden size is far
#: above any real model and keeps every product well inside int64 / float64).
MAX_DIM = 2**24
MAX_LAYERS = 10_000
MAX_EXPERTS = 65_536

MISSING: Any = object()


class Cfg:
    """A config dict plus the family's defaults; ``c.int("hidden_size")`` etc."""

    __slots__ = ("raw", "defaults")

    def __init__(self, raw: dict, defaults: dict | None = None) -> None:
        self.raw = raw
        self.defaults = defaults or {}

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def _fallback(self, key: str, default: Any) -> Any:
        """The value of a field the config does not give. Absent: the family's class default (what transformers
        uses), else the caller's fallback. Written as null: the caller's fallback (transformers' own rule for None,
        e.g. head_dim None -> hidden // heads), else the class default."""
        if key in self.raw:
            return self.defaults.get(key, MISSING) if default is MISSING else default
        value = self.defaults.get(key)
        return default if value is None else value

    def get(self, key: str, default: Any = MISSING) -> Any:
        value = self.raw.get(key)
        if value is None:
            value = self._fallback(key, default)
            if value is MISSING:
                value = None if key in self.raw else MISSING
        return value

    def first(self, *keys: str) -> str:
        """The first of ``keys`` the config sets (else the first the defaults know, else the first)."""
        for k in keys:
            if self.raw.get(k) is not None:
                return k
        for k in keys:
            if k in self.defaults:
                return k
        return keys[0]

    def int(self, key: str, default: Any = MISSING, lo: int = 1, hi: int = MAX_DIM) -> int:
        value = self.raw.get(key)
        if value is None:
            value = self._fallback(key, default)
            if value is MISSING or value is None:
                raise ValueError(f"config field {key!r} is missing (an integer in [{lo}, {hi}])")
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError(f"config field {key!r} must be an integer in [{lo}, {hi}], got {value!r:.60}")
        if not lo <= value <= hi:
            shown = value if abs(value) < 10**30 else f"a {value.bit_length()}-bit integer"
            raise ValueError(f"config field {key!r} must be in [{lo}, {hi}], got {shown}")
        return value

    def need(self, key: str, lo: int = 1, hi: int = MAX_DIM) -> int:
        """A size every config.json states (hidden size, layers, heads, vocabulary): no default is taken,
        so a truncated config is refused rather than completed with the class's example sizes."""
        return Cfg(self.raw).int(key, MISSING, lo, hi)

    def opt_int(self, key: str, default: Any = None, lo: int = 1, hi: int = MAX_DIM) -> int | None:
        """An integer or None (the field absent or null, and no default)."""
        if self.raw.get(key) is None:
            d = self._fallback(key, default)  # written as null: the caller's default (None: no value)
            if d is None or d is MISSING:
                return None
            return self.int(key, d, lo, hi)
        return self.int(key, MISSING, lo, hi)

    def bool(self, key: str, default: Any = MISSING) -> bool:
        value = self.raw.get(key)
        if value is None:
            value = self._fallback(key, default)
            if value is MISSING or value is None:
                value = False
        if not isinstance(value, bool):
            raise ValueError(f"config field {key!r} must be true or false, got {value!r:.60}")
        return value

    def str(self, key: str, default: Any = MISSING, max_len: int = 40) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return self.defaults.get(key) if default is MISSING else default
        if not isinstance(value, str):
            raise ValueError(f"config field {key!r} must be a string, got {value!r:.60}")
        return value[:max_len]

    def int_list(self, key: str, n: int | None = None, lo: int = 0, hi: int = MAX_LAYERS,
                 default: Any = MISSING) -> list[int]:
        value = self.raw.get(key)
        if value is None:
            value = self.defaults.get(key, []) if default is MISSING else default
        if value is None:
            value = []
        if not isinstance(value, list) or (n is not None and len(value) != n):
            want = f"a list of {n} integers" if n is not None else "a list of integers"
            raise ValueError(f"config field {key!r} must be {want} in [{lo}, {hi}]")
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"config field {key!r} entries must be integers in [{lo}, {hi}], got {v!r:.40}")
            out.append(v)
        return out

    def str_list(self, key: str, n: int, allowed: tuple[str, ...] | set[str]) -> list[str] | None:
        """A list of ``n`` strings from ``allowed``, or None when the config does not set it."""
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != n:
            raise ValueError(f"config field {key!r} must be a list of {n} strings (one per layer)")
        for v in value:
            if not isinstance(v, str) or v not in allowed:
                raise ValueError(f"config field {key!r} entries must be one of {sorted(allowed)}, got {v!r:.40}")
        return value

    def sub(self, key: str, defaults: dict | None = None) -> Cfg:
        """A nested config object (``text_config``, ``vision_config``), with its own defaults."""
        value = self.raw.get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValueError(f"config field {key!r} must be a JSON object, got {type(value).__name__}")
        return Cfg(value, defaults)
