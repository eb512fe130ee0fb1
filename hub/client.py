"""The Hugging Face Hub through ``huggingface_hub``: a repository's file listing, its ``config.json``, its
safetensors headers and GGUF headers, never the weights.

Calls (huggingface_hub 2.x, each with a time-out):
- ``HfApi.model_info(files_metadata=True)``: ``GET {endpoint}/api/models/{id}[/revision/{rev}]?blobs=True``,
  the file listing with sizes, the commit and the gated flag;
- ``hf_hub_download``: ``HEAD`` then ``GET {endpoint}/{id}/resolve/{rev}/config.json`` (and the safetensors
  index) into the Hugging Face cache;
- safetensors headers: the requests ``HfApi.parse_safetensors_file_metadata`` makes (a ``Range: bytes=0-100000``
  GET per file, a second one when the header is longer), sent through ``get_session()`` with
  ``build_hf_headers`` but streamed and cut at the bytes asked for, so a server or proxy that ignores ``Range``
  (huggingface_hub then reads the whole 16 GB file into memory: measured on the fake Hub) or trickles the body
  costs at most the header bound and the look-up's deadline; we read the index ourselves first to bound and
  check the shard names, and fetch the shards' headers in parallel;
- GGUF headers: ranged GETs the same way (the token in the ``Authorization`` header, never in a URL), feeding
  the same bounded reader as uploads (``calc.gguf_file.read_gguf``).

``HF_HUB_OFFLINE=1`` (or an unreachable Hub) reads the same things from the local Hugging Face cache
(``snapshot_download(local_files_only=True)`` finds the snapshot; headers are read from the files there).
Settings are read at each call: ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``,
``HF_TOKEN`` (or the ``hf auth login`` token), ``CALC_HUB_TIMEOUT_S`` (seconds per request, default 10) and
``CALC_HUB_DEADLINE_S`` (seconds for all the header reads of one look-up, default 60: a per-request time-out alone
lets a server that sends a few bytes now and then hold a look-up for hours).
Results are cached for ``CALC_HUB_TTL_S`` (default 3600 s) per id, revision and token identity, shared by
every session of the server (``hub.cache.TTLCache``: no lock is held during network I/O).
Every failure becomes one ``HubError`` sentence (a ``ValueError``, so the CLI exits 2 and pages show
``st.error``); tokens are never part of a message, a cache key or a URL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import build_hf_headers, disable_progress_bars, get_session, get_token

from calc import checkpoint as ck
from calc.cli.common import MAX_CONFIG_BYTES, parse_config_bytes
from calc.files import read_regular
from calc.gguf_file import MAX_HEADER_BYTES as GGUF_MAX_HEADER_BYTES
from calc.gguf_file import GGUFHeader, read_gguf
from hub.cache import TTLCache
from hub.ids import RepoRef

INDEX = "model.safetensors.index.json"
MAX_LISTED_FILES = 100_000
MAX_GGUF_MODELS = 64
MAX_PARALLEL = 8
_SHA = re.compile(r"[0-9a-f]{40}")
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.I)

CACHE = TTLCache(ttl_s=float(os.environ.get("CALC_HUB_TTL_S") or 3600), max_entries=128)


class HubError(ValueError):
    """One sentence for a user: what went wrong with the Hub and what to do."""


@dataclass(frozen=True)
class Settings:
    endpoint: str
    cache_dir: str | None
    offline: bool
    timeout_s: float
    deadline_s: float = 60.0


def settings() -> Settings:
    """The environment as it is now (huggingface_hub reads some of it only at import)."""
    endpoint = (os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")
    cache = os.environ.get("HF_HUB_CACHE") or (os.path.join(os.environ["HF_HOME"], "hub")
                                                if os.environ.get("HF_HOME") else None)
    offline = (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in ("1", "on", "yes", "true")
    timeout = _seconds("CALC_HUB_TIMEOUT_S", 10.0, 0.1, 120.0)
    deadline = _seconds("CALC_HUB_DEADLINE_S", 60.0, 0.5, 600.0)
    return Settings(endpoint, cache, offline or hf_constants.HF_HUB_OFFLINE, timeout, deadline)


def _seconds(name: str, default: float, lo: float, hi: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        value = default
    return min(max(value, lo), hi) if value == value else default


@dataclass(frozen=True)
class GGUFEntry:
    """One GGUF model of a repository: a file, or the parts of a split (``-00001-of-00003``) as one."""

    name: str
    parts: tuple[str, ...]
    size_bytes: int | None  # the Hub's listed sizes, summed
    complete: bool = True  # every part of a split is present


@dataclass(frozen=True)
class HubSnapshot:
    """What the Hub says about one revision of a repository (headers only, never weights)."""

    repo_id: str
    revision: str | None
    sha: str | None
    files: dict[str, int | None] = field(repr=False)
    config: dict | None = field(repr=False)
    headers: tuple[ck.HeaderFile, ...] = field(repr=False)
    gguf: tuple[GGUFEntry, ...] = ()
    gated: str | bool | None = None
    source: str = "hub"  # "hub" or "local cache"
    local_dir: str | None = field(default=None, repr=False)
    url: str = ""

    @property
    def label(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def identity(token: str | None) -> str:
    """Who is asking, for cache keys: a short hash of the token in use (never the token)."""
    tok = token or get_token()
    return hashlib.sha256(tok.encode()).hexdigest()[:16] if tok else "anonymous"


def load(ref: RepoRef, token: str | None = None) -> HubSnapshot:
    """Listing, config and safetensors headers of ``ref`` (cached). Raises ``HubError``."""
    s = settings()
    key = ("load", ref.repo_id, ref.revision, identity(token), s.endpoint, s.offline, s.cache_dir)
    return CACHE.get_or_compute(key, lambda: _guarded(ref, s, lambda: _load(ref, token or None, s)))


def gguf_header(snap: HubSnapshot, entry: GGUFEntry, token: str | None = None) -> GGUFHeader:
    """The header of a GGUF model of ``snap`` (the parts of a split merged), by bounded range reads."""
    s = settings()
    ref = RepoRef(snap.repo_id, snap.revision)
    key = ("gguf", snap.repo_id, snap.sha or snap.revision, entry.parts, identity(token), s.endpoint,
           snap.local_dir)
    return CACHE.get_or_compute(key, lambda: _guarded(ref, s, lambda: _gguf_header(snap, entry, token or None, s)))


def clear_cache() -> None:
    CACHE.clear()


def cache_calls() -> int:
    """How many look-ups reached the network or the disk (cache misses), for tests and the bench."""
    return CACHE.calls


# ----- errors ------------------------------------------------------------------------------------
class _HttpStatus(Exception):
    def __init__(self, status: int, code: str | None):
        super().__init__(status)
        self.status, self.code = status, code


def _guarded(ref: RepoRef, s: Settings, fn):
    try:
        return fn()
    except HubError:
        raise
    except Exception as exc:  # an untrusted service: anything it provokes becomes one sentence
        raise _explain(exc, ref, s) from None


def _explain(exc: Exception, ref: RepoRef, s: Settings) -> HubError:
    repo, page = ref.repo_id, f"{s.endpoint}/{ref.repo_id}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    code = None
    if isinstance(exc, _HttpStatus):
        status, code = exc.status, exc.code
    if isinstance(exc, hf_errors.GatedRepoError) or code == "GatedRepo":
        return HubError(f"{repo} is gated: accept its licence at {page} while signed in, then give a token "
                        "(HF_TOKEN, `hf auth login`, or the token field)")
    if isinstance(exc, hf_errors.DisabledRepoError):
        return HubError(f"{repo} has been disabled on the Hub")
    if isinstance(exc, hf_errors.RevisionNotFoundError) or code == "RevisionNotFound":
        return HubError(f"{repo} has no revision {ref.revision or 'main'!r}")
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError) or code == "EntryNotFound":
        return HubError(f"{repo}: a file it lists was not found on the Hub (HTTP 404); try again or pin a revision")
    if isinstance(exc, hf_errors.RepositoryNotFoundError) or code == "RepoNotFound" or status in (401, 404):
        return HubError(f"{repo} was not found on the Hub ({s.endpoint}): check the id; if it is private, give "
                        "a token that can read it")
    if isinstance(exc, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled)):
        where = s.cache_dir or hf_constants.HF_HUB_CACHE
        return HubError(f"{repo} is not in the local Hugging Face cache ({where}) and the Hub is off "
                        f"(HF_HUB_OFFLINE=1 or no network): fetch it once online (`hf download {repo}`)")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"the Hub ({s.endpoint}) did not answer within {s.timeout_s:g} s for {repo}; "
                        "try again (CALC_HUB_TIMEOUT_S sets the limit)")
    if isinstance(exc, (httpx2.NetworkError, httpx2.ProxyError, httpx2.UnsupportedProtocol)):
        return HubError(f"cannot reach the Hub at {s.endpoint} (no network?); HF_HUB_OFFLINE=1 reads "
                        "the local Hugging Face cache instead")
    if status == 403:
        return HubError(f"this token may not read {repo}: if it is gated, accept the licence at {page}; a "
                        "fine-grained token needs read access to public gated repos")
    if status == 429:
        return HubError(f"the Hub rate-limited the look-up of {repo} (HTTP 429); try again in a minute")
    if status is not None:
        return HubError(f"the Hub answered HTTP {status} for {repo}; try again later")
    if isinstance(exc, hf_errors.SafetensorsParsingError):
        reason = str(exc).split("): ", 1)[-1].strip()[:200]  # "Failed to parse ... ('f' (repo ...)): <reason>"
        return HubError(f"{repo}: a safetensors header could not be read: {reason}")
    if isinstance(exc, ValueError):
        return HubError(f"{repo}: {exc}")
    if isinstance(exc, OSError):
        return HubError(f"{repo}: {exc.strerror or type(exc).__name__} while reading the Hugging Face cache")
    return HubError(f"{repo}: the Hub's answer could not be read ({type(exc).__name__})")


# ----- one repository ----------------------------------------------------------------------------
def _load(ref: RepoRef, token: str | None, s: Settings) -> HubSnapshot:
    disable_progress_bars()  # no tqdm bars on a server's stderr or the CLI's
    if s.offline:
        return _load_local(ref, s)
    try:
        return _load_remote(ref, token, s)
    except (httpx2.ConnectError, hf_errors.OfflineModeIsEnabled) as exc:
        try:
            return _load_local(ref, s)
        except hf_errors.LocalEntryNotFoundError:
            raise exc from None


def _size(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _check_size(files: dict, name: str, limit: int) -> None:
    size = files.get(name)
    if size is not None and size > limit:
        raise HubError(f"{name} is {size:,} bytes; at most {limit:,} are read")


def _read_bounded(path: str | Path, limit: int, name: str) -> bytes:
    return read_regular(str(path), limit, name)


def _safetensors_names(files: dict[str, int | None], read_index) -> list[str]:
    """The index's shards, else ``model.safetensors``, else the top-level ``*.safetensors`` files."""
    if INDEX in files:
        _check_size(files, INDEX, ck.MAX_INDEX_BYTES)
        names = ck.shard_names(ck.read_index_bytes(read_index(), INDEX), INDEX)
        missing = [n for n in names if n not in files]
        if missing:
            raise HubError(f"{INDEX} names {len(missing)} shard(s) the repository does not hold, e.g. {missing[0]}")
        return names
    if "model.safetensors" in files:
        return ["model.safetensors"]
    top = sorted(f for f in files if f.endswith(".safetensors") and "/" not in f)
    if len(top) > ck.MAX_FILES:
        raise HubError(f"{len(top):,} safetensors files; at most {ck.MAX_FILES:,} are read")
    return top


