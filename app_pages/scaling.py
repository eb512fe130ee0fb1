"""Scaling laws: a budget and a question (model size, repeated data, inference demand, experts, precision,
over-training, your own runs) -> the answer under the law that fits the question, with its source and band."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from calc import scaling_data, scaling_moe, scaling_precision
from calc.compute import compute_budget_flops
from calc.fit import (
    MAX_CSV_BYTES,
    MAX_ROWS,
    bootstrap_refits,
    check_bootstrap,
    check_fittable,
    parse_runs_csv,
    point_fit,
    stored_point_fit,
    with_refits,
)
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
from calc.scaling_bands import (
    BAND_ORIGIN,
    frontier_band,
    inference_aware_band,
    optimum_band,
    published_exponent_band,
    samples_for,
)
from ui import charts, memo, nav, page_body, pickers, results, state, tables, text
from ui import format as fmt
from ui.figures_scaling import (
    budget_marks,
    data_constrained,
    fit_quality,
    frontier,
    inference_demand,
    inference_demand_shapes,
    isoflop,
    loss_contour,
    moe_granularity,
    overtraining_curve,
    precision_sweep,
    precision_sweep_shapes,
    with_layout,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "synthetic_runs_epoch.csv"
#: The example's point fit and first 1,000 refits, made by bench/example_fit.py (tests/test_scaling_page_cache.py
#: recomputes them): a new server process fitted them again (0.4 s, and up to 3 s of refits; issue 18).
EXAMPLE_FIT = EXAMPLE.with_name("synthetic_runs_epoch_fit.npz")
QUESTIONS = ("Budget → model", "Unique data → epochs and model", "Inference demand → model",
             "Mixture of experts", "Training precision", "Over-training a model", "Fit my own runs")


def _fit(digest: str, data: bytes, n_bootstrap: int):
    """``(runs, LossFit)`` of a runs CSV, ``fit_loss(runs, n_bootstrap)`` kept per (content digest, refits) in
    ``ui.memo`` (shared by sessions, read only): ``st.cache_data`` pickled the fit and its bootstrap refits in and out
    on every rerun (issue 18). Its steps are kept per file too: the fit of all runs (``point_fit``, about 0.1 s), and
    the most refits made so far (``bootstrap_refits``: the first k of any count are the same), so a new refit count
    fits nothing again below the largest one asked and only the refits past it above (0.6 ms each)."""
    def fit():
        with st.spinner("Fitting L(N, D)..."):
            runs = parse_runs_csv(data)
            check_fittable(runs)
            check_bootstrap(runs, n_bootstrap)  # fit_loss's order of refusals
            stored = memo.cached(("scaling.stored_fit", digest), lambda: stored_fit(digest, runs))
            p = memo.cached(("scaling.point_fit", digest), lambda: point_fit(runs) if stored is None else
                            stored_point_fit(runs, stored["theta"], stored["objective"]))
            # {"th": the most refits made}; grows, never shrinks
            made = memo.cached(("scaling.refits", digest), lambda: {} if stored is None else {"th": stored["refits"]})
            th = bootstrap_refits(p, n_bootstrap, have=made.get("th"))
            if len(th) > len(made.get("th", ())):
                made["th"] = th  # one assignment: a session racing this one stores the same rows
            return p.runs, with_refits(p, th)

    return memo.cached(("scaling.fit", digest, n_bootstrap), fit)


def stored_fit(digest: str, runs) -> dict | None:
    """``EXAMPLE_FIT``'s theta, objective and refits where ``digest`` is the sha256 of the file it was made from (the
    example CSV, or an upload of the same bytes) and ``runs`` are the runs it read, else None."""
    try:
        with np.load(EXAMPLE_FIT, allow_pickle=False) as z:
            if str(z["sha256"]) != digest or not all(np.array_equal(z[k], getattr(runs, k))
                                                     for k in ("params", "tokens", "loss")):
                return None
            return {"theta": z["theta"], "objective": float(z["objective"]), "refits": z["refits"]}
    except (OSError, KeyError, ValueError):
        return None


def or_stop(compute):
    """``compute()``, or its ``ValueError`` shown as the page's error and the run stopped there."""
    try:
        return compute()
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()


def band_text(band) -> str:
    return (f"10-90% band over {band.n_samples:,} bootstrap refits: N {fmt.count(band.params_low)} to "
            f"{fmt.count(band.params_high)}, D {fmt.count(band.tokens_low)} to {fmt.count(band.tokens_high)}, "
            f"loss {band.loss_low:.4f} to {band.loss_high:.4f}")


def compute_link(n: float, d: float, what: str) -> None:
    """'Open in Compute and cost' with N and D filled in (the Compute page's typed-N inputs, in billions)."""
    if 1e6 <= n <= 1e15 and 1e6 <= d <= 1e17:
        st.page_link(nav.page("app_pages/compute.py"), label=f"Open {what} in Compute and cost (N and D filled in)",
                     query_params={"csrc": "typed N", "cn": f"{n / 1e9:.6g}", "cd": f"{d / 1e9:.6g}",
                                   "gpu": pickers.current_gpu().name})


