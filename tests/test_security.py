"""Deployment security: server settings, no code execution from user data, ruff's security rules.

- ``.streamlit/config.toml`` holds an upload limit, XSRF and CORS protection, no wildcard origin and
  no usage statistics; Streamlit itself reads those values, and a real server on 127.0.0.1 refuses a
  websocket from a foreign origin and an upload without the XSRF token.
- No ``eval``/``exec``/``compile``, no pickle/marshal/shelve, no ``torch.load`` without
  ``weights_only=True``, no ``allow_pickle=True``, no ``shell=True``, no ``yaml.load`` anywhere in the
  code that runs in the app, the CLI, the benchmarks or the validation harness.
- ``ruff check --select S`` (flake8-bandit) is clean over the repository.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, start_server
from tests.ws_client import run_async

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (requires-python allows 3.10)

CONFIG = ROOT / ".streamlit" / "config.toml"
SOURCE_DIRS = ("calc", "ui", "app_pages", "measure", "validate", "bench", "deploy")


def _settings() -> dict:
    with open(CONFIG, "rb") as fh:
        return tomllib.load(fh)


def test_config_toml_limits_uploads_and_turns_protections_on():
    cfg = _settings()
    server = cfg["server"]
    # config.json is read up to 1 MB; GGUF headers and CSVs are small. Streamlit's default is 200 MB.
    assert 1 <= server["maxUploadSize"] <= 64
    assert server["maxMessageSize"] <= 200
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True
    assert "*" not in server.get("corsAllowedOrigins", [])
    assert server.get("enableStaticServing", False) is False
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] in ("none", "type")


def test_streamlit_reads_the_settings_from_the_repository():
    """The file is where Streamlit looks (cwd/.streamlit/config.toml) and every key is a real option."""
    code = (
        "from streamlit import config\n"
        "config.get_config_options(force_reparse=True)\n"
        "for k in ('server.maxUploadSize', 'server.enableXsrfProtection', 'server.enableCORS',"
        " 'browser.gatherUsageStats', 'client.showErrorDetails'):\n"
        "    print(k, config.get_option(k))\n"
    )
    out = subprocess.run([shutil.which("python") or "python", "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    values = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    cfg = _settings()
    assert values["server.maxUploadSize"] == str(cfg["server"]["maxUploadSize"])
    assert values["server.enableXsrfProtection"] == "True"
    assert values["server.enableCORS"] == "True"
    assert values["browser.gatherUsageStats"] == "False"
    assert values["client.showErrorDetails"] == cfg["client"]["showErrorDetails"]
    # An unknown key in config.toml is silently ignored by Streamlit: hold every key to a known option.
    from streamlit import config as st_config

    known = set(st_config._config_options_template)
    for section, options in cfg.items():
        for key in options:
            assert f"{section}.{key}" in known, f"{section}.{key} is not a Streamlit option"


@pytest.fixture(scope="module")
def live_server():
    proc, url = start_server()
    yield url
    proc.kill()
    proc.wait(10)


def _ws_status(url: str, origin: str) -> str:
    import websockets

    async def connect():
        try:
            async with websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream", origin=origin,
                                          open_timeout=10):
                return "open"
        except websockets.InvalidStatus as exc:
            return str(exc.response.status_code)

    return run_async(connect(), 60)


def test_server_refuses_foreign_websocket_and_upload_without_xsrf_token(live_server):
    assert _ws_status(live_server, live_server) == "open"  # the app's own origin works
    assert _ws_status(live_server, "http://evil.example") == "403"
    req = urllib.request.Request(live_server + "/_stcore/upload_file/session/file", data=b"--x--", method="PUT",
                                 headers={"Origin": live_server, "Content-Type": "multipart/form-data; boundary=x"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 (loopback)
    assert err.value.code == 403
    req = urllib.request.Request(live_server + "/_stcore/health", headers={"Origin": "http://evil.example"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
        assert resp.headers.get("Access-Control-Allow-Origin") in (None, live_server)


# ----- no code execution from data --------------------------------------------------------------

def _python_files():
    files = [ROOT / "app.py"]
    for d in SOURCE_DIRS:
        files += sorted((ROOT / d).rglob("*.py"))
    return [f for f in files if f.exists()]


_BANNED_CALLS = {"eval", "exec", "compile", "__import__", "input"}
_BANNED_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}


def _violations(path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any((n or "").split(".")[0] in _BANNED_MODULES for n in names):
                found.append(f"{where} imports a deserializer that runs code: {names}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        kwargs = {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Name) and name in _BANNED_CALLS:
            found.append(f"{where} calls {name}()")
        if name in ("read_pickle", "system", "popen") and isinstance(func, ast.Attribute):
            found.append(f"{where} calls .{name}()")
        if name == "load" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            base = func.value.id
            weights_only = kwargs.get("weights_only")
            if base == "torch" and not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"{where} torch.load without weights_only=True")
            if base == "yaml" and "Loader" not in kwargs:
                found.append(f"{where} yaml.load without a safe Loader")
        for flag in ("allow_pickle", "shell"):
            v = kwargs.get(flag)
            if isinstance(v, ast.Constant) and v.value is True:
                found.append(f"{where} {flag}=True")
    return found


def test_scanner_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport torch, subprocess\neval('1')\ntorch.load('f')\n"
                   "subprocess.run('x', shell=True)\nimport numpy as np\nnp.load('f', allow_pickle=True)\n")
    import tests.test_security as me

    old_root = me.ROOT
    me.ROOT = tmp_path
    try:
        found = _violations(bad)
    finally:
        me.ROOT = old_root
    assert len(found) == 5, found


def test_no_eval_exec_or_pickle_anywhere():
    found = [v for f in _python_files() for v in _violations(f)]
    assert not found, "\n".join(found)


def test_ruff_security_rules_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (requirements-dev.txt)")
    out = subprocess.run([ruff, "check", "--select", "S", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
