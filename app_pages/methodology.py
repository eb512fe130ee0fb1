"""Methodology: every formula with its source and the tests that check it."""

import functools

import streamlit as st

from calc.methodology import METHODS


@functools.cache
def _topics() -> tuple[tuple[str, str], ...]:
    """(topic, one Markdown text of all its methods): built once per process. The page is static, so each topic is
    one element instead of four per method (a bordered box, the formula, the source, the tests): about 190 elements
    became 12, and a rerun (any sidebar change) cost 3.5x the trivial page's server time (issue 18,
    ``python bench/bench_pages.py --only methodology``)."""
    out = []
    for topic in dict.fromkeys(m.topic for m in METHODS):
        blocks = []
        for m in (m for m in METHODS if m.topic == topic):
            text = f"**{m.name}**: {m.formula}\n\n:small[:gray[Source: {m.source}. Code: `{m.code}`.]]"
            if m.tests:
                text += "\n\n:small[Checked by: " + ", ".join(f"`{t}`" for t in m.tests) + "]"
            blocks.append(text)
        out.append((topic, "\n\n---\n\n".join(blocks)))
    return tuple(out)


st.title("Methodology")
st.write("Each formula the calculators use, where it comes from, and the tests that hold it to an independent "
         "reference (papers' tables, published sizes, `transformers` models, real PyTorch tensors). "
         "Run them yourself with `python -m pytest`.")

for topic, text in _topics():
    st.header(topic)
    with st.container(border=True):
        st.markdown(text)
