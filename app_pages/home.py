"""Home: what each page answers, and a first answer for the model and GPU in the sidebar."""

import streamlit as st

from calc.dtypes import dtype_bits
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

st.subheader("Which page answers what")
for info in PAGES[1:]:
    st.page_link(info.path, label=f"**{info.title}**: {info.question}", icon=info.icon)
