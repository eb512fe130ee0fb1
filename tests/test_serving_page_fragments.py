"""The Serving page's two nested fragments over Streamlit's websocket protocol (issue 18): what a latency input's
rerun sends (its inputs and answer, not the section's heading, which the setup draws) and what a setup input's rerun
sends (the setup, the heading once, and the latency section with the new setup's numbers)."""

from __future__ import annotations

import pytest

from tests.test_page_fragments import Recorder
from tests.ws_client import run_async

LATENCY_INPUTS = {"Requests per second (all replicas)", "Prompt tokens", "Output tokens",
                  "SLO: p99 time to first token (s, 0: none)", "SLO: p99 time per output token (s, 0: none)",
                  "USD per GPU-hour"}
SETUP_INPUTS = {"Serving engine", "Replicas", "Weights", "Tensor parallel (GPUs per replica)",
                "Max model length (tokens)", "KV cache"}
HEADING = "Latency under load"


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def _labels(elements) -> list[str]:
    return [e.label for e in elements if getattr(e, "label", "")]


def _headings(elements) -> list[str]:
    return [e.body for e in elements if type(e).__name__ == "Heading"]


def test_latency_rerun_sends_its_inputs_and_answer_but_not_the_heading(server):
    async def go():
        s = Recorder(server, timeout_s=120)
        try:
            first = await s.visit("serving", "model=Meta-Llama-3-8B&gpu=H100+SXM")
            latency = await s.run_with("vprompt", 2048)
            setup = await s.run_with("vrep", 2)
        finally:
            await s.close()
        return first, latency, setup

    first, latency, setup = run_async(go())
    assert _headings(first).count(HEADING) == 1
    labels = _labels(latency)
    # the latency fragment alone: each of its inputs once, its metrics, nothing of the setup, no heading
    assert sorted(x for x in labels if x in LATENCY_INPUTS) == sorted(LATENCY_INPUTS), labels
    assert "Output tokens/s" in labels and not SETUP_INPUTS & set(labels), labels
    assert HEADING not in _headings(latency)
    # a setup input reruns the setup (heading once) and the latency section below it (GPUs = 2 replicas x tp 1)
    labels = _labels(setup)
    assert SETUP_INPUTS | LATENCY_INPUTS <= set(labels) and len(labels) == len(set(labels)), labels
    assert _headings(setup).count(HEADING) == 1
    assert next(e.body for e in setup if getattr(e, "label", "") == "GPUs") == "2"
