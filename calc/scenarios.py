"""Scenarios: named snapshots of a page's inputs and key results, exported and imported as JSON.

Imports are untrusted: bounded size, plain JSON, strict schema; a ``ValueError`` says what is wrong.
Schema (version 2; version 1 files, which lack ``labels``, are still read)::

    {"version": 2, "scenarios": [{"name": str, "page": str, "params": {str: str},
                                  "results": {str: number}, "kinds": {str: str}, "labels": {str: str}}]}

``kinds`` tells how a result is formatted and which results are comparable in one chart:
"bytes", "count", "flops", "seconds", "usd", "kwh", "ratio", "number". ``labels`` gives the input fields'
readable names (``{"cg": "GPUs"}``) so a comparison can say "GPUs" rather than the link's ``cg``.

Two scenarios have the same *content* (``content_key``) when page, inputs and results agree, whatever their
names: saving or importing it again is a duplicate (issue 20: re-importing one's own export must not double
the list; Enter in the name box and a click on Save must not make two copies).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field

VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "page": self.page, "params": dict(self.params),
                "results": dict(self.results), "kinds": dict(self.kinds), "labels": dict(self.labels)}

    @property
    def content_key(self) -> str:
        """SHA-256 of page, inputs and results (not the name or labels): equal content, equal key."""
        body = json.dumps({"page": self.page, "params": self.params, "results": self.results, "kinds": self.kinds},
                          sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def label(self, key: str) -> str:
        """The readable name of input ``key`` (the key itself when none was recorded)."""
        return self.labels.get(key, key)


def make_scenario(name: str, page: str, params: dict, results: dict, kinds: dict,
                  labels: dict | None = None) -> Scenario:
    """Validate and build a scenario (the same checks as an import). Inputs with an empty value (a foreign
    link parameter such as ``utm_source=``) are dropped: they carry nothing and would fail the schema."""
    params = {k: v for k, v in params.items() if v != ""} if isinstance(params, dict) else params
    labels = {k: v for k, v in (labels or {}).items() if isinstance(params, dict) and k in params}
    return _scenario({"name": name, "page": page, "params": params, "results": results, "kinds": kinds,
                      "labels": labels}, 0)


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
    if not isinstance(obj, dict) or obj.get("version") not in READABLE_VERSIONS \
            or not isinstance(obj.get("scenarios"), list):
        raise ValueError(f'scenario file must be {{"version": {VERSION}, "scenarios": [...]}} '
                         f"(versions {', '.join(map(str, READABLE_VERSIONS))} are read)")
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
    labels = {}
    for k, v in _mapping(item.get("labels", {}), f"{where}: labels").items():
        if k not in params:
            raise ValueError(f"{where}: labels must name input parameters of the scenario")
        labels[k] = _text(v, f"{where}: label of {k!r:.40}")[:100]
    return Scenario(name, page, params, results, kinds, labels)


# ---- comparing scenarios ------------------------------------------------------------------------------------
MAX_COMPARE = 12  # scenarios side by side (columns, bars per group)
MAX_CHART_METRICS = 30  # bar groups per chart: a chart holds at most MAX_COMPARE x MAX_CHART_METRICS bars


@dataclass(frozen=True)
class Row:
    """One quantity across the compared scenarios: an input (values are the link's text, ``None`` where a
    scenario lacks it) or a result (numbers, ``None`` where absent; ``kind`` formats them)."""
    key: str
    label: str
    values: tuple
    kind: str = ""


def compare(items: list[Scenario], all_inputs: bool = False) -> tuple[list[Row], list[Row]]:
    """(inputs, results) of ``items``, one row per quantity, in order of first appearance. Inputs are only those
    whose values differ between the scenarios unless ``all_inputs``; labels are the readable names the scenarios
    recorded (the link's key where none was)."""
    if len(items) > MAX_COMPARE:
        raise ValueError(f"compare at most {MAX_COMPARE} scenarios at once, got {len(items)}")
    keys = list(dict.fromkeys(k for s in items for k in s.params))
    inputs = []
    for k in keys:
        values = tuple(s.params.get(k) for s in items)
        if all_inputs or len(set(values)) > 1:
            label = next((s.labels[k] for s in items if k in s.labels), k)
            inputs.append(Row(k, label, values))
    results = []
    for k in dict.fromkeys(k for s in items for k in s.results):
        kind = next((s.kinds[k] for s in items if k in s.kinds), "number")
        results.append(Row(k, k, tuple(s.results.get(k) for s in items), kind))
    return inputs, results
