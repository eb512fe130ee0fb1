"""Scaling laws: from a compute budget to the compute-optimal model, data and loss under each published fit."""

from pathlib import Path

import pandas as pd
import streamlit as st

from calc.compute import compute_budget_flops
from calc.fit import MAX_CSV_BYTES, MAX_ROWS, fit_loss, parse_runs_csv
from calc.scaling import (
    CHINCHILLA_TABLE_A3_APPROACH3,
    FIT_KEYS,
    KNOWN_RUNS,
    fit_from_loss,
    get_fit,
    inference_aware_optimum,
    loss_predictions,
    optimum,
    overtraining,
)
from ui import format as fmt
from ui import pickers, results, state, text
from ui.figures_scaling import fit_quality, frontier, isoflop, loss_contour

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "synthetic_runs_epoch.csv"


@st.cache_data(max_entries=8, show_spinner="Fitting L(N, D)...")
def _fit(data: bytes, n_bootstrap: int):
    runs = parse_runs_csv(data)
    return runs, fit_loss(runs, n_bootstrap=n_bootstrap)


st.title("Scaling laws")
st.caption("What model should a budget train, on how many tokens, and what loss should it reach? Each published "
           "fit answers differently; here they are side by side, each with its source.")

# ----- budget ----------------------------------------------------------------------------------
src = state.select("Budget from", "sbs", ["FLOPs", "GPUs x days"], "GPUs x days", radio=True,
                   help="Type a FLOP budget, or derive it from GPUs x days on the sidebar GPU at an MFU.")
gpu = pickers.current_gpu()
if src == "FLOPs":
    budget = state.number("Compute budget C (FLOPs)", "sc", 1e23, 1e15, 1e32, help="Training FLOPs (6ND).",
                          fmt="%.3e")
    how = "typed"
else:
    c1, c2, c3 = st.columns(3)
    gpus = state.number("GPUs", "sg", 256, 1, 10_000_000, help=f"Number of {gpu.name} (sidebar).", where=c1)
    days = state.number("Days", "sd", 30.0, 0.01, 36_500.0, step=1.0, help="Wall-clock days of training.", where=c2)
    mfu = state.number("MFU", "smfu", 0.40, 0.01, 1.0, step=0.01, fmt="%.2f", where=c3,
                       help="Share of the bf16 dense peak sustained (see the Compute and cost page).")
    peak = gpu.peak("bf16") or gpu.peak("fp16") or gpu.peak("fp32")
    try:
        budget = compute_budget_flops(gpus, days, peak * mfu)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()
    how = f"{gpus:,} x {gpu.name} x {days:g} days x {peak / 1e12:g} TFLOP/s x MFU {mfu:.2f}"
st.metric("Budget", f"{budget:.3e} FLOPs", help=how)

tab_opt, tab_curves, tab_beyond, tab_fit = st.tabs(
    ["Compute-optimal models", "Iso-FLOP curves and loss contour", "Beyond the optimum", "Fit your own law"])

