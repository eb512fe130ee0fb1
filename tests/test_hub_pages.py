"""Pages with a Hugging Face id in the sidebar (Streamlit AppTest through app.py), against the fake Hub:
exact counts, the Inference memory page's weights as published, the gated sentence and the session token,
GGUF repositories on the Quantization page, and the share panel's note on uploaded models."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from calc.arch.registry import SUPPORTED_ARCHITECTURES
from calc.models import ModelSpec
from tests.conftest import ROOT
from tests.hub_fixtures import SECRET, fake, files  # noqa: F401 (fixtures)
from tests.test_checkpoint import TINY_LLAMA
from tests.untrusted import plain_text
from ui.hub_model import AS_PUBLISHED, KEY, TOKEN, TOKEN_BOX, TOKEN_PANEL

LLAMA = "meta-llama/Meta-Llama-3-8B"


def run(path: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if path != "app_pages/home.py":
        at.switch_page(path)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(at) -> str:
    """Everything the page shows as text (markdown, captions, alerts, code) and the URL's parameters."""
    parts = [str(e.value) for kind in ("markdown", "caption", "code", "error", "warning", "info", "success", "text")
             for e in getattr(at, kind)]
    parts += [str(e.value) for kind in ("markdown", "caption", "error", "text_input") for e in getattr(at.sidebar, kind)
              if getattr(e, "key", None) not in (TOKEN, TOKEN_BOX)]
    return "\n".join(parts + [f"{k}={v}" for k, v in at.query_params.items()])


def test_typed_id_selects_the_model_with_exact_counts(fake):
    at = run("app_pages/models.py")
    at.sidebar.text_input(key=KEY).input(LLAMA).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="model").value == LLAMA
    m = metrics(at)
    assert m["Total parameters"] == m["Parameters in the checkpoint"] == "8.03 B"
    assert m["Weights as published"] == "16.06 GB"
    assert at.query_params[KEY] == [LLAMA] or at.query_params[KEY] == LLAMA  # the link carries the id


def test_inference_memory_weights_are_the_checkpoint_bytes(fake):
    at = run("app_pages/inference_memory.py", {KEY: LLAMA, "model": LLAMA, "im_ovh": "0.0"})
    assert at.selectbox(key="im_w").value == AS_PUBLISHED
    assert metrics(at)["Weights per GPU"] == "16.06 GB"  # 16,060,522,496 bytes of BF16 tensors in the header
    assert any("as published" in str(c.value) for c in at.caption)


def test_gated_id_asks_for_a_token_that_never_leaks(fake):
    at = run("app_pages/inference_memory.py", {KEY: "meta-llama/gated"})
    assert any("is gated" in e.value and "licence" in e.value for e in at.sidebar.error)
    assert not [t for t in at.sidebar.text_input if t.key == TOKEN_BOX]  # its expander is closed: no box drawn
    at.session_state[TOKEN_PANEL] = True  # what opening the expander sets
    at.run()
    at.sidebar.text_input(key=TOKEN_BOX).input(SECRET).run()
    assert not at.exception and not at.sidebar.error
    assert at.sidebar.selectbox(key="model").value == "meta-llama/gated"
    assert metrics(at)["Weights per GPU"] == "16.06 GB"
    assert SECRET not in texts(at)  # not in the link, the share panel, an export's inputs or any message
    assert all(SECRET not in url for url in fake.urls())
    at.session_state[TOKEN_PANEL] = False  # closed again: the box goes, the token stays for the session
    at.run()
    assert not at.exception and not at.sidebar.error
    assert not [t for t in at.sidebar.text_input if t.key == TOKEN_BOX]
    assert metrics(at)["Weights per GPU"] == "16.06 GB" and SECRET not in texts(at)
    at.session_state[TOKEN_PANEL] = True  # reopened: the box shows the session's token again
    at.run()
    assert at.sidebar.text_input(key=TOKEN_BOX).value == SECRET


def test_unmodelled_id_still_gets_exact_weights(fake):
    at = run("app_pages/models.py", {KEY: "org/novel"})
    assert any("architecture not modelled" in c.value for c in at.sidebar.caption)
    assert metrics(at)["Parameters in the checkpoint"]  # shown although the sidebar model stays a preset
    assert at.sidebar.selectbox(key="model").value != "org/novel"


