"""The Methodology page names real tests: each listed test function exists in its file."""

from __future__ import annotations

import re

import pytest

from calc.methodology import METHODS
from tests.conftest import ROOT


@pytest.mark.parametrize("test_id", sorted({t for m in METHODS for t in m.tests}))
def test_listed_test_exists(test_id):
    path, name = test_id.split("::")
    source = (ROOT / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{test_id} does not exist"


def test_every_method_names_a_source_and_code():
    assert all(m.source and m.code for m in METHODS)
