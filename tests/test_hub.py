"""The Hub through the real ``huggingface_hub`` client, against a local HTTP stand-in (tests/hub_fake.py)
reached through ``HF_ENDPOINT``: exact counts from headers read by range requests, the gated 401, 404s,
time-outs, no network, offline mode from a prepared cache, GGUF repositories, caching across sessions,
and tokens that never reach a URL, a message or the output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest
from huggingface_hub import hf_hub_download

import hub
from calc import checkpoint as ck
from calc.gguf import quantize_model
from calc.models import param_counts
from hub.client import clear_cache
from tests.conftest import ROOT
from tests.hub_fake import FakeRepo, free_port, hub_env, sparse_safetensors
from tests.hub_fixtures import SECRET, fake, files  # noqa: F401 (fixtures)
from tests.test_checkpoint import TINY_LLAMA


def sent_bytes(fake, path: str) -> int:
    """Body bytes the fake served for ``path``. Its handler thread records them after its last write (or once it
    sees the hang-up), which may come after the client already returned: wait for it (5 s at most)."""
    for _ in range(100):
        if path in fake.bytes_sent:
            break
        time.sleep(0.05)
    return fake.bytes_sent[path]


# ----- exact counts through the real client ------------------------------------------------------
def test_hub_id_gives_header_counts_by_range_reads(fake, files):
    m = hub.resolve("org/tiny")
    local = ck.summarize(*ck.read_local_checkpoint(files["dir"] / "model.safetensors.index.json"))
    assert m.checkpoint.parameters == local.parameters == param_counts(m.spec).total
    assert m.checkpoint.bytes == local.bytes and m.spec.name == "org/tiny" and m.snapshot.sha
    ranges = [e.range for e in fake.log if e.path.endswith(".safetensors") and e.server == "hub"]
    assert ranges == ["bytes=0-100000"] * 2  # huggingface_hub's first window; the headers fit in it


def test_large_model_read_without_its_weights(fake):
    """Llama-3-8B (16 GB of BF16 on the Hub): 8,030,261,248 parameters from about 100 KB of transfers."""
    m = hub.resolve("meta-llama/Meta-Llama-3-8B")
    assert m.checkpoint.parameters == 8_030_261_248 == param_counts(m.spec).total
    assert m.checkpoint.bytes == 16_060_522_496 and m.checkpoint.file_bytes == fake.repos[
        "meta-llama/Meta-Llama-3-8B"].size("model.safetensors")
    assert sent_bytes(fake, "model.safetensors") <= 100_001


def test_cli_params_and_memory_with_hf(fake, tmp_path):
    env = hub_env(fake, tmp_path / "cli-home")
    r = subprocess.run([sys.executable, "-m", "calc", "params", "--hf", "meta-llama/Meta-Llama-3-8B", "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["total"] == 8_030_261_248 and out["checkpoint"]["parameters"] == 8_030_261_248
    assert out["checkpoint"]["by_dtype"] == {"BF16": {"parameters": 8_030_261_248, "bytes": 16_060_522_496,
                                                       "tensors": 291}}
    r = subprocess.run([sys.executable, "-m", "calc", "memory", "--mode", "infer", "--hf",
                        "meta-llama/Meta-Llama-3-8B", "--overhead-bytes", "0", "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["components"]["weights"] == 16_060_522_496


# ----- access errors ---------------------------------------------------------------------------------
def test_gated_repo_needs_a_token(fake, monkeypatch):
    with pytest.raises(hub.HubError, match=r"is gated: accept its licence at http://127\.0\.0\.1:\d+/meta-llama/gated"):
        hub.resolve("meta-llama/gated")
    assert hub.resolve("meta-llama/gated", token=SECRET).checkpoint.parameters == 8_030_261_248
    clear_cache()
    monkeypatch.setenv("HF_TOKEN", SECRET)  # the environment's token (or `hf auth login`) works the same
    assert hub.resolve("meta-llama/gated").checkpoint.parameters == 8_030_261_248
    with pytest.raises(hub.HubError, match="gated"):
        hub.resolve("meta-llama/gated", token="hf_not_granted")
    assert all(SECRET not in u for u in fake.urls())
    assert any(e.auth for e in fake.log)  # it travelled in the Authorization header


def test_missing_private_and_bad_revision(fake):
    for rid in ("org/does-not-exist", "org/private"):
        with pytest.raises(hub.HubError, match="was not found on the Hub.*if it is private, give a token"):
            hub.resolve(rid)
    assert hub.resolve("org/private", token=SECRET).checkpoint.parameters > 0
    with pytest.raises(hub.HubError, match="has no revision 'v9'"):
        hub.resolve("org/tiny@v9")


@pytest.mark.parametrize("text", ["../../etc/passwd", "org/x%2F..", "org/na me", "org/x?token=1", "a/b/c", "",
                                  "org/tiny@../../x", "org/" + "x" * 300])
def test_malformed_ids_never_reach_the_network(fake, text):
    with pytest.raises(ValueError, match="not valid|empty|characters"):
        hub.resolve(text)
    assert fake.log == []


def test_time_out_and_no_network(fake, monkeypatch):
    monkeypatch.setenv("CALC_HUB_TIMEOUT_S", "0.5")
    t0 = time.monotonic()
    with pytest.raises(hub.HubError, match=r"did not answer within 0\.5 s"):
        hub.resolve("org/slow")
    assert time.monotonic() - t0 < 2.0  # the server answers after 2 s: the client gave up before
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(hub.HubError, match="cannot reach the Hub"):
        hub.resolve("org/tiny")


def test_a_trickling_server_is_cut_at_the_deadline(fake, files, monkeypatch):
    """Every 4 KB of a file body comes 0.2 s apart: no single read waits past the 0.5 s time-out, but a
    safetensors header (100 KB first window) or a GGUF header (1 MB) would take 5-50 s. The look-up stops
    at CALC_HUB_DEADLINE_S (it used to run to the end: 8 s for Llama-3-8B's header at 0.3 s a piece)."""
    fake.repos["org/trickle"] = FakeRepo(dict(files["tiny"]), trickle_s=0.2)
    fake.repos["org/trickle-GGUF"] = FakeRepo({"tiny-Q4_K_M.gguf": files["q4"]}, trickle_s=0.2)
    monkeypatch.setenv("CALC_HUB_TIMEOUT_S", "0.5")
    monkeypatch.setenv("CALC_HUB_DEADLINE_S", "1")
    for rid, what in (("org/trickle", "model-0000"), ("org/trickle-GGUF", "tiny-Q4_K_M.gguf")):
        t0 = time.monotonic()
        with pytest.raises(hub.HubError, match=rf"sent the header of {what}.* too slowly: stopped after 1 s"):
            hub.resolve(rid)
        assert time.monotonic() - t0 < 4.0, rid


def test_a_server_ignoring_range_costs_only_the_header_window(fake, files, tmp_path):
    """A mirror or proxy that answers every range request with the whole file (200): the header is still read,
    and the body is cut at the window asked for. Through huggingface_hub's parse_safetensors_file_metadata the
    whole file was read into memory (16 GB for Llama-3-8B; here a 64 MB file is enough to tell)."""
    big = sparse_safetensors(tmp_path / "model.safetensors", {"w": ("BF16", (8192, 4096))})
    fake.repos["org/no-range"] = FakeRepo({"config.json": json.dumps(TINY_LLAMA).encode(), "model.safetensors": big},
                                          ignore_range=True)
    m = hub.resolve("org/no-range")
    assert m.checkpoint.parameters == 8192 * 4096 and m.checkpoint.bytes == 2 * 8192 * 4096
    assert sent_bytes(fake, "model.safetensors") < 16 << 20 < big.stat().st_size  # cut, then the server saw a hang-up


@pytest.mark.parametrize("repo,match", [("org/huge-header", "too big|claims"),
                                        ("org/truncated", "safetensors header could not be read|not valid|truncated")])
def test_hostile_headers_from_the_hub(fake, repo, match):
    with pytest.raises(hub.HubError, match=match):
        hub.resolve(repo)
    assert fake.bytes_sent.get("model.safetensors", 0) <= 100_001


# ----- offline: the local Hugging Face cache ---------------------------------------------------------
def test_offline_mode_reads_the_local_cache(fake, tmp_path, monkeypatch):
    online = hub.resolve("org/tiny")
    for name in fake.repos["org/tiny"].files:  # what `hf download org/tiny` leaves in the cache
        hf_hub_download("org/tiny", name, endpoint=fake.endpoint, cache_dir=str(tmp_path / "hf-home" / "hub"))
    clear_cache()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(fake.log)
    offline = hub.resolve("org/tiny")
    assert len(fake.log) == n  # no request
    assert offline.snapshot.source == "local cache" and offline.snapshot.sha == online.snapshot.sha
    assert (offline.checkpoint.parameters, offline.checkpoint.bytes) == (online.checkpoint.parameters,
                                                                         online.checkpoint.bytes)
    assert param_counts(offline.spec).total == param_counts(online.spec).total
    with pytest.raises(hub.HubError, match="not in the local Hugging Face cache"):
        hub.resolve("meta-llama/Meta-Llama-3-8B")
    # a GGUF repository from the cache: the same headers, read from the files there
    monkeypatch.delenv("HF_HUB_OFFLINE")
    online_gguf = hub.resolve("org/tiny-GGUF")
    online_q8 = hub.gguf_header(online_gguf.snapshot, online_gguf.snapshot.gguf[1])
    for name in fake.repos["org/tiny-GGUF"].files:
        hf_hub_download("org/tiny-GGUF", name, endpoint=fake.endpoint, cache_dir=str(tmp_path / "hf-home" / "hub"))
    clear_cache()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # no network, not offline: the cache
    cached = hub.resolve("org/tiny-GGUF")
    assert cached.snapshot.source == "local cache" and [e.size_bytes for e in cached.snapshot.gguf] == [
        e.size_bytes for e in online_gguf.snapshot.gguf]
    assert hub.gguf_header(cached.snapshot, cached.snapshot.gguf[1]).tensors == online_q8.tensors


# ----- caching across sessions -----------------------------------------------------------------------
def test_cache_serves_repeats_and_never_blocks_other_ids(fake, monkeypatch):
    hub.resolve("org/tiny")
    n = len(fake.log)
    hub.resolve("org/tiny")
    assert len(fake.log) == n  # a second look-up (another session of the same server) is a cache hit
    done = {}

    def slow():
        try:
            hub.resolve("org/slow")
        finally:
            done["slow"] = time.monotonic()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # the slow look-up is in flight (its model info comes after 2 s)
    hub.resolve("meta-llama/Meta-Llama-3-8B")
    done["fast"] = time.monotonic()
    t.join(30)
    assert done["fast"] < done["slow"] - 0.5


def test_ttl_cache_expires_bounds_and_shares_one_call():
    """hub.cache.TTLCache on a clock the test moves: a hit within the time-to-live, a new call after it; at most
    max_entries kept (least recently used out); a failure is not cached; concurrent callers of one key share one
    call while another key does not wait."""
    from hub.cache import TTLCache

    now = [0.0]
    cache = TTLCache(ttl_s=60, max_entries=2, clock=lambda: now[0])
    calls = []

    def compute(key):
        calls.append(key)
        return f"value of {key}"

    assert cache.get_or_compute("a", lambda: compute("a")) == "value of a"
    now[0] = 59.9
    cache.get_or_compute("a", lambda: compute("a"))
    assert calls == ["a"]  # within the TTL: a hit
    now[0] = 60.1
    cache.get_or_compute("a", lambda: compute("a"))
    assert calls == ["a", "a"]  # expired: fetched again
    cache.get_or_compute("b", lambda: compute("b"))
    cache.get_or_compute("a", lambda: compute("a"))  # a is now the most recent
    cache.get_or_compute("c", lambda: compute("c"))  # over 2 entries: b goes
    cache.get_or_compute("a", lambda: compute("a"))
    cache.get_or_compute("b", lambda: compute("b"))
    assert calls == ["a", "a", "b", "c", "b"]
    with pytest.raises(ValueError):
        cache.get_or_compute("bad", lambda: (_ for _ in ()).throw(ValueError("down")))
    assert cache.get_or_compute("bad", lambda: compute("bad")) == "value of bad"  # the failure was not kept

    gate, slow_calls, results = threading.Event(), [], []

    def slow():
        slow_calls.append(1)
        gate.wait(5)
        return "slow"

    workers = [threading.Thread(target=lambda: results.append(cache.get_or_compute("s", slow))) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.2)
    assert cache.get_or_compute("other", lambda: "fast") == "fast"  # another key never waits on "s"
    gate.set()
    for w in workers:
        w.join(5)
    assert results == ["slow"] * 4 and len(slow_calls) == 1


# ----- GGUF repositories -----------------------------------------------------------------------------
def test_gguf_repo_lists_files_with_real_sizes_and_predictions(fake, files):
    m = hub.resolve("org/tiny-GGUF")
    names = [e.name for e in m.snapshot.gguf]
    assert names == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]  # the split is one model
    q8 = m.snapshot.gguf[1]
    assert q8.size_bytes == sum(p.stat().st_size for p in files["q8"]) and len(q8.parts) == 2
    h = hub.gguf_header(m.snapshot, q8)
    assert h.tensor_bytes == quantize_model(files["small_spec"], "Q8_0").tensor_bytes
    assert m.spec is not None and m.spec.num_layers == files["small_spec"].num_layers


