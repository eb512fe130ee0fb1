"""Streamlit's ``filtered_state`` answered one key at a time (issue 18).

Streamlit 1.67 builds ``SessionState.filtered_state`` (every user-visible key with its presented value,
``streamlit/runtime/state/session_state.py`` lines 708-732) inside every ``number_input``, ``selectbox``, ``radio``,
``slider``, ``text_input``, ``text_area``, ``date_input`` and ``time_input`` call, only to ask
``key in d and d[key] is None`` (``elements/widgets/number_input.py`` lines 735-737, ``selectbox.py`` 804-806,
``radio.py`` 554-556, ...). A page with n inputs paid n x (keys in session state) lookups, each through its
presenter: 21 % of the Training memory page's rerun (py-spy).

``install()`` (called by app.py) makes ``SafeSessionState.filtered_state`` (``safe_session_state.py`` 114-118)
return a read-only ``Mapping`` that answers ``in`` / ``[]`` / ``get`` for one key as the dict would, from the same
sources and the same ``SessionState.__getitem__`` call, and builds the whole dict (Streamlit's own
``SessionState.filtered_state``, never patched) for iteration, ``len``, ``str``, ``==`` and whenever the session state is in a shape the one-key
answer does not cover (a user key that more than one widget id maps back to, a widget id or browser-sent id that
is not an element id, ...), so those answers are Streamlit's own. ``st.session_state.to_dict()`` still returns a
real dict. It applies only when the installed Streamlit's code for everything mirrored here is the code it was
written against (a digest of those functions' source); with any other Streamlit, or ``CALC_ST_SPEED=0`` in the
environment (for A/B benchmarks, ``bench/bench_pages.py``), nothing is patched.

One difference is deliberate: the dict read every keyed widget's value, so a value the browser sent was decoded
at the first such widget of the run; the view decodes a widget's value when it is read (its own ``st.session_state``
check in ``ui.state``, or its registration), as Streamlit does on a page whose first inputs are checkboxes.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterator, Mapping
from itertools import repeat
from operator import countOf
from typing import Any

try:  # names only; whether they mean what this module assumes is install()'s check
    from streamlit.runtime.state.common import GENERATED_ELEMENT_ID_PREFIX as _ELEMENT
    from streamlit.runtime.state.common import is_keyed_element_id as _is_keyed
    from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX as _INTERNAL
    from streamlit.runtime.state.session_state import SessionState as _SessionState
except ImportError:  # another Streamlit: install() patches nothing
    _ELEMENT = _INTERNAL = _SessionState = _is_keyed = None

_ABSENT = object()  # the key is not in the dict
_UNSURE = object()  # the one-key answer does not cover this state: build the dict

#: sha256 of the source of every Streamlit function this module mirrors or relies on (``_mirrored_source``), as in
#: Streamlit 1.67.0. Another Streamlit's code differs and the patch stays off (re-read those functions to update it).
MIRRORED_SHA256 = "660513425ffa84d0c4c680e6fb4df71cf749706fcdf7a9f5f226f3c09864dc02"

_ORIGINAL: property | None = None  # SafeSessionState.filtered_state as Streamlit defines it
_ORIGINAL_TO_DICT = None  # SessionStateProxy.to_dict as Streamlit defines it
_installed: bool | None = None


def _mirrored_source() -> str:
    """The source text of what the one-key answer mirrors: how the dict is built (``filtered_state``, ``_keys``,
    ``__getitem__``, ``_get_widget_id``, the key/id mapper, the id tests) and where it is handed out
    (``SafeSessionState.filtered_state``, ``SessionStateProxy.to_dict``). Raises if any of them is missing."""
    from streamlit.runtime.state import common, safe_session_state, session_state, session_state_proxy

    ss = session_state.SessionState
    parts = [ss.filtered_state.fget, ss._keys, ss.__getitem__, ss._getitem, ss._get_widget_id,
             session_state.KeyIdMapper, session_state._is_internal_key, common.is_element_id,
             common.is_keyed_element_id, safe_session_state.SafeSessionState.filtered_state.fget,
             safe_session_state.SafeSessionState.__init__, session_state_proxy.SessionStateProxy.to_dict]
    text = "\n".join(inspect.getsource(p) for p in parts)
    return text + f"\n{common.GENERATED_ELEMENT_ID_PREFIX!r} {session_state.STREAMLIT_INTERNAL_KEY_PREFIX!r}"


def _internals_match() -> bool:
    try:
        digest = hashlib.sha256(_mirrored_source().encode()).hexdigest()
        from streamlit.runtime.state.session_state import SessionState, WStates
    except Exception:  # noqa: BLE001 - any Streamlit without these internals is simply left alone
        return False
    fields = getattr(SessionState, "__dataclass_fields__", {})
    return (digest == MIRRORED_SHA256 and "states" in getattr(WStates, "__dataclass_fields__", {})
            and all(f in fields for f in ("_old_state", "_new_session_state", "_new_widget_state", "_key_id_mapper")))


def one_key(state, key: Any) -> Any:
    """What ``state.filtered_state`` (a ``SessionState``) holds under ``key``: the value, ``_ABSENT``, or ``_UNSURE``
    where the state has a shape this does not decide (then only the dict itself answers).

    The dict (session_state.py 708-732) loops over ``_keys()`` (735-746: every key of ``_old_state`` and
    ``_new_session_state`` turned into its widget id when it has one, plus the ids of ``_new_widget_state``): a
    plain key (not an element id, not internal) goes in under itself; a keyed element id goes in under the user key
    ``id_key_mapping`` gives it, unless that lookup or reading the value raises ``KeyError``; both read ``self[k]``.
    """
    if type(key) is not str:
        return _UNSURE
    ELEMENT, INTERNAL = _ELEMENT, _INTERNAL  # noqa: N806
    key_id = state._key_id_mapper._key_id_mapping
    id_key = state._key_id_mapper._id_key_mapping
    widgets = state._new_widget_state.states
    old, new = state._old_state, state._new_session_state
    # Every widget id the loop can meet must be an element id: a plain key answered from widget state (an id a
    # hand-made client sent) or remapped through id_key_mapping can raise KeyError for the whole dict.
    if not (all(map(str.startswith, widgets, repeat(ELEMENT))) and all(map(str.startswith, id_key, repeat(ELEMENT)))
            and all(map(str.startswith, key_id.values(), repeat(ELEMENT)))):
        return _UNSURE
    owners = countOf(id_key.values(), key)  # widget ids the loop would file under `key`
    if key.startswith(ELEMENT) or key.startswith(INTERNAL):  # never filed under itself
        return _ABSENT if owners == 0 else _UNSURE
    wid = key_id.get(key)
    if wid is None:  # a plain key: in the dict iff the loop meets it, i.e. it is in old or new state
        if owners:
            return _UNSURE
        return state[key] if key in old or key in new else _ABSENT
    # A widget's user key: `wid` is the only id the loop can file under `key` if id_key_mapping files it there and no
    # other id, and it is no user key itself. The loop meets it if a value is kept under it or `key` (in widget, old
    # or new state; also via another key mapped to it, but then reading it finds nothing, as it does here).
    if owners != 1 or id_key.get(wid) != key or wid in key_id:
        return _UNSURE
    if not _is_keyed(wid):  # an element id is never internal: the prefixes differ
        return _ABSENT
    try:
        return state[wid]
    except KeyError:  # as the loop: no value, or one kept for a widget whose metadata is gone
        return _ABSENT


class FilteredView(Mapping):
    """``filtered_state`` of one ``SafeSessionState`` as a read-only mapping (see the module docstring).

    Like the dict, each answer is kept: a key asked twice (``in`` then ``[]``) reads the state once, and the whole
    dict, once built, answers everything after."""

    __slots__ = ("_safe", "_seen", "_full")

    def __init__(self, safe) -> None:
        self._safe = safe
        self._seen: dict[Any, Any] = {}
        self._full: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        """Streamlit's own dict (built once per view, under the session's lock, as the property did)."""
        if self._full is None:
            with self._safe._lock:
                self._full = _SessionState.filtered_state.fget(self._safe._state)
        return self._full

    def _answer(self, key: Any) -> Any:
        if self._full is None and type(key) is str:
            found = self._seen.get(key, _UNSURE)
            if found is not _UNSURE:
                return found
            with self._safe._lock:
                found = one_key(self._safe._state, key)
            if found is not _UNSURE:
                self._seen[key] = found
                return found
        return self.to_dict().get(key, _ABSENT)  # an unhashable key raises TypeError, as with the dict

    def __contains__(self, key: object) -> bool:
        return self._answer(key) is not _ABSENT

    def __getitem__(self, key: Any) -> Any:
        found = self._answer(key)
        if found is _ABSENT:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return self.to_dict() == (other.to_dict() if isinstance(other, FilteredView) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.to_dict())


def _filtered_state(safe) -> FilteredView:
    return FilteredView(safe)


def _to_dict(self) -> dict[str, Any]:
    """``st.session_state.to_dict()``: a real dict, as before."""
    from streamlit.runtime.state.session_state_proxy import get_session_state

    found = get_session_state().filtered_state
    return dict(found.to_dict()) if isinstance(found, FilteredView) else found


def install() -> bool:
    """Patch ``SafeSessionState.filtered_state`` and ``SessionStateProxy.to_dict`` once per process if the installed
    Streamlit is the one mirrored here and ``CALC_ST_SPEED`` is not ``0``; True if the patch is in place."""
    global _installed, _ORIGINAL, _ORIGINAL_TO_DICT  # noqa: PLW0603
    if _installed is None:
        _installed = os.environ.get("CALC_ST_SPEED", "1") != "0" and _internals_match()
        if _installed:
            from streamlit.runtime.state.safe_session_state import SafeSessionState
            from streamlit.runtime.state.session_state_proxy import SessionStateProxy

            _ORIGINAL, _ORIGINAL_TO_DICT = SafeSessionState.filtered_state, SessionStateProxy.to_dict
            SafeSessionState.filtered_state = property(_filtered_state, doc=_ORIGINAL.__doc__)
            SessionStateProxy.to_dict = _to_dict
    return _installed


def uninstall() -> None:
    """Put Streamlit's own property and ``to_dict`` back (tests); ``install()`` may patch again."""
    global _installed  # noqa: PLW0603
    if _installed:
        from streamlit.runtime.state.safe_session_state import SafeSessionState
        from streamlit.runtime.state.session_state_proxy import SessionStateProxy

        SafeSessionState.filtered_state, SessionStateProxy.to_dict = _ORIGINAL, _ORIGINAL_TO_DICT
    _installed = None
