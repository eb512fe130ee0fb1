"""ui/st_speed.py: the one-key view of Streamlit's ``filtered_state`` answers as Streamlit's own dict does.

The reference is always Streamlit's own property, ``SessionState.filtered_state`` (ui/st_speed patches only
``SafeSessionState.filtered_state``, the wrapper widgets call), read from an identical copy of the session state.
"""

from __future__ import annotations

import random
import textwrap

import pytest
import streamlit
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.state import session_state_proxy
from streamlit.runtime.state.common import WidgetMetadata
from streamlit.runtime.state.safe_session_state import SafeSessionState
from streamlit.runtime.state.session_state import Serialized, SessionState, Value
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import open_page
from ui import st_speed

ORIGINAL = SessionState.filtered_state  # Streamlit's own property: never patched
INTERNAL = "$$STREAMLIT_INTERNAL_KEY_x"


def wid(n: int, key: str | None) -> str:
    """An element id shaped as Streamlit's (``$$ID-<hash>-<user key or None>``, runtime/state/common.py)."""
    return f"$$ID-{n:032x}-{key}"


def meta(widget_id: str, presenter=None) -> WidgetMetadata:
    return WidgetMetadata(widget_id, deserializer=lambda v: v, serializer=lambda v: v, value_type="int_value",
                          presenter=presenter)


def serialized(widget_id: str, value: int) -> Serialized:
    return Serialized(WidgetState(id=widget_id, int_value=value))


def build(seed: int) -> SessionState:
    """A random session state with what a real one holds, plus the shapes the one-key answer hands to the dict."""
    rng = random.Random(seed)
    s = SessionState()
    keys = ["a", "b", "c", "d", "None", INTERNAL]
    for k in rng.sample(keys, rng.randint(0, len(keys))):  # plain keys, some None, some internal
        (s._old_state if rng.random() < 0.5 else s._new_session_state)[k] = rng.choice([None, 0, 1, "x", [1]])
    for n, key in enumerate(["a", "e", "f", "g", "None", None, None]):
        if rng.random() < 0.3:
            continue
        w = wid(n, key)
        if key is not None:
            s._key_id_mapper[key] = w  # keyed widget (the user key "None" makes a keyless-looking id)
        where = rng.random()
        if where < 0.35:
            s._new_widget_state.states[w] = Value(rng.choice([None, 3, "v"]))
        elif where < 0.55:
            s._new_widget_state.states[w] = serialized(w, rng.randint(0, 9))
        elif where < 0.8:
            s._old_state[w] = rng.choice([None, 4])
        if rng.random() < 0.7:  # else: metadata cleared (a server restart), a serialized value then raises KeyError
            present = (lambda v, _s: ("shown", v)) if rng.random() < 0.3 else None
            s._new_widget_state.widget_metadata[w] = meta(w, present)
        if key is not None and rng.random() < 0.2:
            s._old_state[key] = 5  # a value set by key before the widget existed
    shape = rng.choice(["plain", "remapped", "remapped, deleted", "shared id", "remapped, shared new id",
                        "remapped, shared new id, deleted", "internal user key", "id as user key", "forged",
                        "plain id remapped", "plain id shared, deleted"])
    if "remapped" in shape:  # a key mapped to a new id, the old id still holding a value
        s._key_id_mapper["e"] = wid(20, "e")
        s._new_widget_state.states[wid(20, "e")] = Value(7)
        s._new_widget_state.widget_metadata[wid(20, "e")] = meta(wid(20, "e"))
    if shape == "remapped, deleted" and "e" in s._key_id_mapper:  # ... then deleted: the old id's reverse mapping stays
        s._key_id_mapper.delete("e")
    if "shared" in shape and "plain" not in shape:  # two user keys mapped to one id, the other key holding a value
        s._key_id_mapper["h"] = wid(20, "e") if "new" in shape else wid(1, "e")
        s._old_state["e"] = 6
        if "deleted" in shape:  # ... and one of them deleted: its id keeps no reverse mapping
            s._key_id_mapper.delete("h")
    # Ids that are not element ids (no Streamlit widget has one): a key read through one can raise KeyError, and then
    # Streamlit's whole dict does.
    if shape == "plain id remapped":  # id_key_mapping keeps "p" -> "q" after "q" moved on
        s._key_id_mapper["q"] = "p"
        s._key_id_mapper["q"] = wid(30, "q")
        s._new_session_state["p"] = 1
    if shape == "plain id shared, deleted":  # key_id_mapping keeps "q" -> "p", id_key_mapping lost "p"
        s._key_id_mapper["q"] = "p"
        s._key_id_mapper["r"] = "p"
        s._key_id_mapper.delete("r")
        s._old_state["q"] = 1
    if shape == "internal user key":  # Streamlit's own keyed widgets: filed under their internal key
        s._key_id_mapper[INTERNAL] = wid(21, INTERNAL)
        s._new_widget_state.states[wid(21, INTERNAL)] = Value(8)
    if shape == "id as user key":  # a user key spelled as another widget's id
        s._key_id_mapper[wid(0, "a")] = wid(22, "z")
        s._old_state[wid(0, "a")] = 9
    if shape == "forged":  # an id a hand-made client sent: not an element id, no metadata
        s._new_widget_state.states["forged"] = serialized("forged", 1)
    return s


