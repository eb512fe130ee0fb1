"""GGUF tensors written from layer kinds (calc/gguf_layout.py): gpt-oss, Qwen3-Next, Llama 4, Mamba, Jamba, Mamba-2,
Falcon-H1.

Independent references: gguf-py's own ``MODEL_TENSORS`` (the names llama.cpp loads for each architecture), the
parameters transformers builds on the meta device (every one must be in the file once: the converter drops none
of these models' decoder tensors and adds none), published GGUF file sizes, and llama.cpp's recurrent-state sizes.
"""

from __future__ import annotations

import re
from math import prod

import pytest
from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

from calc.gguf import gguf_tensors, quantize_all, quantize_model
from calc.gguf_layout import ARCHS
from calc.gguf_run import RunSetup, kv_layer_bytes, run_memory
from calc.gpus import get_gpu
from calc.models import ModelSpec, param_counts
from calc.presets import get_preset

GGUF_ARCH = {"gpt-oss": MODEL_ARCH.GPT_OSS, "qwen3next": MODEL_ARCH.QWEN3NEXT, "llama4": MODEL_ARCH.LLAMA4,
             "mamba": MODEL_ARCH.MAMBA, "jamba": MODEL_ARCH.JAMBA, "mamba2": MODEL_ARCH.MAMBA2,
             "falcon-h1": MODEL_ARCH.FALCON_H1, "olmo2": MODEL_ARCH.OLMO2}


def default_spec(model_type: str) -> tuple[ModelSpec, int]:
    """transformers' default config of ``model_type`` and the parameters its model holds (meta device)."""
    import torch
    import transformers

    cfg = transformers.AutoConfig.for_model(model_type)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    numel = sum(p.numel() for p in model.parameters())
    d = cfg.to_dict()
    d["architectures"] = [type(model).__name__]
    return ModelSpec.from_hf_config(d, name=model_type), numel


@pytest.fixture(scope="module")
def specs() -> dict[str, tuple[ModelSpec, int]]:
    out = {n: (get_preset(n), None) for n in ("gpt-oss-20b", "Qwen3-Next-80B-A3B", "Llama-4-Scout-17B-16E",
                                              "Llama-4-Maverick-17B-128E")}
    out["mamba"] = default_spec("mamba")
    out["jamba"] = default_spec("jamba")
    out["mamba2"] = default_spec("mamba2")
    out["falcon_h1"] = default_spec("falcon_h1")
    out["Falcon-H1-1.5B-Instruct"] = (get_preset("Falcon-H1-1.5B-Instruct"), None)
    out["olmo2"] = default_spec("olmo2")
    out["OLMo-2-7B"] = (get_preset("OLMo-2-7B"), None)
    return out


@pytest.mark.parametrize("name", ["gpt-oss-20b", "Qwen3-Next-80B-A3B", "Llama-4-Scout-17B-16E",
                                  "Llama-4-Maverick-17B-128E", "mamba", "jamba", "mamba2", "falcon_h1",
                                  "Falcon-H1-1.5B-Instruct", "olmo2", "OLMo-2-7B"])
def test_tensor_names_are_gguf_py_names_and_hold_every_parameter(specs, name):
    spec, meta_numel = specs[name]
    arch = ARCHS[spec.decoder_architecture].arch
    tensors = gguf_tensors(spec)
    allowed = {TENSOR_NAMES[t].replace("{bid}", "N") for t in MODEL_TENSORS[GGUF_ARCH[arch]]}
    stems = {re.sub(r"blk\.\d+\.", "blk.N.", t.name).removesuffix(".weight").removesuffix(".bias") for t in tensors}
    assert stems <= allowed, stems - allowed
    counts = param_counts(spec)
    decoder = counts.total - sum(n for _, n in counts.tower_parts)  # the vision tower goes to a separate mmproj file
    assert sum(prod(t.shape) for t in tensors) == decoder
    if meta_numel is not None:  # transformers' own model of the default config
        assert decoder == meta_numel
    assert len({t.name for t in tensors}) == len(tensors)


