"""Property-based tests for compute (``calc.compute``), scaling laws (``calc.scaling``), loss fits and
their CSV upload (``calc.fit``) and the inference roofline (``calc.speed``).

Only ``ValueError`` for bad input; results finite and positive; invariants: C = 6ND is linear in N, symmetric
in N and D and Kaplan's count without context; more
compute never gives a smaller compute-optimal model or fewer tokens; a parametric loss never rises
with more parameters or more tokens; a run on more GPUs never takes longer; a larger batch never
lowers total decode throughput, and a longer output never shortens the time to generate it.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from calc.compute import (
    MAX_FLOPS,
    MAX_PARAMS,
    MAX_TOKENS,
    compute_budget_flops,
    gpus_needed,
    implied_mfu,
    kaplan_training_flops,
    time_and_cost,
    training_flops_6nd,
)
from calc.fit import parse_runs_csv, runs_from_arrays
from calc.models import ModelSpec
from calc.presets import get_preset
from calc.scaling import fits, loss_predictions, optimum, optimum_for_params
from calc.speed import Hardware, ServingSetup, estimate
from tests.test_properties import FAST, hf_configs

ANY = st.one_of(st.floats(), st.integers(-10**30, 10**30), st.text(max_size=4), st.none(), st.booleans(),
                st.lists(st.integers(), max_size=2))
POS_FLOATS = st.floats(min_value=1e-3, max_value=1e30, allow_nan=False)
FIT_KEYS = list(fits())


def _finite_positive(*xs) -> None:
    for x in xs:
        assert isinstance(x, int | float) and math.isfinite(x) and x > 0, x


# ----- compute ----------------------------------------------------------------------------------

@FAST
@given(st.floats(min_value=1, max_value=MAX_PARAMS / 2), st.floats(min_value=1, max_value=MAX_TOKENS))
def test_six_n_d_is_linear_symmetric_and_kaplans_short_context_limit(n, d):
    c = training_flops_6nd(n, d)
    assert math.isfinite(c) and c > 0
    assert training_flops_6nd(2 * n, d) == 2 * c  # linear in N (doubling is exact in binary floating point)
    if n <= MAX_TOKENS and d <= MAX_PARAMS:
        assert training_flops_6nd(d, n) == pytest.approx(c, rel=1e-15)  # tokens and parameters play one role
    # Kaplan et al. 2020 Table 1 with a 1-token context and 1-wide attention: 3 x (2N + 2) per token
    assert training_flops_6nd(n, d) == pytest.approx(kaplan_training_flops(n, d, 1, 1, 1), rel=1.01 / n + 1e-15)


@FAST
@given(ANY, ANY)
def test_six_n_d_bad_input_is_a_value_error(n, d):
    try:
        c = training_flops_6nd(n, d)
    except ValueError as exc:
        assert str(exc).strip()
        return
    _finite_positive(c)


@FAST
@given(st.floats(min_value=1e15, max_value=1e30), st.integers(1, 100_000), st.floats(min_value=1e12, max_value=1e16),
       st.floats(min_value=0, max_value=100))
def test_more_gpus_never_take_longer(flops, gpus, rate, price):
    a = time_and_cost(flops, gpus, rate, price)
    assume(a.days <= 36_000)  # the round trip below goes through days, capped at 100 years
    b = time_and_cost(flops, gpus * 2, rate, price)
    _finite_positive(a.seconds, a.days, a.gpu_hours)
    assert b.seconds <= a.seconds
    assert a.cost_usd >= 0 and math.isfinite(a.cost_usd)
    # The three ways round agree: the budget of (gpus, days) needs that many GPUs at 100% of the rate.
    budget = compute_budget_flops(gpus, a.days, rate)
    assert budget == pytest.approx(flops, rel=1e-9)
    assert gpus_needed(flops, a.days, rate) == pytest.approx(gpus, abs=1)
    assert implied_mfu(flops, gpus, a.days, rate) == pytest.approx(1.0, rel=1e-9)


@FAST
@given(ANY, ANY, ANY, ANY)
def test_time_and_cost_bad_input_is_a_value_error(flops, gpus, rate, price):
    for fn, args in ((time_and_cost, (flops, gpus, rate, price)), (gpus_needed, (flops, rate, rate)),
                     (implied_mfu, (flops, gpus, rate, rate)), (compute_budget_flops, (gpus, rate, rate))):
        try:
            out = fn(*args)
        except ValueError as exc:
            assert str(exc).strip()
            continue
        if hasattr(out, "seconds"):
            out = out.seconds
        assert math.isfinite(out) and out >= 0, (fn.__name__, args, out)


@pytest.mark.parametrize("fn,args", [("gpus_needed", (1.0, 2e-171, 2e-171)),
                                     ("implied_mfu", (1.0, 1, 2e-171, 2e-171))])
def test_tiny_rates_do_not_divide_by_zero(fn, args):
    import calc.compute

    try:
        out = getattr(calc.compute, fn)(*args)
    except ValueError:
        return
    assert math.isfinite(out)


def test_tiny_values_do_not_underflow():
    from calc.compute import compute_budget_flops

    for fn, args in ((training_flops_6nd, (4.8e-280, 4.8e-280)), (compute_budget_flops, (1, 2e-171, 2e-171))):
        try:
            assert fn(*args) > 0, fn.__name__
        except ValueError:
            pass


def test_time_and_cost_never_infinite():
    try:
        tc = time_and_cost(1e36, 1, 1e-300)
    except ValueError:
        return
    assert math.isfinite(tc.seconds)


# ----- scaling laws -----------------------------------------------------------------------------

@FAST
@given(st.sampled_from(FIT_KEYS), st.floats(min_value=1e15, max_value=1e30), st.floats(min_value=1.001, max_value=100))
def test_more_compute_never_a_smaller_optimal_model(key, c, factor):
    a, b = optimum(key, c), optimum(key, min(c * factor, MAX_FLOPS))
    _finite_positive(a.params, a.tokens, b.params, b.tokens)
    assert b.params >= a.params * (1 - 1e-12) and b.tokens >= a.tokens * (1 - 1e-12)
    assert 6 * a.params * a.tokens == pytest.approx(c, rel=1e-6)  # C = 6 N D
    if a.loss is not None:
        assert math.isfinite(a.loss) and b.loss <= a.loss + 1e-12


@FAST
@given(st.sampled_from(FIT_KEYS), st.floats(min_value=1e6, max_value=1e13))
def test_optimum_for_params_inverts_optimum(key, n):
    o = optimum_for_params(key, n)
    _finite_positive(o.flops, o.tokens)
    assert optimum(key, o.flops).params == pytest.approx(n, rel=1e-6)


@FAST
@given(st.floats(min_value=1e6, max_value=1e15), st.floats(min_value=1e6, max_value=1e17),
       st.floats(min_value=1.01, max_value=10))
def test_loss_never_rises_with_more_parameters_or_tokens(n, d, factor):
    base = loss_predictions(n, d)
    more_n = loss_predictions(min(n * factor, MAX_PARAMS), d)
    more_d = loss_predictions(n, min(d * factor, MAX_TOKENS))
    for k, v in base.items():
        assert math.isfinite(v) and v > 0
        assert more_n[k] <= v and more_d[k] <= v


@FAST
@given(st.one_of(st.sampled_from(FIT_KEYS), st.text(max_size=8)), ANY)
def test_scaling_bad_input_is_a_value_error(key, c):
    try:
        o = optimum(key, c)
    except ValueError as exc:
        assert str(exc).strip()
        return
    _finite_positive(o.params, o.tokens)


# ----- loss fits: the CSV upload ----------------------------------------------------------------

CSV_CELLS = st.one_of(st.floats(min_value=1e-3, max_value=1e20).map(repr), st.sampled_from(
    ["nan", "inf", "-1", "0", "", "1e999", "1_000", " 3.1 ", "x", '"2"', "1e8;2e9", "\u00a01"]))


@st.composite
def csv_payloads(draw):
    header = draw(st.permutations(["params", "tokens", "loss"] + draw(st.lists(st.sampled_from(
        ["Params", "N", "D", "extra", "loss", ""]), max_size=2))))
    rows = [",".join(draw(st.lists(CSV_CELLS, min_size=len(header) - 1, max_size=len(header) + 1)))
            for _ in range(draw(st.integers(0, 6)))]
    text = ",".join(header) + "\n" + "\n".join(rows)
    raw = text.encode()
    if draw(st.integers(0, 5)) == 0:
        raw = draw(st.binary(max_size=200))
    return raw


@FAST
@given(csv_payloads())
def test_runs_csv_is_runs_or_a_value_error(data):
    try:
        runs = parse_runs_csv(data)
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert len(runs) >= 1
    for arr in (runs.params, runs.tokens, runs.loss):
        assert all(math.isfinite(x) and x > 0 for x in arr)


@FAST
@given(st.lists(POS_FLOATS, min_size=1, max_size=5), st.lists(POS_FLOATS, min_size=1, max_size=5),
       st.lists(st.one_of(POS_FLOATS, st.floats(), st.integers(-3, 3)), min_size=1, max_size=5))
def test_runs_from_arrays_validates(params, tokens, loss):
    try:
        runs = runs_from_arrays(params, tokens, loss)
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert len(runs) == len(params) == len(tokens) == len(loss)


def test_runs_from_arrays_refuses_a_dict_with_value_error():
    with pytest.raises(ValueError):
        runs_from_arrays({"a": 1}, [1.0], [1.0])


# ----- inference roofline -----------------------------------------------------------------------

SPECS = st.one_of(st.sampled_from([get_preset(n) for n in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "DeepSeek-V3",
                                                          "Gemma-2-2B", "GPT-2", "Qwen3-30B-A3B")]),
                  hf_configs().map(ModelSpec.from_hf_config))


@FAST
@given(SPECS, st.integers(1, 256), st.integers(1, 32768), st.integers(2, 4096),
       st.floats(min_value=1e12, max_value=1e16), st.floats(min_value=1e10, max_value=1e13))
def test_roofline_is_finite_and_monotone(spec, batch, prompt, output, flops, bw):
    hw = Hardware(flops, bw)
    setup = ServingSetup(batch=batch, prompt_tokens=prompt, output_tokens=output)
    e = estimate(spec, setup, hw)
    _finite_positive(e.prefill_s, e.decode_s, e.ttft_s, e.tokens_per_s_per_seq)
    assert e.weights_stored_bytes > 0 and e.kv_stored_bytes > 0
    longer = estimate(spec, dataclasses.replace(setup, output_tokens=output + 16), hw)
    assert longer.decode_s >= e.decode_s
    bigger = estimate(spec, dataclasses.replace(setup, batch=batch * 2), hw)
    assert bigger.tokens_per_s_per_seq * bigger.batch >= e.tokens_per_s_per_seq * e.batch * (1 - 1e-9)


@FAST
@given(st.sampled_from(["batch", "prompt_tokens", "output_tokens", "weight_dtype", "kv_dtype"]), ANY)
def test_serving_setup_bad_fields_are_value_errors(field, value):
    try:
        setup = ServingSetup(**{field: value})
    except ValueError as exc:
        assert str(exc).strip()
        return
    assume(True)
    e = estimate(get_preset("GPT-2"), setup, Hardware(1e14, 1e12))
    _finite_positive(e.decode_s, e.prefill_s)


@FAST
@given(ANY, ANY)
def test_hardware_bad_fields_are_value_errors(flops, bw):
    try:
        hw = Hardware(flops, bw)
    except ValueError as exc:
        assert str(exc).strip()
        return
    _finite_positive(hw.flops_per_s, hw.bandwidth_bytes_per_s)
