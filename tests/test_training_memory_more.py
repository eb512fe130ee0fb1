"""The Training memory page's lazy "More settings" expander (tm_xmore, issue 18): the inputs users seldom change
(gradient dtype, optimizer offload, sequence parallel, overhead, dropout, RLHF's other models) apply from their link
parameters whether the expander is closed (no widget sent) or open (the widgets show the link's values), and the
page's numbers are calc's for that setup."""

from __future__ import annotations

import pytest

from calc.gpus import get_gpu
from calc.memory import TrainingSetup, training_memory
from calc.presets import get_preset
from calc.solvers import fewest_gpus, max_batch, max_context
from calc.units import GIB, format_bytes
from tests.apptest_helpers import open_page

TRAIN = "app_pages/training_memory.py"
MORE_KEYS = ("tm_grad", "tm_off", "tm_sp", "tm_ovh", "tm_dov", "tm_do", "tm_cr", "tm_rw", "tm_ref")
QUERY = {"model": "Llama-3.2-1B", "gpu": "H100 SXM", "units": "GB", "tm_prec": "bf16-mixed", "tm_zero": "1",
         "tm_dp": "4", "tm_tp": "2", "tm_mb": "2", "tm_seq": "2048", "tm_rc": "none", "tm_rl": "ppo",
         # the expander's inputs, none at its default
         "tm_grad": "fp32", "tm_off": "1", "tm_sp": "1", "tm_ovh": "0.5", "tm_dov": "1", "tm_do": "0.2",
         "tm_cr": "Qwen2.5-0.5B", "tm_rw": "GPT-2", "tm_ref": "Llama-3.2-3B"}


def _widget_keys(at) -> set[str]:
    keys = set()
    for kind in ("selectbox", "number_input", "toggle"):
        keys |= {w.key for w in at.get(kind)}
    return keys


@pytest.mark.parametrize("is_open", [False, True])
def test_more_settings_apply_closed_and_open(is_open):
    at = open_page(TRAIN, QUERY, session={"tm_xmore": is_open, "tm_xtab": True})  # the component table open
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    drawn = _widget_keys(at)
    if is_open:
        assert set(MORE_KEYS) <= drawn
        assert at.selectbox(key="tm_grad").value == "fp32" and at.toggle(key="tm_off").value is True
        assert at.toggle(key="tm_sp").value is True and at.number_input(key="tm_ovh").value == 0.5
        assert at.number_input(key="tm_do").value == 0.2 and at.selectbox(key="tm_cr").value == "Qwen2.5-0.5B"
        assert at.selectbox(key="tm_rw").value == "GPT-2" and at.selectbox(key="tm_ref").value == "Llama-3.2-3B"
    else:
        assert not drawn & set(MORE_KEYS)  # nothing of the expander is sent while it is closed
    for k in MORE_KEYS:  # the link keeps every parameter either way
        assert at.query_params[k] == [QUERY[k]] or at.query_params[k] == QUERY[k]

    model = get_preset("Llama-3.2-1B")
    setup = TrainingSetup(precision="bf16-mixed", grad_dtype="fp32", zero_stage=1, dp=4, tp=2, sequence_parallel=True,
                          micro_batch=2, seq_len=2048, recompute="none", offload_optimizer=True, rlhf="ppo",
                          critic=get_preset("Qwen2.5-0.5B"), reward=get_preset("GPT-2"),
                          reference=get_preset("Llama-3.2-3B"), overhead_bytes=int(round(0.5 * GIB)), dropout=0.2)
    b = training_memory(model, setup)
    # the reference's result differs from the defaults' (so a setting left out would show)
    assert b.total != training_memory(model, TrainingSetup(zero_stage=1, dp=4, tp=2, micro_batch=2, seq_len=2048,
                                                           recompute="none", rlhf="ppo")).total
    df = at.dataframe[0].value
    assert list(df["bytes"]) == [*b.components().values(), b.total, b.cpu_bytes]
    m = {x.label: x for x in at.metric}
    assert m["Total per GPU"].value == format_bytes(b.total, "GB")
    cap = get_gpu("H100 SXM").usable_memory_bytes
    mb, mc = max_batch(model, setup, cap, limit=4096), max_context(model, setup, cap, limit=1 << 22)
    assert m["Largest micro-batch that fits"].value == ("none" if mb is None else f"{mb:,}" + ("+" if mb == 4096 else ""))
    assert m["Longest sequence that fits"].value == ("none" if mc is None else f"{mc:,}")
    layout = fewest_gpus(model, setup, cap)
    assert m["Fewest GPUs that fit"].value == ("none" if layout is None else f"{layout.gpus:,}")
