"""Published training runs the cluster planner (``calc/plan.py``) is checked against: each with its stated layout,
the figure published and where. ``tests/test_plan.py`` asserts them; the Cluster planner page shows the table.

``metric``: what the publication reports per GPU: ``"hardware_tflops"`` (FLOP/s that count the recomputed
forward, Megatron's eq. 3 and Megatron-DeepSpeed's counter), ``"model_tflops"`` (model FLOPs only), ``"mfu"`` or
``"tokens_per_s_per_gpu"`` (torchtitan's WPS: no FLOP convention involved).
``attention_flops``: how the publication counts the attention score products; "full" for every row here: Megatron's
eq. 3 and Megatron-DeepSpeed's counter, PaLM's MFU, torchtitan's get_num_flop_per_token. Llama 3's TFLOP/s are its
"BF16 Model FLOPs Utilization (MFU; Chowdhery et al. (2023))" (Dubey et al. 2024 sec. 3.3.2), PaLM's: App. B counts
6N + 12LHQT per token, every query against all T keys (tests/test_plan.py holds the Llama 3 rows to it); Meta's open
training code, torchtitan, counts full too ("we follow the convention and do not account for sparsity in causal
attention", pytorch/torchtitan torchtitan/utils.py at commit 0011fb9). OPT's counter is not stated: full, the
convention of the Megatron code it used.
``role``: ``"fit"`` rows fixed ``calc.plan.E_MAX`` / ``X_HALF``; the others (``"held out"``, and Table 1's smaller
rows, ``"same paper, not fitted"``) did not. ``stack``: what the run's software did (``calc.plan.STACKS``: sequence
parallelism, FlashAttention, dropout), read by the memory-bound term.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calc.compute import flops_per_token
from calc.gpus import GPU, custom_gpu, get_gpu
from calc.models import ModelSpec
from calc.plan import STACKS, Cluster, Job, Layout, Plan, step_time
from calc.presets import get_preset

_NARAYANAN = ("Narayanan et al. 2021, 'Efficient Large-Scale Language Model Training on GPU Clusters Using "
              "Megatron-LM', Table 1 (A100 80GB, full recompute, seq 2048, vocab 51,200)")
_KORTHIKANTI = ("Korthikanti et al. 2022, 'Reducing Activation Recomputation in Large Transformer Models', abstract "
                "and sec. 6: 530B on 2240 A100s, tp 8 pp 35 dp 8, batch 2240 (interleaving degree not stated: v = 1)")
_LLAMA3 = ("Dubey et al. 2024, 'The Llama 3 Herd of Models', Table 4 (H100, 16M tokens per batch, no activation "
           "checkpointing at 8K) and sec. 3.3.2: interleaved stages, and 'the first model chunk on the first stage has "
           "only the embedding, and the last model chunk on the last stage has only output projection and loss' after "
           "one layer was taken from each, so every chunk holds one of the 126 layers: 128 chunks on pp 16, v = 8")
_BLOOM = ("BigScience 2022, 'BLOOM: A 176B-Parameter Open-Access Multilingual Language Model' sec. 3.4 and the "
          "BigScience 176B model page: 384 A100 80GB, tp 4 pp 12 dp 8, micro-batch 2, full recompute, 'about 150 "
          "TFLOPs'; nodes joined by 4 x 100 Gb/s Omni-Path (at BigScience's measured bus bandwidth, ``_BLOOM_LINKS``)")

#: BigScience's benchmark of BLOOM's final shape before the run (the source of ``_bloom_bench`` and of
#: ``BIGSCIENCE_MEMORY``'s last rows).
_BIGSCIENCE_PREQUEL = ("bigscience-workshop/bigscience train/tr11-176B-ml/chronicles-prequel.md (commit 9e64ede), section "
                       "'Rebalancing layers' (2022-02-28, BF16_Optimizer, --pp-partition-method "
                       "'type:transformer|embedding', --checkpoint-activations as in every tr11 benchmark and the run, "
                       "tr11-176B-ml.slurm)")
_BLOOM_BENCH = (_BIGSCIENCE_PREQUEL + ", table 'NHIDDEN=14336; NLAYERS=70; Model size: 176B': BLOOM's shape with 64 "
                "heads on 48 nodes of 8 A100 80GB, GBS 2048, MBS 2, full activation checkpointing, {row} TFLOPs at the "
                "2nd iteration as Megatron-DeepSpeed counts them (hardware FLOPs, the same counter as BLOOM's 150)")


_OPT = ("Zhang et al. 2022, 'OPT: Open Pre-trained Transformer Language Models' sec. 2.4: 992 A100 80GB, Fully "
        "Sharded Data Parallel with Megatron-LM tensor parallelism, 'up to 147 TFLOP/s per GPU'; Table 1: 96 layers, "
        "hidden 12288, 96 heads, batch 2M tokens, sequence 2048; metaseq projects/OPT/chronicles/10_percent_update.md: "
        "8x tensor parallelism, 'batch-size of 2M', and '33 days to fully train at this scale with 1024 80GB A100s' "
        "(300B tokens: 108 model TFLOP/s, so the 147 counts the recomputed forward: full recompute, hardware "
        "FLOP/s). dp = 992 / 8 = 124, so the batch is 124 x 8 = 992 sequences (2.03M tokens), each replica's 8 in "
        "one pass (micro-batch not stated)")
_OPT_CONFIG = {"model_type": "opt", "hidden_size": 12288, "num_hidden_layers": 96, "num_attention_heads": 96,
               "ffn_dim": 49152, "vocab_size": 50272, "max_position_embeddings": 2048, "word_embed_proj_dim": 12288,
               "do_layer_norm_before": True}


_TORCHTITAN = ("torchtitan docs/performance.md, 'Llama 3 performance numbers': FSDP2 on 64 A100 80GB, local batch 1 "
               "(global 64), sequence 8,192 (train_configs/llama3_*.toml), 8B with 'selective op' activation checkpointing, 70B "
               "with full; WPS = tokens/s per GPU. The network is not "
               "stated: the catalog's DGX A100 row (200 Gb/s per GPU)")


_TORCHTITAN_H100 = ("torchtitan benchmarks/llama3_h100_202412_torchtitan.md, Table 1: Llama 3.1 8B, FSDP + torch.compile "
                    "(bf16, no Float8), 8 GPUs, local batch 2, selective activation checkpointing, 6,667 TPS/GPU "
                    "(sequence 8,192: train_configs/llama3_8b.toml). Grand Teton H100s: 96GB HBM2e at 2.4 TB/s, 500 W "
                    "power limit, NVLink, 400 Gb/s per GPU; 'the actual peak TFLOPs number is between SXM and NVL, and "
                    "we don't know its exact value' (footnote 2). The row takes the NVL's 835.5 TFLOP/s, the lower "
                    "end, so that its prediction is the planner's lowest for this card (at the SXM's 989 it is ~30% "
                    "higher), and the H100 SXM's measured matmul share (MAMF 794.5 of 989). Eager FSDP (5,762) is "
                    "left out: the planner assumes fused elementwise kernels, which torch.compile provides")
#: The Grand Teton H100 of torchtitan's benchmark (see ``_TORCHTITAN_H100``).
H100_HBM2E_500W = custom_gpu(96e9, 2.4e12, 835.5e12, 500, name="H100 96GB HBM2e, 500 W (torchtitan)")


_FOUNDRY = ("MosaicML llm-foundry scripts/train/benchmarking/README.md (commit 4952183, April 2024), 'MPT Training "
            "Benchmarks': {model} ({params} parameters; scripts/train/yamls/pretrain/mpt-{size}.yaml), sequence 2,048, "
            "FSDP FULL_SHARD, learned position embeddings (the table's NumParams grow by the sequence x d_model), the "
            "attention kernel of the run's stack; {rows}. Throughput (T/s/GPU) measured over 12 steps on the MosaicML "
            "platform")


_A100_40 = "A100 40GB with 1600 Gbps node-node interconnect (RoCE)"


def _mpt_config(d_model: int, layers: int, heads: int) -> dict:
    return {"model_type": "mpt", "d_model": d_model, "n_layers": layers, "n_heads": heads, "vocab_size": 50432,
            "max_seq_len": 2048, "expansion_ratio": 4}


#: MPT sizes of the llm-foundry table: (config, parameters as the table counts them)
_MPT = {"7b": (_mpt_config(4096, 32, 32), "6,658,859,008"), "70b": (_mpt_config(8192, 80, 64), "64,862,437,376")}


def _foundry(size: str, gpu: str, gpus: int, micro: int, accum: int, checkpointing: bool, tps: float,
             table: str, stack: str = "composer-fsdp-2023") -> ReportedRun:
    config, params = _MPT[size]
    rows = (f"table '{table}': {gpus} GPUs, micro-batch {micro}, gradient accumulation {accum}, activation "
            f"checkpointing {checkpointing}, {tps:,.0f} tokens/s per GPU")
    model = f"MPT-{size[:-1]}B"
    return ReportedRun(f"{model} (llm-foundry, {gpus} {gpu})", config, gpu, gpus, 2048, gpus * micro * accum,
                       Layout(dp=gpus, micro_batch=micro, recompute="full" if checkpointing else "none", zero=3),
                       "tokens_per_s_per_gpu", tps,
                       _FOUNDRY.format(model=model, params=params, size=size, rows=rows), stack=stack)


def _bloom_config(hidden: int = 14336, layers: int = 70, heads: int = 112) -> dict:
    return {"model_type": "bloom", "hidden_size": hidden, "n_layer": layers, "n_head": heads, "vocab_size": 250880}


#: BLOOM's cluster: Jean Zay's A100 80GB nodes joined by 4 x 100 Gb/s Omni-Path, 6.25 GB/s per GPU on the datasheet.
#: BigScience measured it with BLOOM's own environment (tr11-176B-ml's start script, NCCL 2.10.3, January 2022):
#: bigscience-workshop/bigscience experiments/bandwidth/all_reduce_bench-a100-n4.{slurm,txt} (commit 358e3c8), a 4 GB
#: fp32 all-reduce over 4 gpu_p5 nodes x 8 A100 (32 ranks), 5 trials per rank, "busbw" = size / time x 2 (n - 1) / n
#: (nccl-tests' convention, the planner's): median of the 160 readings 40.5430 Gbps = 5.07 GB/s, 81% of the datasheet
#: (the first trial of each rank ~15 Gbps, warm-up). A group spanning nodes runs at this bus bandwidth per GPU.
BLOOM_INTER_BUSBW_GBPS = 40.5430
_BLOOM_LINKS = {"inter_bytes_per_s": BLOOM_INTER_BUSBW_GBPS * 1e9 / 8}


def _bloom_bench(tp: int, pp: int, dp: int, tflops: float) -> ReportedRun:
    """One row of BigScience's 2022-02-28 benchmark of BLOOM's shape (64 heads) on BLOOM's 384 GPUs (``_BLOOM_BENCH``)."""
    return ReportedRun(f"BLOOM-176B shape, 64 heads, tp {tp} pp {pp} (BigScience benchmark)", _bloom_config(heads=64),
                       "A100 SXM 80GB", 384, 2048, 2048, Layout(tp=tp, pp=pp, dp=dp, micro_batch=2, recompute="full",
                                                                 zero=1),
                       "hardware_tflops", tflops, _BLOOM_BENCH.format(row=f"DP {dp} TP {tp} PP {pp}: {tflops}"),
                       cluster_kw=_BLOOM_LINKS, stack="megatron-deepspeed-2022")


