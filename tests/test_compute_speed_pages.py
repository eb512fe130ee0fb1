"""Compute and Inference speed as a newcomer met them (issue 17 items 1, 6 and 7), in AppTest.

Item 1: a CPU benchmark's figures were applied to the sidebar's H100 (Compute: "74,892 days ... measured
0 TFLOP/s"; Inference speed: the CPU's 25.7 GB/s as an H100's bandwidth). Expected values are the datasheet
figures of REFERENCE.md (H100 SXM: 989 dense bf16 TFLOP/s, 3.35 TB/s) fed through calc.compute.
"""

from __future__ import annotations

from calc.compute import time_and_cost, training_flops_6nd
from calc.gpus import get_gpu
from calc.models import param_counts
from calc.presets import get_preset
from calc.units import format_duration
from tests.test_pages import run_page

COMPUTE, SPEED = "app_pages/compute.py", "app_pages/speed.py"
CPU = {"device": "AMD EPYC (cpu)", "gpu": None, "flops_per_s": {"bf16": 0.233e12, "fp32": 0.25e12},
       "bandwidth_bytes_per_s": 25.7e9}


def open_page(path: str, query: dict, measured: dict | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from tests.test_pages import TIMEOUT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    if measured:
        at.session_state["measured"] = measured
    at.run()
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


LLAMA = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"}
FLOPS = training_flops_6nd(param_counts(get_preset("Meta-Llama-3-8B")).active, 2000e9)  # the page's default D


def test_a_cpu_measurement_is_not_applied_to_the_sidebar_gpu():
    at = open_page(COMPUTE, LLAMA, CPU)
    expected = time_and_cost(FLOPS, 64, 989e12 * 0.40, 2.0, get_gpu("H100 SXM").board_power_w, 1.0)
    assert metric(at, "Wall-clock") == format_duration(expected.seconds)  # datasheet peak x MFU 0.40
    assert at.toggle(key="cmeasx").value is False and "not H100 SXM" in at.toggle(key="cmeasx").label
    # an explicit, labelled choice applies it, and 0.233 TFLOP/s is not rounded to 0
    at.toggle(key="cmeasx").set_value(True).run()
    slow = time_and_cost(FLOPS, 64, 0.233e12, 2.0, get_gpu("H100 SXM").board_power_w, 1.0)
    assert metric(at, "Wall-clock") == format_duration(slow.seconds)
    assert "," in metric(at, "Wall-clock")  # 75,000-odd days, thousands separated
    captions = " ".join(c.value for c in at.caption)
    assert "0.233 TFLOP/s" in captions and " 0 TFLOP/s" not in captions


def test_a_measurement_of_the_same_gpu_is_used_by_default():
    same = CPU | {"device": "NVIDIA H100 80GB HBM3 (cuda)", "gpu": "H100 SXM", "flops_per_s": {"bf16": 794e12}}
    at = open_page(COMPUTE, LLAMA, same)
    assert at.toggle(key="cmeas").value is True
    expected = time_and_cost(FLOPS, 64, 794e12, 2.0, get_gpu("H100 SXM").board_power_w, 1.0)
    assert metric(at, "Wall-clock") == format_duration(expected.seconds)
    assert not any(n.key == "cmfu" for n in at.number_input)  # a measured rate replaces peak x MFU


def test_speed_page_keeps_the_h100_bandwidth_under_a_cpu_measurement():
    at = open_page(SPEED, LLAMA | {"sprompt": "1", "soutput": "2"}, CPU)
    roofs = " ".join(i.value for i in at.info)
    assert "3,350 GB/s" in roofs and "H100 SXM datasheet bandwidth" in roofs  # 3.35 TB/s, not the CPU's 25.7
    at.toggle(key="smeasx").set_value(True).run()
    assert "25.7 GB/s" in " ".join(i.value for i in at.info)


def test_mfu_question_shows_no_mfu_input_and_no_caption_about_it():
    """Item 7: asking what MFU a run achieved still showed the MFU input and 'Time uses the model FLOPs (MFU ...)'."""
    at = open_page(COMPUTE, {"cq": "What MFU did a run achieve?"})
    assert not any(n.key == "cmfu" for n in at.number_input)
    assert not any("MFU counts model FLOPs" in c.value for c in at.caption)
    assert metric(at, "Implied MFU").endswith("%")
    at = open_page(COMPUTE, {})
    assert any(n.key == "cmfu" for n in at.number_input)


def test_speed_page_prints_no_speed_for_what_does_not_fit():
    """Item 6: Llama-3-70B in bf16 on one H100 (141 GB of weights) showed speeds and "At most 0 sequences"."""
    at = run_page(SPEED, {"model": "Meta-Llama-3-70B", "gpu": "H100 SXM"})
    assert not any(m.label == "Time to first token" for m in at.metric)
    text = " ".join(e.value for e in at.error)
    assert "Does not fit" in text and "weights alone" in text
    assert "At most 0" not in " ".join(c.value for c in at.caption)
    # a batch too large for an 8B model: it says how many fit instead
    at = run_page(SPEED, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "sbatch": "4096", "sprompt": "8192"})
    assert not any(m.label == "Time to first token" for m in at.metric)
    assert "at most" in " ".join(e.value for e in at.error)
    at = run_page(SPEED, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"})
    assert any(m.label == "Time to first token" for m in at.metric)
