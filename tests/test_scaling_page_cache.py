"""The Scaling page's per-input caches (issue 18) follow every input they depend on.

A question's answer, chart and table are kept per input (``ui.memo.cached``, ``ui.charts.cached``); a key that leaves
out an input would show the previous value's answer after that input changed. The reference is the page with every
cache off (computed fresh), opened by a link carrying the new value; the page under test first shows the old value
(filling the caches), then has the input changed in the same session, as a visitor does.
"""

from __future__ import annotations

import pytest

from tests.apptest_helpers import open_page

PAGE = "app_pages/scaling.py"
BASE = {"sbs": "FLOPs", "sc": "1e+23"}

CASES = [  # (question, widget key, value before, value after)
    ("Budget → model", "sc", 1e23, 3e24),
    ("Budget → model", "sfit", "epoch", "gadre"),
    ("Unique data → epochs and model", "su", 1000.0, 20.0),
    ("Unique data → epochs and model", "sc", 1e23, 2e22),
    ("Mixture of experts", "sgr", "optimal", "4"),
    ("Mixture of experts", "sc", 1e23, 4e21),
    ("Over-training a model", "son", 8.03, 70.0),
    ("Over-training a model", "slm2", "epoch", "gadre"),
]


def _output(at) -> dict:
    assert not at.exception, [e.value for e in at.exception]
    return {"charts": [c.proto.spec for c in at.get("plotly_chart")],
            "metrics": [(m.label, m.value, m.help) for m in at.metric],
            "tables": [d.value.to_csv() for d in at.dataframe],
            "text": [m.value for m in at.markdown], "captions": [c.value for c in at.caption]}


def _query(question: str, key: str, value) -> dict:
    return {**BASE, "sq": question, key: value if isinstance(value, str) else repr(float(value))}


@pytest.mark.parametrize("question,key,before,after", CASES, ids=[f"{q[:12]}-{k}" for q, k, _, _ in CASES])
def test_a_changed_input_shows_what_a_fresh_page_does(question, key, before, after, monkeypatch):
    from ui import charts, memo

    with monkeypatch.context() as m:  # every cache off: the answer computed from the inputs alone
        m.setattr(memo, "cached", lambda key_, compute: compute())
        m.setattr(charts, "cached", lambda key_, build: build())
        fresh = _output(open_page(PAGE, _query(question, key, after), timeout_s=120))
    at = open_page(PAGE, _query(question, key, before), timeout_s=120)  # fills the caches at the old value
    old = _output(at)
    widget = next(w for kind in ("number_input", "selectbox") for w in at.get(kind) if w.key == key)
    widget.set_value(after if isinstance(after, str) else float(after)).run()
    changed = _output(at)
    assert changed != old, "the input changed nothing on the page"
    assert changed == fresh


def test_the_formulas_are_drawn_when_their_expander_opens():
    """The Formulas expander is lazy (issue 18): closed, its Markdown is not sent; opened, it is."""
    def formulas(at):
        return [m.value for m in at.markdown if "Hoffmann et al. 2022 eq. 4" in m.value]

    closed = open_page(PAGE, BASE, timeout_s=120)
    assert any(e.label == "Formulas" for e in closed.expander) and not formulas(closed)
    opened = open_page(PAGE, BASE, session={"sx_formulas": True}, timeout_s=120)
    (text,) = formulas(opened)
    assert "Muennighoff et al. 2023 eq. 5-6" in text and "Kumar et al. 2024 eq. 3-5" in text


BUDGETS = (1e15, 3.3e21, 1e23, 7e26, 1e31)  # 1e31: optima past the loss models' range (their cells left empty)


def _old_tables_script():
    """The table as the page built it before issue 18's records path: a DataFrame of every fit's optimum, its N, D
    and band mapped to text, converted by st.dataframe itself."""
    import pandas as pd
    import streamlit as st

    from calc.scaling import FIT_KEYS, get_fit, loss_predictions, optimum
    from calc.scaling_bands import optimum_band, samples_for

    for budget in (1e15, 3.3e21, 1e23, 7e26, 1e31):
        rows = []
        for k in FIT_KEYS:
            f = get_fit(k)
            o = optimum(f, budget)
            try:
                side = loss_predictions(o.params, o.tokens)
            except ValueError:
                side = {"hoffmann": None, "epoch": None}
            s = samples_for(k)
            b = None if s is None else optimum_band(s, budget)
            rows.append({"fit": f.label, "params N": o.params, "tokens D": o.tokens,
                         "tokens / param": o.tokens_per_param, "loss (own fit)": o.loss,
                         "loss under Chinchilla fit": side["hoffmann"], "loss under Epoch fit": side["epoch"],
                         "params 10%": None if b is None else b.params_low,
                         "params 90%": None if b is None else b.params_high, "source": f.source})
        df = pd.DataFrame(rows)
        sci = ("params N", "tokens D", "params 10%", "params 90%")
        st.dataframe(df.assign(**{c: df[c].map(lambda v: "" if v is None or v != v else f"{v:.3e}") for c in sci}),
                     hide_index=True)


