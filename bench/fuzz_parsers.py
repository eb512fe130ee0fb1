"""Fuzz the parsers of untrusted files: config.json, GGUF headers, runs CSV, scenario files.

    python bench/fuzz_parsers.py                 # 10,000 cases per parser
    python bench/fuzz_parsers.py -n 50000 --seed 7 --parser config

Each case is generated from a seed (mutations of real files: truncation, flipped bytes, huge counts,
huge strings and integers, deep nesting, wrong types, missing keys, wrong magic and version). A
parser may accept a case or refuse it with ``ValueError``; anything else is a crash. Each case runs
under a 10 s alarm (a hang is a crash) and ``tracemalloc``; the report lists crashes, the slowest
case and the largest peak of Python memory allocated for one case.

``tests/test_fuzz_parsers.py`` runs a few hundred of the same cases on every test run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import signal
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from calc.cli.common import MAX_CONFIG_BYTES, parse_config_bytes  # noqa: E402
from calc.kvcache import kv_cache_bytes  # noqa: E402
from calc.models import ModelSpec, param_counts  # noqa: E402
from calc.presets import PRESETS  # noqa: E402

CASE_TIMEOUT_S = 10


@dataclass
class Report:
    parser: str
    cases: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (case description, error)
    slowest_s: float = 0.0
    slowest_case: str = ""
    peak_bytes: int = 0
    peak_case: str = ""
    total_s: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{self.parser}: {self.cases:,} cases in {self.total_s:.1f} s: {self.accepted:,} accepted, "
               f"{self.refused:,} refused with ValueError, {len(self.crashes)} crashes",
               f"  slowest case {self.slowest_s * 1e3:.1f} ms: {self.slowest_case}",
               f"  peak Python memory of one case {self.peak_bytes / 2**20:.2f} MiB: {self.peak_case}"]
        out += [f"  CRASH {desc}: {err}" for desc, err in self.crashes[:20]]
        return out


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"no answer within {CASE_TIMEOUT_S} s")


def run_cases(parser: str, cases: Iterator[tuple[str, bytes]], target: Callable[[bytes], object],
              measure_memory: bool = True) -> Report:
    """Feed every case to ``target``; classify accepted / ValueError / crash and time it; then, if
    ``measure_memory``, run it again under ``tracemalloc`` (which slows Python several-fold, so the
    timing run goes without it) for the peak of Python memory allocated by that case."""
    report = Report(parser)
    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
    t_all = time.perf_counter()
    try:
        for desc, data in cases:
            report.cases += 1
            error = _run_one(target, data, CASE_TIMEOUT_S, use_alarm)
            dt = error[1]
            if error[0] is None:
                report.accepted += 1
            elif isinstance(error[0], ValueError):
                report.refused += 1
                if not str(error[0]).strip():
                    report.crashes.append((desc, "ValueError with an empty message"))
            else:
                report.crashes.append((desc, f"{type(error[0]).__name__}: {str(error[0])[:200]}"))
            if dt > report.slowest_s:
                report.slowest_s, report.slowest_case = dt, desc
            if measure_memory and not isinstance(error[0], _Timeout):
                tracemalloc.start()
                try:
                    _run_one(target, data, 10 * CASE_TIMEOUT_S, use_alarm)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                if peak > report.peak_bytes:
                    report.peak_bytes, report.peak_case = peak, desc
    finally:
        if use_alarm:
            signal.signal(signal.SIGALRM, old)
    report.total_s = time.perf_counter() - t_all
    return report


def _run_one(target, data: bytes, limit_s: int, use_alarm: bool) -> tuple[BaseException | None, float]:
    if use_alarm:
        signal.alarm(limit_s)
    t0 = time.perf_counter()
    try:
        target(data)
        return None, time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - every exception but ValueError is what we hunt
        return exc, time.perf_counter() - t0
    finally:
        if use_alarm:
            signal.alarm(0)


# ----- config.json ------------------------------------------------------------------------------

def check_config(data: bytes) -> None:
    """What an upload goes through: parse, build the spec, count, a KV cache; results must be sane."""
    spec = ModelSpec.from_hf_config(parse_config_bytes(data), name="fuzz")
    counts = param_counts(spec)
    parts = counts.components()
    if any(not isinstance(v, int) or v < 0 for v in parts.values()) or not 0 < counts.active <= counts.total:
        raise AssertionError(f"bad counts {parts}")
    kv = kv_cache_bytes(spec, 1, 4096)
    if not isinstance(kv, int) or kv <= 0:
        raise AssertionError(f"bad kv cache bytes {kv}")


_WEIRD_VALUES = [None, True, False, 0, -1, 1, 2**31, 2**63, 2**64 + 1, 10**300, -10**30, 0.5, 1e308, -0.0, 4096.0,
                 "", "4096", "x" * 1000, [], [1, 2], {}, {"a": 1}, [[[[]]]], ["sliding_attention"] * 3]
_RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 5000, "1" * 4300, "-" + "9" * 4000,
                "0.0000000000000000000000001", "1E+99999", "00012", "0x10", "+1", ".5", "1.", "-0"]


def config_cases(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``n`` config.json payloads, reproducible from ``seed``."""
    rng = random.Random(seed)
    bases = [(name, p.config) for name, p in PRESETS.items()]
    keys = sorted({k for _, c in bases for k in c} | {"layer_types", "mlp_only_layers", "decoder_sparse_step",
                                                     "use_sliding_window", "max_window_layers", "sliding_window",
                                                     "attention_bias", "mlp_bias", "q_lora_rank", "_name_or_path"})
    for i in range(n):
        name, base = bases[rng.randrange(len(bases))]
        cfg = json.loads(json.dumps(base))
        kind = rng.randrange(14)
        if kind == 0:  # the real file
            yield f"#{i} {name} as published", json.dumps(cfg).encode()
        elif kind == 1:  # fields replaced with values of the wrong type or range
            for _ in range(rng.randint(1, 5)):
                cfg[rng.choice(keys)] = rng.choice(_WEIRD_VALUES)
            yield f"#{i} {name} with wrong-typed fields", json.dumps(cfg).encode()
        elif kind == 2:  # keys removed
            for k in rng.sample(sorted(cfg), rng.randint(1, max(1, len(cfg) // 2))):
                cfg.pop(k)
            yield f"#{i} {name} with missing keys", json.dumps(cfg).encode()
        elif kind == 3:  # truncated
            raw = json.dumps(cfg).encode()
            cut = rng.randrange(len(raw))
            yield f"#{i} {name} truncated at byte {cut}", raw[:cut]
        elif kind == 4:  # flipped / inserted bytes
            raw = bytearray(json.dumps(cfg).encode())
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(raw))
                if rng.random() < 0.5:
                    raw[pos] = rng.randrange(256)
                else:
                    raw[pos:pos] = bytes([rng.randrange(256)])
            yield f"#{i} {name} with corrupted bytes", bytes(raw)
        elif kind == 5:  # deep nesting
            depth = rng.choice([10, 63, 64, 65, 100, 1000, 100_000])
            inner = "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
            yield f"#{i} nesting depth {depth}", f'{{"architectures": ["LlamaForCausalLM"], "x": {inner}}}'.encode()
        elif kind == 6:  # raw number literals json.loads treats specially
            lit = rng.choice(_RAW_NUMBERS)
            key = rng.choice(["hidden_size", "num_hidden_layers", "vocab_size", "rms_norm_eps", "intermediate_size"])
            raw = json.dumps(cfg).replace(f'"{key}": ', f'"{key}": {lit}, "_old_{key}": ', 1)
            yield f"#{i} {name} {key}={lit[:20]}", raw.encode()
        elif kind == 7:  # huge sizes that are valid integers
            key = rng.choice(["hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size", "num_local_experts",
                              "n_routed_experts", "num_experts", "sliding_window", "max_position_embeddings"])
            cfg[key] = rng.choice([2**24, 2**24 + 1, 10_000, 10_001, 65_536, 2**31, 2**53, 2**100])
            yield f"#{i} {name} {key}={cfg[key]}", json.dumps(cfg).encode()
        elif kind == 8:  # long strings and long lists
            key = rng.choice(["_name_or_path", "hidden_act", "architectures", "layer_types", "mlp_only_layers"])
            size = rng.choice([10, 10_000, 100_000, 300_000])
            cfg[key] = rng.choice(["x" * size, ["LlamaForCausalLM"] * size, list(range(size)), [-1] * size,
                                   ["sliding_attention"] * size])
            yield f"#{i} {name} {key} of {size:,} items", json.dumps(cfg).encode()[:MAX_CONFIG_BYTES + 10]
        elif kind == 9:  # the size limit
            pad = MAX_CONFIG_BYTES - len(json.dumps(cfg)) - 20 + rng.choice([-5, 0, 5, 100])
            cfg["_padding"] = "p" * max(pad, 0)
            yield f"#{i} {name} padded near the 1 MB limit", json.dumps(cfg).encode()
        elif kind == 10:  # not an object / not JSON / not UTF-8
            yield f"#{i} non-object", rng.choice([b"[]", b"1", b'"x"', b"null", b"", b"\xff\xfe{}", b"\xef\xbb\xbf{}",
                                                  b"{\"a\": \"\\ud800\"}", bytes(rng.randrange(256) for _ in range(64)),
                                                  b"{" + b" " * 5000 + b"}", b"\x00" * 100])
        elif kind == 11:  # many layers with per-layer lists (the quadratic paths)
            layers = rng.choice([100, 5_000, 10_000])
            cfg["num_hidden_layers"] = layers
            cfg["layer_types"] = rng.choice([["full_attention"] * layers, ["sliding_attention", "full_attention"]
                                             * (layers // 2), [["x"]] * layers])
            cfg["mlp_only_layers"] = [rng.randrange(-5, layers * 2) for _ in range(rng.choice([10, 20_000]))]
            yield f"#{i} {name} with {layers} layers and per-layer lists", json.dumps(cfg).encode()
        elif kind == 12:  # duplicate keys: the last one wins in json.loads
            raw = json.dumps(cfg)[:-1] + ', "hidden_size": -1, "hidden_size": 64}'
            yield f"#{i} {name} duplicate keys", raw.encode()
        else:  # an architecture it does not know or wrong model_type
            cfg["architectures"] = rng.choice([["BertModel"], [""], [1], "LlamaForCausalLM", [None], None])
            cfg["model_type"] = rng.choice(["llama", "bert", 1, None, [], ""])
            yield f"#{i} {name} with architectures={cfg['architectures']!r:.30}", json.dumps(cfg).encode()


# ----- GGUF headers -----------------------------------------------------------------------------
# A GGUF file (llama.cpp docs/gguf.md): magic "GGUF", uint32 version, uint64 tensor count, uint64
# metadata count, then key/value pairs (string key, uint32 type, value) and tensor infos (name,
# uint32 n_dims, uint64 dims, uint32 type, uint64 offset). Strings are uint64 length + bytes.

GGUF_TYPES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9,
              "u64": 10, "i64": 11, "f64": 12}


_BLOCKS = {0: (1, 4), 1: (1, 2), 12: (256, 144)}  # F32, F16, Q4_K: (elements, bytes) per block


def _gstr(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def _kv(key: str, vtype: str, payload: bytes) -> bytes:
    return _gstr(key.encode()) + struct.pack("<I", GGUF_TYPES[vtype]) + payload


def gguf_header(n_layers: int = 2, version: int = 3, extra_kv: list[bytes] | None = None,
                tensors: list[tuple[str, tuple[int, ...], int]] | None = None,
                override: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    """A small, valid GGUF v3 header (no tensor data) for a llama-like model; ``override`` replaces
    (or adds) metadata values as ``key: (type, packed value)``."""
    fields = {
        "general.architecture": ("str", _gstr(b"llama")),
        "general.name": ("str", _gstr(b"fuzz")),
        "general.file_type": ("u32", struct.pack("<I", 15)),
        "llama.block_count": ("u32", struct.pack("<I", n_layers)),
        "llama.embedding_length": ("u32", struct.pack("<I", 64)),
        "llama.feed_forward_length": ("u32", struct.pack("<I", 128)),
        "llama.attention.head_count": ("u32", struct.pack("<I", 4)),
        "llama.attention.head_count_kv": ("u32", struct.pack("<I", 2)),
        "llama.context_length": ("u32", struct.pack("<I", 4096)),
        "llama.rope.freq_base": ("f32", struct.pack("<f", 10000.0)),
        "tokenizer.ggml.tokens": ("arr", struct.pack("<IQ", GGUF_TYPES["str"], 3) + _gstr(b"a") + _gstr(b"b")
                                  + _gstr(b"c")),
    }
    fields.update(override or {})
    kvs = [_kv(k, t, v) for k, (t, v) in fields.items()] + list(extra_kv or [])
    if tensors is None:  # dims innermost first, as GGUF stores them; Q4_K rows are whole 256-blocks
        tensors = [("token_embd.weight", (256, 3), 0)] + [
            (f"blk.{i}.attn_q.weight", (256, 256), 12) for i in range(n_layers)] + [("output_norm.weight", (256,), 0)]
    infos = b""
    offset = 0
    for name, dims, ttype in tensors:
        infos += _gstr(name.encode()) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, offset)
        n = 1
        for d in dims:
            n *= d
        block, size = _BLOCKS.get(ttype, (1, 4))
        offset += -(-(n // block * size) // 32) * 32  # data is aligned to 32 bytes
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    return head + b"".join(kvs) + infos


def gguf_cases(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``n`` GGUF headers, reproducible from ``seed``."""
    rng = random.Random(seed)
    for i in range(n):
        base = gguf_header(n_layers=rng.randint(1, 4))
        kind = rng.randrange(13)
        if kind == 0:
            yield f"#{i} valid header", base
        elif kind == 1:
            cut = rng.randrange(len(base))
            yield f"#{i} truncated at byte {cut}", base[:cut]
        elif kind == 2:
            magic = rng.choice([b"GGUG", b"GGML", b"\x00\x00\x00\x00", b"FUUG", b"gguf"])
            yield f"#{i} magic {magic!r}", magic + base[4:]
        elif kind == 3:
            v = rng.choice([0, 1, 2, 4, 99, 2**31, 2**32 - 1])
            yield f"#{i} version {v}", base[:4] + struct.pack("<I", v) + base[8:]
        elif kind == 4:  # huge tensor or metadata counts
            tc = rng.choice([2**63, 2**64 - 1, 10**9, 10**6, 0])
            kc = rng.choice([2**63, 2**64 - 1, 10**9, 10**6, 11])
            yield f"#{i} tensor_count={tc} kv_count={kc}", base[:8] + struct.pack("<QQ", tc, kc) + base[24:]
        elif kind == 5:  # huge string length in the first key
            ln = rng.choice([2**63, 2**64 - 1, 2**40, 10**8, 10**6])
            yield f"#{i} key string length {ln}", base[:24] + struct.pack("<Q", ln) + base[32:]
        elif kind == 6:  # huge array: count or a nested array type
            count = rng.choice([2**62, 10**9, 10**7])
            inner = rng.choice([GGUF_TYPES["u8"], GGUF_TYPES["str"], GGUF_TYPES["arr"], 13, 2**31])
            kv = _kv("x.big_array", "arr", struct.pack("<IQ", inner, count) + b"\x00" * 64)
            yield f"#{i} array of {count} items of type {inner}", gguf_header(extra_kv=[kv])
        elif kind == 7:  # invalid value type
            t = rng.choice([13, 14, 255, 2**31, 2**32 - 1])
            kv = _gstr(b"x.bad_type") + struct.pack("<I", t) + b"\x00" * 16
            yield f"#{i} value type {t}", gguf_header(extra_kv=[kv])
        elif kind == 8:  # tensor infos with absurd dims or types
            dims = rng.choice([(2**63,), (2**32, 2**32), (0,), (1,) * 5, (64,) * 9, ()])
            ttype = rng.choice([0, 1, 12, 39, 1000, 2**31])
            yield f"#{i} tensor dims {dims} type {ttype}", gguf_header(tensors=[("t.weight", dims, ttype)])
        elif kind == 9:  # random byte flips
            raw = bytearray(base)
            for _ in range(rng.randint(1, 10)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            yield f"#{i} {len(raw)} bytes with flips", bytes(raw)
        elif kind == 10:  # needed keys with the wrong type or an absurd value (later keys must not repeat)
            key = rng.choice(["general.file_type", "general.alignment", "general.architecture", "llama.vocab_size",
                              "llama.expert_count", "llama.attention.key_length", "llama.expert_used_count",
                              "llama.block_count", "llama.embedding_length", "llama.attention.head_count",
                              "llama.attention.head_count_kv", "llama.context_length", "tokenizer.ggml.tokens"])
            vtype, payload = rng.choice([("str", _gstr(b"32")), ("f32", struct.pack("<f", float("inf"))),
                                         ("f32", struct.pack("<f", float("nan"))), ("f64", struct.pack("<d", 1e300)),
                                         ("i64", struct.pack("<q", -5)), ("u64", struct.pack("<Q", 2**64 - 1)),
                                         ("bool", b"\x01"), ("u32", struct.pack("<I", 0)), ("u32", struct.pack("<I", 3)),
                                         ("arr", struct.pack("<IQ", GGUF_TYPES["u32"], 2) + struct.pack("<II", 4, 8))])
            yield f"#{i} {key} as {vtype} {payload[:8].hex()}", gguf_header(override={key: (vtype, payload)})
        elif kind == 11 and rng.random() < 0.02:  # big but honest headers: many tensors, long arrays
            n_t = rng.choice([1_000, 1_000, 10_000, 100_000])  # 100,000 = calc.gguf_file.MAX_TENSORS
            tensors = [(f"blk.{j}.attn_q.weight", (256, 4), 0) for j in range(n_t)]
            n_tok = rng.choice([10_000, 200_000])
            toks = _kv("tokenizer.ggml.merges", "arr", struct.pack("<IQ", GGUF_TYPES["str"], n_tok)
                       + b"".join(_gstr(b"ab cd") for _ in range(n_tok)))
            yield f"#{i} {n_t:,} tensors and {n_tok:,} merges", gguf_header(extra_kv=[toks], tensors=tensors)
        else:  # random bytes after a good magic, or nothing
            tail = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 20, 200])))
            yield f"#{i} magic + {len(tail)} random bytes", b"GGUF" + tail


def check_gguf(data: bytes) -> None:
    """What a GGUF upload goes through: read the header, every derived property, the model spec."""
    from calc.gguf_file import read_gguf, spec_from_gguf

    header = read_gguf(data)
    for prop in ("architecture", "tensor_bytes", "n_elements", "bits_per_weight", "tensor_types", "data_end",
                 "data_complete", "file_type"):
        value = getattr(header, prop)
        if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
            raise AssertionError(f"header.{prop} = {value}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise AssertionError(f"header.{prop} = {value} < 0")
    spec = spec_from_gguf(header)
    counts = param_counts(spec)
    if any(v < 0 for v in counts.components().values()) or not 0 < counts.active <= counts.total:
        raise AssertionError(f"bad counts {counts.components()}")


def gguf_target() -> Callable[[bytes], object] | None:
    """The GGUF header reader (``calc.gguf_file``), or ``None`` while it does not exist."""
    try:
        import calc.gguf_file  # noqa: F401
    except ImportError:
        return None
    return check_gguf


# ----- measured-runs CSV (loss-fit upload) ------------------------------------------------------

def check_csv(data: bytes) -> None:
    from calc.fit import parse_runs_csv

    runs = parse_runs_csv(data)
    for arr in (runs.params, runs.tokens, runs.loss):
        if not all(x > 0 and x < float("inf") for x in arr):
            raise AssertionError(f"bad values {arr!r:.80}")


def csv_cases(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    cells = ["1e8", "2e9", "3.1", "nan", "inf", "-1", "0", "", "1e999", "x", '"4e8"', "1" * 400, "1_0", "\x00"]
    for i in range(n):
        header = rng.sample(["params", "tokens", "loss", "PARAMS", "N", "D", "extra", ""], rng.randint(0, 5))
        rows = [",".join(rng.choice(cells) for _ in range(rng.randint(0, len(header) + 1)))
                for _ in range(rng.choice([0, 1, 3, 10, 1000, 20000]))]
        raw = (",".join(header) + "\n" + "\n".join(rows)).encode()
        kind = rng.randrange(6)
        if kind == 0:
            raw = raw[:rng.randrange(len(raw) + 1)]
        elif kind == 1:
            raw = bytes(rng.randrange(256) for _ in range(rng.choice([0, 10, 300])))
        elif kind == 2:
            raw = b"params,tokens,loss\n" + b'"' + b"x" * rng.choice([1000, 200_000]) + b'"\n'
        elif kind == 3:
            raw = b"params,tokens,loss\n" + b"1e8,2e9,3.1\n" * rng.choice([10, 5000, 200_000])
        yield f"#{i} csv kind {kind}, {len(raw):,} bytes", raw


# ----- scenario files (Scenarios page import) ---------------------------------------------------

def check_scenarios(data: bytes) -> None:
    from calc.scenarios import dumps, loads

    scenarios = loads(data)
    if loads(dumps(scenarios)) != scenarios:  # what it accepts it writes back and reads the same
        raise AssertionError("scenarios do not round-trip")


def scenario_cases(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    values = [1, 0.5, -3, 10**20, 10**400, 1e308, True, None, "x", [], {}, [1], {"a": 1}]
    texts = ["ok", "", " ", "x" * 600, "a\x07b", "\u00e9\u6f22", 5, None, ["a"]]
    for i in range(n):
        items = []
        for _ in range(rng.choice([0, 1, 3, 250])):
            good = rng.random() < 0.6  # most fields valid, so the checks behind the first ones are reached
            item = {"name": "ok" if good else rng.choice(texts),
                    "page": "models" if good else rng.choice(["models", "a b", "../x", "", 3, "x" * 70]),
                    "params": {rng.choice(["k", "", "x" * 600]): "v" if good else rng.choice(texts)
                               for _ in range(rng.randint(0, 3))},
                    "results": {rng.choice(["r", "s", ""]): rng.choice(values) for _ in range(rng.randint(0, 3))},
                    "kinds": {rng.choice(["r", "s", "z"]): rng.choice(["bytes", "count", "bogus", 1, ["x"]])
                              for _ in range(rng.randint(0, 2))}}
            for key in rng.sample(sorted(item), rng.randint(0, 2)):
                item.pop(key)
            items.append(item)
        doc = {"version": rng.choice([1, 1, 1, 2, "1", None]), "scenarios": items}
        raw = json.dumps(doc).encode()
        kind = rng.randrange(5)
        if kind == 0:
            raw = raw[:rng.randrange(len(raw) + 1)]
        elif kind == 1:
            raw = b"[" * rng.choice([10, 1000, 100_000])
        yield f"#{i} {len(items)} scenarios, kind {kind}", raw


PARSERS = {"config": (config_cases, lambda: check_config), "gguf": (gguf_cases, gguf_target),
           "csv": (csv_cases, lambda: (importlib.import_module("calc.fit"), check_csv)[1]),  # import untimed
           "scenarios": (scenario_cases, lambda: (importlib.import_module("calc.scenarios"), check_scenarios)[1])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="cases per parser (default 10,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parser", choices=sorted(PARSERS), action="append")
    ap.add_argument("--no-memory", action="store_true", help="skip tracemalloc (faster)")
    args = ap.parse_args(argv)
    crashed = False
    for name in args.parser or sorted(PARSERS):
        gen, get_target = PARSERS[name]
        target = get_target()
        if target is None:
            print(f"{name}: no parser to fuzz yet (calc/gguf_file.py is missing)")
            continue
        report = run_cases(name, gen(args.n, args.seed), target, measure_memory=not args.no_memory)
        print("\n".join(report.lines()))
        crashed |= bool(report.crashes)
    try:
        import resource

        print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    except ImportError:
        pass
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