PROBES = ["a", "b", "c", "d", "e", "f", "g", "h", "None", "zz", INTERNAL, "forged", "",
          *(wid(n, k) for n, k in enumerate(["a", "e", "f", "g", "None", None, None])), wid(20, "e"),
          wid(21, INTERNAL), wid(22, "z"), "p", "q", "r"]


def answer(fn):
    try:
        return ("value", fn())
    except KeyError:
        return ("KeyError",)


@pytest.mark.parametrize("seed", range(400))
def test_view_equals_streamlits_dict(seed):
    ref_state, view_state = build(seed), build(seed)
    try:
        ref = ORIGINAL.fget(ref_state)
    except KeyError:  # Streamlit's dict itself raises (a forged id): so must every use of the view
        view = st_speed.FilteredView(SafeSessionState(view_state, lambda: None))
        for k in PROBES:
            with pytest.raises(KeyError):
                k in view  # noqa: B015
        return
    view = st_speed.FilteredView(SafeSessionState(view_state, lambda: None))
    for k in PROBES:  # one key at a time, as widgets ask, before anything builds the whole dict
        assert (k in view) == (k in ref), k
        assert answer(lambda k=k: view[k]) == answer(lambda k=k: ref[k]), k
        assert view.get(k, "default") == ref.get(k, "default"), k
    assert len(view) == len(ref) and list(view) == list(ref) and dict(view.items()) == ref
    assert view == ref and repr(view) == repr(ref) and view.to_dict() == ref
    fresh = st_speed.FilteredView(SafeSessionState(build(seed), lambda: None))  # whole dict first, then keys
    assert list(fresh) == list(ref) and all(answer(lambda k=k: fresh[k]) == answer(lambda k=k: ref[k]) for k in PROBES)


def test_configurations_cover_every_branch():
    """The random states above reach each kind of answer (else the equality test would prove little)."""
    seen = set()
    for seed in range(400):
        s = build(seed)
        for k in PROBES:
            found = st_speed.one_key(s, k)
            seen.add("unsure" if found is st_speed._UNSURE else "absent" if found is st_speed._ABSENT
                     else "none" if found is None else "shown" if isinstance(found, tuple) else "value")
    assert seen == {"unsure", "absent", "none", "shown", "value"}


def test_unhashable_key_raises_as_the_dict():
    view = st_speed.FilteredView(SafeSessionState(SessionState(), lambda: None))
    with pytest.raises(TypeError):
        [] in view  # noqa: B015
    assert 1 not in view


