"""Untrusted files are accepted or refused with ``ValueError`` in bounded time and memory.

A short run of ``bench/fuzz_parsers.py`` (the long run does 10,000 cases per parser) plus the
hostile inputs named in issue 8: size, nesting, wrong types, missing keys, huge integers; for GGUF
headers wrong magic or version, truncation, huge counts and strings.

The bounds asserted here (10 s and 64 MiB per case) are hang and blow-up detectors, far above what
a case takes (about 1 ms and well under 5 MiB); timings are reported by the bench script.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from calc.cli.common import MAX_CONFIG_BYTES, parse_config_bytes
from calc.models import ModelSpec
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("fuzz_parsers", ROOT / "bench" / "fuzz_parsers.py")
fuzz = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("fuzz_parsers", fuzz)  # dataclasses look their module up there
_spec.loader.exec_module(fuzz)

HANG_S = 10.0
BLOWUP_BYTES = 64 * 2**20


def _assert_clean(report) -> None:
    assert report.cases > 0
    assert not report.crashes, "\n".join(report.lines())
    assert report.slowest_s < HANG_S, report.lines()
    assert report.peak_bytes < BLOWUP_BYTES, report.lines()


def test_config_fuzz_short_run():
    report = fuzz.run_cases("config", fuzz.config_cases(300, seed=1), fuzz.check_config)
    _assert_clean(report)
    # The generator must reach both outcomes, or it fuzzes nothing.
    assert report.accepted > 20 and report.refused > 100, report.lines()


def _refused(data: bytes) -> str:
    with pytest.raises(ValueError) as err:
        ModelSpec.from_hf_config(parse_config_bytes(data))
    return str(err.value)


LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}


@pytest.mark.parametrize("data,fragment", [
    (b" " * (MAX_CONFIG_BYTES + 1), "at most"),
    (b"[" * 65 + b"]" * 65, "nests deeper"),
    (b"[" * 200_000, "nests deeper"),
    (json.dumps({**LLAMA, "x": "a"}).encode()[:-1] + b', "big": ' + b"9" * 5000 + b"}", "too long"),
    (json.dumps(LLAMA).replace('"hidden_size": 64', '"hidden_size": NaN').encode(), "NaN"),
    (json.dumps(LLAMA).replace('"hidden_size": 64', '"hidden_size": 1e400').encode(), "hidden_size"),
    (json.dumps({**LLAMA, "hidden_size": 2**64}).encode(), "hidden_size"),
    (json.dumps({**LLAMA, "hidden_size": "64"}).encode(), "hidden_size"),
    (json.dumps({k: v for k, v in LLAMA.items() if k != "vocab_size"}).encode(), "vocab_size"),
    (json.dumps({**LLAMA, "num_hidden_layers": 10_001}).encode(), "num_hidden_layers"),
    (json.dumps({**LLAMA, "layer_types": [["x"], "full_attention"]}).encode(), "layer_types"),
    (json.dumps({**LLAMA, "hidden_act": {"a": 1}}).encode(), "hidden_act"),
    (b"\xff\xfe{}", "UTF-8"),
    (b"[1, 2]", "JSON object"),
])
def test_hostile_configs_refused_with_a_message(data, fragment):
    assert fragment in _refused(data)


def test_largest_allowed_config_still_reads():
    cfg = dict(LLAMA)
    cfg["_padding"] = "p" * (MAX_CONFIG_BYTES - len(json.dumps(cfg)) - 20)
    data = json.dumps(cfg).encode()
    assert len(data) <= MAX_CONFIG_BYTES
    assert ModelSpec.from_hf_config(parse_config_bytes(data)).hidden_size == 64


def test_gguf_generator_makes_headers_the_gguf_package_reads(tmp_path):
    """The fuzzer's base header is a real GGUF v3 header: llama.cpp's own gguf-py reads it."""
    gguf = pytest.importorskip("gguf")
    data = fuzz.gguf_header(n_layers=2)
    path = tmp_path / "h.gguf"
    # gguf-py maps the whole file and expects tensor data after the aligned header: pad it.
    data += b"\x00" * (-len(data) % 32) + b"\x00" * 2**18
    path.write_bytes(data)
    reader = gguf.GGUFReader(str(path))
    assert reader.fields["llama.block_count"].parts[-1][0] == 2
    assert [t.name for t in reader.tensors] == ["token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_q.weight",
                                                "output_norm.weight"]
    assert reader.tensors[1].n_elements == 256 * 256


def test_gguf_header_fuzz_short_run():
    target = fuzz.gguf_target()
    if target is None:
        pytest.skip("calc/gguf_file.py (the GGUF header reader) has not landed")
    report = fuzz.run_cases("gguf", fuzz.gguf_cases(300, seed=1), target)
    _assert_clean(report)
    assert report.accepted > 5 and report.refused > 100, report.lines()


def test_runs_csv_fuzz_short_run():
    """The loss-fit page's CSV upload (calc.fit.parse_runs_csv)."""
    report = fuzz.run_cases("csv", fuzz.csv_cases(120, seed=1), fuzz.PARSERS["csv"][1]())
    _assert_clean(report)
    assert report.accepted > 3 and report.refused > 50, report.lines()


def test_scenario_file_fuzz_short_run():
    """The Scenarios page's import (calc.scenarios.loads)."""
    report = fuzz.run_cases("scenarios", fuzz.scenario_cases(300, seed=1), fuzz.PARSERS["scenarios"][1]())
    _assert_clean(report)
    assert report.accepted > 3 and report.refused > 50, report.lines()


def test_scenario_file_with_huge_integer_is_refused():
    from calc.scenarios import loads

    data = json.dumps({"version": 1, "scenarios": [{"name": "a", "page": "models", "results": {"r": 10**400}}]})
    with pytest.raises(ValueError):
        loads(data.encode())