def _gguf_entries(files: dict[str, int | None]) -> tuple[GGUFEntry, ...]:
    groups: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for path in sorted(files):
        if not path.lower().endswith(".gguf"):
            continue
        m = _SPLIT.match(path)
        key = f"{m['stem']}.gguf" if m else path
        groups.setdefault(key, []).append(path)
        if m:
            counts[key] = int(m["n"])
    if len(groups) > MAX_GGUF_MODELS:
        groups = dict(list(groups.items())[:MAX_GGUF_MODELS])
    out = []
    for key, parts in groups.items():
        sizes = [files[p] for p in parts]
        out.append(GGUFEntry(key, tuple(parts), None if None in sizes else sum(sizes),
                             len(parts) == counts.get(key, 1)))
    return tuple(out)


def _load_remote(ref: RepoRef, token: str | None, s: Settings) -> HubSnapshot:
    api = HfApi(endpoint=s.endpoint)
    info = api.model_info(ref.repo_id, revision=ref.revision, files_metadata=True, token=token, timeout=s.timeout_s)
    siblings = info.siblings or []
    if len(siblings) > MAX_LISTED_FILES:
        raise HubError(f"the repository lists {len(siblings):,} files; at most {MAX_LISTED_FILES:,} are read")
    files: dict[str, int | None] = {}
    for sib in siblings:
        name = sib.rfilename
        if not isinstance(name, str) or not name or len(name) > 1000 or name.startswith("/") or ".." in name.split("/"):
            raise HubError(f"the Hub listed a file name that is not a plain path: {str(name)[:80]!r}")
        files[name] = _size(sib.lfs.size if sib.lfs is not None else sib.size)
    sha = info.sha if isinstance(info.sha, str) and _SHA.fullmatch(info.sha) else None

    def download(name: str) -> str:
        return hf_hub_download(ref.repo_id, name, revision=ref.revision, token=token, cache_dir=s.cache_dir,
                               endpoint=s.endpoint, etag_timeout=s.timeout_s)

    config = None
    if "config.json" in files:
        _check_size(files, "config.json", MAX_CONFIG_BYTES)
        config = parse_config_bytes(_read_bounded(download("config.json"), MAX_CONFIG_BYTES, "config.json"))
    names = _safetensors_names(files, lambda: _read_bounded(download(INDEX), ck.MAX_INDEX_BYTES, INDEX))

    deadline = time.monotonic() + s.deadline_s
    auth = build_hf_headers(token=token)
    at = sha or ref.revision

    def header(name: str) -> ck.HeaderFile:
        url = hf_hub_url(ref.repo_id, name, revision=at, endpoint=s.endpoint)
        return _remote_safetensors(url, auth, name, files.get(name), s, deadline)

    headers = _parallel(header, names)
    return HubSnapshot(ref.repo_id, ref.revision, sha, files, config, tuple(headers), _gguf_entries(files),
                       info.gated, "hub", None, f"{s.endpoint}/{ref.repo_id}")


