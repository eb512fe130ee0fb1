"""The app's pages, in navigation order, with the question each answers (the home page lists them)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

#: The page icon (ui/icon.png, 319 bytes) as a data URL, read once per process. A file path made
#: ``st.set_page_config`` open, decode and register the image with the media file manager on every rerun of
#: every session (0.8 ms of the trivial page's 10 ms, bench/bench_pages.py); Streamlit passes a data URL through
#: as it is, and the browser needs no request for it (no CDN either: issue 17 item 14).
ICON_URL = "data:image/png;base64," + base64.b64encode((Path(__file__).parent / "icon.png").read_bytes()).decode()


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to the repository root
    title: str
    url_path: str  # "" for the home page
    icon: str
    question: str
    section: str


PAGES: tuple[PageInfo, ...] = (
    PageInfo("app_pages/home.py", "Home", "", ":material/home:", "Where do I start?", "Start"),
    PageInfo("app_pages/models.py", "Models", "models", ":material/account_tree:",
             "How many parameters does this model have, where are they, and how do models compare?", "Models"),
    PageInfo("app_pages/training_memory.py", "Training memory", "training-memory", ":material/memory:",
             "Will training this model fit, on how many GPUs, and what takes the memory?", "Memory"),
    PageInfo("app_pages/inference_memory.py", "Inference memory", "inference-memory", ":material/storage:",
             "Will serving this model fit, with what batch, context and weight format?", "Memory"),
    PageInfo("app_pages/quantization.py", "Quantization (GGUF)", "quantization", ":material/compress:",
             "Which GGUF quant of this model fits my GPU at my context, and what does each one cost?", "Memory"),
    PageInfo("app_pages/compute.py", "Compute and cost", "compute", ":material/schedule:",
             "How many FLOPs, GPU-hours, days, dollars and kWh does a training run take?", "Compute & scaling"),
    PageInfo("app_pages/scaling.py", "Scaling laws", "scaling", ":material/trending_up:",
             "What model and token count does a compute budget buy, and what loss will it reach?", "Compute & scaling"),
    PageInfo("app_pages/dtypes.py", "Number formats", "dtypes", ":material/calculate:",
             "What do fp32, bf16, fp16, fp8, int8, int4, nf4 and FP4 (MXFP4, NVFP4) cost in bytes, range and precision?", "Reference"),
    PageInfo("app_pages/methodology.py", "Methodology", "methodology", ":material/menu_book:",
             "Where does each formula come from, and which test checks it?", "Reference"),
    PageInfo("app_pages/validation.py", "Validation", "validation", ":material/fact_check:", "How far is each formula from what PyTorch actually allocates?", "Reference"),
    PageInfo("app_pages/scenarios.py", "Scenarios", "scenarios", ":material/compare_arrows:",
             "How do the setups I saved compare, and how do I send them to a colleague?", "Share"),
    PageInfo("app_pages/benchmark.py", "Benchmark", "benchmark", ":material/speed:",
             "What matmul TFLOPS and memory bandwidth does my own hardware really reach?", "Hardware"),
    PageInfo("app_pages/planner.py", "Cluster planner", "planner", ":material/hub:",
             "Which tp/pp/dp/cp layout trains this model fastest on my cluster, and at what MFU?", "Compute & scaling"),
    PageInfo("app_pages/serving.py", "Serving planner", "serving", ":material/dns:",
             "How many tokens of KV cache will vLLM give me, how many users fit, and how many GPUs for my load?",
             "Hardware"),
    PageInfo("app_pages/speed.py", "Inference speed", "speed", ":material/bolt:",
             "How fast is the first token, how many tokens/s per sequence, and how does batching help?", "Hardware"),
)


#: ``st.Page`` objects for ``st.page_link``, made once per (page, main script): see ``page``.
_LINK_PAGES: dict[tuple[str, str], object] = {}


def page(path: str):
    """The ``st.Page`` of ``path`` (a ``PageInfo.path``), as ``app.py`` registers it, for ``st.page_link``.

    ``st.page_link("app_pages/x.py")`` resolves the path on every call (``os.path.realpath`` of the main script's
    folder joined with it, then a scan of the registered pages): about 40% of the call, and Home draws 16 links
    (py-spy, issue 18). Given the ``Page`` it only checks that it is the page registered under its URL path; the link
    sent is the same (tests/test_page_links.py). Made once per process and main script (the bench's copy of app.py is
    another one), inside a script run (``st.Page`` resolves its file against the running main script)."""
    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    key = (path, ctx.main_script_path if ctx is not None else "")
    found = _LINK_PAGES.get(key)
    if found is None:
        info = next(i for i in PAGES if i.path == path)
        found = _LINK_PAGES[key] = st.Page(info.path, title=info.title, icon=info.icon,
                                           url_path=info.url_path or None, default=info.url_path == "")
    return found
