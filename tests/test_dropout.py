"""Dropout read from the config (issue 12 item 5), held to what transformers and PyTorch do.

References: transformers' own config classes (their defaults) and real models on the CPU, whose saved
tensors ``validate.measure.SavedTensorCounter`` counts (``saved_tensors_hooks``, each storage once).
The whole-step peak of GPT-2 with its config's 0.1 is checked by the validation harness
(``tests/test_validation.py``, ``validate/results.json``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import transformers
from torch import nn

from calc.activations import (
    DROPOUT_FIELDS,
    Dropout,
    config_dropout,
    embedding_terms,
    layer_terms,
    terms_bytes,
)
from calc.memory import TrainingSetup, activation_bytes, training_memory
from calc.models import ModelSpec
from calc.presets import get_preset
from validate.measure import SavedTensorCounter

transformers.logging.set_verbosity_error()


# ----- the config's dropout -------------------------------------------------------------------------
def _readable_default_configs():
    """(model_type, default config dict) for every causal LM whose default config calc can read."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    for model_type in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        try:
            cfg = CONFIG_MAPPING[model_type]().to_dict()
            cfg.setdefault("architectures", [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]])
            ModelSpec.from_hf_config(cfg)
        except Exception:  # noqa: BLE001 - a type calc does not read, or whose config needs arguments
            continue
        yield model_type, cfg


def test_a_config_without_dropout_fields_gets_the_config_class_defaults():
    """Leaving the fields out of config.json must give what transformers' config class would set: the
    defaults of every config class calc reads (GPT2Config: 0.1 x 3; LlamaConfig: 0.0)."""
    checked = []
    for model_type, cfg in _readable_default_configs():
        full = ModelSpec.from_hf_config(cfg)
        bare = ModelSpec.from_hf_config({k: v for k, v in cfg.items() if k not in DROPOUT_FIELDS})
        assert config_dropout(bare) == config_dropout(full), model_type
        checked.append(model_type)
    assert {"gpt2", "llama", "qwen2", "mixtral"} <= set(checked), checked


def test_gpt2_config_dropout_is_read():
    # openai-community/gpt2 config.json: attn_pdrop = resid_pdrop = embd_pdrop = 0.1
    cfg = transformers.GPT2Config()
    d = config_dropout(get_preset("GPT-2"))
    assert (d.attention, d.residual, d.embedding) == (cfg.attn_pdrop, cfg.resid_pdrop, cfg.embd_pdrop) == (0.1,) * 3


def test_override_sets_only_the_places_the_model_has():
    # Llama applies dropout to attention probabilities only (modeling_llama.py eager_attention_forward)
    assert config_dropout(get_preset("Meta-Llama-3-8B"), 0.2) == Dropout(attention=0.2)
    assert config_dropout(get_preset("GPT-2"), 0.0) == Dropout()


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True])
def test_bad_dropout_is_refused_with_its_range(bad):
    spec = get_preset("GPT-2")
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\]"):
        training_memory(spec, TrainingSetup(dropout=bad))
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\]"):
        config_dropout(spec, bad)


# ----- masks measured on real models -------------------------------------------------------------------
def test_p_one_saves_no_mask():
    """p = 1 multiplies by a zero scalar (no mask); 0 < p < 1 saves one tensor of the input's size (CPU)."""
    for p, mask_bytes in ((0.0, 0), (0.5, 4 * 32), (1.0, 4)):
        m = nn.Sequential(nn.Linear(8, 8), nn.Dropout(p), nn.Linear(8, 8)).train()
        with SavedTensorCounter(m) as c:
            m(torch.randn(4, 8))
        assert c.total_bytes - 2 * 4 * 32 == mask_bytes, p  # the two Linear inputs are 128 B each
    assert Dropout(attention=1.0).masks("attention") is False and Dropout(attention=0.5).masks("attention")


TINY = {
    # GPT-2: attn_pdrop (attention probabilities), resid_pdrop (after c_proj of attention and of the MLP),
    # embd_pdrop (after wte + wpe): modeling_gpt2.py
    "gpt2": dict(model_type="gpt2", n_embd=128, n_layer=2, n_head=4, vocab_size=256, n_positions=128,
                 attn_pdrop=0.1, resid_pdrop=0.1, embd_pdrop=0.1, bos_token_id=0, eos_token_id=0),
    # Phi-3: attention_dropout and resid_pdrop (resid_attn_dropout, resid_mlp_dropout); its config's embd_pdrop
    # is never applied (modeling_phi3.py has no embedding dropout): no mask may be predicted for it
    "phi3": dict(model_type="phi3", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, vocab_size=256, max_position_embeddings=128,
                 attention_dropout=0.1, resid_pdrop=0.1, embd_pdrop=0.1, pad_token_id=0, bos_token_id=0,
                 eos_token_id=0),
}


