"""Inputs bound to the URL: every widget made here reads its first value from ``st.query_params``
and writes its current value back, so a copied link restores the page on any server.

Each widget value also has a shadow copy in ``st.session_state`` (``_inputs``) so that leaving a page
and coming back keeps the inputs (Streamlit drops widget state of pages that are not shown).
A query parameter that does not parse or is out of range falls back to the default with a warning
naming the parameter and the allowed values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

_INPUTS = "_inputs"  # this session's {"keep": shadow copies, "labels": widget labels}
_MISSING = object()


def _inputs() -> dict:
    """This session's shadow copies and labels, fetched together: each ``st.session_state`` access costs 8-10 us
    (the proxy, the script run context, a yield point), and every input needed both (issue 18)."""
    found = st.session_state.get(_INPUTS)
    if found is None:
        found = st.session_state[_INPUTS] = {"keep": {}, "labels": {}}
    return found


def labels_for(keys) -> dict[str, str]:
    """The labels of the widgets bound to ``keys`` in this session (for readable scenario comparisons)."""
    known = st.session_state.get(_INPUTS, {}).get("labels", {})
    return {k: known[k] for k in keys if k in known}


def _warn_bad_param(key: str, raw: str, allowed: str) -> None:
    # Backticks would close the code span and let a crafted link render Markdown (a clickable
    # link inside our own warning); control characters are dropped too.
    shown = "".join(ch for ch in raw[:40] if ch.isprintable() and ch != "`")
    st.warning(f"Link parameter `{key}={shown}` ignored: expected {allowed}.")


def _init(inputs: dict, key: str, label: str, default: Any, parse: Callable[[str], Any], allowed: str) -> Any:
    """Record the label; seed ``st.session_state[key]`` from the URL, the shadow copy, or the default when the
    session has no value yet. Returns the session's value."""
    inputs["labels"][key] = label
    value = st.session_state.get(key, _MISSING)
    if value is not _MISSING:
        return value
    value = inputs["keep"].get(key, default)
    raw = st.query_params.get(key)
    if raw is not None:
        try:
            value = parse(raw)
        except (ValueError, TypeError):
            _warn_bad_param(key, raw, allowed)
    st.session_state[key] = value
    return value


def _sync(inputs: dict, key: str, value: Any, drawn: Any, serialize: Callable[[Any], str] = str) -> Any:
    """The input's value (the widget's answer ``drawn``; the session's ``value`` when no widget was drawn), kept in
    the shadow copy and written to the link when it changed there."""
    if drawn is not None:
        value = drawn
    inputs["keep"][key] = value
    text = serialize(value)
    if st.query_params.get(key) != text:
        st.query_params[key] = text
    return value


class _Undrawn:
    """A ``where`` for inputs that are not drawn (a closed lazy expander's, issue 18): ``number``, ``select`` and
    ``toggle`` still give the input's value as if it were (the session's value, else its link parameter, else the
    session's copy or the default, a bad link parameter warned about) and keep its link parameter, but no widget is
    sent."""

    def __getattr__(self, name: str):
        if name in ("number_input", "selectbox", "radio", "toggle"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


#: Pass as ``where=`` to read an input without drawing it (the closed "Engine settings" of the Serving and Training
#: memory pages).
UNDRAWN = _Undrawn()


def number(label: str, key: str, default: float, min_value: float, max_value: float, step: float | None = None,
           help: str | None = None, fmt: str | None = None, where=st) -> float:
    """``st.number_input`` bound to ``?key=``; ints stay ints when the default is an int."""
    is_int = isinstance(default, int) and (step is None or float(step).is_integer())

    def parse(raw: str):
        v = int(raw) if is_int else float(raw)
        if not min_value <= v <= max_value:
            raise ValueError
        return v

    inputs = _inputs()
    value = _init(inputs, key, label, default, parse, f"a number in [{min_value}, {max_value}]")
    cast = int if is_int else float
    drawn = where.number_input(label, min_value=cast(min_value), max_value=cast(max_value),
                               step=cast(step) if step is not None else None, key=key, help=help, format=fmt)
    return _sync(inputs, key, value, drawn, lambda v: str(v) if is_int else repr(float(v)))


def select(label: str, key: str, options: Sequence, default: Any, help: str | None = None,
           format_func: Callable = str, where=st, radio: bool = False, filter_mode: str | None = "fuzzy") -> Any:
    """``st.selectbox`` (or ``st.radio``) over string-able options, bound to ``?key=``.

    ``filter_mode`` is how typing narrows a selectbox: "fuzzy" (Streamlit's default: the letters in order,
    so "T4" also finds "RTX 4090"), "contains", "prefix" or None."""
    options = list(options)
    by_text = {str(o): o for o in options}

    def parse(raw: str):
        if raw not in by_text:
            raise ValueError
        return by_text[raw]

    inputs = _inputs()
    value = _init(inputs, key, label, default, parse,
                  "one of " + ", ".join(list(by_text)[:12]) + ("..." if len(by_text) > 12 else ""))
    if value not in options:
        st.session_state[key] = value = default
    widget = where.radio if radio else where.selectbox
    kwargs = {"horizontal": True} if radio else {"filter_mode": filter_mode}
    drawn = widget(label, options, key=key, help=help, format_func=format_func, **kwargs)
    return _sync(inputs, key, value, drawn)


def multiselect(label: str, key: str, options: Sequence[str], default: Sequence[str], help: str | None = None,
                where=st, max_selections: int | None = None) -> list[str]:
    """``st.multiselect`` bound to ``?key=a,b,c`` (options must not contain commas)."""
    options = list(options)

    def parse(raw: str):
        items = [x for x in raw.split(",") if x]
        if any(x not in options for x in items):
            raise ValueError
        return items

    inputs = _inputs()
    value = _init(inputs, key, label, list(default), parse, "a comma-separated list of known names")
    known = [x for x in value if x in options]
    if known != value:
        st.session_state[key] = value = known
    drawn = where.multiselect(label, options, key=key, help=help, max_selections=max_selections)
    return _sync(inputs, key, value, drawn, lambda v: ",".join(v))


def toggle(label: str, key: str, default: bool, help: str | None = None, where=st) -> bool:
    """``st.toggle`` bound to ``?key=1|0``."""

    def parse(raw: str):
        if raw not in ("0", "1", "true", "false"):
            raise ValueError
        return raw in ("1", "true")

    inputs = _inputs()
    value = _init(inputs, key, label, default, parse, "1 or 0")
    drawn = where.toggle(label, key=key, help=help)
    return _sync(inputs, key, value, drawn, lambda v: "1" if v else "0")


def text(label: str, key: str, default: str, help: str | None = None, where=st, max_chars: int = 200) -> str:
    """``st.text_input`` bound to ``?key=``."""
    inputs = _inputs()
    value = _init(inputs, key, label, default, lambda raw: raw[:max_chars], "text")
    drawn = where.text_input(label, key=key, help=help, max_chars=max_chars)
    return _sync(inputs, key, value, drawn)
