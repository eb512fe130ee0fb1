"""A local stand-in for the Hugging Face Hub: a real HTTP server on 127.0.0.1 serving the endpoints
``huggingface_hub`` calls, so the real client runs against it through ``HF_ENDPOINT`` (nothing patched).

Served as the Hub serves them (huggingface_hub ``hf_api.py``, ``file_download.py``, ``utils/_http.py``):
- ``GET /api/models/{id}[/revision/{rev}]?blobs=True``: model info with ``sha``, ``gated`` and ``siblings``
  (``rfilename``, ``size``, ``blobId``, ``lfs``);
- ``HEAD`` / ``GET /{id}/resolve/{rev}/{path}``: small files directly (``ETag`` = git blob id,
  ``X-Repo-Commit``); LFS files (``.safetensors``, ``.gguf``) by a 302 to a second server on another port
  (the CDN) with ``X-Linked-Size`` / ``X-Linked-Etag``; ``Range: bytes=a-b`` answered with 206 and
  ``Content-Range``, 416 when unsatisfiable;
- errors with the Hub's ``X-Error-Code``: a gated repo without a token 401 ``GatedRepo`` (403 with a token
  that was not granted), a private or missing repo 401 ``RepoNotFound`` (404 when a token is sent), a
  missing revision 404 ``RevisionNotFound``, a missing file 404 ``EntryNotFound``;
- a "slow" repository whose model info comes after ``delay_s`` (a time-out for the client).

Every request is logged (method, path with query, Range, whether an ``Authorization`` header came), so
tests can check that tokens never travel in URLs and that only header bytes were read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from math import prod
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


@dataclass
class FakeRepo:
    files: dict[str, Path | bytes]
    sha: str = ""
    gated: bool = False
    private: bool = False
    delay_s: float = 0.0  # the model-info answer comes this late (the first call of every look-up)
    granted: tuple[str, ...] = ()  # tokens that may read a gated or private repo
    revisions: tuple[str, ...] = ("main",)
    trickle_s: float = 0.0  # file bodies come 4 KB at a time, this long apart (a server that answers, slowly)
    ignore_range: bool = False  # file bodies always whole, with 200 (a mirror that ignores Range)

    def __post_init__(self) -> None:
        self.sha = self.sha or hashlib.sha1(repr(sorted(self.files)).encode()).hexdigest()

    def size(self, path: str) -> int:
        f = self.files[path]
        return len(f) if isinstance(f, bytes) else f.stat().st_size

    def read(self, path: str, start: int, end: int) -> bytes:
        f = self.files[path]
        if isinstance(f, bytes):
            return f[start:end + 1]
        with open(f, "rb") as fh:
            fh.seek(start)
            return fh.read(end + 1 - start)

    def blob_id(self, path: str) -> str:
        f = self.files[path]
        data = f if isinstance(f, bytes) else f"{f}:{self.size(path)}".encode()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def lfs_oid(self, path: str) -> str:  # an identifier, not the content's hash (files may be sparse)
        return hashlib.sha256(f"{path}:{self.size(path)}:{self.sha}".encode()).hexdigest()


@dataclass
class Logged:
    method: str
    path: str
    range: str | None
    auth: bool
    server: str


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    log: list[Logged] = field(default_factory=list)
    endpoint: str = ""
    cdn: str = ""
    bytes_sent: dict[str, int] = field(default_factory=dict)  # file path -> body bytes served

    def start(self) -> FakeHub:
        self._hub = _serve(self, "hub")
        self._cdn = _serve(self, "cdn")
        self.endpoint = f"http://127.0.0.1:{self._hub.server_address[1]}"
        self.cdn = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        return self

    def stop(self) -> None:
        for srv in (self._hub, self._cdn):
            srv.shutdown()
            srv.server_close()

    def urls(self) -> list[str]:
        return [entry.path for entry in self.log]


def _serve(hub: FakeHub, role: str) -> ThreadingHTTPServer:
    handler = type(f"{role}Handler", (_Handler,), {"hub": hub, "role": role})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)?)(?:/revision/(?P<rev>[^/]+))?$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    role: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # ----- plumbing -------------------------------------------------------------------------
    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, head: bool, extra: dict | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"Content-Type": "application/json", "X-Error-Code": code,
                                  "X-Error-Message": message, **(extra or {})}, head)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._safely(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._safely(head=True)

    def _safely(self, head: bool) -> None:
        try:
            self._handle(head)
        except (BrokenPipeError, ConnectionResetError):  # the client hung up (a time-out, a cut window)
            self.close_connection = True

    def _handle(self, head: bool) -> None:
        url = urlsplit(self.path)
        self.hub.log.append(Logged(self.command, self.path, self.headers.get("Range"),
                                   "Authorization" in self.headers, self.role))
        path = unquote(url.path)
        if self.role == "cdn":
            return self._cdn(path, head)
        m = _INFO.match(path)
        if m and url.path.startswith("/api/models/"):
            return self._info(m["repo"], m["rev"], url.query, head)
        m = _RESOLVE.match(path)
        if m:
            return self._resolve(m["repo"], m["rev"], m["path"], head)
        self._error(404, "EntryNotFound", "Not found", head)

    def _access(self, repo_id: str, head: bool, file_access: bool) -> FakeRepo | None:
        repo = self.hub.repos.get(repo_id)
        token = self._token()
        if repo is not None and repo.delay_s and not file_access:
            time.sleep(repo.delay_s)
        if repo is None or (repo.private and token not in repo.granted):
            # the Hub answers 401 to anonymous callers for missing and private repos alike, 404 with a token
            self._error(404 if token else 401, "RepoNotFound", "Repository not found", head)
            return None
        if file_access and repo.gated and token not in repo.granted:
            msg = (f"Access to model {repo_id} is restricted. You must have access to it and be authenticated "
                   "to access it. Please log in.") if token is None else \
                  f"Access to model {repo_id} is restricted and you are not in the authorized list."
            self._error(401 if token is None else 403, "GatedRepo", msg, head, {"X-Repo-Commit": repo.sha})
            return None
        return repo

    # ----- endpoints -------------------------------------------------------------------------
    def _info(self, repo_id: str, rev: str | None, query: str, head: bool) -> None:
        repo = self._access(repo_id, head, file_access=False)
        if repo is None:
            return
        if rev is not None and rev not in repo.revisions and rev != repo.sha:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        blobs = "blobs=True" in query or "blobs=true" in query
        siblings = []
        for p in sorted(repo.files):
            sib = {"rfilename": p}
            if blobs:
                sib.update(blobId=repo.blob_id(p), size=repo.size(p))
                if p.endswith(LFS_SUFFIXES):
                    sib["lfs"] = {"sha256": repo.lfs_oid(p), "size": repo.size(p), "pointerSize": 134}
            siblings.append(sib)
        body = {"_id": repo.sha[:24], "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0],
                "sha": repo.sha, "private": repo.private, "gated": "manual" if repo.gated else False,
                "disabled": False, "tags": [], "siblings": siblings, "lastModified": "2025-01-01T00:00:00.000Z",
                "createdAt": "2025-01-01T00:00:00.000Z", "likes": 0, "downloads": 0}
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _resolve(self, repo_id: str, rev: str, path: str, head: bool) -> None:
        repo = self._access(repo_id, head, file_access=True)
        if repo is None:
            return
        if rev not in repo.revisions and rev != repo.sha:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        if path not in repo.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist on {rev}", head,
                               {"X-Repo-Commit": repo.sha})
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if path.endswith(LFS_SUFFIXES):  # LFS: a redirect to the CDN (another origin), metadata on the 302
            oid = repo.lfs_oid(path)
            loc = f"{self.hub.cdn}/blobs/{oid}?repo={repo_id}&path={path}&sig={hashlib.md5(oid.encode()).hexdigest()}"
            return self._send(302, b"", {**common, "Location": loc, "ETag": f'"{repo.blob_id(path)}"',
                                         "X-Linked-Etag": f'"{oid}"', "X-Linked-Size": repo.size(path)}, head)
        self._body(repo, path, head, {**common, "ETag": f'"{repo.blob_id(path)}"'})

    def _cdn(self, path: str, head: bool) -> None:
        q = dict(p.split("=", 1) for p in urlsplit(self.path).query.split("&") if "=" in p)
        repo = self.hub.repos.get(unquote(q.get("repo", "")))
        file = unquote(q.get("path", ""))
        if repo is None or file not in repo.files or not path.startswith("/blobs/"):
            return self._send(403, b"AccessDenied", {}, head)
        self._body(repo, file, head, {"ETag": f'"{repo.lfs_oid(file)}"'})

    def _body(self, repo: FakeRepo, path: str, head: bool, headers: dict) -> None:
        size = repo.size(path)
        rng = None if repo.ignore_range else self.headers.get("Range")
        if rng is None:
            start, end, status = 0, size - 1, 200
        else:
            m = _RANGE.match(rng.strip())
            if not m or (m[1] == "" and m[2] == ""):
                return self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
            if m[1] == "":  # suffix range: the last n bytes
                start, end = max(0, size - int(m[2])), size - 1
            else:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            if start >= size or start > end:
                return self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
        headers = {**headers, "Content-Length": end - start + 1, "Content-Type": "application/octet-stream"}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        if head:
            return
        sent = 0
        try:
            at = start
            step = 4096 if repo.trickle_s else 1 << 20
            while at <= end:  # stream in 1 MB pieces (a client may hang up once it has what it asked for)
                if repo.trickle_s:
                    time.sleep(repo.trickle_s)
                piece = repo.read(path, at, min(end, at + step - 1))
                self.wfile.write(piece)
                sent += len(piece)
                at += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.hub.bytes_sent[path] = self.hub.bytes_sent.get(path, 0) + sent


# ----- files the tests serve ------------------------------------------------------------------------
def sparse_safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...]]], metadata: dict | None = None,
                       bits: dict[str, int] | None = None) -> Path:
    """A ``.safetensors`` file of the given (dtype, shape) tensors whose data is a hole: the header is
    written, the file is extended to its full size (sparse on disk, zeros when read). safetensors itself
    reads it (the tests open it with ``safetensors.safe_open`` to check it is valid)."""
    widths = {"BF16": 16, "F16": 16, "F32": 32, "F8_E4M3": 8, "U8": 8, "I8": 8, "I32": 32, "I64": 64, "F4": 4,
              **(bits or {})}
    header, at = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = prod(shape) * widths[dtype] // 8
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + n]}
        at += n
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + at)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_env(hub: FakeHub, home: Path, **extra: str) -> dict[str, str]:
    """Environment for a process that should talk to ``hub`` with its own Hugging Face home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env


def serve_for_this_process(repos: dict[str, FakeRepo], home: Path, monkeypatch):
    """Generator for a pytest fixture: a ``FakeHub`` of ``repos`` that this process's ``hub`` reaches through
    ``HF_ENDPOINT``, with a fresh Hugging Face home ``home``, no token, offline or cache variables, and ``hub``'s
    look-up cache cleared before and after. Yields the running hub; stops it afterwards."""
    from hub.client import clear_cache

    srv = FakeHub(repos).start()
    for k in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "CALC_HUB_TIMEOUT_S"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", srv.endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    clear_cache()
    yield srv
    srv.stop()
    clear_cache()
