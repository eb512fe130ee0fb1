"""Arguments several subcommands share: how a model is named (preset, config file, or GGUF)."""

from __future__ import annotations

import argparse
import json
import math

from calc.files import open_regular, read_regular  # noqa: F401 (re-exported for the subcommands)
from calc.gpus import GPU, custom_gpu, get_gpu
from calc.models import ModelSpec
from calc.presets import get_preset

#: Largest config.json read from disk or an upload; real ones are a few KB.
MAX_CONFIG_BYTES = 1_000_000


def add_model_args(parser: argparse.ArgumentParser, required: bool = True):
    """``--model`` | ``--config`` | ``--hf`` (one of them), and ``--revision``; returns the group."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--model", help="a preset name (see `python -m calc models`)")
    group.add_argument("--config", metavar="FILE", help="a Hugging Face config.json")
    add_hf_args(parser, group)
    return group


def add_hf_args(parser: argparse.ArgumentParser, group) -> None:
    """``--hf ID`` in the model group, ``--revision R`` beside it. The token comes from ``HF_TOKEN`` or
    ``hf auth login``, never from a flag (flags end up in shell histories and process lists)."""
    group.add_argument("--hf", metavar="ID", help="a Hugging Face model id (org/name[@revision]); reads its config "
                       "and checkpoint headers, never the weights (token: HF_TOKEN or `hf auth login`)")
    parser.add_argument("--revision", metavar="R", help="with --hf: a branch, tag or commit (default: main)")


def hub_model_from_args(args: argparse.Namespace):
    """``hub.resolve`` for ``--hf`` (imported here, lazily: the calc core never imports hub)."""
    from hub import resolve

    return resolve(args.hf, revision=args.revision)


def parse_config_bytes(data: bytes) -> dict:
    """Decode an untrusted config.json: bounded size and nesting, JSON only, an object at the top."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"config.json must be given as bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"config.json is {len(data):,} bytes; at most {MAX_CONFIG_BYTES:,} are read")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"config.json is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if _nesting(text) > 64:
        raise ValueError("config.json nests deeper than 64 levels")
    try:
        obj = json.loads(text, parse_constant=_read_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"config.json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NotANumber as exc:
        raise ValueError(str(exc)) from None
    except ValueError as exc:  # an integer literal of more than 4,300 digits (int_max_str_digits)
        raise ValueError(f"config.json holds a number too long to read: {str(exc)[:60]}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"config.json must hold a JSON object, got {type(obj).__name__}")
    return obj


class _NotANumber(ValueError):
    pass


def _read_constant(name: str) -> float:
    """Infinity and -Infinity are read as floats: transformers writes them into configs (Mamba-2's
    ``time_step_limit: [0.0, Infinity]``); a size field holding one is refused where it is read
    (``calc.arch.config.Cfg.int``: "must be an integer"). NaN is no value any config means."""
    if name == "NaN":
        raise _NotANumber("config.json contains NaN, which is not a number")
    return float(name)


def _nesting(text: str) -> int:
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def load_config_file(path: str) -> dict:
    return parse_config_bytes(read_regular(path, MAX_CONFIG_BYTES, "config file"))


def model_from_args(args: argparse.Namespace) -> ModelSpec:
    if getattr(args, "revision", None) is not None and getattr(args, "hf", None) is None:
        raise ValueError("--revision goes with --hf ID")
    if getattr(args, "model", None) is not None:  # `--model ""` is a bad name, not "no model"
        return get_preset(args.model)
    if getattr(args, "hf", None) is not None:
        found = hub_model_from_args(args)
        if found.spec is None:
            raise ValueError(f"{found.name}: {found.note}")
        return found.spec
    path = getattr(args, "config", None)
    if not path:
        raise ValueError("give a model: --model NAME (see `python -m calc models`), --config FILE or --hf ID")
    return ModelSpec.from_hf_config(load_config_file(path), name=path, source=path)


class Bounded:
    """An argparse ``type``: a number in ``[lo, hi]`` (whole with ``integer``), from ``parse`` (default ``float``,
    so ``1e6`` is accepted for a whole number too). Every numeric flag of the CLI uses one, so a value such as
    ``--context 1e30`` or ``--tflops 1e-300`` is refused with the range instead of reaching ``calc``.
    """

    def __init__(self, lo: float, hi: float, integer: bool = False, parse=None, unit: str = ""):
        self.lo, self.hi, self.integer, self.parse, self.unit = lo, hi, integer, parse, unit
        self.__name__ = "whole number" if integer else "number"  # argparse names the type in some messages

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} in [{_num(self.lo)}, {_num(self.hi)}]{' ' + self.unit if self.unit else ''}"

    def __call__(self, text: str):
        raw = str(text)[:40]
        try:
            value = self.parse(text) if self.parse else float(str(text).replace("_", ""))
        except (ValueError, OverflowError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {raw!r}") from None
        if isinstance(value, float) and not math.isfinite(value) or not self.lo <= value <= self.hi:
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {raw!r}")
        if self.integer:
            if float(value) != int(value):
                raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {raw!r}")
            return int(value)
        return value


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e10 else f"{v:g}"


def int_range(lo: int, hi: int, unit: str = "") -> Bounded:
    return Bounded(lo, hi, integer=True, unit=unit)


def float_range(lo: float, hi: float, unit: str = "") -> Bounded:
    return Bounded(lo, hi, unit=unit)


#: Whole numbers from 1 to a billion: the default for counts that have no tighter bound of their own.
positive_int = int_range(1, 10**9)


def add_gpu_args(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """``--gpu NAME`` or a custom GPU: ``--gpu-memory GB [--gpu-bandwidth GBps --gpu-tflops T --gpu-power W]``
    (ranges as ``calc.gpus.CUSTOM_LIMITS``, in the units typed)."""
    tail = f" (default: {default})" if default else ""
    parser.add_argument("--gpu", help=f"{help}{tail}; or describe your own with --gpu-memory")
    g = parser.add_argument_group("custom GPU (instead of --gpu)")
    g.add_argument("--gpu-memory", type=float_range(0.1, 1e5, "GB"), metavar="GB",
                   help="memory in GB (10^9 bytes) one process can use")
    g.add_argument("--gpu-bandwidth", type=float_range(1, 1e5, "GB/s"), metavar="GBps", help="memory bandwidth in GB/s")
    g.add_argument("--gpu-tflops", type=float_range(0.01, 1e6, "TFLOPS"), metavar="T",
                   help="dense bf16/fp16 peak in TFLOPS")
    g.add_argument("--gpu-power", type=float_range(0, 1e5, "W"), metavar="W", default=0.0,
                   help="board power in W (energy estimates)")


_NEEDS = {"bandwidth": "--gpu-bandwidth GBps", "flops": "--gpu-tflops T"}


def gpu_from_args(args: argparse.Namespace, default: str | None = None, need: tuple[str, ...] = ()) -> GPU | None:
    """The catalog GPU named by ``--gpu`` (else ``default``), a custom GPU from ``--gpu-memory`` and friends,
    or ``None`` when neither is given and there is no default. ``need`` lists the figures the command uses
    ("bandwidth", "flops"): a custom GPU without one is refused with the flag to add."""
    memory = getattr(args, "gpu_memory", None)
    extra = [f for f, v in (("--gpu-bandwidth", getattr(args, "gpu_bandwidth", None)),
                            ("--gpu-tflops", getattr(args, "gpu_tflops", None))) if v is not None]
    if memory is None:
        if extra:
            raise ValueError(f"{' and '.join(extra)} {'describes' if len(extra) == 1 else 'describe'} a custom GPU: "
                             "give --gpu-memory GB too")
        name = getattr(args, "gpu", None) or default
        return get_gpu(name) if name else None
    if getattr(args, "gpu", None):
        raise ValueError("give either --gpu NAME or --gpu-memory GB (a custom GPU), not both")
    bw, tflops = getattr(args, "gpu_bandwidth", None), getattr(args, "gpu_tflops", None)
    missing = [_NEEDS[n] for n, v in (("bandwidth", bw), ("flops", tflops)) if n in need and v is None]
    if missing:
        raise ValueError(f"this command needs {' and '.join(missing)} with --gpu-memory")
    return custom_gpu(memory * 1e9, None if bw is None else bw * 1e9, None if tflops is None else tflops * 1e12,
                      getattr(args, "gpu_power", 0.0) or 0.0)

