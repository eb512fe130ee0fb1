"""GGUF file types against published files: llama.cpp's per-tensor rules reproduce real files' bytes.

Published sizes: the byte sizes of the Hugging Face files below, as recorded next to each file's URL
in github.com/leliuga/cohere-configurations (``models/<model>/manifest.yaml``, commit 84408edf, the
``artifacts[].size`` fields), plus REFERENCE.md for TheBloke/Llama-2-7B-GGUF. A file is payload +
header; the header (metadata, tokenizer, tensor infos, padding) does not depend on the file type, so
for each repository ``published - payload`` must be one and the same number for every file type.
"""

from __future__ import annotations

from math import prod

import pytest

from calc.gguf import (
    FILE_TYPES,
    GGUF_ARCH,
    PUBLISHED_PPL,
    gguf_tensors,
    quantize_all,
    quantize_model,
    tensor_bytes,
    use_more_bits,
)
from calc.gguf_run import RunSetup, compute_buffer_bytes, kv_layer_bytes, run_memory
from calc.gpus import get_gpu
from calc.models import ModelSpec, param_counts
from calc.presets import PRESETS, get_preset

GIB = 2**30
MIB = 2**20


def _llama(h, ffn, layers, heads, kv, vocab, name):
    return ModelSpec.from_hf_config({"architectures": ["LlamaForCausalLM"], "hidden_size": h,
                                     "intermediate_size": ffn, "num_hidden_layers": layers,
                                     "num_attention_heads": heads, "num_key_value_heads": kv,
                                     "vocab_size": vocab}, name=name)


#: repository -> (model, {file type: published bytes}). Only files made with the rules as they are
#: now; the 2023 files whose mix llama.cpp changed since are in ``test_older_files_differ_by_...``.
PUBLISHED = {
    "TheBloke/Llama-2-7B-GGUF": ("Llama-2-7B", {
        "Q3_K_L": 3_597_110_976, "Q3_K_M": 3_298_004_672, "Q3_K_S": 2_948_304_576, "Q4_0": 3_825_807_040,
        "Q4_K_M": 4_081_004_224, "Q4_K_S": 3_856_740_032, "Q5_0": 4_651_691_712, "Q5_K_M": 4_783_156_928,
        "Q5_K_S": 4_651_691_712, "Q6_K": 5_529_194_176, "Q8_0": 7_161_089_728}),
    "TheBloke/Llama-2-13B-GGUF": ("Llama-2-13B", {
        "Q3_K_L": 6_929_559_424, "Q3_K_M": 6_337_769_344, "Q3_K_S": 5_658_980_224, "Q4_0": 7_365_834_624,
        "Q4_K_M": 7_865_956_224, "Q5_0": 8_972_285_824, "Q5_K_M": 9_229_924_224, "Q5_K_S": 8_972_285_824,
        "Q6_K": 10_679_140_224, "Q8_0": 13_831_319_424}),
    # 80 layers with GQA: llama.cpp's "70B" type, whose attn_v gets one step more (Q3_K/Q4_K -> Q5_K)
    "TheBloke/Llama-2-70B-GGUF": ("Llama-2-70B", {
        "Q3_K_L": 36_147_835_808, "Q3_K_S": 29_919_294_368, "Q4_0": 38_872_249_248, "Q4_K_M": 41_422_910_368,
        "Q5_0": 47_461_397_408, "Q5_K_M": 48_753_767_328, "Q5_K_S": 47_461_397_408}),
    "TheBloke/Mistral-7B-v0.1-GGUF": ("Mistral-7B-v0.1", {
        "Q3_K_L": 3_822_024_320, "Q3_K_M": 3_518_985_856, "Q3_K_S": 3_164_567_168, "Q4_0": 4_108_916_352,
        "Q4_K_M": 4_368_438_912, "Q4_K_S": 4_140_373_632, "Q5_0": 4_997_715_584, "Q5_K_M": 5_131_409_024,
        "Q5_K_S": 4_997_715_584, "Q6_K": 5_942_064_768, "Q8_0": 7_695_857_280}),
    # April 2024, after the Q2_K / MoE rule revisions: every file type matches, Q2_K included
    "QuantFactory/Meta-Llama-3-8B-Instruct-GGUF": ("Meta-Llama-3-8B", {
        "Q2_K": 3_179_644_128, "Q3_K_L": 4_322_469_088, "Q3_K_M": 4_019_430_624, "Q3_K_S": 3_665_011_936,
        "Q4_0": 4_661_724_384, "Q4_1": 5_130_765_536, "Q4_K_M": 4_921_246_944, "Q4_K_S": 4_693_181_664,
        "Q5_0": 5_599_806_688, "Q5_1": 6_068_847_840, "Q5_K_M": 5_733_500_128, "Q5_K_S": 5_599_806_688,
        "Q6_K": 6_596_519_136, "Q8_0": 8_541_283_552}),
    # hidden 3200 = 12.5 x 256: every k-quant falls back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
    # output -> Q8_0), so Q6_K and Q8_0 are the same file size
    "TheBloke/open-llama-3b-v2-wizard-evol-instuct-v2-196k-GGUF": (
        _llama(3200, 8640, 26, 32, 32, 32000, "open-llama-3b-v2"), {
            "Q4_0": 1_979_924_224, "Q4_K_M": 2_580_116_224, "Q5_0": 2_395_412_224, "Q5_K_M": 2_757_076_224,
            "Q5_K_S": 2_603_156_224, "Q6_K": 3_641_876_224, "Q8_0": 3_641_876_224}),
    # ffn 5504 = 21.5 x 256: ffn_down falls back (Q6_K -> Q8_0, Q4_K -> Q5_0, Q5_K -> Q5_1)
    "TheBloke/deepseek-coder-1.3b-base-GGUF": (_llama(2048, 5504, 24, 16, 16, 32256, "deepseek-coder-1.3b"), {
        "Q3_K_L": 744_583_200, "Q4_0": 776_065_056, "Q4_K_M": 873_582_624, "Q5_0": 936_103_968,
        "Q5_K_M": 1_001_967_648, "Q5_K_S": 953_012_256, "Q6_K": 1_171_664_928, "Q8_0": 1_432_219_680}),
}


