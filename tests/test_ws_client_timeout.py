"""``tests/ws_client.WsSession.rerun`` waits as long as the server keeps sending, and gives up once it has sent nothing
for ``timeout_s`` (up to min(1 s, timeout_s / 4) more: one timer per run, moved at most that often, ``_read_run``). A websocket server on 127.0.0.1
stands in for Streamlit: it answers a rerun with ForwardMsgs at a pace the test sets, or with silence."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.ws_client import run_async


async def _against(pace_s: float, count: int, finish: bool, timeout_s: float) -> tuple[float, object]:
    """A server that, for each message it receives, sends ``count`` markdown deltas ``pace_s`` apart and then (if
    ``finish``) script_finished; returns (seconds the rerun took, its result or the exception it raised)."""
    import websockets
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.ws_client import WsSession

    async def handler(ws):
        async for _ in ws:
            for i in range(count):
                await asyncio.sleep(pace_s)
                fm = ForwardMsg()
                fm.delta.new_element.markdown.body = f"part {i}"
                await ws.send(fm.SerializeToString())
            if finish:
                fm = ForwardMsg()
                fm.script_finished = 0
                await ws.send(fm.SerializeToString())

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        s = WsSession(f"http://127.0.0.1:{port}", timeout_s)
        s.url = f"ws://127.0.0.1:{port}"
        await s.open()
        t0 = time.monotonic()
        try:
            out = await asyncio.wait_for(s.rerun(), 30)  # a deadline that never fires fails here, not in a hang
        except Exception as exc:  # noqa: BLE001 - the test reads which
            out = exc
        took = time.monotonic() - t0
        await s.close()
    return took, out


def test_a_run_longer_than_the_timeout_that_keeps_sending_is_read_to_its_end():
    took, out = run_async(_against(pace_s=0.3, count=12, finish=True, timeout_s=1.0), 120)  # 3.6 s of messages
    assert not isinstance(out, Exception), out
    assert out[1] == [] and took >= 3.5


@pytest.mark.parametrize("count", [0, 5])
def test_a_server_that_goes_silent_times_out_after_timeout_s_and_at_most_a_quarter_more(count):
    took, out = run_async(_against(pace_s=0.3, count=count, finish=False, timeout_s=1.0), 120)
    assert isinstance(out, TimeoutError), out
    assert "no message from the server for 1 s" in str(out)
    silent_since = 0.3 * count
    assert silent_since + 1.0 <= took <= silent_since + 1.25 + 0.3, took  # 0.3 s: the scheduling of a loaded machine