def _parallel(fn, items: list) -> list:
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
        return list(pool.map(fn, items))


def _load_local(ref: RepoRef, s: Settings) -> HubSnapshot:
    folder = Path(snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=s.cache_dir, local_files_only=True))
    files: dict[str, int | None] = {}
    for path in folder.rglob("*"):
        if len(files) >= MAX_LISTED_FILES:
            raise HubError(f"the cached snapshot holds more than {MAX_LISTED_FILES:,} files; refused")
        if path.is_file():
            files[path.relative_to(folder).as_posix()] = path.stat().st_size
    config = None
    if "config.json" in files:
        config = parse_config_bytes(_read_bounded(folder / "config.json", MAX_CONFIG_BYTES, "config.json"))
    names = _safetensors_names(files, lambda: _read_bounded(folder / INDEX, ck.MAX_INDEX_BYTES, INDEX))
    headers = [ck.read_safetensors_header(folder / n, file=n) for n in names]
    sha = folder.name if _SHA.fullmatch(folder.name) else None
    return HubSnapshot(ref.repo_id, ref.revision, sha, files, config, tuple(headers), _gguf_entries(files),
                       None, "local cache", str(folder), f"{s.endpoint}/{ref.repo_id}")


# ----- GGUF headers by range reads ---------------------------------------------------------------
def _gguf_header(snap: HubSnapshot, entry: GGUFEntry, token: str | None, s: Settings) -> GGUFHeader:
    if not entry.complete:
        raise HubError(f"{entry.name}: some parts of this split GGUF are missing from the repository")
    if snap.local_dir is not None:
        parts = [read_gguf(Path(snap.local_dir) / p) for p in entry.parts]
    else:
        deadline = time.monotonic() + s.deadline_s
        parts = _parallel(lambda p: _remote_gguf(snap, p, token, s, deadline), list(entry.parts))
    first = parts[0]
    if len(parts) == 1:
        return first
    return dataclasses.replace(first, tensors=tuple(t for h in parts for t in h.tensors),
                               header_bytes=sum(h.header_bytes for h in parts),
                               file_bytes=None if None in [h.file_bytes for h in parts]
                               else sum(h.file_bytes for h in parts))