def _exponent_text(e: dict | None) -> str:
    if e is None:
        return ""
    return (f"10-90% band of the exponents as published (Hoffmann et al. 2022 Table 2): a {e['a_low']:.3f} to "
            f"{e['a_high']:.3f}, b {e['b_low']:.3f} to {e['b_high']:.3f}; the paper gives none for N or D, so no "
            "band on them.")


def three_metrics(n: float, d: float, loss: float | None, band=None, loss_label: str = "Predicted loss") -> None:
    # one horizontal row (one block sent), not three columns (four: the row and each column; issue 18)
    c1 = c2 = c3 = st.container(horizontal=True)
    c1.metric("Parameters N", fmt.count(n), help=None if band is None else
              f"10-90%: {fmt.count(band.params_low)} to {fmt.count(band.params_high)}")
    c2.metric("Training tokens D", fmt.count(d), help=f"{d / n:,.1f} tokens per parameter" + (
              "" if band is None else f"; 10-90%: {fmt.count(band.tokens_low)} to {fmt.count(band.tokens_high)}"))
    c3.metric(loss_label, "-" if loss is None else f"{loss:.4f}", help=None if band is None else
              f"10-90%: {band.loss_low:.4f} to {band.loss_high:.4f}")


def loss_curves(fits: list, budget: float) -> None:
    """Iso-FLOP curves (the budget's among them) and the loss contour of one fit's L(N, D): a fragment
    (``ui.page_body``), so their loss model reruns them only, not the page (issue 18)."""
    loss_fits = {f.label: f for f in fits if f.loss_model is not None}
    lpick = state.select("Loss model", "slm", list(loss_fits), list(loss_fits)[0], help="A fit with a loss L(N, D).")
    lf_ = loss_fits[lpick]
    budgets = sorted({1e19, 1e21, 1e23, 1e25, float(f"{budget:.2e}")})
    a, b = st.columns(2)
    with a:
        charts.show(st, charts.of(isoflop, lf_.loss_model, lpick, budgets), width="stretch")
    with b:
        charts.show(st, charts.of(loss_contour, lf_.loss_model, lpick, KNOWN_RUNS), width="stretch")


def compute_optimal_rows(fits: list, optima: list, budget: float) -> tuple[list[dict], list[str]]:
    """Every fit's optimum at ``budget``, its loss under the Chinchilla and Epoch fits and its band where the fit has
    refits, one record per fit; with the fits whose optimum lies outside those loss models' range (their loss cells
    left empty). Records, not a DataFrame: building one, mapping its columns and converting it to Arrow were most of
    a new budget's rerun (about 10 ms; issue 18); the CSV makes its DataFrame when clicked."""
    rows, outside = [], []
    for f, o in zip(fits, optima, strict=True):
        try:
            side = loss_predictions(o.params, o.tokens)
        except ValueError as exc:  # an optimum past the loss models' range (params > 1e16 from C of about 1e31)
            side = {"hoffmann": None, "epoch": None}
            outside.append(f"{f.label}: {text.md(exc, 300)}")
        b = band_at(f.key, budget)
        rows.append({"fit": f.label, "params N": o.params, "tokens D": o.tokens, "tokens / param": o.tokens_per_param,
                     "loss (own fit)": o.loss, "loss under Chinchilla fit": side["hoffmann"],
                     "loss under Epoch fit": side["epoch"], "params 10%": None if b is None else b.params_low,
                     "params 90%": None if b is None else b.params_high, "source": f.source})
    return rows, outside


def band_at(key: str, budget: float):
    """``optimum_band`` of fit ``key``'s refits at ``budget`` (None without refits), kept per (fit, budget): the
    answer's metrics and the table's row of the same fit share it (percentiles over 4,000 refits; issue 18)."""
    samples = samples_for(key)
    return None if samples is None else memo.cached(("scaling.optimum_band", key, budget),
                                                    lambda: optimum_band(samples, budget))


SCI_COLUMNS = ("params N", "tokens D", "params 10%", "params 90%")


def shown_rows(rows: list[dict]) -> list[dict]:
    """``rows`` with N, D and the band written as ``1.234e+10`` (empty where there is none)."""
    return [{**r, **{c: "" if r[c] is None or r[c] != r[c] else f"{r[c]:.3e}" for c in SCI_COLUMNS}} for r in rows]


def table_a3() -> pd.DataFrame:
    """Chinchilla Table A3 (Approach 3) against the closed form of the published constants (constant)."""
    h = get_fit("hoffmann")
    a3 = pd.DataFrame([{"params": r.params, "Table A3 (Approach 3) FLOPs": r.flops,
                        "closed form of the published constants": float(h.compute_for_params(r.params)),
                        "ratio": float(h.compute_for_params(r.params)) / r.flops}
                       for r in CHINCHILLA_TABLE_A3_APPROACH3])
    for c in ("params", "Table A3 (Approach 3) FLOPs", "closed form of the published constants"):
        a3[c] = a3[c].map("{:.3e}".format)
    return a3


