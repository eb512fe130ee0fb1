"""ui/ws_coalesce.py: a burst of websocket frames leaves in one write, byte for byte as it was written.

Independent references: the bytes the wrapped transport receives (their order and content, against what was
written), and the kernel's own count of TCP segments a client received (``TCP_INFO``'s ``tcpi_segs_in``) from a real
uvicorn server (``websockets-sansio``, as Streamlit 1.67 runs it) and from the app served as deployed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pytest

from tests.ws_client import run_async, uvicorn_in_thread
from ui import ws_coalesce
from ui.ws_coalesce import FLUSH_BYTES, MAX_TICKS, CoalescingTransport


class _Sink:
    """An asyncio transport that records its writes."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data):
        self.writes.append(data)

    def is_closing(self):
        return self.closed or self.aborted

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def _frames(n: int, size: int = 300) -> list[bytes]:
    return [bytes([i % 251]) * (size + i) for i in range(n)]


def test_a_burst_written_one_per_tick_leaves_in_one_write_in_order():
    """As Streamlit's runtime hands messages over: one per event-loop tick, then a pause."""

    async def main():
        sink = _Sink()
        t = CoalescingTransport(sink, asyncio.get_running_loop())
        frames = _frames(50)
        for f in frames:
            t.write(f)
            await asyncio.sleep(0)
        assert sink.writes == []  # still writing: nothing sent yet
        assert t.get_write_buffer_size() == sum(map(len, frames))
        await asyncio.sleep(0.005)  # the runtime's pause between flushes
        assert sink.writes == [b"".join(frames)]
        assert t.get_write_buffer_size() == 0
        # a second burst is a second write
        t.write(b"x")
        t.write(b"y")
        await asyncio.sleep(0.001)
        assert sink.writes[1:] == [b"xy"]
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else is the transport's

    run_async(main())


def test_large_writes_pass_as_they_are_and_a_full_burst_leaves_at_once():
    async def main():
        sink = _Sink()
        t = CoalescingTransport(sink, asyncio.get_running_loop())
        t.write(b"a" * 10)
        big = b"b" * FLUSH_BYTES
        t.write(big)
        assert sink.writes[0] == b"a" * 10 and sink.writes[1] is big  # what was kept first; the large one not copied
        small = b"c" * (FLUSH_BYTES // 4)
        for _ in range(4):
            t.write(small)
        assert sink.writes[2:] == [small * 4]  # reached FLUSH_BYTES: sent without waiting for a tick
        await asyncio.sleep(0.001)
        assert len(sink.writes) == 3

    run_async(main())


def test_a_session_that_never_pauses_is_still_sent_within_max_ticks():
    async def main():
        sink = _Sink()
        t = CoalescingTransport(sink, asyncio.get_running_loop())
        written = []
        for i in range(5 * MAX_TICKS):
            written.append(b"%d," % i)
            t.write(written[-1])
            await asyncio.sleep(0)
        assert len(sink.writes) >= 4  # flushed at least every MAX_TICKS + 1 ticks
        await asyncio.sleep(0.001)
        assert b"".join(sink.writes) == b"".join(written)

    run_async(main())


def test_close_sends_what_was_kept_first_and_abort_drops_it():
    async def main():
        loop = asyncio.get_running_loop()
        sink = _Sink()
        t = CoalescingTransport(sink, loop)
        t.write(b"last words")
        t.close()
        assert sink.writes == [b"last words"] and sink.closed
        sink2 = _Sink()
        t2 = CoalescingTransport(sink2, loop)
        t2.write(b"dropped")
        t2.abort()
        await asyncio.sleep(0.001)
        assert sink2.writes == [] and sink2.aborted

    run_async(main())


def _segs_in(sock) -> int:
    """Segments this TCP socket has received (Linux ``struct tcp_info``: ``tcpi_segs_in`` at byte 140, since 4.2)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < 144:
        pytest.skip("TCP_INFO without tcpi_segs_in (Linux < 4.2)")
    return struct.unpack_from("I", info, 140)[0]


def _burst_segments(n: int) -> int:
    """Segments a websocket client receives from its message on, while a uvicorn server (websockets-sansio,
    TCP_NODELAY) answers it with ``n`` messages one per event-loop tick (the server's ACK of the client's message may
    be one more)."""
    import uvicorn
    import websockets

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await receive()  # the client's go
        for f in _frames(n):
            await send({"type": "websocket.send", "bytes": f})
            await asyncio.sleep(0)
        await receive()  # until the client closes

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, ws="websockets-sansio",
                                           log_level="error", lifespan="off"))
    with uvicorn_in_thread(server):
        port = server.servers[0].sockets[0].getsockname()[1]

        async def client() -> int:
            async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
                sock = ws.transport.get_extra_info("socket")
                await asyncio.sleep(0.05)  # the handshake's segments all in
                before = _segs_in(sock)
                await ws.send(b"go")
                got = [await ws.recv() for _ in range(n)]
                assert got == _frames(n)  # every message, in order, unchanged
                await asyncio.sleep(0.05)
                return _segs_in(sock) - before

        return run_async(client(), 60)


def test_uvicorn_sends_a_burst_in_a_few_segments_once_installed():
    with ws_coalesce.HOOK.suspended():
        one_each = _burst_segments(50)
        assert ws_coalesce.install()
        coalesced = _burst_segments(50)
    assert one_each >= 20, one_each  # uvicorn's own behaviour: a segment per message (the kernel merges a few)
    assert coalesced <= 3, coalesced  # 50 x ~325 bytes: one write (and perhaps an ACK of its own)


def _app_rerun_segments(env: dict) -> tuple[int, int]:
    """(messages, segments) of one app rerun a websocket session receives from the app served as deployed
    (deploy/serve.py)."""
    from deploy.replicas import start_streamlit, stop_process
    from tests.ws_client import WsSession

    async def session(url: str) -> tuple[int, int]:
        s = WsSession(url, timeout_s=120)
        await s.open()
        try:
            _, errors = await s.rerun(page_name="")  # the first run: imports, the session's first page
            assert not errors
            await asyncio.sleep(0.1)
            sock = s.ws.transport.get_extra_info("socket")
            recv, count = s.ws.recv, [0]

            async def counted(*a, **k):
                count[0] += 1
                return await recv(*a, **k)

            s.ws.recv = counted
            before = _segs_in(sock)
            _, errors = await s.rerun(page_name="", query_string=s.query_string)
            assert not errors
            await asyncio.sleep(0.1)
            return count[0], _segs_in(sock) - before
        finally:
            await s.close()

    proc, url = start_streamlit(env={**os.environ, **env})
    try:
        return run_async(session(url), 600)
    finally:
        stop_process(proc)


def test_the_deployed_app_sends_a_rerun_in_fewer_segments_than_messages():
    messages, segments = _app_rerun_segments({})
    assert messages >= 10, messages  # the home page's rerun: a dozen messages and more
    assert segments * 3 <= messages, (messages, segments)
    messages_off, segments_off = _app_rerun_segments({"CALC_WS_COALESCE": "0"})
    assert segments_off * 3 > messages_off, (messages_off, segments_off)  # the same check sees the difference
