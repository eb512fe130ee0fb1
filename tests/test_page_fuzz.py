"""Page fuzzing: every widget of every page gets random valid and invalid values; no uncaught exception.

For each page in ``ui.nav.PAGES`` (through ``app.py``, sidebar included) the fuzzer enumerates the
widgets generically (number_input, selectbox, multiselect, toggle, checkbox, radio, slider,
select_slider, text_input), sets one to three of them per round to a random value and reruns:

- numbers: the bounds, values inside, values outside (a hostile client can send any number over
  the websocket; Streamlit keeps the old value), huge magnitudes, and for float inputs NaN and inf;
- choices: any option; multiselect: any subset (within ``max_selections``);
- text: empty, long, Markdown/HTML, control characters.

Buttons are not clicked (the Benchmark page's button starts a measurement); uploads are covered by
``tests/test_fuzz_parsers.py``. A second test opens each page with every widget's URL parameter set
to garbage: ``ui/state.py`` must ignore each one with a warning.

``PAGE_FUZZ_ROUNDS`` and ``PAGE_FUZZ_SEED`` make a longer run (``PAGE_FUZZ_ROUNDS=200``).
"""

from __future__ import annotations

import math
import os
import random

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.nav import PAGES

ROUNDS = int(os.environ.get("PAGE_FUZZ_ROUNDS", "6"))
SEED = int(os.environ.get("PAGE_FUZZ_SEED", "0"))
TIMEOUT = 60
KINDS = ("number_input", "selectbox", "multiselect", "toggle", "checkbox", "radio", "slider", "select_slider",
         "text_input")
TEXTS = ["", " ", "x" * 500, "`x` [a](http://evil.example) **b**", "<script>alert(1)</script>", "Ünïcødé ✓ 漢字",
         "\x1b[31mred\x00", "nan", "-1", "1e999", "Meta-Llama-3-8B", "../../etc/passwd", "$$x^2$$"]


@pytest.fixture(autouse=True, scope="module")
def _show_error_details():
    """config.toml redacts exception text for users; here the failure message should carry it."""
    from streamlit import config

    old = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", "full")
    yield
    config.set_option("client.showErrorDetails", old)