def gpt_config(hidden: int, heads: int, layers: int, vocab: int = 51200, seq: int = 2048) -> dict:
    """Megatron's GPT models as a GPT-2 config: 4h MLP, LayerNorm, learned positions."""
    return {"model_type": "gpt2", "n_embd": hidden, "n_layer": layers, "n_head": heads, "vocab_size": vocab,
            "n_positions": seq}


@dataclass(frozen=True)
class ReportedRun:
    name: str
    model: str | dict  # a preset name or a config dict
    gpu: str
    gpus: int
    seq_len: int
    global_batch: int  # sequences
    layout: Layout
    metric: str
    published: float
    source: str
    role: str = "held out"
    cluster_kw: dict = field(default_factory=dict, hash=False)
    stack: str | None = None  # a ``calc.plan.STACKS`` key: what the run's software did; None: today's
    gpu_spec: GPU | None = field(default=None, hash=False, compare=False)  # a GPU outside the catalog (``gpu``: its name)
    #: how the publication's FLOP/s count the attention score products: "full" (every query against all s keys:
    #: Narayanan et al. 2021 eq. 3, PaLM App. B, torchtitan's get_num_flop_per_token) or "causal" (the (s + 1) / 2
    #: keys a causal mask leaves); the planner's own FLOP counts are full (``calc.compute.flops_per_token``)
    attention_flops: str = "full"


    def spec(self) -> ModelSpec:
        if isinstance(self.model, str):
            return get_preset(self.model)
        return ModelSpec.from_hf_config(self.model, name=self.name)

    def cluster(self) -> Cluster:
        return Cluster(self.gpu_spec or get_gpu(self.gpu), self.gpus, **self.cluster_kw)

    def job(self) -> Job:
        return Job(self.seq_len, self.global_batch * self.seq_len)

    def predict(self) -> tuple[float, Plan]:
        """(the predicted figure in the publication's metric, the plan)."""
        p = step_time(self.spec(), self.cluster(), self.job(), self.layout, stack=STACKS.get(self.stack))
        value = {"hardware_tflops": p.hardware_tflops_per_gpu, "model_tflops": p.model_tflops_per_gpu,
                 "mfu": p.mfu, "tokens_per_s_per_gpu": p.tokens_per_s / p.num_gpus}[self.metric]
        return value * self.convention_factor(), p

    def convention_factor(self) -> float:
        """The publication's FLOPs over the planner's (full-attention) FLOPs for the same work: 1 for a "full"
        count or a throughput; for "causal", the causal count's model (or, for hardware FLOP/s, executed with the
        layout's recompute) FLOPs over the full count's."""
        if self.attention_flops not in ("full", "causal"):
            raise ValueError(f"attention_flops must be 'full' or 'causal', got {self.attention_flops!r:.40}")
        if self.attention_flops == "full" or self.metric == "tokens_per_s_per_gpu":
            return 1.0
        spec = self.spec()
        full, causal = flops_per_token(spec, self.seq_len), flops_per_token(spec, self.seq_len, causal=True)
        if self.metric == "hardware_tflops":
            return causal.hardware_training(self.layout.recompute) / full.hardware_training(self.layout.recompute)
        return causal.model_training / full.model_training