#: The budgets the frontier chart draws (``ui.figures_scaling.frontier``'s default range): its Epoch band is the
#: same whatever the budget, so it is computed once (percentiles over 4,000 refits at 120 budgets: 14 ms).
FRONTIER_C = np.geomspace(1e18, 1e27, 120)


def data_constrained_figure(budget: float, unique_tokens: float):
    """``data_constrained`` over 25 budgets from a thousandth to a thousand times ``budget`` at ``unique_tokens``."""
    grid = np.geomspace(budget / 1e3, min(budget * 1e3, 1e32), 25)
    opts = [scaling_data.optimum(c, unique_tokens) for c in grid]
    law = scaling_data.MUENNIGHOFF
    return data_constrained(grid, np.array([p.loss for p in opts]),
                            np.array([float(law.loss(*p.unconstrained[:2])) for p in opts]),
                            np.array([p.epochs for p in opts]), np.array([p.params for p in opts]), budget, unique_tokens)


def epoch_frontier_band(c):
    band = memo.cached(("scaling.epoch_frontier_band",), lambda: frontier_band(samples_for("epoch"), FRONTIER_C))
    return band if np.array_equal(c, FRONTIER_C) else frontier_band(samples_for("epoch"), c)


def frontier_at(fits: list, budget: float) -> charts.FrozenFigure:
    """``frontier(fits, KNOWN_RUNS, budget, bands=Epoch's)``, from the figure without a budget (built once)."""
    base = charts.cached(("scaling.frontier", None), lambda: frontier(fits, KNOWN_RUNS, None,
                                                                       bands={"epoch": epoch_frontier_band}))
    return redrawn(base, **budget_marks(budget))


def redrawn(base, **layout) -> charts.FrozenFigure:
    """A figure kept by ``charts.cached`` (or built, where a test bypasses that cache) with ``layout`` entries
    replaced, as a ``FrozenFigure``: Plotly validates nothing again (issue 18)."""
    d = (base.to_dict() if isinstance(base, charts.FrozenFigure) else base if isinstance(base, dict)
         else charts.prepared_dict(base))
    return charts.FrozenFigure.from_dict(with_layout(d, **layout))


st.title("Scaling laws")
st.caption("Pick the question, give the budget: each answer names the law, its source and, where the law has "
           "bootstrap refits, the 10-90% band.")


def _page() -> None:
    """Everything between the title and the formulas: one fragment, so a change of the page's own inputs reruns it
    alone, not the sidebar and navigation (ui/page_body.py, issue 18)."""
    # ----- budget ----------------------------------------------------------------------------------
    src = state.select("Budget from", "sbs", ["FLOPs", "GPUs x days"], "GPUs x days", radio=True,
                       help="Type a FLOP budget, or derive it from GPUs x days on the sidebar GPU at an MFU.")
    gpu = pickers.current_gpu()
    if src == "FLOPs":
        budget = state.number("Compute budget C (FLOPs)", "sc", 1e23, 1e15, 1e32, help="Training FLOPs (6ND).",
                              fmt="%.3e")
        how = "typed"
    else:
        c1 = c2 = c3 = st.container(horizontal=True)  # one block, not four (issue 18)
        gpus = state.number("GPUs", "sg", 256, 1, 10_000_000, help=f"Number of {gpu.name} (sidebar).", where=c1)
        days = state.number("Days", "sd", 30.0, 0.01, 36_500.0, step=1.0, help="Wall-clock days of training.", where=c2)
        mfu = state.number("MFU", "smfu", 0.40, 0.01, 1.0, step=0.01, fmt="%.2f", where=c3,
                           help="Share of the bf16 dense peak sustained (see the Compute and cost page).")
        peak = gpu.peak("bf16") or gpu.peak("fp16") or gpu.peak("fp32")
        budget = or_stop(lambda: compute_budget_flops(gpus, days, peak * mfu))
        how = f"{gpus:,} x {gpu.name} x {days:g} days x {peak / 1e12:g} TFLOP/s x MFU {mfu:.2f}"
    st.metric("Budget", f"{budget:.3e} FLOPs", help=how)
    question = state.select("Question", "sq", QUESTIONS, QUESTIONS[0], radio=True,
                            help="Budget → model: the compute-optimal size under each published fit. Unique data: "
                                 "repeated epochs (Muennighoff et al. 2023). Inference demand: the cheapest model over "
                                 "its lifetime (Sardana et al. 2024). Experts: fine-grained MoE (Krajewski et al. 2024). "
                                 "Precision: the bits to train in (Kumar et al. 2024). Over-training: the cost of "
                                 "training past the optimum. Your own runs: fit the law to them.")
    page_body.fragment(_answer)(question, budget)