def _spec(model):
    return get_preset(model) if isinstance(model, str) else model


#: Repositories whose headers calc.gguf's tokenizer constants (SPM_BYTES_PER_TOKEN, BPE_BYTES_PER_TOKEN) were
#: fitted to: the header estimate is checked only on the others, held out from that fit.
FITTED = {"TheBloke/Llama-2-7B-GGUF", "TheBloke/Llama-2-13B-GGUF", "TheBloke/Llama-2-70B-GGUF",
          "TheBloke/Mistral-7B-v0.1-GGUF", "QuantFactory/Meta-Llama-3-8B-Instruct-GGUF"}
HELD_OUT = [r for r in PUBLISHED if r not in FITTED]


@pytest.mark.parametrize("repo", list(PUBLISHED))
def test_published_files_are_payload_plus_one_header(repo):
    model, files = PUBLISHED[repo]
    spec = _spec(model)
    headers = {f: size - quantize_model(spec, f).tensor_bytes for f, size in files.items()}
    assert len(set(headers.values())) == 1, headers  # to the byte, for every file type
    header = next(iter(headers.values()))
    assert 0 < header < 10 * 2**20


@pytest.mark.parametrize("repo", HELD_OUT)
def test_header_estimate_on_files_held_out_of_its_fit(repo):
    # calc.gguf promises a header within about 1.7 MB (tokenizer metadata) and so files within 0.1%
    model, files = PUBLISHED[repo]
    spec = _spec(model)
    for f, size in files.items():
        r = quantize_model(spec, f)
        assert abs(r.header_bytes_estimate - (size - r.tensor_bytes)) < 1.7e6
        assert r.file_bytes_estimate == pytest.approx(size, rel=1e-3)


def test_llama2_7b_reference_files_to_the_byte():
    # REFERENCE.md: TheBloke/Llama-2-7B-GGUF Q4_K_M / Q5_K_M / Q8_0; payload + 741,056 B header
    spec = get_preset("Llama-2-7B")
    for f, size in (("Q4_K_M", 4_081_004_224), ("Q5_K_M", 4_783_156_928), ("Q8_0", 7_161_089_728)):
        assert quantize_model(spec, f).tensor_bytes + 741_056 == size


