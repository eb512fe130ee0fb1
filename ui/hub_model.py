"""Models by their Hugging Face id: the sidebar's id input (bound to the URL, so a shared link carries the id
and the recipient's server fetches the same model), a session-only token field, and the views of what the
headers say (the checkpoint as published, a GGUF repository's files).

The token typed here lives in this session's state only: it is not a ``ui.state`` input, so it never reaches
the URL, a scenario or an export, and it is passed to ``hub`` (which sends it in a header) and nowhere else.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import hub
from calc.checkpoint import Checkpoint
from calc.gguf_compare import compare_file
from calc.gguf_run import RunSetup
from calc.models import ModelSpec, param_counts
from ui import format as fmt
from ui import state
from ui.session_names import session_name, session_spec
from ui.text import md

KEY = "hf"  # the URL parameter
TOKEN = "_hf_token"  # noqa: S105 (a session-state key, not a secret): session only, never in the URL
TOKEN_BOX = "_hf_token_box"  # noqa: S105 the password box (a widget: its state goes whenever it is not drawn)
TOKEN_PANEL = "_hf_token_open"  # noqa: S105 the token expander's open state
_MODELS = "_hub_models"  # model name -> hub.HubModel, this session's look-ups
_SEEN = "_hub_seen"  # the id last acted on (a newly typed id selects its model once)
_LINK = "_hub_link"  # (hf, model) as the link gave them when the session started
HUB_TAG = "Hub"  # "<id> (Hub)" in the model picker where a preset has the id's name
AS_PUBLISHED = "as published"  # the Inference memory page's weight format that uses the checkpoint's bytes


def loaded() -> dict[str, hub.HubModel]:
    return st.session_state.setdefault(_MODELS, {})


def token() -> str | None:
    return (st.session_state.get(TOKEN) or "").strip() or None


def _keep_token() -> None:
    st.session_state[TOKEN] = st.session_state.get(TOKEN_BOX) or ""


def sidebar_input(custom_models: dict[str, ModelSpec]) -> None:
    """The id input and the token field; on a new id, fetch it (cached across sessions) and make it the
    sidebar model. Call before the model picker is drawn (it then lists the new model)."""
    if _LINK not in st.session_state:  # before the pickers write their defaults into the URL
        st.session_state[_LINK] = (st.query_params.get(KEY), st.query_params.get("model"))
    text = state.text("Hugging Face model id", KEY, "", max_chars=240, where=st,
                      help="org/name, optionally @revision (a branch, tag or commit), e.g. meta-llama/Llama-3.1-8B. "
                           "Reads config.json and the safetensors (or GGUF) headers by range requests, never the "
                           "weights, and gives the exact parameters and bytes as published. The link carries the id, "
                           "so whoever opens it sees the same model.").strip()
    # The token box is drawn only while its expander is open (opening it reruns the page): closed, it cost every
    # rerun of every page an expander and a text input, ~2% of the server's CPU under bench/load.py -n 50 (py-spy,
    # issue 18). The token itself lives in plain session state (TOKEN), which stays while the box is not drawn.
    panel = st.expander("Token for gated or private models", icon=":material/key:", key=TOKEN_PANEL,
                        on_change="rerun")
    if panel.open:
        with panel:
            st.text_input("Hugging Face token", type="password", key=TOKEN_BOX, max_chars=200,
                          value=st.session_state.get(TOKEN, ""), on_change=_keep_token,
                          help="Used for this session only: never put in the link, a scenario, an export or a log. "
                               "Without it the server's HF_TOKEN or `hf auth login` token is used, if any.")
    if not text:
        st.session_state[_SEEN] = ""
        return
    try:
        with st.spinner("Reading the Hub..."):
            found = hub.resolve(text, token=token())
    except ValueError as exc:
        st.error(md(exc, 400))
        if "is gated" in str(exc):
            ref = hub.parse_repo_ref(text)
            st.link_button("Open the model page to accept its licence", f"{hub.settings().endpoint}/{ref.repo_id}")
        return
    name = session_name(found.name, HUB_TAG)  # an id may be a preset's name: the picker lists both
    loaded()[name] = found
    if found.spec is not None:
        custom_models[name] = session_spec(found.spec, HUB_TAG)
        link_hf, link_model = st.session_state[_LINK]
        # a newly typed id selects its model; the link's own ``model=`` wins for the link's id
        if st.session_state.get(_SEEN) != text and not (text == (link_hf or "").strip() and link_model):
            st.session_state["model"] = name
        what = (f"{found.checkpoint.parameters:,} parameters as published" if found.checkpoint
                else "architecture from its GGUF metadata" if found.snapshot.gguf and found.snapshot.config is None
                else "no safetensors files: counts from the config only")
        st.caption(f"{md(found.name)}: {what}")
    else:
        short = found.note.split(" (", 1)[0]  # the reason in full is on the Models page
        st.caption(f"{md(found.name)}: {md(short, 300)}. The Models page shows its exact weights.")
    st.session_state[_SEEN] = text


def hub_model_for(name: str) -> hub.HubModel | None:
    return loaded().get(name)


def checkpoint_for(name: str) -> Checkpoint | None:
    found = hub_model_for(name)
    return found.checkpoint if found is not None else None


def current_hub_model() -> hub.HubModel | None:
    """The model of the id in the sidebar (modelled or not), if one is loaded."""
    text = (st.session_state.get(KEY) or "").strip()
    if not text:
        return None
    try:
        ref = hub.parse_repo_ref(text)
    except ValueError:
        return None
    return loaded().get(session_name(str(ref), HUB_TAG))


# ----- views ---------------------------------------------------------------------------------------
def checkpoint_section(ckpt: Checkpoint, spec: ModelSpec | None, note: str | None, title: str) -> None:
    """Exact parameters and bytes as published beside our count from the architecture; a mismatch is shown."""
    st.subheader(f"Checkpoint as published: {md(title, 120)}")
    ours = param_counts(spec).total if spec is not None else None
    c1, c2, c3 = st.columns(3)
    c1.metric("Parameters in the checkpoint", fmt.count(ckpt.parameters), help=f"{ckpt.parameters:,} exactly, "
              "from the headers (packed values unpacked; scales, zero points and buffers not counted)")
    c2.metric("Weights as published", fmt.size(ckpt.bytes), help=f"{ckpt.bytes:,} bytes of tensors in "
              f"{len(ckpt.files)} file(s)" + (f"; files {ckpt.file_bytes:,} bytes with headers" if ckpt.file_bytes
                                              else ""))
    if ours is not None:
        diff = ckpt.parameters - ours
        c3.metric("Our count from the config", fmt.count(ours), delta=None if diff == 0 else f"{diff:+,} in the file",
                  delta_color="off", help=f"{ours:,}: calc.models on the config's architecture")
        if diff:
            beyond = ckpt.parameters_beyond_layer(spec.num_layers)
            why = (f" {beyond:,} of them sit in layers numbered {spec.num_layers} and up (e.g. a multi-token-"
                   "prediction layer the config's num_hidden_layers leaves out)." if beyond else "")
            st.warning(f"The checkpoint holds {diff:+,} parameters against our count from the config.{why} "
                       "The groups below show where.")
    if note:
        st.info(md(note, 500))
    rows = [{"stored dtype": k, "parameters": v.parameters, "bytes": v.bytes, fmt.unit(): fmt.size_value(v.bytes),
             "tensors": v.tensors} for k, v in ckpt.by_dtype.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"parameters": st.column_config.NumberColumn(format="localized"),
                                "bytes": st.column_config.NumberColumn(format="localized"),
                                fmt.unit(): st.column_config.NumberColumn(format="%.3f")})
    if ckpt.method or ckpt.quantization:
        st.caption(f"Quantization: **{md(ckpt.method or 'none found')}**: {ckpt.quantized_parameters:,} parameters "
                   f"stored below 16 bits; scales, zero points and indices {ckpt.scale_bytes:,} bytes.")
        if ckpt.quantization:
            st.code(json.dumps(ckpt.quantization, indent=1)[:4000], language="json")
    groups = pd.DataFrame([{"tensor group": k, "parameters": v} for k, v in list(ckpt.by_group.items())[:20]])
    with st.expander("Where the parameters are (by tensor-name prefix)"):
        st.dataframe(groups, hide_index=True, width="stretch",
                     column_config={"parameters": st.column_config.NumberColumn(format="localized")})
        if ckpt.buffers:
            st.caption(f"Plus {ckpt.buffers:,} stored buffer values (causal masks, rotary frequencies, router "
                       "biases): in the file, not parameters.")
        for n in ckpt.notes:
            st.caption(md(n, 300))


def gguf_section(found: hub.HubModel, setup: RunSetup, gpu) -> None:
    """Every GGUF model of the repository: real size, file type, our prediction, the difference, and whether it
    runs on ``gpu`` at ``setup`` with its KV cache (on the file's real tensor bytes)."""
    snap = found.snapshot
    st.subheader(f"GGUF files of {md(found.name, 120)}")
    st.caption("Sizes from the Hub's file listing (split files summed as one model); each header read by range "
               "requests through the same reader as uploads; predicted = llama.cpp's rules on the architecture "
               "the header describes (payload exact, header estimated).")

    tok = token()  # read here: the worker threads have no Streamlit context

    def one(entry):
        try:
            return compare_file(entry.name, entry.size_bytes, hub.gguf_header(snap, entry, tok), setup, gpu)
        except ValueError as exc:
            return {"file": entry.name, "size_bytes": entry.size_bytes, "error": str(exc)}

    with st.spinner(f"Reading {len(snap.gguf)} GGUF header(s)..."), ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(one, snap.gguf))
    table = []
    for r in rows:
        run = r.get("run") or {}
        table.append({"file": r["file"], "file type": r.get("file_type"), "size (bytes)": r.get("size_bytes"),
                      "predicted (bytes)": r.get("predicted_bytes"), "difference (bytes)": r.get("difference_bytes"),
                      f"run memory ({fmt.unit()})": fmt.size_value(run["total_bytes"]) if run else None,
                      "fits": ("yes" if run.get("fits") else run.get("placement", "")) if run else "",
                      "note": r.get("error") or r.get("note") or ""})
    df = pd.DataFrame(table)
    st.dataframe(df, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="localized")
                                for c in ("size (bytes)", "predicted (bytes)", "difference (bytes)")})
    st.download_button("Download CSV", fmt.csv(df), file_name="gguf_files.csv", mime="text/csv", key="gguf_hub_csv")


