"""ui/conn_hook.py, the per-connection hook of ui/tcp_nodelay.py and ui/ws_coalesce.py: installed once, off with its
environment switch, and undone with uvicorn's own methods put back."""

from __future__ import annotations

import pytest

from ui import tcp_nodelay, ws_coalesce
from ui.conn_hook import ConnectionHook


@pytest.mark.parametrize(("module", "switch"), [(tcp_nodelay, "CALC_TCP_NODELAY"), (ws_coalesce, "CALC_WS_COALESCE")])
def test_install_can_be_turned_off(module, switch, monkeypatch):
    with module.HOOK.suspended():
        monkeypatch.setenv(switch, "0")
        assert not module.install() and not module.HOOK.patched
        monkeypatch.delenv(switch)
        assert module.install() and module.HOOK.patched


def test_the_hook_runs_on_each_connection_once_installed_and_uninstall_restores_the_class():
    seen, swept = [], []

    class Protocol:
        def connection_made(self, transport):
            self.transport = transport

    own = Protocol.connection_made
    hook = ConnectionHook("CALC_TEST_HOOK", lambda: [Protocol], lambda t: seen.append(t) or ("wrapped", t),
                          after_install=lambda: swept.append(1))
    assert hook.install() and hook.install()  # the second call changes nothing
    assert swept == [1] and len(hook.patched) == 1
    p = Protocol()
    p.connection_made("t1")
    assert seen == ["t1"] and p.transport == ("wrapped", "t1")
    hook.uninstall()
    assert Protocol.connection_made is own and not hook.installed
    Protocol().connection_made("t2")
    assert seen == ["t1"]
    with hook.suspended():  # not installed before: not installed after
        pass
    assert Protocol.connection_made is own and not hook.installed
