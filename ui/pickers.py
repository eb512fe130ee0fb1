"""The shared frame: one model, one GPU and one unit system, picked in the sidebar on every page.

The choice lives in ``st.session_state`` (and the URL), so every page reads the same model and GPU.
Uploaded ``config.json`` files and models loaded by their Hugging Face id (``ui.hub_model``) become models of
this session (``custom_models``).
"""

from __future__ import annotations

import streamlit as st

from calc.cli.common import parse_config_bytes
from calc.gpus import GPUS, get_gpu
from calc.models import ModelSpec
from calc.presets import PRESETS, get_preset
from ui import custom_gpu, hub_model, state, text

DEFAULT_MODEL = "Meta-Llama-3-8B"
DEFAULT_GPU = "H100 SXM"
CUSTOM = "custom_models"
_PENDING = "_select_model_next_run"


def custom_models() -> dict[str, ModelSpec]:
    return st.session_state.setdefault(CUSTOM, {})


def model_names() -> list[str]:
    return list(PRESETS) + list(custom_models())


def spec_for(name: str) -> ModelSpec:
    """A preset or an uploaded model of this session."""
    return custom_models()[name] if name in custom_models() else get_preset(name)


def sidebar() -> None:
    """Render the shared pickers; called by ``app.py`` before the page runs."""
    pending = st.session_state.pop(_PENDING, None)
    if pending in model_names():
        st.session_state["model"] = pending
    with st.sidebar:
        st.caption("Shared by every page")
        hub_model.sidebar_input(custom_models())
        state.select("Model", "model", model_names(), DEFAULT_MODEL, where=st,
                     help="A preset (config fields copied from its Hugging Face config.json), a model loaded by its "
                          "Hugging Face id above, or a config you uploaded on the Models page. Every page uses this "
                          "model.")
        gpu = state.select("GPU", "gpu", [*GPUS, custom_gpu.LABEL], DEFAULT_GPU, where=st, filter_mode="contains",
                           help="Accelerator from the catalog (memory as the device reports it; dense peaks; "
                                "`python -m calc gpus` lists sources), or the last entry, Custom GPU, to type "
                                "in your own.")
        state.select("Units", "units", ["GB", "GiB"], "GB", radio=True, where=st,
                     help="GB = 10^9 bytes (vendors, papers); GiB = 2^30 bytes (nvidia-smi MiB, OS tools).")
        if gpu == custom_gpu.LABEL:
            custom_gpu.inputs(where=st)


def current_model() -> ModelSpec:
    return spec_for(st.session_state.get("model", DEFAULT_MODEL))


def current_checkpoint():
    """The checkpoint as published (``calc.checkpoint.Checkpoint``) of the sidebar model, when it came from the Hub."""
    return hub_model.checkpoint_for(st.session_state.get("model", DEFAULT_MODEL))


def current_gpu():
    name = st.session_state.get("gpu", DEFAULT_GPU)
    return custom_gpu.current() if name == custom_gpu.LABEL else get_gpu(name)


def add_model(spec: ModelSpec, select: bool = True) -> None:
    """Add ``spec`` to this session's models; with ``select`` it becomes the sidebar model (one rerun)."""
    custom_models()[spec.name] = spec
    if select:
        st.session_state[_PENDING] = spec.name
        st.rerun()


def upload_config(uploaded) -> ModelSpec | None:
    """Parse an uploaded config.json (bounded, JSON only); show ``st.error`` on bad input.

    A newly added model becomes the sidebar's model: the script reruns once so the picker lists it.
    """
    try:
        cfg = parse_config_bytes(uploaded.getvalue())
        name = f"{uploaded.name.removesuffix('.json')[:40]} (uploaded)"
        spec = ModelSpec.from_hf_config(cfg, name=name, source=f"upload: {uploaded.name[:80]}")
    except ValueError as exc:
        st.error(f"{text.md(uploaded.name, 80)}: {text.md(exc, 1000)}")
        return None
    add_model(spec, select=spec.name not in custom_models())
    return spec