def test_compute_optimal_table_sends_the_bytes_of_the_old_dataframe():
    """Budget → model's table is built from records (tables.records_arrow, issue 18): Streamlit sends the same Arrow
    table (schema with its pandas metadata, every cell; the bytes under a null cell are not compared: pandas leaves a
    NaN there, pyarrow a zero) as for the DataFrame the page built before, at budgets from 1e15 to 1e31 FLOPs."""
    import pyarrow as pa
    from streamlit.testing.v1 import AppTest

    def table(element) -> pa.Table:
        return pa.ipc.open_stream(element.proto.arrow_data.data).read_all()

    ref = AppTest.from_function(_old_tables_script, default_timeout=60).run()
    assert not ref.exception, [e.value for e in ref.exception]
    assert len(ref.dataframe) == len(BUDGETS)
    for budget, expected in zip(BUDGETS, ref.dataframe, strict=True):
        at = open_page(PAGE, {**BASE, "sc": repr(budget)})
        assert not at.exception, [e.value for e in at.exception]
        got, want = table(at.dataframe[0]), table(expected)
        assert got.schema.equals(want.schema, check_metadata=True), budget
        assert got.equals(want), budget
        assert got.num_rows == 10 and got.column("params 10%").null_count == 0  # every fit, a band in the text


def test_stored_example_fit_is_what_fitting_the_example_gives():
    """examples/synthetic_runs_epoch_fit.npz (bench/example_fit.py, issue 18) holds the example CSV's digest, runs,
    point fit and first 1,000 refits: recomputed here. Equal to 1e-9 relative, not to the bit: L-BFGS and the batched
    refits go through BLAS, whose last bits may differ on another CPU (here they are equal)."""
    import numpy as np

    from bench.example_fit import EXAMPLE, MAX_REFITS, STORED, compute

    fresh = compute(EXAMPLE.read_bytes())
    with np.load(STORED, allow_pickle=False) as z:
        assert set(z.files) == set(fresh)
        assert str(z["sha256"]) == str(fresh["sha256"])
        for k in ("params", "tokens", "loss"):
            assert np.array_equal(z[k], fresh[k]), k
        assert z["refits"].shape == (MAX_REFITS, 5)
        for k in ("theta", "objective", "refits"):
            assert np.allclose(z[k], fresh[k], rtol=1e-9, atol=0), k


@pytest.mark.parametrize("n_boot", [0, 37, 1000])
def test_example_runs_answer_is_fit_loss_of_the_example(n_boot, monkeypatch):
    """The page fitting the example from the stored fit (no L-BFGS start, no refit: both refused here) shows what
    calc.fit.fit_loss of the example CSV gives."""
    import calc.fit
    from bench.example_fit import EXAMPLE
    from calc.fit import fit_loss, parse_runs_csv
    from calc.scaling import fit_from_loss
    from calc.scaling import optimum as law_optimum
    from ui import format as fmt
    from ui import memo

    memo._derived.clear()  # nothing kept from an earlier test: the page starts from the stored file
    with monkeypatch.context() as m:
        m.setattr(calc.fit, "_minimise", lambda *a: pytest.fail("the example was fitted again"))
        m.setattr(calc.fit, "_batched_refit", lambda *a, **k: pytest.fail("the example was refitted again"))
        at = open_page(PAGE, {**BASE, "sq": "Fit my own runs", "sex": "1", "sbn": str(n_boot)})
    assert not at.exception, [e.value for e in at.exception]
    lf = fit_loss(parse_runs_csv(EXAMPLE.read_bytes()), n_bootstrap=n_boot)
    o = law_optimum(fit_from_loss(lf.loss, "yours", "yours", "x"), 1e23)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters N"] == fmt.count(o.params) and metrics["Your predicted loss"] == f"{o.loss:.4f}"
    constants = at.dataframe[0].value
    assert constants["fitted"].tolist() == [getattr(lf.loss, k) for k in ("E", "A", "B", "alpha", "beta", "a")]
    if n_boot:
        assert constants["10th pct"].tolist() == [lf.intervals[k][0] for k in ("E", "A", "B", "alpha", "beta", "a")]
