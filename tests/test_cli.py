"""The CLI in a real subprocess: JSON numbers, exit code 2 and one line for every user mistake."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calc.presets import PRESETS
from tests.conftest import ROOT
from tests.test_models import transformers_param_count


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calc", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("name", ["Qwen3-30B-A3B", "DeepSeek-V3", "Gemma-2-2B", "GPT-2", "Qwen2.5-7B"])
def test_params_config_file_matches_transformers(tmp_path, name):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(PRESETS[name].config))
    out = cli("params", "--config", str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total"] == transformers_param_count(PRESETS[name].config)
    assert sum(data["components"].values()) == data["total"]
    assert isinstance(data["active"], int)


def test_params_table_and_catalogs_print():
    assert "8,030,261,248" in cli("params", "--model", "Meta-Llama-3-8B").stdout
    models = json.loads(cli("models", "--json").stdout)
    assert len(models) >= 20
    gpus = json.loads(cli("gpus", "--json").stdout)
    assert len(gpus) >= 15 and all(g["source"] for g in gpus)


@pytest.mark.parametrize(
    "args,content",
    [
        (["params", "--model", "no-such-model"], None),
        (["params"], None),
        (["params", "--config", "CONFIG"], "{not json"),
        (["params", "--config", "CONFIG"], "[1, 2]"),
        (["params", "--config", "CONFIG"], '{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}'),
        (["params", "--config", "CONFIG"], '{"architectures": ["LlamaForCausalLM"], "hidden_size": -64}'),
        (["params", "--config", "/no/such/file.json"], None),
        (["params", "--model", "GPT-2", "--bogus"], None),
        (["nonsense"], None),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path, args, content):
    if content is not None:
        path = tmp_path / "config.json"
        path.write_text(content)
        args = [str(path) if a == "CONFIG" else a for a in args]
    out = cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
