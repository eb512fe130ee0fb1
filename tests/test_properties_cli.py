"""Every CLI command with random real options: exit 0 with sane output, or exit 2 with one line.

The options of each subcommand are read from the parser itself (``calc.cli.build_parser``), so a
command added later is fuzzed too. Values: the option's choices, plausible numbers, presets, GPUs,
dtypes, and hostile ones (negative, zero, NaN, inf, 1e999, 5,000 digits, text, empty, missing
files, /dev/null, a directory, a real config.json, a GGUF header, a CSV). ``bench`` is left out:
it runs measurements (its own tests cover it).
"""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from calc.cli import build_parser
from calc.presets import PRESETS
from tests.test_fuzz_parsers import fuzz
from tests.test_properties import _SCALE, assert_clean_exit, run_cli

SKIP = {"bench"}


def _commands() -> dict[str, list]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: [a for a in sp._actions if a.option_strings and a.option_strings[0] not in ("-h", "--help")]
            for name, sp in sub.choices.items() if name not in SKIP}


COMMANDS = _commands()
_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "artifacts", "cli_fuzz")  # git-ignored


def _files() -> dict[str, str]:
    os.makedirs(_DIR, exist_ok=True)
    files = {"config.json": json.dumps(PRESETS["Llama-3.2-1B"].config).encode(),
             "bad.json": b'{"architectures": ["LlamaForCausalLM"], "hidden_size": -1}',
             "header.gguf": fuzz.gguf_header(n_layers=2),
             "runs.csv": b"params,tokens,loss\n1e8,2e9,3.4\n4e8,8e9,3.0\n1e9,2e10,2.8\n4e9,8e10,2.6\n1e10,2e11,2.4\n",
             "bad.csv": b"a,b\n1,2\n"}
    paths = {}
    for name, data in files.items():
        path = os.path.join(_DIR, name)
        with open(path, "wb") as fh:
            fh.write(data)
        paths[name] = path
    return paths


FILES = _files()
VALUES = ["1", "2", "8", "64", "4096", "0.4", "7e9", "1e21", "1e12", "30", "-1", "0", "nan", "inf", "-inf", "1e999",
          "9" * 5000, "abc", "", "1,5", "Meta-Llama-3-8B", "GPT-2", "DeepSeek-V3", "H100 SXM", "Apple M4 Max 128GB",
          "bf16", "fp8", "Q4_K_M", "q4_k_m", "all", "/no/such/file", "/dev/null", "/", *FILES.values()]


@st.composite
def argvs(draw):
    name = draw(st.sampled_from(sorted(COMMANDS)))
    argv = [name]
    for action in draw(st.lists(st.sampled_from(COMMANDS[name]), max_size=5, unique_by=id)) if COMMANDS[name] else []:
        argv.append(action.option_strings[-1])
        if action.nargs == 0:
            continue
        if action.choices and draw(st.integers(0, 3)):
            argv.append(str(draw(st.sampled_from(list(action.choices)))))
        else:
            argv.append(draw(st.sampled_from(VALUES)))
    if draw(st.booleans()):
        argv.append("--json")
    return argv


@settings(max_examples=200 * _SCALE, deadline=None)
@given(argvs())
def test_every_command_any_options(argv):
    code, out, err = run_cli(argv)
    assert_clean_exit(code, out, err)
    if code == 0 and "--json" in argv and out.strip():
        json.loads(out)  # one JSON document, no NaN / Infinity (emit_json refuses them)


def test_each_command_has_a_working_default():
    """The fuzz above is only worth something if plain invocations work: each command with a preset."""
    for name, actions in COMMANDS.items():
        flags = {a.option_strings[-1] for a in actions}
        argv = [name] + (["--model", "Llama-3.2-1B"] if "--model" in flags else [])
        if name == "compute" and "--tokens" in flags:
            argv += ["--tokens", "1e12"]
        if name == "scaling" and "--compute" in flags:
            argv += ["--compute", "1e21"]
        code, out, err = run_cli(argv)
        assert_clean_exit(code, out, err)
