"""The Serving planner page (app_pages/serving.py) as its two fragments draw it (issue 18)."""

from __future__ import annotations

from tests.apptest_helpers import open_page


def test_a_setup_that_fits_at_no_tp_says_so_without_a_traceback():
    """Llama-3-8B at a 10M-token max model length fits on no H100 at any tp the page tries: the remedy search asks
    tp 2 ... 64, and 64 splits neither its 32 heads nor its 8 KV heads (calc.serve.check_tp refuses it). The page
    shows its 'would refuse to start' error, not the ValueError's traceback it showed before."""
    at = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vlen": "10000000"})
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("would refuse to start" in e for e in errors), errors
    # the constant tables below the fragments still show
    assert len(at.dataframe) == 2


def test_a_price_change_keeps_the_setup_and_scales_the_cost():
    """A latency-section input changed after the first run (AppTest reruns the whole page; a browser reruns the
    latency fragment only): the memory metrics above stay, the cost line follows the price (USD 2 vs 4 per GPU-hour
    at the same simulated throughput: the cost doubles)."""
    at = open_page("app_pages/serving.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "vrate": "2",
                                            "vprice": "2"})
    assert not at.exception, [e.value for e in at.exception]

    def cost() -> float:
        line = next(m.value for m in at.markdown if "USD per million output tokens" in m.value)
        return float(line.split("Cost at this rate: **")[1].split(" USD")[0].replace(",", ""))

    kv = next(m.value for m in at.metric if m.label == "GPU KV cache size (tokens)")
    before = cost()
    at.number_input(key="vprice").set_value(4.0).run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(m.value for m in at.metric if m.label == "GPU KV cache size (tokens)") == kv
    assert abs(cost() / before - 2.0) < 0.01  # three significant digits each
