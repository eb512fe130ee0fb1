"""Property-based tests (hypothesis) for the foundation's public ``calc`` API and the CLI.

Every public function either returns a sane number (an int >= 0 for sizes and counts, never NaN or
infinity) or raises ``ValueError`` with a message; nothing else escapes for any input. Invariants:
more layers (or a wider MLP, a larger vocabulary) never means fewer parameters; the per-layer
breakdown sums to the total; a KV cache grows with batch and context and with wider dtypes, and a
sliding window never makes it larger. Two independent references: the parameter count of the model
``transformers`` builds for the same random config (meta device), and the bytes of the real
``DynamicCache`` a tiny random-weight model fills on the CPU.

The strategies here (``hf_configs``, ``mutated_configs``) are shared by the other property files.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calc.cli import COMMANDS, main
from calc.dtypes import ALIASES, DTYPES, dtype_bits, float_info, get_dtype
from calc.gpus import GPUS, get_gpu, match_device_name
from calc.kvcache import cached_positions, kv_cache_bytes, kv_elements_per_token
from calc.models import ModelSpec, layer_params, param_counts
from calc.presets import PRESETS, get_preset
from calc.units import bytes_in, format_bytes, format_count, format_duration, format_flops

# PROPERTY_SCALE=20 runs twenty times the examples (a long local or nightly run); CI keeps 1.
_SCALE = max(1, int(os.environ.get("PROPERTY_SCALE", "1")))
FAST = settings(max_examples=60 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=12 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma2", "phi3", "gpt2",
               "deepseek_v3")
_ARCH = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "mixtral": "MixtralForCausalLM",
         "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM",
         "gemma2": "Gemma2ForCausalLM", "phi3": "Phi3ForCausalLM", "gpt2": "GPT2LMHeadModel",
         "deepseek_v3": "DeepseekV3ForCausalLM"}
PRESET_SPECS = [get_preset(n) for n in PRESETS]


# ----- strategies -------------------------------------------------------------------------------

@st.composite
def hf_configs(draw, model_types=MODEL_TYPES, max_layers: int = 6):
    """A small, valid ``config.json`` dict of one supported architecture (transformers builds it too)."""
    mt = draw(st.sampled_from(model_types))
    heads = draw(st.integers(1, 8))
    kv = draw(st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0]))
    head_dim = draw(st.integers(1, 8)) * 2  # even: rotary embeddings pair dimensions
    h = heads * head_dim
    layers = draw(st.integers(1, max_layers))
    vocab = draw(st.integers(1, 300))
    ffn = draw(st.integers(1, 96))
    if mt == "gpt2":
        return {"model_type": "gpt2", "architectures": [_ARCH[mt]], "n_embd": h, "n_head": heads, "n_layer": layers,
                "vocab_size": vocab, "n_positions": draw(st.integers(1, 64)),
                "n_inner": draw(st.one_of(st.none(), st.integers(1, 96)))}
    cfg = {"model_type": mt, "architectures": [_ARCH[mt]], "hidden_size": h, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv, "intermediate_size": ffn, "vocab_size": vocab,
           "max_position_embeddings": 256, "tie_word_embeddings": draw(st.booleans())}
    if mt in ("qwen3", "qwen3_moe", "gemma2") or draw(st.booleans()) and mt in ("llama", "mistral", "mixtral"):
        cfg["head_dim"] = draw(st.integers(1, 8)) * 2
    if draw(st.booleans()):  # only some architectures read these (calc/_hf.py _READS_ATTENTION_BIAS)
        cfg["attention_bias"] = draw(st.booleans())
        cfg["mlp_bias"] = draw(st.booleans())
    if mt in ("mistral", "mixtral", "gemma2"):
        cfg["sliding_window"] = draw(st.one_of(st.none(), st.integers(1, 64))) if mt != "gemma2" else \
            draw(st.integers(1, 64))
    if mt == "mixtral":
        e = draw(st.integers(1, 6))
        cfg.update(num_local_experts=e, num_experts_per_tok=draw(st.integers(1, e)))
    if mt == "qwen3_moe":
        e = draw(st.integers(1, 6))
        cfg.update(num_experts=e, num_experts_per_tok=draw(st.integers(1, e)),
                   moe_intermediate_size=draw(st.integers(1, 48)), decoder_sparse_step=draw(st.integers(1, 3)),
                   mlp_only_layers=draw(st.lists(st.integers(0, layers - 1), max_size=layers, unique=True)))
    if mt == "deepseek_v3":
        e = draw(st.integers(1, 6))
        cfg.update(n_routed_experts=e, num_experts_per_tok=draw(st.integers(1, e)), n_group=1, topk_group=1,
                   moe_intermediate_size=draw(st.integers(1, 48)), n_shared_experts=draw(st.integers(0, 2)),
                   first_k_dense_replace=draw(st.integers(0, layers)), kv_lora_rank=draw(st.integers(1, 16)),
                   q_lora_rank=draw(st.one_of(st.none(), st.integers(1, 16))),
                   qk_nope_head_dim=draw(st.integers(1, 8)) * 2, qk_rope_head_dim=draw(st.integers(1, 4)) * 2,
                   v_head_dim=draw(st.integers(1, 16)), num_key_value_heads=heads)
    return cfg


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.5, -0.0, 1e308, 4096.0]),
    st.text(max_size=20), st.sampled_from(["sliding_attention", "full_attention", "silu", "LlamaForCausalLM"]),
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                                 st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4)), max_leaves=12)
CONFIG_KEYS = sorted({k for p in PRESETS.values() for k in p.config} | {
    "layer_types", "mlp_only_layers", "decoder_sparse_step", "use_sliding_window", "max_window_layers",
    "sliding_window", "attention_bias", "mlp_bias", "n_inner", "q_lora_rank", "first_k_dense_replace",
    "moe_layer_freq", "num_nextn_predict_layers", "n_shared_experts", "_name_or_path", "hidden_act"})


@st.composite
def mutated_configs(draw):
    """A valid config with a few fields replaced by arbitrary JSON values or removed."""
    cfg = dict(draw(hf_configs()))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(CONFIG_KEYS))
        if draw(st.integers(0, 4)) == 0:
            cfg.pop(key, None)
        else:
            cfg[key] = draw(JSON_VALUES)
    return cfg


def check_counts(spec: ModelSpec) -> None:
    """The invariants every parameter count keeps (used by all property files)."""
    c = param_counts(spec)
    parts = c.components()
    assert all(isinstance(v, int) and v >= 0 for v in parts.values()), parts
    assert c.total == sum(parts.values()) > 0
    assert 0 < c.active <= c.total
    assert c.total - c.experts <= c.active
    # The per-layer breakdown and the pieces outside the layers add up to the total.
    final_norm = spec.hidden_size * (2 if spec.norm == "layernorm" else 1)
    outside = c.embeddings + c.output_head + final_norm
    assert sum(layer_params(spec, i) for i in range(spec.num_layers)) + outside == c.total


# ----- models / config parsing ------------------------------------------------------------------

@FAST
@given(hf_configs())
def test_valid_configs_give_consistent_counts(cfg):
    check_counts(ModelSpec.from_hf_config(cfg))


@FAST
@given(mutated_configs())
def test_any_config_is_a_model_or_a_value_error(cfg):
    try:
        spec = ModelSpec.from_hf_config(cfg)
    except ValueError as exc:
        assert str(exc).strip()
        return
    check_counts(spec)


@FAST
@given(JSON_VALUES)
def test_non_object_configs_are_refused(value):
    assume(not isinstance(value, dict))
    with pytest.raises(ValueError, match="JSON object"):
        ModelSpec.from_hf_config(value)


@FAST
@given(hf_configs(), st.integers(1, 8))
def test_more_layers_never_means_fewer_parameters(cfg, extra):
    key = "n_layer" if cfg["model_type"] == "gpt2" else "num_hidden_layers"
    small = param_counts(ModelSpec.from_hf_config(cfg))
    big = param_counts(ModelSpec.from_hf_config({**cfg, key: cfg[key] + extra}))
    assert big.total > small.total
    assert big.active >= small.active


@FAST
@given(hf_configs(), st.integers(1, 64), st.integers(1, 64))
def test_wider_mlp_or_vocab_never_means_fewer_parameters(cfg, more_ffn, more_vocab):
    base = param_counts(ModelSpec.from_hf_config(cfg)).total
    ffn_key = "n_inner" if cfg["model_type"] == "gpt2" else "intermediate_size"
    if cfg["model_type"] != "gpt2" or cfg.get("n_inner"):
        wider = {**cfg, ffn_key: cfg[ffn_key] + more_ffn}
        assert param_counts(ModelSpec.from_hf_config(wider)).total >= base
    bigger_vocab = {**cfg, "vocab_size": cfg["vocab_size"] + more_vocab}
    assert param_counts(ModelSpec.from_hf_config(bigger_vocab)).total > base


@FAST
@given(st.sampled_from(PRESET_SPECS), st.sampled_from(["hidden_size", "num_layers", "vocab_size", "head_dim"]),
       st.one_of(st.integers(-2**40, 0), st.integers(2**25, 2**70), st.just(True), st.floats(), st.text(max_size=3)))
def test_hand_built_spec_with_bad_field_is_refused(spec, field, value):
    import dataclasses

    with pytest.raises(ValueError, match=field):
        dataclasses.replace(spec, **{field: value})


@SLOW
@given(hf_configs(model_types=("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma2", "phi3",
                               "gpt2", "deepseek_v3"), max_layers=3))
def test_random_configs_match_transformers_meta_build(cfg):
    """Independent reference: sum of p.numel() of the model transformers builds (tests/test_models.py)."""
    from tests.test_models import transformers_param_count

    # Token ids play no part in the count; Phi-3's default pad id (32000) would not fit a tiny vocabulary.
    ids = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    assert param_counts(ModelSpec.from_hf_config(cfg)).total == transformers_param_count({**cfg, **ids})


# ----- KV cache ---------------------------------------------------------------------------------

KV_DTYPES = ["fp32", "bf16", "fp16", "fp8_e4m3", "int8", "int4", "nf4"]


@FAST
@given(st.one_of(st.sampled_from(PRESET_SPECS), hf_configs().map(ModelSpec.from_hf_config)),
       st.integers(1, 64), st.integers(1, 10**6), st.sampled_from(KV_DTYPES), st.booleans())
def test_kv_cache_is_a_nonnegative_int_growing_with_batch_context_and_bits(spec, batch, seq, dtype, mla):
    b = kv_cache_bytes(spec, batch, seq, dtype, mla)
    assert isinstance(b, int) and b > 0
    assert kv_cache_bytes(spec, batch + 1, seq, dtype, mla) >= b
    assert kv_cache_bytes(spec, batch, seq + 1, dtype, mla) >= b
    # Linear in batch (exact for whole bytes; sub-byte dtypes round once).
    assert abs(kv_cache_bytes(spec, 2 * batch, seq, dtype, mla) - 2 * b) <= 1
    wider = [d for d in KV_DTYPES if dtype_bits(d) > dtype_bits(dtype)]
    for d in wider:
        assert kv_cache_bytes(spec, batch, seq, d, mla) >= b
    # A window only ever caps positions; a layer without KV (DeltaNet, Mamba, short conv) caches none.
    for i in range(spec.num_layers):
        lo = 1 if spec.layout.kind(i).kv_elements_per_token() else 0
        assert lo <= cached_positions(spec, i, seq) <= seq
        assert (kv_elements_per_token(spec, i, mla) > 0) == bool(lo)


@FAST
@given(st.sampled_from(PRESET_SPECS),
       st.one_of(st.integers(-10**30, 0), st.floats(), st.text(max_size=4), st.none(), st.booleans(),
                 st.lists(st.integers(), max_size=2)),
       st.sampled_from(["batch", "seq"]))
def test_kv_cache_bad_sizes_are_value_errors(spec, bad, which):
    args = {"batch": 1, "seq_len": 16}
    args["batch" if which == "batch" else "seq_len"] = bad
    with pytest.raises(ValueError):
        kv_cache_bytes(spec, args["batch"], args["seq_len"])


@FAST
@given(st.sampled_from(PRESET_SPECS), st.integers(10**15, 10**200))
def test_kv_cache_exact_for_huge_batches(spec, batch):
    # Exact integer arithmetic: a float product would lose bytes above 2**53 or overflow.
    assert kv_cache_bytes(spec, batch, 7, "bf16") == batch * kv_cache_bytes(spec, 1, 7, "bf16")


@SLOW
@given(hf_configs(model_types=("llama", "qwen2", "qwen3", "mistral"), max_layers=3), st.integers(1, 3),
       st.integers(1, 12))
def test_kv_cache_matches_transformers_dynamic_cache(cfg, batch, seq):
    """Independent reference: the bytes of the K/V tensors a real (tiny, random) model caches on the CPU."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = {k: v for k, v in cfg.items() if k != "sliding_window"}  # full attention: every position cached
    c = {**cfg, "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    hf = AutoConfig.for_model(c.pop("model_type"), **c)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model(torch.randint(0, cfg["vocab_size"], (batch, seq)), use_cache=True)
    cache = out.past_key_values
    got = sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
              for layer in cache.layers)
    assert kv_cache_bytes(ModelSpec.from_hf_config(cfg), batch, seq, "fp32") == got