def _n(params, heads, hidden, layers, tp, pp, gpus, batch, tflops, role="fit") -> ReportedRun:
    return ReportedRun(f"GPT {params}B (Megatron)", gpt_config(hidden, heads, layers), "A100 SXM 80GB", gpus, 2048,
                       batch, Layout(tp=tp, pp=pp, dp=gpus // (tp * pp), recompute="full", zero=0),
                       "hardware_tflops", tflops, _NARAYANAN, role, stack="megatron-2021")


# No recompute at 131k either: the paper says none at 8K (sec. 3.3.2) and nothing of the 131k stage, where cp 16 leaves
# each rank 131,072 / 16 = 8,192 tokens in 16 micro-batches on pp 16 x v 8, as the 8K stage on 16,384 GPUs: the same
# activations per GPU (calc.plan.layout_memory: 133.4 GB for both; above 80 GB, as for the 8K rows that ran without).
def _llama3(gpus, cp, dp, seq, tflops) -> ReportedRun:
    return ReportedRun(f"Llama 3 405B, {gpus:,} GPUs, seq {seq:,}", "Llama-3.1-405B", "H100 SXM", gpus, seq,
                       2048 * 8192 // seq, Layout(tp=8, pp=16, cp=cp, dp=dp, vpp=8, recompute="none", zero=1),
                       "model_tflops", tflops, _LLAMA3, stack="llama3-2024")


def bigscience_benchmark(hidden: int, layers: int, tp: int, pp: int, dp: int, micro_batch: int, tflops: float,
                         table: str) -> ReportedRun:
    """One more row of BigScience's benchmark tables (``_BIGSCIENCE_PREQUEL``'s file; ``table``: its section and
    table), on BLOOM's 384 GPUs with 64 heads, GBS 2048 and full recompute like ``_bloom_bench``'s rows."""
    source = (f"bigscience-workshop/bigscience train/tr11-176B-ml/chronicles-prequel.md (commit 9e64ede), {table}: "
              f"DP {dp} TP {tp} PP {pp} MBS {micro_batch}, 64 heads, GBS 2048: {tflops} TFLOPs (hardware FLOPs)")
    return ReportedRun(f"BigScience benchmark h{hidden} L{layers} tp {tp} pp {pp} mb {micro_batch}",
                       _bloom_config(hidden=hidden, layers=layers, heads=64), "A100 SXM 80GB", 384, 2048, 2048,
                       Layout(tp=tp, pp=pp, dp=dp, micro_batch=micro_batch, recompute="full", zero=1),
                       "hardware_tflops", tflops, source, cluster_kw=_BLOOM_LINKS, stack="megatron-deepspeed-2022")


_REBALANCING_82 = "section 'Rebalancing layers' (2022-02-28), table 'NHIDDEN=13312; NLAYERS=82; Model size: 178B'"
_NHEADS_78 = "section 'Another round of NHEADS' (2022-02-26), table 'NHIDDEN=13824 / NLAYERS=78'"

#: Pairs of BigScience benchmark rows (tests/test_plan_bloom.py; not in ``REPORTED_RUNS``, the page's table): the same
#: shape on the same day at two layouts. "equal m": tp 8 at micro-batch 4 against tp 4 at micro-batch 2, both
#: m = 2048 / (dp x mb) = 128 micro-batches per pipeline and the same tokens x h / tp per GPU per micro-batch;
#: "m 256 at tp 4": tp 4 at micro-batch 1 (m = 256, as tp 8 at micro-batch 2) against micro-batch 2 (m = 128).
BIGSCIENCE_PAIRS: dict[str, tuple[ReportedRun, ReportedRun]] = {
    "equal m": (bigscience_benchmark(13312, 82, 8, 12, 4, 4, 141.76, _REBALANCING_82),
                bigscience_benchmark(13312, 82, 4, 12, 8, 2, 151.71, _REBALANCING_82)),
    "m 256 at tp 4": (bigscience_benchmark(13824, 78, 4, 12, 8, 1, 109.57, _NHEADS_78),
                      bigscience_benchmark(13824, 78, 4, 12, 8, 2, 156.92, _NHEADS_78)),
}


REPORTED_RUNS: tuple[ReportedRun, ...] = (
    # the four smaller rows of Table 1 are not in the fit (same paper; held out and asserted like the others)
    _n(1.7, 24, 2304, 24, 1, 1, 32, 512, 137, role="same paper, not fitted"),
    _n(3.6, 32, 3072, 30, 2, 1, 64, 512, 138, role="same paper, not fitted"),
    _n(7.5, 32, 4096, 36, 4, 1, 128, 512, 142, role="same paper, not fitted"),
    _n(18.4, 48, 6144, 40, 8, 1, 256, 1024, 135, role="same paper, not fitted"),
    _n(39.1, 64, 8192, 48, 8, 2, 512, 1536, 138),
    _n(76.1, 80, 10240, 60, 8, 4, 1024, 1792, 140),
    _n(145.6, 96, 12288, 80, 8, 8, 1536, 2304, 148),
    _n(310.1, 128, 16384, 96, 8, 16, 1920, 2160, 155),
    _n(529.6, 128, 20480, 105, 8, 35, 2520, 2520, 163),
    _n(1008.0, 160, 25600, 128, 8, 64, 3072, 3072, 163),
    ReportedRun("GPT 530B, selective recompute", gpt_config(20480, 128, 105), "A100 SXM 80GB", 2240, 2048, 2240,
                Layout(tp=8, pp=35, dp=8, recompute="selective", zero=1), "mfu", 0.542, _KORTHIKANTI,
                stack="megatron-2022"),
    ReportedRun("GPT 530B, full recompute", gpt_config(20480, 128, 105), "A100 SXM 80GB", 2240, 2048, 2240,
                Layout(tp=8, pp=35, dp=8, recompute="full", zero=1), "mfu", 0.421, _KORTHIKANTI,
                stack="megatron-2022"),
    ReportedRun("BLOOM-176B", _bloom_config(), "A100 SXM 80GB", 384, 2048, 2048,
                Layout(tp=4, pp=12, dp=8, micro_batch=2, recompute="full", zero=1), "hardware_tflops", 150, _BLOOM,
                cluster_kw=_BLOOM_LINKS, stack="megatron-deepspeed-2022"),
    # the same table measured tp 8 on the same GPUs: the evidence on the planner's tp 8 rate (tests/test_plan_bloom.py)
    _bloom_bench(4, 12, 8, 153.68),
    _bloom_bench(8, 12, 4, 128.92),
    ReportedRun("OPT-175B", _OPT_CONFIG, "A100 SXM 80GB", 992, 2048, 992,
                Layout(tp=8, dp=124, micro_batch=8, recompute="full", zero=3), "hardware_tflops", 147, _OPT,
                stack="metaseq-2021"),
    ReportedRun("Llama 3 8B (torchtitan)", "Meta-Llama-3-8B", "A100 SXM 80GB", 64, 8192, 64,
                Layout(dp=64, recompute="selective", zero=3), "tokens_per_s_per_gpu", 2973, _TORCHTITAN,
                stack="torchtitan-2024"),
    ReportedRun("Llama 3 70B (torchtitan)", "Meta-Llama-3-70B", "A100 SXM 80GB", 64, 8192, 64,
                Layout(dp=64, recompute="full", zero=3), "tokens_per_s_per_gpu", 331, _TORCHTITAN,
                stack="torchtitan-2024"),
    ReportedRun("Llama 3.1 8B (torchtitan, H100)", "Llama-3.1-8B", H100_HBM2E_500W.name, 8, 8192, 16,
                Layout(dp=8, micro_batch=2, recompute="selective", zero=3), "tokens_per_s_per_gpu", 6667,
                _TORCHTITAN_H100, gpu_spec=H100_HBM2E_500W, stack="torchtitan-2024",
                cluster_kw={"intra_bytes_per_s": 450e9, "inter_bytes_per_s": 50e9, "matmul_ceiling": 794.5 / 989,
                            "attention_gpu": "H100 SXM"}),
    ReportedRun("Llama 3.1 8B (torchtitan, 128 H100)", "Llama-3.1-8B", H100_HBM2E_500W.name, 128, 8192, 256,
                Layout(dp=128, micro_batch=2, recompute="selective", zero=3), "tokens_per_s_per_gpu", 6514,
                _TORCHTITAN_H100.replace("Table 1", "Table 3").replace("8 GPUs", "128 GPUs (16 hosts)")
                .replace("6,667", "6,514").replace("(5,762)", "(5,605)"), gpu_spec=H100_HBM2E_500W,
                stack="torchtitan-2024",
                cluster_kw={"intra_bytes_per_s": 450e9, "inter_bytes_per_s": 50e9, "matmul_ceiling": 794.5 / 989,
                            "attention_gpu": "H100 SXM"}),
    _foundry("7b", "A100 SXM 40GB", 128, 18, 1, True, 3623, _A100_40),
    _foundry("7b", "A100 SXM 80GB", 8, 6, 2, False, 4641, "A100 80GB with 1600 Gbps node-node interconnect (RoCE)"),
    _foundry("7b", "H100 SXM", 8, 6, 1, False, 10643, "H100 80GB BF16"),
    # the Large Scale table came in January 2024 (llm-foundry 5e85bd6) with Composer >= 0.17.2: fp32 gradient
    # reduce-scatters and FlashAttention-2 (sweep.py: --attn_impl flash; STACKS["composer-fsdp-2024"]). The 8-GPU rows
    # above came in October 2023 with llm-foundry v0.3.0 and its Triton attention kernel (sweep.sh passes no --attn_impl:
    # submit_benchmarks.py's default 'triton'), as the A100 40GB rows of May 2023 (STACKS["composer-fsdp-2023"]);
    # Composer 0.16.3 reduced in bf16, 0.16.4 in fp32: not known which ran; over NVLink either moves them < 0.2%.
    # At 512 GPUs the ZeRO-3 collectives nearly fill each pass, so the row hangs on the network, which the table does
    # not state: the catalog's DGX H100 400 Gb/s per GPU gives +11%; 200 Gb/s would give -41%, 800 Gb/s +30%
    _foundry("7b", "H100 SXM", 512, 6, 1, False, 9670, "H100 80GB BF16 (Large Scale, >= 128 GPUs)",
             stack="composer-fsdp-2024"),
    # 70B on 64 GPUs: 2 sequences per GPU, so the parameter all-gathers over 25 GB/s outlast each pass's compute
    _foundry("70b", "A100 SXM 40GB", 64, 2, 1, True, 276, _A100_40),
    _foundry("70b", "A100 SXM 40GB", 128, 4, 1, True, 376, _A100_40),
    _llama3(8192, 1, 64, 8192, 430),
    _llama3(16384, 1, 128, 8192, 400),
    _llama3(16384, 16, 8, 131072, 380),
)


@dataclass(frozen=True)
class MeasuredMemory:
    """One memory reading of BigScience's layout benchmarks for BLOOM (``_BIGSCIENCE_PREQUEL``): a BLOOM-shaped model
    (vocabulary 250,880, sequence 2,048, GBS 2,048) on 48 nodes of 8 A100 80GB with BLOOM's stack
    (``STACKS["megatron-deepspeed-2022"]``), ZeRO-1 through BF16_Optimizer, full activation checkpointing. ``gib``: the
    "Mem" column, "max memory used by the first (last) nodes" read with nvidia-smi ("was quickly getting the memory
    snapshot with: pdsh ... nvidia-smi"), which counts MiB: read as GiB. nvidia-smi shows what the process holds:
    the CUDA context (1,573 MiB on an A100, measured in the same file), the caching allocator's reserved blocks and
    NCCL's buffers, beside the tensors. The first node holds pipeline stage 0 (Megatron-DeepSpeed's topology orders
    ranks pipe, data, model). ``None``: the layout ran out of memory ("OOM")."""

    hidden: int
    layers: int
    heads: int
    dp: int
    tp: int
    pp: int
    micro_batch: int
    gib: float | None

    def spec(self) -> ModelSpec:
        return ModelSpec.from_hf_config(_bloom_config(self.hidden, self.layers, self.heads),
                                        name=f"BLOOM-shaped h={self.hidden} L={self.layers}")

    def layout(self) -> Layout:
        return Layout(tp=self.tp, pp=self.pp, dp=self.dp, micro_batch=self.micro_batch, recompute="full", zero=1)

    def job(self) -> Job:
        return Job(2048, 2048 * 2048)


#: Every reading of the 'Rebalancing layers' tables (2022-02-28), the first with BF16_Optimizer's fp32 gradient buffer
#: (earlier tables ran without it and are left out): (hidden, layers, heads, DP, TP, PP, MBS, Mem).
BIGSCIENCE_MEMORY: tuple[MeasuredMemory, ...] = tuple(MeasuredMemory(*row) for row in (
    # NHIDDEN=12288; NLAYERS=106; Model size: 195B
    (12288, 106, 64, 8, 4, 12, 2, 67), (12288, 106, 96, 8, 4, 12, 2, 65), (12288, 106, 128, 8, 4, 12, 2, 67),
    (12288, 106, 96, 8, 4, 12, 4, 79),
    # NHIDDEN=12288; NLAYERS=100; Model size: 184B
    (12288, 100, 64, 16, 4, 6, 2, None), (12288, 100, 64, 16, 4, 6, 1, None), (12288, 100, 64, 8, 8, 6, 2, 61),
    (12288, 100, 64, 8, 8, 6, 4, 72),
    # NHIDDEN=13312; NLAYERS=82; Model size: 178B
    (13312, 82, 64, 4, 8, 12, 4, 52), (13312, 82, 64, 8, 4, 12, 2, 63), (13312, 82, 104, 8, 4, 12, 2, 62),
    (13312, 82, 128, 8, 4, 12, 2, 60), (13312, 82, 64, 8, 4, 12, 4, 74),
    # NHIDDEN=13312; NLAYERS=94 Model size: 203B
    (13312, 94, 128, 8, 4, 12, 2, 67),
    # NHIDDEN=14336; NLAYERS=70; Model size: 176B (BLOOM's shape; 112 heads is BLOOM)
    (14336, 70, 64, 4, 8, 12, 2, 40), (14336, 70, 64, 8, 4, 12, 2, 59), (14336, 70, 112, 8, 4, 12, 2, 59),
    (14336, 70, 128, 8, 4, 12, 2, 60), (14336, 70, 64, 8, 4, 12, 4, 73),
    # NHIDDEN=14336; NLAYERS=82; Model size: 206B
    (14336, 82, 128, 8, 4, 12, 2, None),
))


def runs_table() -> list[dict]:
    """One row per run: prediction, publication, error (what the page shows and the tests assert)."""
    rows = []
    for r in REPORTED_RUNS:
        value, _ = r.predict()
        lay = r.layout
        rows.append({"run": r.name, "GPUs": r.gpus, "GPU": r.gpu,
                     "layout": f"tp {lay.tp} pp {lay.pp} cp {lay.cp} dp {lay.dp}, mb {lay.micro_batch}, "
                               f"{lay.recompute} recompute",
                     "metric": r.metric, "published": r.published, "predicted": value,
                     "error %": (value - r.published) / r.published * 100, "role": r.role, "source": r.source})
    return rows
