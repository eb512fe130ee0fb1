"""The predicted loss cost of post-training quantization (Kumar et al. 2024, sec. 3.1 eq. 2) for a page's model and
weight formats: inputs, one table, and the formula with its assumptions. The maths is ``calc.scaling_precision``."""

from __future__ import annotations

import streamlit as st

from calc.models import param_counts
from calc.scaling_precision import BETA, C_T, GAMMA_D, GAMMA_N, GAMMA_POST, PTQ_SOURCE, REFERENCE_BITS, B, ptq_costs
from ui import format as fmt
from ui import memo, page_body, state, text
from ui.tables import records_arrow


def paper_params(spec) -> int:
    """The paper's N: non-embedding parameters (sec. 2.3), so the token embeddings, an untied output head and any
    vision/audio tower are left out."""
    pc = param_counts(spec)
    return pc.total - pc.embeddings - pc.output_head - pc.towers


def cli_command(params: float, tokens: float, bits: float) -> str:
    """The ``python -m calc scaling`` call whose ``post_training_quantization`` block gives the same numbers."""
    return f"python -m calc scaling --params {params:.0f} --tokens {tokens:.10g} --precision-bits {bits:.10g} --json"


def costs_for(n: int, d: float, bits_by_format: tuple[tuple[str, float], ...]) -> dict:
    """``ptq_cost(n, d, bits)`` of every ``(format, bits)`` pair under ``REFERENCE_BITS``, by format (``ptq_costs``:
    the same numbers, N, D and the bf16 loss computed once)."""
    under = [(f, b) for f, b in bits_by_format if b < REFERENCE_BITS]
    return dict(zip([f for f, _ in under], ptq_costs(n, d, [b for _, b in under]), strict=True))


def cost_rows(costs: dict, d: float) -> list[dict]:
    """One row per format: bits, the predicted loss cost and where more pretraining data starts to hurt."""
    return [{"file type": f, "bits/weight": c.bits, "loss cost (nats)": c.degradation, "of the bf16 loss": c.relative,
             "loss after": c.loss_after, "more data hurts past (tokens)": c.critical_tokens,
             "trained past that": "yes" if d > c.critical_tokens else "no"}
            for f, c in costs.items()]


#: The section's title: the label of the expander the Quantization page draws it in.
TITLE = "Loss cost of quantizing (Kumar et al. 2024)"


@page_body.fragment  # the token count reruns this section only, not the page's 33 file types above it (issue 18)
def section(spec, bits_by_format: dict[str, float], highlight: str | None, key: str = "gptqd") -> None:
    """Pretraining-token input (``?key=`` in trillions), a table of every format under 16 bits, and an expander with
    eq. 2, eq. 13, the constants and the assumptions, under a heading the caller draws (``TITLE``: the Quantization
    page's lazy expander). ``highlight`` is a format named in a caption. The costs and their table are kept per
    (N, D, formats) in ``ui.memo``: shared by sessions, read only."""
    tokens_t = state.number("Pretraining tokens of this model (trillions)", key, 15.0, 0.001, 1000.0, fmt="%.3f",
                            help="The tokens the model was pretrained on (default Llama 3's 15T). The loss a "
                                 "post-training quantization costs grows with them (Kumar et al. 2024, sec. 3.1).")
    n = paper_params(spec)
    d = tokens_t * 1e12
    cost_key = (n, d, tuple(bits_by_format.items()))
    try:
        costs = memo.cached(("ptq.costs", *cost_key), lambda: costs_for(*cost_key))
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        return
    if highlight not in costs:  # the largest fitting type may be unquantized (F16): name the common 4-bit one
        highlight = "Q4_K_M" if "Q4_K_M" in costs else None
    if highlight is not None:
        c = costs[highlight]
        st.caption(f"{highlight} ({c.bits:.3f} bits per weight): predicted loss +{c.degradation:.4f} nats "
                   f"({c.relative:.2%} of the bf16 model's {c.loss_before:.4f}) for {fmt.count(n)} non-embedding "
                   f"params trained on {fmt.count(d)} tokens. Past {fmt.count(c.critical_tokens)} pretraining tokens "
                   "more data makes this quantized model worse (App. E.1 eq. 13). A trend from 30M-220M models, "
                   "not a number for this one.")
    # a new token count makes a new table: its Arrow form is built straight from the records (issue 18)
    table = memo.cached(("ptq.table", *cost_key), lambda: records_arrow(cost_rows(costs, d)))
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "bits/weight": st.column_config.NumberColumn(format="%.3f"),
        "loss cost (nats)": st.column_config.NumberColumn(format="%.4f"),
        "of the bf16 loss": st.column_config.NumberColumn(format="percent"),
        "loss after": st.column_config.NumberColumn(format="%.4f"),
        "more data hurts past (tokens)": st.column_config.NumberColumn(format="%.3e")})
    # lazy (issue 18): closed, a rerun of this section neither writes nor sends the formula and its assumptions
    formula = st.expander("Loss cost: formula and assumptions", key=f"{key}_x", on_change="rerun")
    if formula.open:
        formula.markdown(f"""
**Formula** (Kumar et al. 2024, "Scaling Laws for Precision", sec. 3.1 eq. 2): a model of N non-embedding parameters
trained in bf16 on D tokens, its weights then quantized to P bits, loses

$\\delta_{{PTQ}} = C_T \\, D^{{\\gamma_D}} N^{{-\\gamma_N}} e^{{-P/\\gamma_{{post}}}}$

with App. K Table 2's $C_T$ = {C_T}, $\\gamma_D$ = {GAMMA_D}, $\\gamma_N$ = {GAMMA_N}, $\\gamma_{{post}}$ = {GAMMA_POST}.
"loss after" adds it to the bf16 model's predicted loss $A N^{{-\\alpha}} + B D^{{-\\beta}} + E$ (same table).
App. E.1 eq. 13: the loss after quantization is lowest at
$D_{{crit}} = (\\beta B N^{{\\gamma_N}} e^{{P/\\gamma_{{post}}}} / (\\gamma_D C_T))^{{1/(\\gamma_D+\\beta)}}$
($\\beta$ = {BETA}, B = {B:g}); pretraining past it makes the quantized model worse.

**Assumptions.** N = {n:,} (this model's parameters less embeddings, output head and towers; the paper counts
non-embedding parameters), D = {d:.4g} tokens as typed above. P = the file type's bits per weight over all its
tensors, scales included: the law was fitted on integer GPTQ with one scale per channel, and llama.cpp's block
scales and per-tensor type mixes are read as that many bits, an approximation. The constants come from 30M-220M
dense models trained on up to 26B Dolma tokens; the paper says its trends, not its numbers, carry over (App. K).
{"A mixture of experts is counted with all its experts here; the paper fitted dense models only. " if spec.is_moe else ""}
Types of 16 bits or more are not quantized and have no row.

**The same numbers from the command line**, for {highlight or "4 bits"}: `{cli_command(n, d, costs[highlight].bits if highlight else 4.0)}`
(its `post_training_quantization` block). Source: {PTQ_SOURCE}.
""")