def _answer(question: str, budget: float) -> None:
    """The question's inputs, answer and chart at ``budget``, with the results' share block: a fragment inside the
    page's, so an input of the question (a fit, a demand, the bits...) reruns this part alone, not the budget's inputs
    above it (issue 18)."""
    sent = charts.CSS_SENT.set(True)  # drawn before the page's fragment (ui/page_body.run), kept through this one's reruns
    try:
        _answer_body(question, budget)
    finally:
        charts.CSS_SENT.reset(sent)


def _answer_body(question: str, budget: float) -> None:
    res: dict = {"budget": (budget, "flops")}

    # ----- budget -> model -------------------------------------------------------------------------------
    if question == QUESTIONS[0]:
        fits = [get_fit(k) for k in FIT_KEYS]
        optima = or_stop(lambda: memo.cached(("scaling.optima", budget), lambda: [optimum(f, budget) for f in fits]))
        pick = state.select("Fit", "sfit", list(FIT_KEYS), "epoch",
                            help="The law whose answer is shown large; the table lists every fit. epoch "
                                 "(Besiroglu et al. 2024) carries the authors' bootstrap band, gadre ours over the paper's released runs.")
        chosen = optima[FIT_KEYS.index(pick)]
        band = band_at(pick, budget)  # per fit and budget, shared with the table's row (issue 18)
        three_metrics(chosen.params, chosen.tokens, chosen.loss, band)
        st.caption(f"{get_fit(pick).label}: {get_fit(pick).source}. "
                   + (band_text(band) + f" ({BAND_ORIGIN[pick]})." if band else
                      _exponent_text(published_exponent_band(pick)) or "No published refits for this fit, so no band."))
        compute_link(chosen.params, chosen.tokens, "this model")
        res.update({"params": (chosen.params, "count"), "tokens": (chosen.tokens, "count")})
        # the table, its display form and Arrow conversion depend on the budget only: built once per budget, the Arrow
        # table straight from the records (tables.records_arrow; issue 18)
        rows, outside = memo.cached(("scaling.compute_optimal", budget), lambda: compute_optimal_rows(fits, optima, budget))
        if outside:
            st.error("No loss under the Chinchilla / Epoch fits for optima outside their range (left empty): "
                     + "; ".join(outside[:2]) + ("; ..." if len(outside) > 2 else ""))
        shown = memo.cached(("scaling.compute_optimal_arrow", budget), lambda: tables.records_arrow(shown_rows(rows)))
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            "tokens / param": st.column_config.NumberColumn(format="%.1f"),
            **{c: st.column_config.NumberColumn(format="%.4f")
               for c in ("loss (own fit)", "loss under Chinchilla fit", "loss under Epoch fit")}})
        st.download_button("Download CSV", lambda: memo.cached(("scaling.compute_optimal_csv", budget),
                                                               lambda: fmt.csv(pd.DataFrame(rows))),
                           file_name="compute_optimal.csv", mime="text/csv")
        st.caption("Loss is in nats per token on each paper's data (MassiveText for Chinchilla/Epoch/Sardana, C4 for "
                   "Muennighoff, C4 eval of RedPajama models for Gadre): trends, not your data set's loss. Fits "
                   "without a loss model (projections, Kaplan, the 20x rule) show none of their own.")
        # the fits, the published runs and the Epoch refits are constant: the figure is built once (its band alone is
        # 14 ms), and each budget adds its dashed line and label to the frozen dict, Plotly validating nothing (issue 18)
        charts.show(st, frontier_at(fits, budget), width="stretch")
        st.caption("Source of each line: the table's last column. Shaded: the Epoch refit's 10-90% band "
                   "(Besiroglu et al. 2024, 4,000 bootstrap refits; their published 95% intervals are reproduced).")
        # Lazy expanders (issue 18): their charts and tables (the contour alone is ~200 kB) are built and sent only while
        # the expander is open, not on every rerun of the page with the expander closed.
        curves = st.expander("Iso-FLOP curves and the loss contour", key="sx_curves", on_change="rerun")
        if curves.open:
            with curves:
                page_body.run(lambda: loss_curves(fits, budget), "scaling_loss_curves")
        origins = st.expander("Where each fit comes from, and where they disagree", key="sx_fits", on_change="rerun")
        if origins.open:
            with origins:
                for f in fits:
                    st.markdown(f"- **{f.label}** ({f.source}): {f.note} N_opt = {f.coef:.4g} x C^{f.exponent:.4f}.")
                st.markdown("The parametric fit's closed form does not reproduce the paper's own Table A3 (Approach 3): "
                            "for the same model size it needs more compute:")
                st.dataframe(tables.arrow("scaling.table_a3", table_a3), hide_index=True,
                             column_config={"ratio": st.column_config.NumberColumn(format="%.2f")})
                st.markdown("Table A3 prints 1.26e24 FLOPs for 175B under Approach 3; 6 x 175e9 x 12.0e12 = 1.26e25, so we "
                            "use 1.26e25. The projections' coefficients are least-squares fits of ln N on ln C through "
                            "Table 3 / A3 (the paper gives only the exponents), leaving out the 67B rows.")

    # ----- unique data -> epochs and model ------------------------------------------------------------------
    elif question == QUESTIONS[1]:
        u_b = state.number("Unique tokens U (billions)", "su", 1000.0, 0.001, 1e8, fmt="%.3f",
                           help="Distinct tokens you have; training repeats them for more epochs.")
        o = or_stop(lambda: scaling_data.optimum(budget, u_b * 1e9))
        three_metrics(o.params, o.tokens, o.loss)
        e1 = e2 = st.container(horizontal=True)  # one block, not 3 (issue 18)
        e1.metric("Epochs", f"{o.epochs:,.2f}", help=f"D / U; the last epoch adds {o.marginal_epoch_value:.0%} of what "
                  "a fresh epoch would")
        n0, d0, l0 = o.unconstrained
        e2.metric("Loss with unlimited unique data", f"{l0:.4f}", delta=f"{o.loss - l0:+.4f} from repetition",
                  delta_color="inverse", help=f"{fmt.count(n0)} params on {fmt.count(d0)} fresh tokens")
        stop = scaling_data.epochs_until_value(0.1)
        st.info(f"More epochs stop paying: the 4th epoch still adds {scaling_data.epoch_value(4):.0%} of a fresh one, "
                f"the 16th {scaling_data.epoch_value(16):.0%}, and past {stop:.0f} epochs each adds under 10% "
                f"(R_D* = {scaling_data.R_D_STAR:.1f}). Beyond that, spend compute on parameters or more data.")
        compute_link(o.params, o.tokens, "this run")
        # the 25-budget sweep (a bounded search each, half of such a rerun) and its figure depend on the budget and U
        # only: kept per (budget, U), so a sidebar change or a return to the question reuses them (issue 18)
        charts.show(st, charts.cached(("scaling.data_constrained", budget, o.unique_tokens),
                                      lambda: data_constrained_figure(budget, o.unique_tokens)), width="stretch")
        st.caption(f"Source: {scaling_data.SOURCE}. L(N, D, U) with repeated tokens and excess parameters discounted "
                   "(R_D* = 15.4, R_N* = 5.3); loss in C4 nats. The paper publishes no intervals, so no band.")
        res.update({"params": (o.params, "count"), "tokens": (o.tokens, "count"), "epochs": (o.epochs, "number")})

    # ----- inference demand -> model -----------------------------------------------------------------------
    elif question == QUESTIONS[2]:
        c1 = c2 = st.container(horizontal=True)  # one block, not 3 (issue 18)
        inf_b = state.number("Expected inference tokens (billions)", "sinf", 2000.0, 0.0, 1e9, fmt="%.1f", where=c1,
                             help="Tokens generated or processed over the model's lifetime.")
        loss_keys = [k for k in FIT_KEYS if get_fit(k).loss_model is not None]
        ikey = state.select("Loss model", "sil", loss_keys, "sardana", where=c2,
                            help="sardana: the Chinchilla form with the constants Sardana et al. 2024 used (alpha 0.336, "
                                 "beta 0.283); their Figure 1 is reproduced with it.")
        f2 = get_fit(ikey)
        target = optimum(f2, budget).loss
        ia = or_stop(lambda: inference_aware_optimum(f2, target, inf_b * 1e9))
        three_metrics(ia.params, ia.tokens, target, loss_label="Target loss")
        i1 = i2 = st.container(horizontal=True)  # one block, not 3 (issue 18)
        i1.metric("Lifetime FLOPs saved", f"{ia.saving:.1%}", help=f"{ia.chinchilla_total_flops - ia.total_flops:.2e} "
                  f"FLOPs: {ia.total_flops:.3e} against {ia.chinchilla_total_flops:.3e}")
        i2.metric("Against the compute-optimal model", f"{ia.params / ia.chinchilla.params - 1:+.0%} params",
                  help=f"Compute-optimal for this loss: {fmt.count(ia.chinchilla.params)} params on "
                       f"{fmt.count(ia.chinchilla.tokens)} tokens")
        s_inf = samples_for(ikey)
        if s_inf is not None:
            # memoized per input (issue 18): a golden-section search on every refit at once, a sixth of the rerun
            ib = memo.cached(("scaling.inference_band", ikey, budget, inf_b),
                             lambda: inference_aware_band(s_inf, budget, inf_b * 1e9))
            st.caption(f"10-90% band over {ib.n_samples:,} bootstrap refits (each with its own target loss): N "
                       f"{fmt.count(ib.params_low)} to {fmt.count(ib.params_high)}, D {fmt.count(ib.tokens_low)} to "
                       f"{fmt.count(ib.tokens_high)}, saving {ib.saving_low:.1%} to {ib.saving_high:.1%} "
                       f"({BAND_ORIGIN[ikey]}).")
        compute_link(ia.params, ia.tokens, "this model")
        demand = np.geomspace(1e9, 1e16, 29)
        # the sweep depends on the law and its target (the budget's), not on the demand typed: kept per (law, budget)
        sweep = memo.cached(("scaling.inference_sweep", ikey, budget),
                            lambda: tuple(inference_aware_optimum(f2, target, t) for t in demand))
        # the figure depends on the law and the budget; the demand typed moves its dashed line only: a cached figure
        # redrawn with the lines of this demand, Plotly validating nothing (4-7 ms a rerun before; issue 18)
        base = charts.cached(("scaling.inference_demand", ikey, budget), lambda: inference_demand(
            demand, np.array([s.params for s in sweep]), np.array([s.saving for s in sweep]), ia.chinchilla.params,
            max(inf_b * 1e9, 1e9)))
        charts.show(st, redrawn(base, shapes=inference_demand_shapes(ia.chinchilla.params, max(inf_b * 1e9, 1e9))),
                    width="stretch")
        st.caption(f"Source: Sardana et al. 2024 (arXiv 2401.00448) eq. 2: minimise 6ND_tr + 2ND_inf at the loss the "
                   f"budget's compute-optimal model reaches; law: {f2.label} ({f2.source})."
                   + ("" if s_inf is not None else " This law has no published refits, so no band."))
        res.update({"params": (ia.params, "count"), "tokens": (ia.tokens, "count"), "saving": (ia.saving, "ratio")})

    # ----- mixture of experts -------------------------------------------------------------------------------
    elif question == QUESTIONS[3]:
        g_opts = ["optimal", *[str(g) for g in scaling_moe.GRANULARITIES]]
        g_pick = state.select("Granularity G", "sgr", g_opts, "optimal",
                              help="d_ff / d_expert: each expert split into G smaller ones (a token visits G). "
                                   "'optimal' searches powers of two. Expansion rate E = 64 (the law's).")
        # per (budget, G) (issue 18): the dense optimum and the searches over sizes and granularities are a third of
        # such a rerun, and a sidebar change or a return to the question left them as they were
        mo, dense = or_stop(lambda: memo.cached(("scaling.moe", budget, g_pick), lambda: (
            scaling_moe.optimum(budget, None if g_pick == "optimal" else float(g_pick)),
            scaling_moe.dense_optimum(budget))))
        m1 = m2 = m3 = m4 = st.container(horizontal=True)  # one block, not 5 (issue 18)
        m1.metric("Granularity G", f"{mo.granularity:g}", help=f"{mo.experts:,.0f} experts per layer (G x E)")
        m2.metric("Active parameters", fmt.count(mo.active_params), help=f"{fmt.count(mo.params)} total (non-embedding)")
        m3.metric("Training tokens D", fmt.count(mo.tokens))
        m4.metric("Predicted loss", f"{mo.loss:.4f}", delta=f"{mo.loss - dense[2]:+.4f} vs dense", delta_color="inverse",
                  help=f"Dense at the same FLOPs: {fmt.count(dense[0])} params, loss {dense[2]:.4f}")
        try:
            dense_c = memo.cached(("scaling.moe_dense_flops", mo.loss), lambda: scaling_moe.dense_flops_for_loss(mo.loss))
            st.caption(f"A dense model needs {dense_c / budget:.1f}x this budget to reach the same loss (Table 1's dense "
                       "law).")
        except ValueError as exc:
            st.caption(text.md(exc, 1000))
        compute_link(mo.active_params, mo.tokens, "this MoE (active parameters)")
        charts.show(st, charts.cached(("scaling.moe_granularity", budget, g_pick), lambda: moe_granularity(
            mo.by_granularity if g_pick == "optimal" else scaling_moe.optimum(budget).by_granularity, dense[2],
            mo.granularity)), width="stretch")
        st.caption(f"Source: {scaling_moe.SOURCE}. Loss per granularity at this budget (each at its best size); "
                   "routing FLOPs grow with G. Appendix C's bootstrap intervals are not reproduced here, so no band.")
        res.update({"active params": (mo.active_params, "count"), "tokens": (mo.tokens, "count"),
                    "granularity": (mo.granularity, "number")})

    # ----- precision -----------------------------------------------------------------------------------------
    elif question == QUESTIONS[4]:
        bits = state.number("Training precision (bits)", "sp", 16.0, 4.0, 32.0, step=1.0, fmt="%.1f",
                            help="Weights, activations and KV cache in the forward pass (integer type, as fitted; below 4 bits "
                                 "the paper's runs with 3-bit activations diverged).")
        # memoized per budget (issue 18): each is a bounded Brent search (the best precision nests one in another), and
        # a change of the bits alone left the budget's optimum and its 49-point sweep as they were
        po, best = or_stop(lambda: (scaling_precision.optimum(budget, bits),
                                    memo.cached(("scaling.precision_best", budget), lambda: scaling_precision.optimum(budget))))
        three_metrics(po.params, po.tokens, po.loss)
        p1 = p2 = st.container(horizontal=True)  # one block, not 3 (issue 18)
        p1.metric("Compute-optimal precision", f"{best.bits:.1f} bits", help=f"loss {best.loss:.4f} with "
                  f"{fmt.count(best.params)} params on {fmt.count(best.tokens)} tokens")
        p2.metric("Effective parameters", fmt.count(po.effective_params),
                  help=f"N_eff / N = {po.effective_params / po.params:.3f} at {bits:g} bits")
        compute_link(po.params, po.tokens, "this run")
        sweep_bits = np.linspace(4.0, 16.0, 49)
        sweep_loss = memo.cached(("scaling.precision_sweep", budget),
                                 lambda: np.array([scaling_precision.optimum(budget, b).loss for b in sweep_bits]))
        # per budget, like the sweep; the bits typed move one dashed line (issue 18)
        base = charts.cached(("scaling.precision_sweep", budget),
                             lambda: precision_sweep(sweep_bits, sweep_loss, best.bits, bits))
        charts.show(st, redrawn(base, shapes=precision_sweep_shapes(best.bits, bits)), width="stretch")
        st.caption(f"Source: {scaling_precision.SOURCE}. Compute C = (6/16) N D P; constants fitted on 30M-220M "
                   "models (Dolma nats): the paper stresses the trend, not the numbers. No published intervals, so no band.")
        res.update({"params": (po.params, "count"), "tokens": (po.tokens, "count"), "bits": (best.bits, "number")})

    # ----- over-training ----------------------------------------------------------------------------------
    elif question == QUESTIONS[5]:
        loss_keys = [k for k in FIT_KEYS if get_fit(k).loss_model is not None]
        okey = state.select("Loss model", "slm2", loss_keys, "epoch",
                            help="gadre: Gadre et al. 2024's over-training law, refitted on their small runs; it "
                                 "predicts their held-out 32x over-trained 1.4B model within 0.71%.")
        f2 = get_fit(okey)
        c1 = c2 = st.container(horizontal=True)  # one block, not 3 (issue 18)
        n_b = state.number("Parameters N (billions)", "son", 8.03, 0.001, 1e6, fmt="%.3f", where=c1,
                           help="Model size; default Llama-3-8B (8,030,261,248).")
        d_b = state.number("Tokens D (billions)", "sod", 15_000.0, 0.001, 1e8, fmt="%.1f", where=c2,
                           help="Training tokens; default Llama 3's 15T.")
        ot = or_stop(lambda: overtraining(f2, n_b * 1e9, d_b * 1e9))
        m1 = m2 = m3 = m4 = st.container(horizontal=True)  # one block, not 5 (issue 18)
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
                  help=f"2N; the compute-optimal model of the same loss has {fmt.count(n_same)} params")
        s = samples_for(okey)
        if s is not None:
            # per (law, N, D) (issue 18): every refit's loss, once for both percentiles
            lo, hi = memo.cached(("scaling.overtraining_band", okey, ot.params, ot.tokens),
                                 lambda: np.percentile(s.loss(ot.params, ot.tokens), [10, 90]))
            st.caption(f"10-90% band of this run's loss over {len(s):,} bootstrap refits: {lo:.4f} to {hi:.4f} "
                       f"({BAND_ORIGIN[okey]}).")
        else:
            st.caption(f"{f2.label} has no published refits, so no band (the epoch and gadre laws have one).")
        compute_link(ot.params, ot.tokens, "this run")
        charts.show(st, charts.of(overtraining_curve, f2.loss_model, ot.params, ot.tokens, okey), width="stretch")
        st.caption(f"Source: {f2.label} ({f2.source}). Over-training overhead = 6ND / least compute reaching the same "
                   "loss on the frontier.")
        res.update({"loss": (ot.loss, "number"), "overhead": (ot.compute_overhead, "number")})

    # ----- your runs ----------------------------------------------------------------------------------------
    else:
        st.markdown("Upload runs you trained (one row per run: `params`, `tokens`, `loss` in nats per token) and fit "
                    "$L(N, D) = E + A/N^\\alpha + B/D^\\beta$ the way Chinchilla Appendix D.2 did: Huber loss "
                    "($\\delta = 10^{-3}$) on $\\ln L$, L-BFGS from the paper's grid of starts; then bootstrap refits "
                    "(runs resampled with replacement, all refitted at once) for the 10-90% band.")
        up = st.file_uploader("Runs CSV", type=["csv"], help=f"At most {MAX_CSV_BYTES:,} bytes and {MAX_ROWS:,} runs; "
                              "columns params, tokens, loss (any order, case-insensitive).")
        use_example = state.toggle("Use the example runs (synthetic, drawn from the Epoch AI fit with 1% noise)",
                                   "sex", False, help="56 runs on an 8 x 7 grid of sizes and tokens-per-parameter.")
        n_boot = state.number("Bootstrap refits", "sbn", 100, 0, 1000, help="More refits: a steadier band (100 refits "
                              "of 50 runs take about 0.1 s; refits x runs at most 1,000,000).")
        data = up.getvalue() if up is not None else (EXAMPLE.read_bytes() if use_example else None)
        if EXAMPLE.exists():
            st.download_button("Download the example CSV", EXAMPLE.read_bytes(), file_name=EXAMPLE.name, mime="text/csv")
        if data is None:
            st.info("Upload a CSV or switch on the example runs.")
        else:
            name = text.md(up.name if up is not None else EXAMPLE.name, 80)  # a file name is untrusted text
            try:
                digest = hashlib.sha256(data).hexdigest()
                runs, lf = _fit(digest, data, int(n_boot))
                yours = fit_from_loss(lf.loss, "yours", f"Your fit ({lf.n_runs} runs)", name)
                o = optimum(yours, budget)
            except ValueError as exc:
                st.error(f"{name}: {text.md(exc, 1000)}")  # shown as text; the rest of the page stays
            else:
                for w in lf.warnings:
                    st.warning(w)
                band = optimum_band(lf.samples, budget) if lf.samples is not None else None
                three_metrics(o.params, o.tokens, o.loss, band, loss_label="Your predicted loss")
                st.caption(band_text(band) if band else "Bootstrap refits off: no band.")
                compute_link(o.params, o.tokens, "your optimum")
                law = lf.loss
                st.dataframe(pd.DataFrame([{"constant": k, "fitted": getattr(law, k) if k != "a" else law.a,
                                            "10th pct": lf.intervals.get(k, (None, None))[0],
                                            "90th pct": lf.intervals.get(k, (None, None))[1]}
                                           for k in ("E", "A", "B", "alpha", "beta", "a")]),
                             hide_index=True, width="stretch",
                             column_config={c: st.column_config.NumberColumn(format="%.4g")
                                            for c in ("fitted", "10th pct", "90th pct")})
                a, b = st.columns(2)
                with a:
                    bands = {"yours": lambda c: frontier_band(lf.samples, c)} if lf.samples is not None else {}
                    # both figures depend on the runs, the refits, the budget and the file's name only (issue 18)
                    charts.show(st, charts.cached(("scaling.your_frontier", digest, int(n_boot), budget, name),
                                                  lambda: frontier([yours, get_fit("epoch")], KNOWN_RUNS, budget,
                                                                   bands=bands)), width="stretch")
                with b:
                    charts.show(st, charts.cached(("scaling.fit_quality", digest, int(n_boot)),
                                                  lambda: fit_quality(runs, law)), width="stretch")
                st.caption(f"Source: your runs ({name}); method of Hoffmann et al. 2022 App. D.2. RMS residual of ln L "
                           f"{lf.rms_log_residual:.4f}. Extrapolating far beyond the largest run is a guess.")
                res.update({"params": (o.params, "count"), "tokens": (o.tokens, "count")})

    results.publish("scaling", res)


