"""``ui/tcp_nodelay.py``: the server's TCP connections have TCP_NODELAY (Nagle's algorithm held each rerun's messages
~40 ms, issue 18).

Each test reads the socket option itself (``getsockopt``), on the server's side of a connection: in this process for
the sweep and for uvicorn's protocol, and in a real server's process (``pidfd_getfd(2)``) for app.py. Each has a
control that reads 0 where the module does not act, so the premise (Nagle on by default) is checked too.
"""

from __future__ import annotations

import ctypes
import os
import socket
import stat

import pytest

from tests.ws_client import run_async, uvicorn_in_thread
from ui import tcp_nodelay


def _nodelay(sock) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    """(listener, client, accepted): a listener bound as Streamlit binds its own (protocol field 0)."""
    lsock = socket.socket(family=socket.AF_INET)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    client = socket.create_connection(lsock.getsockname())
    accepted, _ = lsock.accept()
    return lsock, client, accepted


def test_the_sweep_sets_nodelay_on_the_connections_already_open():
    lsock, client, accepted = _pair()
    try:
        assert accepted.proto == 0 and _nodelay(accepted) == 0  # the premise: accepted from a protocol-0 listener
        assert tcp_nodelay.sweep() >= 2
        assert _nodelay(accepted) != 0 and _nodelay(client) != 0
    finally:
        for s in (client, accepted, lsock):
            s.close()


def _peer_socket(fds, duplicate, peer: tuple) -> socket.socket:
    """Among descriptors ``fds`` (``duplicate(fd)``: a copy this process owns, or None), a socket copy whose peer is
    ``peer``; the caller closes it. Every other copy is closed: a stray copy of a pipe (Playwright's driver) would
    keep it from ever closing."""
    for fd in fds:
        copy = duplicate(fd)
        if copy is None:
            continue
        try:
            s = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            continue
        try:
            if s.family == socket.AF_INET and s.type == socket.SOCK_STREAM and s.getpeername() == peer:
                return s
        except OSError:
            pass
        s.close()
    raise AssertionError(f"no socket has the peer {peer}")


def _own_socket_copy(fd: int) -> int | None:
    try:
        return os.dup(fd) if stat.S_ISSOCK(os.fstat(fd).st_mode) else None
    except OSError:
        return None


def _server_side(client: socket.socket) -> socket.socket:
    """The socket of this process whose peer is ``client`` (a duplicate of its descriptor)."""
    return _peer_socket([int(n) for n in os.listdir("/proc/self/fd")], _own_socket_copy, client.getsockname())


def _uvicorn_nodelay() -> int:
    """TCP_NODELAY of the connection a uvicorn server (in a thread here, on a socket bound as Streamlit binds it)
    accepts from a client that then makes one HTTP request."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    lsock = socket.socket(family=socket.AF_INET)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    server = uvicorn.Server(uvicorn.Config(app, http="h11", log_level="error", lifespan="off"))
    try:
        with uvicorn_in_thread(server, sockets=[lsock]):
            client = socket.create_connection(lsock.getsockname(), timeout=10)
            try:
                client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
                theirs = _server_side(client)
                try:
                    return _nodelay(theirs)
                finally:
                    theirs.close()
            finally:
                client.close()
    finally:
        lsock.close()


def test_uvicorn_sets_nodelay_on_each_connection_once_installed():
    with tcp_nodelay.HOOK.suspended():
        assert _uvicorn_nodelay() == 0  # uvicorn's own behaviour on Streamlit's socket: Nagle on
        assert tcp_nodelay.install()
        assert _uvicorn_nodelay() != 0


def _pidfd_getfd(pid: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd(2), x86-64 and aarch64 number
        if got < 0:
            err = ctypes.get_errno()
            pytest.skip(f"pidfd_getfd: {os.strerror(err)} (needs Linux 5.6 and ptrace rights over the child)")
        return got
    finally:
        os.close(pidfd)


def _server_nodelay(pid: int, client_addr: tuple) -> int:
    """TCP_NODELAY of server process ``pid``'s socket whose peer is ``client_addr``."""
    fds = [int(n) for n in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{n}").startswith("socket:")]
    s = _peer_socket(fds, lambda fd: _pidfd_getfd(pid, fd), client_addr)
    try:
        return _nodelay(s)
    finally:
        s.close()


def _app_nodelay(env: dict) -> int:
    """A real server started as deployed (app.py through deploy/serve.py); one websocket session, one app run; the
    server's side of that websocket."""
    from deploy.replicas import start_streamlit, stop_process
    from tests.ws_client import WsSession

    async def session(url: str, pid: int) -> int:
        s = WsSession(url, timeout_s=120)
        await s.open()
        try:
            _, errors = await s.rerun(page_name="")
            assert not errors
            return _server_nodelay(pid, s.ws.local_address[:2])
        finally:
            await s.close()

    proc, url = start_streamlit(env={**os.environ, **env})
    try:
        return run_async(session(url, proc.pid), 600)
    finally:
        stop_process(proc)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfd_open needs Linux")
def test_the_app_sets_nodelay_on_the_browser_connection_it_was_started_by():
    """The session's websocket was accepted before app.py first ran: the sweep at app.py's first run sets it (this is
    the connection of the first browser under ``streamlit run app.py``); ``CALC_TCP_NODELAY=0`` leaves Nagle on."""
    assert _app_nodelay({}) != 0
    assert _app_nodelay({"CALC_TCP_NODELAY": "0"}) == 0
