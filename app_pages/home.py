"""Home: what each page answers, and a first answer for the model and GPU in the sidebar."""

import streamlit as st

from calc.dtypes import dtype_bits
from calc.memory import inference_memory, training_memory
from calc.models import param_counts
from calc.solvers import fewest_gpus
from ui import defaults, memo, nav, pickers, text
from ui import format as fmt

st.title("GPU memory & scaling-law calculator")
st.write("Exact where exactness is possible, and every number says where it comes from. "
         "Pick a model and a GPU in the sidebar; every page uses them.")

spec, gpu = pickers.current_model(), pickers.current_gpu()
counts = param_counts(spec)
weights_bytes = int(counts.total * dtype_bits("bf16") / 8)
c1 = c2 = c3 = st.container(horizontal=True, gap="medium")  # one block, not four (st.columns; issue 18)
c1.metric("Parameters", fmt.count(counts.total), help="Exact count from the config; see the Models page.")
c2.metric("bf16 weights", fmt.size(weights_bytes), help="total parameters x 16 bits / 8")
c3.metric(f"{gpu.name} memory", fmt.size(gpu.memory_bytes), help="As the device reports it (nvidia-smi total).")

st.subheader(f"At a glance: {text.md(spec.name)} on {text.md(gpu.name)}")
cap = gpu.usable_memory_bytes
# The memory pages' own defaults (ui/defaults.py), so Home and the pages agree; the links carry them.
serve, train = defaults.inference_setup(), defaults.training_setup()
shared = {"model": st.session_state.get("model", pickers.DEFAULT_MODEL),
          "gpu": st.session_state.get("gpu", pickers.DEFAULT_GPU), "units": fmt.unit()}


def _needs(layout) -> str:
    if layout is None:
        return "Does not fit on any layout searched (see the page for what would)."
    if layout.gpus == 1:
        return "Fits on one GPU."
    return f"Needs {layout.gpus:,} GPUs: {layout.describe()}, {fmt.size(layout.per_gpu_bytes)} per GPU."




def _glance():
    return (inference_memory(spec, serve).total, training_memory(spec, train).total,
            fewest_gpus(spec, serve, cap), fewest_gpus(spec, train, cap))


try:
    # Once per model and capacity (ui/memo.py): this page reruns only for a sidebar change, and the training
    # layout search was most of its calculation (issue 18).
    need_serve, need_train, serve_layout, train_layout = memo.cached(("home.glance", spec, serve, train, cap), _glance)
except ValueError as exc:
    st.error(text.md(exc, 1000))
else:
    a, b = st.columns(2)
    a.metric(f"Serve: {serve.weights_dtype}, {serve.batch} sequence of {serve.context:,} tokens", fmt.size(need_serve),
             help="Weights + KV cache + one step's activations + 1 GiB overhead (Inference memory page).")
    a.caption(_needs(serve_layout))
    a.page_link(nav.page("app_pages/inference_memory.py"), label="Details: Inference memory",
                query_params=defaults.query(defaults.INFERENCE, **shared))
    b.metric(f"Train: {train.precision} + {'AdamW' if train.optimizer == 'adamw' else train.optimizer}, "
             f"{train.seq_len:,} tokens, {train.recompute} activation recompute", fmt.size(need_train),
             help="Weights, fp32 master weights, gradients, AdamW states, activations, overhead, no ZeRO "
                  "(Training memory page).")
    b.caption(_needs(train_layout))
    b.page_link(nav.page("app_pages/training_memory.py"), label="Details: Training memory",
                query_params=defaults.query(defaults.TRAINING, **shared))

# Every page and the question it answers: a lazy expander (issue 18: its heading and 14 links were half of the
# elements this page sent on every rerun, each a websocket message; the sidebar lists the same pages). Its state
# is kept for the session: opened once, it stays open.
with st.expander("Which page answers what", icon=":material/map:", key="home_xpages", on_change="rerun") as pages:
    if pages.open:
        for info in nav.PAGES[1:]:
            st.page_link(nav.page(info.path), label=f"**{info.title}**: {info.question}")  # the icon: the page's own
