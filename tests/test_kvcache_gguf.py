"""KV cache and recurrent state as llama.cpp allocates them (the GGUF page), for the new attention kinds.

References, independent of our config readers: the hyper-parameters llama.cpp itself prints for the GGUF of each
model (``print_info`` / GGUF metadata quoted in llama.cpp issues) put through llama.cpp's own sizing rules
(``llama-kv-cache-iswa.cpp``: ``size_swa = GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256)``, quoted by its author
in ggml-org/llama.cpp#21277; ``llama-hparams.cpp``: recurrent ``n_embd_r = (d_conv - 1)(d_inner + 2 n_group
d_state)``, ``n_embd_s = d_state d_inner``, both f32; #21277: the SWA part stays F16 when the cache is quantized).
"""

from __future__ import annotations

import json
from pathlib import Path

from calc.gguf_run import kv_layer_bytes, swa_cells
from calc.models import ModelSpec

DATA = Path(__file__).parent / "data" / "arch"


def spec(name: str) -> ModelSpec:
    return ModelSpec.from_hf_config(json.loads((DATA / f"{name}.json").read_text()), name=name)


def test_qwen3_next_recurrent_state_from_llama_cpp_hparams():
    # llama.cpp print_info for Qwen3-Next-80B-A3B (ggml-org/llama.cpp#17578, lmstudio-bug-tracker#1266): n_layer 48,
    # n_head_kv 2, n_embd_head_k = n_embd_head_v = 256, ssm_d_conv 4, ssm_d_inner 4096, ssm_d_state 128,
    # ssm_n_group 16; one full-attention layer in four (full_attention_interval 4)
    r = (4 - 1) * (4096 + 2 * 16 * 128)
    s = 128 * 4096
    m = spec("Qwen3-Next-80B-A3B-Instruct")
    for ctx in (100, 4096, 262144):
        want = 12 * 2 * 2 * 256 * ctx * 2 + 36 * (r + s) * 4
        assert sum(kv_layer_bytes(m, ctx, "f16")) == want
    per_layer = kv_layer_bytes(m, 4096, "f16", batch=3)
    assert per_layer[3] == 3 * 2 * 2 * 256 * 4096 * 2  # layer 3 is the first full-attention layer
    assert per_layer[0] == 3 * (r + s) * 4  # a DeltaNet layer: state per sequence, no KV


def test_gpt_oss_sliding_layers_get_the_swa_cache():
    # gpt-oss-20b: n_swa 128, swa pattern 2 (llama.cpp openai-moe: even layers SWA), 8 KV heads x 64
    m = spec("gpt-oss-20b")
    assert swa_cells(128, 8192) == 768  # min(8192, 128 + 512) = 640 -> padded to 256
    per_token = 2 * 8 * 64
    layers = kv_layer_bytes(m, 8192, "f16")
    assert layers[0] == per_token * 768 * 2 and layers[1] == per_token * 8192 * 2
    assert sum(layers) == 12 * per_token * (8192 + 768) * 2
    # q8_0 (34 B per 32): only the full layers are quantized, the SWA cache stays F16
    assert sum(kv_layer_bytes(m, 8192, "q8_0")) == 12 * per_token * 8192 * 34 // 32 + 12 * per_token * 768 * 2
    # a context below the window + micro-batch: the SWA cache is the context rounded up to 256
    assert kv_layer_bytes(m, 300, "f16")[0] == per_token * 512 * 2


def test_gemma3_five_to_one():
    # gemma-3-1b: 26 layers, swa pattern 6 (layers 5, 11, 17, 23 global), window 512, 1 KV head x 256
    m = spec("gemma-3-1b-it")
    per_token = 2 * 1 * 256
    layers = kv_layer_bytes(m, 32768, "f16", n_ubatch=512)
    assert [i for i, b in enumerate(layers) if b == per_token * 32768 * 2] == [5, 11, 17, 23]
    assert sum(layers) == (4 * 32768 + 22 * 1024) * per_token * 2
    # a larger micro-batch widens the SWA cache: min(32768, 512 + 2048) -> 2560
    assert sum(kv_layer_bytes(m, 32768, "f16", n_ubatch=2048)) == (4 * 32768 + 22 * 2560) * per_token * 2


