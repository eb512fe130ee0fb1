"""Untrusted text shown as text: file names, model names, scenario fields, GGUF strings, and error messages
that quote any of them.

Streamlit renders Markdown in ``st.markdown``/``caption``/``error``/``warning``/``info``/``success``, headings,
widget labels, ``help=`` tooltips and metric labels; Plotly renders a subset of HTML (``<a href>``, ``<b>``,
``<br>``) in titles, labels and hover text. A file named ``[Re-login](https:evil.example).json`` became a working
link (issue 20). ``md`` and ``html`` make such text inert; pages wrap every untrusted value they interpolate.

Backslash escapes alone are not enough: Streamlit's Markdown (react-markdown with remark-gfm) turns
``www.x.y``, ``https://x`` and ``a@x.y`` into links *after* escapes are resolved (checked in Chromium), so ``md``
also puts an invisible WORD JOINER (U+2060) after every colon, before every ``@`` and between ``www`` and its
dot, which breaks those patterns without changing what a reader sees.
"""

from __future__ import annotations

import html as _html
import re

from calc.cli import printable

JOINER = "\u2060"  # WORD JOINER: invisible, not a word character, so no autolink pattern spans it
# ASCII punctuation that can mean something to CommonMark, GFM or Streamlit (``:`` icons and colours, ``$`` maths)
# gets a backslash; ``, ; ? % " ' / ^`` never do. ``_ - .`` between two letters or digits cannot open emphasis, a
# list or a heading, so "Q4_K_M", "Llama-3.1-8B" and "32,768" stay as they are in the page source.
_PUNCT = re.compile(r"((?<=[^\W_])[_.-](?=[^\W_]))|([!#$&()*+\-.:<=>@\[\\\]_`{|}~])")


def md(text: object, limit: int | None = 200) -> str:
    """``text`` for a Markdown context, shown literally: control characters escaped (``\\x1b``), outer spaces
    dropped, Markdown punctuation backslash-escaped, autolink patterns broken, cut to ``limit`` characters
    (with "...").

    >>> print(md("[a](https:b) *c* Q4_K_M"))
    \\[a\\]\\(https\\:\u2060b\\) \\*c\\* Q4_K_M
    """
    s = printable(str(text), limit).strip(" ")  # leading spaces would start a code block
    s = re.sub(r"(?i)(www)(?=\.)", r"\1" + JOINER, s)
    s = _PUNCT.sub(lambda m: m.group(1) or "\\" + m.group(2), s)
    return s.replace(":", ":" + JOINER).replace("\\@", JOINER + "\\@")


def html(text: object, limit: int | None = 200) -> str:
    """``text`` for Plotly titles, labels and hover text: control characters escaped, ``<``, ``>``, ``&`` and
    quotes as entities (Plotly then shows them literally instead of making links or markup)."""
    return _html.escape(printable(str(text), limit), quote=True)
