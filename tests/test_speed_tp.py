"""Tensor parallelism in the roofline (calc/speed.py) and on the Inference speed page, against hand arithmetic from
the published Meta-Llama-3-70B config (REFERENCE.md: hidden 8192, 80 layers, 64 heads, 8 KV heads, head_dim 128,
vocab 128,256, untied, 70,553,706,496 parameters) and the nccl-tests ring all-reduce (2 (n - 1) / n x bytes)."""

from __future__ import annotations

import pytest

from calc.gpus import get_gpu
from calc.presets import get_preset
from calc.speed import Hardware, ServingSetup, estimate, max_batch_in_memory
from tests.test_speed import _metric, _speed_page

TOTAL, VOCAB, HIDDEN, LAYERS, KV_HEADS, HEAD_DIM = 70_553_706_496, 128_256, 8192, 80, 8, 128
KV_PER_TOKEN = 2 * LAYERS * KV_HEADS * HEAD_DIM * 2  # K and V, bf16: 327,680 B (REFERENCE.md)
H100_TP = Hardware(989e12, 3.35e12, link_bytes_per_s=450e9)  # NVLink 4: 900 GB/s both ways, 450 each


def _decode_step_s(tp: int, batch: int = 1, context: int = 1, bw: float = 3.35e12, link: float = 450e9) -> float:
    """One memory-bound decode step by hand: per GPU, (weights but the embedding table + looked-up rows)/tp + KV,
    plus 2 all-reduces per layer of batch x hidden x 2 B at 2 (tp - 1) / tp of the link."""
    weights = (TOTAL - VOCAB * HIDDEN + batch * HIDDEN) * 2 / tp
    kv = batch * context * KV_PER_TOKEN / tp
    comm = 2 * LAYERS * 2 * (tp - 1) / tp * batch * HIDDEN * 2 / link
    return (weights + kv) / bw + comm