def test_bad_ids_get_one_sentence(fake):
    for text, needle in (("../../etc/passwd", "not valid"), ("org/does-not-exist", "was not found")):
        at = run("app_pages/home.py", {KEY: text})
        assert any(needle in e.value for e in at.sidebar.error), text


def test_gguf_repository_files_on_the_quantization_page(fake):
    at = run("app_pages/quantization.py", {KEY: "org/tiny-GGUF"})
    tables = [df.value for df in at.dataframe if "predicted (bytes)" in df.value.columns]
    assert len(tables) == 1
    rows = tables[0].set_index("file")
    assert list(rows.index) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    assert rows.loc["tiny-Q8_0.gguf", "file type"] == "Q8_0" and rows.loc["tiny-Q8_0.gguf", "fits"] == "yes"


def test_share_panel_says_an_uploaded_model_does_not_travel(fake):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    spec = ModelSpec.from_hf_config({**TINY_LLAMA, "_name_or_path": "org/tiny"}, name="config (uploaded)")
    at.session_state["custom_models"] = {spec.name: spec}
    at.session_state["share_models"] = True  # the share panel open: it is built only then
    at.query_params["model"] = spec.name
    at.run()
    at.switch_page("app_pages/models.py")
    at.run()
    assert not at.exception
    note = " ".join(w.value for w in at.warning)
    assert "does not travel with the link" in note and "org/tiny" in note
    assert any("hf=org%2Ftiny" in str(c.value) for c in at.code)


def test_models_page_reads_the_first_mb_of_an_uploaded_safetensors(fake, files):
    """Item 5: the first MB of Llama-3-8B's 16 GB model.safetensors (a `head -c 1M`) is enough: the header gives
    8,030,261,248 parameters and 16,060,522,496 bytes, the same as our count from the preset's config."""
    with open(files["big"], "rb") as fh:
        head = fh.read(1 << 20)
    at = run("app_pages/models.py", {"model": "Meta-Llama-3-8B"})
    (up,) = [u for u in at.file_uploader if u.key == "st_upload"]
    up.set_value([("part.safetensors", head, "application/octet-stream")])
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    m = metrics(at)
    assert m["Parameters in the checkpoint"] == m["Our count from the config"] == "8.03 B"
    assert m["Weights as published"] == "16.06 GB" and not at.warning  # no mismatch to report
    # a piece cut inside the header is refused with one sentence naming the bytes it needs
    next(u for u in at.file_uploader if u.key == "st_upload").set_value(
        [("cut.safetensors", head[:1000], "application/octet-stream")])
    at.run()
    assert not at.exception and any("truncated safetensors header" in e.value for e in at.error), [e.value for e in at.error]


def test_unmodelled_repo_is_marked_on_the_models_page(fake):
    """Item 5: an architecture we do not model gets exact weights from its headers, marked "architecture not
    modelled: no KV cache or activation estimate" with the reason whole (it was cut mid-word at 200 characters)."""
    at = run("app_pages/models.py", {KEY: "org/novel"})
    shown = [plain_text(e.value).replace("\u2060", "") for e in at.info]  # md() joins ":" to the word before
    marked = [t for t in shown if t.startswith("architecture not modelled: no KV cache or activation estimate (")]
    assert marked and marked[0].endswith("'ZzzNovelForCausalLM' is not supported (not modelled here; "
                                         f"{len(SUPPORTED_ARCHITECTURES)} are: python -m calc models "
                                         "--architectures))"), shown
    assert metrics(at)["Parameters in the checkpoint"] == "1.33 M"  # TINY_LLAMA's headers
    side = [plain_text(c.value).replace("\u2060", "") for c in at.sidebar.caption if "org/novel" in c.value]
    assert side == ["org/novel: architecture not modelled: no KV cache or activation estimate. "
                    "The Models page shows its exact weights."]


