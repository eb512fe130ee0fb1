"""Hugging Face model ids as users type them: ``org/name``, optionally ``@revision``.

The rules are the Hub's (huggingface_hub ``validate_repo_id``: letters, digits, ``-``, ``_``, ``.``,
at most 96 characters a part, no ``--`` or ``..``, not ending in ``.git``), checked here before anything
reaches the network so a pasted path trick (``../``, ``%2F``, spaces, a query string) is refused with one
sentence. A pasted model page address (``https://huggingface.co/org/name``) is accepted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from huggingface_hub.utils import HFValidationError, validate_repo_id

_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,94}[A-Za-z0-9])?"
_REPO = re.compile(rf"(?:{_PART}/)?{_PART}")
#: Branches, tags (git ref names: no "..", no leading "/" or "-", no spaces) and commit hashes.
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}")
_PAGE = re.compile(r"(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/")
MAX_ID_CHARS = 240
HELP = "a Hugging Face model id is org/name (letters, digits, '-', '_', '.'), optionally @revision"


@dataclass(frozen=True)
class RepoRef:
    repo_id: str
    revision: str | None = None  # None: the default branch

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_repo_ref(text: str, revision: str | None = None) -> RepoRef:
    """``"meta-llama/Llama-3.1-8B@main"`` -> ``RepoRef("meta-llama/Llama-3.1-8B", "main")``.

    ``revision`` (a separate ``--revision``) may not be combined with an ``@revision`` in ``text``.

    >>> parse_repo_ref("Qwen/Qwen3-8B@refs/pr/3")
    RepoRef(repo_id='Qwen/Qwen3-8B', revision='refs/pr/3')
    >>> parse_repo_ref("https://huggingface.co/openai/gpt-oss-20b")
    RepoRef(repo_id='openai/gpt-oss-20b', revision=None)
    """
    if not isinstance(text, str):
        raise ValueError(f"model id must be text, got {type(text).__name__}")
    raw = text.strip()
    shown = "".join(ch for ch in raw[:80] if ch.isprintable())
    if not raw:
        raise ValueError(f"model id is empty: {HELP}")
    if len(raw) > MAX_ID_CHARS:
        raise ValueError(f"model id is {len(raw)} characters long; {HELP} (at most {MAX_ID_CHARS} characters)")
    raw = _PAGE.sub("", raw, count=1) if _PAGE.match(raw) else raw
    if "@" in raw:
        raw, _, rev = raw.partition("@")
        if revision:
            raise ValueError(f"model id {shown!r} has an @revision and --revision was also given; use one")
        revision = rev
    if not _REPO.fullmatch(raw) or "--" in raw or ".." in raw or raw.endswith(".git"):
        raise ValueError(f"model id {shown!r} is not valid: {HELP}")
    try:
        validate_repo_id(raw)
    except HFValidationError:
        raise ValueError(f"model id {shown!r} is not valid: {HELP}") from None
    if revision is not None:
        if (not _REVISION.fullmatch(revision) or ".." in revision or "//" in revision
                or revision.endswith(("/", ".lock", "."))):
            rev_shown = "".join(ch for ch in revision[:60] if ch.isprintable())
            raise ValueError(f"revision {rev_shown!r} is not valid: a branch, tag or commit hash "
                             "(letters, digits, '-', '_', '.', '/'; at most 128 characters)")
    return RepoRef(raw, revision or None)
