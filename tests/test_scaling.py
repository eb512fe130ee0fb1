"""Scaling laws against the Chinchilla paper's tables, the closed forms, brute-force optima and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from calc.cli import main
from calc.scaling import (
    CHINCHILLA_TABLE3,
    CHINCHILLA_TABLE_A3_APPROACH2,
    CHINCHILLA_TABLE_A3_APPROACH3,
    EPOCH,
    HOFFMANN,
    TABLE_A3_APPROACH3_175B_FLOPS_AS_PRINTED,
    TableRow,
    anchor_power_law,
    get_fit,
    inference_aware_optimum,
    optimum,
    optimum_for_params,
    overtraining,
)

# The tables as printed in Hoffmann et al. 2022 (arXiv 2203.15556), typed here independently of calc/:
# Table 3 (Approach 1) and Table A3 (Approaches 2 and 3): (params, FLOPs, tokens).
PAPER = {
    "approach1": [(400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9), (67e9, 5.76e23, 1.5e12),
                  (175e9, 3.85e24, 3.7e12), (280e9, 9.90e24, 5.9e12), (520e9, 3.43e25, 11.0e12),
                  (1e12, 1.27e26, 21.2e12), (10e12, 1.30e28, 216.2e12)],
    "approach2": [(400e6, 1.84e19, 7.7e9), (1e9, 1.20e20, 20.0e9), (10e9, 1.32e22, 219.5e9), (67e9, 6.88e23, 1.7e12),
                  (175e9, 4.54e24, 4.3e12), (280e9, 1.18e25, 7.1e12), (520e9, 4.19e25, 13.4e12),
                  (1e12, 1.59e26, 26.5e12), (10e12, 1.75e28, 292.0e12)],
    # 175B: the table prints 1.26e24 FLOPs; 6 x 175e9 x 12.0e12 = 1.26e25, so the printed exponent is a typo
    "approach3": [(400e6, 2.21e19, 9.2e9), (1e9, 1.62e20, 27.1e9), (10e9, 2.46e22, 410.1e9), (67e9, 1.71e24, 4.1e12),
                  (175e9, 1.26e25, 12.0e12), (280e9, 3.52e25, 20.1e12), (520e9, 1.36e26, 43.5e12),
                  (1e12, 5.65e26, 94.1e12), (10e12, 8.55e28, 1425.5e12)],
}
ROWS = [(fit, *row) for fit, rows in PAPER.items() for row in rows]
TOL = 0.07  # the bar: the tables' own rounding (2-3 significant digits) and the 67B rows' inconsistency


def test_calc_tables_match_the_paper():
    for key, table in (("approach1", CHINCHILLA_TABLE3), ("approach2", CHINCHILLA_TABLE_A3_APPROACH2),
                       ("approach3", CHINCHILLA_TABLE_A3_APPROACH3)):
        assert [(r.params, r.flops, r.tokens) for r in table] == PAPER[key]
    assert TABLE_A3_APPROACH3_175B_FLOPS_AS_PRINTED == pytest.approx(6 * 175e9 * 12.0e12 / 10)


@pytest.mark.parametrize("fit,n,flops,d", ROWS)
def test_budget_to_model_reproduces_tables(fit, n, flops, d):
    """--compute FLOPs -> params and tokens, every row within 7% (the 67B rows included)."""
    o = optimum(fit, flops)
    assert o.params == pytest.approx(n, rel=TOL)
    assert o.tokens == pytest.approx(d, rel=TOL)


@pytest.mark.parametrize("fit,n,flops,d", [r for r in ROWS if r[1] != 67e9])
def test_model_to_budget_reproduces_tables(fit, n, flops, d):
    """--params N -> FLOPs and tokens within 7%. The 67B rows are left out: their FLOPs and tokens disagree
    with each other (Table 3: 6 x 67e9 x 1.5e12 = 6.03e23, not 5.76e23; A3 Approach 3: 6 x 67e9 x 4.1e12 =
    1.65e24, not 1.71e24), and both fit a model of about 69-70B, so no single law gives both from 67B."""
    o = optimum_for_params(fit, n)
    assert o.flops == pytest.approx(flops, rel=TOL)
    assert o.tokens == pytest.approx(d, rel=TOL)


@pytest.mark.parametrize("fit", ["approach2", "approach3"])
def test_67b_rows_fit_a_70b_model(fit):
    n, flops, d = next(r for r in PAPER[fit] if r[0] == 67e9)
    o = optimum_for_params(fit, 70e9)  # Chinchilla's own size
    assert o.flops == pytest.approx(flops, rel=0.03) and o.tokens == pytest.approx(d, rel=0.03)


@pytest.mark.parametrize("fit", list(PAPER))
def test_leave_one_out_predicts_the_missing_row(fit):
    """Anchor the power law without row i, predict row i: the tables are one power law, not 9 free points."""
    rows = [TableRow(*r) for r in PAPER[fit]]
    for i, row in enumerate(rows):
        if row.params == 67e9:
            continue
        k, a = anchor_power_law(tuple(rows[:i] + rows[i + 1:]))
        assert k * row.flops ** a == pytest.approx(row.params, rel=TOL)


@pytest.mark.parametrize("fit,a", [("approach1", 0.50), ("approach2", 0.49), ("approach3", 0.46)])
def test_exponents_match_table2(fit, a):
    # Hoffmann et al. 2022 Table 2 prints a to 2 decimals
    assert get_fit(fit).exponent == pytest.approx(a, abs=0.01)


def test_chinchilla_d4_head_to_head_at_1e21():
    # Hoffmann et al. 2022 App. D.4: at 1e21 FLOPs Approach 1 predicts 2.86B, Kaplan et al. 4.68B
    assert optimum("approach1", 1e21).params == pytest.approx(2.86e9, rel=0.01)
    assert optimum("kaplan", 1e21).params == pytest.approx(4.68e9, rel=0.01)


def test_kaplan_10x_compute():
    # Hoffmann et al. 2022 sec. 1: for 10x compute Kaplan et al. grow the model 5.5x and the data 1.8x
    lo, hi = optimum("kaplan", 1e22), optimum("kaplan", 1e23)
    assert hi.params / lo.params == pytest.approx(5.5, rel=0.03)
    assert hi.tokens / lo.tokens == pytest.approx(1.8, rel=0.04)


def closed_form(E, A, B, alpha, beta, C):
    """REFERENCE.md: N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta))."""
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    return G * (C / 6) ** a, (C / 6) ** b / G


@pytest.mark.parametrize("fit,consts,a", [("hoffmann", (1.69, 406.4, 410.7, 0.34, 0.28), 0.452),
                                          ("epoch", (1.8172, 482.01, 2085.43, 0.3478, 0.3658), 0.513)])
@pytest.mark.parametrize("C", [1e19, 5.76e23, 1e26])
def test_parametric_optima_match_closed_form(fit, consts, a, C):
    n, d = closed_form(*consts, C)
    o = optimum(fit, C)
    assert o.params == pytest.approx(n, rel=1e-12)
    assert o.tokens == pytest.approx(d, rel=1e-12)
    assert 6 * o.params * o.tokens == pytest.approx(C, rel=1e-12)
    E, A, B, alpha, beta = consts
    assert o.loss == pytest.approx(E + A / n ** alpha + B / d ** beta, rel=1e-12)
    assert get_fit(fit).exponent == pytest.approx(a, abs=5e-4)  # REFERENCE.md: 0.452 and 0.513


@pytest.mark.parametrize("law", [HOFFMANN, EPOCH], ids=["hoffmann", "epoch"])
def test_closed_form_is_the_brute_force_minimum(law):
    """Independent of the algebra: scan L(N, C/6N) over a fine grid of N at C = 1e24."""
    C = 1e24
    n = np.geomspace(1e9, 1e13, 200_001)
    best = n[np.argmin(law.loss(n, C / (6 * n)))]
    assert float(law.optimal_params(C)) == pytest.approx(best, rel=1e-3)


def test_hoffmann_closed_form_disagrees_with_table_a3():
    """What the page says: the published constants do not reproduce Table A3 (Approach 3); for the same N
    they need 1.6-2.2x the FLOPs the table prints."""
    ratios = [optimum_for_params("hoffmann", n).flops / flops for n, flops, _ in PAPER["approach3"]]
    assert all(1.5 < r < 2.3 for r in ratios), ratios


def test_rule20():
    o = optimum("rule20", 5.88e23)  # Chinchilla: 70B on 1.4T = 20 tokens per parameter
    assert o.params == pytest.approx(70e9, rel=1e-9) and o.tokens == pytest.approx(1.4e12, rel=1e-9)
    assert o.loss is None


def test_loss_is_none_for_fits_without_one():
    for key in ("approach1", "approach2", "approach3", "kaplan", "rule20"):
        assert optimum(key, 1e23).loss is None
    assert optimum("hoffmann", 1e23).loss is not None and optimum("epoch", 1e23).loss is not None


# ----- beyond the optimum ---------------------------------------------------------------------------

@pytest.mark.parametrize("fit", ["hoffmann", "epoch"])
def test_overtraining_llama3_8b(fit):
    ot = overtraining(fit, 8_030_261_248, 15e12)  # Llama 3 8B on 15T tokens (Meta model card)
    assert ot.tokens_per_param == pytest.approx(15e12 / 8_030_261_248)
    assert ot.same_compute.tokens_per_param < 100 < ot.tokens_per_param
    assert ot.loss_penalty > 0 and ot.compute_overhead > 1
    # the least compute for that loss really reaches it, and the frontier point at it is the optimum
    o = optimum(fit, ot.flops_for_same_loss)
    assert o.loss == pytest.approx(ot.loss, rel=1e-10)


@pytest.mark.parametrize("fit", ["hoffmann", "epoch"])
def test_overtraining_at_the_optimum_costs_nothing(fit):
    o = optimum(fit, 1e23)
    ot = overtraining(fit, o.params, o.tokens)
    assert ot.compute_overhead == pytest.approx(1.0, rel=1e-9)
    assert ot.loss_penalty == pytest.approx(0.0, abs=1e-12)


def test_overtraining_without_loss_model():
    ot = overtraining("approach1", 8e9, 15e12)
    assert ot.loss is None and ot.compute_overhead is None and ot.same_compute.params > 8e9


@pytest.mark.parametrize("fit", ["hoffmann", "epoch"])
def test_inference_aware_optimum(fit):
    target = optimum(fit, 1e23).loss
    none = inference_aware_optimum(fit, target, 0)
    assert none.params == pytest.approx(none.chinchilla.params, rel=1e-9) and none.saving == pytest.approx(0, abs=1e-12)
    prev = none
    law = get_fit(fit).loss_model
    for d_inf in (1e11, 1e12, 1e13):
        ia = inference_aware_optimum(fit, target, d_inf)
        assert float(law.loss(ia.params, ia.tokens)) == pytest.approx(target, rel=1e-9)  # same quality
        assert ia.params < prev.params and ia.tokens > prev.tokens  # smaller and longer (Sardana et al. 2023)
        assert ia.saving > prev.saving >= 0
        # brute force over N on the iso-loss curve
        n = np.geomspace(ia.params / 3, ia.chinchilla.params, 20_001)
        gap = target - law.E - law.A / n ** law.alpha
        ok = gap > 0
        d = (law.B / gap[ok]) ** (1 / law.beta)
        total = 6 * n[ok] * d + 2 * n[ok] * d_inf
        assert ia.total_flops <= total.min() * (1 + 1e-6)
        prev = ia


@pytest.mark.parametrize("call,field", [
    (lambda: optimum("hoffmann", 0), "compute"), (lambda: optimum("hoffmann", -1e23), "compute"),
    (lambda: optimum("hoffmann", float("nan")), "compute"), (lambda: optimum("hoffmann", float("inf")), "compute"),
    (lambda: optimum("nonsense", 1e23), "unknown fit"), (lambda: optimum_for_params("epoch", 0), "params"),
    (lambda: optimum_for_params("kaplan", 1e17), "params"),
    (lambda: overtraining("epoch", 8e9, -1), "tokens"),
    (lambda: inference_aware_optimum("epoch", 1.0, 1e12), "target loss"),
    (lambda: inference_aware_optimum("epoch", 2.0, -1), "inference tokens"),
    (lambda: inference_aware_optimum("approach1", 2.0, 1e12), "no loss model"),
])
def test_nonsense_is_a_clear_value_error(call, field):
    with pytest.raises(ValueError, match=field):
        call()


# ----- CLI (in-process: the entry point, exit codes and JSON are the same as a subprocess) ------------

def run_cli(capsys, *args):
    code = main(["scaling", *args])
    out = capsys.readouterr()
    return code, out


@pytest.mark.parametrize("fit", ["approach1", "approach2", "approach3"])
def test_cli_scaling_reproduces_gopher_budget_rows(fit, capsys):
    n, flops, d = next(r for r in PAPER[fit] if r[0] == 67e9)
    code, out = run_cli(capsys, "--compute", str(flops), "--fit", fit, "--json")
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["params"] == pytest.approx(n, rel=TOL) and data["tokens"] == pytest.approx(d, rel=TOL)
    assert data["loss"] is None


def test_cli_scaling_params_and_loss(capsys):
    code, out = run_cli(capsys, "--params", "70e9", "--fit", "hoffmann", "--json")
    data = json.loads(out.out)
    n, d = closed_form(1.69, 406.4, 410.7, 0.34, 0.28, data["flops"])
    assert n == pytest.approx(70e9, rel=1e-9) and data["tokens"] == pytest.approx(d, rel=1e-9)
    assert math.isfinite(data["loss"])
    code, out = run_cli(capsys, "--compute", "1e23", "--fit", "all", "--json")
    fits = json.loads(out.out)["fits"]
    assert [f["fit"] for f in fits] == ["approach1", "approach2", "approach3", "hoffmann", "epoch", "kaplan", "rule20"]
    assert all({"params", "tokens", "loss"} <= set(f) for f in fits)


def test_cli_scaling_budget_from_gpus(capsys):
    code, out = run_cli(capsys, "--gpus", "256", "--days", "30", "--gpu", "H100 SXM", "--mfu", "0.4", "--json")
    assert json.loads(out.out)["flops"] == pytest.approx(256 * 30 * 86_400 * 989e12 * 0.4)


@pytest.mark.parametrize("args", [["--compute", "0"], ["--compute", "-1e23"], ["--compute", "nan"],
                                  ["--params", "0"], ["--compute", "1e23", "--fit", "nope"], [],
                                  ["--gpus", "8"], ["--compute", "1e23", "--tokens", "1T"],
                                  ["--gpus", "0", "--days", "30"], ["--gpus", "8", "--days", "30", "--mfu", "2"],
                                  ["--runs", "/no/such/file.csv", "--compute", "1e23"]])
def test_cli_scaling_nonsense_exits_2_with_one_line(args, capsys):
    code, out = run_cli(capsys, *args)
    assert code == 2
    assert out.out == ""
    assert len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err


# ----- the page (AppTest through app.py) ------------------------------------------------------------

def run_scaling_page(query: dict):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/scaling.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at, {m.label: m.value for m in at.metric}


def test_scaling_page_gopher_budget():
    at, m = run_scaling_page({"sbs": "FLOPs", "sc": "5.76e23"})
    assert m["Budget"] == "5.760e+23 FLOPs"
    table = at.dataframe[0].value
    row = table[table["fit"].str.startswith("Chinchilla Approach 1")].iloc[0]
    assert float(row["params N"]) == pytest.approx(67e9, rel=TOL)  # Table 3's Gopher-budget row
    assert m["Tokens per parameter"] == "1,868"  # Llama 3 8B on 15T, the over-training default


def test_scaling_page_budget_from_gpus_and_example_fit():
    at, m = run_scaling_page({"sg": "256", "sd": "30", "smfu": "0.4", "gpu": "H100 SXM", "sex": "1"})
    assert m["Budget"] == f"{256 * 30 * 86_400 * 989e12 * 0.4:.3e} FLOPs"
    assert "Your optimum: params" in m and "Your predicted loss" in m
