"""What a Hugging Face id costs: bytes read against the checkpoint's size, cold against cached look-ups, and
whether a slow look-up holds other sessions up. Runs the real ``huggingface_hub`` client against the local
fake Hub (tests/hub_fake.py) serving Llama-3-8B-shaped files (safetensors header + sparse data; a GGUF
Q4_K_M header + sparse data), so it needs no network.

    python bench/bench_hub.py [--sessions 8] [--delay 1.0]

Printed, each measured in this run: header bytes / file bytes for the safetensors and the GGUF file; the
median time of a cold look-up and of a cached one and their ratio; and, with one id whose Hub answers after
``--delay`` s in flight, the slowest of ``--sessions`` cached look-ups of another id against that delay.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hub  # noqa: E402
from calc.models import ModelSpec  # noqa: E402
from hub.client import clear_cache  # noqa: E402
from tests.hub_fake import FakeHub, FakeRepo, sparse_safetensors  # noqa: E402
from tests.hub_fixtures import _gguf  # noqa: E402
from tests.test_checkpoint import LLAMA3_8B, llama_checkpoint_shapes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    st = sparse_safetensors(d / "model.safetensors", llama_checkpoint_shapes(LLAMA3_8B))
    gg = d / "Meta-Llama-3-8B.Q4_K_M.gguf"
    _gguf(gg, ModelSpec.from_hf_config(LLAMA3_8B, name="8b"), "Q4_K_M", header_only=True)
    cfg = json.dumps(LLAMA3_8B).encode()
    repos = {f"org/llama-{i}": FakeRepo({"config.json": cfg, "model.safetensors": st}) for i in range(args.rounds)}
    repos["org/slow"] = FakeRepo({"config.json": cfg, "model.safetensors": st}, delay_s=args.delay)
    repos["org/gguf"] = FakeRepo({gg.name: gg})
    fake = FakeHub(repos).start()
    os.environ.update(HF_ENDPOINT=fake.endpoint, HF_HOME=str(d / "hf-home"))
    os.environ.pop("HF_HUB_OFFLINE", None)
    try:
        cold, warm = [], []
        for i in range(args.rounds):
            t = time.perf_counter()
            m = hub.resolve(f"org/llama-{i}")
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            hub.resolve(f"org/llama-{i}")
            warm.append(time.perf_counter() - t)
        size = st.stat().st_size
        sent = fake.bytes_sent["model.safetensors"] / args.rounds
        print(f"safetensors: {m.checkpoint.parameters:,} parameters from {sent:,.0f} of {size:,} bytes "
              f"({sent / size:.2e} of the file)")
        g = hub.resolve("org/gguf")
        hub.gguf_header(g.snapshot, g.snapshot.gguf[0])
        gsize, gsent = gg.stat().st_size, fake.bytes_sent[gg.name]
        print(f"gguf: header by range reads, {gsent:,} of {gsize:,} bytes ({gsent / gsize:.2e} of the file)")
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"look-up: cold median {c * 1e3:.1f} ms, cached median {w * 1e6:.1f} us, ratio {c / w:,.0f}x "
              f"({args.rounds} ids)")
        slow = threading.Thread(target=hub.resolve, args=("org/slow",))
        slow.start()
        time.sleep(0.05)
        waits: list[float] = []

        def session() -> None:
            t0 = time.perf_counter()
            hub.resolve("org/llama-0")
            waits.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=session) for _ in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slow.join()
        print(f"while a look-up waits {args.delay:.1f} s on the Hub: the slowest of {args.sessions} other sessions "
              f"took {max(waits) * 1e3:.2f} ms ({max(waits) / args.delay:.1e} of the delay)")
    finally:
        fake.stop()
        clear_cache()


if __name__ == "__main__":
    main()
