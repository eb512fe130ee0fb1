"""The red team's reproductions (issue 20) as a hostile-input suite: each CLI case runs in a child process under
``resource`` limits (1 GiB of address space, 10 s of CPU) and fails on a traceback, a crash past the limits or
an exit other than 0 (an answer) or 2 (one line naming the problem); the page cases upload the same configs
and fail on an exception, a page stopped by its server-time budget, or a run over 10 s of CPU.

Cost by design (issue 20 item 1): GGUF typing works per *layer class*, so a 10,000-layer config costs a few
dozen typed blocks per file type; the typed tensors are the per-tensor rules' own, tensor for tensor.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time

import pytest

from calc import gguf
from calc.presets import get_preset
from tests.conftest import ROOT

GIB = 2**30
CPU_S = 10
MIXTRAL = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
           "num_hidden_layers": 1000, "num_attention_heads": 32, "num_key_value_heads": 8,
           "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 65536, "num_experts_per_tok": 2}
DEEP = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 10000,
        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000}


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    out = {}
    for name, cfg in {"mixtral": MIXTRAL, "mixtral10k": dict(MIXTRAL, num_hidden_layers=10000), "deep": DEEP}.items():
        (d / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = str(d / f"{name}.json")
    (d / "flat.csv").write_text("params,tokens,loss\n" + "".join(
        f"{n},{t},{3.0 - 0.1 * i}\n" for i, (n, t) in enumerate([(1e8, 2e9), (2e8, 4e9), (4e8, 8e9), (8e8, 1.6e10),
                                                                   (1e8, 4e9), (2e8, 8e9)])))
    out["flat_runs"] = str(d / "flat.csv")
    fifo = d / "fifo.json"
    os.mkfifo(fifo)
    out["fifo"] = str(fifo)
    return out


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S + 1))


def run_limited(argv: list[str], wall_s: float = 120) -> tuple[int, str, str, float, int]:
    """``python -m calc ARGV`` in a child under the limits: (exit code, stdout, stderr, CPU s, max RSS bytes)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "calc", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=_limits, text=True)
    try:
        out, err = p.communicate(timeout=wall_s)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: the caller diffs it
    return p.returncode, out, err, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


