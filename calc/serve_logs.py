"""Published vLLM start-up logs and our reproduction of each (tests/test_serve.py holds them to 5 %).

Each case is what one public log printed, with its address. A log gives some of: the device total
(``total_gpu_memory``), the weights, the activation peak, the non-torch memory, the KV cache GiB ("the rest of the
memory reserved for KV Cache" / "Available KV cache memory"), the blocks (``# GPU blocks``), the tokens ("GPU KV
cache size"), the concurrency, and on a refusal the KV one request needs and the longest length that would fit.

What is an input: the device total and utilization always (they are the setup); the activation peak and non-torch
memory whenever the log gives them (they depend on vLLM's version, torch.compile and the allocator: our estimates
are shown beside them, not held to 5 %); the weights only for quantized checkpoints (GGUF, bitsandbytes), where we do
not derive vLLM's in-memory layout; the available KV GiB for v1 logs that print nothing else. Everything else -
weights of 16-bit models, bytes per token per rank from the architecture, blocks, tokens, concurrency, the
per-request need, the longest length - is ours and compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from calc.models import ModelSpec
from calc.presets import get_preset
from calc.serve import ServeSetup, get_engine, kv_layout, max_model_len_that_fits, serve_memory
from calc.units import GIB

#: Config fields of models that are not presets (their published config.json, fields the layout reads).
CONFIGS = {
    # huggingface.co/Qwen/Qwen1.5-7B config.json (multi-head attention: 32 KV heads; q/k/v biases)
    "Qwen1.5-7B": {"model_type": "qwen2", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 151936,
                   "tie_word_embeddings": False},
    "Qwen3-14B": {"model_type": "qwen3", "hidden_size": 5120, "intermediate_size": 17408, "num_hidden_layers": 40,
                  "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                  "tie_word_embeddings": False},
    "DeepSeek-V2-Lite": {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
                         "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
                         "num_key_value_heads": 16, "kv_lora_rank": 512, "q_lora_rank": None, "qk_nope_head_dim": 128,
                         "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64, "n_shared_experts": 2,
                         "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1,
                         "vocab_size": 102400, "tie_word_embeddings": False},
    "gpt-oss-120b": {"model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 36,
                     "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "sliding_window": 128,
                     "layer_types": ["sliding_attention", "full_attention"] * 18, "num_local_experts": 128,
                     "num_experts_per_tok": 4, "vocab_size": 201088, "tie_word_embeddings": False,
                     "attention_bias": True},
    "Qwen3-Coder-480B-A35B": {"model_type": "qwen3_moe", "hidden_size": 6144, "intermediate_size": 8192,
                              "moe_intermediate_size": 2560, "num_hidden_layers": 62, "num_attention_heads": 96,
                              "num_key_value_heads": 8, "head_dim": 128, "num_experts": 160,
                              "num_experts_per_tok": 8, "vocab_size": 151936, "tie_word_embeddings": False,
                              "decoder_sparse_step": 1, "mlp_only_layers": []},
}


@dataclass(frozen=True)
class LogCase:
    url: str
    model: str  # a preset name or a CONFIGS key
    gpu: str
    max_model_len: int
    total_gib: float | None = None
    utilization: float = 0.9
    tp: int = 1
    pp: int = 1
    max_num_batched_tokens: int = 8192
    kv_dtype: str = "bf16"
    weights_gib: float | None = None  # logged
    weights_input: bool = False  # True: the logged weights are an input (quantized checkpoint)
    activation_gib: float | None = None  # logged, an input
    non_torch_gib: float | None = None  # logged, an input
    kv_gib: float | tuple[float, ...] | None = None  # logged (an input when nothing before it is logged)
    blocks: int | None = None
    tokens: int | None = None
    concurrency: float | None = None
    request_gib: float | None = None  # "X GiB KV cache is needed"
    max_len_fit: int | None = None  # "the estimated maximum model length is N"
    note: str = ""
    engine: str = "vllm"  # calc.serve.ENGINES key
    block_size: int | None = None  # tokens per KV block when not the engine's default
    #: TensorRT-LLM's "Memory usage when calculating max tokens in paged kv cache: total: T GiB, available: A GiB"
    #: (the memory free after weights and activations); the KV pool is ``utilization`` (its free fraction) of A
    free_gib: float | None = None

    def spec(self) -> ModelSpec:
        if self.model in CONFIGS:
            return ModelSpec.from_hf_config(CONFIGS[self.model], name=self.model)
        return get_preset(self.model)


def _gib(x: float | None) -> int | None:
    return None if x is None else int(round(x * GIB))


def reproduce(case: LogCase) -> dict[str, tuple[float, float]]:
    """{quantity: (logged, ours)} for every quantity the log printed that we predict."""
    spec = case.spec()
    breakdown = case.activation_gib is not None
    s = ServeSetup(_gib(case.total_gib or 80), tp=case.tp, pp=case.pp, kv_dtype=case.kv_dtype, engine=case.engine,
                   block_size=case.block_size or get_engine(case.engine).block_size,
                   gpu_memory_utilization=case.utilization, max_model_len=case.max_model_len,
                   max_num_batched_tokens=case.max_num_batched_tokens,
                   weights_bytes=_gib(case.weights_gib) if case.weights_input else None,
                   activation_peak_bytes=_gib(case.activation_gib), non_torch_bytes=_gib(case.non_torch_gib))
    out: dict[str, tuple[float, float]] = {}
    if breakdown:
        m = serve_memory(spec, s)
        if case.weights_gib is not None and not case.weights_input:
            out["weights GiB"] = (case.weights_gib, m.weights_bytes / GIB)
        if case.kv_gib is not None:
            out["KV GiB"] = (case.kv_gib, m.kv_cache_bytes / GIB)
        avail = m.kv_cache_bytes
    else:
        if case.weights_gib is not None and not case.weights_input:
            out["weights GiB"] = (case.weights_gib, serve_memory(spec, s).weights_bytes / GIB)
        kv = case.kv_gib
        avail = [_gib(k) for k in kv] if isinstance(kv, tuple) else _gib(kv) if kv is not None else GIB
        if case.free_gib is not None:  # TensorRT-LLM: its free fraction of the memory it logs as available
            avail = int(case.utilization * case.free_gib * GIB)
    lay = kv_layout(spec, s, avail)
    if case.blocks is not None:
        out["blocks"] = (case.blocks, lay.blocks)
    if case.tokens is not None:
        out["tokens"] = (case.tokens, lay.tokens)
    if case.concurrency is not None:
        out["concurrency"] = (case.concurrency, lay.max_concurrency)
    if case.request_gib is not None:
        out["request KV GiB"] = (case.request_gib, lay.request_bytes / GIB)
    if case.max_len_fit is not None:
        out["longest request"] = (case.max_len_fit, max_model_len_that_fits(spec, s, avail))
    return out


V10517 = "https://github.com/vllm-project/vllm/issues/10517"
CASES = (
    LogCase(V10517, "Llama-3.1-8B", "RTX 3090", 20000, 23.58, weights_gib=14.9888, activation_gib=17.06 - 14.9888,
            non_torch_gib=0.35, kv_gib=3.81, blocks=1952, concurrency=1.56, max_num_batched_tokens=20000,
            note="v0; activation = peak_torch_memory 17.06 - weights"),
    LogCase(V10517, "Llama-3.1-8B", "RTX 3090", 29000, 23.58, weights_gib=14.9888, activation_gib=17.98 - 14.9888,
            non_torch_gib=0.35, kv_gib=2.89, blocks=1478, concurrency=0.82, max_num_batched_tokens=29000,
            note="v0; vLLM refused to start: 0.82x < 1"),
    LogCase("https://github.com/vllm-project/vllm/pull/10511", "Meta-Llama-3-8B", "H100 SXM", 8192, 79.22,
            weights_gib=14.96, activation_gib=1.26, non_torch_gib=1.79, kv_gib=53.29),
    LogCase("https://github.com/vllm-project/vllm/pull/10511", "Meta-Llama-3-8B", "H100 SXM", 8192, 79.22, tp=2,
            weights_gib=7.48, note="tp=2: only the weights are in the thread's excerpt"),
    LogCase("https://github.com/vllm-project/vllm/pull/17122", "Llama-3.1-8B", "L40S", 32768, weights_gib=14.9889,
            note="the KV GiB is not in the log, so its 158,656 tokens are not checked"),
    LogCase("https://github.com/eformat/ragit-dev/blob/86cfcd6d42cfe98573b31b0ea956ec8c55a4b56f/docs/2-local-rag/"
            "2-local-rag-llamaindex.md", "Llama-3.2-3B", "RTX 4070", 10000, 7.65, weights_gib=3.26,
            weights_input=True, activation_gib=1.22, non_torch_gib=0.02, kv_gib=2.38, blocks=1395,
            concurrency=2.23, max_num_batched_tokens=10000, note="GGUF Q8_0 weights (logged, an input)"),
    LogCase("https://github.com/LMCache/LMCache/issues/1739", "Qwen3-14B", "GPU (not named)", 32768,
            kv_gib=6.51, tokens=42656, concurrency=1.30),
    LogCase("https://github.com/vllm-project/vllm/issues/21348", "Qwen3-235B-A22B", "4 x H100", 40960, tp=4,
            kv_gib=8.11, tokens=178880, note="FP8 checkpoint, bf16 KV; 4 KV heads: one per rank"),
    LogCase("https://github.com/vllm-project/vllm/pull/20665", "DeepSeek-V2-Lite", "4 x L4", 1024, tp=2, pp=2,
            kv_gib=(12.13, 11.33), tokens=807792, concurrency=788.86,
            note="MLA latent on every TP rank; pp=2 stages of 14 and 13 layers; the fewest blocks of any stage"),
    LogCase("https://github.com/vllm-project/vllm/issues/15871", "DeepSeek-V2-Lite", "not stated", 32768,
            request_gib=0.95, note="MLA: 27 layers x (512 + 64) x 2 B per token"),
    LogCase("https://github.com/vllm-project/vllm/issues/27508", "gpt-oss-120b", "H100", 131072,
            max_num_batched_tokens=1024, kv_gib=1.71, request_gib=4.54,
            note="hybrid: 18 sliding-window (128) + 18 full layers, two block groups"),
    LogCase("https://github.com/vllm-project/recipes/pull/12", "Qwen3-Coder-480B-A35B", "H20 (dp=8)", 262144,
            kv_gib=48.66, request_gib=62.00, max_len_fit=205728),
    LogCase("https://github.com/vllm-project/recipes/pull/12", "Qwen3-Coder-480B-A35B", "H20 (dp=8)", 262144,
            utilization=0.95, kv_gib=55.65, request_gib=62.00, max_len_fit=235296),
    LogCase("https://github.com/NVIDIA/TensorRT-LLM/issues/2268", "Qwen1.5-7B", "A100 40GB", 4096, 39.39,
            engine="trtllm", block_size=64, free_gib=21.89, blocks=631,
            note="TensorRT-LLM 0.13 engine (Qwen1.5-7B-sft, fp16): 'total: 39.39 GiB, available: 21.89 GiB', "
                 "'Number of blocks in KV cache primary pool: 631'; the default kv_cache_free_gpu_mem_fraction 0.9 "
                 "and the engine's tokens_per_block 64 (PluginConfig default of that release) assumed; a block holds "
                 "64 tokens x 32 layers x 32 KV heads x 128 x K,V x 2 B = 32 MiB"),
)


@dataclass(frozen=True)
class ThroughputCase:
    """A published throughput benchmark: ``requests`` requests of fixed lengths sent at once (request rate inf) to one
    replica of ``tp`` GPUs, by a client that keeps at most ``concurrency`` in flight (None: as many as the engine
    admits); the output tokens per second it measured (all GPUs of the replica together, or of ``replicas`` copies).
    A "server" case is an MLPerf Server run instead: the tokens/s completed at the highest Poisson rate meeting its
    latency bounds (``requests`` per simulated rate). ``miss``: why our prediction is off by more than 30 % (the test
    holds such a case as a strict xfail)."""

    url: str
    model: str
    gpu: str
    prompt_tokens: int
    output_tokens: int
    requests: int
    concurrency: int | None
    output_tokens_per_s: float
    max_model_len: int = 32768
    note: str = ""
    engine: str = "vllm"
    tp: int = 1
    weights_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    miss: str = ""
    #: identical replicas of ``tp`` GPUs the published figure covers (an MLPerf system of 8 GPUs at tp 2: 4); ours is
    #: one replica's simulation x ``replicas`` (Offline splits the queries evenly; Server's Poisson stream too)
    replicas: int = 1
    #: "throughput": every request queued at t = 0; "server": the published completed tokens/s at the largest Poisson
    #: rate whose p99 TTFT and TPOT stay within ``slo_ttft_s`` / ``slo_tpot_s`` (MLPerf Server), ours from
    #: ``calc.serve_sim.max_rate`` x the mean output tokens
    scenario: str = "throughput"
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None


MUSHFIQ = "https://mushfiqrahman.dev/?p=1668"
_MISTRAL = "Mistral-7B-Instruct-v0.3 as the v0.1 preset (same layers; vocabulary 32,768 vs 32,000, <0.1 % of the bytes)"
VLLM_BENCH_CASES = tuple(
    ThroughputCase(MUSHFIQ, "Mistral-7B-v0.1", "RTX 4090", 256, 128, 300, c, float(tps), note=_MISTRAL)
    for c, tps in ((4, 210), (8, 377), (16, 644), (32, 975), (48, 1190)))

#: TensorRT-LLM's published throughput table (docs/source/performance/perf-overview.md at commit 00f37686aa85):
#: ``trtllm-bench throughput`` (PyTorch backend) on requests of fixed lengths (prepare_dataset.py token-norm-dist,
#: stdev 0) queued at an infinite rate, "Total Output Throughput (tokens/sec)"; NVIDIA's ModelOpt FP8 checkpoints
#: (nvidia/Llama-3.1-8B-Instruct-FP8, nvidia/Llama-3.3-70B-Instruct-FP8: FP8 matrices, FP8 KV cache assumed), the
#: engine's defaults (KV 0.9 of the free memory; max_batch_size 2048, max_num_tokens 8192); requests per length pair
#: from the same page. Ours: FP8 weights and KV, the FP8 datasheet peak x 0.6 x FP8's mamf-finder share over bf16's
#: (``calc.serve_sim.typical_matmul_efficiency``: 0.53 on H100, 0.55 on H200) and the bandwidth x 0.8.
TRTLLM_PERF = ("https://github.com/NVIDIA/TensorRT-LLM/blob/00f37686aa854010d68bcbd0f4ab000221541ca6/docs/source/"
               "performance/perf-overview.md")
_TRT_REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (500, 2000): 3000, (1000, 1000): 3000,
                 (1000, 2000): 1500, (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500, (20000, 2000): 1000}
#: (model, GPU, tp) -> published tokens/s per (prompt, output) in _TRT_REQUESTS order
_TRT_TABLE = {
    ("Llama-3.1-8B", "H200", 1): (27911, 26221, 18027, 20770, 17744, 16828, 3538, 12194, 3902, 1804),
    ("Llama-3.1-8B", "H100 SXM", 1): (28312, 22714, 14325, 17660, 15220, 13899, 3450, 9305, 3459, 1351),
    ("Llama-3.3-70B-Instruct", "H200", 1): (3803, 4336, 2872, 3666, 2909, 2994, 442, 2003, 566, 283),
    ("Llama-3.3-70B-Instruct", "H100 SXM", 2): (6378, 6651, 4199, 5222, 4205, 4146, 762, 3082, 898, 437),
}
#: Cases ours over-predicts by more than 30 % (`python -m calc.serve_logs` prints them all), each with the efficiency that
#: alone would match the publication (the other at its default): a diagnosis, never fed back into the defaults, as
#: {(model, GPU, prompt, output): ("prefill" | "decode", matmul efficiency, bandwidth efficiency)}. None since the step
#: time runs attention's KV reads and the element-wise kernels' activation traffic after the matmuls instead of
#: overlapping everything in one max (calc/serve_sim.py): with one max 14 of 40 missed (8B short-sequence prefill at
#: +34-47 %, decode of hundreds of long sequences at +32-60 %); with the KV reads added 4; with the activation
#: traffic too, 0 (all 40 between +0 % and +27 %, nothing fitted); with FP8 GEMMs at their mamf-finder share,
#: -8 % to +23 %.
_TRT_MISSES: dict[tuple[str, str, int, int], tuple[str, float, float]] = {}
TRTLLM_MISSES = {k: (f"{kind}: ours over-predicts by more than 30 %; the publication matches at a matmul efficiency of "
                     f"{me} (bandwidth 0.8) or a bandwidth efficiency of {be} (matmul 0.6): "
                     + ("compute-bound, FP8 GEMMs below 0.6 of their peak" if kind == "prefill"
                        else "decode of hundreds of long sequences: per-step costs the step time leaves out"))
                 for k, (kind, me, be) in _TRT_MISSES.items()}
TRTLLM_CASES = tuple(
    ThroughputCase(TRTLLM_PERF, model, gpu, p, o, _TRT_REQUESTS[(p, o)], None, float(tps), max_model_len=p + o,
                   engine="trtllm", tp=tp, weights_dtype="fp8_e4m3", kv_dtype="fp8_e4m3",
                   note="TensorRT-LLM, FP8", miss=TRTLLM_MISSES.get((model, gpu, p, o), ""))
    for (model, gpu, tp), row in _TRT_TABLE.items() for (p, o), tps in zip(_TRT_REQUESTS, row, strict=True))

#: MLPerf Inference v4.1, closed division, NVIDIA's llama2-70b submissions (TensorRT-LLM, FP8): the results repository
#: at commit a2f5d66d17e8, ``closed/NVIDIA/results/<system>/<benchmark>/<scenario>/performance/run_1/mlperf_log_summary.txt``.
MLPERF_V41 = "https://github.com/mlcommons/inference_results_v4.1/blob/a2f5d66d17e8f75c02fd74dfe810ecca6a046696/closed/NVIDIA/"
#: Mean prompt of the llama2-70b query set (24,576 OpenOrca samples, ``processorca.py --seqlen_limit=1024``,
#: mlcommons/inference language/llama2-70b/README.md): 222.33 tokens (5,463,976 / 24,576; longest 1,021), the
#: ``tok_input_length`` column of MLCommons' processed pickle as exported to
#: github.com/openshift-psap/performance-dashboard mlperf-data/summaries/llama2-70b-99.csv (commit 7cd1065d1e2c; its
#: mlperf-data/original/generate_dataset_summaries.py reads the pickle). Mean output: each log's tokens / samples
#: (Llama-2-70B's own generations, 290-291; the README's reference run: 294.45).
MLPERF_LLAMA2_PROMPT = 222
#: Each system as NVIDIA's configs run it (closed/NVIDIA/configs/llama2-70b/{Offline,Server}/__init__.py at the same
#: commit): H100_SXM_80GB_TP2x4 (tensor_parallelism 2, 4 copies; gpu_batch_size 896 Offline, 1024 Server) and
#: H200_SXM_141GBx8 (tensor_parallelism 1, 8 copies; 806 / 896), use_fp8 (weights and KV cache:
#: code/llama2-70b/tensorrt/README.md quantizes with ``--qformat=fp8 --kv_cache_dtype=fp8``), kvcache_free_gpu_mem_frac
#: 0.90, engines built for 1,024 input + 1,024 output tokens (code/llama2-70b/tensorrt/builder.py, v4.0). Offline: the
#: queries loadgen issued (samples_per_query) split over the copies, all at t = 0. Server: Poisson arrivals, p99 TTFT
#: <= 2 s and p99 TPOT <= 200 ms (the log's ttft_latency / tpot_latency); ours simulates 10,000 requests per rate, 1.5 s
#: of CPU for both (the bisection's answer is 2 % above that of 60,000, which takes 9 s; 4,000 overstate it by 13 %:
#: an overload too short to show).
#: {(GPU, tp, copies, scenario): (results folder, logged tokens/s, logged samples/s, batch size, samples issued)}
_MLPERF = {
    ("H100 SXM", 2, 4, "throughput"): ("DGX-H100_H100-SXM-80GBx8_TRT/llama2-70b-99.9/Offline", 24524.9, 84.4792, 896,
                                       200640),
    ("H200", 1, 8, "throughput"): ("H200-SXM-141GBx8_TRT/llama2-70b-99/Offline", 31302.7, 107.477, 806, 274560),
    ("H100 SXM", 2, 4, "server"): ("DGX-H100_H100-SXM-80GBx8_TRT/llama2-70b-99.9/Server", 21605.79, 74.42, 1024, 10000),
    ("H200", 1, 8, "server"): ("H200-SXM-141GBx8_TRT/llama2-70b-99/Server", 29228.22, 100.35, 896, 10000),
}
#: None since FP8 GEMMs get the efficiency their mamf-finder share gives (``calc.serve_sim.typical_matmul_efficiency``:
#: 0.53 on H100, 0.55 on H200): the H100 Server case was +36 % at 0.6 (a strict xfail), +24 % now. Ours is the
#: saturation rate there (the SLOs do not bind first), the published Server 88 % of its Offline.
_MLPERF_MISSES: dict[tuple[str, str], str] = {}
MLPERF_CASES = tuple(
    ThroughputCase(f"{MLPERF_V41}results/{folder}/performance/run_1/mlperf_log_summary.txt", "Llama-2-70B", gpu,
                   MLPERF_LLAMA2_PROMPT, round(tokens / samples), issued // copies if scenario == "throughput" else issued,
                   batch, tokens, max_model_len=2048, engine="trtllm", tp=tp, weights_dtype="fp8_e4m3",
                   kv_dtype="fp8_e4m3", replicas=copies, scenario=scenario,
                   slo_ttft_s=2.0 if scenario == "server" else None, slo_tpot_s=0.2 if scenario == "server" else None,
                   note=f"MLPerf Inference v4.1 {'Server' if scenario == 'server' else 'Offline'}, {tp * copies}x {gpu} "
                        f"as {copies} copies at tp {tp}; mean lengths",
                   miss=_MLPERF_MISSES.get((gpu, scenario), ""))
    for (gpu, tp, copies, scenario), (folder, tokens, samples, batch, issued) in _MLPERF.items())
THROUGHPUT_CASES = VLLM_BENCH_CASES + TRTLLM_CASES + MLPERF_CASES



@dataclass(frozen=True)
class LatencyLog:
    """What an MLPerf Server ``mlperf_log_summary.txt`` logged about latency at the rate it ran (its "Additional
    Stats"): an independent reference for the simulator's latencies, not only its throughput. ``case``: the server
    ``ThroughputCase`` of the same log (system, lengths, engine, copies). Seconds; rates for all copies together."""

    case: ThroughputCase
    scheduled_per_s: float  # "Scheduled samples per second": the Poisson rate loadgen issued
    mean_latency_s: float  # "Mean latency": arrival to last token
    mean_ttft_s: float  # "Mean First Token latency"
    ttft_p99_s: float  # "99.00 percentile first token latency"
    tpot_mean_s: float  # "Mean Time to Output Token": per query (last - first token) / (tokens - 1), averaged
    tpot_p99_s: float  # "99.00 percentile time to output token"
    #: why ours at the logged rate misses the logged p99s by more than 30 % (the test holds it as a strict xfail)
    miss: str = ""

    @property
    def running(self) -> float:
        """Sequences decoding at a time in one copy, by Little's law on the log's own figures: the rate per copy x the
        mean time a query spends past its first token (mean latency - mean TTFT)."""
        return self.scheduled_per_s / self.case.replicas * (self.mean_latency_s - self.mean_ttft_s)


_AT_RATE_MISS = ("at the logged rate ours settles at a batch of ~{ours} sequences, the engine ran ~{logged} (Little's "
                 "law on the log): the logged Server rate sits at the engine's saturation (its step took {tpot} ms at "
                 "that batch, per sequence within ~10 % of the Offline run's full batch), while ours saturates {over} above it (the "
                 "server throughput case), so the same rate is ~{util} of our capacity, where a step of our roofline "
                 "(weights read once, the matmuls near the ridge) takes a few tens of ms. p99 TPOT this close to "
                 "saturation moves several-fold for a few percent of capacity: within 30 % needs our saturation within "
                 "a few percent of the engine's, which nothing unfitted gives. At the engine's own batch our step is "
                 "within 30 % of its TPOT (step_at_logged_batch). python -m calc.serve_logs prints both")
#: The two Server logs of MLPERF_CASES (same files), their "Additional Stats" in ns written as s
LATENCY_LOGS = (
    LatencyLog(MLPERF_CASES[2], 75.10, 44.954547225, 0.275926440, 0.461278089, 0.154960329, 0.175354317,
               miss=_AT_RATE_MISS.format(ours=130, logged=840, tpot=155, over="24 %", util="82 %")),
    LatencyLog(MLPERF_CASES[3], 101.25, 35.854894885, 0.198269106, 0.452744202, 0.123263268, 0.146040006,
               miss=_AT_RATE_MISS.format(ours=120, logged=450, tpot=123, over="10 %", util="92 %")),
)


def _replica(case: ThroughputCase, matmul_efficiency: float | None = None,
             bandwidth_efficiency: float | None = None):
    """(step model, simulate keywords) of one replica of ``case`` (``reproduce_throughput`` says how)."""
    from calc.gpus import get_gpu
    from calc.serve import gemm_dtype
    from calc.serve_sim import BANDWIDTH_EFFICIENCY, step_model, typical_matmul_efficiency

    gpu = get_gpu(case.gpu)
    spec = get_preset(case.model) if case.model not in CONFIGS else case_spec(case.model)
    engine = get_engine(case.engine)
    batched, seqs = engine.batch_defaults(gpu.memory_bytes, gpu.name)
    mem = serve_memory(spec, ServeSetup(gpu.memory_bytes, tp=case.tp, max_model_len=case.max_model_len,
                                        max_num_batched_tokens=batched, max_num_seqs=seqs, engine=case.engine,
                                        gpu_memory_utilization=engine.fraction(gpu.memory_bytes, case.tp),
                                        block_size=engine.block_size, weights_dtype=case.weights_dtype,
                                        kv_dtype=case.kv_dtype))
    compute = gemm_dtype(case.weights_dtype, gpu)
    model = step_model(spec, gpu.peak(compute), gpu.bandwidth_bytes_per_s, tp=case.tp,
                       weights_dtype=case.weights_dtype, kv_dtype=case.kv_dtype,
                       matmul_efficiency=matmul_efficiency or typical_matmul_efficiency(gpu, compute),
                       bandwidth_efficiency=bandwidth_efficiency or BANDWIDTH_EFFICIENCY)
    kw = dict(max_num_seqs=min(case.concurrency or seqs, seqs, mem.max_running or seqs), max_num_batched_tokens=batched,
              kv_capacity_tokens=mem.sim_kv_tokens, state_tokens_per_request=mem.state_tokens_per_request)
    return model, kw


def reproduce_throughput(case: ThroughputCase, matmul_efficiency: float | None = None,
                         bandwidth_efficiency: float | None = None) -> float:
    """Our output tokens/s for ``case``: a client keeping ``concurrency`` requests in flight is a server admitting
    at most that many (max_num_seqs) with every request queued at t = 0; KV capacity and batch defaults as the
    case's engine gives them on that GPU (calc/serve.py ENGINES); efficiencies default to calc/serve_sim.py's
    typical figures (``typical_matmul_efficiency``), on the datasheet peak of the weights' GEMM precision (``calc.serve.gemm_dtype``: FP8 here). A
    server case: ``max_rate`` under its SLOs x the output tokens; both kinds x ``replicas``."""
    from calc.serve_sim import max_rate, poisson_workload, simulate

    model, kw = _replica(case, matmul_efficiency, bandwidth_efficiency)
    if case.scenario == "server":
        rate = max_rate(model, case.prompt_tokens, case.output_tokens, case.slo_ttft_s, case.slo_tpot_s,
                        requests=case.requests, **kw)
        return rate * case.output_tokens * case.replicas
    w = poisson_workload(case.requests, 1e6, case.prompt_tokens, case.output_tokens, seed=0)
    return simulate(model, w, **kw).throughput_tokens_per_s * case.replicas


def step_at_logged_batch(log: LatencyLog) -> tuple[float, float]:
    """(logged mean TPOT, our step time) with the batch the engine ran: ``log.running`` sequences decoding (Little's
    law), each at the mean context of a decode (prompt + half the output), and the prompts arriving during one step
    (rate per copy x the logged mean TPOT x the prompt tokens) prefilled in it, their (query, position) pairs causal.
    Every decode step of TensorRT-LLM's in-flight batching carries all running generations plus the context phases
    scheduled into it; a query's TPOT is the mean gap of its steps, so the logged mean TPOT is the mean step time.
    This holds the step model to the log at the engine's own batch, apart from the queueing around it."""
    model, _ = _replica(log.case)
    c = log.case
    rate = log.scheduled_per_s / c.replicas
    n = log.running
    prefill = rate * log.tpot_mean_s * c.prompt_tokens
    prompts = prefill / c.prompt_tokens
    pairs = prompts * c.prompt_tokens * (c.prompt_tokens + 1) / 2
    ours = model.step_s(round(n + prefill), round(n + prompts), n * (c.prompt_tokens + c.output_tokens / 2), pairs)
    return log.tpot_mean_s, ours


def latency_at_logged_rate(log: LatencyLog, requests: int = 10_000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """{quantity: (logged, ours)}: p99 TTFT and TPOT, and the running batch (Little's law both sides), from simulating
    ``requests`` Poisson arrivals at the logged scheduled rate per copy with the mean lengths."""
    from calc.serve_sim import poisson_workload, simulate

    model, kw = _replica(log.case)
    c = log.case
    rate = log.scheduled_per_s / c.replicas
    r = simulate(model, poisson_workload(requests, rate, c.prompt_tokens, c.output_tokens, seed=seed), **kw)
    p = r.percentiles()
    return {"ttft p99 s": (log.ttft_p99_s, p["ttft_s"]["p99"]), "tpot p99 s": (log.tpot_p99_s, p["tpot_s"]["p99"]),
            "running": (log.running, rate * float((r.e2e_s - r.ttft_s).mean()))}


def case_spec(name: str) -> ModelSpec:
    return ModelSpec.from_hf_config(CONFIGS[name], name=name)


if __name__ == "__main__":  # every published throughput beside ours
    for c in THROUGHPUT_CASES:
        ours = reproduce_throughput(c)
        print(f"{c.model:24} {c.gpu:9} tp{c.tp} {c.prompt_tokens:>5}/{c.output_tokens:<5} published "
              f"{c.output_tokens_per_s:>8,.0f} ours {ours:>8,.0f} {ours / c.output_tokens_per_s - 1:+.0%}"
              + (" (xfail)" if c.miss else ""))
    for log in LATENCY_LOGS:
        logged, ours = step_at_logged_batch(log)
        print(f"{log.case.gpu:9} Server step at the logged batch ({log.running:.0f}): logged mean TPOT {logged * 1e3:.0f} "
              f"ms, ours {ours * 1e3:.0f} ms {ours / logged - 1:+.0%}")
        for k, (a, b) in latency_at_logged_rate(log).items():
            print(f"{log.case.gpu:9} Server at the logged rate: {k:11} logged {a:8.3f} ours {b:8.3f} {b / a - 1:+.0%}")
