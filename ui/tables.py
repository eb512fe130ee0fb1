"""Tables for ``st.dataframe`` converted to Arrow once per content instead of on every rerun (issue 18).

``st.dataframe`` turns a pandas DataFrame (or a list of records) into a ``pyarrow.Table`` with
``pa.Table.from_pandas`` on every call, then serializes the table; for the Validation page's tables that
conversion was about a third of the rerun (py-spy under ``bench/bench_pages.py``). Handed a ``pyarrow.Table``,
Streamlit only serializes it (``streamlit/elements/arrow.py``). ``arrow`` builds that table with Streamlit's own
conversion (``dataframe_util.convert_pandas_df_to_arrow_table``, the same automatic fixes for mixed columns), so the
bytes sent are the ones the DataFrame would have given (tests/test_tables.py), and keeps it per key (``ui.memo``).

A list of records loses nothing but its default index, which Streamlit hides for records: pass
``hide_index=True`` with such a table.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import pandas as pd

from ui import memo


def to_arrow(data):
    """The ``pyarrow.Table`` that ``st.dataframe`` makes of ``data`` (a pandas DataFrame or anything Streamlit
    turns into one: a list of records, a dict of columns)."""
    from streamlit import dataframe_util

    df = data if isinstance(data, pd.DataFrame) else dataframe_util.convert_anything_to_pandas_df(data)
    return dataframe_util.convert_pandas_df_to_arrow_table(df)


def arrow(key: Hashable, build: Callable[[], object]):
    """``to_arrow(build())`` memoized per ``key``, which must name everything the table depends on (shared by
    sessions: read only)."""
    return memo.cached(("tables.arrow", key), lambda: to_arrow(build()))


def bytes_arrow(key: Hashable, build: Callable[[], pd.DataFrame], *cols: str):
    """``(pyarrow.Table, column_config)`` for ``st.dataframe`` of ``build()`` through ``ui.format.bytes_table`` on
    each byte column of ``cols`` (default ``"bytes"``), made once per ``key`` and the sidebar's unit (which names the
    unit column and sets its format). The memory pages' component tables: building the DataFrame and converting
    it were most of what a rerun with an unchanged table did there (issue 18)."""
    from ui import format as fmt

    def make():
        df, config = build(), {}
        for col in cols or ("bytes",):
            df, cfg = fmt.bytes_table(df, col)
            config |= cfg
        return to_arrow(df), config

    return memo.cached(("tables.bytes_arrow", fmt.unit(), key), make)