def _remote_gguf(snap: HubSnapshot, path: str, token: str | None, s: Settings, deadline: float) -> GGUFHeader:
    url = hf_hub_url(snap.repo_id, path, revision=snap.sha or snap.revision, endpoint=s.endpoint)
    size = snap.files.get(path)
    try:
        return read_gguf(_RangeFile(url, build_hf_headers(token=token), size, s, deadline), file_bytes=size)
    except ValueError as exc:
        raise HubError(f"{path}: {exc}") from None


#: huggingface_hub's first window for a safetensors header (``parse_safetensors_file_metadata``: 97% of the
#: top 1,000 models' headers fit in it).
FIRST_SAFETENSORS_WINDOW = 100_001


def _remote_safetensors(url: str, headers: dict, name: str, size: int | None, s: Settings,
                        deadline: float) -> ck.HeaderFile:
    """A safetensors header by at most two bounded range reads (huggingface_hub's pattern)."""
    first = _ranged_get(url, headers, 0, FIRST_SAFETENSORS_WINDOW if size is None else
                        min(FIRST_SAFETENSORS_WINDOW, size), s, deadline, name)
    n = ck.header_length(first[:8], name)
    data = first
    if 8 + n > len(first) and len(first) == min(FIRST_SAFETENSORS_WINDOW, size or FIRST_SAFETENSORS_WINDOW):
        if size is not None and 8 + n > size:
            raise ValueError(f"{name}: truncated safetensors header: it needs {8 + n:,} bytes, the file has {size:,}")
        data = first + _ranged_get(url, headers, len(first), 8 + n - len(first), s, deadline, name)
    return ck.parse_safetensors_header(data, name, file_bytes=size)