# Real widgets, real reruns: inside the script, every probe key's answer from the view (asked first, as a widget
# does) is compared with Streamlit's own dict, before and after the widgets, on each rerun.
SCRIPT = textwrap.dedent("""
    import datetime
    import streamlit as st
    from streamlit.runtime.state import get_session_state
    from streamlit.runtime.state.session_state import SessionState
    from ui import st_speed
    from tests import test_st_speed as T

    st_speed.install()

    def check(where):
        safe = get_session_state()
        view = safe.filtered_state
        st_ = safe._state  # every key the state knows, read without decoding any widget value
        keys = T.SCRIPT_PROBES + [*st_._old_state, *st_._new_session_state, *st_._key_id_mapper._key_id_mapping]
        got = {k: (k in view, view.get(k, "missing")) for k in keys}
        ref = SessionState.filtered_state.fget(safe._state)
        want = {k: (k in ref, ref.get(k, "missing")) for k in keys}
        T.RESULTS.append((where, got == want, got, want, isinstance(view, st_speed.FilteredView)))

    if "none_n" not in st.session_state:
        st.session_state.none_n = None
        st.session_state.none_s = None
        st.session_state.plain = 1
    check("start")
    st.number_input("n", key="n", value=5)
    st.number_input("none n", key="none_n", value=5)
    st.selectbox("none s", ["p", "q"], key="none_s")
    st.number_input("bound", key="qp", value=1, bind="query-params")
    st.number_input("keyless", value=2)
    if st.session_state.get("show", True):
        st.radio("r", ["u", "v"], key="r")
        st.slider("sl", 0, 10, key="sl")
    st.text_input("t", key="t")
    st.date_input("dt", datetime.date(2024, 1, 1), key="dt")
    st.checkbox("show", True, key="show")
    check("end")
    T.TO_DICT.append(st.session_state.to_dict())
""")
SCRIPT_PROBES = ["n", "none_n", "none_s", "qp", "r", "sl", "t", "dt", "show", "plain", "zz"]
RESULTS: list = []
TO_DICT: list = []


def test_view_equals_streamlits_dict_in_real_reruns():
    RESULTS.clear()
    TO_DICT.clear()
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.query_params["qp"] = "7"
    at.run()
    at.number_input(key="n").set_value(9).run()
    at.number_input(key="none_n").set_value(3).run()
    at.checkbox(key="show").uncheck().run()  # the radio and slider go stale
    at.session_state["plain"] = None
    at.run()
    at.checkbox(key="show").check().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(RESULTS) == 12 and all(r[4] for r in RESULTS) == st_speed.install()
    for where, same, got, want, _ in RESULTS:
        assert same, (where, {k: (got[k], want[k]) for k in got if got[k] != want[k]})
    assert all(type(d) is dict for d in TO_DICT) and TO_DICT[-1]["qp"] == 7 and TO_DICT[-1]["n"] == 9


def test_none_in_session_state_still_renders_empty():
    """``key in d and d[key] is None`` still sees None: the inputs show no value (number_input.py 735-737)."""
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.run()
    assert at.number_input(key="none_n").value is None and at.selectbox(key="none_s").value is None
    assert at.number_input(key="n").value == 5


def test_links_restore_inputs_through_app():
    at = open_page("app_pages/training_memory.py", {"tm_dp": "8", "tm_zero": "3"})
    assert not at.exception
    assert SafeSessionState.filtered_state.fget is st_speed._filtered_state  # app.py installed it
    assert at.number_input(key="tm_dp").value == 8 and at.selectbox(key="tm_zero").value == 3
    assert at.query_params["tm_dp"] == "8"


@pytest.fixture
def unpatched():
    """Streamlit as shipped for the test, patched again after it if it was before."""
    was = st_speed._installed
    st_speed.uninstall()
    yield
    st_speed.uninstall()
    if was:
        st_speed.install()


@pytest.mark.skipif(streamlit.__version__ != "1.67.0", reason="the digest is Streamlit 1.67.0's")
def test_installs_on_the_streamlit_it_mirrors(unpatched):
    assert st_speed.install()
    assert SafeSessionState.filtered_state.fget is st_speed._filtered_state
    assert session_state_proxy.SessionStateProxy.to_dict is st_speed._to_dict


def _changed_keys(self):  # another Streamlit's _keys (any other code)
    return set()


@pytest.mark.parametrize("change", ["code", "missing", "env"])
def test_other_streamlit_is_left_alone(unpatched, monkeypatch, change):
    if change == "code":
        monkeypatch.setattr(SessionState, "_keys", _changed_keys)
    elif change == "missing":
        monkeypatch.delattr(session_state_proxy.SessionStateProxy, "to_dict")
    else:
        monkeypatch.setenv("CALC_ST_SPEED", "0")
    before = (SafeSessionState.__dict__["filtered_state"], session_state_proxy.SessionStateProxy.__dict__.get("to_dict"))
    assert st_speed.install() is False
    assert (SafeSessionState.__dict__["filtered_state"], session_state_proxy.SessionStateProxy.__dict__.get("to_dict")) == before
