"""Checkpoint headers (calc/checkpoint.py): files written by the ``safetensors`` package read back as the
safetensors library reads them; parameter counts of quantized layouts held to ``transformers``' count of the
same architecture on the meta device; published counts (Llama-3-8B, GPT-2); untrusted headers refused."""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from calc import checkpoint as ck
from calc.memory import InferenceSetup, best_weight_dtype, inference_memory
from calc.models import param_counts
from tests.conftest import ROOT
from tests.hub_fake import sparse_safetensors

TINY_LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256,
              "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "vocab_size": 300, "tie_word_embeddings": False}
# Meta-Llama-3-8B's config.json fields (REFERENCE.md: 8,030,261,248 parameters)
LLAMA3_8B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
             "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "vocab_size": 128256, "max_position_embeddings": 8192, "rope_theta": 500000.0, "tie_word_embeddings": False}


def meta_model(cfg: dict):
    """The architecture as transformers builds it, on the meta device (the independent count)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(cfg["model_type"], **{k: v for k, v in cfg.items()
                                                        if k not in ("model_type", "architectures")})
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def linear_weights(model) -> dict[str, tuple[int, int]]:
    """name -> (out, in) of every nn.Linear weight inside the decoder layers."""
    return {f"{n}.weight": (m.out_features, m.in_features) for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and ".layers." in n}


def data_bytes(path) -> int:
    """Bytes after the header, from the file itself: size - 8 - n."""
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
    return path.stat().st_size - 8 - n


# ----- the reader against the safetensors library ----------------------------------------------------
def test_header_reader_agrees_with_safetensors_library(tmp_path):
    tensors = {"bf16": torch.zeros(3, 5, dtype=torch.bfloat16), "f16": torch.zeros(7, dtype=torch.float16),
               "f32": torch.zeros(2, 3, 4), "f64": torch.zeros(2, dtype=torch.float64),
               "e4m3": torch.zeros(4, 8, dtype=torch.float8_e4m3fn), "e5m2": torch.zeros(3, dtype=torch.float8_e5m2),
               "e8m0": torch.zeros(5, dtype=torch.float8_e8m0fnu), "fp4x2": torch.zeros(4, 4, dtype=torch.float4_e2m1fn_x2),
               "i8": torch.zeros(9, dtype=torch.int8), "u8": torch.zeros(2, 2, dtype=torch.uint8),
               "i32": torch.zeros(6, dtype=torch.int32), "i64": torch.zeros(1, dtype=torch.int64),
               "bool": torch.zeros(3, dtype=torch.bool), "c64": torch.zeros(2, dtype=torch.complex64),
               "scalar": torch.tensor(1.0), "empty": torch.zeros(0, 5)}
    path = tmp_path / "x.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    h = ck.read_safetensors_header(path)
    with safe_open(path, "pt") as f:
        lib = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}  # noqa: SIM118
    assert {t.name: (t.dtype, t.shape) for t in h.tensors} == lib
    assert h.metadata == {"format": "pt"}
    assert h.data_bytes == data_bytes(path) == sum(t.numel() * t.element_size() for t in tensors.values())
    assert h.file_bytes == path.stat().st_size


def llama_checkpoint_shapes(cfg: dict, dtype: str = "BF16") -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor names and shapes of a Llama checkpoint on the Hub (meta-llama/Meta-Llama-3-8B's
    model.safetensors.index.json lists these 291 tensors)."""
    h, f, v, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    kv = cfg["num_key_value_heads"] * h // cfg["num_attention_heads"]
    out = {"model.embed_tokens.weight": (dtype, (v, h))}
    for i in range(L):
        p = f"model.layers.{i}."
        out.update({p + "self_attn.q_proj.weight": (dtype, (h, h)), p + "self_attn.k_proj.weight": (dtype, (kv, h)),
                    p + "self_attn.v_proj.weight": (dtype, (kv, h)), p + "self_attn.o_proj.weight": (dtype, (h, h)),
                    p + "mlp.gate_proj.weight": (dtype, (f, h)), p + "mlp.up_proj.weight": (dtype, (f, h)),
                    p + "mlp.down_proj.weight": (dtype, (h, f)), p + "input_layernorm.weight": (dtype, (h,)),
                    p + "post_attention_layernorm.weight": (dtype, (h,))})
    out.update({"model.norm.weight": (dtype, (h,)), "lm_head.weight": (dtype, (v, h))})
    return out


