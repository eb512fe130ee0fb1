"""Every page's key results: a JSON export, the page's shareable link, and "save as scenario".

A page calls ``publish(page_key, {label: (value, kind)})`` once after computing; the Scenarios page
compares what was saved. Kinds are those of ``calc.scenarios.KINDS``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import streamlit as st

from calc import scenarios as sc
from ui import format as fmt

KEY = "scenarios"


def saved() -> list[sc.Scenario]:
    return st.session_state.setdefault(KEY, [])


def format_value(value: float, kind: str) -> str:
    if kind == "bytes":
        return fmt.size(value)
    if kind == "count":
        return fmt.count(value)
    if kind == "flops":
        return fmt.flops(value)
    if kind == "seconds":
        return fmt.duration(value)
    if kind == "usd":
        return f"${value:,.0f}"
    if kind == "kwh":
        return f"{value:,.0f} kWh"
    if kind == "ratio":
        return f"{value:.1%}"
    return f"{value:,.4g}"


def current_params() -> dict[str, str]:
    return {k: str(v) for k, v in st.query_params.to_dict().items()}


def publish(page: str, results: dict[str, tuple[float, str]]) -> None:
    """Render the export / share / save block for this page's ``results``."""
    clean = {k: v for k, (v, kind) in results.items() if v is not None}
    kinds = {k: kind for k, (v, kind) in results.items() if v is not None}
    params = current_params()
    with st.expander("Share, export and save this result", icon=":material/ios_share:"):
        st.caption("The address bar holds every input of this page: copy it to share exactly this result.")
        st.code(f"/{page}?{urlencode(params)}", language=None)
        doc = {"page": page, "inputs": params, "results": clean, "kinds": kinds}
        st.download_button("Download result as JSON", json.dumps(doc, indent=2), file_name=f"{page or 'home'}.json",
                           mime="application/json", key=f"json_{page}")
        with st.form(f"save_{page}", clear_on_submit=True, border=False):
            name = st.text_input("Scenario name", max_chars=100, help="Saved in this browser session; compare and "
                                 "export on the Scenarios page.")
            if st.form_submit_button("Save as scenario"):
                try:
                    scenario = sc.make_scenario(name or f"{page} {len(saved()) + 1}", page, params, clean, kinds)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    saved().append(scenario)
                    st.success(f"Saved '{scenario.name}' ({len(saved())} scenarios).")