CASES = {
    # issue 20 reproduction 2: 1,000 layers x 65,536 experts (137 s for memory --mode infer), and 10,000 layers
    "params mixtral": (["params", "--config", "{mixtral}", "--json"], 0),
    "memory infer mixtral": (["memory", "--mode", "infer", "--config", "{mixtral}", "--json"], 0),
    "memory train mixtral": (["memory", "--mode", "train", "--config", "{mixtral}", "--json"], 0),
    "memory infer mixtral 10k layers": (["memory", "--mode", "infer", "--config", "{mixtral10k}", "--json"], 0),
    "memory train deep": (["memory", "--mode", "train", "--config", "{deep}", "--json"], 0),
    # reproduction 3: gguf --quant all --tensors --json on 10,000 layers (67 s, 5.3 GB)
    "gguf all deep": (["gguf", "--quant", "all", "--json", "--config", "{deep}", "--context", "8192"], 0),
    "gguf all tensors deep": (["gguf", "--quant", "all", "--tensors", "--json", "--config", "{deep}"], 2),
    "gguf one type tensors deep": (["gguf", "--quant", "Q4_K_M", "--tensors", "--json", "--config", "{deep}"], 0),
    "gguf all tensors mixtral10k": (["gguf", "--quant", "all", "--tensors", "--json", "--config", "{mixtral10k}"], 2),
    # reproduction 4: loss that does not fall with tokens (a ZeroDivisionError traceback)
    "scaling degenerate runs": (["scaling", "--runs", "{flat_runs}", "--compute", "1e23"], 2),
    # reproduction 10: a FIFO hung forever; out-of-range numbers were accepted
    "config fifo": (["params", "--config", "{fifo}"], 2),
    "gguf context 1e30": (["gguf", "--model", "Llama-2-7B", "--context", "1e30"], 2),
    "speed tflops 1e-300": (["speed", "--model", "Llama-2-7B", "--gpu-memory", "80", "--gpu-tflops", "1e-300"], 2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_case_within_limits(case, configs):
    argv, expected = CASES[case]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc, out, err, cpu, rss = run_limited([a.format(**configs) for a in argv])
    cpu -= before.ru_utime + before.ru_stime
    assert "Traceback" not in err, err[-2000:]
    assert rc == expected, (rc, err[-500:])
    assert cpu < CPU_S, f"{case}: {cpu:.1f} s of CPU"
    assert rss < GIB, f"{case}: {rss / GIB:.2f} GiB"
    if rc == 2:
        assert len(err.strip().splitlines()) == 1, err  # one line naming the problem
    else:
        json.loads(out) if "--json" in argv else None


# ----- GGUF typing per layer class ----------------------------------------------------------------------
def _with_layers(name: str, layers: int):
    spec = get_preset(name)
    moe = spec.moe_layers and tuple(spec.layer_is_moe(i % spec.num_layers) for i in range(layers))
    return dataclasses.replace(spec, num_layers=layers, moe_layers=moe)  # DeepSeek: dense blocks come back


@pytest.mark.parametrize("preset", ["Llama-2-7B", "Meta-Llama-3-70B", "Mixtral-8x7B-v0.1", "Qwen2.5-7B", "GPT-2",
                                    "DeepSeek-V3", "Qwen3-30B-A3B"])
@pytest.mark.parametrize("layers", [1, 9, 40, 80, 100])
def test_layer_classes_type_every_tensor_as_the_rules_do(preset, layers):
    """The layered result, read tensor by tensor, equals llama.cpp's rules applied to every tensor in load
    order (``_assign`` over ``gguf_tensors``, the path tests/test_gguf.py checks against published files)."""
    spec = _with_layers(preset, layers)
    tensors = gguf.gguf_tensors(spec)
    for ftype in gguf.FILE_TYPES:
        for imatrix in (False, True):
            try:
                per_tensor = gguf._assign(spec, ftype, tensors, imatrix)
            except ValueError as exc:
                with pytest.raises(ValueError, match=str(exc)[:30]):
                    gguf.quantize_model(spec, ftype, imatrix)
                continue
            q = gguf.quantize_model(spec, ftype, imatrix)
            assert list(q.tensors) == per_tensor, (ftype, imatrix)
            assert q.tensor_bytes == sum(t.bytes for t in per_tensor)
            assert q.file_bytes_estimate == q.header_bytes_estimate + sum(-(-t.bytes // 32) * 32 for t in per_tensor)
            assert q.header_bytes_estimate == gguf.estimate_header_bytes(spec, tensors)


def test_ten_thousand_layers_are_a_few_dozen_blocks():
    spec = dataclasses.replace(get_preset("Llama-2-7B"), num_layers=10_000)
    plan = gguf.layer_plan(spec)
    assert sum(plan.class_counts) == 10_000 and len(plan.reps) < 60
    q = gguf.quantize_model(spec, "Q4_K_M")
    assert len(q.tensors) == 3 + 9 * 10_000  # read as every tensor ...
    held = len(q.tensors.head) + sum(len(r) for r in q.tensors.reps)
    assert held < 600  # ... held as the classes' blocks


# ----- pages ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", ["mixtral", "deep"])
def test_pages_answer_hostile_configs_within_limits(cfg):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/models.py")
    at.run()
    at.file_uploader[0].upload(f"{cfg}.json", json.dumps(MIXTRAL if cfg == "mixtral" else DEEP).encode(),
                               "application/json")
    at.run()
    assert at.session_state["model"].endswith("(uploaded)")
    for page in ("app_pages/home.py", "app_pages/training_memory.py", "app_pages/inference_memory.py",
                 "app_pages/quantization.py", "app_pages/speed.py", "app_pages/compute.py"):
        cpu = time.process_time()
        at.switch_page(page)
        at.run()
        cpu = time.process_time() - cpu
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not any("stopped after" in e.value for e in at.error), page
        assert cpu < CPU_S, f"{page}: {cpu:.1f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < 2 * GIB


# ----- untrusted text on every page -----------------------------------------------------------------------
def _texts(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader"):
        out += [str(e.value) for e in at.get(kind)]
    for m in at.metric:
        out += [str(m.label), str(m.value), str(m.proto.delta or "")]
    return out


def test_a_hostile_model_name_is_text_on_every_page():
    """A config uploaded under the red team's file name (links, an image, raw HTML, a terminal escape): no page
    renders a link, image or tag to the hostile host, in Markdown or in a chart."""
    from streamlit.testing.v1 import AppTest

    from tests.untrusted import HOSTILE, evil_links_in_markdown
    from ui.nav import PAGES

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/models.py")
    at.run()
    cfg = dict(DEEP, num_hidden_layers=4, _name_or_path=HOSTILE)
    at.file_uploader[0].upload(HOSTILE.replace("/", "_") + ".json", json.dumps(cfg).encode(), "application/json")
    at.run()
    assert at.session_state["model"].endswith("(uploaded)")
    for info in PAGES:
        if info.url_path == "benchmark":
            continue
        at.switch_page(info.path)
        at.run()
        assert not at.exception, (info.path, [e.value for e in at.exception])
        links = [x for t in _texts(at) for x in evil_links_in_markdown(t)]
        # a tag from the hostile text, unescaped (the pages' own <br>/<sup> around an escaped name are fine)
        markup = re.findall(r"<\s*(?:a|img)\b[^>]*evil[^>]*>", "".join(c.proto.spec for c in at.get("plotly_chart")))
        assert links == [] and markup == [], (info.path, links[:3], markup[:3])