# ----- fit your own (first, so that the other tabs can show it) ------------------------------------
your_fit = None
with tab_fit:
    st.markdown("Upload runs you trained (one row per run: `params`, `tokens`, `loss` in nats per token) and fit "
                "$L(N, D) = E + A/N^\\alpha + B/D^\\beta$ the way Chinchilla Appendix D.2 did: Huber loss "
                "($\\delta = 10^{-3}$) on $\\ln L$, L-BFGS from the paper's grid of starts, then bootstrap refits "
                "(runs resampled with replacement) for 10th-90th percentile intervals.")
    up = st.file_uploader("Runs CSV", type=["csv"], help=f"At most {MAX_CSV_BYTES:,} bytes and {MAX_ROWS:,} runs; "
                          "columns params, tokens, loss (any order, case-insensitive).")
    use_example = state.toggle("Use the example runs (synthetic, drawn from the Epoch AI fit with 1% noise)",
                               "sex", False, help="56 runs on an 8 x 7 grid of sizes and tokens-per-parameter.")
    n_boot = state.number("Bootstrap refits", "sbn", 20, 0, 200, help="More refits: steadier intervals, slower "
                          "(about 15 ms each for 50 runs).")
    data = up.getvalue() if up is not None else (EXAMPLE.read_bytes() if use_example else None)
    if data is not None:
        try:
            runs, lf = _fit(data, int(n_boot))
        except ValueError as exc:
            st.error(f"{text.md(up.name if up is not None else EXAMPLE.name, 80)}: {text.md(exc, 1000)}")
        else:
            your_fit = fit_from_loss(lf.loss, "yours", f"Your fit ({lf.n_runs} runs)",
                                     up.name[:80] if up is not None else EXAMPLE.name)
            for w in lf.warnings:
                st.warning(w)
            law = lf.loss
            rows = [{"constant": k, "fitted": getattr(law, k) if k != "a" else law.a,
                     "10th pct": lf.intervals.get(k, (None, None))[0], "90th pct": lf.intervals.get(k, (None, None))[1]}
                    for k in ("E", "A", "B", "alpha", "beta", "a")]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.4g")
                                        for c in ("fitted", "10th pct", "90th pct")})
            o = optimum(your_fit, budget)
            y1, y2, y3 = st.columns(3)
            y1.metric("Your optimum: params", fmt.count(o.params), help=f"N = G (C/6)^a at C = {budget:.3e}")
            y2.metric("Your optimum: tokens", fmt.count(o.tokens), help=f"{o.tokens_per_param:.1f} tokens per parameter")
            y3.metric("Your predicted loss", f"{o.loss:.4f}", help=f"RMS residual of ln L: {lf.rms_log_residual:.4f}")
            st.plotly_chart(fit_quality(runs, law), width="stretch")
            st.caption("a = beta / (alpha + beta) is the exponent of N_opt ~ C^a. Extrapolating far beyond the "
                       "largest run is a guess: the paper saw curvature in the frontier (its Appendix E).")
    if EXAMPLE.exists():
        st.download_button("Download the example CSV", EXAMPLE.read_bytes(), file_name=EXAMPLE.name, mime="text/csv")

fits = [get_fit(k) for k in FIT_KEYS] + ([your_fit] if your_fit else [])
try:
    optima = [optimum(f, budget) for f in fits]
except ValueError as exc:
    st.error(text.md(exc, 1000))
    st.stop()

_res = {"budget": (budget, "flops")}
for f, o in zip(fits, optima, strict=True):
    _res[f"{f.label}: params"] = (o.params, "count")
    _res[f"{f.label}: tokens"] = (o.tokens, "count")
    if o.loss is not None:
        _res[f"{f.label}: loss"] = (o.loss, "number")
results.publish("scaling", _res)

