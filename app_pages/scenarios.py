"""Scenarios: saved configurations side by side (inputs that differ, results, grouped bars), import and export.

Scenarios are kept in the scenario database under the workspace of the link (``?ws=``); see ``ui.results``.
"""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from calc import scenarios as sc
from calc import units
from store.scenarios import MAX_PER_WORKSPACE
from ui import charts, results
from ui import format as fmt
from ui.figures_scenarios import grouped_bars
from ui.text import html, md

st.title("Scenarios")
ws = results.workspace()
st.write("Save a result with **Share, export and save** at the bottom of any page, then compare here. "
         "Scenarios are kept in the scenario database, in this workspace: anyone with a link that carries "
         "its id sees and edits the same list.")
st.code(f"/scenarios?ws={ws}", language=None)

try:
    db = results.store()
except (SQLAlchemyError, OSError, RuntimeError) as exc:
    st.error(f"The scenario database is not available: {md(exc)}")
    st.stop()

uploaded = st.file_uploader("Import scenarios (JSON exported here)", type=["json"],
                            help=f"At most 1 MB and {sc.MAX_SCENARIOS} scenarios, checked against the schema before "
                                 "anything is kept; scenarios already here (same inputs and results) are skipped, "
                                 f"and a workspace keeps at most {MAX_PER_WORKSPACE}.")
if uploaded is not None and st.session_state.get("_imported") != uploaded.file_id:
    st.session_state["_imported"] = uploaded.file_id
    try:
        got = db.import_many(ws, sc.loads(uploaded.getvalue()))
    except ValueError as exc:
        st.error(f"{md(uploaded.name, limit=80)}: {md(exc, limit=400)}")
    else:
        note = f"Imported {got.added} scenarios"
        if got.duplicates:
            note += f"; {got.duplicates} were already here (same inputs and results) and were skipped"
        if got.renamed:
            note += f"; {len(got.renamed)} renamed because the name was taken (e.g. '{md(got.renamed[0][1])}')"
        st.success(note + ".")

saved = db.list(ws)
if not saved:
    st.info("No scenarios in this workspace yet. Open a calculator page, set it up, and press 'Save as scenario'.")
    st.stop()
items = [s.scenario for s in saved]
names = [s.name for s in items]  # unique in a workspace
st.caption(f"{len(items)} of at most {MAX_PER_WORKSPACE} scenarios in this workspace.")

st.subheader("Side by side")
chosen = st.multiselect("Compare", names, default=names[-min(len(names), 6):], max_selections=sc.MAX_COMPARE,
                        key="scenarios_compare",
                        help=f"Up to {sc.MAX_COMPARE} scenarios at once; the newest six are preselected.")
picked = [s for s in items if s.name in chosen]
all_inputs = st.toggle("Show every input, not only those that differ", key="scenarios_all_inputs",
                       help="By default the input table lists only the inputs whose values differ.")
if picked:
    inputs, outputs = sc.compare(picked, all_inputs)
    cols = [s.name for s in picked]
    if inputs:
        st.markdown("**Inputs** (one row per input, as the link sets it)")
        st.dataframe(pd.DataFrame([["" if v is None else v for v in r.values] for r in inputs], columns=cols,
                                  index=pd.Index([r.label for r in inputs], name="input")), width="stretch")
    elif len(picked) > 1:
        st.caption("These scenarios have the same inputs.")
    st.markdown("**Results** (one row per quantity)")
    st.dataframe(pd.DataFrame([["" if v is None else results.format_value(v, r.kind) for v in r.values]
                               for r in outputs], columns=cols,
                              index=pd.Index([r.label for r in outputs], name="result")), width="stretch")

    kinds_present = [k for k in sc.KINDS if any(r.kind == k for r in outputs)]
    if kinds_present:
        kind = st.selectbox("Chart results of kind", kinds_present, key="scenarios_kind",
                            help="Only results of one kind share an axis.")
        rows = [r for r in outputs if r.kind == kind][: sc.MAX_CHART_METRICS]
        scale, axis = 1.0, kind
        if kind == "bytes":
            scale, axis = (units.GIB, "GiB") if fmt.unit() == "GiB" else (units.GB, "GB")
        shown = [html(n, 60) for n in cols]
        values = {(shown[i], html(r.label, 60)): v / scale for r in rows for i, v in enumerate(r.values)
                  if v is not None}
        charts.show(st, grouped_bars(shown, [html(r.label, 60) for r in rows], values, axis), width="stretch")

raw = pd.DataFrame([{"scenario": s.name, "page": s.page, **s.results} for s in items])
c1, c2 = st.columns(2)
c1.download_button("Download CSV", fmt.csv(raw), file_name="scenarios.csv", mime="text/csv")
c2.download_button("Export scenarios as JSON", sc.dumps(items), file_name="scenarios.json", mime="application/json")

st.subheader("Open or delete")
ids = {s.scenario.name: s.id for s in saved}
which = st.selectbox("Scenario", names, index=len(names) - 1, key="scenarios_pick",
                     help="Open it on its page (same inputs, same workspace) or delete it from the workspace.")
s = next(x for x in items if x.name == which)
c1, c2 = st.columns([5, 1])
c1.markdown(f"**{md(s.name)}** ({md(s.page)}): [open](/{s.page}?{urlencode({**s.params, results.WS: ws})})")
if c2.button("Delete", key="scenarios_delete", help="Removes it from this workspace for everyone who has the link."):
    db.delete(ws, ids[which])
    st.rerun()
