"""ui/tables.py: a table converted to Arrow once sends what Streamlit sends for the DataFrame itself."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _tables_script():
    import pandas as pd
    import streamlit as st

    from ui import memo, tables
    from ui.figures_validation import formula_table, records_table
    from validate.harness import RESULTS_PATH

    records = memo.load_json(RESULTS_PATH)["records"]
    rows = list(memo.serve_log_rows()[1])  # the Serving page's table of published throughputs
    mixed = pd.DataFrame({"a": [1, "two", 3.0], "b": [b"x", None, "z"]})  # Arrow refuses it: Streamlit's fixes apply
    for data in (records_table(records), formula_table(records), mixed):
        st.dataframe(data, hide_index=True)
        st.dataframe(tables.to_arrow(data), hide_index=True)
    st.dataframe(rows)  # records: Streamlit hides their index itself
    st.dataframe(tables.to_arrow(rows), hide_index=True)
    st.dataframe(tables.arrow(("test_tables.formulas", len(records)), lambda: formula_table(records)), hide_index=True)


def test_arrow_table_sends_the_same_bytes_as_the_dataframe():
    at = AppTest.from_function(_tables_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    protos = [d.proto for d in at.dataframe]
    assert len(protos) == 9
    for direct, converted in zip(protos[0:8:2], protos[1:8:2], strict=True):
        assert converted.arrow_data.data == direct.arrow_data.data
        assert len(at.dataframe[0].value) > 100  # the real table of validate/results.json, not an empty one
    assert protos[8].arrow_data.data == protos[3].arrow_data.data  # memoized: the same table
    assert at.dataframe[6].value.to_csv() == at.dataframe[7].value.to_csv()
