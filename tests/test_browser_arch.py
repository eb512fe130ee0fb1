"""Real browser (Debian's chromium via Playwright), issue 12: a user uploads the published config.json of Gemma 3
(gemma-3-1b-it), gpt-oss-20b and Qwen3-Next-80B-A3B on the Models page, sees the exact parameter count there
(the count ``transformers`` gives the same config on the meta device, and in the page's CSV to the parameter),
then switches to Training memory and Inference memory in the same session and gets a verdict on each.

Expected verdicts at the pages' defaults (bf16, H100 SXM's 79.6 GiB, context 4,096, batch 1):
inference - Gemma 3 1B (2 GB of weights) fits, gpt-oss-20b (41.8 GB) fits, Qwen3-Next (159 GB of weights alone)
does not; training (full fine-tune, AdamW mixed precision, 16 B per parameter before activations) - Gemma 3 1B
(16 GB) fits, gpt-oss-20b (335 GB) and Qwen3-Next (1.27 TB) do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser_helpers import download_csv, main
from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

DATA = Path(__file__).parent / "data" / "arch"
# name -> (inference fits, training fits)
WAIT_MS = 180_000  # generous: the shared 2-core machine may run several servers and browsers at once
CASES = {"gemma-3-1b-it": (True, True), "gpt-oss-20b": (True, False), "Qwen3-Next-80B-A3B-Instruct": (False, False)}


def meta_count(path: Path) -> int:
    """Parameters of the model transformers builds from the config (meta device: no memory, no download)."""
    cfg = transformers.AutoConfig.for_model(**json.loads(path.read_text()))
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters())


def go(page, title: str, url_path: str) -> None:
    """Switch page through the sidebar navigation's link (same session: the uploaded models stay)."""
    page.locator(f"[data-testid='stSidebarNav'] a[href$='/{url_path}']").first.click()
    page.locator("[data-testid='stMainBlockContainer'] h1").filter(has_text=title).first.wait_for(timeout=WAIT_MS)
    settle(page)


def settle(page) -> None:
    page.wait_for_timeout(300)
    wait_for_app(page, WAIT_MS)


def verdict_of(page) -> str:
    alerts = main(page).locator("[data-testid='stAlertContentSuccess'], [data-testid='stAlertContentError']")
    alerts.first.wait_for(timeout=WAIT_MS)
    text = "\n".join(alerts.all_inner_texts())
    fits, not_fits = "Fits on" in text, "Does not fit on" in text
    assert fits != not_fits, text
    return "fits" if fits else "does not fit"


def test_upload_new_architectures_counts_and_verdicts(server, page, tmp_path):
    wants = {name: meta_count(DATA / f"{name}.json") for name in CASES}
    page.goto(f"{server}/models")
    settle(page)
    for name, (infer_fits, train_fits) in CASES.items():
        src, want = DATA / f"{name}.json", wants[name]
        upload = tmp_path / f"{name}.json"
        upload.write_bytes(src.read_bytes())
        if page.locator("[data-testid='stSidebarNav']").count():
            go(page, "Models", "models")
        # the config upload is the page's first file input (the checkpoint-headers upload comes second)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(upload))
        main(page).get_by_text(f"Added {name}").first.wait_for(timeout=WAIT_MS)
        settle(page)
        total = main(page).locator("[data-testid='stMetric']").filter(has_text="Total parameters")
        assert total.locator("[data-testid='stMetricValue']").inner_text().strip() == \
            f"{want / 1e9:.2f} B" if want >= 1e9 else f"{want / 1e6:.2f} M"
        rows = {r["model"]: r for r in download_csv(page, "Download CSV")}
        mine = next(r for n, r in rows.items() if n.startswith(name))
        assert int(mine["total"]) == want, (name, mine["total"], want)
        screenshot(page, f"arch_models_{name}")

        go(page, "Inference memory", "inference-memory")
        assert verdict_of(page) == ("fits" if infer_fits else "does not fit"), name
        assert main(page).get_by_text(name).count() >= 1  # the page speaks of the uploaded model
        if name.startswith("Qwen3-Next"):
            # the fixed state of the 36 gated DeltaNet layers is shown apart from the KV cache
            main(page).locator("[data-testid='stMetric']").filter(has_text="Recurrent state per GPU").wait_for()
        screenshot(page, f"arch_inference_{name}")

        go(page, "Training memory", "training-memory")
        assert verdict_of(page) == ("fits" if train_fits else "does not fit"), name
        screenshot(page, f"arch_training_{name}")
    assert page.locator("[data-testid='stException']").count() == 0
