"""The Quantization (GGUF) page's tables as pure builders (no Streamlit calls): every file type's row, and the
``pyarrow.Table`` that ``st.dataframe`` would make of a list of such rows.

A context, cache type, sequence count or GPU change gives the 33-type table new "run memory" and "fits" cells, so
its Arrow form is built on most reruns of the page's run section. Building a DataFrame from the records and
converting it with Streamlit's ``convert_pandas_df_to_arrow_table`` (``ui.tables.to_arrow``) cost about 1.5 ms of
a 15-20 ms rerun (issue 18); ``ui.tables.records_arrow`` converts the records directly against the schema that
conversion gave for the same columns, which is the same table (``tests/test_gguf_page.py`` compares them, metadata
included).
"""

from __future__ import annotations

from calc.gguf import FILE_TYPES, PUBLISHED_PPL
from calc.units import GB, GIB, bytes_in

#: The text columns whose width follows their longest cell (``text_width``).
WIDE_TEXT_COLUMNS = ("fits", "tensor types", "ppl measured on")


def placement(m) -> str:
    """The "fits" cell of a ``calc.gguf_run.RunMemory``: where llama.cpp puts the model."""
    if m.placement == "gpu":
        return "yes"
    if m.placement == "unified":
        return "yes (unified)" if m.fits else "no"
    if m.placement == "split":
        if m.gpu_layers == m.n_layers:
            return f"split: all {m.n_layers} layers on GPU, output head on CPU"
        return f"split: {m.gpu_layers} of {m.n_layers} layers on GPU, {m.n_layers - m.gpu_layers} on CPU"
    return "no: CPU only"


def file_type_rows(by_type: dict, runs: dict, unit: str) -> list[dict]:
    """One row per llama.cpp file type: its file size, bits per weight, memory to run in ``unit`` ("GB" or
    "GiB"), where it runs, its tensor types, the published perplexity increase, payload and imatrix. ``by_type``:
    ``quantize_all`` results (a ``ValueError`` for a type this model cannot take: a row naming why); ``runs``:
    ``run_memory`` per file type."""
    rows = []
    for f in FILE_TYPES:
        r = by_type[f]
        if isinstance(r, ValueError):
            rows.append({"file type": f, "fits": "not possible: " + str(r)[:80]})
            continue
        m, ppl = runs[f], PUBLISHED_PPL.get(f)
        rows.append({"file type": f, "file (GB)": r.file_bytes_estimate / GB, "file (GiB)": r.file_bytes_estimate / GIB,
                     "bits/weight": r.bits_per_weight, f"run memory ({unit})": bytes_in(m.total_bytes, unit),
                     "fits": placement(m), "tensor types": " ".join(f"{k}:{v}" for k, v in r.tensor_types.items()),
                     "ppl increase": ppl[1] if ppl else None, "ppl measured on": ppl[2] if ppl else None,
                     "payload bytes": r.tensor_bytes, "imatrix": r.imatrix})
    return rows


def text_width(rows: list[dict], col: str) -> int:
    """Pixels for the longest cell of a text column (about 7.5 px a character at the grid's 14 px font): the grid
    cuts a cell at its column's width, and "tensor types" of the IQ mixes runs to 60+ characters. A cell a row
    lacks (a type this model cannot take) or holds None is empty in the table: it does not count."""
    longest = max([len(col)] + [len(str(r[col])) for r in rows if r.get(col) is not None])
    return int(min(24 + 7.5 * longest, 720))