def test_older_files_differ_by_exactly_the_rule_changes():
    """2023 files made before llama.cpp revised a mix differ from today's rules by exactly that revision:
    Q4_K_S bumped the first 4 ffn_down tensors to Q5_K (now the first n_layer/8); Q3_K_M the first 2
    (now n_layer/16); Q3_K fell back to Q4_1 (now Q4_0)."""
    l13, l70 = get_preset("Llama-2-13B"), get_preset("Llama-2-70B")
    step13 = tensor_bytes((13824, 5120), "Q5_K") - tensor_bytes((13824, 5120), "Q4_K")
    step70 = tensor_bytes((28672, 8192), "Q5_K") - tensor_bytes((28672, 8192), "Q4_K")
    h13, h70 = 745_344, 766_880  # the headers the files above share
    assert quantize_model(l13, "Q4_K_S").tensor_bytes - (40 // 8 - 4) * step13 + h13 == 7_414_331_264
    assert quantize_model(l70, "Q4_K_S").tensor_bytes - (80 // 8 - 4) * step70 + h70 == 39_073_575_840
    assert quantize_model(l70, "Q3_K_M").tensor_bytes - (80 // 16 - 2) * step70 + h70 == 33_186_657_184
    ol = _llama(3200, 8640, 26, 32, 32, 32000, "open-llama-3b-v2")
    r = quantize_model(ol, "Q3_K_S")
    q4_0 = [t for t in r.tensors if t.type == "Q4_0"]
    old = sum(tensor_bytes(t.shape, "Q4_1") for t in q4_0) - sum(t.bytes for t in q4_0)
    assert r.tensor_bytes + old + 749_824 == 2_187_668_224


def test_mixtral_uniform_types_match_thebloke():
    # TheBloke/Mixtral-8x7B-v0.1-GGUF (Dec 2023). Its K-quants predate the MoE rules (Jan 2024) and are
    # not compared; the uniform types are, within 0.01%: the 2023 converter stored the 32 routers
    # (4096 x 8) in f16 where today's keeps f32 (2 MB), the rest is header.
    spec = get_preset("Mixtral-8x7B-v0.1")
    for f, size in (("Q4_0", 26_441_532_864), ("Q5_0", 32_229_279_168), ("Q6_K", 38_378_759_616),
                    ("Q8_0", 49_624_262_080)):
        assert quantize_model(spec, f).file_bytes_estimate == pytest.approx(size, rel=1e-4)


#: llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS: each type's size for Llama-3-8B, in GiB to 2 decimals
#: (" 4.58G, +0.1754 ppl @ Llama-3-8B"), copied here rather than read from calc.gguf.PUBLISHED_PPL.
LLAMA_CPP_SIZES_GIB = {"Q4_0": 4.34, "Q4_1": 4.78, "Q5_0": 5.21, "Q5_1": 5.65, "Q2_K": 2.96, "Q2_K_S": 2.96,
                       "Q3_K_S": 3.41, "Q3_K_M": 3.74, "Q3_K_L": 4.03, "Q4_K_S": 4.37, "Q4_K_M": 4.58,
                       "Q5_K_S": 5.21, "Q5_K_M": 5.33, "Q6_K": 6.14, "Q8_0": 7.96}


@pytest.mark.parametrize("ftype", list(LLAMA_CPP_SIZES_GIB))
def test_llama_cpp_quantize_table_sizes(ftype):
    # Its Q2_K_S line repeats Q2_K's 2.96G although Q2_K_S keeps attn_output and ffn_down in Q2_K (it is the
    # smaller mix): that entry is checked to be smaller instead.
    spec = get_preset("Meta-Llama-3-8B")
    size = quantize_model(spec, ftype).file_bytes_estimate / GIB
    if ftype == "Q2_K_S":
        assert size < quantize_model(spec, "Q2_K").file_bytes_estimate / GIB
    else:
        assert size == pytest.approx(LLAMA_CPP_SIZES_GIB[ftype], rel=0.01)
    assert PUBLISHED_PPL[ftype][0] == LLAMA_CPP_SIZES_GIB[ftype]  # what the Quantization page shows


@pytest.mark.parametrize("name", [n for n in PRESETS if get_preset(n).architecture in GGUF_ARCH])
def test_tensor_list_holds_every_parameter(name):
    # param_counts is held to transformers on the meta device (tests/test_models.py); the converter's
    # tensors hold the same elements (DeepSeek-V3 adds its router-bias buffer exp_probs_b).
    spec = get_preset(name)
    counts = param_counts(spec)
    assert sum(prod(t.shape) for t in gguf_tensors(spec)) == counts.total + counts.buffers


@pytest.mark.parametrize("name", ["Llama-2-7B", "Qwen2.5-0.5B", "Mixtral-8x7B-v0.1", "Qwen3-30B-A3B",
                                  "Gemma-2-2B", "Phi-3-mini-4k-instruct", "GPT-2", "DeepSeek-V3"])
def test_every_file_type_gives_sane_sizes(name):
    spec = get_preset(name)
    results = quantize_all(spec)
    assert set(results) == set(FILE_TYPES)
    f16 = results["F16"].tensor_bytes
    for f, r in results.items():
        assert not isinstance(r, ValueError), (f, r)
        assert sum(r.tensor_types.values()) == len(r.tensors)
        assert 1.5 < r.bits_per_weight <= 32
        assert r.tensor_bytes <= f16 or f == "F32"
        assert r.file_bytes_estimate > r.tensor_bytes


def test_type_rules_for_gqa_moe_tied_and_fallback():
    # Mixtral (8 experts): attn_v and attn_k -> Q8_0, routers stay F32, experts are 3-D tensors
    mix = {t.name: t for t in quantize_model(get_preset("Mixtral-8x7B-v0.1"), "Q4_K_M").tensors}
    assert mix["blk.5.attn_v.weight"].type == mix["blk.5.attn_k.weight"].type == "Q8_0"
    assert mix["blk.5.ffn_gate_inp.weight"].type == "F32"
    assert mix["blk.5.ffn_down_exps.weight"].shape == (14336, 4096, 8)
    # MoE layers are read from the tensor name: ffn_down_exps follows use_more_bits(layer, 32)
    assert [i for i in range(32) if mix[f"blk.{i}.ffn_down_exps.weight"].type == "Q6_K"] == \
        [i for i in range(32) if use_more_bits(i, 32)]
    # Qwen2.5-0.5B: tied embeddings take the output rule; 896 = 3.5 x 256 -> Q8_0 and Q5_0 fallbacks
    qw = {t.name: t for t in quantize_model(get_preset("Qwen2.5-0.5B"), "Q4_K_M").tensors}
    assert "output.weight" not in qw and qw["token_embd.weight"].type == "Q8_0"
    assert qw["blk.3.attn_q.weight"].type == "Q5_0"
    assert qw["blk.3.attn_q.bias"].type == "F32"
    # MXFP4_MOE: expert tensors MXFP4, everything else Q8_0
    moe = quantize_model(get_preset("Qwen3-30B-A3B"), "MXFP4_MOE").tensor_types
    assert set(moe) == {"MXFP4", "Q8_0", "F32"} and moe["MXFP4"] == 48 * 3


def test_imatrix_auto_and_explicit():
    spec = get_preset("Llama-2-7B")
    assert quantize_model(spec, "IQ2_XXS").imatrix is True  # llama-quantize refuses IQ2_XXS without one
    assert quantize_model(spec, "Q4_K_M").imatrix is False
    plain, with_im = quantize_model(spec, "Q4_0"), quantize_model(spec, "Q4_0", imatrix=True)
    assert with_im.tensor_types.get("Q4_1") == 32 // 8  # first n/8 ffn_down guarded with Q4_1
    assert "Q4_1" not in plain.tensor_types


def test_bad_file_type_names_the_choices():
    with pytest.raises(ValueError, match="Q4_K_M"):
        quantize_model(get_preset("GPT-2"), "Q9_X")


def test_run_memory_matches_a_llama_cpp_load_log():
    # llama.cpp load log, Llama-3.1-8B-Instruct Q4_0, n_ctx 8192, all 33/33 layers on a Tesla T4:
    # "CPU buffer size = 281.81 MiB", "CUDA0 buffer size = 4156.00 MiB", "KV self size = 1024.00 MiB"
    spec = get_preset("Llama-3.1-8B")
    mem = run_memory(spec, quantize_model(spec, "Q4_0"), RunSetup(context=8192, flash_attn=False), get_gpu("L4"))
    assert mem.placement == "gpu" and mem.fits
    assert round(mem.cpu_bytes / MIB, 2) == 281.81  # token_embd stays in host memory
    # weights on the GPU: 4155.99 MiB; the log's buffer also holds per-tensor alignment padding
    assert (mem.gpu_bytes - mem.kv_cache_bytes - mem.compute_bytes) / MIB == pytest.approx(4156.00, abs=0.05)
    assert mem.kv_cache_bytes == 1024 * MIB
    # q8_0 cache: 34 bytes per 32 elements (GGML_QUANT_SIZES)
    assert sum(kv_layer_bytes(spec, 8192, "q8_0")) == 1024 * MIB * 34 // 64


def test_run_memory_split_unified_and_windows():
    spec = get_preset("Meta-Llama-3-70B")
    q = quantize_model(spec, "Q4_K_M")
    split = run_memory(spec, q, RunSetup(context=16384), get_gpu("RTX 4090"))
    assert split.placement == "split" and 0 < split.gpu_layers < spec.num_layers and not split.fits
    assert split.gpu_bytes <= split.capacity_bytes
    assert split.gpu_bytes + split.cpu_bytes == split.total_bytes
    mac = run_memory(spec, q, RunSetup(context=16384), get_gpu("Apple M3 Max 128GB"))
    assert mac.placement == "unified" and mac.fits and mac.gpu_bytes == mac.total_bytes
    # Mistral v0.1 is a llama-arch GGUF: llama.cpp keeps the whole context, not the 4096 window
    mistral = get_preset("Mistral-7B-v0.1")
    assert sum(kv_layer_bytes(mistral, 32768)) == 32 * 2 * 8 * 128 * 32768 * 2
    assert compute_buffer_bytes(mistral, 4096, flash_attn=False) > compute_buffer_bytes(mistral, 4096)
    with pytest.raises(ValueError, match="cache type"):
        kv_layer_bytes(mistral, 1024, "int3")


def test_kind_rows_sum_every_tensor_of_a_10000_layer_model():
    # The Quantization page shows tensors by kind (issue 20: a 10,000-layer model has 90,003 tensors): the rows,
    # computed per layer class, must equal a count over the full tensor list walked one tensor at a time.
    import re
    from collections import Counter
    spec = _llama(256, 512, 10_000, 4, 4, 1000, "deep")
    q = quantize_model(spec, "Q4_K_M")
    rows = q.kind_rows()
    walked = Counter()
    for t in q.tensors:
        walked[(re.sub(r"^blk\.\d+\.", "blk.N.", t.name), t.type)] += t.bytes
    assert {(r["tensor"], r["type"]): r["bytes"] for r in rows} == dict(walked)
    assert sum(r["tensors"] for r in rows) == len(q.tensors) == 10_000 * 9 + 3
    assert len(rows) < 20


def test_gemma3_header_is_a_sentencepiece_vocabulary():
    """Gemma 3's 262,144-token vocabulary is written as SentencePiece (tokens, scores, types; no merges). Held out of
    the tokenizer fit: lmstudio-community/gemma-3-1B-it-QAT-GGUF gemma-3-1B-it-QAT-Q4_0.gguf is 720,425,472 B (the
    byte size listed beside its Hugging Face path in the rllama gem's POPULAR_MODELS), so its header is that minus
    our Q4_0 payload: 6,533,120 B. Priced as BPE with merges, the estimate was 13.66 MB."""
    spec = get_preset("Gemma-3-1B")
    q = quantize_model(spec, "Q4_0")
    header = 720_425_472 - q.tensor_bytes
    assert 6.0e6 < header < 7.0e6
    assert abs(q.header_bytes_estimate - header) < 1.0e6
    assert q.file_bytes_estimate == pytest.approx(720_425_472, rel=1.5e-3)
