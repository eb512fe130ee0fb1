"""Real browser against a server started the way a deployment starts it (deploy/serve.py through
``deploy.replicas.start_streamlit``, as the Docker image and the HAProxy replicas do): the page renders with no
"Bad message format" dialog. deploy/serve.py empties what Streamlit's ``new_session`` message tells visitors about
the install; with those parts removed instead of emptied, the frontend read null and every visit opened that dialog
(tests/test_browser_* start plain ``streamlit run``, so only this test sees the deployed path)."""

from __future__ import annotations

import pytest

from deploy.replicas import start_streamlit, stop_process
from tests.conftest import wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture()
def deployed():
    proc, url = start_streamlit()
    yield url
    stop_process(proc)


def test_deployed_server_opens_without_a_message_error(deployed, page):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    page.goto(f"{deployed}/training-memory")
    wait_for_app(page)
    assert page.locator("[data-testid='stMainBlockContainer'] h1").first.inner_text().strip() == "Training memory"
    body = page.inner_text("body")
    assert "Bad message format" not in body
    assert not [e for e in errors if "installationId" in e or "null" in e], errors
