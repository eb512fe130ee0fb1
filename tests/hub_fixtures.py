"""The fake Hub's repositories for the hub tests (tests/test_hub.py, tests/test_hub_pages.py): real files written
by the ``safetensors`` and ``gguf`` packages (small shapes, or a large model's header over a sparse hole), served
by tests/hub_fake.py and reached through ``HF_ENDPOINT``."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from calc.gguf import quantize_model
from calc.gguf_file import read_gguf
from calc.models import ModelSpec
from tests.hub_fake import FakeRepo, serve_for_this_process, sparse_safetensors
from tests.test_checkpoint import LLAMA3_8B, TINY_LLAMA, llama_checkpoint_shapes

SECRET = "hf_SeCrEtToKeN0123456789abcdefXYZ"  # a token that must never show up anywhere but a header


def _tiny_llama_files(d) -> dict:
    """config.json + two shards + index, written by the safetensors package (real tensors, small shapes)."""
    shapes = llama_checkpoint_shapes(TINY_LLAMA)
    names = list(shapes)
    weight_map = {}
    for i, part in enumerate((names[:7], names[7:]), 1):
        fname = f"model-{i:05d}-of-00002.safetensors"
        save_file({k: torch.zeros(shapes[k][1], dtype=torch.bfloat16) for k in part}, d / fname)
        weight_map.update({k: fname for k in part})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return {"config.json": json.dumps(TINY_LLAMA).encode(),
            "model.safetensors.index.json": (d / "model.safetensors.index.json").read_bytes(),
            "model-00001-of-00002.safetensors": d / "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors": d / "model-00002-of-00002.safetensors"}


def _gguf(path, spec: ModelSpec, ftype: str, header_only: bool = False, split: tuple[int, int] | None = None,
          tensors=None) -> None:
    """A GGUF written by the gguf package's GGUFWriter with llama.cpp's tensor types for ``ftype``; the data
    is random bytes of the right length, or (``header_only``) a sparse hole of the right length."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(spec.num_layers)
    w.add_embedding_length(spec.hidden_size)
    w.add_feed_forward_length(spec.intermediate_size)
    w.add_head_count(spec.num_heads)
    w.add_head_count_kv(spec.num_kv_heads)
    w.add_context_length(8192)
    w.add_file_type(getattr(gguf.LlamaFileType, "MOSTLY_" + ftype))
    w.add_token_list([f"t{i}" for i in range(spec.vocab_size)])
    if split:
        w.add_uint16("split.no", split[0])
        w.add_uint16("split.count", split[1])
    for t in quantize_model(spec, ftype).tensors if tensors is None else tensors:
        w.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32), t.bytes,
                          raw_dtype=gguf.GGMLQuantizationType[t.type])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    end = read_gguf(path).data_end
    with open(path, "r+b") as fh:
        if header_only:
            fh.truncate(end)
        else:
            fh.seek(0, 2)
            fh.write(np.random.default_rng(0).integers(0, 255, end - fh.tell(), dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hubfiles")
    tiny = _tiny_llama_files(d)
    big = sparse_safetensors(d / "model.safetensors", llama_checkpoint_shapes(LLAMA3_8B))
    huge_claim = d / "huge.safetensors"
    huge_claim.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    truncated = d / "trunc.safetensors"
    truncated.write_bytes((4096).to_bytes(8, "little") + b'{"a": {"dtype": "F32"')
    small = ModelSpec.from_hf_config({**TINY_LLAMA, "vocab_size": 512}, name="tiny")
    q4 = d / "tiny-Q4_K_M.gguf"
    _gguf(q4, small, "Q4_K_M")
    q8 = quantize_model(small, "Q8_0").tensors
    parts = [d / "tiny-Q8_0-00001-of-00002.gguf", d / "tiny-Q8_0-00002-of-00002.gguf"]
    _gguf(parts[0], small, "Q8_0", split=(0, 2), tensors=q8[:5])
    _gguf(parts[1], small, "Q8_0", split=(1, 2), tensors=q8[5:])
    vlm = {f"language_model.{k}": torch.zeros(v[1], dtype=torch.bfloat16)
           for k, v in llama_checkpoint_shapes(TINY_LLAMA).items()}
    vision = {"vision_tower.patch_embed.weight": torch.zeros(64, 3, 14, 14, dtype=torch.bfloat16),
              "vision_tower.blocks.0.attn.qkv.weight": torch.zeros(192, 64, dtype=torch.bfloat16),
              "multi_modal_projector.linear.weight": torch.zeros(256, 64, dtype=torch.bfloat16)}
    save_file({**vlm, **vision}, d / "vlm.safetensors")
    big_gguf = d / "Meta-Llama-3-8B.Q4_K_M.gguf"
    _gguf(big_gguf, ModelSpec.from_hf_config(LLAMA3_8B, name="8b"), "Q4_K_M", header_only=True)
    return {"vlm": d / "vlm.safetensors", "vision_params": sum(t.numel() for t in vision.values()),
            "tiny": tiny, "big": big, "huge": huge_claim, "trunc": truncated, "q4": q4, "q8": parts,
            "big_gguf": big_gguf, "small_spec": small, "dir": d}


@pytest.fixture()
def fake(files, tmp_path, monkeypatch):
    cfg8b = json.dumps(LLAMA3_8B).encode()
    repos = {
        "org/tiny": FakeRepo(dict(files["tiny"])),
        "meta-llama/Meta-Llama-3-8B": FakeRepo({"config.json": cfg8b, "model.safetensors": files["big"]}),
        "meta-llama/gated": FakeRepo({"config.json": cfg8b, "model.safetensors": files["big"]}, gated=True,
                                     granted=(SECRET,)),
        "org/private": FakeRepo(dict(files["tiny"]), private=True, granted=(SECRET,)),
        "org/slow": FakeRepo(dict(files["tiny"]), delay_s=2.0),
        "org/huge-header": FakeRepo({"config.json": json.dumps(TINY_LLAMA).encode(), "model.safetensors": files["huge"]}),
        "org/truncated": FakeRepo({"config.json": json.dumps(TINY_LLAMA).encode(), "model.safetensors": files["trunc"]}),
        "org/tiny-GGUF": FakeRepo({"tiny-Q4_K_M.gguf": files["q4"], **{p.name: p for p in files["q8"]},
                                   "README.md": b"# GGUF"}),
        "org/novel": FakeRepo({**files["tiny"], "config.json": json.dumps(
            {**TINY_LLAMA, "architectures": ["ZzzNovelForCausalLM"], "model_type": "zzz_novel"}).encode()}),
        "org/vlm": FakeRepo({"model.safetensors": files["vlm"], "config.json": json.dumps(
            {"architectures": ["ZzzVisionLanguageForConditionalGeneration"], "model_type": "zzz_vlm",
             "text_config": {k: v for k, v in TINY_LLAMA.items() if k != "architectures"},
             "vision_config": {"hidden_size": 64}}).encode()}),
        "org/Llama-3-8B-GGUF": FakeRepo({"Meta-Llama-3-8B.Q4_K_M.gguf": files["big_gguf"]}),
    }
    yield from serve_for_this_process(repos, tmp_path / "hf-home", monkeypatch)


