"""Real browser (Debian's chromium via Playwright): deep links on a freshly started server land on the
right page with the app's navigation (not Streamlit's auto-discovered page list), and a screenshot is saved."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot, wait_for_app
from ui.nav import PAGES

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_deep_link_on_fresh_server(server, page, info):
    page.goto(f"{server}/{info.url_path}")
    wait_for_app(page)
    heading = page.locator("[data-testid='stMainBlockContainer'] h1").first.inner_text()
    expected = "GPU memory & scaling-law calculator" if info.url_path == "" else info.title
    assert heading.strip() == expected
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    for other in PAGES:
        assert other.title in nav, f"navigation lacks {other.title}: {nav!r}"
    assert "app_pages" not in nav and "\napp\n" not in f"\n{nav}\n"
    # the shared pickers come from app.py, so their presence proves app.py ran for a deep link
    assert page.locator("[data-testid='stSidebar']").get_by_text("Shared by every page").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, f"page_{info.url_path or 'home'}")


def test_models_page_upload_good_and_bad_config(server, page, tmp_path):
    """Upload through the real file input: a bad config gets an st.error naming the field, a good one is added."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}')
    good = tmp_path / "tiny.json"
    good.write_text('{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,'
                    ' "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,'
                    ' "vocab_size": 151936, "tie_word_embeddings": true}')
    page.goto(f"{server}/models")
    wait_for_app(page)
    # the config upload is the page's first file input (the checkpoint-headers upload comes second)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(bad))
    page.get_by_text("'num_hidden_layers' is missing").wait_for(timeout=30_000)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(good))
    page.get_by_text("Added tiny (uploaded)").wait_for(timeout=30_000)
    # Qwen2.5-0.5B's config: 494,032,768 parameters (REFERENCE: HF safetensors total)
    page.get_by_text("494.03 M").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "models_upload")
