"""The Cluster planner page's lazy "Links and pinned knobs" expander (issue 18): closed, its twelve inputs are not
drawn, yet a link's pins and links still shape the search and stay in the link; open, they are drawn with those
values. The reference is calc.plan.search with the same pins."""

from __future__ import annotations

from calc.gpus import get_gpu
from calc.plan import Cluster, Job, search
from calc.presets import get_preset
from tests.apptest_helpers import open_page

PIN_KEYS = ("plintra", "plinter", "pltp", "plpp", "plcp", "pldp", "plep", "plvpp", "plmicro")
QUERY = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "pltp": "2", "plrc": "full", "plzero": "1"}


def _shown_layouts(at) -> list[tuple]:
    df = at.dataframe[0].value
    return list(zip(df["tp"], df["recompute"], df["ZeRO"], strict=True))


def _want() -> list[tuple]:
    plans = search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 64), Job(4096, 1024 * 4096),
                   {"tp": 2, "recompute": "full", "zero": 1}, top=8)
    return [(p.layout.tp, p.layout.recompute, p.layout.zero) for p in plans]


def test_closed_expander_draws_no_pin_inputs_but_the_link_pins_the_search():
    at = open_page("app_pages/planner.py", QUERY, timeout_s=120)
    assert not at.exception and not at.error
    drawn = {w.key for w in at.number_input} | {w.key for w in at.selectbox} | {w.key for w in at.toggle}
    assert not drawn & {*PIN_KEYS, "plrc", "plzero", "plmlink"}
    assert _shown_layouts(at) == _want()
    assert at.query_params["pltp"] == "2" and at.query_params["plrc"] == "full"


def test_open_expander_draws_the_inputs_with_the_link_values():
    at = open_page("app_pages/planner.py", QUERY, session={"pl_xlinks": True}, timeout_s=120)
    assert not at.exception and not at.error
    assert {w.key for w in at.number_input} >= set(PIN_KEYS)
    assert at.number_input(key="pltp").value == 2 and at.selectbox(key="plrc").value == "full"
    assert at.toggle(key="plmlink").value is False
    assert _shown_layouts(at) == _want()


def test_price_and_token_changes_keep_the_search(monkeypatch):
    """The price and the training tokens size days and cost only: the page searches without them (issue 18), so a
    change of either asks calc.plan.search nothing, and the table's days and cost still follow them (reference:
    calc.plan.plan_dict of the searched plans with the new tokens and price)."""
    import calc.plan
    from calc.plan import plan_dict

    calls = []
    real = calc.plan.search
    monkeypatch.setattr(calc.plan, "search", lambda *a, **k: calls.append(a) or real(*a, **k))
    at = open_page("app_pages/planner.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "plgpus": "48"},
                   timeout_s=120)
    assert not at.exception and not at.error
    before = len(calls)
    at.number_input(key="plprice").set_value(3.5).run()
    at.number_input(key="pltok").set_value(2.5).run()
    assert not at.exception and not at.error
    assert len(calls) == before
    job = Job(4096, 1024 * 4096, tokens=2.5e12)
    want = [plan_dict(p, job, 3.5) for p in search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 48),
                                                    Job(4096, 1024 * 4096), top=8)]
    df = at.dataframe[0].value
    assert list(df["cost USD"]) == [round(r["cost_usd"]) for r in want]
    assert list(df["days"]) == [round(r["days"], 2) for r in want]


def test_fewer_layouts_shown_are_the_search_of_that_many():
    """The page searches 8 and shows the first ``pltop`` (issue 18): three shown are calc.plan.search's top 3."""
    at = open_page("app_pages/planner.py", {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "pltop": "3"},
                   timeout_s=120)
    assert not at.exception and not at.error
    df = at.dataframe[0].value
    want = search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 64), Job(4096, 1024 * 4096), top=3)
    assert list(zip(df["tp"], df["pp"], df["dp"], df["micro-batch"], df["recompute"], df["ZeRO"], df["step s"],
                    strict=True)) == [(p.layout.tp, p.layout.pp, p.layout.dp, p.layout.micro_batch, p.layout.recompute,
                                       p.layout.zero, round(p.step_s, 4)) for p in want]


NODE_QUERY = {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "plnode": "4", "plprec": "fp8", "pltop": "3"}


def _node_want() -> list[tuple]:
    plans = search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 64, 4), Job(4096, 1024 * 4096, "fp8"),
                   top=8)[:3]
    return [(p.layout.tp, p.layout.recompute, p.layout.zero) for p in plans]


def test_node_size_precision_and_layouts_shown_apply_from_the_link_closed_and_open():
    """GPUs per node, matmul precision and layouts to show sit in the same lazy expander (issue 18): closed, they are
    not drawn, the link's values shape the search and the table, and the expander's label names them; open, they
    are drawn with those values. Reference: calc.plan.search with 4 GPUs per node and fp8, its first 3."""
    want = _node_want()
    # the link's values change the answer (a setting left out would show)
    spec, gpu = get_preset("Meta-Llama-3-8B"), get_gpu("H100 SXM")
    default = search(spec, Cluster(gpu, 64), Job(4096, 1024 * 4096), top=8)
    assert [(p.layout.tp, p.layout.recompute, p.layout.zero) for p in default[:3]] != want
    for is_open in (False, True):
        at = open_page("app_pages/planner.py", NODE_QUERY, session={"pl_xlinks": is_open}, timeout_s=120)
        assert not at.exception and not at.error
        drawn = {w.key for w in at.number_input} | {w.key for w in at.selectbox}
        if is_open:
            assert at.number_input(key="plnode").value == 4 and at.selectbox(key="plprec").value == "fp8"
            assert at.number_input(key="pltop").value == 3
        else:
            assert not drawn & {"plnode", "plprec", "pltop"}
        label = next(e.label for e in at.expander if "links and pinned knobs" in e.label)
        assert label == "4 GPUs per node, fp8 matmuls, 3 layouts shown; links and pinned knobs"
        assert _shown_layouts(at) == want
        assert at.query_params["plnode"] == "4" and at.query_params["plprec"] == "fp8"