def share_note(page: str) -> None:
    """Tell the sender what a link carries: a Hub id travels; an uploaded model does not (offer its id if the
    config names one)."""
    name = st.session_state.get("model")
    customs = st.session_state.get("custom_models", {})
    found = hub_model_for(name) if name else None
    if found is not None:
        pin = (f" It was read at commit `{found.snapshot.sha[:12]}`: add `@{found.snapshot.sha}` to the id to pin "
               "that commit." if found.snapshot.sha and not found.snapshot.revision else "")
        # ids and commits are validated (letters, digits, - _ . / @): safe inside a code span as they are
        st.caption(f"The link carries the Hub id `{found.name}`: the recipient's server fetches the same model "
                   f"(a gated one needs their own token).{pin}")
        return
    if name not in customs:
        return
    spec = customs[name]
    msg = (f"**{md(name)}** was uploaded in this session: it does not travel with the link, and whoever opens it "
           "sees the default model instead.")
    candidate = spec.hf_config.get("_name_or_path") if isinstance(spec.hf_config, dict) else None
    try:
        ref = hub.parse_repo_ref(candidate) if isinstance(candidate, str) and "/" in candidate else None
    except ValueError:
        ref = None
    if ref is None:
        st.warning(msg + " Load it by its Hugging Face id in the sidebar to share it.")
        return
    st.warning(msg + f" Its config names the Hub id `{ref}`: this link loads that instead.")
    params = {k: str(v) for k, v in st.query_params.to_dict().items()}
    params.update({KEY: str(ref), "model": session_name(str(ref), HUB_TAG)})
    st.code(f"/{page}?" + urlencode(params), language=None)


