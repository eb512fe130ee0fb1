"""Links built from ``ui.nav.page`` (an ``st.Page`` made once per process) send what a path link sent."""

from __future__ import annotations

from streamlit.util import calc_hash

from tests.apptest_helpers import open_page
from ui.nav import PAGES


def test_home_links_name_each_registered_page():
    at = open_page("app_pages/home.py", session={"home_xpages": True})  # the list is a lazy expander (issue 18)
    assert not at.exception, [e.value for e in at.exception]
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    for info in PAGES[1:]:
        link = links[f"**{info.title}**: {info.question}"]
        # what st.page_link("app_pages/x.py") sends: the registered page's URL path and script hash (Streamlit names a
        # page by a hash of its URL path, streamlit/navigation/page.py), its icon, no help, not external
        assert (link.page, link.page_script_hash, link.icon) == (info.url_path, calc_hash(info.url_path), info.icon)
        assert (link.help, link.external, link.disabled) == ("", False, False)
    serve = next(p for p in links.values() if p.label == "Details: Inference memory")
    assert (serve.page, serve.icon) == ("inference-memory", ":material/storage:")
    assert "im_ctx=" in serve.query_string