page_body.run(_page, "scaling")


with st.expander("Formulas", key="sx_formulas", on_change="rerun") as formulas:
    if formulas.open:  # lazy (issue 18): a closed expander's content is neither built nor sent on a full rerun
        st.markdown(r"""
    - Compute-optimal frontier of $L = E + A/N^\alpha + B/D^\beta$ under $C = 6ND$ (Hoffmann et al. 2022 eq. 4):
      $N_{opt} = G (C/6)^{a}$, $G = (\alpha A / \beta B)^{1/(\alpha+\beta)}$, $a = \beta/(\alpha+\beta)$.
    - Repetition (Muennighoff et al. 2023 eq. 5-6): $D' = U + U R_D^* (1 - e^{-R_D/R_D^*})$, $R_D = D/U - 1$;
      $N' = U_N + U_N R_N^* (1 - e^{-R_N/R_N^*})$, $U_N = \min(N, N_{opt}(U))$; one more epoch adds $e^{-R_D/R_D^*}$ of a
      fresh one.
    - Inference-aware (Sardana et al. 2024 eq. 2): minimise $6ND_{tr} + 2ND_{inf}$ on $L(N, D_{tr}) = $ target.
    - MoE (Krajewski et al. 2024 eq. 9-10): $L = c + (g/G^\gamma + a)/N^\alpha + b/D^\beta$; FLOPs
      $(12 d^2 c_f + d E G c_r) D n_{blocks}$, $d = 64 n_{blocks}$, $c_f = 6$, $c_r = 14$.
    - Precision (Kumar et al. 2024 eq. 3-5): $N_{eff} = N \prod_x (1 - e^{-P/\gamma_x + n_x})$, $C = \frac{6}{16} NDP$.
    - Bands: 10th-90th percentile across bootstrap refits (Besiroglu et al. 2024's 4,000 for the Epoch fit; a residual
      bootstrap over Gadre et al.'s 24 released over-training runs for gadre; yours). Krajewski et al. (MoE) and Kumar et
      al. (precision) publish neither intervals nor their runs, so those answers have no band.
    """)
