"""Scenarios: JSON round trip, untrusted imports refused with a message, saving from a page (AppTest)."""

from __future__ import annotations

import json

import pytest

from calc import scenarios as sc
from tests.test_pages import run_page


def test_round_trip():
    a = sc.make_scenario("8B on H100", "models", {"model": "Meta-Llama-3-8B"}, {"total": 8030261248}, {"total": "count"})
    b = sc.make_scenario("70B", "models", {"model": "Meta-Llama-3-70B"}, {"total": 7.05e10}, {"total": "count"})
    assert sc.loads(sc.dumps([a, b])) == [a, b]


@pytest.mark.parametrize("payload,fragment", [
    (b"{", "not valid JSON"),
    (b"[]", '"version": 1'),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "../etc"}]}).encode(), "page must be"),
    (json.dumps({"version": 1, "scenarios": [{"name": "", "page": "models"}]}).encode(), "name must be"),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "m", "results": {"a": "1"}}]}).encode(),
     "finite number"),
    (b'{"version": 1, "scenarios": [{"name": "x", "page": "m", "results": {"a": NaN}}]}', "contains NaN"),
    (json.dumps({"version": 1, "scenarios": [{"name": "x", "page": "m"}] * 201}).encode(), "at most 200"),
    (b"[" * 100_000, "not valid JSON"),
    (b" " * 1_000_001, "at most 1,000,000"),
])
def test_bad_imports_are_refused_with_a_message(payload, fragment):
    with pytest.raises(ValueError) as info:
        sc.loads(payload)
    assert fragment in str(info.value)


def test_save_from_models_page_and_compare():
    at = run_page("app_pages/models.py", {"model": "Mixtral-8x7B-v0.1"})
    form_input = [t for t in at.text_input if t.label == "Scenario name"][0]
    form_input.input("Mixtral")
    [b for b in at.button if b.label == "Save as scenario"][0].click()
    at.run()
    assert not at.exception
    saved = at.session_state["scenarios"]
    assert saved[0].name == "Mixtral" and saved[0].results["total parameters"] == 46_702_792_704
    at.switch_page("app_pages/scenarios.py")
    at.run()
    assert not at.exception
    assert at.dataframe[0].value.loc["total parameters", "Mixtral"] == "46.70 B"