# ----- dtypes, units, GPUs ----------------------------------------------------------------------

@FAST
@given(st.one_of(st.sampled_from(sorted(DTYPES) + sorted(ALIASES)), st.text(max_size=12)))
def test_dtype_lookup_is_a_dtype_or_a_value_error(name):
    try:
        d = get_dtype(name)
    except ValueError as exc:
        assert "dtype must be one of" in str(exc)
        return
    assert 0 < d.bits <= 64 and d.bytes_per_element == d.bits / 8
    fi = float_info(name)
    if fi is not None:
        assert all(math.isfinite(x) and x > 0 for x in (fi.max, fi.smallest_normal, fi.eps))


FINITE_OR_NOT = st.one_of(st.floats(), st.integers(-10**400, 10**400), st.none())


@FAST
@given(FINITE_OR_NOT, st.sampled_from(["GB", "GiB", "auto-GB", "auto-GiB", "MB", "TiB", "B"]), st.integers(0, 6))
def test_formatting_never_shows_nan_or_inf(x, unit, digits):
    for text in (format_bytes(x, unit, digits), format_count(x, digits), format_flops(x), format_duration(x)):
        assert isinstance(text, str) and text
        assert "nan" not in text.lower() and "inf" not in text.lower(), text


@FAST
@given(st.integers(0, 2**80), st.text(max_size=5))
def test_bytes_in_known_units_or_value_error(n, unit):
    try:
        v = bytes_in(n, unit)
    except ValueError as exc:
        assert "unit must be one of" in str(exc)
        return
    assert math.isfinite(v) and v >= 0