def test_llama3_8b_header_count_is_the_published_count(tmp_path):
    """A header-only Llama-3-8B (data a sparse hole) gives REFERENCE.md's 8,030,261,248, in BF16 bytes."""
    shapes = llama_checkpoint_shapes(LLAMA3_8B)
    assert len(shapes) == 291
    path = sparse_safetensors(tmp_path / "model.safetensors", shapes, {"format": "pt"})
    with safe_open(path, "pt") as f:  # the safetensors library accepts the file
        assert len(list(f.keys())) == len(shapes)
    (tmp_path / "config.json").write_text(json.dumps(LLAMA3_8B))
    headers, config = ck.read_local_checkpoint(tmp_path)
    c = ck.summarize(headers, config)
    assert c.parameters == 8_030_261_248
    assert c.bytes == 2 * 8_030_261_248 == data_bytes(path)
    assert c.by_dtype["BF16"].parameters == 8_030_261_248 and c.method is None
    spec, note = ck.model_from_config(config, "Llama-3-8B", "test")
    assert note is None and param_counts(spec).total == c.parameters
    assert c.layers[31] == c.parameters_beyond_layer(31) and c.parameters_beyond_layer(32) == 0
    # an upload of the first megabyte is enough (the Models page reads uploads so)
    first_mb = path.open("rb").read(1 << 20)
    assert ck.summarize([ck.parse_safetensors_header(first_mb, "model.safetensors")]).parameters == c.parameters


