"""A Hub id turned into what the calculators read: the architecture (``ModelSpec``, when we model it) and
the checkpoint as published (``calc.checkpoint.Checkpoint``, from the safetensors headers)."""

from __future__ import annotations

from dataclasses import dataclass

from calc import checkpoint as ck
from calc.gguf_file import spec_from_gguf
from calc.models import ModelSpec
from hub.client import CACHE, HubError, HubSnapshot, gguf_header, identity, load, settings
from hub.ids import RepoRef, parse_repo_ref


@dataclass(frozen=True)
class HubModel:
    snapshot: HubSnapshot
    spec: ModelSpec | None
    note: str | None  # why there is no spec, or what it covers
    checkpoint: ck.Checkpoint | None

    @property
    def name(self) -> str:
        return self.snapshot.label


def resolve(ref: RepoRef | str, token: str | None = None, revision: str | None = None) -> HubModel:
    """Fetch (cached) and read ``ref``: config -> ``ModelSpec``; safetensors headers -> ``Checkpoint``;
    a GGUF-only repository's architecture from the smallest GGUF's metadata. Raises ``HubError``.
    The result is cached like the look-up (a page rerun costs a dictionary hit, not a re-read of the headers)."""
    if isinstance(ref, str):
        ref = parse_repo_ref(ref, revision)
    s = settings()
    key = ("resolve", ref.repo_id, ref.revision, identity(token), s.endpoint, s.offline, s.cache_dir)
    return CACHE.get_or_compute(key, lambda: _resolve(ref, token))


def _resolve(ref: RepoRef, token: str | None) -> HubModel:
    snap = load(ref, token)
    name = snap.label
    source = (f"Hugging Face {snap.label}" + (f" (commit {snap.sha[:12]})" if snap.sha else "")
              + (" from the local cache" if snap.source != "hub" else ""))
    spec = note = None
    if snap.config is not None:
        spec, note = ck.model_from_config(snap.config, name, source)
    elif snap.gguf:
        entry = min(snap.gguf, key=lambda e: e.size_bytes if e.size_bytes is not None else 1 << 62)
        try:
            spec = spec_from_gguf(gguf_header(snap, entry, token), name=name)
            note = f"architecture read from the GGUF metadata of {entry.name}"
        except HubError:  # the Hub failed (slow, gone, refused): say so, not "not modelled"
            raise
        except ValueError as exc:
            note = f"{ck.NOT_MODELLED} ({str(exc)[:200]})"
    else:
        note = "the repository has neither a config.json nor a GGUF file"
    try:
        checkpoint = ck.summarize(snap.headers, snap.config) if snap.headers else None
    except ValueError as exc:
        raise HubError(f"{snap.label}: {exc}") from None
    if spec is None and checkpoint is None and not snap.gguf:
        raise HubError(f"{snap.label}: nothing to read: no safetensors or GGUF file, and {note}")
    return HubModel(snap, spec, note, checkpoint)