def _open(path: str, query: dict | None = None, session: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if path != PAGES[0].path:
        at.switch_page(path)
        at.run()
    return at


def _widgets(at: AppTest) -> list[tuple[str, object]]:
    found = []
    for kind in KINDS:
        try:
            found += [(kind, w) for w in getattr(at, kind)]
        except (AttributeError, KeyError):
            pass
    return [(k, w) for k, w in found if getattr(w, "key", None)]


def _number(rng: random.Random, w) -> float | int:
    p = w.proto
    is_int = p.data_type == p.INT
    lo = w.min if p.has_min else -1e6
    hi = w.max if p.has_max else 1e6
    choices = [lo, hi, rng.uniform(lo, hi), lo - 1, hi + 1, -abs(hi) * 10, 10**15, 0, -1]
    if not is_int:
        choices += [math.nan, math.inf, -math.inf, 1e308, 5e-324]
    v = rng.choice(choices)
    if is_int and math.isfinite(v):
        return int(v)
    return v


def _value(rng: random.Random, kind: str, w):
    if kind == "number_input":
        return _number(rng, w)
    if kind in ("toggle", "checkbox"):
        return rng.random() < 0.5
    if kind == "text_input":
        return rng.choice(TEXTS)
    if kind == "multiselect":
        opts = list(w.options)
        cap = w.proto.max_selections or len(opts)
        return rng.sample(opts, rng.randint(0, min(cap, len(opts), 4)))
    if kind in ("slider", "select_slider"):
        return None  # handled by index/bounds below
    return None  # selectbox / radio: by index


def _set(rng: random.Random, kind: str, w) -> str:
    """Set a random value on widget ``w``; returns a description for the failure message."""
    if kind in ("selectbox", "radio"):
        if not w.options:
            return f"{kind} {w.key}: no options"
        i = rng.randrange(len(w.options))
        w.set_value(w.options[i]) if kind == "radio" else w.select_index(i)
        return f"{kind} {w.key} = {w.options[i]!r}"
    if kind == "select_slider":
        opts = list(w.options)
        v = rng.choice(opts)
        w.set_value(v)
        return f"{kind} {w.key} = {v!r}"
    if kind == "slider":
        p = w.proto
        lo, hi = p.min, p.max
        v = rng.choice([lo, hi, rng.uniform(lo, hi)])
        if p.data_type == p.INT:
            v = int(v)
        if isinstance(w.value, tuple | list):
            v = tuple(sorted((v, rng.choice([lo, hi]))))
        w.set_value(v)
        return f"{kind} {w.key} = {v!r}"
    v = _value(rng, kind, w)
    w.set_value(v)
    return f"{kind} {w.key} = {v!r:.60}"


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_random_widget_values_never_raise(info):
    rng = random.Random(f"{SEED}-{info.path}")
    at = _open(info.path)
    assert not at.exception, [e.value for e in at.exception]
    history: list[str] = []
    for _ in range(ROUNDS):
        widgets = _widgets(at)
        assert widgets or info.path == PAGES[0].path, f"{info.path}: no widgets found"
        for kind, w in rng.sample(widgets, min(len(widgets), rng.randint(1, 3))):
            history.append(_set(rng, kind, w))
        at.run()
        assert not at.exception, (info.path, history[-3:], [e.value for e in at.exception],
                                  [getattr(e, "stack_trace", "") for e in at.exception])


def _garbage_for(key: str, rng: random.Random) -> str:
    return rng.choice(["-1", "0", "nan", "inf", "1e999", "abc", "", "9" * 5000, "`x`", ",,,", "1.5", "true",
                       "x" * 300, "\x00\x1b[2J"])


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_garbage_url_parameters_are_ignored_with_a_warning(info):
    rng = random.Random(f"{SEED}-url-{info.path}")
    keys = [w.key for _, w in _widgets(_open(info.path)) if not str(w.key).startswith("$$")]
    query = {k: _garbage_for(k, rng) for k in keys}
    at = _open(info.path, query)
    assert not at.exception, (query, [e.value for e in at.exception])
    # Each parameter that the page's widgets cannot take is named in a warning (sidebar keys warn on the
    # first run, before the page switch; the page's own keys on this run).
    page_keys = [k for k in keys if k not in ("model", "gpu", "units")]
    warned = " ".join(w.value for w in at.warning)
    for k in page_keys:
        w = next((w for _, w in _widgets(at) if w.key == k), None)
        if w is None or query[k] in ("", "true", "1.5", "0", "-1"):
            continue  # conditional widget not shown, or a value that may be valid for this widget
        if isinstance(getattr(w, "value", None), str) and not hasattr(w, "options"):
            continue  # free text accepts anything
        assert f"`{k}=" in warned, (k, query[k][:40], warned[:500])


# ----- regressions: bugs these tests found in other engineers' pages (fixed) --------------------

@pytest.mark.skipif(not any(p.url_path == "scaling" for p in PAGES), reason="no Scaling page")
def test_scaling_page_accepts_its_own_largest_budget():
    at = _open("app_pages/scaling.py")
    at.radio(key="sbs").set_value("FLOPs").run()
    at.number_input(key="sc").set_value(1e32).run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.skipif(not any(p.url_path == "inference-memory" for p in PAGES), reason="no Inference memory page")
def test_inference_memory_page_accepts_its_own_longest_context():
    at = _open("app_pages/inference_memory.py")
    at.number_input(key="im_ctx").set_value(100_000_000).run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.skipif(not any(p.url_path == "training-memory" for p in PAGES), reason="no Training memory page")
def test_training_memory_page_table_survives_huge_sizes():
    """Byte counts above 2**63 (Arrow's int64) in the table; the micro-batch sweep at 4 x 1e5 took 25-65 s."""
    at = _open("app_pages/training_memory.py", {"model": "Llama-3.1-405B"}, session={"tm_xtab": True})  # table open
    at.number_input(key="tm_seq").set_value(10_000_000)
    at.number_input(key="tm_mb").set_value(100_000)
    at.selectbox(key="tm_rc").set_value("none")  # every activation kept: the largest table
    at.run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    total = at.dataframe[0].value.set_index("component").loc["Total (GPU)", "bytes"]
    assert int(str(total).replace(",", "")) > 2**63  # shown exactly, as text, past Arrow's int64


@pytest.mark.skipif(not any(p.url_path == "inference-memory" for p in PAGES), reason="no Inference memory page")
def test_inference_memory_page_table_survives_huge_sizes():
    """Llama-3.1-405B, batch 1e6 x context 1e8: a KV cache of about 5e19 bytes, past int64 in st.dataframe."""
    at = _open("app_pages/inference_memory.py", {"model": "Llama-3.1-405B"})
    at.number_input(key="im_ctx").set_value(100_000_000)
    at.number_input(key="im_b").set_value(1_000_000)
    at.run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