@pytest.mark.parametrize("tp", [2, 4])
def test_bytes_per_gpu_and_decode_rate_by_hand(tp):
    spec = get_preset("Meta-Llama-3-70B")
    setup = ServingSetup(batch=1, prompt_tokens=1, output_tokens=2, tp=tp)
    est = estimate(spec, setup, H100_TP)
    assert est.weights_stored_bytes == -(-TOTAL * 2 // tp)
    assert est.kv_stored_bytes == 2 * KV_PER_TOKEN // tp  # prompt 1 + 1 output position cached
    assert est.weights_read_per_step_bytes == pytest.approx((TOTAL - VOCAB * HIDDEN + HIDDEN) * 2 / tp)
    assert est.decode_bound == "memory"
    assert est.tokens_per_s_per_seq == pytest.approx(1 / _decode_step_s(tp), rel=1e-9)
    assert est.decode_allreduce_s == pytest.approx(2 * LAYERS * 2 * (tp - 1) / tp * HIDDEN * 2 / 450e9)


def test_tp_splits_batch_capacity_and_replicates_kv_heads_past_their_count():
    spec = get_preset("Meta-Llama-3-70B")
    base = ServingSetup(batch=64, prompt_tokens=4000, output_tokens=96)
    # 8 KV heads: at tp=16 each GPU keeps one head (a replica pair), the same KV bytes as tp=8
    kv8 = estimate(spec, ServingSetup(batch=64, prompt_tokens=4000, output_tokens=96, tp=8), H100_TP).kv_stored_bytes
    kv16 = estimate(spec, ServingSetup(batch=64, prompt_tokens=4000, output_tokens=96, tp=16), H100_TP).kv_stored_bytes
    assert kv8 == kv16 == 64 * 4095 * KV_PER_TOKEN // 8
    # 80 GB per GPU: (80e9 - weights/tp) // KV per sequence per GPU, by hand
    per_seq = 4095 * KV_PER_TOKEN
    for tp in (2, 4):
        got = max_batch_in_memory(spec, ServingSetup(**{**base.__dict__, "tp": tp}), 80e9)
        assert got == int((80e9 - -(-TOTAL * 2 // tp)) // (per_seq // tp))


def test_tp_needs_a_link_bandwidth_and_a_valid_degree():
    spec = get_preset("Meta-Llama-3-70B")
    with pytest.raises(ValueError, match="link bandwidth"):
        estimate(spec, ServingSetup(tp=2), Hardware(989e12, 3.35e12))
    with pytest.raises(ValueError, match="tensor-parallel degree"):
        ServingSetup(tp=0)


def _usable(gpu: str) -> int:
    return get_gpu(gpu).usable_memory_bytes


def test_page_says_how_many_gpus_llama3_70b_needs_on_one_h100_and_prints_no_speed():
    at = _speed_page({"model": "Meta-Llama-3-70B", "gpu": "H100 SXM"})
    # by hand: bf16 weights 141.1 GB, KV of 1,279 positions; the smallest tp in 1, 2, 4, 8 that fits per GPU
    need = next(tp for tp in (1, 2, 4, 8) if -(-TOTAL * 2 // tp) + 1279 * KV_PER_TOKEN / tp <= _usable("H100 SXM"))
    assert need == 2
    errors = " ".join(e.value for e in at.error)
    assert "Does not fit" in errors and f"needs **{need} GPUs**" in errors
    assert not at.metric  # no speed for a setup that cannot run


def test_page_at_tp2_shows_the_hand_computed_rate_and_the_link_it_assumes():
    at = _speed_page({"model": "Meta-Llama-3-70B", "gpu": "H100 SXM", "stp": "2", "sprompt": "1", "soutput": "2"})
    assert not at.error
    assert _metric(at, "Decode, per sequence (tokens/s)") == pytest.approx(1 / _decode_step_s(2), abs=0.05)
    assert "All-reduce link: **450 GB/s**" in " ".join(i.value for i in at.info)
    assert at.query_params["stp"] == ["2"] or at.query_params["stp"] == "2"
    # the link is overridable: 45 GB/s (PCIe-class) makes the all-reduces 10x slower
    at.number_input(key="slink").set_value(45.0).run()
    assert _metric(at, "Decode, per sequence (tokens/s)") == pytest.approx(1 / _decode_step_s(2, link=45e9), abs=0.05)
    assert "set on this page" in " ".join(i.value for i in at.info)


def test_page_refuses_a_tp_that_does_not_divide_the_heads():
    at = _speed_page({"model": "Meta-Llama-3-70B", "gpu": "H100 SXM", "stp": "3"})
    assert any("stp=3" in w.value for w in at.warning)
    assert at.selectbox(key="stp").value == 1


def _speed_cli(*args):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    r = subprocess.run([sys.executable, "-m", "calc", "speed", "--model", "Meta-Llama-3-70B", "--gpu", "H100 SXM", *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    return r, (json.loads(r.stdout) if "--json" in args and r.returncode == 0 else None)


def test_cli_tp2_decode_rate_by_hand():
    """python -m calc speed --tp 2: the hand-computed step (weights/2 + all-reduces at H100 NVLink's 450 GB/s)."""
    r, got = _speed_cli("--tp", "2", "--prompt", "1", "--output", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert got["fits"] and got["tp"] == 2 and got["link_bytes_per_s"] == 450e9
    assert got["tokens_per_s_per_seq"] == pytest.approx(1 / _decode_step_s(2), rel=1e-6)
    r, slow = _speed_cli("--tp", "2", "--prompt", "1", "--output", "2", "--link-gbs", "45", "--json")
    assert slow["tokens_per_s_per_seq"] == pytest.approx(1 / _decode_step_s(2, link=45e9), rel=1e-6)


def test_cli_setup_that_does_not_fit_names_the_gpus_instead_of_a_speed():
    """Llama-3-70B bf16 on one H100: 141.1 GB of weights > 85.5 GB usable; by hand the smallest tp that fits is 2."""
    need = next(tp for tp in (1, 2, 4, 8) if -(-TOTAL * 2 // tp) + 1279 * KV_PER_TOKEN / tp <= _usable("H100 SXM"))
    r, got = _speed_cli("--json")
    assert r.returncode == 0 and not got["fits"] and got["gpus_needed"] == need == 2
    assert "tokens_per_s_total" not in got and "ttft_s" not in got
    r, _ = _speed_cli()
    assert "needs 2 GPUs (--tp 2" in r.stdout and "tokens/s" not in r.stdout


def test_cli_tp_that_does_not_split_the_heads_is_exit_2():
    r, _ = _speed_cli("--tp", "3")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "allowed 1, 2, 4, 8" in r.stderr
