"""One way for AppTests to open a page as a visitor's link does: app.py with the link's query parameters (and,
where a test needs it, session state a visitor built earlier), run once, then switched to the page and run again.

``switch_page`` is needed because AppTest runs ``app.py`` (the ``st.navigation`` shell), which opens the home page
first; the first run also lets the shared sidebar read the query parameters, as a browser's first load does.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.nav import PAGES

HOME = PAGES[0].path  # the page app.py opens first
TIMEOUT_S = 60


def open_page(path: str, query: dict | None = None, session: dict | None = None,
              timeout_s: float = TIMEOUT_S) -> AppTest:
    """``path`` (e.g. ``"app_pages/serving.py"``) as opened by a link carrying ``query``; ``session`` is put into
    ``st.session_state`` before the first run. Returns the AppTest after the page's run; callers assert on it."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout_s)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if path != HOME:
        at.switch_page(path)
        at.run()
    return at