def test_gpt_oss_20b_mxfp4_file():
    """lmstudio-community/gpt-oss-20b-GGUF gpt-oss-20b-MXFP4.gguf is 12,109,565,632 B (the byte size listed beside
    its Hugging Face path in the rllama gem's POPULAR_MODELS). MXFP4_MOE: the 72 expert tensors MXFP4 (4.25 bits),
    every other 2-D weight Q8_0 (the output head too), norms, biases, sinks and routers F32. What is left is a
    header of a 201k-token BPE vocabulary with its merges (Llama 3's 128k: 8.3 MB); a token embedding kept in F16
    or experts in Q8_0 would move the file by hundreds of MB."""
    spec = get_preset("gpt-oss-20b")
    q = quantize_model(spec, "MXFP4_MOE")
    assert q.tensor_types == {"F32": 289, "Q8_0": 98, "MXFP4": 72}
    header = 12_109_565_632 - q.tensor_bytes
    assert 8e6 < header < 16e6
    assert q.file_bytes_estimate == pytest.approx(12_109_565_632, rel=5e-4)
    # the experts' rows (2,880) are no multiple of 256: every k-quant of them falls back (Q4_K -> Q5_0)
    types = {t.name: t.type for t in quantize_model(spec, "Q4_K_M").tensors}
    assert types["blk.0.ffn_up_exps.weight"] == "Q5_0" and types["blk.0.attn_sinks.weight"] == "F32"


def test_qwen3_next_q4_k_m_file():
    """unsloth/Qwen3-Next-80B-A3B-Instruct-GGUF Qwen3-Next-80B-A3B-Instruct-Q4_K_M.gguf is 48,506,100,512 B
    (samyfodil/jitllm fetch.sh, see JITLLM_FILES). Today's converter splits the gated-DeltaNet projection
    in_proj_qkvz into attn_qkv (q, k, v rows) and attn_gate (z rows) (Qwen3NextModel.modify_tensors); attn_qkv is
    attn_v-like to llama-quantize, so use_more_bits gives half of the 36 linear-attention layers' attn_qkv Q6_K. Ours
    is 15 MB (0.03 %) under that file, and 23 MB remain after the payload, of which a 151,936-token BPE tokenizer
    explains 6-8 MB. Written as one ssm_in (Q4_K throughout) the file would be 93 MB smaller: that is Qwen's own
    Q4_K_M, converted before the split and listed at 48.4 GB (Qwen/Qwen3-Next-80B-A3B-Instruct-GGUF), 0.04-0.14 GB
    under ours. The conv kernels stay F32 (never quantized), the shared-expert gate (2048 x 1, one dimension to
    ggml) stays in the converter's F16."""
    from calc.gguf import _pad

    spec = get_preset("Qwen3-Next-80B-A3B")
    q = quantize_model(spec, "Q4_K_M")
    assert q.file_bytes_estimate == pytest.approx(48_506_100_512, rel=5e-4)
    assert 5e6 < 48_506_100_512 - sum(_pad(t.bytes) for t in q.tensors) < 30e6
    assert 0.04e9 < q.file_bytes_estimate - 48.4e9 < 0.14e9
    types = {t.name: t.type for t in q.tensors}
    assert types["blk.0.attn_qkv.weight"] == "Q6_K" and types["blk.0.attn_gate.weight"] == "Q4_K"
    assert types["blk.6.attn_qkv.weight"] == "Q4_K" and types["blk.3.attn_v.weight"] == "Q6_K"  # one counter
    assert types["blk.0.ssm_conv1d.weight"] == "F32" and types["blk.0.ffn_gate_inp_shexp.weight"] == "F16"
    assert "blk.0.ssm_in.weight" not in types


def test_llama4_interleaved_moe_and_chunked_cache():
    # Maverick: MoE every other layer (interleave_moe_layer_step 2), dense ffn_gate/up/down between
    spec = get_preset("Llama-4-Maverick-17B-128E")
    names = {t.name for t in gguf_tensors(spec)}
    assert "blk.0.ffn_gate.weight" in names and "blk.1.ffn_gate_exps.weight" in names
    assert "blk.1.ffn_gate_shexp.weight" in names and "blk.0.ffn_gate_exps.weight" not in names
    # llama.cpp caches the chunked layers (3 of 4, chunk 8192) in SWA cells: min(ctx, 8192 + 512) padded to 256
    scout = get_preset("Llama-4-Scout-17B-16E")
    per_token = 2 * 8 * 128 * 2
    assert sum(kv_layer_bytes(scout, 65536)) == (12 * 65536 + 36 * 8704) * per_token


