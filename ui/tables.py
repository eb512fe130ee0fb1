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
import pyarrow as pa

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


#: A key a row lacks, in ``records_signature`` (pandas fills it as it would a None, but a different marker costs nothing).
_MISSING = object()
_INT64 = 2**63


def records_signature(rows: list[dict]) -> tuple | None:
    """What the schema of Streamlit's conversion of ``rows`` depends on: the row count (the pandas index in the
    schema's metadata), the keys in order of first appearance (the DataFrame's columns) and, per key, the set of
    value types with a marker where a row lacks it. None where the schema could depend on a value: a float NaN
    (pandas reads it as a missing cell, ``pyarrow`` from a list as a number) or an int beyond int64."""
    types: dict[str, set] = {}
    for r in rows:
        for k, v in r.items():
            t = type(v)
            if (t is float and v != v) or (t is int and not -_INT64 <= v < _INT64):
                return None
            types.setdefault(k, set()).add(t)
    for r in rows:
        if len(r) != len(types):
            for k, ts in types.items():
                if k not in r:
                    ts.add(_MISSING)
    return len(rows), tuple((k, frozenset(ts)) for k, ts in types.items())


def records_arrow(rows: list[dict]) -> pa.Table:
    """``to_arrow(pd.DataFrame(rows))``: Streamlit's conversion of a list of records, built directly from
    the records (``pyarrow.Table.from_pylist``) with the schema that conversion gave for records of the same
    signature (``records_signature``; made once per signature, kept in ``ui.memo``)."""
    signature = records_signature(rows)
    if signature is None:
        return to_arrow(pd.DataFrame(rows))
    schema = memo.cached(("tables.records_schema", signature), lambda: to_arrow(pd.DataFrame(rows)).schema)
    return pa.Table.from_pylist(rows, schema=schema)
