"""bench/bench_elements.py's page: ``?n=`` markdown elements, with ui.st_batch installed as app.py installs it."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for ``ui``
from ui import st_batch  # noqa: E402

st_batch.install()
for i in range(int(st.query_params.get("n", "0"))):
    st.markdown(f"element {i}")