def test_mamba_and_jamba_state_and_quantization(specs):
    mamba, _ = specs["mamba"]
    # llama.cpp's recurrent state (llama-hparams.cpp n_embd_r / n_embd_s), f32, per sequence, any context:
    # (d_conv - 1) x d_inner + d_state x d_inner per layer
    d_inner, d_state, d_conv = 2 * mamba.hidden_size, 16, 4
    per_layer = ((d_conv - 1) * d_inner + d_state * d_inner) * 4
    assert kv_layer_bytes(mamba, 100) == kv_layer_bytes(mamba, 100_000) == [per_layer] * mamba.num_layers
    r = quantize_all(mamba)
    # ssm_dt rows are dt_rank = 48 wide: Q4_0 / Q8_0 have no fallback in llama-quantize (tensor_type_fallback
    # throws), the k-quants fall back to F16 after Q5_0; the conv kernels are never quantized
    assert isinstance(r["Q4_0"], ValueError) and "ssm_dt" in str(r["Q4_0"])
    types = {t.name: t.type for t in r["Q4_K_M"].tensors}
    assert types["blk.0.ssm_dt.weight"] == "F16" and types["blk.0.ssm_conv1d.weight"] == "F32"
    assert types["blk.0.ssm_a"] == "F32" and types["blk.0.ssm_in.weight"] == "Q4_K"
    jamba, _ = specs["jamba"]
    state = kv_layer_bytes(jamba, 4096)
    attn = [i for i, k in enumerate(jamba.layout.pattern) if jamba.layout.kinds[k].is_attention]
    assert attn == [4, 12, 20, 28]  # attn_layer_period 8, offset 4
    assert all(state[i] == 2 * 8 * 128 * 4096 * 2 for i in attn)
    q = quantize_model(jamba, "Q4_K_M")
    assert q.tensor_bytes < quantize_model(jamba, "Q8_0").tensor_bytes