def test_sharded_index_and_directory(tmp_path):
    model = meta_model(TINY_LLAMA)
    sd = {k: torch.zeros(v.shape, dtype=torch.bfloat16) for k, v in model.state_dict().items()}
    names = list(sd)
    parts = [names[:4], names[4:11], names[11:]]
    weight_map = {}
    for i, part in enumerate(parts, 1):
        fname = f"model-{i:05d}-of-00003.safetensors"
        save_file({k: sd[k] for k in part}, tmp_path / fname)
        weight_map.update({k: fname for k in part})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    by_dir = ck.summarize(*ck.read_local_checkpoint(tmp_path))
    by_index = ck.summarize(*ck.read_local_checkpoint(tmp_path / "model.safetensors.index.json"))
    assert by_dir.parameters == by_index.parameters == n_params(model)
    assert len(by_dir.files) == 3 and by_dir.file_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))
    one = ck.summarize(*ck.read_local_checkpoint(tmp_path / "model-00002-of-00003.safetensors"))
    assert one.parameters == sum(sd[k].numel() for k in parts[1])
    # an index naming a missing shard, or a path outside the directory, is refused
    (tmp_path / "model-00003-of-00003.safetensors").rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(ValueError, match="missing beside the index"):
        ck.read_local_checkpoint(tmp_path)
    bad = {"weight_map": {"a": "../../etc/passwd.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="plain"):
        ck.read_local_checkpoint(tmp_path)


def test_gpt2_checkpoint_stores_causal_masks_counted_as_buffers(tmp_path):
    """openai-community/gpt2's model.safetensors stores h.N.attn.bias, the [1, 1, 1024, 1024] causal mask, in
    F32 beside the 124,439,808 parameters (REFERENCE.md): the Hub shows 137M; the parameters stay exact."""
    cfg = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
    sd = meta_model(cfg).state_dict()
    shapes = {k.removeprefix("transformer."): ("F32", tuple(v.shape)) for k, v in sd.items() if k != "lm_head.weight"}
    for i in range(12):
        shapes[f"h.{i}.attn.bias"] = ("F32", (1, 1, 1024, 1024))
    path = sparse_safetensors(tmp_path / "model.safetensors", shapes)
    c = ck.summarize([ck.read_safetensors_header(path)])
    assert c.parameters == 124_439_808
    assert c.buffers == 12 * 1024 * 1024 and c.parameters + c.buffers == 137_022_720
    assert c.bytes == data_bytes(path) == 4 * 137_022_720


# ----- quantized layouts, counted against transformers' unquantized build ------------------------
def _plain(model, skip: set[str], dtype=torch.bfloat16) -> dict[str, torch.Tensor]:
    return {k: torch.zeros(v.shape, dtype=dtype) for k, v in model.state_dict().items() if k not in skip}


def test_fp8_block_scales_read_as_stored(tmp_path):
    """DeepSeek-V3 / Qwen3-FP8 layout: F8_E4M3 weights and one F32 weight_scale_inv per 128 x 128 block."""
    model = meta_model(TINY_LLAMA)
    lin = linear_weights(model)
    tensors = _plain(model, set(lin))
    for name, (out, inp) in lin.items():
        tensors[name] = torch.zeros(out, inp, dtype=torch.float8_e4m3fn)
        tensors[name + "_scale_inv"] = torch.ones(math.ceil(out / 128), math.ceil(inp / 128))
    path = tmp_path / "model.safetensors"
    save_file(tensors, path)
    qc = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
    c = ck.summarize([ck.read_safetensors_header(path)], {**TINY_LLAMA, "quantization_config": qc})
    assert c.parameters == n_params(model)
    assert c.quantized_parameters == sum(o * i for o, i in lin.values()) == c.by_dtype["F8_E4M3"].parameters
    assert c.scale_bytes == sum(t.numel() * 4 for k, t in tensors.items() if k.endswith("_scale_inv"))
    assert c.bytes == data_bytes(path) and c.method == "fp8" and c.quantization == qc
    assert ck.summarize([ck.read_safetensors_header(path)]).method == "fp8"  # without the config, from the layout


def test_mxfp4_blocks_and_scales_of_gpt_oss(tmp_path):
    """gpt-oss: experts as U8 blocks of 16 bytes = 32 FP4 values and one U8 (E8M0) scale per block."""
    cfg = {"model_type": "gpt_oss", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100,
           "num_local_experts": 4, "num_experts_per_tok": 2, "layer_types": ["sliding_attention", "full_attention"]}
    model = meta_model(cfg)
    sd = model.state_dict()
    experts = {k for k in sd if k.endswith(("experts.gate_up_proj", "experts.down_proj"))}
    tensors = _plain(model, experts)
    for k in experts:
        e, n_in, n_out = sd[k].shape  # transformers keeps [experts, in, out]; the checkpoint [experts, out, in/32, 16]
        tensors[k + "_blocks"] = torch.zeros(e, n_out, n_in // 32, 16, dtype=torch.uint8)
        tensors[k + "_scales"] = torch.full((e, n_out, n_in // 32), 127, dtype=torch.uint8)
    save_file(tensors, tmp_path / "model.safetensors")
    c = ck.summarize([ck.read_safetensors_header(tmp_path / "model.safetensors")],
                     {"quantization_config": {"quant_method": "mxfp4"}})
    assert c.parameters == n_params(model)
    assert c.quantized_parameters == sum(sd[k].numel() for k in experts)
    assert c.scale_bytes == c.quantized_parameters // 32 and c.method == "mxfp4"


@pytest.mark.parametrize("method,bits,with_config", [("gptq", 4, True), ("gptq", 8, True), ("gptq", 4, False),
                                                     ("awq", 4, True), ("awq", 4, False)])
def test_gptq_and_awq_packed_int32(tmp_path, method, bits, with_config):
    """AutoGPTQ QuantLinear: qweight [in*bits/32, out], qzeros [in/g, out*bits/32], scales [in/g, out], g_idx [in];
    AutoAWQ WQLinear_GEMM: qweight [in, out*bits/32], qzeros [in/g, out*bits/32], scales [in/g, out]."""
    model = meta_model(TINY_LLAMA)
    lin = linear_weights(model)
    tensors = _plain(model, set(lin), torch.float16)
    g, per = 128, 32 // bits
    for name, (out, inp) in lin.items():
        p = name.removesuffix(".weight")
        if method == "gptq":
            tensors[p + ".qweight"] = torch.zeros(inp // per, out, dtype=torch.int32)
            tensors[p + ".g_idx"] = torch.arange(inp, dtype=torch.int32) // g
        else:
            tensors[p + ".qweight"] = torch.zeros(inp, out // per, dtype=torch.int32)
        tensors[p + ".qzeros"] = torch.zeros(inp // g, out // per, dtype=torch.int32)
        tensors[p + ".scales"] = torch.ones(inp // g, out, dtype=torch.float16)
    save_file(tensors, tmp_path / "model.safetensors")
    config = {"quantization_config": {"quant_method": method, "bits": bits, "group_size": g}} if with_config else None
    c = ck.summarize([ck.read_safetensors_header(tmp_path / "model.safetensors")], config)
    assert c.parameters == n_params(model)
    assert c.quantized_parameters == sum(o * i for o, i in lin.values())
    assert c.method == (method if with_config else "gptq/awq") and not c.notes
    assert c.scale_bytes == sum(t.numel() * t.element_size() for k, t in tensors.items()
                                if k.endswith((".qzeros", ".scales", ".g_idx")))


def test_bitsandbytes_4bit_and_8bit(tmp_path):
    """bitsandbytes Params4bit + QuantState.as_dict(packed=True) (nf4, blocksize 64, double quantization),
    and Int8Params with its SCB row scales: parameters unpacked, the rest counted as scales."""
    model = meta_model(TINY_LLAMA)
    lin = linear_weights(model)
    four, eight = _plain(model, set(lin)), _plain(model, set(lin))
    for name, (out, inp) in lin.items():
        n = out * inp
        four[name] = torch.zeros(n // 2, 1, dtype=torch.uint8)
        four[name + ".absmax"] = torch.zeros(n // 64, dtype=torch.uint8)
        four[name + ".quant_map"] = torch.zeros(16)
        four[name + ".nested_absmax"] = torch.zeros(n // 64 // 256)
        four[name + ".nested_quant_map"] = torch.zeros(256)
        four[name + ".quant_state.bitsandbytes__nf4"] = torch.zeros(120, dtype=torch.uint8)
        eight[name] = torch.zeros(out, inp, dtype=torch.int8)
        eight[name.removesuffix(".weight") + ".SCB"] = torch.ones(out)
    for tensors, label in ((four, "4"), (eight, "8")):
        path = tmp_path / f"b{label}.safetensors"
        save_file(tensors, path)
        c = ck.summarize([ck.read_safetensors_header(path)])
        assert c.parameters == n_params(model), label
        assert c.quantized_parameters == sum(o * i for o, i in lin.values()) and c.method == "bitsandbytes"
        assert c.bytes == data_bytes(path)


def test_unmodelled_architecture_still_gets_exact_counts(tmp_path):
    model = meta_model(TINY_LLAMA)
    save_file(_plain(model, set()), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({**TINY_LLAMA, "architectures": ["ZzzNovelForCausalLM"],
                                                      "model_type": "zzz_novel"}))
    headers, config = ck.read_local_checkpoint(tmp_path)
    spec, note = ck.model_from_config(config, "novel", "test")
    assert spec is None and note.startswith(ck.NOT_MODELLED)
    assert ck.summarize(headers, config).parameters == n_params(model)


# ----- untrusted input ------------------------------------------------------------------------------
def _file(header: bytes | str, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


@pytest.mark.parametrize("blob,match", [
    (_file("{}", length=2**64 - 1), "claims"),
    (_file("{}", length=25_000_001), "claims"),
    (_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', length=4096), "truncated"),
    (b"\x01\x02", "not a safetensors file"),
    (_file("not json at all"), "not valid JSON"),
    (_file("[1, 2]"), "JSON object"),
    (_file("[" * 200_000 + "]" * 200_000), "cannot be read|JSON object"),
    (_file('{"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}'), "dtype"),
    (_file('{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}'), "shape"),
    (_file('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}'), "needs 8"),
    (_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'), "gap"),
    (_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
           '"b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}'), "overlaps"),
    (_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, NaN]}}'), "cannot be read|NaN"),
    (_file('{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}'), "shape"),
    (_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}\xff'.encode("latin-1")), "UTF-8"),
])
def test_untrusted_headers_are_refused(blob, match):
    with pytest.raises(ValueError, match=match):
        ck.parse_safetensors_header(blob, "bad.safetensors")


def test_truncated_file_and_cross_file_duplicates(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"a": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or padded"):
        ck.read_safetensors_header(path)
    h = ck.header_from_dict({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, "a.safetensors")
    with pytest.raises(ValueError, match="more than one file"):
        ck.summarize([h, ck.HeaderFile("b.safetensors", h.tensors)])


def test_inference_memory_uses_the_checkpoint_bytes():
    from calc.presets import get_preset

    spec = get_preset("Meta-Llama-3-8B")
    published = 16_060_522_496  # 2 x 8,030,261,248: the BF16 checkpoint's tensor bytes
    b = inference_memory(spec, InferenceSetup(checkpoint_bytes=published, overhead_bytes=0))
    assert b.weights == published and "as published" in b.notes[0]
    assert inference_memory(spec, InferenceSetup(checkpoint_bytes=published, tp=2)).weights == published // 2
    cap = 80 * 10**9
    assert best_weight_dtype(spec, InferenceSetup(checkpoint_bytes=1), cap) == \
        best_weight_dtype(spec, InferenceSetup(), cap)
    with pytest.raises(ValueError, match="checkpoint_bytes"):
        inference_memory(spec, InferenceSetup(checkpoint_bytes=-1))


# ----- the CLI --------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calc", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_params_safetensors_cli(tmp_path):
    model = meta_model(TINY_LLAMA)
    save_file(_plain(model, set()), tmp_path / "model.safetensors")
    bare = _cli("params", "--safetensors", str(tmp_path / "model.safetensors"), "--json")
    assert bare.returncode == 0, bare.stderr
    out = json.loads(bare.stdout)
    assert out["total"] == out["checkpoint"]["parameters"] == n_params(model)
    assert out["note"].startswith(ck.NOT_MODELLED) and out["components"] is None
    assert out["checkpoint"]["by_dtype"]["BF16"] == {"parameters": n_params(model), "bytes": 2 * n_params(model),
                                                     "tensors": len(model.state_dict())}
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    full = json.loads(_cli("params", "--safetensors", str(tmp_path), "--json").stdout)
    assert full["total"] == n_params(model) and full["architecture"] == "LlamaForCausalLM"
    assert full["checkpoint"]["minus_architecture"] == 0 and "note" not in full
    text = _cli("params", "--safetensors", str(tmp_path))
    assert text.returncode == 0 and "checkpoint as published" in text.stdout
    for bad, msg in ((tmp_path / "nope", "no such file"), (tmp_path / "config.json", "weight_map")):
        r = _cli("params", "--safetensors", str(bad))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and re.search(msg, r.stderr), r.stderr


def test_rule_suffixes_are_unambiguous():
    """``_match`` finds a tensor's rule with one regex search: no rule's suffix may end another's."""
    suffixes = {r.suffix for r in ck.STORAGE_RULES}
    assert not [(a, b) for a in suffixes for b in suffixes if a != b and a.endswith(b)]