def _fp8_llama3_8b(path):
    """Meta-Llama-3-8B stored the way Qwen3-FP8 / DeepSeek-V3 publish: every projection F8_E4M3 with one F32
    weight_scale_inv per 128 x 128 block; embeddings, head and norms BF16 (a header over a sparse hole).
    Returns (file, expected tensor bytes, expected parameters) computed from the shapes written."""
    import math

    from tests.hub_fake import sparse_safetensors
    from tests.test_checkpoint import LLAMA3_8B, llama_checkpoint_shapes

    tensors, nbytes, params = {}, 0, 0
    for name, (_, shape) in llama_checkpoint_shapes(LLAMA3_8B).items():
        n = math.prod(shape)
        params += n
        if name.endswith("proj.weight"):
            scales = (math.ceil(shape[0] / 128), math.ceil(shape[1] / 128))
            tensors[name], tensors[name + "_scale_inv"] = ("F8_E4M3", shape), ("F32", scales)
            nbytes += n + 4 * math.prod(scales)
        else:
            tensors[name] = ("BF16", shape)
            nbytes += 2 * n
    return sparse_safetensors(path, tensors), nbytes, params


def test_fp8_checkpoint_shown_with_its_quantization_and_weighed_as_published(fake, tmp_path):
    """Item 2: a quantized checkpoint read as stored (FP8 weights and their block scales), its
    quantization_config shown on the Models page, and the Inference memory page weighing these bytes."""
    import json

    from tests.hub_fake import FakeRepo
    from tests.test_checkpoint import LLAMA3_8B

    qc = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
    path, nbytes, params = _fp8_llama3_8b(tmp_path / "model.safetensors")
    assert params == 8_030_261_248  # REFERENCE.md
    fake.repos["org/Llama-3-8B-FP8"] = FakeRepo({"config.json": json.dumps({**LLAMA3_8B, "quantization_config": qc})
                                                 .encode(), "model.safetensors": path})
    at = run("app_pages/models.py", {KEY: "org/Llama-3-8B-FP8"})
    m = metrics(at)
    assert m["Parameters in the checkpoint"] == m["Our count from the config"] == "8.03 B"
    assert m["Weights as published"] == f"{nbytes / 1e9:.2f} GB" and not at.warning
    assert any("fp8" in c.value and "Quantization" in c.value for c in at.caption)
    assert any(json.loads(c.value) == qc for c in at.code if c.language == "json")
    at = run("app_pages/inference_memory.py", {KEY: "org/Llama-3-8B-FP8", "model": "org/Llama-3-8B-FP8",
                                               "im_ovh": "0.0"})
    assert at.selectbox(key="im_w").value == AS_PUBLISHED
    assert metrics(at)["Weights per GPU"] == f"{nbytes / 1e9:.2f} GB"  # not 16.06 GB of BF16


def test_sidebar_id_with_revision(fake):
    """Item 1: ``org/name@revision`` in the sidebar (and so in a link) reads that revision."""
    sha = fake.repos[LLAMA].sha
    at = run("app_pages/models.py", {KEY: f"{LLAMA}@{sha}"})
    at.sidebar.text_input(key=KEY).input(f"{LLAMA}@{sha}").run()
    assert at.sidebar.selectbox(key="model").value == f"{LLAMA}@{sha}"
    assert metrics(at)["Parameters in the checkpoint"] == "8.03 B"
    assert any(u.startswith(f"/api/models/{LLAMA}/revision/{sha}") for u in fake.urls())
    assert not any(u.startswith(f"/api/models/{LLAMA}?") for u in fake.urls())  # never the default branch


def test_repo_without_safetensors_says_so_in_the_sidebar(fake):
    """A repository with a config.json and no safetensors files: counts from the config, and the sidebar says
    exactly that (it said "architecture from its files")."""
    import json

    from tests.hub_fake import FakeRepo

    fake.repos["org/config-only"] = FakeRepo({"config.json": json.dumps(TINY_LLAMA).encode()})
    at = run("app_pages/models.py", {KEY: "org/config-only"})
    assert [plain_text(c.value) for c in at.sidebar.caption if "org/config-only" in c.value] == [
        "org/config-only: no safetensors files: counts from the config only"]
    assert at.sidebar.selectbox(key="model").value == "org/config-only"
