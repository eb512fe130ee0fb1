"""A Streamlit session over its own websocket protocol, as the browser drives it (no browser needed).

Used by ``tests/test_deploy.py`` (sessions through HAProxy) and by ``bench/load.py`` and
``bench/bench_pages.py``. A session sends ``BackMsg.rerun_script`` (page hash, query string, widget
states) and reads ``ForwardMsg``s until ``script_finished`` (past a run that ended in ``st.rerun()``, to the
end of the app run that follows). Through a proxy it first loads the page, as a browser does, so it carries
the proxy's cookies (the sticky-session cookie) on its websocket;
``reconnect()`` resumes the same server session the way the frontend does after a network blip
(Streamlit reads the session id from the third ``Sec-WebSocket-Protocol`` entry).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import urllib.request
from http.cookies import SimpleCookie


def run_async(coro, timeout_s: float = 300):
    """``asyncio.run(coro)`` in a thread of its own, its result or exception returned or raised here: in the whole
    suite, Playwright's sync API (the browser tests) keeps an event loop running in the main thread, where
    ``asyncio.run`` refuses to start another."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout_s)


@contextlib.contextmanager
def uvicorn_in_thread(server, **serve_kwargs):
    """``server`` (a ``uvicorn.Server`` configured for 127.0.0.1) serving in a thread of its own, started when the block
    begins and stopped when it ends (tests that read what uvicorn does to a connection: tests/test_tcp_nodelay.py,
    tests/test_ws_coalesce.py)."""
    import threading

    thread = threading.Thread(target=lambda: asyncio.run(server.serve(**serve_kwargs)), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield server
    finally:
        server.should_exit = True
        thread.join(10)


class WsSession:
    """One Streamlit session over the websocket."""

    def __init__(self, url: str, timeout_s: float):
        self.http_url = url.rstrip("/")
        self.url = self.http_url.replace("http://", "ws://") + "/_stcore/stream"
        self.timeout_s = timeout_s
        self.ws = None
        self.cookies: dict[str, str] = {}
        self.pages: list[tuple[str, str]] = []  # (page_script_hash, url_pathname)
        self.page_hash = ""
        self.session_id = ""
        self.query_string = ""
        self.new_session = None  # the last NewSession message
        self.widgets: dict[str, object] = {}  # widget id -> (element type, element proto)
        self.fragments: dict[str, str] = {}  # widget id -> id of the st.fragment that drew it ("" = none)
        self.texts: list[str] = []
        self.shown_errors = 0  # st.error boxes of the last run
        self.undo = None  # the widget state that reverts the last nearby_state change
        self.kinds: set[str] = set()  # ForwardMsg types seen in the last rerun

    def load_page(self) -> dict[str, str]:
        """GET / as a browser would first; keeps the cookies (the proxy's sticky cookie) and returns the
        response headers."""
        req = urllib.request.Request(self.http_url + "/", headers=self._cookie_header())
        with urllib.request.urlopen(req, timeout=self.timeout_s) as r:  # noqa: S310 (loopback URL of a test)
            r.read()
            for value in r.headers.get_all("Set-Cookie") or []:
                for k, morsel in SimpleCookie(value).items():
                    self.cookies[k] = morsel.value
            return dict(r.headers)

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    async def open(self, resume: str = ""):
        import websockets

        protocols = ["streamlit", "xsrf", resume] if resume else None  # (subprotocol, xsrf token, session id)
        self.ws = await websockets.connect(self.url, max_size=2**27, open_timeout=self.timeout_s,
                                           origin=self.http_url, additional_headers=self._cookie_header(),
                                           subprotocols=protocols)

    async def reconnect(self):
        """Close the websocket and open a new one that asks to resume this session."""
        await self.close()
        await self.open(resume=self.session_id)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, msg) -> None:
        await self.ws.send(msg.SerializeToString())

    def fragment_of(self, state) -> str:
        """The fragment a widget state belongs to: the browser reruns only that fragment (``""``: the page)."""
        return self.fragments.get(state.id, "") if state is not None else ""

    async def rerun(self, page_hash: str = "", page_name: str = "", states=(),
                    query_string: str | None = None, fragment_id: str = "") -> tuple[float, list[str]]:
        """One script run (of the page, or of one fragment when ``fragment_id`` is given, as the browser does
        when a widget inside an ``st.fragment`` changes); returns (seconds until script_finished, errors)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = "" if query_string is None else query_string
        if page_hash:
            cs.page_script_hash = page_hash
        if page_name:
            cs.page_name = page_name
        if fragment_id:
            cs.fragment_id = fragment_id
        cs.widget_states.widgets.extend(states)
        t0 = time.perf_counter()
        await self.send(msg)
        try:
            return await self._read_run(t0, fragment_id)
        except TimeoutError:
            raise TimeoutError(f"no message from the server for {self.timeout_s:g} s") from None

    async def _read_run(self, t0: float, fragment_id: str) -> tuple[float, list[str]]:
        """``rerun``'s reading: ForwardMsgs until the run's ``script_finished``. It fails when the server sends nothing
        for ``timeout_s`` (up to a second more): one timer per run, moved at most once a second, instead of
        ``asyncio.wait_for`` around every message, which made a task and a timer per message and was the largest
        part of the load generator's own CPU (``bench/load.py`` shares the machine with the replicas it drives,
        issue 18)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        loop = asyncio.get_running_loop()
        recv = self.ws.recv
        errors: list[str] = []
        widgets: dict[str, object] = {}
        fragments: dict[str, str] = {}
        texts: list[str] = []
        shown_errors = 0  # st.error boxes the run drew (a page's own message for an input it cannot answer)
        kinds: set[str] = set()
        # the deadline is moved to ``timeout_s + step`` after a message at most ``step`` after it came, so a run fails
        # after between ``timeout_s`` and ``timeout_s + step`` seconds without a message
        step = min(1.0, self.timeout_s / 4)
        moved = loop.time()
        async with asyncio.timeout_at(moved + self.timeout_s + step) as deadline:
            while True:
                raw = await recv()
                now = loop.time()
                if now - moved > step:  # the server is alive: the wait starts again
                    deadline.reschedule(now + self.timeout_s + step)
                    moved = now
                fm = ForwardMsg()
                fm.ParseFromString(raw)
                kind = fm.WhichOneof("type")
                kinds.add(kind)
                if kind == "navigation":
                    self.pages = [(p.page_script_hash, p.url_pathname) for p in fm.navigation.app_pages]
                elif kind == "new_session":
                    self.new_session = fm.new_session
                    self.page_hash = fm.new_session.page_script_hash
                    self.session_id = fm.new_session.initialize.session_id
                elif kind == "page_info_changed":
                    self.query_string = fm.page_info_changed.query_string
                elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    el = fm.delta.new_element
                    et = el.WhichOneof("type")
                    if et == "exception":
                        trace = " | ".join(el.exception.stack_trace[-2:])[:300]
                        errors.append(f"exception: {el.exception.type}: {el.exception.message[:160]} at {trace}")
                    elif et in ("markdown", "alert"):
                        texts.append(el.markdown.body if et == "markdown" else el.alert.body)
                        if et == "alert" and el.alert.format == el.alert.ERROR:
                            shown_errors += 1
                    w = getattr(el, et, None) if et else None
                    wid = getattr(w, "id", "") if w is not None else ""
                    if isinstance(wid, str) and wid.startswith("$$ID"):
                        widgets[wid] = (et, w)
                        fragments[wid] = fm.delta.fragment_id
                elif kind == "script_finished":
                    status = fm.script_finished
                    if status not in (0, 2, 3):  # FINISHED_SUCCESSFULLY, _EARLY_FOR_RERUN, _FRAGMENT_RUN_SUCCESSFULLY
                        errors.append(f"script finished with status {status}")
                    if status == 2:
                        # FINISHED_EARLY_FOR_RERUN: the run ended in st.rerun() (ui/budget.py restarts a run that turned
                        # heavy; the Models and Scenarios pages rerun after an action), and the server starts a whole
                        # app run next, as a browser sees it. Read on to that run's end and take its widgets: stopping
                        # here left its messages to be read as the answer to the next request, and the widgets of the
                        # fragment run kept, so a later rerun could name a fragment the app run dropped, which
                        # Streamlit ignores without an answer.
                        fragment_id = ""
                        widgets, fragments, texts, shown_errors = {}, {}, [], 0
                        continue
                    if fragment_id:  # a fragment's run redraws only its own widgets
                        self.widgets.update(widgets)
                        self.fragments.update(fragments)
                    else:
                        self.widgets, self.fragments = widgets, fragments
                    self.texts, self.kinds, self.shown_errors = texts, kinds, shown_errors
                    return time.perf_counter() - t0, errors

    def _pick_input(self, rng: random.Random):
        """(widget id, element type, proto) of one number input, select box, multiselect, radio or toggle of the
        current page that a user would change (not the sidebar's model or the Benchmark page's run / stop buttons), or
        None."""
        candidates = [(wid, et, w) for wid, (et, w) in self.widgets.items()
                      if et in ("number_input", "selectbox", "multiselect", "radio", "checkbox")
                      and not wid.endswith(("-model", "-brun", "-bstop"))]
        return rng.choice(candidates) if candidates else None

    def nearby_state(self, rng: random.Random):  # noqa: C901
        """A new value for one number input, selectbox, multiselect, toggle or radio of the current page, as a user
        moves one: a number halved, doubled or stepped by one from its current value (the value the page last wrote to
        its link, ``ui.state``'s ``?key=``, read from the widget id's user key; the widget's default where the link has
        none), kept in its range; another option of a select box; one option added to a multiselect or one taken out
        (within its ``max_selections``); a toggle flipped. ``random_state`` instead draws a
        number anywhere in its range, so most inputs end up where the page can only answer with an error (a tensor
        parallel size of 3,517 divides no model's heads). ``self.undo`` is then the state that puts it back, for a
        user who sees the page answer with an error."""
        from urllib.parse import parse_qsl

        from streamlit.proto.WidgetStates_pb2 import WidgetState

        picked = self._pick_input(rng)
        if picked is None:
            return None
        wid, et, w = picked
        link = dict(parse_qsl(self.query_string or "", keep_blank_values=True))
        user_key = wid.rsplit("-", 1)[-1]
        st, self.undo = WidgetState(id=wid), WidgetState(id=wid)
        if et == "number_input":
            lo = w.min if w.has_min else -math.inf
            hi = w.max if w.has_max else math.inf
            try:
                now = float(link[user_key])
            except (KeyError, ValueError):
                now = w.default
            step = w.step or 1
            v = rng.choice((now / 2, now * 2, now + step, now - step)) if now else rng.choice((step, 2 * step))
            v = min(max(v, lo), hi)
            if w.data_type == w.INT:
                st.int_value, self.undo.int_value = int(round(v)), int(round(now))
            else:
                st.double_value, self.undo.double_value = v, now
        elif et in ("selectbox", "radio"):
            others = [o for o in w.options if o != link.get(user_key)]
            if not others:
                return None
            st.string_value = rng.choice(others)  # Streamlit 1.67 sends the option's text
            self.undo.string_value = link.get(user_key, w.options[w.default] if len(w.options) > w.default else "")
        elif et == "multiselect":
            now = self._chosen(w, link.get(user_key))
            absent = [o for o in w.options if o not in now]
            if not absent and not now:
                return None
            if absent and (not now or rng.random() < 0.5) and not (w.max_selections and len(now) >= w.max_selections):
                new = [*now, rng.choice(absent)]
            else:
                new = list(now)
                new.remove(rng.choice(now))
            st.string_array_value.data.extend(new)  # Streamlit 1.67 sends the options' texts
            self.undo.string_array_value.data.extend(now)
        else:
            st.bool_value = link.get(user_key) != "1" if user_key in link else rng.random() < 0.5
            self.undo.bool_value = not st.bool_value
        return st

    @staticmethod
    def _chosen(w, linked: str | None) -> list[str]:
        """A multiselect's options chosen now: its link (``ui.state``'s ``?key=a,b``), else the values the server
        last sent (``raw_values``), else its default (indices into its options)."""
        if linked is not None:
            return [x for x in linked.split(",") if x in w.options]
        if w.raw_values:
            return [x for x in w.raw_values if x in w.options]
        return [w.options[i] for i in w.default if i < len(w.options)]

    def random_state(self, rng: random.Random):
        """A new value for one number input, selectbox, multiselect, toggle or radio of the current page."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        picked = self._pick_input(rng)
        if picked is None:
            return None
        wid, et, w = picked
        st = WidgetState(id=wid)
        if et == "number_input":
            lo = w.min if w.has_min else 0
            hi = w.max if w.has_max else lo + 1000
            hi = min(hi, lo + 4096)  # keep the pages' work realistic (a batch of 10^6 is not a click)
            v = rng.uniform(lo, hi)
            if w.data_type == w.INT:
                st.int_value = int(v)
            else:
                st.double_value = v
        elif et in ("selectbox", "radio"):
            if not w.options:
                return None
            st.string_value = rng.choice(list(w.options))  # Streamlit 1.67 sends the option's text
        elif et == "multiselect":  # up to four options, as a user compares a few
            most = min(len(w.options), w.max_selections or 4, 4)
            st.string_array_value.data.extend(rng.sample(list(w.options), rng.randint(0, most)))
        else:
            st.bool_value = rng.random() < 0.5
        return st
