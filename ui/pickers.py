"""The shared frame: one model, one GPU and one unit system, picked in the sidebar on every page.

The choice lives in ``st.session_state`` (and the URL), so every page reads the same model and GPU.
Uploaded ``config.json`` files and models loaded by their Hugging Face id (``ui.hub_model``) become models of
this session (``custom_models``).
"""

from __future__ import annotations

import json

import streamlit as st

from calc.cli.common import parse_config_bytes
from calc.gpus import GPUS, get_gpu
from calc.models import ModelSpec, param_counts
from calc.presets import PRESETS, get_preset, hf_id
from ui import custom_gpu, hub_model, state, text
from ui.session_names import session_spec

DEFAULT_MODEL = "Meta-Llama-3-8B"
DEFAULT_GPU = "H100 SXM"
CUSTOM = "custom_models"
_PENDING = "_select_model_next_run"
_UPLOADS = "_uploaded_config_ids"  # file id of the upload in the widget -> the model made of it
_FORGOTTEN = "_forgotten_config_ids"  # uploads the user asked to forget
MAX_SESSION_MODELS = 16
MAX_SESSION_MODEL_BYTES = 4_000_000


def custom_models() -> dict[str, ModelSpec]:
    return st.session_state.setdefault(CUSTOM, {})


def model_names() -> list[str]:
    """Presets, then this session's models (each name once: a preset's name is the preset)."""
    return list(PRESETS) + [n for n in custom_models() if n not in PRESETS]


#: Every preset's picker entry, made once (the sidebar's picker formats every option on every rerun of every page).
_PRESET_LABELS = {n: f"{n} · {hf_id(n)}" if hf_id(n) else n for n in PRESETS}


def model_label(name: str) -> str:
    """A picker entry: a preset shows its Hugging Face id too, so typing the id finds it. Names are unique: a
    model of this session never takes a preset's name (``ui.session_names``)."""
    return _PRESET_LABELS.get(name, name)


def spec_for(name: str) -> ModelSpec:
    """A preset or an uploaded model of this session (a preset's name is always the preset: asked first, it costs
    no session-state access)."""
    if name in PRESETS:
        return get_preset(name)
    models = custom_models()
    return models[name] if name in models else get_preset(name)


def sidebar() -> None:
    """Render the shared pickers; called by ``app.py`` before the page runs."""
    pending = st.session_state.pop(_PENDING, None)
    if pending in model_names():
        st.session_state["model"] = pending
    with st.sidebar:
        st.caption("Shared by every page")
        hub_model.sidebar_input(custom_models())
        state.select("Model", "model", model_names(), DEFAULT_MODEL, where=st, format_func=model_label,
                     help="A preset (config fields copied from its Hugging Face config.json; type its name or its "
                          "Hugging Face id, e.g. meta-llama/Llama-3.1-8B, to find it), a model loaded by its "
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


def model_or_parameter_count(prefix: str, source_help: str, count_help: str, describe) -> ModelSpec | int:
    """The memory pages' "Model" choice (``?<prefix>_src=``): the sidebar model, shown in a caption as its name,
    exact parameter count and ``describe(model)``; or a typed total parameter count in billions (``?<prefix>_pb=``)
    for the rules of thumb. Returns the ``ModelSpec``, or the count as an ``int``."""
    source = state.select("Model", f"{prefix}_src", ["sidebar model", "parameter count only"], "sidebar model",
                          radio=True, help=source_help)
    if source == "sidebar model":
        model = current_model()
        st.caption(f"{text.md(model.name)}: {param_counts(model).total:,} parameters, {describe(model)}")
        return model
    return int(round(state.number("Parameters (billions)", f"{prefix}_pb", 7.0, 0.001, 1e6, step=1.0, fmt="%.3f",
                                  help=count_help) * 1e9))


def current_checkpoint():
    """The checkpoint as published (``calc.checkpoint.Checkpoint``) of the sidebar model, when it came from the Hub."""
    return hub_model.checkpoint_for(st.session_state.get("model", DEFAULT_MODEL))


def current_gpu():
    name = st.session_state.get("gpu", DEFAULT_GPU)
    return custom_gpu.current() if name == custom_gpu.LABEL else get_gpu(name)


def model_bytes(spec: ModelSpec) -> int:
    """What a session keeps of an added model: its config as JSON text (Python holds about 10-20x that)."""
    return len(json.dumps(spec.hf_config, default=str)) if spec.hf_config else 0


def add_model(spec: ModelSpec, select: bool = True) -> bool:
    """Add ``spec`` to this session's models; with ``select`` it becomes the sidebar model (one rerun).

    A session keeps at most ``MAX_SESSION_MODELS`` added models and ``MAX_SESSION_MODEL_BYTES`` of their configs
    (20 uploads used to add 416 MB to the server, issue 20): past either, ``st.error`` says so and nothing is
    added (returns False). A ``spec`` named like a preset is added as ``"<name> (added)"``.
    """
    spec = session_spec(spec, "added")
    models = custom_models()
    others = {n: s for n, s in models.items() if n != spec.name}
    used = sum(model_bytes(s) for s in others.values())
    if len(others) >= MAX_SESSION_MODELS:
        st.error(f"This session already holds {len(others)} added models, the most it keeps; "
                 "forget them on the Models page to add others.")
        return False
    if used + model_bytes(spec) > MAX_SESSION_MODEL_BYTES:
        st.error(f"The added models' configs would take {used + model_bytes(spec):,} bytes, above the "
                 f"{MAX_SESSION_MODEL_BYTES:,} a session keeps; forget them on the Models page to add others.")
        return False
    models[spec.name] = spec
    if select:
        st.session_state[_PENDING] = spec.name
        st.rerun()
    return True


def forget_models() -> None:
    """Drop this session's added models (the sidebar falls back to the default model)."""
    if st.session_state.get("model") in custom_models():
        st.session_state[_PENDING] = DEFAULT_MODEL  # applied by the sidebar on the next run
    st.session_state[CUSTOM] = {}
    # the file still sitting in the uploader is not added again on the next run
    st.session_state.setdefault(_FORGOTTEN, set()).update(st.session_state.pop(_UPLOADS, {}))


def upload_config(uploaded) -> ModelSpec | None:
    """Parse an uploaded config.json (bounded, JSON only); show ``st.error`` on bad input.

    A newly added model becomes the sidebar's model: the script reruns once so the picker lists it. An upload
    is parsed once: while it stays in the uploader, later runs of the page reuse the model.
    """
    if uploaded.file_id in st.session_state.get(_FORGOTTEN, ()):
        return None
    done = st.session_state.setdefault(_UPLOADS, {})
    if uploaded.file_id in done and done[uploaded.file_id] in custom_models():
        return custom_models()[done[uploaded.file_id]]
    try:
        cfg = parse_config_bytes(uploaded.getvalue())
        name = f"{uploaded.name.removesuffix('.json')[:40]} (uploaded)"
        spec = ModelSpec.from_hf_config(cfg, name=name, source=f"upload: {uploaded.name[:80]}")
    except ValueError as exc:
        st.error(f"{text.md(uploaded.name, 80)}: {text.md(exc, 1000)}")
        st.stop()  # the sidebar model's numbers below would read as this file's (issue 12 item 7)
    done.clear()  # one upload widget: only its current file is remembered
    done[uploaded.file_id] = spec.name
    if not add_model(spec, select=spec.name not in custom_models()):
        return None
    return spec
