"""The Methodology page's data: each formula the product uses, its source, and the tests that hold it.

``tests/test_methodology.py`` checks that every test named here exists, so the list cannot rot silently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    topic: str
    name: str
    formula: str  # Markdown / LaTeX
    source: str
    code: str  # where it lives
    tests: tuple[str, ...]  # "tests/test_file.py::test_name"


METHODS: tuple[Method, ...] = (
    Method("Models", "Parameter count",
           r"per layer: attention $h n_q d + 2 h n_{kv} d + n_q d h$ (+biases); MLP $3hf$ (gated) or $2hf$; "
           r"MoE $E(3hf_e + h)$ (+ shared); norms; plus embeddings $Vh$ and head $Vh$ unless tied",
           "the modules transformers builds (modeling_llama.py, modeling_mixtral.py, modeling_deepseek_v3.py, ...)",
           "calc/models.py: param_counts",
           ("tests/test_models.py::test_preset_total_matches_published_count",
            "tests/test_models.py::test_preset_total_matches_transformers_meta_build",
            "tests/test_models.py::test_config_variants_match_transformers",
            "tests/test_cli.py::test_params_config_file_matches_transformers")),
    Method("Models", "Active parameters (MoE)",
           r"total $-$ routed experts $+$ $k/E$ of them (embeddings and head included)",
           "Mixtral announcement (12.9B active), DeepSeek-V3 report (37B activated), Qwen3 model card",
           "calc/models.py: ParamCounts.active",
           ("tests/test_models.py::test_active_parameters_of_moe_models",)),
    Method("Reference", "Number formats",
           r"bits = sign + exponent + mantissa; eps $= 2^{-\text{mantissa}}$; range from finfo; block formats add "
           r"their shared scale: MXFP4 $4 + 8/32$, NVFP4 $4 + 8/16$ bits",
           "IEEE 754; bfloat16; Micikevicius et al. 2022 (FP8); OCP Microscaling Formats v1.0 (FP4 E2M1, MXFP4); "
           "NVIDIA NVFP4; numpy / ml_dtypes finfo", "calc/dtypes.py",
           ("tests/test_reference_data.py::test_float_layout_matches_finfo",
            "tests/test_reference_data.py::test_bf16_has_fp32_range_and_less_precision",
            "tests/test_number_formats.py::test_fp4_element_values_match_ml_dtypes_and_the_ocp_table",
            "tests/test_number_formats.py::test_block_formats_bits_per_weight_match_llama_cpp_blocks")),
    Method("Reference", "Units", r"GB $=10^9$ B, GiB $=2^{30}$ B; 1B params x 4 B = 4.00 GB = 3.73 GiB",
           "IEC 80000-13; scipy.constants giga / gibi", "calc/units.py",
           ("tests/test_reference_data.py::test_units_rule_of_thumb",)),
    Method("Memory", "KV cache",
           r"$\sum_\text{layers} 2 \cdot n_{kv} \cdot d \cdot \min(s, w) \cdot b \cdot \text{bytes}$, each layer "
           r"kind its own $n_{kv}$, $d$ and span $w$ (sliding window, attention chunk, or $s$); "
           r"MLA: $(r_{kv} + d_{rope}) \cdot s \cdot b \cdot \text{bytes}$ per layer, no factor 2",
           "Pope et al. 2022; DeepSeek-V2 paper sec. 2.1.2", "calc/kvcache.py: kv_cache_bytes",
           ("tests/test_memory_torch.py::test_kv_cache_equals_transformers_cache",
            "tests/test_validation.py::test_kv_cache_positions_and_mla_layout",
            "tests/test_kvcache_arch.py::test_cache_bytes_equal_transformers_cache",
            "tests/test_kvcache_arch.py::test_per_layer_pattern_matches_transformers_layer_types",
            "tests/test_kvcache_pages.py::test_inference_page_gpt_oss_sliding_layers_at_the_window")),
    Method("Memory", "Recurrent state (Mamba, Mamba-2, gated DeltaNet, Jamba, Qwen3-Next)",
           r"per sequence and recurrent layer: conv state $C \cdot k$ (channels x kernel, model dtype) + SSM state "
           r"(Mamba $d_{inner} d_{state}$, Mamba-2 $n_h d_h d_{state}$, DeltaNet $n_v d_k d_v$) in fp32; fixed, "
           r"whatever the context. llama.cpp: $(k-1) C$ + the same state, both f32",
           "Gu & Dao 2023; Dao & Gu 2024; Yang et al. 2024 (gated DeltaNet); transformers cache_utils.py "
           "LinearAttentionLayer; llama.cpp llama-hparams.cpp n_embd_r / n_embd_s",
           "calc/kvcache.py: state_bytes, state_layer_bytes; calc/gguf_run.py: kv_layer_bytes",
           ("tests/test_kvcache_arch.py::test_cache_bytes_equal_transformers_cache",
            "tests/test_kvcache_arch.py::test_inference_memory_counts_state_apart_and_fixed",
            "tests/test_kvcache_gguf.py::test_qwen3_next_recurrent_state_from_llama_cpp_hparams")),
    Method("Memory", "llama.cpp sliding-window cache (GGUF)",
           r"windowed / chunked layers: $\lceil \min(c, w + n_{ubatch}) / 256 \rceil \cdot 256$ cells per sequence, "
           r"F16 when the cache type is quantized; other layers the context",
           "llama.cpp llama-kv-cache-iswa.cpp; ggml-org/llama.cpp#21277", "calc/gguf_run.py: swa_cells, kv_layer_bytes",
           ("tests/test_kvcache_gguf.py::test_gpt_oss_sliding_layers_get_the_swa_cache",
            "tests/test_kvcache_gguf.py::test_gemma3_five_to_one")),
    Method("Memory", "Model states and ZeRO",
           r"mixed-precision Adam: $2 + 2 + 12 = 16$ B/param; per GPU ZeRO-1 $4 + 12/N_d$, ZeRO-2 $2 + 14/N_d$, "
           r"ZeRO-3 $16/N_d$; other optimizers: AdamW 8 B, 8-bit AdamW 2 B, SGD+momentum 4 B, SGD 0 of state",
           "Rajbhandari et al. 2019 (ZeRO) sec. 3.1 and 5", "calc/memory.py: training_memory",
           ("tests/test_memory.py::test_zero_paper_per_device_model_states",
            "tests/test_memory.py::test_rule_of_thumb_table",
            "tests/test_memory_cli.py::test_zero_paper_figures_from_the_cli",
            "tests/test_memory_torch.py::test_weights_and_gradients_bytes",
            "tests/test_memory_torch.py::test_adamw_state_bytes_after_one_step")),
    Method("Memory", "Training engines (DDP, FSDP2, DeepSpeed ZeRO, Megatron)",
           r"the step's peak per GPU is the largest of three moments: backward start (activations + gathered "
           r"parameters + persistent buffers), end of backward (every gradient + reduction buffers), optimizer step "
           r"(gradients + step temporaries); DDP buckets = the gradients; FSDP2 shard = $\lceil d_0/N \rceil$ rows "
           r"of every tensor; Megatron distributed optimizer $6 + 12/d$ B/param (bf16, fp32 grads)",
           "torch 2.13 (distributed.py, reducer.cpp, fsdp/_fully_shard/), DeepSpeed 0.19 runtime/zero/, "
           "Megatron-LM docs/source/api-guide/dist_optimizer.md", "calc/engines.py: engine_memory, between_steps",
           ("tests/test_engines.py::test_zero_paper_example_exact_with_plain_engine",
            "tests/test_engines.py::test_megatron_bytes_per_parameter_table",
            "tests/test_engines.py::test_fsdp2_shard_is_the_padded_chunk_of_every_parameter",
            "tests/test_engines.py::test_deepspeed_estimates_equal_deepspeeds_functions",
            "tests/test_sharded.py::test_every_rank_within_ten_percent_by_both_instruments",
            "tests/test_sharded.py::test_one_case_measured_again_gives_the_committed_bytes")),
    Method("Memory", "Activations",
           r"per layer $b\,s\,(P + s\,K)$ from every tensor the block saves for backward (SwiGLU/GeLU, GQA, norms, "
           r"MoE); eager attention adds the $s \times s$ scores; full recompute keeps the layer input; logits and "
           r"loss $12\,s\,b\,V$",
           "Korthikanti et al. 2022 Table 2 method, re-derived per tensor as transformers implements each block",
           "calc/activations.py, calc/memory.py: activation_bytes",
           ("tests/test_memory.py::test_korthikanti_table2",
            "tests/test_memory_torch.py::test_activation_bytes_per_layer_match_saved_tensors",
            "tests/test_validation.py::test_formula_matches_measurement")),
    Method("Memory", "Per-op selective recompute (torchtitan)",
           r"each layer keeps its input, the outputs of its 1st, 3rd, 5th... plain matmul (a biased linear runs "
           r"addmm: neither kept nor counted) and the attention kernel's output with its fp32 log-sum-exp; the rest "
           r"is re-run in the backward pass (one layer's tensors at a time), which costs $2\,W_r$ FLOPs per token "
           r"and layer for the weights $W_r$ of the matmuls re-run (not the block's last: checkpoint's early stop)",
           "torchtitan torchtitan/parallelisms/parallelize_llama.py (_save_list, _custom_policy: 'Saves output of all "
           "compute ops, except every second mm') at 9dec370, the commit of benchmarks/llama3_h100_202412_torchtitan.md; "
           "docs/performance.md ('selective op' for Llama 3 8B)",
           "calc/activations.py: op_selective_terms; calc/memory.py: TrainingSetup.selective; calc/plan.py: "
           "STACKS['torchtitan-2024']",
           ("tests/test_activations_ops.py::test_op_selective_layer_matches_real_tensors",
            "tests/test_activations_ops.py::test_op_selective_recomputed_flops_match_flop_counter",
            "tests/test_activations_ops.py::test_torchtitan_llama31_8b_peak_below_published_reserved")),
    Method("Memory", "Dropout masks",
           r"the config's dropout (or a set probability) saves one mask per dropped tensor: $a\,s^2$ per sequence and "
           r"layer on eager attention probabilities, $2h$ per token and layer for residual dropout, $h$ per token "
           r"for embedding dropout; 1 byte per element on CUDA (native_dropout), the activation dtype on the CPU",
           "transformers modeling code (gpt2/modeling_gpt2.py attn_pdrop, resid_pdrop, embd_pdrop; "
           "llama/modeling_llama.py attention_dropout; phi3, gpt_neox, starcoder2, opt); PyTorch at::dropout",
           "calc/activations.py: config_dropout, DROPOUT_FIELDS",
           ("tests/test_dropout.py::test_a_config_without_dropout_fields_gets_the_config_class_defaults",
            "tests/test_dropout.py::test_dropout_masks_match_saved_tensors",
            "tests/test_validation.py::test_formula_matches_measurement")),
    Method("Memory", "LoRA / QLoRA",
           r"trainable $r(d_{in} + d_{out})$ per adapted matrix; frozen base in bf16 or nf4 (+ double-quantized "
           r"block scales)", "Hu et al. 2021 (LoRA); Dettmers et al. 2023 (QLoRA); PEFT",
           "calc/memory.py", ("tests/test_memory_torch.py::test_lora_params_equal_peft",
                              "tests/test_memory.py::test_lora_and_qlora_states")),
    Method("Memory", "Fewest GPUs and what would fit",
           r"smallest $tp \cdot pp \cdot dp$ whose per-GPU memory fits, over valid layouts only: $tp$ splits every "
           r"mixer's units (see 'Tensor-parallel split per mixer kind', $\le 8$), $pp$ divides the layers, ZeRO over $dp$ (stages 2-3 only without pp); "
           r"ties prefer tp, then pp, then dp. Remedies: recompute, smaller micro-batch, 8-bit AdamW, ZeRO, a layout",
           "Megatron-LM (heads and layers split evenly); DeepSpeed pipeline engine (ZeRO 0/1 with pp); vLLM (serving tp)",
           "calc/solvers.py: fewest_gpus, remedies, single_changes",
           ("tests/test_solvers.py::test_fewest_gpus_equals_an_exhaustive_search",
            "tests/test_solvers.py::test_qlora_on_a_4090_names_recompute_first",
            "tests/test_newcomer_verdict.py::"
            "test_no_single_change_fits_each_lever_is_shown_with_its_number_and_zero_joins_the_combination")),
    Method("Memory", "Tensor-parallel split per mixer kind",
           r"$tp$ divides every unit the layout's mixers have: attention heads and KV heads (when some layer has "
           r"attention), Mamba $d_{inner}$, Mamba-2 heads and groups, DeltaNet key and value heads, lightning-attention "
           r"heads; serving also replicates KV heads ($tp$ a multiple of them) and a single Mamba-2 group. One GPU "
           r"keeps each recurrent mixer with its units $/ tp$ (its conv and SSM state follow)",
           "Megatron-LM MambaMixer (d_inner, ngroups, nheads % tp); vLLM QKVParallelLinear and MambaMixer2 "
           "(n_groups % tp == 0 or n_groups == 1)",
           "calc/parallel.py: tp_units, tp_problem, valid_tps, mixer_on_gpu",
           ("tests/test_tp_kinds.py::test_allowed_tps_are_what_transformers_modules_split",
            "tests/test_tp_kinds.py::test_hybrid_refused_at_a_tp_that_splits_attention_but_not_its_recurrent_mixer",
            "tests/test_tp_kinds.py::test_state_per_gpu_at_tp2_is_the_shards_cache",
            "tests/test_tp_kinds.py::test_pure_mamba_is_sized_and_laid_out_over_two_gpus")),
    Method("Models", "Checkpoint as published",
           r"from the safetensors headers: bytes $=\sum$ elements $\times$ dtype bits / 8 per tensor; parameters "
           r"unpack stored values (MXFP4 and bitsandbytes 4-bit: 2 per byte, GPTQ/AWQ: 32/bits per int32); "
           r"scales, zero points, group indices and buffers are not parameters",
           "safetensors format spec; transformers FineGrainedFP8 / mxfp4 integrations; AutoGPTQ, AutoAWQ, "
           "bitsandbytes QuantState.as_dict; huggingface_hub parse_safetensors_file_metadata",
           "calc/checkpoint.py: summarize; hub/ (Hub ids, range reads, cache)",
           ("tests/test_checkpoint.py::test_llama3_8b_header_count_is_the_published_count",
            "tests/test_checkpoint.py::test_fp8_block_scales_read_as_stored",
            "tests/test_checkpoint.py::test_mxfp4_blocks_and_scales_of_gpt_oss",
            "tests/test_checkpoint.py::test_gptq_and_awq_packed_int32",
            "tests/test_hub.py::test_large_model_read_without_its_weights")),
    Method("GGUF", "Quantized file size",
           r"per tensor: llama.cpp's type rule for the file type, bytes $=$ elements / block elements $\times$ "
           r"block bytes (gguf.GGML_QUANT_SIZES); file = payload + header",
           "llama.cpp src/llama-quant.cpp (llama_tensor_get_type); gguf-py constants",
           "calc/gguf.py: quantize_model",
           ("tests/test_gguf.py::test_llama2_7b_reference_files_to_the_byte",
            "tests/test_gguf.py::test_published_files_are_payload_plus_one_header",
            "tests/test_gguf.py::test_header_estimate_on_files_held_out_of_its_fit",
            "tests/test_gguf.py::test_llama_cpp_quantize_table_sizes",
            "tests/test_gguf.py::test_gemma3_header_is_a_sentencepiece_vocabulary",
            "tests/test_gguf_layout.py::test_tensor_names_are_gguf_py_names_and_hold_every_parameter",
            "tests/test_gguf_layout.py::test_gpt_oss_20b_mxfp4_file",
            "tests/test_gguf_layout.py::test_qwen3_next_q4_k_m_file",
            "tests/test_gguf_layout.py::test_mamba2_shapes_are_the_llama_cpp_loader_shapes",
            "tests/test_gguf_layout.py::test_jamba_mini_published_file_sizes",
            "tests/test_gguf_layout.py::test_published_llama4_mamba_and_hybrid_files_to_the_byte")),
    Method("GGUF", "Model from a GGUF header",
           "the {arch}.* keys convert_hf_to_gguf.py wrote, mapped back onto the transformers config it read "
           "(calc/gguf_config.py), then the calc/arch family table; tied head and biases from the tensor list",
           "llama.cpp conversion/*.py set_gguf_parameters; gguf-py Keys", "calc/gguf_file.py: spec_from_gguf",
           ("tests/test_gguf_spec.py::test_spec_from_gguf_counts_what_transformers_builds",
            "tests/test_gguf_spec.py::test_published_configs_round_trip_through_a_gguf_header")),
    Method("GGUF", "Running a GGUF model",
           "weights + KV cache in the llama.cpp cache type + compute buffer, on GPU, split or unified memory",
           "llama.cpp load logs", "calc/gguf_run.py",
           ("tests/test_gguf.py::test_run_memory_matches_a_llama_cpp_load_log",)),
    Method("Compute", "Training FLOPs",
           r"$C = 6ND$; with attention: Kaplan eq. 2.2, Chinchilla App. F, Megatron $72BLsh^2(1 + s/6h + v/12hL)$; "
           r"recompute adds a forward (hardware vs model FLOPs); MoE uses active parameters",
           "Kaplan et al. 2020; Hoffmann et al. 2022 App. F; Korthikanti et al. 2022", "calc/compute.py",
           ("tests/test_compute.py::test_6nd_reproduces_chinchilla_table3",
            "tests/test_compute.py::test_chinchilla_appendix_f_reproduces_table_a4",
            "tests/test_compute.py::test_flops_per_token_equals_torch_flop_counter",
            "tests/test_compute.py::test_kaplan_context_term_is_half_of_what_torch_counts_for_attention",
            "tests/test_compute.py::test_general_count_matches_megatron_for_gpt_blocks")),
    Method("Compute", "Time, cost, energy",
           r"seconds $= C / (\text{GPUs} \times \text{peak} \times \text{MFU})$; cost = GPU-hours x price; "
           r"energy = GPU-hours x board power x PUE; implied MFU $= C / (\text{GPUs} \times t \times \text{peak})$",
           "vendor datasheets; PaLM (Chowdhery et al. 2022) Table 3 and App. B: 46.2% MFU",
           "calc/compute.py", ("tests/test_compute.py::test_time_cost_energy_by_hand",
                               "tests/test_compute.py::test_implied_mfu_reproduces_palm")),
    Method("Scaling laws", "Compute-optimal N and D",
           r"Chinchilla Approaches 1-3 ($N_{opt} \propto C^a$ through Tables 3 and A3); parametric "
           r"$L = E + A/N^\alpha + B/D^\beta$ and its closed form; Epoch AI refit; Kaplan; 20 tokens/param",
           "Hoffmann et al. 2022; Besiroglu et al. 2024; Kaplan et al. 2020", "calc/scaling.py",
           ("tests/test_scaling.py::test_budget_to_model_predicts_held_out_rows",
            "tests/test_scaling.py::test_closed_form_is_the_brute_force_minimum",
            "tests/test_scaling.py::test_exponents_match_table2")),
    Method("Scaling laws", "Fitting your own law",
           r"Huber loss ($\delta = 10^{-3}$) on $\log L$, L-BFGS from a grid of starts; bootstrap refits all at once "
           r"(batched Gauss-Newton on the reweighted Huber loss); degenerate data refused with a sentence",
           "Hoffmann et al. 2022 App. D.2", "calc/fit.py",
           ("tests/test_fit.py::test_noiseless_runs_recover_the_constants",
            "tests/test_fit.py::test_example_csv_predicts_held_out_runs",
            "tests/test_fit.py::test_batched_bootstrap_finds_the_same_refits_as_lbfgs",
            "tests/test_fit.py::test_loss_that_does_not_fall_is_refused_with_a_sentence")),
    Method("Scaling laws", "Bands (10th-90th percentile over bootstrap refits)",
           r"$N_{opt}$, $D_{opt}$ and the loss of every refit at the budget, then percentiles; the inference-aware "
           r"optimum and an over-trained run's loss the same way, each refit with its own target",
           "Besiroglu et al. 2024 (their 4,000 refits, regenerated by bench/epoch_bootstrap.py)",
           "calc/scaling_bands.py",
           ("tests/test_scaling_bands.py::test_epoch_refits_reproduce_the_published_95_percent_intervals",
            "tests/test_scaling_bands.py::test_your_band_covers_the_true_optimum",
            "tests/test_scaling_bands.py::test_inference_aware_band_is_the_percentile_of_each_refits_own_optimum")),
    Method("Scaling laws", "Inference-aware optimum",
           r"min $6ND_{tr} + 2ND_{inf}$ s.t. $L(N, D_{tr}) = \ell$; Chinchilla form with $\alpha = 0.336$, "
           r"$\beta = 0.283$", "Sardana et al. 2024, Beyond Chinchilla-Optimal (eq. 2, Figure 1; their code)",
           "calc/scaling.py: inference_aware_optimum",
           ("tests/test_scaling_papers.py::test_sardana_figure_1",
            "tests/test_scaling_papers.py::test_sardana_readme_examples",
            "tests/test_scaling.py::test_inference_aware_optimum")),
    Method("Scaling laws", "Over-training",
           r"loss and extra compute of $N$ on $D \gg D_{opt}$; Gadre et al.'s $\alpha = \beta$ law refitted on their "
           r"small runs", "Gadre et al. 2024 (eq. 4; mlfoundations/scaling runs)",
           "calc/scaling.py: overtraining; calc/scaling_overtrain.py",
           ("tests/test_scaling.py::test_overtraining_llama3_8b",
            "tests/test_scaling_papers.py::test_gadre_predicts_the_held_out_runs",
            "tests/test_scaling_papers.py::test_gadre_band_covers_the_held_out_runs_and_its_own_point")),
    Method("Scaling laws", "Repeated data (data-constrained)",
           r"$D' = U + U R_D^*(1 - e^{-R_D/R_D^*})$, $N'$ likewise with $R_N^*$; $L = E + A/N'^\alpha + B/D'^\beta$",
           "Muennighoff et al. 2023 (eq. 5-6; datablations README)", "calc/scaling_data.py",
           ("tests/test_scaling_papers.py::test_muennighoff_figure_1_models",
            "tests/test_scaling_papers.py::test_muennighoff_optimal_allocation")),
    Method("Scaling laws", "Fine-grained mixture of experts",
           r"$L = c + (g/G^\gamma + a)/N^\alpha + b/D^\beta$; FLOPs $(12d^2c_f + dEGc_r) D n_{blocks}$",
           "Krajewski et al. 2024 (eq. 9-10, Tables 1-2)", "calc/scaling_moe.py",
           ("tests/test_scaling_papers.py::test_krajewski_table2_optimum",
            "tests/test_scaling_papers.py::test_krajewski_table2_flops")),
    Method("Scaling laws", "Training precision",
           r"$N_{eff} = N\prod_x(1 - e^{-P/\gamma_x + n_x})$, $C = \frac{6}{16}NDP$",
           "Kumar et al. 2024 (eq. 3-5, App. K)", "calc/scaling_precision.py",
           ("tests/test_scaling_papers.py::test_kumar_compute_optimal_precision_is_7_to_8_bits_at_any_budget",
            "tests/test_scaling_papers.py::test_kumar_4_bit_needs_more_than_4x_the_parameters")),
    Method("Scaling laws", "Loss cost of post-training quantization (memory pages)",
           r"$\delta_{PTQ} = C_T\,D^{\gamma_D} N^{-\gamma_N} e^{-P_{post}/\gamma_{post}}$ added to $L(N, D)$; "
           r"$D_{crit} = (\beta B N^{\gamma_N} e^{P/\gamma_{post}} / (\gamma_D C_T))^{1/(\gamma_D+\beta)}$",
           "Kumar et al. 2024 (sec. 3.1 eq. 2, App. E.1 eq. 13, App. K Table 2)",
           "calc/scaling_precision.py: ptq_cost, critical_tokens",
           ("tests/test_scaling_papers.py::test_kumar_ptq_makes_more_pretraining_data_harmful_at_low_bits_only",
            "tests/test_scaling_papers.py::test_kumar_constants_are_app_k_table_2",
            "tests/test_scaling_papers.py::test_kumar_critical_data_reads_as_app_e1_and_fig_2_say",
            "tests/test_scaling_papers.py::test_quantization_page_shows_the_loss_cost_of_each_file_type",
            "tests/test_scaling_papers.py::test_inference_memory_page_shows_the_loss_cost_of_a_weight_format_beside_its_bytes")),
    Method("Hardware", "Matmul throughput",
           r"FLOPs of $(m \times k)(k \times n)$ = $2mnk$; median of timed runs after warm-up, synchronised; "
           r"best of the sweep = maximum achievable matmul FLOPS", "ml-engineering mamf-finder; REFERENCE.md hygiene",
           "measure/matmul.py", ("tests/test_measure.py::test_matmul_flops_counts_multiply_and_add",
                                 "tests/test_measure.py::test_time_op_warmup_flush_and_median")),
    Method("Hardware", "Inference speed (roofline)",
           r"prefill time = FLOPs / compute; decode step = max(bytes read / bandwidth, FLOPs / compute); "
           r"bytes read = weights + KV cache", "Pope et al. 2022; roofline model (Williams et al. 2009)",
           "calc/speed.py", ("tests/test_speed.py::test_prefill_and_decode_flops_match_flop_counter_on_real_models",
                             "tests/test_speed.py::test_llama3_8b_decode_on_h100_by_hand")),
    Method("Serving", "vLLM start-up memory and KV blocks",
           r"KV $=$ total $\times$ utilization $-$ weights/tp $-$ activation peak $-$ non-torch; blocks $=$ KV // "
           r"$\sum_\text{layers}$ page, page $= b\,n_{kv}/tp\,(d_k+d_v)$ bytes (MLA: $b(r+d_{rope})$); tokens $=$ "
           r"blocks // groups $\times b$; concurrency $=$ blocks / blocks per request",
           "vLLM v1/worker/gpu_worker.py (determine_available_memory), v1/core/kv_cache_utils.py, "
           "v1/kv_cache_interface.py, models/config.py (hybrid block size), layers/mamba/mamba_utils.py; 13 published "
           "start-up logs (calc/serve_logs.py)",
           "calc/serve.py: serve_memory, kv_layout",
           ("tests/test_serve.py::test_vllm_logs_within_5_percent",
            "tests/test_serve.py::test_sliding_window_layers_need_fewer_blocks",
            "tests/test_serve_hybrid.py::test_falcon_h1_state_shares_the_block_pool_as_in_vllm")),
    Method("Serving", "Continuous batching latency",
           r"FCFS admission under max_num_seqs and the KV cache; each step $\max(\text{FLOPs}/F,\ \text{weights}/B)$ "
           r"$+ \max(\text{attention FLOPs}/F,\ \text{KV}/B)$ + tokens $\times$ element-wise activation bytes$/B$ (per layer kind: norms, RoPE, "
           r"cache writes, SwiGLU; Mamba/Mamba-2/DeltaNet conv, scan, gated norm) + sequences $\times$ recurrent state "
           r"read and written$/B$ (kernels in sequence) + all-reduces; TTFT, TPOT, E2E "
           r"percentiles from a discrete-event simulation",
           "Pollaczek-Khinchine (M/D/1) for the check; roofline as calc/speed.py",
           "calc/serve_sim.py: simulate, max_rate",
           ("tests/test_serve.py::test_one_at_a_time_is_an_md1_queue",
            "tests/test_serve.py::test_more_replicas_never_worse",
            "tests/test_serve.py::test_decode_step_streams_the_kv_after_the_matmuls",
            "tests/test_serve.py::test_each_token_pays_the_element_wise_kernels_traffic",
            "tests/test_serve_throughput_kinds.py::test_activation_traffic_per_kind_from_transformers_modules",
            "tests/test_serve_throughput_kinds.py::test_state_traffic_is_the_cache_state_read_and_written")),
    Method("Serving", "SGLang and TensorRT-LLM KV cache sizing",
           r"SGLang: KV $=$ total $\times$ mem_fraction_static $-$ weights $-$ non-torch, pages of 1 token, "
           r"mem_fraction_static $=$ (MiB $-$ reserved)/MiB by memory tier and tp$\times$pp; TensorRT-LLM: KV $=$ 0.9 "
           r"$\times$ (total $-$ weights $-$ activations $-$ non-torch), blocks of 32 tokens",
           "sgl-project/sglang server_args.py; NVIDIA/TensorRT-LLM tensorrt_llm/llmapi/llm_args.py; SGLang's log in "
           "vllm-project/vllm#21348", "calc/serve.py: ENGINES, serve_memory",
           ("tests/test_serve.py::test_sglang_log_of_qwen3_235b_fp8_on_4_h100",
            "tests/test_serve.py::test_engine_defaults_follow_their_sources")),
    Method("Serving", "Throughput against published benchmarks",
           r"the continuous-batching simulation at the default efficiencies (0.6 of the peak, FP8 GEMMs 0.6 $\times$ "
           r"their mamf-finder share of the peak over bf16's; 0.8 of the bandwidth), held to 30 % of each publication; "
           r"misses are strict xfails naming the efficiency implied. MLPerf Server logs: the step at the engine's own "
           r"batch (Little's law on the log) against the logged mean TPOT; p99 TTFT / TPOT at the logged rate",
           "vllm bench serve (mushfiqrahman.dev); TensorRT-LLM docs/source/performance/perf-overview.md; MLPerf "
           "Inference v4.1 mlperf_log_summary.txt (NVIDIA llama2-70b); ml-engineering mamf-finder table",
           "calc/serve_logs.py: THROUGHPUT_CASES, reproduce_throughput, LATENCY_LOGS, step_at_logged_batch; "
           "calc/serve_sim.py: typical_matmul_efficiency",
           ("tests/test_serve.py::test_published_throughput_within_30_percent",
            "tests/test_serve.py::test_published_throughput_cases_are_cited_and_held_out",
            "tests/test_serve_throughput_latency.py::test_step_at_the_engines_batch_within_30_percent_of_its_tpot",
            "tests/test_serve_throughput_latency.py::test_p99_latency_at_the_logged_rate_within_30_percent")),
    Method("Hardware", "All-reduce bus bandwidth",
           r"algbw = bytes / median seconds; busbw = algbw $\times 2(n-1)/n$ (all-reduce over $n$ ranks)",
           "NVIDIA/nccl-tests doc/PERFORMANCE.md", "measure/allreduce.py",
           ("tests/test_allreduce.py::test_bus_factors_are_nccl_tests",
            "tests/test_allreduce.py::test_gloo_allreduce_runs_and_sums")),
    Method("Compute", "Training step time of a parallel layout (cluster planner)",
           r"step = compute (hardware FLOPs / N / (peak $\cdot e(x)$), $e(x) = c\,e_{max} x/(x+x_{1/2})$, $c$ = measured "
           r"max achievable matmul / peak of the GPU, $x = (h/t)$ / "
           r"ridge point; a FlashAttention-style kernel's attention scores: the causal half, at that kernel's measured "
           r"forward + backward rate on the GPU) + memory-bound ops (norm/residual/dropout/activation/softmax bytes / 0.8 HBM) + exposed TP, "
           r"CP, EP, PP communication + bubble $(p-1)/(m v)$ of the pipelined part + exposed DP reduce-scatter / "
           r"all-gather + optimizer (memory-bound); collectives at nccl-tests bus bandwidth ($(n-1)/n$ per "
           r"all-gather/reduce-scatter, $2(n-1)/n$ all-reduce)",
           "Narayanan et al. 2021 (sec. 2.2, Table 1: fit of $e$); Korthikanti et al. 2022 (sequence parallelism, "
           "MFU/HFU); NVIDIA/nccl-tests doc/PERFORMANCE.md; Dubey et al. 2024 (Llama 3) Table 4; Bekman, ml-engineering "
           "MAMF table ($c$); Dao-AILab/flash-attention README and Shah et al. 2024 (attention kernel rates; llm-foundry's 2023 MPT rows ran its Triton kernel); BigScience "
           "tr11-176B-ml chronicles (BLOOM's memory readings and fused-softmax constraint)",
           "calc/plan.py", ("tests/test_plan.py::test_efficiency_is_the_fit_on_megatron_table1",
                            "tests/test_plan.py::test_held_out_published_runs_within_15_percent",
                            "tests/test_plan.py::test_korthikanti_cluster_best_layout_not_25_percent_faster",
                            "tests/test_plan.py::test_llama3_cluster_best_layout_not_25_percent_faster",
                            "tests/test_plan.py::test_llm_foundry_cluster_best_layout_not_25_percent_faster",
                            "tests/test_plan.py::test_gradient_buffers_of_the_stacks",
                            "tests/test_plan.py::test_memory_bound_term_follows_the_stack",
                            "tests/test_plan_attention.py::test_rate_table_is_the_published_figures",
                            "tests/test_plan_attention.py::test_executed_causal_work_is_what_the_kernel_visits",
                            "tests/test_plan_attention.py::test_triton_kernel_rows_are_the_published_figures_and_fa1_stands_in_on_h100",
                            "tests/test_plan.py::test_mpt_7b_sequence_sweep_follows_the_stacks_attention_kernel",
                            "tests/test_plan.py::test_llama3_rows_count_model_flops_as_palm_appendix_b",
                            "tests/test_plan_eager.py::test_eager_bytes_match_pytorch",
                            "tests/test_plan_bloom.py::test_memory_model_is_the_tensors_under_nvidia_smi",
                            "tests/test_plan_bloom.py::test_bloom_stack_runs_only_with_its_fused_softmax")),
)
