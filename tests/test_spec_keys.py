"""A ``ModelSpec`` as the key of memoized results (issue 18): presets built once, hashes kept, and ``hf_config`` in
equality, since results read dropout and rope scaling from it.

References: a spec built afresh by ``ModelSpec.from_hf_config`` (the path ``get_preset`` took before it was
memoized), the un-memoized calc functions, and field-by-field comparison for equality.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random

import pytest

from calc.activations import config_dropout
from calc.gguf import FILE_TYPES, gguf_tensors, layer_plan, quantize_all
from calc.memory import TrainingSetup, training_memory
from calc.models import ModelSpec, param_counts
from calc.presets import PRESETS, get_preset
from ui import memo


def _fresh(name: str) -> ModelSpec:
    p = PRESETS[name]
    return ModelSpec.from_hf_config(p.config, name=p.name, source=p.source)


def _fields_equal(a: ModelSpec, b: ModelSpec) -> bool:
    """Equality as the definition says: every compared field, ``hf_config`` included."""
    return all(getattr(a, f.name) == getattr(b, f.name) for f in dataclasses.fields(ModelSpec) if f.compare)


@pytest.mark.parametrize("name", list(PRESETS))
def test_get_preset_is_built_once_and_is_the_fresh_spec(name):
    spec = get_preset(name)
    assert get_preset(name) is spec and get_preset(name.lower()) is spec
    fresh = _fresh(name)
    assert fresh is not spec and fresh == spec and hash(fresh) == hash(spec) and _fields_equal(fresh, spec)
    assert fresh.hf_config == spec.hf_config == PRESETS[name].config
    assert param_counts(fresh) == param_counts(spec)


def test_an_unknown_preset_still_lists_the_names():
    with pytest.raises(ValueError, match="known models: Llama-2-7B"):
        get_preset("no such model")


def _variants(rng: random.Random) -> list[ModelSpec]:
    """Specs that differ in one flat field, in the config only, or not at all (another object)."""
    names = rng.sample(list(PRESETS), 6)
    out = []
    for n in names:
        base = _fresh(n)
        cfg = dict(PRESETS[n].config)
        out += [base, _fresh(n), dataclasses.replace(base, name=base.name + " copy"),
                dataclasses.replace(base, max_position_embeddings=base.max_position_embeddings + 1),
                ModelSpec.from_hf_config({**cfg, "attention_dropout": rng.choice([0.0, 0.1, 0.2])}, name=n,
                                         source=PRESETS[n].source),
                ModelSpec.from_hf_config({**cfg, "note": [1, {"a": 2}]}, name=n, source=PRESETS[n].source),
                ModelSpec.from_hf_config({**cfg, "note": [1.0, {"a": 2.0}]}, name=n, source=PRESETS[n].source)]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_equality_is_every_field_and_hash_agrees(seed):
    specs = _variants(random.Random(seed))
    for a in specs:
        for b in specs:
            assert (a == b) == _fields_equal(a, b), (a.name, b.name)
            if a == b:
                assert hash(a) == hash(b)
    # 1 and 1.0 are equal in a config (and read alike): equal specs, one hash
    assert specs[5] == specs[6] and hash(specs[5]) == hash(specs[6])


def test_the_kept_hash_is_not_carried_by_replace_or_pickle():
    spec = get_preset("Qwen3-8B")
    h = hash(spec)
    other = dataclasses.replace(spec, num_layers=spec.num_layers + 1)
    assert other != spec and hash(other) == hash(_rebuilt(other))
    for copied in (pickle.loads(pickle.dumps(spec)), copy.copy(spec), copy.deepcopy(spec)):
        assert "_hash" not in copied.__dict__ and copied == spec and hash(copied) == h


def _rebuilt(spec: ModelSpec) -> ModelSpec:
    return ModelSpec(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(ModelSpec)})


def _rope_pair():
    """Two specs equal in every flat field and in name and source; one config has Llama 3.1's rope scaling (GGUF's
    ``rope_freqs`` tensor), the other none."""
    cfg = dict(PRESETS["Meta-Llama-3-8B"].config)
    scaled = {**cfg, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    plain = {k: v for k, v in cfg.items() if k != "rope_scaling"}
    a = ModelSpec.from_hf_config(scaled, name="config (uploaded)", source="upload: config.json")
    b = ModelSpec.from_hf_config(plain, name="config (uploaded)", source="upload: config.json")
    return a, b


def test_specs_differing_in_rope_scaling_do_not_share_memoized_gguf_results():
    """Before: ``hf_config`` was left out of equality and hash, so the second upload of a config.json got the first's
    GGUF tensors from ``layer_plan``'s and ``ui.memo``'s caches (a ``rope_freqs`` tensor it does not have)."""
    a, b = _rope_pair()
    assert {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if f.name != "hf_config"} == \
        {f.name: getattr(b, f.name) for f in dataclasses.fields(b) if f.name != "hf_config"}
    names_a = {t.name for t in gguf_tensors(a)}
    names_b = {t.name for t in gguf_tensors(b)}
    assert "rope_freqs.weight" in names_a - names_b  # the configs do give different results
    assert {t.name for t in layer_plan(a).head} - {t.name for t in layer_plan(b).head} == {"rope_freqs.weight"}
    memo._quant.clear()
    for spec in (a, b):
        got = memo.quantize_all_cached(spec)["Q4_K_M"]
        want = quantize_all(spec, FILE_TYPES, None)["Q4_K_M"]
        assert (got.tensor_bytes, got.tensor_types) == (want.tensor_bytes, want.tensor_types)
    assert a != b


def test_specs_differing_in_dropout_do_not_share_memoized_training_memory():
    """Dropout masks are read from the config (``config_dropout``): a page's memo keyed on (model, setup) gave the
    second config the first one's activations."""
    cfg = dict(PRESETS["GPT-2"].config)
    a = ModelSpec.from_hf_config({**cfg, "attn_pdrop": 0.1, "resid_pdrop": 0.1, "embd_pdrop": 0.1}, name="g", source="")
    b = ModelSpec.from_hf_config({**cfg, "attn_pdrop": 0.0, "resid_pdrop": 0.0, "embd_pdrop": 0.0}, name="g", source="")
    assert config_dropout(a) != config_dropout(b)
    setup = TrainingSetup(micro_batch=2, seq_len=512)
    for spec in (a, b):
        got = memo.cached(("test_spec_keys.training", spec, setup), lambda spec=spec: training_memory(spec, setup))
        assert got.activations == training_memory(spec, setup).activations
    assert a != b


