"""Entry point: ``streamlit run app.py``. Navigation and the shared sidebar; no maths here."""

# pandas and plotly are imported whole before any session's page reaches a chart: plotly looks pandas up in
# sys.modules without the import lock, and on a cold server concurrent sessions saw "partially initialized
# module 'pandas' has no attribute 'Series'" (bench/load.py, 12 sessions at once: 2 errors every start).
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st

from calc import serve_sim_jit
from ui import budget, gc_freeze, pickers, st_batch, st_speed, tcp_nodelay, ws_coalesce
from ui.nav import ICON_URL, PAGES

# Every input asked Streamlit for a dict of the whole session state; it now answers for its own key (issue 18).
st_speed.install()
# Each element reaches the event loop in a batch, not one wake-up of the loop apiece (ui/st_batch.py).
st_batch.install()
# A rerun's messages leave as they are written, not ~40 ms later in one burst (Nagle's algorithm was on: ui/tcp_nodelay.py).
tcp_nodelay.install()
# ... and in one write per burst, not one per message (ui/ws_coalesce.py).
ws_coalesce.install()
# The Serving page's simulations compiled (calc/serve_sim_jit.py), loaded once in a thread of its own; the CLI and
# the library keep the Python loop.
serve_sim_jit.start()

# The page icon is the app's own image inlined as a data URL (ui.nav.ICON_URL): a ":material/...:" icon made every
# page load fetch the favicon from fonts.gstatic.com, which fails offline and tells a CDN who visits (issue 17 item 14).
st.set_page_config(page_title="GPU memory & scaling calculator", page_icon=ICON_URL, layout="wide")

sections: dict[str, list] = {}
for info in PAGES:
    page = st.Page(info.path, title=info.title, icon=info.icon, url_path=info.url_path or None,
                   default=info.url_path == "")
    sections.setdefault(info.section, []).append(page)

nav = st.navigation(sections, expanded=True)


def _run() -> None:
    pickers.sidebar()
    nav.run()


# A page run has a server-time budget, and sessions that use a lot of it yield to the others (issue 20).
try:
    budget.guard(_run)
finally:  # what this run imported is frozen out of the collector's full collections (ui/gc_freeze.py)
    gc_freeze.after_run()
