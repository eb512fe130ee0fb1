"""``ui/st_batch.py``: batching the script thread's messages for the event loop changes nothing a browser receives.

Two servers run app.py, one with the batching (the default) and one with Streamlit's own hand-off
(``CALC_ST_BATCH=0``). One session on each makes the same moves (every page, then input changes drawn from the same
seed, fragments included) and records every ``ForwardMsg`` it receives; the two records must be equal message for
message: the same kinds in the same order, and each delta byte for byte with its place on the page.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.ws_client import run_async
from ui import st_batch


def test_the_patch_applies_to_this_streamlit():
    """The digest of the Streamlit functions the module mirrors matches (else install() leaves them alone and the
    batching is silently off: a new Streamlit needs the module re-read against its source)."""
    assert st_batch._internals_match()


class _Session:
    """What the patched ``_on_scriptrunner_event`` uses of an AppSession: a FIFO loop and the per-event handler."""

    def __init__(self, loop, handled, enqueue):
        self.loop, self.handled, self.enqueue = loop, handled, enqueue

    def _call_soon_on_event_loop(self, callback):
        self.loop.put(callback)

    def _handle_scriptrunner_event_on_event_loop(self, sender, event, forward_msg=None):
        self.handled.append(forward_msg if event is self.enqueue else event)


def _scheduling_original(self, sender, event, forward_msg=None, **kwargs):
    """Streamlit's own path for an event: one callback on the loop."""
    self._call_soon_on_event_loop(lambda: self._handle_scriptrunner_event_on_event_loop(sender, event))


def test_messages_after_another_event_are_handed_on_after_it():
    """A run ending in st.rerun(): its last message, STOPPED_FOR_RERUN, the next run's STARTED and its messages. The
    drain scheduled for the first message must not hand on the next run's messages before STARTED (whose handler
    clears the browser queue): the first version did, and under load the browser lost the top of the page."""
    import queue

    enqueue, loop, handled = object(), queue.Queue(), []
    on = st_batch._patched_on_event(_scheduling_original, enqueue)
    s = _Session(loop, handled, enqueue)
    on(s, "runner", enqueue, forward_msg="m1")
    on(s, "runner", "STOPPED_FOR_RERUN", run_descriptor=1)
    on(s, "runner", "STARTED", page_script_hash="x")
    on(s, "runner", enqueue, forward_msg="a1")
    on(s, "runner", enqueue, forward_msg="a2")
    on(s, "runner", "FINISHED", run_descriptor=2)
    while not loop.empty():
        loop.get()()
    assert handled == ["m1", "STOPPED_FOR_RERUN", "STARTED", "a1", "a2", "FINISHED"]


def test_a_script_thread_and_the_loop_at_once_keep_the_order():
    """One thread emits 20,000 messages and other events (random mix, a fixed seed) while another runs the loop's
    callbacks as they come: the handler sees exactly the emission order."""
    import queue
    import threading

    enqueue, loop, handled = object(), queue.Queue(), []
    on = st_batch._patched_on_event(_scheduling_original, enqueue)
    s = _Session(loop, handled, enqueue)
    rng = random.Random(3)
    emitted = [f"m{i}" if rng.random() < 0.9 else f"E{i}" for i in range(20_000)]
    stop = object()

    def run_loop():
        while (cb := loop.get()) is not stop:
            cb()

    t = threading.Thread(target=run_loop)
    t.start()
    for x in emitted:
        if x[0] == "m":
            on(s, "runner", enqueue, forward_msg=x)
        else:
            on(s, "runner", x, run_descriptor=0)
    loop.put(stop)
    t.join(60)
    assert handled == emitted


async def _record(url: str, moves: int) -> list:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.ws_client import WsSession

    s = WsSession(url, timeout_s=120)
    await s.open()
    got: list = []
    recv = s.ws.recv

    async def recording():
        raw = await recv()
        fm = ForwardMsg()
        fm.ParseFromString(raw)
        kind = fm.WhichOneof("type")
        if kind == "delta":
            el = fm.delta.new_element if fm.delta.WhichOneof("type") == "new_element" else None
            sub = getattr(el, el.WhichOneof("type") or "", None) if el is not None else None
            for name in (sub.DESCRIPTOR.fields_by_name if sub is not None else ()):
                if name.endswith(("url", "file_id")):  # a media file's address (a download's bytes): random per server
                    sub.ClearField(name)
            got.append(("delta", tuple(fm.metadata.delta_path), fm.delta.SerializeToString(deterministic=True)))
        elif kind == "script_finished":
            got.append((kind, fm.script_finished))
        elif kind == "session_status_changed":
            got.append((kind, fm.session_status_changed.script_is_running))
        else:  # new_session, page_info_changed, navigation, ...: their place in the stream
            got.append((kind,))
        return raw

    s.ws.recv = recording
    try:
        await s.rerun(page_name="")
        # not the Benchmark (it measures) nor the Scenarios page (a new workspace's address is random per session)
        pages = [(h, p) for h, p in s.pages if p not in ("benchmark", "scenarios")]
        for h, _ in pages:
            s.page_hash = h
            await s.rerun(page_hash=h)
        rng = random.Random(7)
        for i in range(moves):
            if i % 5 == 0:
                h, _ = pages[rng.randrange(len(pages))]
                s.page_hash = h
                await s.rerun(page_hash=h, query_string="")
                continue
            state = s.nearby_state(rng)
            await s.rerun(page_hash=s.page_hash, states=[state] if state is not None else [],
                          fragment_id=s.fragment_of(state), query_string=s.query_string)
    finally:
        await s.close()
    return got


@pytest.mark.parametrize("moves", [60])
def test_a_browser_receives_the_same_messages_in_the_same_order(moves):
    from deploy.replicas import start_streamlit, stop_process

    records = {}
    for setting in ("0", "1"):
        proc, url = start_streamlit(env={**os.environ, "CALC_ST_BATCH": setting})
        try:
            records[setting] = run_async(_record(url, moves), 600)
        finally:
            stop_process(proc)
    off, on = records["0"], records["1"]
    assert sum(1 for m in off if m[0] == "delta") > 500  # the moves drew pages and fragments
    assert len(on) == len(off)
    for i, (a, b) in enumerate(zip(off, on, strict=True)):
        assert a == b, f"message {i}: {a[:2]} (Streamlit's hand-off) != {b[:2]} (batched)"