def models_page_section(spec: ModelSpec) -> None:
    """The Models page: the checkpoint of the sidebar model or of the id in the sidebar (even when its
    architecture is not modelled), and an upload of safetensors headers compared with the sidebar model."""
    found = hub_model_for(spec.name) or current_hub_model()
    if found is not None and found.checkpoint is not None:
        checkpoint_section(found.checkpoint, found.spec, found.note, found.name)
    elif found is not None and found.note:
        st.info(f"{md(found.name)}: {md(found.note, 300)}")
    files = st.file_uploader("Checkpoint headers: .safetensors files (every shard) or their first MB",
                             type=["safetensors"], accept_multiple_files=True, key="st_upload",
                             help="Only the header of each file is read (JSON, at most 25 MB); `head -c 1M "
                                  "model.safetensors > part.safetensors` is enough. The exact parameters and bytes as "
                                  "published are shown beside the sidebar model's count.")
    if not files:
        return
    from calc.checkpoint import parse_safetensors_header, summarize

    try:
        headers = [parse_safetensors_header(f.getvalue(), f.name[:120]) for f in files]
        ckpt = summarize(headers, spec.hf_config if isinstance(spec.hf_config, dict) else None)
    except ValueError as exc:
        st.error(md(exc, 400))
        return
    checkpoint_section(ckpt, spec, None, f"{len(files)} uploaded file(s) beside {spec.name}")
