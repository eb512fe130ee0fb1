"""Entry point: ``streamlit run app.py``. Navigation and the shared sidebar; no maths here."""

import streamlit as st

from ui import pickers
from ui.nav import PAGES

st.set_page_config(page_title="GPU memory & scaling calculator", page_icon=":material/memory:", layout="wide")

sections: dict[str, list] = {}
for info in PAGES:
    page = st.Page(info.path, title=info.title, icon=info.icon, url_path=info.url_path or None,
                   default=info.url_path == "")
    sections.setdefault(info.section, []).append(page)

nav = st.navigation(sections, expanded=True)
pickers.sidebar()
nav.run()
