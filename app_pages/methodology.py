"""Methodology: every formula with its source and the tests that check it."""

import streamlit as st

from calc.methodology import METHODS

st.title("Methodology")
st.write("Each formula the calculators use, where it comes from, and the tests that hold it to an independent "
         "reference (papers' tables, published sizes, `transformers` models, real PyTorch tensors). "
         "Run them yourself with `python -m pytest`.")

topics = list(dict.fromkeys(m.topic for m in METHODS))
for topic in topics:
    st.header(topic)
    for m in (m for m in METHODS if m.topic == topic):
        with st.container(border=True):
            st.markdown(f"**{m.name}**: {m.formula}")
            st.caption(f"Source: {m.source}. Code: `{m.code}`.")
            if m.tests:
                st.markdown("Checked by: " + ", ".join(f"`{t}`" for t in m.tests))
