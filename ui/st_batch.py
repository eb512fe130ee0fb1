"""Streamlit's hand-off of each element to its event loop, batched (issue 18).

Why: a page's elements cost the server ~100-170 us each (``bench/bench_elements.py``), and two thirds of that was
not the element but the hand-off from the script's thread to the event loop: Streamlit 1.67's ``ScriptRunner``
sends every ``ForwardMsg`` as an ``ENQUEUE_FORWARD_MSG`` event, and ``AppSession._on_scriptrunner_event``
(``streamlit/runtime/app_session.py`` lines 938-968) schedules one ``call_soon_threadsafe`` callback per message: a
write to the loop's wake-up pipe, a wake-up, a GIL hand-over and a pass of the loop, per element. The loop then
enqueues the message for the browser and, from its own thread, calls ``Runtime._enqueued_some_message``
(``runtime.py`` 897-907), which wakes the loop it is running on with another ``call_soon_threadsafe``.

What ``install()`` (app.py) changes, and nothing else:

- ``ENQUEUE_FORWARD_MSG`` events go to a per-session chunk; the first message of a chunk schedules one drain
  callback on the loop, which hands every message of that chunk, in order, to Streamlit's own
  ``_handle_scriptrunner_event_on_event_loop``, as the per-message callbacks did. Every other event still takes
  Streamlit's path, and first closes the chunk: a message after it starts a new chunk, whose drain is scheduled after
  that event's callback. So the order of all events on the loop is kept: a chunk's messages all came between the
  same two other events. (A first version let a drain scheduled before an event take the messages that came after
  it: under load, a run that ended in ``st.rerun()`` had the next run's first messages handed on before that run's
  ``SCRIPT_STARTED``, which clears the browser queue, and the browser lost the top of the page.
  ``tests/test_st_batch.py`` holds the order on that interleaving.)
- ``Runtime._enqueued_some_message`` called on the loop's own thread sets the "send data" event directly; from any
  other thread it is Streamlit's.

It applies only when the installed Streamlit's code for these functions is the code it was written against (a
digest of their source, as ``ui/st_speed.py`` does); ``CALC_ST_BATCH=0`` in the environment turns it off (A/B).
``tests/test_st_batch.py`` holds what a browser receives to what it receives without the patch.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
import threading

#: sha256 of the source of the Streamlit functions this module replaces or relies on, as in Streamlit 1.67.0
MIRRORED_SHA256 = "e9bad4e1a054b5cd910439a69376689057d34eb8ab177a6bfc04e681de066444"

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_installed: bool | None = None
_ORIGINALS: dict[str, object] = {}


def _mirrored_source() -> str:
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.runtime import Runtime
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    parts = [AppSession._on_scriptrunner_event, AppSession._call_soon_on_event_loop,
             AppSession._handle_scriptrunner_event_on_event_loop, AppSession._enqueue_forward_msg,
             Runtime._enqueued_some_message, ScriptRunner._enqueue_forward_msg]
    return "\n".join(inspect.getsource(p) for p in parts)


def _internals_match() -> bool:
    try:
        return hashlib.sha256(_mirrored_source().encode()).hexdigest() == MIRRORED_SHA256
    except Exception:  # noqa: BLE001 - another Streamlit without these functions: left alone
        return False


def _patched_on_event(original, enqueue_event):
    def _on_scriptrunner_event(self, sender, event, forward_msg=None, **kwargs):
        batch = self.__dict__.get("_calc_batch")
        if batch is None:
            batch = self.__dict__.setdefault("_calc_batch", _Batch())
        if event is not enqueue_event or kwargs or forward_msg is None:
            batch.cut()  # the messages after this event go to a drain scheduled after it
            return original(self, sender, event, forward_msg=forward_msg, **kwargs)
        chunk = batch.add(sender, forward_msg)
        if chunk is not None:
            try:
                self._call_soon_on_event_loop(lambda: batch.drain(chunk, self, enqueue_event))
            except BaseException:
                batch.cut()  # nothing will drain this chunk: the next message starts another
                raise

    _on_scriptrunner_event.__wrapped__ = original
    return _on_scriptrunner_event


class _Chunk:
    """Messages one drain hands on: those that arrived between two other events of the session."""

    __slots__ = ("items", "done")

    def __init__(self) -> None:
        self.items: list = []
        self.done = False


class _Batch:
    """One session's chunk that takes new messages (None after another event: the next message starts a chunk)."""

    __slots__ = ("lock", "current")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: _Chunk | None = None

    def add(self, sender, msg) -> _Chunk | None:
        """Add a message; the new chunk when the caller must schedule its drain, else None."""
        with self.lock:
            chunk = self.current
            new = chunk is None or chunk.done
            if new:
                chunk = self.current = _Chunk()
            chunk.items.append((sender, msg))
            return chunk if new else None

    def cut(self) -> None:
        """Another event is about to be scheduled: no later message may join a chunk whose drain runs before it."""
        with self.lock:
            self.current = None

    def drain(self, chunk: _Chunk, session, enqueue_event) -> None:
        """On the loop: hand every message of ``chunk`` to Streamlit's handler, in order, until none is left."""
        handle = session._handle_scriptrunner_event_on_event_loop
        while True:
            with self.lock:
                if not chunk.items:
                    chunk.done = True
                    return
                items, chunk.items = chunk.items, []
            for sender, msg in items:
                try:
                    handle(sender, enqueue_event, msg)
                except Exception:  # as the loop logs a failing callback, and the next messages still go
                    _LOG.exception("handling a ForwardMsg")


def _patched_enqueued(original):
    def _enqueued_some_message(self) -> None:
        objs = self._get_async_objs()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is objs.eventloop:  # the loop's own thread: no wake-up needed
            objs.need_send_data.set()
        else:
            original(self)

    _enqueued_some_message.__wrapped__ = original
    return _enqueued_some_message


def install() -> bool:
    """Patch once per process (see the module docstring); whether it is installed."""
    global _installed
    if _installed is not None:
        return _installed
    with _LOCK:
        if _installed is None:
            if os.environ.get("CALC_ST_BATCH", "1") == "0" or not _internals_match():
                _installed = False
            else:
                from streamlit.runtime.app_session import AppSession
                from streamlit.runtime.runtime import Runtime
                from streamlit.runtime.scriptrunner import ScriptRunnerEvent

                _ORIGINALS["on"] = AppSession._on_scriptrunner_event
                _ORIGINALS["enqueued"] = Runtime._enqueued_some_message
                AppSession._on_scriptrunner_event = _patched_on_event(_ORIGINALS["on"],
                                                                      ScriptRunnerEvent.ENQUEUE_FORWARD_MSG)
                Runtime._enqueued_some_message = _patched_enqueued(_ORIGINALS["enqueued"])
                _installed = True
    return _installed


def uninstall() -> None:
    """Streamlit's own functions back (tests)."""
    global _installed
    with _LOCK:
        if _ORIGINALS:
            from streamlit.runtime.app_session import AppSession
            from streamlit.runtime.runtime import Runtime

            AppSession._on_scriptrunner_event = _ORIGINALS.pop("on")
            Runtime._enqueued_some_message = _ORIGINALS.pop("enqueued")
        _installed = None