def test_gemma3_gguf_tensors_and_published_files():
    """Gemma 3 on the GGUF page: the tensors convert_hf_to_gguf.py writes (names from gguf-py's own
    MODEL_TENSORS[GEMMA3], every parameter once), and TensorBlock/gemma-3-1b-it-GGUF's six published files
    (README, GB to three decimals, llama.cpp b4882) are our tensor bytes plus one header: published - tensors is the
    same for every file type within the 1 MB rounding (a wrong per-tensor type rule moves one of them by MBs)."""
    import re
    from math import prod

    from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

    from calc.gguf import gguf_tensors, quantize_model
    from calc.models import param_counts

    m = spec("gemma-3-1b-it")
    tensors = gguf_tensors(m)
    assert sum(prod(t.shape) for t in tensors) == param_counts(m).total == 999_885_952
    allowed = {TENSOR_NAMES[t].replace("{bid}", "N") for t in MODEL_TENSORS[MODEL_ARCH.GEMMA3]}
    ours = {re.sub(r"blk\.\d+\.", "blk.N.", t.name).rsplit(".", 1)[0] for t in tensors}
    assert ours <= allowed and {"blk.N.attn_q_norm", "blk.N.post_ffw_norm"} <= ours
    published_gb = {"Q2_K": 0.690, "Q3_K_S": 0.689, "Q3_K_M": 0.722, "Q3_K_L": 0.752, "Q4_0": 0.720, "Q4_K_S": 0.781}
    headers = [gb * 1e9 - quantize_model(m, f).tensor_bytes for f, gb in published_gb.items()]
    assert max(headers) - min(headers) <= 1.0e6, headers
    assert 3e6 < min(headers) < 10e6  # a 262,144-token vocabulary's header, several MB


def test_deepseek_v2_lite_gguf_tensors():
    """DeepSeek-V2-Lite (published config: 15,706,484,224 parameters; no q compression, no router-bias buffer)
    as convert_hf_to_gguf writes it (deepseek2: kv_b split into k_b / v_b; exp_probs_b only for V3's buffer)."""
    from math import prod

    from calc.gguf import gguf_tensors

    m = spec("DeepSeek-V2-Lite")
    tensors = gguf_tensors(m)
    assert sum(prod(t.shape) for t in tensors) == 15_706_484_224
    assert not any("exp_probs_b" in t.name for t in tensors) and any(t.name == "blk.0.attn_q.weight" for t in tensors)


def test_cohere2_gguf_tensors_and_swa_cache():
    """Command R7B (Cohere2, published config): one input norm per layer (parallel block), tied head; every one of
    the 8,028,033,024 parameters transformers builds is in the GGUF tensor list, names within gguf-py's
    MODEL_TENSORS[COHERE2]; llama.cpp caches its 24 sliding layers (window 4096, pattern 4) in SWA cells."""
    import re
    from math import prod

    from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

    from calc.gguf import gguf_tensors

    m = spec("c4ai-command-r7b-12-2024")
    tensors = gguf_tensors(m)
    assert sum(prod(t.shape) for t in tensors) == 8_028_033_024
    allowed = {TENSOR_NAMES[t].replace("{bid}", "N") for t in MODEL_TENSORS[MODEL_ARCH.COHERE2]}
    assert {re.sub(r"blk\.\d+\.", "blk.N.", t.name).rsplit(".", 1)[0] for t in tensors} <= allowed
    per_token = 2 * 8 * 128 * 2
    assert sum(kv_layer_bytes(m, 32768, "f16")) == (8 * 32768 + 24 * swa_cells(4096, 32768)) * per_token
    assert swa_cells(4096, 32768) == 4608
