"""Scenarios: named snapshots of a page's inputs and key results, exported and imported as JSON.

Imports are untrusted: bounded size, plain JSON, strict schema; a ``ValueError`` says what is wrong.
Schema (version 1)::

    {"version": 1, "scenarios": [{"name": str, "page": str, "params": {str: str},
                                  "results": {str: number}, "kinds": {str: str}}]}

``kinds`` tells how a result is formatted and which results are comparable in one chart:
"bytes", "count", "flops", "seconds", "usd", "kwh", "ratio", "number".
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field

VERSION = 1
MAX_JSON_BYTES = 1_000_000
MAX_SCENARIOS = 200
MAX_ITEMS = 100
MAX_TEXT = 500
KINDS = ("bytes", "count", "flops", "seconds", "usd", "kwh", "ratio", "number")


@dataclass(frozen=True)
class Scenario:
    name: str
    page: str
    params: dict[str, str] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "page": self.page, "params": dict(self.params),
                "results": dict(self.results), "kinds": dict(self.kinds)}


def make_scenario(name: str, page: str, params: dict, results: dict, kinds: dict) -> Scenario:
    """Validate and build a scenario (the same checks as an import)."""
    return _scenario({"name": name, "page": page, "params": params, "results": results, "kinds": kinds}, 0)


def dumps(scenarios: list[Scenario]) -> str:
    return json.dumps({"version": VERSION, "scenarios": [s.to_dict() for s in scenarios]}, indent=2,
                      allow_nan=False)


def loads(data: bytes | str) -> list[Scenario]:
    """Parse an exported scenarios file; refuse anything outside the schema."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"scenario file must be bytes or text, got {type(data).__name__}")
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"scenario file is {len(data):,} bytes; at most {MAX_JSON_BYTES:,} are read")
    try:
        obj = json.loads(data.decode("utf-8-sig"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"scenario file is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict) or obj.get("version") != VERSION or not isinstance(obj.get("scenarios"), list):
        raise ValueError(f'scenario file must be {{"version": {VERSION}, "scenarios": [...]}}')
    items = obj["scenarios"]
    if len(items) > MAX_SCENARIOS:
        raise ValueError(f"scenario file holds {len(items)} scenarios; at most {MAX_SCENARIOS}")
    return [_scenario(item, i) for i, item in enumerate(items)]


def _no_constant(name: str):
    raise ValueError(f"scenario file contains {name}, which is not a number")


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ValueError(f"{where} must be a non-empty string of at most {MAX_TEXT} characters")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{where} must not contain control characters")
    return value


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        raise ValueError(f"{where} must be an object with at most {MAX_ITEMS} entries")
    return value


def _scenario(item, i: int) -> Scenario:
    where = f"scenario {i + 1}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object")
    name = _text(item.get("name"), f"{where}: name")[:100]
    page = item.get("page")
    if not isinstance(page, str) or len(page) > 60 or not all(ch.isalnum() or ch in "_-" for ch in page):
        raise ValueError(f"{where}: page must be a page's URL path (letters, digits, _ and -)")
    params = {_text(k, f"{where}: parameter name"): _text(v, f"{where}: parameter {k!r:.40}")
              for k, v in _mapping(item.get("params", {}), f"{where}: params").items()}
    results = {}
    for k, v in _mapping(item.get("results", {}), f"{where}: results").items():
        _text(k, f"{where}: result name")
        try:  # math.isfinite(10**400) raises OverflowError: such an int is beyond any float
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        except OverflowError:
            ok = False
        if not ok:
            got = f"an integer of {v.bit_length()} bits" if isinstance(v, int) else f"{v!r:.40}"
            raise ValueError(f"{where}: result {k!r:.40} must be a finite number (|x| <= {sys.float_info.max:.3g}), "
                             f"got {got}")
        results[k] = v
    kinds = {}
    for k, v in _mapping(item.get("kinds", {}), f"{where}: kinds").items():
        if k not in results or v not in KINDS:
            raise ValueError(f"{where}: kinds must map result names to one of {', '.join(KINDS)}")
        kinds[k] = v
    return Scenario(name, page, params, results, kinds)
