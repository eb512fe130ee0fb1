"""CLI against hostile input (issue 20, item 5): only regular files are opened, their size is bounded before
reading, every numeric flag has a range, and what comes from files reaches the terminal escaped.

The reproductions themselves (FIFO, ``/dev/zero``, ``--context 1e30``, escape sequences in a GGUF) also run
in ``tests/test_hostile.py`` in a child process with time and memory limits.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import pytest

from calc.cli import build_parser, main
from calc.cli.common import Bounded
from calc.files import open_regular, read_regular

TINY = (b'{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, '
        b'"num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}')


def _numeric_actions():
    """(command, flag, action) for every option whose value is parsed by a ``type`` other than text."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for a in p._actions:
            if a.option_strings and a.type not in (None, str, str.upper) and a.nargs != 0:
                yield name, a.option_strings[0], a


def test_every_numeric_flag_has_a_range():
    found = list(_numeric_actions())
    assert len(found) >= 30  # the parser walk sees the flags at all
    unbounded = [f"{c} {f}" for c, f, a in found if not isinstance(a.type, Bounded) and not a.choices
                 and getattr(a.type, "__name__", "") not in ("_int_list", "_str_list")]
    assert unbounded == []


@pytest.mark.parametrize("command,flag,action", [x for x in _numeric_actions() if isinstance(x[2].type, Bounded)],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_numeric_flag_refuses_values_past_its_range(command, flag, action, capsys):
    bounded: Bounded = action.type
    for bad in (repr(bounded.hi * 10 + 1), repr(bounded.lo - 1 if bounded.lo > 0 else -1.0), "nan", "inf", "1e400"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be .* in \["):
            bounded(bad)
    # through the whole CLI: exit 2, one line naming the flag and the range, no traceback
    assert main([command, flag, repr(bounded.hi * 10 + 1)]) == 2
    err = capsys.readouterr().err
    assert flag in err and "must be" in err and err.count("\n") == 1 and "Traceback" not in err


def test_bench_size_lists_are_bounded(capsys):
    assert main(["bench", "--sizes", "1024,1e9"]) == 2
    assert "--sizes" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["speed", "--model", "GPT-2", "--tflops", "1e-300"],
                                  ["gguf", "--model", "GPT-2", "--context", "1e30"],
                                  ["memory", "--mode", "infer", "--model", "GPT-2", "--context", "1e30"]])
def test_reported_out_of_range_values_are_refused(argv, capsys):
    """Issue 20, reproduction 10: these were accepted."""
    assert main(argv) == 2
    assert "must be" in capsys.readouterr().err


# ----- files ---------------------------------------------------------------------------------
def _in_thread(fn, timeout_s=10.0):
    """Run ``fn`` in a thread; (finished in time, its exception). A FIFO open that blocks leaves the thread behind
    (daemon), and the test fails instead of hanging."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout_s)
    return not t.is_alive(), out.get("exc")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    done, exc = _in_thread(lambda: open_regular(str(fifo), "config file"))
    assert done, "opening a FIFO blocked"
    assert isinstance(exc, ValueError) and "FIFO" in str(exc)


@pytest.mark.parametrize("path,kind", [("/dev/zero", "device"), ("/dev/urandom", "device"), ("/", "directory")])
def test_devices_and_directories_are_refused(path, kind):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    done, exc = _in_thread(lambda: read_regular(path, 1000))
    assert done and isinstance(exc, ValueError) and kind in str(exc)


def test_size_is_checked_before_reading(tmp_path):
    """A sparse 64 GiB file: reading it would take minutes and all the memory; the refusal is immediate."""
    big = tmp_path / "config.json"
    with open(big, "wb") as fh:
        fh.truncate(64 * 2**30)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="68,719,476,736 bytes; at most 1,000 are read"):
        read_regular(str(big), 1000, "config file")
    assert time.perf_counter() - t0 < 1.0


def test_regular_file_reads(tmp_path):
    f = tmp_path / "c.json"
    f.write_bytes(TINY)
    assert read_regular(str(f), len(TINY)) == TINY
    with pytest.raises(ValueError, match="at most"):
        read_regular(str(f), len(TINY) - 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("argv", [["params", "--config", "{p}"], ["memory", "--mode", "infer", "--config", "{p}"],
                                  ["gguf", "--file", "{p}"], ["scaling", "--runs", "{p}", "--compute", "1e23"],
                                  ["memory", "--mode", "train", "--model", "GPT-2", "--rlhf", "ppo", "--critic", "{p}"]])
def test_every_file_flag_refuses_a_fifo(tmp_path, argv, capsys):
    fifo = tmp_path / "input.json"
    os.mkfifo(fifo)
    argv = [a.replace("{p}", str(fifo)) for a in argv]
    done, exc = _in_thread(lambda: main(argv))
    assert done, f"{argv} blocked on a FIFO"
    assert exc is None
    err = capsys.readouterr().err
    assert "FIFO" in err and err.count("\n") == 1


def test_file_names_and_contents_reach_the_terminal_escaped(tmp_path, capsys):
    name = tmp_path / "a\x1b]52;c;ZXZpbA==\x07b.json"
    name.write_bytes(TINY)
    assert main(["params", "--config", str(name)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and r"\x1b]52" in out
