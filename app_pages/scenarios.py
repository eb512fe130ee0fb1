"""Scenarios: saved configurations side by side (table and grouped bars), JSON export and import."""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from calc import scenarios as sc
from calc import units
from ui import format as fmt
from ui.figures_scenarios import grouped_bars
from ui.results import format_value, saved

st.title("Scenarios")
st.write("Save a result with **Share, export and save** at the bottom of any page, then compare here. "
         "Scenarios live in this browser session: export them as JSON to keep or send them.")

uploaded = st.file_uploader("Import scenarios (JSON exported here)", type=["json"],
                            help="At most 1 MB and 200 scenarios; checked against the schema before use.")
if uploaded is not None and st.session_state.get("_imported") != uploaded.file_id:
    try:
        imported = sc.loads(uploaded.getvalue())
    except ValueError as exc:
        st.error(f"{uploaded.name[:80]}: {exc}")
    else:
        saved().extend(imported)
        st.session_state["_imported"] = uploaded.file_id
        st.success(f"Imported {len(imported)} scenarios.")

items = saved()
if not items:
    st.info("No scenarios yet. Open a calculator page, set it up, and press 'Save as scenario'.")
    st.stop()

names = [s.name for s in items]
labels = list(dict.fromkeys(k for s in items for k in s.results))
kind_of = {k: s.kinds.get(k, "number") for s in items for k in s.results}
table = pd.DataFrame({s.name: [format_value(s.results[k], kind_of[k]) if k in s.results else "" for k in labels]
                      for s in items}, index=labels)
st.subheader("Side by side")
st.dataframe(table, width="stretch")
raw = pd.DataFrame([{"scenario": s.name, "page": s.page, **s.results} for s in items])
c1, c2 = st.columns(2)
c1.download_button("Download CSV", fmt.csv(raw), file_name="scenarios.csv", mime="text/csv")
c2.download_button("Export scenarios as JSON", sc.dumps(items), file_name="scenarios.json", mime="application/json")

kinds_present = [k for k in sc.KINDS if any(kind_of[m] == k for m in labels)]
if kinds_present:
    kind = st.selectbox("Chart results of kind", kinds_present, help="Only results of one kind share an axis.")
    metrics = [m for m in labels if kind_of[m] == kind]
    scale, axis = 1.0, kind
    if kind == "bytes":
        scale, axis = (units.GIB, "GiB") if fmt.unit() == "GiB" else (units.GB, "GB")
    values = {(s.name, m): s.results[m] / scale for s in items for m in metrics if m in s.results}
    st.plotly_chart(grouped_bars(names, metrics, values, axis), width="stretch")

st.subheader("Open or delete")
for i, s in enumerate(items):
    c1, c2 = st.columns([5, 1])
    c1.markdown(f"**{s.name}** ({s.page}): [open](/{s.page}?{urlencode(s.params)})")
    if c2.button("Delete", key=f"del_{i}"):
        items.pop(i)
        st.rerun()
