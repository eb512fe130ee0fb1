"""Real browser: type a Hugging Face id in the sidebar, see the exact counts; copy the link into a fresh browser
context (no shared session), see the same numbers. The app server talks to the fake Hub (tests/hub_fake.py)
through HF_ENDPOINT; the browser never sees a token or the Hub."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot, start_server, wait_for_app
from tests.hub_fake import hub_env
from tests.hub_fixtures import fake, files  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
LLAMA = "meta-llama/Meta-Llama-3-8B"


@pytest.fixture()
def hub_server(fake, tmp_path):  # noqa: F811 (the fixture above)
    proc, url = start_server(env=hub_env(fake, tmp_path / "server-hf-home"))
    yield url
    proc.terminate()
    proc.wait(10)


def _numbers(pg) -> dict[str, str]:
    """The sidebar's exact count and the Models page's metrics, as the page shows them."""
    side = pg.locator("[data-testid='stSidebar']").get_by_text(f"{LLAMA}: ", exact=False).first.inner_text()
    labels = pg.locator("[data-testid='stMetricLabel']").all_inner_texts()
    values = pg.locator("[data-testid='stMetricValue']").all_inner_texts()
    return {"sidebar": side.strip(), **{k.strip(): v.strip() for k, v in zip(labels, values, strict=True)}}


def test_typed_id_shows_exact_counts_and_the_link_carries_them(hub_server, page, browser, fake):  # noqa: F811
    page.goto(f"{hub_server}/models")
    wait_for_app(page)
    box = page.get_by_role("textbox", name="Hugging Face model id")
    box.fill(LLAMA)
    box.press("Enter")
    page.get_by_text(f"{LLAMA}: 8,030,261,248 parameters as published").wait_for(timeout=60_000)
    wait_for_app(page)
    seen = _numbers(page)
    assert seen["Parameters in the checkpoint"] == seen["Total parameters"] == "8.03 B"
    assert seen["Weights as published"] == "16.06 GB"
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "models_hub_id")
    link = page.url
    assert "hf=meta-llama%2FMeta-Llama-3-8B" in link or "hf=meta-llama/Meta-Llama-3-8B" in link

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.goto(link)
        fresh.get_by_text(f"{LLAMA}: 8,030,261,248 parameters as published").wait_for(timeout=60_000)
        wait_for_app(fresh)
        assert _numbers(fresh) == seen
        assert fresh.locator("[data-testid='stSidebar'] input[aria-label='Hugging Face model id']").input_value() == LLAMA
    finally:
        other.close()
    # the second session was served from the server's cache: one model-info request in all
    assert sum("/api/models/" in u for u in fake.urls()) == 1
