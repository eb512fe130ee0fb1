"""TCP_NODELAY on the server's connections, so that a rerun's messages leave when they are written (issue 18).

Why: Streamlit 1.67 serves through uvicorn on a listening socket it binds itself
(``streamlit/web/server/starlette/starlette_server.py``, ``_bind_socket``: ``socket.socket(family=family)``, protocol
field 0). asyncio sets TCP_NODELAY only on a socket whose protocol field is ``IPPROTO_TCP``
(``asyncio/base_events.py``, ``_set_nodelay``), and a connection accepted from a protocol-0 listener has protocol 0 too,
so Nagle's algorithm stays on for every browser (and for HAProxy's connections to a replica). A rerun writes one
websocket frame per message: after the first small frame, the kernel holds the rest until the browser acknowledges it,
and the browser delays that acknowledgement (Linux: 40 ms, its delayed-ACK minimum). Every rerun then arrived in one
burst ~40 ms late. Over the websocket (``bench/bench_pages.py``'s wall column, one session, 2026-12-03), every page's
rerun took 47.6-48.3 ms of wall time, the trivial page's included, for 9-17 ms of server CPU. With TCP_NODELAY the
Data types page took a median 12-25 ms, Training memory 23-29 ms and Serving 25-30 ms (30 reruns each, two runs;
the spread is the shared machine).

``install()`` (app.py, every run; it acts once per process, whichever way the server was started: ``streamlit run
app.py`` or ``deploy/serve.py``) sets TCP_NODELAY on each connection uvicorn accepts from then on (its HTTP protocols' ``connection_made``; a
websocket is the upgraded HTTP connection, on the same socket), and once on the TCP connections the process already
has: the first browser's connection is accepted before app.py first runs. Nothing is
changed with ``CALC_TCP_NODELAY=0`` in the environment (for A/B measurements).
"""

from __future__ import annotations

import os
import socket
import stat

from ui.conn_hook import ConnectionHook


def _set(sock) -> None:
    """TCP_NODELAY on ``sock`` (a socket or asyncio's ``TransportSocket``) when it is a TCP stream socket."""
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # closed meanwhile, or not a TCP socket after all: nothing to do
        pass


def _protocols() -> list[type]:
    """uvicorn's HTTP protocol classes that are importable here (h11 always; httptools when installed)."""
    out = []
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        out.append(H11Protocol)
    except ImportError:
        pass
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        out.append(HttpToolsProtocol)
    except ImportError:
        pass
    return out


def _on_connection(transport):
    sock = transport.get_extra_info("socket")
    if sock is not None:
        _set(sock)
    return transport


def sweep() -> int:
    """TCP_NODELAY on every TCP stream socket this process has open (Linux: ``/proc/self/fd``); returns how many."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return 0
    n = 0
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            copy = os.dup(fd)
        except OSError:
            continue
        try:
            dup = socket.socket(fileno=copy)  # family and type read from the descriptor; closing it keeps fd
        except OSError:
            os.close(copy)  # never left open: a stray copy would keep the connection from closing
            continue
        try:
            if dup.family in (socket.AF_INET, socket.AF_INET6) and dup.type == socket.SOCK_STREAM:
                _set(dup)
                n += 1
        finally:
            dup.close()
    return n


#: uvicorn's HTTP protocols patched once per process, then the connections open now swept (``CALC_TCP_NODELAY=0``: off)
HOOK = ConnectionHook("CALC_TCP_NODELAY", _protocols, _on_connection, after_install=sweep)


def install() -> bool:
    """Patch uvicorn's protocols and sweep the open connections, once per process; whether it is (now) installed."""
    return HOOK.install()


def uninstall() -> None:
    """Put uvicorn's protocols back (tests); sockets already set keep TCP_NODELAY."""
    HOOK.uninstall()