def _live_specs():
    """Specs still alive that ``ui.memo`` weighed (the presets other tests' keys held, say)."""
    return [ref() for ref, _ in memo._SPEC_BYTES.values() if ref() is not None]


@pytest.mark.parametrize("name", ["Meta-Llama-3-8B", "DeepSeek-V3", "Gemma-3-27B", "Jamba-v0.1"])
def test_deep_bytes_of_a_key_walks_its_spec_once(name, monkeypatch):
    """A memo key's spec is weighed once per spec (``ui.memo._spec_bytes``) instead of walked for every new entry:
    the same bytes as the walk (``deep_bytes`` with the shortcut off) for the spec, and for a key at least the walk
    and at most the walk plus the spec's own bytes (what the spec shares with the rest of the key counts twice)."""
    spec = _fresh(name)
    key = ("training_memory.solved", spec, TrainingSetup(micro_batch=3), 80_000_000_000)
    got_spec, got_key = memo.deep_bytes(spec), memo.deep_bytes(key)
    assert memo._SPEC_BYTES[id(spec)][1] == got_spec
    other = dataclasses.replace(spec, name="other")
    memo.deep_bytes(other)
    del other  # a dead spec's entry goes
    assert len(memo._SPEC_BYTES) == len({id(s) for s in (spec, *_live_specs())})
    monkeypatch.setattr(memo, "ModelSpec", None)  # deep_bytes walks every spec again, as before
    walked_spec, walked_key = memo.deep_bytes(spec), memo.deep_bytes(key)
    assert got_spec == walked_spec > 5_000
    assert walked_key <= got_key <= walked_key + walked_spec
