"""Every page's key results: a JSON export, the page's shareable link, and "save as scenario".

A page calls ``publish(page_key, {label: (value, kind)})`` once after computing; the Scenarios page
compares what was saved. Kinds are those of ``calc.scenarios.KINDS``.

Scenarios live in a database (``store.scenarios``), in a *workspace* whose id is the link parameter ``ws``:
every page's address carries it, so a colleague who opens a shared link sees the same list. A session that
comes without one gets a new random id.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from calc import scenarios as sc
from store import scenarios as db
from ui import format as fmt
from ui import hub_model, state
from ui.text import md

WS = "ws"  # the link parameter holding the workspace id
_WS_KEY = "_workspace"
LEGACY_KEY = "scenarios"  # where app versions before the database kept a session's scenarios


def store() -> db.ScenarioStore:
    """The scenarios database: ``CALC_SCENARIOS_DB``, else ``[connections.scenarios] url`` in the secrets, else
    ``data/scenarios.sqlite``."""
    return db.open_store(db.database_url(_secret_url()))


def _secret_url() -> str | None:
    try:
        return st.secrets["connections"]["scenarios"]["url"]
    except Exception:  # no secrets file, no such section: the default database
        return None


def workspace() -> str:
    """This session's workspace id, from the link (``?ws=``) or new; written back to the link."""
    raw = st.query_params.get(WS)
    if raw is not None and raw != st.session_state.get(_WS_KEY):
        try:
            st.session_state[_WS_KEY] = db.check_workspace(raw)
        except ValueError as exc:
            st.warning(f"Link parameter ws ignored: {md(exc)}.")
    ws = st.session_state.setdefault(_WS_KEY, db.new_workspace())
    if st.query_params.get(WS) != ws:
        st.query_params[WS] = ws
    _adopt_session_scenarios(ws)
    return ws


def _adopt_session_scenarios(ws: str) -> None:
    """Scenarios an older version of the app kept in this browser session move into the workspace once
    (duplicates by content are skipped), so nothing a user saved before the database is lost."""
    legacy = st.session_state.get(LEGACY_KEY)
    if not isinstance(legacy, list) or not legacy:
        return
    items = [s for s in legacy if isinstance(s, sc.Scenario)]
    try:
        store().import_many(ws, items)
    except (ValueError, SQLAlchemyError, OSError, RuntimeError) as exc:
        st.warning(f"Scenarios of this session could not be moved into the database yet: {md(exc)}")
        return
    del st.session_state[LEGACY_KEY]


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
    """The page's inputs as the link holds them, less the workspace id and empty foreign parameters
    (``?utm_source=`` carries nothing)."""
    return {k: str(v) for k, v in st.query_params.to_dict().items() if k != WS and str(v) != ""}


def publish(page: str, results: dict[str, tuple[float, str]]) -> None:
    """Render the export / share / save block for this page's ``results``."""
    ws = workspace()  # every run: the address bar carries the workspace whether or not the panel is open
    # Built only while open (issue 18): closed, its six elements (link, JSON, the save form) were sent on every rerun,
    # and the link's parameters and the results' JSON are read only for it.
    with st.expander("Share, export and save this result", icon=":material/ios_share:", key=f"share_{page}",
                     on_change="rerun") as box:
        if not box.open:
            return
        clean = {k: v for k, (v, kind) in results.items() if v is not None}
        kinds = {k: kind for k, (v, kind) in results.items() if v is not None}
        params = current_params()
        st.caption("The address bar holds every input of this page and the scenario workspace: copy it to share "
                   "exactly this result (and the workspace's saved scenarios).")
        st.code(f"/{page}?{urlencode({**params, WS: ws})}", language=None)
        hub_model.share_note(page)  # a Hub id travels with the link; an uploaded model does not
        doc = {"page": page, "inputs": params, "results": clean, "kinds": kinds}
        st.download_button("Download result as JSON", json.dumps(doc, indent=2), file_name=f"{page or 'home'}.json",
                           mime="application/json", key=f"json_{page}")
        # One action, one save: the form submits once whether the name box sees Enter or Save is clicked, and
        # the same inputs and results are never kept twice (the store dedupes by content). The typed name stays
        # in the box when something is refused.
        with st.form(f"save_{page}", clear_on_submit=False, border=False):
            name = st.text_input("Scenario name", max_chars=100, key=f"scenario_name_{page}",
                                 help="Saved in the scenario database under this page's workspace (the link's ws); "
                                      "compare and export on the Scenarios page. Names are unique in a workspace.")
            if st.form_submit_button("Save as scenario"):
                _save(ws, page, name, params, clean, kinds)


def _save(ws: str, page: str, name: str, params: dict, results: dict, kinds: dict) -> None:
    try:
        db_ = store()
        name = name.strip() or f"{page or 'home'} {db_.count(ws) + 1}"
        scenario = sc.make_scenario(name, page, params, results, kinds, state.labels_for(params))
        res = db_.save(ws, scenario)
    except ValueError as exc:
        st.error(md(exc, limit=400))
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        st.error(f"The scenario database is not available ({md(type(exc).__name__)}): nothing was saved.")
    else:
        if res.saved:
            st.success(f"Saved '{md(res.name)}' ({res.count} scenarios in this workspace).")
        else:
            st.info(f"Already saved as '{md(res.name)}': the same inputs and results are not kept twice.")