# ----- compute-optimal models ------------------------------------------------------------------------
with tab_opt:
    rows, outside = [], []
    for f, o in zip(fits, optima, strict=True):
        try:
            side = loss_predictions(o.params, o.tokens)
        except ValueError as exc:  # an optimum past the loss models' range (params > 1e16 from C of about 1e31)
            side = {"hoffmann": None, "epoch": None}
            outside.append(f"{f.label}: {exc}")
        rows.append({"fit": f.label, "params N": o.params, "tokens D": o.tokens, "tokens / param": o.tokens_per_param,
                     "loss (own fit)": o.loss, "loss under Chinchilla fit": side["hoffmann"],
                     "loss under Epoch fit": side["epoch"], "source": f.source})
    if outside:
        st.error("No loss under the Chinchilla / Epoch fits for optima outside their range (left empty): "
                 + "; ".join(outside[:2]) + ("; ..." if len(outside) > 2 else ""))
    df = pd.DataFrame(rows)
    shown = df.assign(**{c: df[c].map("{:.3e}".format) for c in ("params N", "tokens D")})  # grid: floats > 2**53
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "tokens / param": st.column_config.NumberColumn(format="%.1f"),
        **{c: st.column_config.NumberColumn(format="%.4f")
           for c in ("loss (own fit)", "loss under Chinchilla fit", "loss under Epoch fit")}})
    st.download_button("Download CSV", fmt.csv(df), file_name="compute_optimal.csv", mime="text/csv")
    st.caption("Loss is in nats per token on the paper's data (MassiveText); it predicts trends, not your data "
               "set's loss. Fits without a loss model (projections, Kaplan, the 20x rule) show none of their own.")
    st.plotly_chart(frontier(fits, KNOWN_RUNS, budget), width="stretch")
    with st.expander("Where each fit comes from, and where they disagree"):
        for f in fits:
            st.markdown(f"- **{f.label}** ({f.source}): {f.note} N_opt = {f.coef:.4g} x C^{f.exponent:.4f}.")
        h = get_fit("hoffmann")
        rows = [{"params": r.params, "Table A3 (Approach 3) FLOPs": r.flops,
                 "closed form of the published constants": float(h.compute_for_params(r.params)),
                 "ratio": float(h.compute_for_params(r.params)) / r.flops} for r in CHINCHILLA_TABLE_A3_APPROACH3]
        st.markdown("The parametric fit's closed form does not reproduce the paper's own Table A3 (Approach 3): "
                    "for the same model size it needs more compute:")
        a3 = pd.DataFrame(rows)
        for c in ("params", "Table A3 (Approach 3) FLOPs", "closed form of the published constants"):
            a3[c] = a3[c].map("{:.3e}".format)
        st.dataframe(a3, hide_index=True, column_config={"ratio": st.column_config.NumberColumn(format="%.2f")})
        st.markdown("Table A3 prints 1.26e24 FLOPs for 175B under Approach 3; 6 x 175e9 x 12.0e12 = 1.26e25, so we "
                    "use 1.26e25. The projections' coefficients are least-squares fits of ln N on ln C through "
                    "Table 3 / A3 (the paper gives only the exponents), leaving out the 67B rows, whose FLOPs and "
                    "tokens do not agree with each other. Sources: Hoffmann et al. 2022 (arXiv 2203.15556); "
                    "Besiroglu et al. 2024 (arXiv 2404.10102); Kaplan et al. 2020 (arXiv 2001.08361).")

# ----- curves ------------------------------------------------------------------------------------------
loss_fits = {f.label: f for f in fits if f.loss_model is not None}
with tab_curves:
    pick = state.select("Loss model", "slm", list(loss_fits), list(loss_fits)[0],
                        help="A fit with a loss L(N, D): the Chinchilla parametric fit, the Epoch refit, or yours.")
    lf_ = loss_fits[pick]
    budgets = sorted({1e19, 1e21, 1e23, 1e25, float(f"{budget:.2e}")})
    a, b = st.columns(2)
    with a:
        st.markdown("**Iso-FLOP curves**: loss against N at fixed compute")
        st.plotly_chart(isoflop(lf_.loss_model, pick, budgets), width="stretch")
    with b:
        st.markdown("**Loss over N x D** with the compute-optimal frontier")
        st.plotly_chart(loss_contour(lf_.loss_model, pick, KNOWN_RUNS), width="stretch")

