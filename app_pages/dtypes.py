"""Number formats: bits, layout, range and precision (numpy / ml_dtypes finfo)."""

import pandas as pd
import streamlit as st

from calc.dtypes import DTYPES, float_info
from ui import format as fmt
from ui import memo, tables

st.title("Number formats")
st.write("Storage width decides memory; exponent bits decide range, mantissa bits decide precision. "
         "bf16 keeps fp32's 8 exponent bits (same range, max about 3.4e38) and gives up mantissa "
         "(eps 2^-7 = 0.0078 against fp16's 2^-10), so bf16 training rarely overflows and needs no loss "
         "scaling, while fp16 (max 65,504) does.")

# Every cell of the grid is a value or "—" (a field that does not apply: int8 has no exponent, tf32 no storage
# type), never "None" or blank. Bit fields and the float figures are shown as text: the grid marks floats near
# fp32's 3.4e38 as overflowing, and one format per column ("%.3e") keeps the column comparable. The notes, too
# long for a cell, follow the table in full.
NA = "—"
sci = ("max", "smallest normal", "eps")
fields = ("sign", "exponent", "mantissa")


def _table():
    """The table as Arrow, its row count and its CSV. Constant: made once per process (ui/memo.py), since building
    the frame, formatting it and converting it was most of this page's rerun (issue 18)."""
    rows = []
    for d in DTYPES.values():
        fi = float_info(d.name)
        rows.append({"dtype": d.name, "bits": d.bits, "bytes": d.bits / 8, "sign": d.sign_bits,
                     "exponent": d.exponent_bits, "mantissa": d.mantissa_bits,
                     "max": fi.max if fi else None, "smallest normal": fi.smallest_normal if fi else None,
                     "eps": fi.eps if fi else None, "note": d.note})
    df = pd.DataFrame(rows)
    shown = df.drop(columns="note").assign(
        **{c: df[c].map(lambda v: NA if pd.isna(v) else f"{v:.3e}") for c in sci},
        **{c: df[c].map(lambda v: NA if pd.isna(v) else f"{int(v)}") for c in fields})
    return tables.to_arrow(shown), len(shown), fmt.csv(df)


table, n_rows, csv_text = memo.cached(("dtypes.table",), _table)
st.dataframe(table, hide_index=True, width="stretch", height=35 * (n_rows + 1) + 3, column_config={
    "bits": st.column_config.NumberColumn(format="%.2f", help="Stored bits per element; block formats include "
                                          "their shared scale (MXFP4: 4 + 8/32)."),
    "bytes": st.column_config.NumberColumn(format="%.4f"),
    **{c: st.column_config.TextColumn(alignment="right") for c in sci + fields}})
st.markdown("\n".join(f"- **{d.name}**: {d.note}" for d in DTYPES.values()))
st.download_button("Download CSV", csv_text, file_name="dtypes.csv", mime="text/csv")
with st.expander("Where these numbers come from", key="dt_xf", on_change="rerun") as ex:
    if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
        st.markdown("Bits per field: IEEE 754 (fp32, fp16), Google Brain bfloat16, Micikevicius et al. 2022 (fp8 e4m3 / "
                    "e5m2). max / smallest normal / eps are read at run time from `numpy.finfo` and `ml_dtypes.finfo`. "
                    "tf32 is a tensor-core mode over fp32 storage (10-bit mantissa). int4/nf4 need block scales on top "
                    "of 4 bits (bitsandbytes nf4, block 64, double quantization: about 0.127 extra bits per weight). "
                    "FP4 (E2M1), MXFP4 and NVFP4: OCP Microscaling Formats specification v1.0 and NVIDIA's Blackwell "
                    "brief; their element's range and eps come from `ml_dtypes.float4_e2m1fn`, and the bits include "
                    "the block's shared scale (the gguf package's MXFP4 block: 32 weights in 17 bytes; NVFP4: 64 in 36).")
