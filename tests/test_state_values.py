"""``ui.state``'s inputs return the widget's own answer (issue 18: reading it back from ``st.session_state`` cost one
more session-state access per input): held, on every page and after input changes, to what the session state holds
for the key once the widget is drawn (what the wrappers returned before), value and type; and no page changes a
preset's config (``calc.presets.get_preset`` hands every caller the same spec)."""

from __future__ import annotations

import copy
import random

import pytest
import streamlit as st
from streamlit.testing.v1.element_tree import NumberInput, Selectbox

from calc.presets import PRESETS, get_preset
from tests.apptest_helpers import open_page
from ui import state
from ui.nav import PAGES


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_inputs_return_what_session_state_holds(info, monkeypatch):
    seen: list[tuple[str, object, object]] = []
    original = state._sync

    def checked(inputs, key, value, drawn, *args):
        out = original(inputs, key, value, drawn, *args)
        held = st.session_state[key]
        seen.append((key, out, held))
        return out

    monkeypatch.setattr(state, "_sync", checked)
    configs = {n: copy.deepcopy(get_preset(n).hf_config) for n in PRESETS}  # shared by every caller: read only
    at = open_page(info.path)
    assert not at.exception, [e.value for e in at.exception]
    rng = random.Random(info.url_path)
    for _ in range(3):  # a few input changes, as a visitor makes them
        widgets = [w for w in (*at.number_input, *at.selectbox, *at.toggle) if w.key and not w.disabled]
        if not widgets:
            break
        w = rng.choice(widgets)
        if isinstance(w, NumberInput):
            hi = w.max if w.max is not None else 1e9
            w.set_value(min(hi, max(w.min or 0, (w.value or 0) * 2 or 1)))
        elif isinstance(w, Selectbox):
            w.select_index(rng.randrange(len(w.options))) if w.options else None
        else:
            w.set_value(not w.value)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert seen
    wrong = [(k, out, held) for k, out, held in seen if out != held or type(out) is not type(held)]
    assert not wrong, wrong[:5]
    assert all(get_preset(n).hf_config == cfg for n, cfg in configs.items())


def test_labels_and_shadow_copies_live_in_one_session_entry():
    """A scenario reads the labels of its link's parameters (``labels_for``); a page left and opened again gets its
    inputs back from the shadow copy."""
    at = open_page("app_pages/inference_memory.py")
    assert not at.exception
    inputs = at.session_state[state._INPUTS]
    assert inputs["labels"]["model"] == "Model" and inputs["keep"]["model"] == "Meta-Llama-3-8B"
