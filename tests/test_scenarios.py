"""Scenarios: JSON round trip, untrusted imports refused with a message, the database store (atomic, deduped,
concurrent, versioned), and saving and comparing from the pages (AppTest)."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from calc import scenarios as sc
from store import scenarios as db
from tests.test_pages import run_page
from tests.untrusted import evil_links_in_markdown, plain_text

WS = "testworkspace-0001"


def test_round_trip():
    a = sc.make_scenario("8B on H100", "models", {"model": "Meta-Llama-3-8B"}, {"total": 8030261248}, {"total": "count"},
                         {"model": "Model"})
    b = sc.make_scenario("70B", "models", {"model": "Meta-Llama-3-70B"}, {"total": 7.05e10}, {"total": "count"})
    assert sc.loads(sc.dumps([a, b])) == [a, b]


def test_version_1_exports_of_earlier_releases_still_import():
    # the file today's release writes (no labels, "version": 1)
    v1 = json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "models", "params": {"model": "GPT-2"},
                                                  "results": {"total": 124439808}, "kinds": {"total": "count"}}]})
    [s] = sc.loads(v1)
    assert s.params == {"model": "GPT-2"} and s.labels == {} and s.label("model") == "model"


@pytest.mark.parametrize("payload,fragment", [
    (b"{", "not valid JSON"),
    (b"[]", '"version": 2'),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "../etc"}]}).encode(), "page must be"),
    (json.dumps({"version": 1, "scenarios": [{"name": "", "page": "models"}]}).encode(), "name must be"),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "m", "results": {"a": "1"}}]}).encode(),
     "finite number"),
    (b'{"version": 1, "scenarios": [{"name": "x", "page": "m", "results": {"a": NaN}}]}', "contains NaN"),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "m"}] * 201}).encode(), "at most 200"),
    (json.dumps({"version": 2, "scenarios": [{"name": "x", "page": "m", "labels": {"k": "v"}}]}).encode(),
     "labels must name"),
    (json.dumps({"version": 3, "scenarios": []}).encode(), "versions 1, 2"),
    (b"[" * 100_000, "not valid JSON"),
    (b" " * 1_000_001, "at most 1,000,000"),
])
def test_bad_imports_are_refused_with_a_message(payload, fragment):
    with pytest.raises(ValueError) as info:
        sc.loads(payload)
    assert fragment in str(info.value)


# ---- the store ---------------------------------------------------------------------------------------------

def _s(name: str, i: int, page: str = "models") -> sc.Scenario:
    return sc.make_scenario(name, page, {"model": "GPT-2", "i": str(i)}, {"total": float(i)}, {"total": "count"})


@pytest.fixture()
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'sub' / 'scenarios.sqlite'}"  # the folder does not exist yet: made on first use


def test_saved_scenarios_survive_a_new_process_and_names_are_unique(url):
    first = db.ScenarioStore(url)
    assert first.save(WS, _s("a", 1)).saved
    assert not first.save(WS, _s("other name", 1)).saved  # same content: kept once, under its first name
    with pytest.raises(ValueError, match="already saved"):
        first.save(WS, _s("a", 2))  # the name is taken by other content
    first.engine.dispose()
    again = db.ScenarioStore(url)  # a restarted server opens the same file
    assert [(s.scenario.name, s.scenario.results) for s in again.list(WS)] == [("a", {"total": 1.0})]
    assert again.list("someone-elses-ws") == []


def test_reimporting_an_export_adds_nothing_and_a_bad_import_changes_nothing(url):
    store = db.ScenarioStore(url)
    for i in range(3):
        store.save(WS, _s(f"s{i}", i))
    exported = sc.dumps([s.scenario for s in store.list(WS)])
    got = store.import_many(WS, sc.loads(exported))
    assert (got.added, got.duplicates, got.count) == (0, 3, 3)
    # other content under a taken name is kept under a free one; a duplicate inside the file once
    got = store.import_many(WS, [_s("s0", 10), _s("s0", 10)])
    assert (got.added, got.duplicates, got.renamed) == (1, 1, [("s0", "s0 (2)")])
    # past the workspace limit nothing of the file is kept
    before = [s.scenario for s in store.list(WS)]
    too_many = [_s(f"n{i}", 100 + i) for i in range(db.MAX_PER_WORKSPACE)]
    with pytest.raises(ValueError, match="nothing was imported"):
        store.import_many(WS, too_many)
    assert [s.scenario for s in store.list(WS)] == before


def test_two_sessions_saving_at_once_both_land(url):
    # two stores = two connection pools, as two server processes (or replicas) on one database file
    stores = [db.ScenarioStore(url), db.ScenarioStore(url)]
    start, errors = threading.Barrier(2), []

    def saver(store, tag):
        start.wait()
        for i in range(30):
            try:
                assert store.save(WS, _s(f"{tag}{i}", i if tag == "p" else 1000 + i)).saved
            except Exception as exc:  # noqa: BLE001 (any failure is the finding)
                errors.append(repr(exc))

    threads = [threading.Thread(target=saver, args=(s, t)) for s, t in zip(stores, "pq", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = {s.scenario.name for s in stores[0].list(WS)}
    assert names == {f"p{i}" for i in range(30)} | {f"q{i}" for i in range(30)}


def test_a_newer_schema_is_refused_and_left_untouched(url):
    db.ScenarioStore(url).save(WS, _s("keep me", 1))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE schema_version SET version = {db.SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this app"):
        db.ScenarioStore(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM scenarios").scalars().all() == ["keep me"]


# ---- pages (AppTest) ---------------------------------------------------------------------------------------

def _save(at, name: str):
    if not any(t.label == "Scenario name" for t in at.text_input):  # the share panel is built only while open
        for page in ("models", "compute"):
            at.session_state[f"share_{page}"] = True
        at.run()
    box = [t for t in at.text_input if t.label == "Scenario name"][0]
    box.input(name)
    [b for b in at.button if b.label == "Save as scenario"][0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return box


def _saved(ws: str) -> list[sc.Scenario]:
    from ui.results import store

    return [s.scenario for s in store().list(ws)]


def test_save_from_models_page_and_compare():
    at = run_page("app_pages/models.py", {"model": "Mixtral-8x7B-v0.1", "ws": "ws-models-compare"})
    _save(at, "Mixtral")
    [saved] = _saved("ws-models-compare")
    assert saved.name == "Mixtral" and saved.results["total parameters"] == 46_702_792_704
    at.switch_page("app_pages/scenarios.py")
    at.run()
    assert not at.exception
    results = [d.value for d in at.dataframe if d.value.index.name == "result"][0]
    assert results.loc["total parameters", "Mixtral"] == "46.70 B"


def test_empty_foreign_parameter_neither_breaks_save_nor_clears_the_name():
    # issue 20 item 9: /compute?utm_source=&cg=64 made "Save as scenario" fail and clear the typed name
    at = run_page("app_pages/compute.py", {"utm_source": "", "cg": "64", "ws": "ws-utm-source"})
    box = _save(at, "64 GPUs")
    assert [s.name for s in _saved("ws-utm-source")] == ["64 GPUs"]
    assert "utm_source" not in _saved("ws-utm-source")[0].params
    assert [t.value for t in at.text_input if t.label == "Scenario name"] == ["64 GPUs"] == [box.value]


def test_enter_then_save_keeps_one_copy_and_names_are_unique():
    at = run_page("app_pages/compute.py", {"cg": "64", "ws": "ws-one-copy"})
    _save(at, "run A")
    _save(at, "run A")  # Enter in the name box, then a click on Save: one action twice
    assert [s.name for s in _saved("ws-one-copy")] == ["run A"]
    assert any("Already saved as" in i.value for i in at.info)
    # another setup under a taken name is refused with a message; the typed name stays for editing
    at.query_params["cg"] = "128"
    at.number_input(key="cg").set_value(128).run()
    _save(at, "run A")
    assert any("already saved" in e.value for e in at.error)
    assert [s.name for s in _saved("ws-one-copy")] == ["run A"]
    assert [t.value for t in at.text_input if t.label == "Scenario name"] == ["run A"]


def test_comparison_lists_differing_inputs_with_readable_labels():
    at = run_page("app_pages/compute.py", {"cg": "64", "ws": "ws-compare-inputs"})
    _save(at, "64 GPUs")
    at.number_input(key="cg").set_value(128).run()
    _save(at, "128 GPUs")
    at.switch_page("app_pages/scenarios.py")
    at.run()
    assert not at.exception
    inputs = [d.value for d in at.dataframe if d.value.index.name == "input"][0]
    assert list(inputs.index) == ["GPUs"]  # the label of input `cg`, the only one that differs
    assert (inputs.loc["GPUs", "64 GPUs"], inputs.loc["GPUs", "128 GPUs"]) == ("64", "128")
    results = [d.value for d in at.dataframe if d.value.index.name == "result"][0]
    assert results.index.is_unique and "wall-clock" in results.index


def test_scenario_names_are_shown_as_text_never_markdown():
    evil = "[Re-login](https:evil.example) ![t](https:evil.example)"
    at = run_page("app_pages/models.py", {"ws": "ws-markdown-name"})
    _save(at, evil)
    shown = [e.value for e in (*at.markdown, *at.success, *at.info, *at.error, *at.caption)]
    at.switch_page("app_pages/scenarios.py")
    at.run()
    shown += [e.value for e in (*at.markdown, *at.success, *at.info, *at.error, *at.caption)]
    # the success message and the scenario list show it as text, and a Markdown renderer makes no link of it
    assert sum("[Re-login](https:" in plain_text(v).replace("\u2060", "") for v in shown) >= 2
    assert not any(evil_links_in_markdown(v) for v in shown)


def test_scenarios_of_an_earlier_session_move_into_the_database():
    at = run_page("app_pages/scenarios.py", {"ws": "ws-legacy-session"})
    at.session_state["scenarios"] = [_s("from before", 7)]  # where earlier releases kept them
    at.run()
    assert [s.name for s in _saved("ws-legacy-session")] == ["from before"]
    assert "scenarios" not in at.session_state


def test_a_big_hostile_file_is_bounded():
    # issue 20 item 7: a 0.85 MB scenarios file took 20 s and built a 168 MB chart
    items = [sc.make_scenario(f"{i:03d} " + "x" * 90, "models", {f"p{j}": "v" * 40 for j in range(15)},
                              {f"metric {j:02d} " + "y" * 30: float(i * j + 1) for j in range(32)},
                              {f"metric {j:02d} " + "y" * 30: "count" for j in range(32)}) for i in range(200)]
    data = sc.dumps(items).encode()
    assert 0.8e6 < len(data) <= sc.MAX_JSON_BYTES
    from ui.results import store

    assert store().import_many("ws-big-file", sc.loads(data)).added == 200
    at = run_page("app_pages/scenarios.py", {"ws": "ws-big-file"})
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    points = sum(len(t.get("y") or []) for t in spec["data"])
    assert len(spec["data"]) <= sc.MAX_COMPARE and points <= sc.MAX_COMPARE * sc.MAX_CHART_METRICS
    assert len(charts[0].proto.spec) < 200_000
    assert all(len(d.value.columns) <= sc.MAX_COMPARE for d in at.dataframe if d.value.index.name)
