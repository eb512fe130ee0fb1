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