# ----- beyond the optimum -------------------------------------------------------------------------------
with tab_beyond:
    pick2 = state.select("Loss model", "slm2", list(loss_fits), list(loss_fits)[0],
                         help="Over-training and the inference-aware optimum need a loss model.")
    f2 = loss_fits[pick2]
    st.markdown("**Over-training**: a model trained far past its compute-optimal tokens (Llama 3 8B on 15T).")
    c1, c2 = st.columns(2)
    n_b = state.number("Parameters N (billions)", "son", 8.03, 0.001, 1e6, fmt="%.3f", where=c1,
                       help="Model size; default Llama-3-8B (8,030,261,248).")
    d_b = state.number("Tokens D (billions)", "sod", 15_000.0, 0.001, 1e8, fmt="%.1f", where=c2,
                       help="Training tokens; default Llama 3's 15T.")
    try:
        ot = overtraining(f2, n_b * 1e9, d_b * 1e9)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
    else:
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Tokens per parameter", f"{ot.tokens_per_param:,.0f}",
                  help=f"compute-optimal at the same {ot.flops:.2e} FLOPs: {ot.same_compute.tokens_per_param:.1f}")
        m2.metric("Predicted loss", f"{ot.loss:.4f}", delta=f"{ot.loss_penalty:+.4f} vs optimum", delta_color="inverse",
                  help=f"The optimum at the same compute: {fmt.count(ot.same_compute.params)} params on "
                       f"{fmt.count(ot.same_compute.tokens)} tokens, loss {ot.same_compute.loss:.4f}")
        m3.metric("Compute overhead", f"{ot.compute_overhead:.2f}x",
                  help=f"{ot.flops:.3e} FLOPs spent; a compute-optimal run reaches the same loss with "
                       f"{ot.flops_for_same_loss:.3e}")
        n_same = float(f2.loss_model.optimal_params(ot.flops_for_same_loss))
        m4.metric("Inference FLOPs per token", f"{2 * ot.params:.3g}",
                  help=f"2N; the compute-optimal model of the same loss has {fmt.count(n_same)} params "
                       f"({2 * n_same:.3g} FLOPs per token)")
    st.markdown("**Inference-aware optimum** (Sardana et al. 2023): the model reaching the loss of the budget's "
                "compute-optimal model with the least training + inference FLOPs ($6ND_{tr} + 2ND_{inf}$).")
    inf_b = state.number("Expected inference tokens (billions)", "sinf", 2000.0, 0.0, 1e9, fmt="%.1f",
                         help="Tokens generated or processed over the model's lifetime.")
    target = optimum(f2, budget).loss
    try:
        ia = inference_aware_optimum(f2, target, inf_b * 1e9)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
    else:
        i1, i2, i3 = st.columns(3)
        i1.metric("Parameters", fmt.count(ia.params), delta=f"{ia.params / ia.chinchilla.params - 1:+.0%} vs "
                  "compute-optimal", delta_color="off")
        i2.metric("Training tokens", fmt.count(ia.tokens), help=f"{ia.tokens / ia.params:.0f} tokens per parameter")
        i3.metric("Lifetime FLOPs saved", f"{ia.saving:.1%}",
                  help=f"{ia.total_flops:.3e} vs {ia.chinchilla_total_flops:.3e} for the compute-optimal model")
        st.caption(f"Target loss {target:.4f} ({pick2}); compute-optimal model for it: {fmt.count(ia.chinchilla.params)} "
                   f"params on {fmt.count(ia.chinchilla.tokens)} tokens.")

with st.expander("Formulas"):
    st.markdown(r"""
- Compute-optimal frontier of $L = E + A/N^\alpha + B/D^\beta$ under $C = 6ND$ (Hoffmann et al. 2022 eq. 4):
  $N_{opt} = G (C/6)^{a}$, $D_{opt} = G^{-1} (C/6)^{b}$, $G = (\alpha A / \beta B)^{1/(\alpha+\beta)}$,
  $a = \beta/(\alpha+\beta)$, $b = \alpha/(\alpha+\beta)$.
- Projections (Approaches 1-3) and Kaplan: $N_{opt} = k C^{a}$, $D_{opt} = C / 6N_{opt}$. Kaplan's $C_{min}$ in
  PF-days is half the compute of training at the critical batch, so $N = 1.3\times10^9 (C/2\,\text{PF-day})^{0.73}$.
- Over-training: the least compute reaching a loss $L$ on the frontier satisfies $\alpha A/N^\alpha = \beta B/D^\beta$,
  so $N = (A(1+\alpha/\beta)/(L-E))^{1/\alpha}$; overhead = $6ND$ / that compute.
- Inference-aware (Sardana et al. 2023): minimise $6ND_{tr} + 2ND_{inf}$ on the iso-loss curve
  $D_{tr}(N) = (B / (L - E - A/N^\alpha))^{1/\beta}$ (bounded Brent over $\ln N$).
""")
