"""The sidebar model picker (``ui.pickers``) when a model of this session has a preset's name (Streamlit AppTest
through app.py, against the fake Hub of tests/hub_fake.py).

A Hub id may have a single part (the Hub's legacy ids, e.g. ``gpt2``; ``hub.ids`` accepts them), so an id can be
exactly a preset's name. The picker then listed the name twice and its labels could not tell the two apart: the
AppTest run raised (the formatted value was not among the options) and only one of the two could ever be chosen.
Both must stay reachable, each with its own numbers.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from calc.presets import PRESETS
from tests.apptest_helpers import open_page
from tests.hub_fake import FakeRepo, serve_for_this_process, sparse_safetensors
from ui.hub_model import KEY

PRESET = "Llama-2-7B"
#: A two-layer Llama: 64 wide, 4 heads, MLP 128, vocabulary 256, untied head.
TINY = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 128, "vocab_size": 256,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "max_position_embeddings": 2048}
#: Its tensors as transformers' LlamaForCausalLM names them, counted by hand: embeddings and head 256 x 64 each,
#: per layer q, k, v, o 64 x 64, gate and up 128 x 64, down 64 x 128, two norms of 64; the final norm 64.
TINY_TENSORS = {"model.embed_tokens.weight": ("BF16", (256, 64)), "lm_head.weight": ("BF16", (256, 64)),
                "model.norm.weight": ("BF16", (64,))}
for _i in range(2):
    _p = f"model.layers.{_i}."
    TINY_TENSORS.update({_p + f"self_attn.{x}_proj.weight": ("BF16", (64, 64)) for x in "qkvo"})
    TINY_TENSORS.update({_p + "mlp.gate_proj.weight": ("BF16", (128, 64)), _p + "mlp.up_proj.weight": ("BF16", (128, 64)),
                         _p + "mlp.down_proj.weight": ("BF16", (64, 128)),
                         _p + "input_layernorm.weight": ("BF16", (64,)),
                         _p + "post_attention_layernorm.weight": ("BF16", (64,))})
TINY_PARAMS = 2 * 256 * 64 + 64 + 2 * (4 * 64 * 64 + 3 * 128 * 64 + 2 * 64)  # 115,008


@pytest.fixture()
def hub_with_preset_name(tmp_path, monkeypatch):
    """A fake Hub holding a single-part repository named exactly like a preset."""
    st_file = sparse_safetensors(tmp_path / "model.safetensors", TINY_TENSORS)
    repos = {PRESET: FakeRepo({"config.json": json.dumps(TINY).encode(), "model.safetensors": st_file})}
    yield from serve_for_this_process(repos, tmp_path / "hf-home", monkeypatch)


def total_parameters(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Total parameters"]


def test_hub_id_named_like_a_preset_keeps_both_in_the_picker(hub_with_preset_name):
    assert PRESET in PRESETS
    at = open_page("app_pages/models.py", {"model": PRESET}, timeout_s=90)
    assert total_parameters(at) == "6.74 B"  # Llama 2 7B: 6,738,415,616 parameters (its model card)
    at.sidebar.text_input(key=KEY).input(PRESET).run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.sidebar.selectbox(key="model")
    labels = box.options  # as shown (format_func applied)
    assert len(set(labels)) == len(labels), [x for x in labels if labels.count(x) > 1]
    # the typed id is the sidebar model: the tiny checkpoint's numbers, from its config and from its header
    m = {x.label: x.value for x in at.metric}
    assert m["Total parameters"] == m["Parameters in the checkpoint"] == "115.01 K" and TINY_PARAMS == 115_008
    assert PRESET in box.value and box.value != PRESET
    # the preset is still there, with its own numbers
    box.set_value(PRESET).run()
    assert not at.exception, [e.value for e in at.exception]
    assert total_parameters(at) == "6.74 B"



def test_link_to_the_hub_model_named_like_a_preset_opens_it(hub_with_preset_name):
    """A shared link carries the id and the picker's name for it: whoever opens it gets the Hub model, not the
    preset (and a link naming the preset gets the preset although the same id is loaded)."""
    at = open_page("app_pages/models.py", {KEY: PRESET, "model": f"{PRESET} (Hub)"}, timeout_s=90)
    assert not at.exception, [e.value for e in at.exception]
    m = {x.label: x.value for x in at.metric}
    assert m["Total parameters"] == m["Parameters in the checkpoint"] == "115.01 K"
    at = open_page("app_pages/models.py", {KEY: PRESET, "model": PRESET}, timeout_s=90)
    assert not at.exception, [e.value for e in at.exception]
    assert total_parameters(at) == "6.74 B"

def _add_model_script():
    """A page that adds a two-layer copy of Llama-2-7B, keeping the preset's name (as a caller of add_model may)."""
    import dataclasses  # AppTest.from_function runs this body alone: its imports are inside

    import streamlit as st

    from calc.presets import get_preset
    from ui import pickers

    pickers.sidebar()
    if st.button("add", key="add"):
        pickers.add_model(dataclasses.replace(get_preset("Llama-2-7B"), num_layers=2))
    spec = pickers.current_model()
    st.text(f"{spec.name}|{spec.num_layers}")


def test_added_model_named_like_a_preset_is_listed_apart():
    at = AppTest.from_function(_add_model_script, default_timeout=60)
    at.query_params["model"] = PRESET
    at.run()
    at.button(key="add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.sidebar.selectbox(key="model")
    assert len(set(box.options)) == len(box.options), [x for x in box.options if box.options.count(x) > 1]
    assert at.text[0].value == f"{PRESET} (added)|2"
    box.set_value(PRESET).run()
    assert at.text[0].value == f"{PRESET}|32"  # Llama 2 7B's config.json: num_hidden_layers 32


def test_session_state_entry_with_a_preset_name_does_not_double_the_list():
    """Code that writes ``custom_models`` directly (tests do) cannot make the picker list a name twice: the
    preset's name stays the preset."""
    import dataclasses

    from calc.presets import get_preset

    at = AppTest.from_function(_add_model_script, default_timeout=60)
    at.session_state["custom_models"] = {PRESET: dataclasses.replace(get_preset(PRESET), num_layers=2)}
    at.query_params["model"] = PRESET
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.sidebar.selectbox(key="model")
    assert len(set(box.options)) == len(box.options), [x for x in box.options if box.options.count(x) > 1]
    assert at.text[0].value == f"{PRESET}|32"


def test_model_labels_made_once_are_the_labels_made_per_call():
    """``model_label`` reads a table made at import (issue 18); the reference is the label made per call as before:
    a preset with a Hugging Face source shows its id, any other name shows as it is."""
    from calc.presets import PRESETS, hf_id
    from ui.pickers import model_label

    def per_call(name):
        repo = hf_id(name) if name in PRESETS else ""
        return f"{name} · {repo}" if repo else name

    for name in [*PRESETS, "config (uploaded)", "org/model", "Llama-3.1-8B (added)", ""]:
        assert model_label(name) == per_call(name), name
