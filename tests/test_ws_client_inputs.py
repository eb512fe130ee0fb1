"""``tests/ws_client.WsSession``'s moves of a multiselect (``nearby_state``: one option added or taken out, from what
the page's link says is chosen; ``random_state``: up to four options), on a MultiSelect proto as Streamlit 1.67 sends
it, so the benchmarks (bench/bench_pages.py, bench/load.py) exercise the Models page's comparison list too."""

from __future__ import annotations

import random

from streamlit.proto.MultiSelect_pb2 import MultiSelect

from tests.ws_client import WsSession

OPTIONS = [f"m{i}" for i in range(10)]


def _session(default=(), raw=(), max_selections=0, link=None) -> WsSession:
    w = MultiSelect(id="$$ID-abc-compare", options=OPTIONS, default=list(default), raw_values=list(raw),
                    max_selections=max_selections)
    s = WsSession("http://127.0.0.1:1", 1)
    s.widgets = {w.id: ("multiselect", w)}
    s.query_string = "" if link is None else f"compare={link}"
    return s


def test_nearby_adds_or_removes_one_option_of_what_the_link_says_is_chosen():
    rng = random.Random(0)
    seen = set()
    for _ in range(200):
        s = _session(default=[0], raw=["m5"], link="m1,m2")
        st = s.nearby_state(rng)
        new, undo = list(st.string_array_value.data), list(s.undo.string_array_value.data)
        assert undo == ["m1", "m2"]  # the link wins over raw values and the default
        assert set(new) ^ set(undo) and len(set(new) ^ set(undo)) == 1, new  # one option in or out
        assert set(new) <= set(OPTIONS) and len(new) == len(set(new))
        seen.add(len(new))
    assert seen == {1, 3}


def test_nearby_without_a_link_reads_raw_values_then_the_default_and_keeps_max_selections():
    rng = random.Random(1)
    for _ in range(50):
        s = _session(default=[0, 3], raw=["m7"])
        s.nearby_state(rng)
        assert list(s.undo.string_array_value.data) == ["m7"]
        s = _session(default=[0, 3])
        s.nearby_state(rng)
        assert list(s.undo.string_array_value.data) == ["m0", "m3"]
        s = _session(default=[0, 3], max_selections=2)  # full: only a removal is left
        assert len(s.nearby_state(rng).string_array_value.data) == 1
        s = _session(link="")  # nothing chosen: only an addition
        assert len(s.nearby_state(rng).string_array_value.data) == 1


def test_random_draws_up_to_four_known_options():
    rng = random.Random(2)
    sizes = set()
    for _ in range(200):
        data = list(_session().random_state(rng).string_array_value.data)
        assert set(data) <= set(OPTIONS) and len(data) == len(set(data)) <= 4
        sizes.add(len(data))
    assert sizes == {0, 1, 2, 3, 4}