@pytest.mark.parametrize("name", ["mamba2", "falcon_h1", "Falcon-H1-1.5B-Instruct"])
def test_mamba2_shapes_are_the_llama_cpp_loader_shapes(specs, name):
    """Mamba-2 (and Falcon-H1's Mamba-2 mixer) as llama.cpp's loader creates them (``src/models/mamba2.cpp`` /
    ``falcon-h1`` in ggml-org/llama.cpp: ``ssm_in {n_embd, 2*d_inner + 2*n_group*d_state + n_head}``,
    ``ssm_conv1d {d_conv, d_inner + 2*n_group*d_state}``, ``ssm_dt.bias {n_head}``, ``ssm_a`` / ``ssm_d
    {1, n_head}`` (no .weight suffix), ``ssm_norm {d_inner / n_group, n_group}``, ``ssm_out {d_inner, n_embd}``),
    from the config fields the converter writes (``Mamba2Model.set_gguf_parameters``). A shape wrong here makes
    llama.cpp refuse the file; only the reshaped ones (A, D, norm) cannot be told apart by their element count."""
    spec, _ = specs[name]
    cfg = spec.hf_config
    n = spec.hidden_size
    if name == "mamba2":
        d_inner, n_head = int(cfg["expand"] * n), cfg["num_heads"]
        g, d_state, d_conv = cfg["n_groups"], cfg["state_size"], cfg["conv_kernel"]
    else:
        d_inner = cfg.get("mamba_d_ssm") or cfg["mamba_expand"] * n
        n_head, g, d_state, d_conv = cfg["mamba_n_heads"], cfg["mamba_n_groups"], cfg["mamba_d_state"], cfg["mamba_d_conv"]
    want = {"ssm_in.weight": (n, 2 * d_inner + 2 * g * d_state + n_head),
            "ssm_conv1d.weight": (d_conv, d_inner + 2 * g * d_state), "ssm_conv1d.bias": (d_inner + 2 * g * d_state,),
            "ssm_dt.bias": (n_head,), "ssm_a": (1, n_head), "ssm_d": (1, n_head), "ssm_out.weight": (d_inner, n)}
    if name != "falcon_h1":  # transformers' default Falcon-H1 config has mamba_rms_norm false: no gated norm
        want["ssm_norm.weight"] = (d_inner // g, g)
    got = {t.name.removeprefix("blk.1."): t.shape for t in gguf_tensors(spec) if t.name.startswith("blk.1.ssm")}
    assert got == want
    types = {t.name: t.type for t in quantize_model(spec, "Q4_K_M").tensors}
    assert types["blk.1.ssm_a"] == types["blk.1.ssm_d"] == types["blk.1.ssm_conv1d.weight"] == "F32"
    assert types["blk.1.ssm_in.weight"] != "F32"


@pytest.mark.parametrize("name", ["gpt-oss-20b", "Qwen3-Next-80B-A3B", "Llama-4-Scout-17B-16E",
                                  "Falcon-H1-1.5B-Instruct"])
def test_run_memory_for_the_new_architectures(name):
    spec = get_preset(name)
    q = quantize_model(spec, "Q4_K_M")
    mem = run_memory(spec, q, RunSetup(context=32768), get_gpu("H200"))
    assert mem.weights_bytes == q.tensor_bytes and mem.kv_cache_bytes == sum(kv_layer_bytes(spec, 32768))
    assert mem.total_bytes > q.tensor_bytes


def _tiny(cls: str, arch: str, **fields) -> ModelSpec:
    import transformers

    cfg = getattr(transformers, cls)(**fields).to_dict()
    cfg["architectures"] = [arch]
    return ModelSpec.from_hf_config(cfg, name=f"tiny-{arch}")


@pytest.mark.parametrize("spec, ftype", [
    (lambda: _tiny("GptOssConfig", "GptOssForCausalLM", hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=4,
                   num_experts_per_tok=2, vocab_size=256), "MXFP4_MOE"),
    (lambda: _tiny("JambaConfig", "JambaForCausalLM", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                   num_attention_heads=4, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                   vocab_size=256, mamba_dt_rank=32, attn_layer_period=2, attn_layer_offset=1,
                   expert_layer_period=2, expert_layer_offset=1), "Q8_0"),
], ids=["gpt-oss", "jamba"])
def test_a_real_gguf_file_written_by_the_gguf_package(tmp_path, spec, ftype):
    """A tiny model written tensor by tensor with the gguf package's GGUFWriter (real MXFP4 / Q8_0 blocks from
    gguf.quants) and read back: every tensor's type and byte size is ours, and the data section is our payload
    with each tensor padded to the 32-byte alignment (what ``file_bytes_estimate`` adds to the header)."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    from calc.gguf_file import read_gguf

    spec = spec()
    q = quantize_model(spec, ftype)
    path = tmp_path / "tiny.gguf"
    w = GGUFWriter(str(path), ARCHS[spec.decoder_architecture].arch)
    w.add_block_count(spec.num_layers)
    rng = np.random.default_rng(0)
    for t in q.tensors:
        qt = GGMLQuantizationType[t.type]
        x = rng.standard_normal(tuple(reversed(t.shape))).astype(np.float32)
        if qt == GGMLQuantizationType.F16:
            w.add_tensor(t.name, x.astype(np.float16))
        elif qt == GGMLQuantizationType.F32:
            w.add_tensor(t.name, x)
        else:
            w.add_tensor(t.name, quantize(x, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    h = read_gguf(path)
    theirs = {t.name: (t.shape, t.type, t.bytes) for t in h.tensors}
    assert theirs == {t.name: (t.shape, t.type, t.bytes) for t in q.tensors}
    assert path.stat().st_size - h.header_bytes == q.file_bytes_estimate - q.header_bytes_estimate


#: bartowski/ai21labs_AI21-Jamba-Mini-1.7-GGUF, "Download a file" table of its README (llama.cpp b5856, imatrix):
#: file sizes in GB (1e9 B, two decimals). Jamba Mini 1.7 has Jamba-v0.1's shape (hidden 4096, 32 layers, attention
#: every 8th from 4, 16 experts every 2nd layer from 1, vocabulary 65,536): its bf16 file, 103.16 GB, is this preset's
#: 51.57 B parameters in two bytes each.
JAMBA_MINI_PUBLISHED_GB = {
    "BF16": 103.16, "Q8_0": 54.81, "Q6_K": 42.33, "Q5_K_M": 36.58, "Q5_K_S": 35.52, "Q4_1": 32.32, "Q4_K_M": 31.18,
    "IQ4_NL": 29.12, "IQ4_XS": 27.52, "Q3_K_S": 22.32, "IQ3_XS": 21.19,
}
#: The rest of that table, not reproduced yet: (published GB, ours - published GB at llama.cpp 007dbbf3's rules).
#: The published Q4_0 and Q4_K_S are 0.36 / 0.72 GB larger than our mix, Q3_K_L / Q3_K_M 1.95 / 1.10 GB smaller (1.9 GB
#: is all sixteen ffn_down_exps one k-quant step), IQ3_M 0.76 GB larger, the IQ2 / IQ3_XXS / Q2_K files 0.4-1.1 GB
#: smaller: b5856's mix for a 16-expert hybrid differs from the rules modelled here in ways totals cannot pin down.
JAMBA_MINI_NOT_REPRODUCED = {
    "Q4_K_S": 30.07, "Q4_0": 29.59, "Q3_K_L": 24.48, "Q3_K_M": 23.45, "IQ3_M": 23.33, "IQ3_XXS": 20.24,
    "Q2_K": 17.98, "IQ2_M": 16.24, "IQ2_S": 14.41, "IQ2_XS": 14.34, "IQ2_XXS": 12.48,
}


@pytest.mark.parametrize("ftype", [*JAMBA_MINI_PUBLISHED_GB, *(
    pytest.param(f, marks=pytest.mark.xfail(strict=True, reason="llama.cpp b5856's mix differs (see the table)"))
    for f in JAMBA_MINI_NOT_REPRODUCED)])
def test_jamba_mini_published_file_sizes(ftype):
    """Our predicted file (tensors typed by llama-quantize's rules with an importance matrix, each padded to 32 bytes,
    plus the header estimate) within 0.03 GB of the published size: the table's own rounding is 0.005 GB and our
    header estimate (a 65,536-token vocabulary) is a few MB; one expert layer's ffn_down one k-quant step off moves
    the file by 0.12 GB, a token embedding left in F16 by 0.4 GB."""
    spec = get_preset("Jamba-v0.1")
    published = {**JAMBA_MINI_PUBLISHED_GB, **JAMBA_MINI_NOT_REPRODUCED}[ftype]
    q = quantize_model(spec, ftype, imatrix=True)
    assert abs(q.file_bytes_estimate / 1e9 - published) < 0.03


#: Exact byte sizes of published files, from samyfodil/jitllm internal/testmodels/fetch.sh (commit cd3ef386: its
#: table is "verified against https://huggingface.co/api/models/<repo>?blobs=true, the size against the file itself").
#: name -> (repository/file, the config the file was converted from, file type, bytes)
JITLLM_FILES = {
    "Llama 4 Scout": ("unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF Q4_K_M/...-0000{1,2}-of-00002.gguf",
                      "Llama-4-Scout-17B-16E", "Q4_K_M", 49_848_379_744 + 15_511_520_608),
    "Falcon Mamba 7B": ("tiiuae/falcon-mamba-7b-Q4_K_M-GGUF falcon-mamba-7B-Q4_K_M.gguf", {
        "architectures": ["FalconMambaForCausalLM"], "model_type": "falcon_mamba", "hidden_size": 4096,
        "num_hidden_layers": 64, "vocab_size": 65024, "state_size": 16, "expand": 16, "intermediate_size": 8192,
        "conv_kernel": 4, "time_step_rank": 256, "use_bias": False, "use_conv_bias": True,
        "tie_word_embeddings": False}, "Q4_K_M", 4_204_230_432),
    "Mamba-Codestral 7B": ("viniciusianni/Mamba-Codestral-7B-v0.1-Q4_K_M-GGUF mamba-codestral-7b-v0.1-q4_k_m.gguf", {
        "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64,
        "vocab_size": 32768, "num_heads": 128, "head_dim": 64, "n_groups": 8, "state_size": 128, "expand": 2,
        "conv_kernel": 4, "use_bias": False, "use_conv_bias": True, "tie_word_embeddings": False}, "Q4_K_M",
        4_147_481_568),
    "Falcon-H1 1.5B": ("tiiuae/Falcon-H1-1.5B-Instruct-GGUF Falcon-H1-1.5B-Instruct-Q8_0.gguf",
                       "Falcon-H1-1.5B-Instruct", "Q8_0", 1_656_492_736),
    # allenai/OLMo-2-0425-1B's config (1,484,916,736 parameters); our header estimate (52 B per BPE token) is
    # 1.7 MB over this file's 3.55 MB header, 0.18 % of the file: the payload check below is the sharp one
    "OLMo 2 1B": ("allenai/OLMo-2-0425-1B-Instruct-GGUF OLMo-2-0425-1B-Instruct-Q4_K_M.gguf", {
        "architectures": ["Olmo2ForCausalLM"], "model_type": "olmo2", "hidden_size": 2048, "intermediate_size": 8192,
        "num_attention_heads": 16, "num_hidden_layers": 16, "num_key_value_heads": 16, "vocab_size": 100352,
        "tie_word_embeddings": False, "max_position_embeddings": 4096}, "Q4_K_M", 935_515_296),
}


@pytest.mark.parametrize("name", list(JITLLM_FILES))
def test_published_llama4_mamba_and_hybrid_files_to_the_byte(name):
    """Llama 4 Scout (unsloth's plain Q4_K_M, 65.36 GB in two shards), Mamba (Falcon Mamba 7B), Mamba-2
    (Mamba-Codestral 7B, transformers' default Mamba-2 config) and Falcon-H1: our file within 0.05 % (the gpt-oss
    file's tolerance), and what is left after the payload (each tensor padded to 32 bytes) is a header-sized
    remainder of 0.5-14 MB (tokenizer and tensor infos; the second Scout shard's own small header included).
    One ffn_down_exps of Scout one k-quant step off is 0.17 GB (0.26 %); Falcon Mamba's ssm_x and ssm_dt left in
    F32, as llama.cpp once did, would add 0.98 GB (23 %)."""
    from calc.gguf import _pad

    _, model, ftype, published = JITLLM_FILES[name]
    spec = get_preset(model) if isinstance(model, str) else ModelSpec.from_hf_config(model, name=name)
    q = quantize_model(spec, ftype)
    assert q.file_bytes_estimate == pytest.approx(published, rel=5e-4 if name != "OLMo 2 1B" else 2e-3)
    header = published - sum(_pad(t.bytes) for t in q.tensors)
    assert 0.5e6 < header < (14e6 if name != "OLMo 2 1B" else 6e6)  # OLMo: one ffn_down Q4_K <-> Q6_K is 4.3 MB


@pytest.mark.xfail(strict=True, reason="bartowski's Scout Q4_K_M holds ~2.19 GB more than llama-quantize's Q4_K_M "
                   "rules give (unsloth's plain Q4_K_M, above, has them); its per-tensor mix is not published")
def test_llama4_scout_bartowski_q4_k_m_bytes():
    """bartowski/meta-llama_Llama-4-Scout-17B-16E-Instruct-GGUF, Q4_K_M in two shards of 39,837,275,008 and
    27,708,903,776 bytes (the byte sizes a public README's "Model sources" table gives for resumable downloads of
    those two Hugging Face files): 67,546,178,784 B, 2.19 GB (3.2 %) above the 65,357,349,312 B llama-quantize's
    rules give the text decoder, which unsloth's file of the same type holds to 0.004 % - about twelve more layers'
    ffn_down_exps in Q6_K than use_more_bits picks, an override this file's README does not state."""
    q = quantize_model(get_preset("Llama-4-Scout-17B-16E"), "Q4_K_M", imatrix=True)
    assert q.file_bytes_estimate == pytest.approx(39_837_275_008 + 27_708_903_776, rel=5e-4)


def test_deepseek_attention_biases_are_refused_not_dropped():
    """A DeepSeek-V3 config with attention_bias (a hypothesis draw found it): llama.cpp's deepseek2 architecture
    loads no attention bias, so the file would lose parameters; the sizes are refused naming the field instead of
    counting fewer elements than the model has."""
    cfg = dict(model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"], hidden_size=64, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=4, intermediate_size=128, vocab_size=256,
               moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
               first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
               v_head_dim=16, n_group=1, topk_group=1)
    plain = quantize_model(ModelSpec.from_hf_config(cfg), "BF16")
    c = param_counts(ModelSpec.from_hf_config(cfg))
    assert plain.n_elements == c.total + c.buffers
    with pytest.raises(ValueError, match="attention_bias"):
        quantize_model(ModelSpec.from_hf_config({**cfg, "attention_bias": True}), "BF16")