def test_cli_gguf_hf_json_one_object_per_file(fake, files, tmp_path):
    r = subprocess.run([sys.executable, "-m", "calc", "gguf", "--hf", "org/Llama-3-8B-GGUF", "--context", "8192",
                        "--gpu", "RTX 4090", "--json"], capture_output=True, text=True, cwd=ROOT,
                       env=hub_env(fake, tmp_path / "cli"), timeout=120)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    size = files["big_gguf"].stat().st_size
    assert row["file"] == "Meta-Llama-3-8B.Q4_K_M.gguf" and row["size_bytes"] == size
    assert row["file_type"] == "Q4_K_M"
    assert row["tensor_difference_bytes"] == 0  # the payload our rules predict is the file's, to the byte
    assert row["difference_bytes"] == size - row["predicted_bytes"]
    assert row["run"]["fits"] is True and row["run"]["weights_bytes"] == row["tensor_bytes"]
    sent = sent_bytes(fake, "Meta-Llama-3-8B.Q4_K_M.gguf")
    assert sent < 4 << 20 < size  # header windows only (1 MB, 2 MB, ...), never the 4.9 GB of weights


# ----- tokens never leak -----------------------------------------------------------------------------
def test_token_never_in_urls_output_or_messages(fake, tmp_path):
    env = hub_env(fake, tmp_path / "cli", HF_TOKEN=SECRET)
    runs = [subprocess.run([sys.executable, "-m", "calc", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=120)
            for args in (["params", "--hf", "meta-llama/gated", "--json"], ["params", "--hf", "meta-llama/gated"],
                         ["params", "--hf", "org/does-not-exist"])]
    assert [r.returncode for r in runs] == [0, 0, 2]
    assert "was not found" in runs[2].stderr and runs[2].stderr.count("\n") == 1
    for r in runs:
        assert SECRET not in r.stdout + r.stderr
    assert all(SECRET not in u for u in fake.urls())
    with pytest.raises(hub.HubError) as err:
        hub.resolve("org/does-not-exist", token=SECRET)
    assert SECRET not in str(err.value)
    cache_files = [p for p in (tmp_path / "cli").rglob("*") if p.is_file()]
    assert cache_files and all(SECRET.encode() not in p.read_bytes() for p in cache_files)


def test_calc_never_imports_the_network_layer():
    """calc/ is the pure core: every module (the CLI included: --hf imports hub lazily) loads without hub,
    huggingface_hub or an HTTP client."""
    code = ("import sys, pkgutil, importlib, calc;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(calc.__path__, 'calc.')"
            " if m.name != 'calc.__main__'];"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('hub', 'huggingface_hub', 'httpx2', 'requests')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_unmodelled_and_multimodal_configs(fake, files):
    novel = hub.resolve("org/novel")  # an architecture we do not model: exact weights from the headers anyway
    assert novel.spec is None and novel.note.startswith(ck.NOT_MODELLED)
    assert novel.checkpoint.parameters == hub.resolve("org/tiny").checkpoint.parameters
    vlm = hub.resolve("org/vlm")  # the language model from text_config; the vision tower from the headers only
    assert "text_config" in vlm.note
    text_total = param_counts(vlm.spec).total
    assert vlm.checkpoint.parameters - text_total == files["vision_params"]
    assert vlm.checkpoint.by_group["vision_tower.patch_embed"] == 64 * 3 * 14 * 14


# ----- the CLI, item by item (issue 13 items 1, 4, 5, 6 and the bad-input bullet) ---------------------
def _cli(fake, home, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m calc ARGS`` in this process (``calc.cli.main``: the same parser, error handling and exit
    codes, without a second interpreter's start-up) with ``home`` as HF_HOME; the hub cache starts empty."""
    import contextlib
    import io
    import os

    from calc.cli import main

    saved = {k: os.environ.get(k) for k in ("HF_HOME", *env)}
    os.environ.update(HF_HOME=str(home), **env)
    out, err = io.StringIO(), io.StringIO()
    try:
        clear_cache()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(args))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clear_cache()
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def test_cli_revision_syntax_id_at_rev_and_flag(fake, files, tmp_path):
    """``--hf ID@REV`` and ``--hf ID --revision REV`` read that revision (the model-info URL names it);
    both together, or a revision the repository lacks, is one line on stderr and exit 2."""
    sha = fake.repos["org/tiny"].sha
    local = ck.summarize(*ck.read_local_checkpoint(files["dir"] / "model.safetensors.index.json")).parameters
    for args in (["--hf", f"org/tiny@{sha}"], ["--hf", "org/tiny", "--revision", sha]):
        r = _cli(fake, tmp_path / "h", "params", *args, "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["model"] == f"org/tiny@{sha}" and out["total"] == out["checkpoint"]["parameters"] == local
    assert sum(u.startswith(f"/api/models/org/tiny/revision/{sha}") for u in fake.urls()) == 2
    for args, msg in ((["--hf", "org/tiny@main", "--revision", "main"], "revision once|@revision and --revision"),
                      (["--hf", "org/tiny@v9"], "has no revision 'v9'"),
                      (["--model", "Meta-Llama-3-8B", "--revision", "main"], "--revision goes with --hf")):
        r = _cli(fake, tmp_path / "h", "params", *args, "--json")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and re.search(msg, r.stderr), (args, r.stderr)


def test_cli_gguf_hf_split_files_are_one_model(fake, files, tmp_path):
    """A repository with a single GGUF and a two-part split: two objects, the split's size the sum of its parts'
    listed sizes, its payload predicted by llama.cpp's rules to the byte (the gguf package wrote the files)."""
    r = _cli(fake, tmp_path / "h", "gguf", "--hf", "org/tiny-GGUF", "--context", "512", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["file"]: row for row in json.loads(r.stdout)}
    assert list(rows) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    q8 = rows["tiny-Q8_0.gguf"]
    assert q8["parts"] == [p.name for p in files["q8"]]
    assert q8["size_bytes"] == sum(p.stat().st_size for p in files["q8"])
    assert q8["file_type"] == "Q8_0" and rows["tiny-Q4_K_M.gguf"]["file_type"] == "Q4_K_M"
    assert q8["tensor_bytes"] == quantize_model(files["small_spec"], "Q8_0").tensor_bytes
    for row in rows.values():
        assert {"file", "size_bytes", "file_type", "predicted_bytes", "difference_bytes"} <= set(row)
        assert row["tensor_difference_bytes"] == 0 and row["difference_bytes"] == row["size_bytes"] - row[
            "predicted_bytes"]
        assert row["run"]["weights_bytes"] == row["tensor_bytes"]


def test_cli_params_hf_json_shape_modelled_unmodelled_multimodal(fake, files, tmp_path):
    """Item 6: {"checkpoint": {"parameters", "bytes", "by_dtype": {dtype: {"parameters", "bytes"}},
    "quantization"}}; ``total`` is our count when the architecture is modelled, else the headers' count."""
    local = ck.summarize(*ck.read_local_checkpoint(files["dir"] / "model.safetensors.index.json"))
    outs = {}
    for rid in ("org/tiny", "org/novel", "org/vlm"):
        r = _cli(fake, tmp_path / "h", "params", "--hf", rid, "--json")
        assert r.returncode == 0, r.stderr
        outs[rid] = json.loads(r.stdout)
        c = outs[rid]["checkpoint"]
        assert {"parameters", "bytes", "by_dtype", "quantization"} <= set(c) and c["quantization"] is None
        assert sum(v["parameters"] for v in c["by_dtype"].values()) == c["parameters"]
        assert sum(v["bytes"] for v in c["by_dtype"].values()) == c["bytes"]
    tiny, novel, vlm = outs["org/tiny"], outs["org/novel"], outs["org/vlm"]
    assert tiny["total"] == local.parameters and tiny["checkpoint"]["minus_architecture"] == 0
    assert novel["total"] == novel["checkpoint"]["parameters"] == local.parameters  # the headers' count
    assert novel["components"] is None and novel["note"].startswith(
        "architecture not modelled: no KV cache or activation estimate")
    # the language model from text_config: our count is the text model; the vision tower is the difference
    assert vlm["total"] == local.parameters and vlm["checkpoint"]["minus_architecture"] == files["vision_params"]
    text = _cli(fake, tmp_path / "h", "params", "--hf", "org/vlm")
    assert f"MISMATCH: the checkpoint holds +{files['vision_params']:,}" in text.stdout


@pytest.mark.parametrize("args,env,msg", [
    (["params", "--hf", "meta-llama/gated"], {}, r"is gated: accept its licence at http://127\.0\.0\.1:\d+/meta-llama/gated"),
    (["memory", "--mode", "infer", "--hf", "meta-llama/gated"], {}, "is gated: accept its licence"),
    (["params", "--hf", "org/huge-header"], {}, "claims|too big"),
    (["params", "--hf", "org/truncated"], {}, "safetensors header could not be read|truncated|not valid"),
    (["params", "--hf", "org/slow"], {"CALC_HUB_TIMEOUT_S": "0.5"}, r"did not answer within 0\.5 s"),
    (["params", "--hf", "../../etc/passwd"], {}, "is not valid"),
    (["gguf", "--hf", "org/novel"], {}, "holds no .gguf file and its architecture is not modelled"),
])
def test_cli_hub_failures_are_one_line(fake, tmp_path, args, env, msg):
    t0 = time.monotonic()
    r = _cli(fake, tmp_path / "h", *args, "--json", **env)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert re.search(msg, r.stderr) and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 30  # the slow repo answers after 2 s; nothing waits on it


def test_cli_offline_reads_the_local_cache(fake, tmp_path):
    home = tmp_path / "h"
    online = json.loads(_cli(fake, home, "params", "--hf", "org/tiny", "--json").stdout)
    for name in fake.repos["org/tiny"].files:  # `hf download org/tiny` into the same HF_HOME
        hf_hub_download("org/tiny", name, endpoint=fake.endpoint, cache_dir=str(home / "hub"))
    n = len(fake.log)
    r = _cli(fake, home, "params", "--hf", "org/tiny", "--json", HF_HUB_OFFLINE="1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) | {"note": None} == online | {"note": None} and len(fake.log) == n


def test_cli_bench_takes_hf_like_model(fake, tmp_path):
    """Item 1: --hf wherever --model is taken; bench's model GEMM shapes from a Hub id (TINY_LLAMA's config:
    hidden 256, 4 heads of 64, 2 KV heads, gated MLP of 512, vocabulary 300), on 4 tokens."""
    r = _cli(fake, tmp_path / "h", "bench", "--hf", "org/tiny", "--backend", "numpy", "--sizes", "16", "--runs", "1",
             "--warmup", "0", "--tokens", "4", "--json")
    assert r.returncode == 0, r.stderr
    shapes = {rec["shape"]: (rec["m"], rec["n"], rec["k"]) for rec in map(json.loads, r.stdout.splitlines())}
    assert shapes["QKV"] == (4, 256 + 2 * 2 * 64, 256) and shapes["MLP gate+up"] == (4, 2 * 512, 256)
    assert shapes["MLP down"] == (4, 256, 512)


def test_multimodal_repo_counts_towers_from_the_nested_configs(fake):
    """Item 2: a multimodal config (Gemma 3 4B: text_config + vision_config, google/gemma-3-4b-it's config.json)
    read from the Hub into one model description with its vision tower and projector: the published total,
    4,300,079,472 (tests/data/multimodal/gemma3_4b.json). A repository without safetensors files is counted from
    its config alone."""
    entry = json.loads((ROOT / "tests" / "data" / "multimodal" / "gemma3_4b.json").read_text())
    fake.repos["google/gemma-3-4b-it"] = FakeRepo({"config.json": json.dumps(entry["config"]).encode(),
                                                   "README.md": b"# no weights here"})
    m = hub.resolve("google/gemma-3-4b-it")
    counts = param_counts(m.spec)
    assert m.note is None and m.checkpoint is None and counts.towers > 0
    assert counts.total == entry["published_total"] == 4_300_079_472


@pytest.mark.parametrize("args", [
    ["params"], ["compute", "--tokens", "15T"], ["speed", "--gpu", "H100 SXM"], ["memory", "--mode", "train"],
    ["memory", "--mode", "infer", "--weights-dtype", "bf16"], ["gguf", "--quant", "Q4_K_M", "--context", "8192"],
])
def test_cli_hf_gives_what_the_preset_gives(fake, tmp_path, args):
    """Item 1: --hf wherever --model is taken. Meta-Llama-3-8B's config from the (fake) Hub and the preset typed
    from the same published config.json give the same numbers in every command (gguf on a repo without .gguf
    files: what its GGUF would weigh, by llama.cpp's rules)."""
    hf = _cli(fake, tmp_path / "h", *args, "--hf", "meta-llama/Meta-Llama-3-8B", "--json")
    preset = _cli(fake, tmp_path / "h", *args, "--model", "Meta-Llama-3-8B", "--json")
    assert hf.returncode == preset.returncode == 0, hf.stderr + preset.stderr
    a, b = json.loads(hf.stdout), json.loads(preset.stdout)
    names = {"model", "name", "checkpoint", "note", "architecture", "source", "flops_formula"}  # name the model
    strip = (lambda d: {k: v for k, v in d.items() if k not in names}) if isinstance(a, dict) else (lambda d: d)
    assert strip(a) == strip(b) and a