@FAST
@given(st.integers(0, 2**62))
def test_gib_is_binary_and_gb_decimal(n):
    # scipy.constants: giga = 1e9, gibi = 2**30
    assert bytes_in(n, "GB") == pytest.approx(n / 1e9, rel=1e-12)
    assert bytes_in(n, "GiB") == pytest.approx(n / 2**30, rel=1e-12)
    assert bytes_in(n, "GiB") <= bytes_in(n, "GB")


@FAST
@given(st.one_of(st.sampled_from(list(GPUS)), st.text(max_size=30)))
def test_gpu_lookup_and_device_matching(name):
    try:
        g = get_gpu(name)
    except ValueError as exc:
        assert "known GPUs" in str(exc)
    else:
        assert g.memory_bytes > 0 and g.bandwidth_bytes_per_s > 0
        assert all(math.isfinite(v) and v > 0 for v in g.peak_flops_per_s.values())
        assert 0 < g.usable_memory_bytes <= g.memory_bytes
    m = match_device_name(name)
    assert m is None or m.name in GPUS


# ----- CLI --------------------------------------------------------------------------------------

#: ``bench`` measures real matmuls for up to --time-budget seconds (default 300, at 4096 tokens of the config's
#: shapes): a drawn valid config made one CI example run for minutes. Its input handling is what is tested here,
#: so a drawn ``bench`` gets the smallest sweep its flags allow (appended last: argparse still sees every drawn
#: flag first).
BOUNDED_BENCH = ["--time-budget", "1", "--runs", "1", "--warmup", "0", "--tokens", "1"]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    if argv and argv[0] == "bench":
        argv = [*argv, *BOUNDED_BENCH]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help / --version exit 0 through argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


