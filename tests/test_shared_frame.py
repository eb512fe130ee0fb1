"""What every page's rerun pays for the shared frame (issue 18): parts drawn only when a visitor asks for them."""

from __future__ import annotations

from tests.test_pages import run_page


def test_the_share_panel_draws_its_content_only_while_open():
    """The link, JSON export and save form of ``ui.results.publish`` cost every rerun of every page that publishes
    about 1.4 ms of server CPU while the panel stays closed; closed, nothing inside it is built or sent."""
    at = run_page("app_pages/models.py", {"model": "GPT-2"})
    assert not at.exception
    assert [e.label for e in at.expander if e.label.startswith("Share, export")]  # the panel itself is there
    assert not [t for t in at.text_input if t.label == "Scenario name"]
    assert not [b for b in at.button if b.label == "Save as scenario"]
    assert not [c for c in at.code if "ws=" in str(c.value)]
    at.session_state["share_models"] = True  # what opening it in the browser sets (its key: share_<page>)
    at.run()
    assert not at.exception
    assert [t for t in at.text_input if t.label == "Scenario name"]
    link = [str(c.value) for c in at.code if "ws=" in str(c.value)]
    assert link and link[0].startswith("/models?") and "model=GPT-2" in link[0]
