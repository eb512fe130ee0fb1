"""``python -m calc``: the calculators from a terminal. Numbers come raw from ``calc``; this layer
only parses, formats and maps a user's mistake (``ValueError``) to one line on stderr and exit 2.

Each subcommand is a module here with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("params", "models", "gpus", "gguf", "bench", "speed", "compute", "scaling", "memory", "serve", "plan")


class UsageError(Exception):
    """A command-line mistake argparse found (unknown flag, missing value)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv`` that names a subcommand, only that subcommand's module is imported.

    Each command module imports what it computes with (``scaling`` imports scipy.optimize, ``gguf`` the
    gguf package and numpy), so importing all of them made ``python -m calc params`` 0.5 s, 58x a bare
    interpreter; ``bench/bench_cli_start.py`` measures it. Without a known command (``--help``, a typo)
    every command is added, so the help and argparse's "invalid choice" message list them all.
    """
    parser = _Parser(prog="python -m calc", description="GPU memory and scaling-law calculators.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    first = next((a for a in (argv or ()) if not a.startswith("-")), None)
    for name in (first,) if first in COMMANDS else COMMANDS:
        importlib.import_module(f"calc.cli.{name}").add_parser(sub)
    return parser


def emit_json(obj) -> None:
    """Print ``obj`` as JSON (one document) on stdout."""
    print(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


def print_table(rows: list[dict], columns: list[str] | None = None) -> None:
    """A plain aligned text table."""
    if not rows:
        print("(no rows)")
        return
    keys = columns or list(rows[0])
    columns = [printable(str(c), 200) for c in keys]
    cells = [[printable(str(r.get(c, "")), 200) for c in keys] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _numeric(v: str) -> bool:
    return bool(v) and (v[0].isdigit() or v[0] == "-") and v.replace(",", "").replace(".", "").lstrip("-")[:1].isdigit()


def printable(text: str, limit: int | None = 500) -> str:
    """``text`` on one line with every control or other non-printable character escaped as Python writes it
    (``\\x1b``, ``\\n``, ``\\u202e``): an ESC, CR or bidi override in a file name, a GGUF string or an argument
    would otherwise drive the terminal (colours, cursor moves, OSC 52 clipboard writes) or hide text. Cut to
    ``limit`` characters with "..." (``None``: no cut)."""
    cut = limit is not None and len(text) > limit
    out = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in (text[:limit] if cut else text))
    return out + "..." if cut else out


def _one_line(text: str) -> str:
    return printable(text, 500)


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(argv).parse_args(argv)
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(_one_line(f"error: {exc}"), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `python -m calc ... | head`: the reader left; not an error of the user's
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps Python's exit flush quiet)
        return 0
    except OSError as exc:
        text = f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": ")
        print(_one_line(text), file=sys.stderr)
        return 2
