"""A function run on each connection uvicorn makes: its protocols' ``connection_made`` wrapped once per process, with an
environment switch to leave it off and a way back (tests). Used by ``ui/tcp_nodelay.py`` (TCP_NODELAY on each HTTP
connection) and ``ui/ws_coalesce.py`` (each websocket's writes joined per burst), issue 18."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ConnectionHook:
    """``on_connection(transport)`` runs as each connection of the classes ``classes()`` names is made and returns the
    transport the protocol keeps (the same one, or a wrapper). ``install()`` patches them once per process unless
    ``switch`` is ``0`` in the environment, then calls ``after_install()`` (say, for the connections already open);
    ``uninstall()`` puts the classes' own methods back (connections made meanwhile keep what was done to them)."""

    def __init__(self, switch: str, classes: Callable[[], list[type]], on_connection: Callable[[object], object],
                 after_install: Callable[[], object] | None = None):
        self.switch, self.classes, self.on_connection, self.after_install = switch, classes, on_connection, after_install
        self.installed = False
        #: (class, its own connection_made) for each class patched
        self.patched: list[tuple[type, object]] = []
        self._lock = threading.Lock()

    def _patch(self, cls: type) -> None:
        original = cls.__dict__.get("connection_made")
        if original is None:  # another uvicorn: left alone
            return
        on_connection = self.on_connection

        def connection_made(protocol, transport, *args, **kwargs):
            return original(protocol, on_connection(transport), *args, **kwargs)

        connection_made.__wrapped__ = original
        cls.connection_made = connection_made
        self.patched.append((cls, original))

    def install(self) -> bool:
        """Patch the classes once per process; whether the hook is (now) installed."""
        if self.installed:
            return True
        if os.environ.get(self.switch, "1") == "0":
            return False
        with self._lock:
            if not self.installed:
                for cls in self.classes():
                    self._patch(cls)
                if self.after_install is not None:
                    self.after_install()
                self.installed = True
        return True

    def uninstall(self) -> None:
        with self._lock:
            while self.patched:
                cls, original = self.patched.pop()
                cls.connection_made = original
            self.installed = False

    @contextmanager
    def suspended(self) -> Iterator[ConnectionHook]:
        """The hook off for the block, then as it was before (tests that compare uvicorn with and without it)."""
        was = self.installed
        self.uninstall()
        try:
            yield self
        finally:
            self.uninstall()
            if was:
                self.install()
