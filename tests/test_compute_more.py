"""The Compute page's lazy "More settings" expander (c_xmore, issue 18): FLOP count, sequence length, recompute,
compute dtype and PUE apply from their link parameters whether the expander is closed (no widget sent; its label
names the values in use) or open (the widgets show the link's values), and the page's numbers are calc's for them."""

from __future__ import annotations

import pytest

from calc.compute import time_and_cost, training_flops
from calc.gpus import get_gpu
from calc.presets import get_preset
from tests.apptest_helpers import open_page

COMPUTE = "app_pages/compute.py"
MORE_KEYS = ("cf", "cs", "cr", "cdt", "cpue")
QUERY = {"model": "Meta-Llama-3-8B", "gpu": "A100 SXM 40GB", "cd": "1000.0", "cg": "64", "cmfu": "0.5", "cp": "3.0",
         # the expander's inputs, none at its default
         "cf": "6ND + attention (sidebar model)", "cs": "8192", "cr": "full", "cdt": "tf32", "cpue": "1.5"}


def _widget_keys(at) -> set[str]:
    return {w.key for kind in ("selectbox", "number_input", "radio", "toggle") for w in at.get(kind)}


@pytest.mark.parametrize("is_open", [False, True])
def test_more_settings_apply_closed_and_open(is_open):
    at = open_page(COMPUTE, QUERY, session={"c_xmore": is_open})
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    drawn = _widget_keys(at)
    if is_open:
        assert set(MORE_KEYS) <= drawn
        assert at.selectbox(key="cf").value == QUERY["cf"] and at.number_input(key="cs").value == 8192
        assert at.selectbox(key="cr").value == "full" and at.selectbox(key="cdt").value == "tf32"
        assert at.number_input(key="cpue").value == 1.5
    else:
        assert not drawn & set(MORE_KEYS)  # nothing of the expander is sent while it is closed
    label = next(e.label for e in at.expander if e.label.startswith("More settings"))
    assert label == ("More settings: FLOP count 6ND + attention (sidebar model), sequence length 8,192, recompute full, "
                     "compute dtype tf32, PUE 1.50")
    for k in MORE_KEYS:  # the link keeps every parameter either way
        assert at.query_params[k] in ([QUERY[k]], QUERY[k])

    gpu = get_gpu("A100 SXM 40GB")
    tf = training_flops(get_preset("Meta-Llama-3-8B"), 1e12, 8192, "full")
    tc = time_and_cost(tf.model_flops, 64, gpu.peak("tf32") * 0.5, 3.0, gpu.board_power_w, 1.5)
    # with the defaults (6ND, bf16, PUE 1) every number below differs, so a setting left out would show
    assert gpu.peak("tf32") != gpu.peak("bf16") and tf.model_flops != 6 * 8_030_261_248 * 1e12
    m = {x.label: x.value for x in at.metric}
    assert m["Training FLOPs"] == f"{tf.model_flops:.3e}"
    assert m["GPU-hours"] == f"{tc.gpu_hours:,.0f}" and m["Cost"] == f"${tc.cost_usd:,.0f}"
    assert m["Energy"] == f"{tc.energy_kwh / 1000:,.1f} MWh"
    assert any(f"With full recompute the GPUs execute {tf.hardware_flops / tf.model_flops:.2f}x" in c.value
               for c in at.caption)


def test_a_change_inside_the_open_expander_reruns_with_it():
    at = open_page(COMPUTE, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"}, session={"c_xmore": True})
    before = {x.label: x.value for x in at.metric}
    at.number_input(key="cpue").set_value(2.0).run()
    after = {x.label: x.value for x in at.metric}
    assert before["GPU-hours"] == after["GPU-hours"] and before["Energy"] != after["Energy"]
    assert "PUE 2.00" in next(e.label for e in at.expander if e.label.startswith("More settings"))
    assert at.query_params["cpue"] in (["2.0"], "2.0")
