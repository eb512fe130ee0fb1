"""Models: exact parameter counts by component, active parameters, and models side by side."""

import pandas as pd
import pyarrow as pa
import streamlit as st

from calc.models import param_counts
from ui import charts, hub_model, memo, page_body, pickers, results, state, tables, text
from ui import format as fmt
from ui.figures_models import COMPONENT_LABELS, breakdown_bar

st.title("Models")
st.caption("Exact parameter counts from the config fields: GQA, explicit head_dim, biases, tied embeddings, "
           "MoE routers and shared experts, MLA.")


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    uploaded = st.file_uploader("Upload a Hugging Face config.json", type=["json"],
                                help="Read as JSON only (at most 1 MB). Supported architectures are listed in the "
                                     "error if yours is not one of them. The model is added to the sidebar picker.")
    if uploaded is not None:
        spec = pickers.upload_config(uploaded)
        if spec is not None:
            st.success(f"Added {text.md(spec.name)} ({text.md(spec.architecture)}) and selected it in the sidebar; every page now uses it.")
    if pickers.custom_models() and st.button(f"Forget the {len(pickers.custom_models())} added models", key="forget_models",
                                            help=f"A session keeps at most {pickers.MAX_SESSION_MODELS} added models "
                                                 f"({pickers.MAX_SESSION_MODEL_BYTES:,} bytes of configs)."):
        pickers.forget_models()
        st.rerun()

    spec = pickers.current_model()
    counts = param_counts(spec)
    c1 = c2 = c3 = st.container(horizontal=True, gap="medium")  # one block, not four (st.columns; issue 18)
    c1.metric("Total parameters", fmt.count(counts.total), help=f"{counts.total:,} exactly")
    c2.metric("Active per token", fmt.count(counts.active), help=f"{counts.active:,}: total minus unselected routed experts and vision / audio towers")
    c3.metric("Architecture", text.md(spec.architecture))
    if counts.tower_parts:
        st.caption("Multimodal: " + "; ".join(f"{t} {v:,}" for t, v in counts.tower_parts)
                   + f"; text decoder {counts.decoder:,}. The towers count in weights; the text decoder alone "
                     "drives the KV cache, activations and FLOPs (and 'active per token').")
    hub_model.models_page_section(spec)

    compare = state.multiselect("Compare with", "compare", pickers.model_names(),
                                ["Meta-Llama-3-8B", "Mistral-7B-v0.1", "Mixtral-8x7B-v0.1"],
                                help="Models shown side by side with the sidebar model.")
    names = list(dict.fromkeys([spec.name, *compare]))
    specs = tuple(pickers.spec_for(n) for n in names)
    # The chart, the table's Arrow form and its column formats depend on these specs alone: made once per set of
    # models (issue 18: the rows, their key and the chart's key were rebuilt on every rerun, a sidebar GPU or unit
    # change included, which changes none of them).
    figure, table, config = memo.cached(("models.compare", tuple(names), specs), lambda: _comparison(names, specs))
    charts.show(st, figure, width="stretch")
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    # the CSV is written when the button is clicked (a callable): given as text, Streamlit hashed and stored it on
    # every rerun (a fifth of this page's rerun, py-spy under bench/bench_pages.py)
    st.download_button("Download CSV", lambda: fmt.csv(pd.DataFrame(_rows(names, specs))),
                       file_name="model_params.csv", mime="text/csv")

    results.publish("models", {"total parameters": (counts.total, "count"), "active parameters": (counts.active, "count"),
                               **{f"{k} parameters": (v, "count") for k, v in counts.components().items() if v},
                               **{f"{t} parameters": (v, "count") for t, v in counts.tower_parts}})

    with st.expander("Formulas and conventions", key="md_xf", on_change="rerun") as ex:
        if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
            st.markdown(r"""
        Per decoder layer (h = hidden, f = intermediate, $n_q$ heads, $n_{kv}$ KV heads, $d$ = head_dim):
        - Attention: $h \cdot n_q d + 2 h \cdot n_{kv} d + n_q d \cdot h$ (+ biases: Qwen2 q/k/v, GPT-2 all).
          MLA (DeepSeek-V3): $h r_q + r_q n_q (d_{nope}+d_{rope}) + h (r_{kv}+d_{rope}) + r_{kv} n_q (d_{nope}+d_v) + n_q d_v h$.
        - MLP: gated (SwiGLU/GeGLU) $3hf$; GPT-2 $2hf$ + biases. MoE layer: $E \cdot 3 h f_e$ experts + $E h$ router
          (+ shared experts).
        - Norms: RMSNorm $h$ each (LayerNorm $2h$); Gemma 2 has four per layer; Qwen3 adds q/k norms of $d$.
        - Embeddings $V h$ (+ GPT-2 learned positions); output head $V h$ unless tied.
        - **Total** counts `model.parameters()` as `transformers` builds them (tests check every preset to the parameter).
          **Active** = total minus routed experts a token does not use (embeddings and head included).
        - DeepSeek-V3: the multi-token-prediction layer its checkpoint stores is excluded (the 671B excludes it);
          its router's `e_score_correction_bias` (a buffer, 14,848 values) is listed apart.
        """)
            if spec.source:
                st.write(f"Config source: {text.md(spec.source)}")


def _rows(names: list[str], specs: tuple) -> list[dict]:
    """One row per model: the table and its CSV."""
    rows = []
    for n, s in zip(names, specs, strict=True):
        c = param_counts(s)
        rows.append({"model": n, "architecture": s.architecture, "total": c.total, "active": c.active,
                     **{COMPONENT_LABELS[k]: v for k, v in c.components().items()},
                     "layers": s.num_layers, "hidden": s.hidden_size, "heads": s.num_heads, "kv heads": s.num_kv_heads,
                     "head_dim": s.head_dim, "vocab": s.vocab_size, "tied": s.tie_embeddings,
                     "experts": s.num_experts or None, "top-k": s.experts_per_token or None})
    return rows


def _comparison(names: list[str], specs: tuple) -> tuple:
    """The comparison chart (frozen), the table as Arrow and its column formats. Built for every new set of models
    compared: the chart as Plotly's dict (``ui.figures_models``), the table straight from the records with the schema
    Streamlit's pandas conversion gives (``tables.records_arrow``), the formats from that schema; through pandas and
    ``go.Figure`` this was ~5 ms of a ~7 ms trivial rerun (issue 18). tests/test_models_page_compare.py holds the
    table and formats to the pandas path's."""
    figure = charts.of(breakdown_bar, {n: param_counts(s) for n, s in zip(names, specs, strict=True)})
    rows = _rows(names, specs)
    table = tables.records_arrow(rows)
    return figure, table, _integer_formats(table, rows)


def _integer_formats(table, rows: list[dict]) -> dict:
    """A localized number format for each integer column (pandas' int64 columns: a column with a missing value is
    float there, and double in the schema)."""
    return {f.name: st.column_config.NumberColumn(format="localized") for f in table.schema
            if pa.types.is_signed_integer(f.type) and f.name in rows[0]}


page_body.run(_page, "models")
