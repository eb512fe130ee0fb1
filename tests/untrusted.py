"""Hostile text and the checks the hostile-input suite applies to what pages render (not a test module).

``links_in_markdown`` reads Markdown the way Streamlit's renderer (react-markdown + remark-gfm) does, with an
independent parser: markdown-it-py for CommonMark links, images and raw HTML, plus GitHub's autolink-literal
rule (``www.``, ``http(s)://`` and e-mail addresses in plain text become links, as remark-gfm's
mdast-util-gfm-autolink-literal does *after* backslash escapes are resolved; checked in Chromium).
"""

from __future__ import annotations

import json
import re

from markdown_it import MarkdownIt

EVIL = "evil.example"
#: A file name, model name, scenario name or GGUF string a red team would send (issue 20, reproduction 5).
HOSTILE = ("[Re-login](https:evil.example) ![t](https:evil.example) <img src=https://evil.example/i.png> "
           "www.evil.example a@evil.example :red[x] $x$ \x1b]52;c;ZXZpbA==\x07 `code` *bold* #h")

_MD = MarkdownIt("commonmark")
# remark-gfm's autolink literals: URL starts and e-mail addresses (ASCII word characters, as JavaScript's \w).
_AUTOLINK = re.compile(r"(?i)(https?://|www\.)[-.\w]+[^ \t\r\n]*|[-.\w+]+@[-\w]+(\.[-\w]+)+", re.ASCII)


def links_in_markdown(text: str) -> list[str]:
    """Every link, image or raw HTML tag a Markdown renderer would make of ``text`` (their targets)."""
    found: list[str] = []

    def walk(tokens):
        for t in tokens:
            if t.type == "link_open":
                found.append(str(t.attrGet("href")))
            elif t.type == "image":
                found.append(str(t.attrGet("src")))
            elif t.type in ("html_inline", "html_block"):
                found.append(t.content)
            elif t.type == "text":
                found.extend(m.group(0) for m in _AUTOLINK.finditer(t.content))
            if t.children:
                walk(t.children)

    walk(_MD.parse(text))
    return found


def plain_text(text: str) -> str:
    """What a reader sees of Markdown ``text`` (inline text and code, joined)."""
    out: list[str] = []

    def walk(tokens):
        for t in tokens:
            if t.type in ("text", "code_inline"):
                out.append(t.content)
            elif t.type == "softbreak":
                out.append("\n")
            if t.children:
                walk(t.children)

    walk(_MD.parse(text))
    return "".join(out)


def evil_links_in_markdown(text: str) -> list[str]:
    return [x for x in links_in_markdown(text) if EVIL in x]


def evil_markup_in_plotly(spec: str) -> list[str]:
    """Strings of a Plotly figure (JSON) that hold a tag Plotly would render (``<a href>``, ``<img>``, ...)
    or an unescaped ``<`` next to the hostile host."""
    found: list[str] = []

    def walk(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str) and EVIL in obj and re.search(r"<\s*(a|img|span|b|i|br|sup|sub)\b", obj, re.I):
            found.append(obj[:200])

    walk(json.loads(spec))
    return found


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?")


def formula_cells(csv_text: str) -> list[str]:
    """Cells of a CSV that a spreadsheet would run as a formula (OWASP CSV injection), plain numbers excepted."""
    import csv
    import io

    return [cell for row in csv.reader(io.StringIO(csv_text)) for cell in row
            if cell.startswith(FORMULA_START) and not _NUMBER.fullmatch(cell)]