def _ranged_get(url: str, headers: dict, start: int, length: int, s: Settings, deadline: float, name: str) -> bytes:
    """Bytes ``[start, start + length)`` of ``url``, streamed and cut at ``length`` whatever the server sends
    (a 200 with the whole file is cut too; at ``start > 0`` it is refused), within ``deadline``."""
    if time.monotonic() > deadline:
        raise _too_slow(name, s)
    rng = {**headers, "Range": f"bytes={start}-{start + length - 1}"}
    data = bytearray()
    with get_session().stream("GET", url, headers=rng, timeout=s.timeout_s, follow_redirects=True) as r:
        if r.status_code >= 400:
            raise _HttpStatus(r.status_code, r.headers.get("X-Error-Code"))
        if r.status_code != 206 and start > 0:
            raise HubError("the server ignored the byte-range request; headers cannot be read without "
                           "downloading the whole file")
        for chunk in r.iter_bytes():
            data += chunk
            if len(data) >= length:
                break
            if time.monotonic() > deadline:
                raise _too_slow(name, s)
    return bytes(data[:length])


def _too_slow(name: str, s: Settings) -> HubError:
    return HubError(f"the Hub ({s.endpoint}) sent the header of {name} too slowly: stopped after {s.deadline_s:g} s "
                    "(CALC_HUB_DEADLINE_S sets the limit); try again")


class _RangeFile:
    """A read-only file over HTTP range requests: windows of 1 MB doubling to 16 MB, at most
    ``GGUF_MAX_HEADER_BYTES`` plus one window in all; a response body is cut at the window asked for."""

    FIRST, LARGEST = 1 << 20, 16 << 20

    def __init__(self, url: str, headers: dict, size: int | None, s: Settings, deadline: float):
        self.url, self.headers, self.size, self.settings, self.deadline = url, headers, size, s, deadline
        self.name = url.rsplit("/", 1)[-1]
        self.buf, self.at, self.end, self.window = b"", 0, 0, self.FIRST

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self.at >= len(self.buf) and not self._fetch():
                break
            take = self.buf[self.at:] if n < 0 else self.buf[self.at:self.at + n - len(out)]
            out += take
            self.at += len(take)
        return bytes(out)

    def _fetch(self) -> bool:
        start = self.end
        if (self.size is not None and start >= self.size) or start > GGUF_MAX_HEADER_BYTES:
            return False
        length = self.window if self.size is None else min(self.window, self.size - start)
        self.window = min(self.window * 2, self.LARGEST)
        data = _ranged_get(self.url, self.headers, start, length, self.settings, self.deadline, self.name)
        self.buf, self.at = data, 0
        self.end = start + len(self.buf)
        return bool(self.buf)
