"""Pure Plotly figure builders for the Scaling laws page (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from calc.fit import Runs
from calc.scaling import KnownRun, ParametricLoss, ScalingFit
from ui.figures_spec import spec
from ui.plot import figure, hline, vline

COLORS = {"approach1": "#4C78A8", "approach2": "#72B7B2", "approach3": "#54A24B", "hoffmann": "#F58518",
          "epoch": "#E45756", "kaplan": "#B279A2", "rule20": "#9D755D", "yours": "#000000", "sardana": "#EECA3B",
          "muennighoff": "#FF9DA6", "gadre": "#8C6D31"}
DASH = {"rule20": "dot", "kaplan": "dash"}
#: Label placement for published models that sit close together on the charts.
LABEL_POS = {"GPT-3 175B": "bottom left", "Gopher 280B": "top left", "MT-NLG 530B": "middle right",
             "Chinchilla 70B": "bottom right", "Llama-3-70B": "middle right"}


def _positions(known: tuple[KnownRun, ...], default: str) -> list[str]:
    return [LABEL_POS.get(r.name, default) for r in known]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def frontier(fits: list[ScalingFit], known: tuple[KnownRun, ...], budget: float | None,
             flops_range: tuple[float, float] = (1e18, 1e27), bands: dict | None = None) -> go.Figure:
    """Compute-optimal N against C (log-log) for each fit, with published models at C = 6ND.

    ``bands`` maps a fit key to a function C -> (low, high) arrays: shaded as that fit's 10th-90th percentile."""
    c = np.geomspace(*flops_range, 120)
    data = []
    for key, band in (bands or {}).items():
        lo, hi = band(c)
        data.append(dict(type="scatter", x=np.concatenate([c, c[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                         fill="toself", fillcolor=_rgba(COLORS.get(key, "#333333"), 0.18), line=dict(width=0),
                         hoverinfo="skip", name=f"{key}: 10-90% band"))
    data += [dict(type="scatter", x=c, y=f.params_for_compute(c), mode="lines", name=f.label,
                 line=dict(color=COLORS.get(f.key, "#333"), dash=DASH.get(f.key, "solid"), width=2),
                 hovertemplate=f.label + "<br>C=%{x:.2e}: N=%{y:.3s}<extra></extra>") for f in fits]
    data.append(dict(type="scatter", x=[r.flops for r in known], y=[r.params for r in known], mode="markers+text",
                     name="published models", text=[r.name for r in known],
                     textposition=_positions(known, "middle right"), textfont=dict(size=11),
                     marker=dict(symbol="diamond", size=10, color="#222"), customdata=[r.tokens for r in known],
                     hovertemplate="%{text}<br>N=%{y:.3s}, D=%{customdata:.3s}, 6ND=%{x:.2e}<extra></extra>"))
    marks = budget_marks(budget) if budget is not None else {}
    return figure(data, dict(**marks, xaxis_type="log", yaxis_type="log", xaxis_title="training compute C (FLOPs)",
                             yaxis_title="compute-optimal parameters N", xaxis_exponentformat="e",
                             yaxis_exponentformat="e", height=520, legend=dict(orientation="h", y=-0.18),
                             margin=dict(l=10, r=10, t=10, b=10)))


def budget_marks(budget: float) -> dict:
    """The dashed line at ``budget`` and its label: all of ``frontier``'s figure that depends on the budget."""
    return dict(shapes=[vline(budget, dict(color="#666", dash="dash"))],
                annotations=[dict(x=float(np.log10(budget)), y=1, yref="paper", text="your budget", showarrow=False,
                                  xanchor="right", yanchor="top", font=dict(color="#444"))])


def with_layout(fig: dict, **layout) -> dict:
    """A figure's dict with ``layout`` entries replaced; the rest (traces, other layout entries) shared, not copied:
    a cached figure redrawn at another budget without Plotly validating its traces again."""
    return {**fig, "layout": {**fig.get("layout", {}), **layout}}


def isoflop(law: ParametricLoss, label: str, budgets: list[float], n_range: tuple[float, float] = (1e7, 1e13)) -> go.Figure:
    """Loss against N at fixed compute (D = C / 6N) for several budgets, each minimum marked."""
    data = []
    n = np.geomspace(*n_range, 300)
    palette = ["#4C78A8", "#72B7B2", "#54A24B", "#EECA3B", "#F58518", "#E45756", "#B279A2"]
    for i, c in enumerate(budgets):
        d = c / (6.0 * n)
        keep = (d >= 1e8) & (d <= 1e15)  # leave out runs of fewer than 1e8 or absurdly many tokens
        loss = law.loss(n[keep], d[keep])
        color = palette[i % len(palette)]
        data.append(dict(type="scatter", x=n[keep], y=loss, mode="lines", name=f"C = {c:.2g}", line=dict(color=color),
                         hovertemplate=f"C={c:.1e}<br>N=%{{x:.3s}}: loss %{{y:.4f}}<extra></extra>"))
        n_opt = float(law.optimal_params(c))
        data.append(dict(type="scatter", x=[n_opt], y=[float(law.loss(n_opt, c / (6 * n_opt)))], mode="markers",
                         marker=dict(color=color, size=9, line=dict(color="#000", width=1)), showlegend=False,
                         hovertemplate=f"optimum at C={c:.1e}: N=%{{x:.3s}}, loss %{{y:.4f}}<extra></extra>"))
    return figure(data, dict(xaxis_type="log", xaxis_title="parameters N", yaxis_title=f"predicted loss ({label})",
                             xaxis_exponentformat="e", height=430, legend=dict(orientation="h", y=-0.2),
                             margin=dict(l=10, r=10, t=10, b=10)))


def loss_contour(law: ParametricLoss, label: str, known: tuple[KnownRun, ...],
                 n_range: tuple[float, float] = (1e8, 1e13), d_range: tuple[float, float] = (1e9, 1e14)) -> go.Figure:
    """Contours of L(N, D) over log N x log D, the closed-form frontier and iso-FLOP lines, models marked."""
    ln = np.linspace(np.log10(n_range[0]), np.log10(n_range[1]), 120)
    ld = np.linspace(np.log10(d_range[0]), np.log10(d_range[1]), 120)
    z = law.loss(10.0 ** ln[None, :], 10.0 ** ld[:, None])
    data = [dict(type="contour", x=ln, y=ld, z=z, colorscale="Blues",
                 contours=dict(showlabels=True, labelfont=dict(size=10)), colorbar=dict(title="loss"),
                 hovertemplate="log10 N=%{x:.2f}, log10 D=%{y:.2f}: loss %{z:.4f}<extra></extra>", ncontours=18)]
    c = np.geomspace(6 * n_range[0] * d_range[0], 6 * n_range[1] * d_range[1], 60)
    n_opt = law.optimal_params(c)
    d_opt = c / (6 * n_opt)
    data.append(dict(type="scatter", x=np.log10(n_opt), y=np.log10(d_opt), mode="lines",
                     name="compute-optimal frontier", line=dict(color="#E45756", width=3)))
    notes = []
    for budget in (1e20, 1e22, 1e24, 1e26):
        nn = np.array(n_range)
        data.append(dict(type="scatter", x=np.log10(nn), y=np.log10(budget / (6 * nn)), mode="lines", showlegend=False,
                         line=dict(color="#555", dash="dot", width=1), hoverinfo="skip"))
        x_lab = np.log10(n_range[0]) + 0.3
        y_lab = np.log10(budget / (6 * n_range[0] * 10 ** 0.3))
        if ld[0] < y_lab < ld[-1]:
            notes.append(dict(x=x_lab, y=y_lab, text=f"C={budget:.0e}", showarrow=False,
                              font=dict(color="#333", size=10), bgcolor="rgba(255,255,255,0.6)"))
    data.append(dict(type="scatter", x=[np.log10(r.params) for r in known], y=[np.log10(r.tokens) for r in known],
                     mode="markers+text", text=[r.name for r in known], textposition=_positions(known, "top center"),
                     textfont=dict(color="#111", size=11), marker=dict(symbol="diamond", size=9, color="#111"),
                     name="published models", hovertemplate="%{text}<extra></extra>"))
    return figure(data, dict(annotations=notes, xaxis_title="log10 parameters N",
                             yaxis_title="log10 training tokens D", xaxis_range=[ln[0], ln[-1]],
                             yaxis_range=[ld[0], ld[-1]], height=520,
                             title=dict(text=label, x=0.01, y=0.98, font=dict(size=13)),
                             legend=dict(orientation="h", y=-0.15), margin=dict(l=10, r=10, t=30, b=10)))


def fit_quality(runs: Runs, law: ParametricLoss) -> go.Figure:
    """Observed against fitted loss for uploaded runs (a perfect fit lies on the diagonal)."""
    pred = law.loss(runs.params, runs.tokens)
    lo, hi = float(min(pred.min(), runs.loss.min())), float(max(pred.max(), runs.loss.max()))
    data = [dict(type="scatter", x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#999", dash="dot"),
                 showlegend=False, hoverinfo="skip"),
            dict(type="scatter", x=runs.loss, y=pred, mode="markers",
                 marker=dict(color=np.log10(runs.params), colorscale="Viridis", size=8, colorbar=dict(title="log10 N")),
                 customdata=np.stack([runs.params, runs.tokens], axis=1), showlegend=False,
                 hovertemplate="N=%{customdata[0]:.3s}, D=%{customdata[1]:.3s}<br>observed %{x:.4f}, "
                               "fitted %{y:.4f}<extra></extra>")]
    return figure(data, dict(xaxis_title="observed loss", yaxis_title="fitted loss", height=380,
                             margin=dict(l=10, r=10, t=10, b=10)))


def _layout(**kw) -> dict:
    return dict(margin=dict(l=10, r=10, t=10, b=10), **kw)


def _floats(a) -> list:
    """An array as a list of Python numbers (``ui.figures_spec``: the dict sent, not validated)."""
    return a.tolist() if hasattr(a, "tolist") else list(a)


def _title(text: str) -> dict:
    return {"title": {"text": text}}


# The charts below change with the budget (or the inputs of their question): written as Plotly's own dict
# (ui/figures_spec.py) instead of a validated go.Figure, 3-5 ms a new budget each (issue 18); tests/test_figures_spec.py
# holds each to what Plotly makes of it.

def data_constrained(budgets: np.ndarray, loss_limited: np.ndarray, loss_unlimited: np.ndarray, epochs: np.ndarray,
                     params: np.ndarray, budget: float, unique_tokens: float) -> dict:
    """Loss of the compute-optimal run against budget with U unique tokens and with unlimited data."""
    x = _floats(budgets)
    data = [{"type": "scatter", "x": x, "y": _floats(loss_unlimited), "mode": "lines", "name": "unlimited unique data",
             "line": {"color": "#999", "dash": "dot"}, "hovertemplate": "C=%{x:.2e}: loss %{y:.4f}<extra></extra>"},
            {"type": "scatter", "x": x, "y": _floats(loss_limited), "mode": "lines",
             "name": f"{unique_tokens:.3g} unique tokens", "line": {"color": COLORS["muennighoff"], "width": 3},
             "customdata": np.stack([epochs, params], axis=1).tolist(),
             "hovertemplate": "C=%{x:.2e}: loss %{y:.4f}<br>%{customdata[0]:.1f} epochs, "
                              "N=%{customdata[1]:.3s}<extra></extra>"}]
    return spec(data, _layout(shapes=[vline(budget, {"color": "#666", "dash": "dash"})],
                              xaxis={"type": "log", **_title("training compute C (FLOPs)"), "exponentformat": "e"},
                              yaxis=_title("predicted loss (C4)"), height=420, legend={"orientation": "h", "y": -0.2}))


def inference_demand(demand: np.ndarray, params: np.ndarray, saving: np.ndarray, chinchilla_params: float,
                     chosen: float) -> dict:
    """Parameters of the least-lifetime-FLOPs model of a fixed loss against expected inference tokens."""
    data = [{"type": "scatter", "x": _floats(demand), "y": _floats(params), "mode": "lines",
             "name": "inference-aware optimum", "line": {"color": COLORS["sardana"], "width": 3},
             "customdata": _floats(saving),
             "hovertemplate": "%{x:.2e} inference tokens: N=%{y:.3s}, %{customdata:.1%} FLOPs saved<extra></extra>"}]
    note = {"x": 0, "xref": "x domain", "xanchor": "left", "y": float(np.log10(chinchilla_params)), "yanchor": "bottom",
            "text": "compute-optimal (no inference)", "showarrow": False, "font": {"color": "#444"}}
    return spec(data, _layout(shapes=inference_demand_shapes(chinchilla_params, chosen), annotations=[note],
                              xaxis={"type": "log", **_title("expected inference tokens"), "exponentformat": "e"},
                              yaxis={"type": "log", **_title("parameters N"), "exponentformat": "e"},
                              height=420, showlegend=False))


def inference_demand_shapes(chinchilla_params: float, chosen: float) -> list[dict]:
    """``inference_demand``'s lines: the compute-optimal size and the chosen demand (all of the figure that depends on
    the demand typed: the page redraws a cached figure with these, ``with_layout``)."""
    return [hline(chinchilla_params, {"color": "#666", "dash": "dot"}), vline(chosen, {"color": "#666", "dash": "dash"})]


def moe_granularity(by_granularity: tuple[tuple[float, float], ...], dense_loss: float, best: float) -> dict:
    """Best loss at the budget for each granularity, against the dense law's optimum."""
    g = [float(t[0]) for t in by_granularity]
    loss = [float(t[1]) for t in by_granularity]
    data = [{"type": "scatter", "x": g, "y": loss, "mode": "lines+markers", "name": "MoE, E = 64",
             "line": {"color": "#4C78A8", "width": 3}, "hovertemplate": "G=%{x:g}: loss %{y:.4f}<extra></extra>"}]
    note = {"x": 0, "xref": "x domain", "xanchor": "left", "y": dense_loss, "yanchor": "top",
            "text": "dense, same FLOPs", "showarrow": False, "font": {"color": "#444"}}
    return spec(data, _layout(shapes=[hline(dense_loss, {"color": "#666", "dash": "dot"}),
                                      vline(best, {"color": "#666", "dash": "dash"})], annotations=[note],
                              xaxis={"type": "log", **_title("granularity G"), "tickvals": g,
                                     "ticktext": [f"{int(v)}" for v in g]},
                              yaxis=_title("predicted loss"), height=400, showlegend=False))


def precision_sweep(bits: np.ndarray, loss: np.ndarray, best_bits: float, chosen: float) -> dict:
    """Best loss at the budget for each training precision (compute C = 6/16 N D P)."""
    data = [{"type": "scatter", "x": _floats(bits), "y": _floats(loss), "mode": "lines",
             "line": {"color": "#54A24B", "width": 3}, "hovertemplate": "%{x:.1f} bits: loss %{y:.4f}<extra></extra>"}]
    note = {"x": best_bits, "y": 1, "yref": "y domain", "xanchor": "left", "yanchor": "top", "showarrow": False,
            "text": f"optimum {best_bits:.1f} bits", "font": {"color": "#54A24B"}}
    return spec(data, _layout(shapes=precision_sweep_shapes(best_bits, chosen), annotations=[note],
                              xaxis=_title("training precision (bits: weights, activations, KV cache)"),
                              yaxis=_title("predicted loss (Dolma)"), height=400, showlegend=False))


def precision_sweep_shapes(best_bits: float, chosen: float) -> list[dict]:
    """``precision_sweep``'s lines: the optimum and the chosen precision (all of the figure that depends on the bits
    typed: the page redraws a cached figure with these, ``with_layout``)."""
    return [vline(best_bits, {"color": "#54A24B", "dash": "dash"}), vline(chosen, {"color": "#666", "dash": "dot"})]


def overtraining_curve(law: ParametricLoss, params: float, tokens: float, label: str) -> dict:
    """Loss of N params against tokens per parameter, and the loss the compute-optimal run of the same FLOPs
    reaches: the gap is the over-training penalty."""
    ratio = np.geomspace(1.0, max(1e4, 4 * tokens / params), 120)
    d = ratio * params
    c = 6.0 * params * d
    n_opt = law.optimal_params(c)
    x = _floats(ratio)
    data = [{"type": "scatter", "x": x, "y": _floats(law.loss(params, d)), "mode": "lines",
             "name": f"{params:.3g} params", "line": {"color": "#4C78A8", "width": 3},
             "hovertemplate": "%{x:,.0f} tokens/param: loss %{y:.4f}<extra></extra>"},
            {"type": "scatter", "x": x, "y": _floats(law.loss(n_opt, c / (6.0 * n_opt))), "mode": "lines",
             "name": "compute-optimal, same FLOPs", "line": {"color": "#999", "dash": "dot"},
             "hovertemplate": "same FLOPs, optimal: loss %{y:.4f}<extra></extra>"}]
    return spec(data, _layout(shapes=[vline(tokens / params, {"color": "#666", "dash": "dash"})],
                              xaxis={"type": "log", **_title("tokens per parameter D / N")},
                              yaxis=_title(f"predicted loss ({label})"), height=400,
                              legend={"orientation": "h", "y": -0.2}))