def _saved(cfg: dict, attn: str, p: float | None) -> dict:
    """Saved-for-backward bytes by region of one fp32 forward + loss on the CPU."""
    cfg = dict(cfg)
    if p is not None:
        cfg.update({k: p for k in DROPOUT_FIELDS if k in cfg})
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**cfg),
                                                          attn_implementation=attn).train()
    ids = torch.randint(2, cfg["vocab_size"], (2, 48), generator=torch.Generator().manual_seed(0))
    with SavedTensorCounter(model) as c:
        model(input_ids=ids, labels=ids, use_cache=False)
    return c.by_region()


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_dropout_masks_match_saved_tensors(name, attn):
    cfg = TINY[name]
    spec = ModelSpec.from_hf_config(cfg)
    with_dropout, without = _saved(cfg, attn, None), _saved(cfg, attn, 0.0)
    drop = config_dropout(spec)
    kw = dict(flash_attention=attn == "sdpa", act_bits=32, device="cpu", seq_len=48)
    for i in range(spec.num_layers):
        got = with_dropout[f"layer {i}"]
        want = terms_bytes(layer_terms(spec, i, dropout=drop, **kw), 2, 48)
        assert want == got, (name, attn, i)
        # without dropout GPT-2's fused CPU SDPA kernel keeps contiguous k, v copies at some shapes only (at
        # s = 160 in the harness, not at s = 48 here): the harness's 10% holds, exactness does not
        assert without[f"layer {i}"] == pytest.approx(
            terms_bytes(layer_terms(spec, i, dropout=0.0, **kw), 2, 48), rel=0.0 if attn == "eager" else 0.10)
    extra = with_dropout["embeddings"] - without["embeddings"]
    assert extra == terms_bytes(embedding_terms(spec, act_bits=32, device="cpu", dropout=drop), 2, 48)


# ----- the CLI and the page ---------------------------------------------------------------------------------
def _cli(*args: str):
    return subprocess.run([sys.executable, "-m", "calc", "memory", "--mode", "train", "--model", "GPT-2",
                           "--seq", "1024", "--no-flash-attn", *args], capture_output=True, text=True, timeout=60)


def test_cli_dropout_flag():
    spec = get_preset("GPT-2")
    setup = TrainingSetup(seq_len=1024, flash_attention=False)
    for flag, dropout in ((), None), (("--dropout", "0"), 0.0), (("--dropout", "0.3"), 0.3):
        out = _cli("--json", *flag)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)["components"]["activations"]
        assert got == activation_bytes(spec, TrainingSetup(seq_len=1024, flash_attention=False, dropout=dropout))
    # eager attention stores a 1-byte mask per attention probability: the config's 0.1 costs more than none
    assert activation_bytes(spec, setup) > activation_bytes(spec, TrainingSetup(seq_len=1024, flash_attention=False,
                                                                                 dropout=0.0))
    bad = _cli("--dropout", "1.5")
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "--dropout" in bad.stderr and "[0, 1]" in bad.stderr


def test_training_page_dropout_override():
    from tests.apptest_helpers import open_page

    base = {"model": "GPT-2", "tm_prec": "bf16-mixed", "tm_mb": "1", "tm_seq": "1024", "tm_rc": "none",
            "tm_fa": "0", "tm_tp": "1", "tm_pp": "1", "tm_dp": "1"}
    spec = get_preset("GPT-2")
    for extra, dropout in (({}, None), ({"tm_dov": "1", "tm_do": "0.3"}, 0.3)):
        # the component table's lazy expander (tm_xtab) open
        at = open_page("app_pages/training_memory.py", {**base, **extra}, session={"tm_xtab": True})
        assert not at.exception, [e.value for e in at.exception]
        table = at.dataframe[0].value
        shown = int(table[table["component"] == "Activations"]["bytes"].iloc[0])
        want = activation_bytes(spec, TrainingSetup(precision="bf16-mixed", seq_len=1024, flash_attention=False,
                                                    dropout=dropout))
        assert shown == want, extra
        assert any("dropout" in c.value and "its masks are saved activations" in c.value for c in at.caption), extra
