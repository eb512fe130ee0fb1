"""Home: what each page answers, and a first answer for the model and GPU in the sidebar."""

import streamlit as st

from calc.dtypes import dtype_bits
from calc.memory import InferenceSetup, TrainingSetup, inference_memory, min_gpus, training_memory
from calc.models import param_counts
from ui import format as fmt
from ui import pickers
from ui.nav import PAGES

st.title("GPU memory & scaling-law calculator")
st.write("Exact where exactness is possible, and every number says where it comes from. "
         "Pick a model and a GPU in the sidebar; every page uses them.")

spec, gpu = pickers.current_model(), pickers.current_gpu()
counts = param_counts(spec)
weights_bytes = int(counts.total * dtype_bits("bf16") / 8)
c1, c2, c3 = st.columns(3)
c1.metric("Parameters", fmt.count(counts.total), help="Exact count from the config; see the Models page.")
c2.metric("bf16 weights", fmt.size(weights_bytes), help="total parameters x 16 bits / 8")
c3.metric(f"{gpu.name} memory", fmt.size(gpu.memory_bytes), help="As the device reports it (nvidia-smi total).")

st.subheader(f"At a glance: {spec.name} on {gpu.name}")
cap = gpu.usable_memory_bytes
serve = InferenceSetup(weights_dtype="bf16", kv_dtype="bf16", batch=1, context=4096)
train = TrainingSetup(precision="bf16-mixed", optimizer="adamw", micro_batch=1, seq_len=4096, recompute="full",
                      flash_attention=True)
try:
    need_serve = inference_memory(spec, serve).total
    tp_serve = min_gpus(spec, serve, cap)
    need_train = training_memory(spec, train).total
    tp_train = min_gpus(spec, train, cap)
except ValueError as exc:
    st.error(str(exc))
else:
    a, b = st.columns(2)
    a.metric("Serve: bf16, 1 sequence of 4,096 tokens", fmt.size(need_serve),
             help="Weights + KV cache + one step's activations + 1 GiB overhead (Inference memory page).")
    a.caption(("Fits on one GPU." if need_serve <= cap else
               f"Needs {tp_serve} GPUs (tensor parallel)." if tp_serve else "Does not fit on 64 GPUs with tensor parallel.")
              + " Details: Inference memory.")
    b.metric("Train: bf16 mixed + AdamW, 4,096 tokens, full recompute", fmt.size(need_train),
             help="Weights, fp32 master weights, gradients, AdamW states, activations, overhead, no ZeRO "
                  "(Training memory page).")
    b.caption(("Fits on one GPU." if need_train <= cap else
               f"Needs {tp_train} GPUs (tensor parallel)." if tp_train else
               "Needs more than 64-way tensor parallel: add ZeRO / pipeline parallel on the Training memory page.")
              + " Details: Training memory.")

st.subheader("Which page answers what")
for info in PAGES[1:]:
    st.page_link(info.path, label=f"**{info.title}**: {info.question}", icon=info.icon)
