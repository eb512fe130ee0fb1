"""Untrusted text is shown as text: the Markdown and HTML escapes pages use, the terminal escape the CLI uses,
and OWASP's CSV-injection rule on every CSV export (issue 20, item 2).

The references are independent of the code under test: markdown-it-py parses what Streamlit would render
(links, images, raw HTML, GitHub autolink literals: ``tests/untrusted.py``), ``html.unescape`` and Python's
``csv`` reader read back what was written.
"""

from __future__ import annotations

import html
import string

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calc.cli import printable
from tests.untrusted import HOSTILE, evil_links_in_markdown, formula_cells, links_in_markdown, plain_text
from ui import format as fmt
from ui import text

JOINER = "\u2060"


def test_the_checker_sees_what_a_renderer_links():
    """The reference itself can fail: raw hostile text has five links/images by its rules."""
    assert len(evil_links_in_markdown(HOSTILE)) == 5
    assert links_in_markdown("see www.example.org and https://x.org/a and me@x.org") == [
        "www.example.org", "https://x.org/a", "me@x.org"]


@pytest.mark.parametrize("raw", [HOSTILE, "[a](javascript:alert(1))", "<script>alert(1)</script>",
                                 "**bold** _it_ ~~s~~ | a | b |\n---", "WWW.EVIL.EXAMPLE", "x@y.example",
                                 "HTTPS://evil.example", "\\[esc\\](http://evil.example)", "mailto:a@evil.example"])
def test_md_shows_the_text_and_links_nothing(raw):
    shown = text.md(raw, limit=None)
    assert links_in_markdown(shown) == []
    # what a reader sees is the text itself (control characters as escapes, the invisible joiners aside)
    assert plain_text(shown).replace(JOINER, "") == printable(raw, None)


def _seen(raw: str) -> str:  # Markdown drops a paragraph's leading and trailing spaces
    return printable(raw, None).strip(" ")


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.sampled_from(["", "    "]), st.text(alphabet=string.printable + "äé€\u202e\x1b", max_size=80))
       .map("".join))
def test_md_round_trips_any_text(raw):
    shown = text.md(raw, limit=None)
    assert links_in_markdown(shown) == []
    assert plain_text(shown).replace(JOINER, "").strip(" ") == _seen(raw)


def test_md_cuts_long_text():
    assert plain_text(text.md("x" * 1000, limit=50)) == "x" * 50 + "..."


def test_html_for_plotly_is_inert_and_reads_back():
    raw = '<a href="https://evil.example">x</a> & <img src=x> \x1b'
    shown = text.html(raw)
    assert "<" not in shown and ">" not in shown and '"' not in shown
    assert html.unescape(shown) == printable(raw)


def test_printable_escapes_terminal_controls():
    raw = "a\x1b]52;c;ZXZpbA==\x07b\r\nc\u202ed\x9b"
    out = printable(raw)
    assert all(ch.isprintable() for ch in out)
    assert out == r"a\x1b]52;c;ZXZpbA==\x07b\r\nc\u202ed\x9b"


def test_csv_escapes_formula_cells_and_keeps_numbers():
    cells = ["=cmd|' /C calc'!A0", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", "\t=1", "\r=1", "plain",
             "-5", "+1.5e3", "-0.25"]
    df = pd.DataFrame({"name": cells, "n": range(len(cells))})
    df["=HYPERLINK(\"http://evil.example\")"] = ["x"] * len(cells)
    out = fmt.csv(df)
    assert formula_cells(out) == []
    back = pd.read_csv(__import__("io").StringIO(out), dtype=str, keep_default_na=False)
    # every escaped cell is the original with one leading quote; numbers and plain text are untouched
    for orig, got in zip(cells, back["name"], strict=True):
        assert got == orig or got == "'" + orig
        assert (got != orig) == (orig[0] in "=+-@\t\r" and orig not in ("-5", "+1.5e3", "-0.25"))
    assert list(back["n"]) == [str(i) for i in range(len(cells))]
    assert back.columns[2].startswith("'=")


def test_every_csv_download_goes_through_the_escape():
    """No page writes ``.to_csv(`` for a download itself (the escape would be bypassed)."""
    from tests.conftest import ROOT

    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "app_pages").glob("*.py")) + sorted((ROOT / "ui").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if ".to_csv(" in line and p.name != "format.py"]
    assert offenders == []
