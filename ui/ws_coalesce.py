"""A rerun's websocket frames leave in one write per burst, not one write per message (issue 18).

Why: Streamlit 1.67's runtime loop (``streamlit/runtime/runtime.py``, ``_loop_coroutine``) hands a session's queued
ForwardMsgs to its client one per event-loop tick (``await asyncio.sleep(0)`` after each), every 5 ms while a script
runs (``MESSAGE_FLUSH_INTERVAL_SECS``); the client's sender task (``starlette_websocket.py``,
``StarletteSessionClient._sender``) sends each as soon as it is queued, and uvicorn's websocket protocol
(``uvicorn/protocols/websockets/websockets_sansio_impl.py``, ``send``) writes each frame to the socket at once. With
TCP_NODELAY on (``ui/tcp_nodelay.py``) every frame is then one ``send`` system call and one TCP segment, and whoever
reads the connection (the browser, HAProxy in front of replicas, ``bench/load.py``'s sessions) wakes once per frame: a
page's rerun is ~50 messages.

What: ``install()`` wraps the transport of each websocket connection uvicorn makes from then on. A write is kept and
sent, joined with the writes after it, on the first event-loop tick in which nothing more was written to that
connection: at the end of the runtime's burst, one tick after its last message, instead of one by one. The bytes,
their order and the websocket frames are unchanged; only how they are cut into system calls and segments. A burst is
sent at once when it reaches ``FLUSH_BYTES`` or has waited ``MAX_TICKS`` ticks, so a session that streams without a
pause is still sent within a bounded delay; a write of ``FLUSH_BYTES`` or more is passed on as it is (after what was
kept), never copied; closing sends what was kept first. Nothing is changed with ``CALC_WS_COALESCE=0`` in the
environment (A/B measurements).

Only uvicorn's "websockets-sansio" protocol is wrapped: Streamlit 1.67 picks it for uvicorn >= 0.44
(``starlette_server.py``, ``_get_websocket_protocol``); with another uvicorn nothing is patched.
"""

from __future__ import annotations

import asyncio

from ui.conn_hook import ConnectionHook

#: a burst this large is sent at once (loopback and a LAN take 64 KiB in one segment or a few)
FLUSH_BYTES = 64 * 1024
#: ticks a burst may wait for more writes before it is sent regardless
MAX_TICKS = 64


class CoalescingTransport:
    """An asyncio transport whose writes are joined per event-loop burst (see the module docstring); every other
    attribute is the wrapped transport's."""

    def __init__(self, transport, loop: asyncio.AbstractEventLoop):
        self._t = transport
        self._loop = loop
        self._buf: list[bytes] = []
        self._size = 0
        self._wrote = False  # written to since the last tick
        self._ticks = 0  # ticks the kept burst has waited
        self._scheduled = False

    def write(self, data) -> None:
        if not data:
            return
        if len(data) >= FLUSH_BYTES:  # large: what was kept, then this as it is
            self.flush()
            self._t.write(data)
            return
        self._buf.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
            return
        self._wrote = True
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._tick)

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _tick(self) -> None:
        if self._wrote and self._ticks < MAX_TICKS and self._buf:
            self._wrote = False
            self._ticks += 1
            self._loop.call_soon(self._tick)
            return
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Send what is kept now (one write)."""
        self._wrote = False
        self._ticks = 0
        if not self._buf:
            return
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        if not self._t.is_closing():
            self._t.write(data)

    def get_write_buffer_size(self) -> int:
        return self._t.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self._t.write_eof()

    def close(self) -> None:
        self.flush()
        self._t.close()

    def abort(self) -> None:
        self._buf.clear()
        self._size = 0
        self._t.abort()

    def __getattr__(self, name):
        return getattr(self._t, name)


def _on_connection(transport):
    if isinstance(transport, CoalescingTransport):
        return transport
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on a loop (never in uvicorn): the transport as it is
        return transport
    return CoalescingTransport(transport, loop)


def _protocols() -> list[type]:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # another uvicorn: nothing patched
        return []
    return [WebSocketsSansIOProtocol]


#: uvicorn's websocket protocol patched once per process (``CALC_WS_COALESCE=0``: off)
HOOK = ConnectionHook("CALC_WS_COALESCE", _protocols, _on_connection)


def install() -> bool:
    """Wrap the transports of websockets uvicorn opens from now on, once per process; whether it is installed."""
    return HOOK.install()


def uninstall() -> None:
    """Put uvicorn's protocol back (tests); connections already wrapped stay wrapped."""
    HOOK.uninstall()
