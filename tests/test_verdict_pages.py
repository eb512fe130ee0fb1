"""The memory pages' verdicts and solvers as a newcomer meets them (issue 17 items 2, 4, 5 and 8), in AppTest.

Expected figures come from calc (checked against papers and real tensors in test_memory*.py) and from an
exhaustive layout search (test_solvers.py); these tests hold what the pages show to them.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from calc.gpus import get_gpu
from calc.memory import TrainingSetup, training_memory
from calc.presets import get_preset
from calc.solvers import fewest_gpus
from calc.units import format_bytes
from tests.test_pages import run_page

TRAIN, INFER, HOME = "app_pages/training_memory.py", "app_pages/inference_memory.py", "app_pages/home.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_training_page_names_a_valid_layout_for_llama3_70b():
    """Item 2: "Fewest tensor-parallel GPUs: more than 64" for a model whose 8 KV heads allow tp <= 8."""
    at = run_page(TRAIN, {"model": "Meta-Llama-3-70B"})
    assert not at.exception
    spec, cap = get_preset("Meta-Llama-3-70B"), get_gpu("H100 SXM").usable_memory_bytes
    layout = fewest_gpus(spec, TrainingSetup(seq_len=4096, recompute="full"), cap)
    assert metrics(at)["Fewest GPUs that fit"] == f"{layout.gpus:,}"
    how = f"{layout.describe()}: {format_bytes(layout.per_gpu_bytes, 'GB')} per GPU"  # the metric's grey delta
    assert next(m for m in at.metric if m.label == "Fewest GPUs that fit").delta == how
    assert 8 % layout.tp == 0 and "more than 64" not in str([m.value for m in at.metric])
    # the verdict offers the same layout
    assert f"the layout {layout.describe()}" in at.error[0].value


def test_qlora_on_a_4090_fits_by_default_and_names_recompute_when_off():
    """Item 4: QLoRA of Llama-3.1-8B on an RTX 4090 said "does not fit, 40.19 GB" with recompute off by default."""
    q = {"model": "Llama-3.1-8B", "gpu": "RTX 4090", "tm_ft": "qlora"}
    spec = get_preset("Llama-3.1-8B")
    full = training_memory(spec, TrainingSetup(finetune="qlora", seq_len=4096, recompute="full")).total
    at = run_page(TRAIN, q)
    assert not at.exception and not at.error and "Fits" in at.success[0].value
    assert metrics(at)["Total per GPU"] == format_bytes(full, "GB") == "14.44 GB"
    assert "gradient checkpointing" in at.selectbox(key="tm_rc").label.lower()

    at = run_page(TRAIN, q | {"tm_rc": "none"})
    verdict = at.error[0].value
    assert "Does not fit" in verdict and "40.19 GB" in verdict
    assert f"**activation recompute (gradient checkpointing): full**: {format_bytes(full, 'GB')} per GPU" in verdict


def test_selective_recompute_with_flash_attention_says_it_changes_nothing():
    at = run_page(TRAIN, {"model": "Llama-3.1-8B", "tm_rc": "selective"})
    assert any("changes nothing" in i.value for i in at.info)
    at = run_page(TRAIN, {"model": "Llama-3.1-8B", "tm_rc": "selective", "tm_fa": "0"})  # eager: it does save
    assert not any("changes nothing" in i.value for i in at.info)


def test_home_and_training_memory_agree_and_the_link_carries_the_setup():
    """Item 5: Home said 137 GB (full recompute) and the page 162 GB (none) for the same defaults."""
    home = run_page(HOME, {"model": "Meta-Llama-3-8B"})
    train_metric = next(m for m in home.metric if m.label.startswith("Train:"))
    link = next(p for p in home.get("page_link") if p.proto.page == "training-memory")
    query = dict(parse_qsl(link.proto.query_string))
    assert query["model"] == "Meta-Llama-3-8B" and query["tm_rc"] == "full"
    for q in ({"model": "Meta-Llama-3-8B"}, query):  # the page's own defaults, and the link Home gives
        page = run_page(TRAIN, q)
        assert metrics(page)["Total per GPU"] == train_metric.value
    serve_link = next(p for p in home.get("page_link") if p.proto.page == "inference-memory")
    serve = run_page(INFER, dict(parse_qsl(serve_link.proto.query_string)))
    assert metrics(serve)["Total per GPU"] == next(m.value for m in home.metric if m.label.startswith("Serve:"))


def test_context_beyond_trained_positions_is_a_warning_beside_the_verdict():
    """Item 8: Llama-3-70B at 32k (trained on 8,192 positions) was a grey bullet among the notes."""
    at = run_page(INFER, {"model": "Meta-Llama-3-70B", "im_ctx": "32768"})
    assert any("32,768" in w.value and "8,192" in w.value for w in at.warning)
    assert not any("8,192 positions" in c.value for c in at.caption)  # not repeated as a note
    at = run_page(TRAIN, {"model": "Meta-Llama-3-70B", "tm_seq": "32768"})
    assert any("32,768" in w.value and "8,192" in w.value for w in at.warning)
    at = run_page(TRAIN, {"model": "Meta-Llama-3-70B", "tm_seq": "8192"})
    assert not at.warning
