"""The Home page's first row (issue 18): its three metrics in one horizontal container, not three columns (each
column a block sent on every rerun), with the numbers of the sidebar's model and GPU."""

from __future__ import annotations

from calc.gpus import get_gpu
from calc.units import GB
from tests.apptest_helpers import open_page
from ui.nav import PAGES


def test_home_metrics_row_is_one_container_with_the_sidebar_numbers():
    at = open_page(PAGES[0].path, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM"})
    assert not at.exception, [e.value for e in at.exception]
    values = {m.label: m.value for m in at.metric}
    # Meta-Llama-3-8B: 8,030,261,248 parameters (REFERENCE.md), 2 bytes each in bf16
    assert values["Parameters"] == "8.03 B"
    assert values["bf16 weights"] == f"{8_030_261_248 * 2 / GB:.2f} GB"
    assert values["H100 SXM memory"] == f"{get_gpu('H100 SXM').memory_bytes / GB:.2f} GB"
    # the two "At a glance" columns only: the first row is one horizontal container
    assert len(at.columns) == 2
