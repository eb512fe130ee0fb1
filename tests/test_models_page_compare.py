"""The Models page's comparison (chart, table and CSV) is kept per set of models (issue 18): after each change of the
sidebar model or of the "Compare with" list, it shows the new models, with their published parameter totals."""

from __future__ import annotations

import json

import pytest

from tests.apptest_helpers import open_page

PAGE = "app_pages/models.py"
TIMEOUT = 60
#: Published totals (docs REFERENCE.md "Parameter counts": config.json, HF safetensors totals agree).
PUBLISHED = {"Llama-2-7B": 6_738_415_616, "Meta-Llama-3-8B": 8_030_261_248, "Mistral-7B-v0.1": 7_241_732_096,
             "Mixtral-8x7B-v0.1": 46_702_792_704}


def _table(at) -> dict[str, int]:
    (frame,) = [d.value for d in at.dataframe if "model" in d.value.columns]
    return dict(zip(frame["model"], frame["total"].astype(int), strict=True))


def _chart_models(at) -> list[str]:
    (chart,) = at.get("plotly_chart")
    ys = [y for t in json.loads(chart.proto.spec)["data"] for y in t.get("y") or t.get("x") or []]
    return [m for m in PUBLISHED if m in ys]


def test_comparison_follows_the_sidebar_model_and_the_compare_list():
    at = open_page(PAGE, {"model": "Llama-2-7B"}, timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    steps = [(None, ["Meta-Llama-3-8B", "Mistral-7B-v0.1"]), (None, ["Mixtral-8x7B-v0.1"]),
             ("Mistral-7B-v0.1", ["Mixtral-8x7B-v0.1"]), (None, ["Meta-Llama-3-8B", "Mistral-7B-v0.1"])]
    for model, compare in steps:
        if model is not None:
            at.selectbox(key="model").set_value(model).run()
        at.multiselect(key="compare").set_value(compare).run()
        assert not at.exception, [e.value for e in at.exception]
        first = model or at.selectbox(key="model").value
        names = list(dict.fromkeys([first, *compare]))
        assert _table(at) == {n: PUBLISHED[n] for n in names}, (model, compare)
        assert set(_chart_models(at)) == set(names), (model, compare)
        assert at.metric[0].label == "Total parameters"


@pytest.mark.browser
def test_csv_download_is_the_table(server, page):
    """The CSV is written when its button is clicked (a callable, issue 18): it holds the models shown."""
    from tests.browser_helpers import download_csv
    from tests.conftest import wait_for_app

    page.goto(f"{server}/models?model=Llama-2-7B&compare=Mixtral-8x7B-v0.1")
    wait_for_app(page)
    rows = download_csv(page, "Download CSV")
    assert {r["model"]: int(r["total"]) for r in rows} == {n: PUBLISHED[n] for n in ("Llama-2-7B", "Mixtral-8x7B-v0.1")}


def test_table_and_formats_are_what_the_pandas_path_gave():
    """``_comparison``'s Arrow table and column formats, built from the records and their schema, equal what
    ``tables.to_arrow(pd.DataFrame(rows))`` and pandas' int64 columns gave (before issue 18's change), over 60 random
    sets of 1-6 models of every preset (dense, MoE, hybrid, multimodal: columns with a missing value are float)."""
    import importlib.util
    import random

    import pandas as pd
    import streamlit as st

    from calc.presets import PRESETS
    from ui import pickers, tables

    spec_ = importlib.util.spec_from_file_location("models_page_under_test", PAGE)
    page = importlib.util.module_from_spec(spec_)
    src = open(PAGE).read()
    assert src.endswith('\npage_body.run(_page, "models")\n')
    src = src.removesuffix('page_body.run(_page, "models")\n')  # the page's functions, without drawing the page
    exec(compile(src, PAGE, "exec"), page.__dict__)  # noqa: S102 (our own page's source)
    rng = random.Random(7)
    names_all = sorted(PRESETS)
    for _ in range(60):
        names = rng.sample(names_all, rng.randint(1, 6))
        specs = tuple(pickers.spec_for(n) for n in names)
        _, table, config = page._comparison(names, specs)
        df = pd.DataFrame(page._rows(names, specs))
        assert table.equals(tables.to_arrow(df)), names
        before = {c: st.column_config.NumberColumn(format="localized") for c in df.columns if df[c].dtype.kind == "i"}
        assert config == before, names
