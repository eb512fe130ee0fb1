"""A one-input page: the baseline every page's rerun is compared with (bench/bench_pages.py)."""

import streamlit as st

from ui import state

st.title("Trivial page")
x = state.number("A number", "tx", 1, 1, 1_000_000, help="Any whole number; the page prints its square.")
st.write(f"{x} squared is {x * x}.")
