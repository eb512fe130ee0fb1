"""The simulator's latencies against MLPerf Inference v4.1 Server logs (issue 16): each ``mlperf_log_summary.txt``
logs, at the rate loadgen scheduled, the first-token and time-per-output-token percentiles and the mean latency
(calc/serve_logs.LATENCY_LOGS, NVIDIA's llama2-70b TensorRT-LLM FP8 submissions on 8x H100 SXM and 8x H200).
Nothing here is fitted to them: the step model keeps calc/serve_sim.py's typical efficiencies."""

import pytest

from calc.serve_logs import LATENCY_LOGS, MLPERF_CASES, MLPERF_V41, latency_at_logged_rate, step_at_logged_batch


def test_latency_logs_are_the_server_throughput_cases():
    """Each latency log is the same file as a Server throughput case, and its figures are mutually consistent: the
    scheduled rate at most 1 % above the completed samples/s, TTFT below the mean latency, p99 above the mean."""
    assert len(LATENCY_LOGS) == 2
    for log in LATENCY_LOGS:
        assert log.case in MLPERF_CASES and log.case.scenario == "server" and log.case.url.startswith(MLPERF_V41)
        completed = log.case.output_tokens_per_s / log.case.output_tokens
        assert completed <= log.scheduled_per_s <= 1.02 * completed
        assert log.mean_ttft_s < log.ttft_p99_s < log.case.slo_ttft_s
        assert log.tpot_mean_s < log.tpot_p99_s < log.case.slo_tpot_s
        assert log.mean_ttft_s < log.mean_latency_s


@pytest.mark.parametrize("log", LATENCY_LOGS, ids=lambda g: g.case.gpu)
def test_step_at_the_engines_batch_within_30_percent_of_its_tpot(log):
    """The step model at the batch the engine ran (Little's law on the log: hundreds of decodes plus the prompts that
    arrive during a step) against the logged mean TPOT, the engine's mean step gap. Ours: H100 tp 2 at ~840 decodes
    128 ms vs 155 (-18 %), H200 at ~450 decodes 114 ms vs 123 (-8 %): the same over-prediction as the Offline
    throughputs (+8 %, +2 %), here measured on the step itself (with FP8 GEMMs at 0.6 of the peak instead of their
    mamf-finder share: 116 ms, -25 %, and 105 ms, -15 %)."""
    logged, ours = step_at_logged_batch(log)
    assert ours == pytest.approx(logged, rel=0.30)


def _at_rate_params():
    return [pytest.param(g, marks=pytest.mark.xfail(strict=True, reason=g.miss)) if g.miss else g for g in LATENCY_LOGS]


@pytest.mark.parametrize("log", _at_rate_params(), ids=lambda g: g.case.gpu)
def test_p99_latency_at_the_logged_rate_within_30_percent(log):
    """The whole simulator at the logged Poisson rate (10,000 requests of the mean lengths): p99 TTFT and TPOT within
    30 % of the logged p99s. Both miss (a strict xfail with the reason): ours p99 TPOT 29 / 50 ms against 175 / 146,
    p99 TTFT 0.12 / 0.20 s against 0.46 / 0.45 (H100 / H200), because ours runs the rate at ~130 / ~120 sequences
    where the engine ran ~840 / ~450 (the running batch, Little's law both sides)."""
    got = latency_at_logged_rate(log)
    for name in ("ttft p99 s", "tpot p99 s"):
        logged, ours = got[name]
        assert ours == pytest.approx(logged, rel=0.30), name