FLAG_VALUES = st.one_of(st.sampled_from(list(PRESETS)[:4] + ["0", "-1", "1e9", "nan", "inf", "", "bf16", "H100 SXM",
                                                             "99999999999999999999999", "--json"]),
                        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                                max_size=12))


@st.composite
def cli_argvs(draw):
    argv = [draw(st.one_of(st.sampled_from(COMMANDS), st.text(max_size=6)))]
    flags = ["--model", "--config", "--json", "--gpu", "--dtype", "--batch", "--seq", "--help", "--bogus"]
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(flags))
        argv.append(flag)
        if flag not in ("--json", "--help") and draw(st.integers(0, 5)):
            argv.append(draw(FLAG_VALUES))
    return argv


def assert_clean_exit(code: int, out: str, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    for bad in ("NaN", "Infinity"):
        assert bad not in out


@settings(max_examples=80 * _SCALE, deadline=None)
@given(cli_argvs())
def test_cli_any_argv_exits_0_or_2_with_one_line(argv):
    assert_clean_exit(*run_cli(argv))


@settings(max_examples=60 * _SCALE, deadline=None)
@given(st.one_of(mutated_configs().map(json.dumps), hf_configs().map(json.dumps),
                 st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
       st.sampled_from(["params"] + [c for c in COMMANDS if c not in ("params", "models", "gpus")]))
def test_cli_config_file_of_any_content(content, command):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        fh.write(content)
    try:
        code, out, err = run_cli([command, "--config", fh.name, "--json"])
    finally:
        os.unlink(fh.name)
    assert_clean_exit(code, out, err)
    if code == 0 and command == "params":
        data = json.loads(out)
        assert data["total"] == sum(data["components"].values()) > 0
