"""hub/: the only code that talks to the network (the Hugging Face Hub through ``huggingface_hub``).

It returns dicts, header bytes and the ``calc`` objects read from them; it caches with a time-to-live and
bounds every read. ``calc`` never imports it (the CLI's ``--hf`` flags import it lazily).
"""

from hub.client import GGUFEntry, HubError, HubSnapshot, gguf_header, load, settings
from hub.ids import RepoRef, parse_repo_ref
from hub.model import HubModel, resolve

__all__ = ["GGUFEntry", "HubError", "HubModel", "HubSnapshot", "RepoRef", "gguf_header", "load", "parse_repo_ref",
           "resolve", "settings"]
