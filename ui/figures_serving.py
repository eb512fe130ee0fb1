"""Pure Plotly figure builders for the Serving planner page (no Streamlit here)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import plotly.graph_objects as go

from calc.units import bytes_in
from ui.figures_spec import spec
from ui.plot import figure, vline

_COLORS = {"weights": "#1f77b4", "activation peak": "#ff7f0e", "non-torch": "#7f7f7f", "CUDA graphs": "#9467bd",
           "KV cache": "#2ca02c", "headroom": "#e0e0e0"}


def memory_bar(parts: dict[str, int], total_bytes: int, title: str, unit: str = "GiB") -> go.Figure:
    """One horizontal bar of a GPU's memory in ``unit`` ("GB" = 1e9 B or "GiB" = 2**30 B, the sidebar's choice):
    each part as vLLM lays it out, then the headroom above gpu_memory_utilization."""
    def u(n: float) -> float:
        return bytes_in(max(n, 0), unit)

    data = [{"type": "bar", "orientation": "h", "name": k, "x": [u(v)], "y": ["per GPU"],
             "marker": {"color": _COLORS.get(k, "#bcbd22")},
             "hovertemplate": f"{k}: %{{x:.2f}} {unit}<extra></extra>"}
            for k, v in parts.items()]
    top = u(max(total_bytes, sum(max(v, 0) for v in parts.values())))
    layout = {"barmode": "stack", "title": {"text": title}, "height": 220,
              "xaxis": {"title": unit, "range": [0, top]},
              "yaxis": {"showticklabels": False}, "legend": {"orientation": "h", "y": -0.45},
              "shapes": [vline(u(total_bytes), {"color": "#d62728", "width": 2})],
              "annotations": [{"x": u(total_bytes), "y": 1, "yref": "paper", "xanchor": "right", "yanchor": "bottom",
                               "text": "GPU memory ", "showarrow": False, "font": {"color": "#d62728"}}],
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}}
    return figure(data, layout)


def memory_bar_like(frozen: dict, parts: dict[str, int], total_bytes: int, title: str, unit: str = "GiB") -> dict:
    """``memory_bar(parts, total_bytes, title, unit)`` as ``ui.charts.prepared_dict`` gives it, made from ``frozen``:
    that dict for a bar of the same part names (in the same order) and unit. Only what depends on the bytes and the
    title is replaced; the rest is shared with ``frozen``, not copied, and nothing is validated again: Plotly
    validated every property of the bar on each change of the setup, about a quarter of the setup section's server
    time (py-spy under bench/bench_pages.py, issue 18). tests/test_serve_sim_page.py holds it equal to a fresh build."""
    def u(n: float) -> float:
        return bytes_in(max(n, 0), unit)

    if [t["name"] for t in frozen["data"]] != list(parts) or frozen["layout"]["xaxis"]["title"]["text"] != unit:
        raise ValueError("memory_bar_like needs a bar of the same parts and unit")
    line = u(total_bytes)
    top = u(max(total_bytes, sum(max(v, 0) for v in parts.values())))
    layout = frozen["layout"]
    return {**frozen, "data": [{**trace, "x": [u(v)]} for trace, v in zip(frozen["data"], parts.values(), strict=True)],
            "layout": {**layout, "title": {**layout["title"], "text": title},
                       "xaxis": {**layout["xaxis"], "range": [0, top]},
                       "shapes": [{**layout["shapes"][0], "x0": line, "x1": line}],
                       "annotations": [{**layout["annotations"][0], "x": line}]}}


def latency_vs_rate_spec(rates, ttft_p99, tpot_p99, slo_ttft: float | None, slo_tpot: float | None,
                         title: str) -> dict:
    """p99 time to first token and time per output token against the request rate (log y), with the SLOs: written
    as the dict Plotly's validation and ``ui.charts.prepared_dict`` give (``ui.figures_spec.spec``), keys in Plotly's
    order: the Serving page draws it on every rerun while its expander is open, and building and validating the
    ``go.Figure`` it replaced took 2-4 ms of each (issue 18). tests/test_pg_serving_spec.py holds it to that builder's
    ``charts.prepared_dict``."""
    data = [{"hovertemplate": f"%{{x:.3g}} req/s: {name} p99 %{{y:.3g}} s<extra></extra>", "mode": "lines+markers",
             "name": f"{name} p99", "x": list(rates), "y": list(ys), "type": "scatter"}
            for name, ys in (("TTFT", ttft_p99), ("TPOT", tpot_p99))]
    shapes = [{"line": {"color": c, "dash": "dot"}, "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": v,
               "y1": v, "yref": "y"} for v, c in ((slo_ttft, "#1f77b4"), (slo_tpot, "#ff7f0e")) if v]  # as hline
    layout = {"legend": {"orientation": "h", "y": -0.25},
              **({"shapes": shapes} if shapes else {}),  # Plotly's dict has no shapes where there are none
              "title": {"text": title}, "xaxis": {"title": {"text": "requests per second (all replicas)"}},
              "yaxis": {"dtick": 1, "tickformat": "~g", "title": {"text": "seconds (p99)"}, "type": "log"}}
    return spec(data, layout)


# ----- the two tables of published results (issue 18) ----------------------------------------------------------------
# Reproducing every published throughput simulates about 50 setups (the two MLPerf Server cases search a rate on 10,000
# requests each): about 2 s of CPU, once per server process, on the first visit of the Serving page; a light visit
# past 1 s is restarted in heavy mode (ui/budget.py), so the work was done about twice. The rows are stored with a
# hash of every calc module their computation imports; a stored file whose sources changed is not used (the rows are
# computed as before), so it can be out of date only in speed, never in what the page shows.
# Regenerate: python -m ui.figures_serving
TABLES_PATH = Path(__file__).with_name("serving_tables.json")


def published_rows() -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """The Serving page's two tables: vLLM's published start-up logs and the published throughputs, each beside
    ours (calc/serve_logs.py)."""
    from calc.serve_logs import CASES, THROUGHPUT_CASES, reproduce, reproduce_throughput

    logs = []
    for case in CASES:
        for name, (logged, ours) in reproduce(case).items():
            logs.append({"model": case.model, "quantity": name, "logged": logged, "ours": round(ours, 4),
                         "error %": round((ours - logged) / logged * 100, 2), "GPU": case.gpu, "tp": case.tp,
                         "pp": case.pp, "max model len": case.max_model_len, "source": case.url})
    throughput = []
    for c in THROUGHPUT_CASES:
        ours = reproduce_throughput(c)
        throughput.append({"model": c.model, "GPU": c.gpu, "tp": c.tp, "GPUs": c.tp * c.replicas, "engine": c.engine,
                           "precision": c.weights_dtype,
                           "prompt / output": f"{c.prompt_tokens} / {c.output_tokens}",
                           "concurrency": str(c.concurrency or "engine max"),
                           "published tokens/s": c.output_tokens_per_s, "ours": round(ours),
                           "error %": round((ours / c.output_tokens_per_s - 1) * 100, 1),
                           "within 30 %": "yes" if not c.miss else "no: " + c.miss, "source": c.url})
    return tuple(logs), tuple(throughput)


def sources_hash(files: list[str]) -> str:
    """SHA-256 over the named files (paths relative to the repository root), names and contents."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.encode() + b"\0")
        try:
            h.update((root / f).read_bytes())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def stored_rows(path: Path = TABLES_PATH) -> tuple[tuple[dict, ...], tuple[dict, ...]] | None:
    """``published_rows()`` as stored in ``path``, or None where the file is absent, unreadable or its calc sources
    have changed since it was written."""
    try:
        doc = json.loads(path.read_text())
        if doc["sources_hash"] != sources_hash(doc["sources"]):
            return None
        return tuple(doc["logs"]), tuple(doc["throughput"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_rows(path: Path = TABLES_PATH) -> None:
    """Compute ``published_rows()`` and store them with the calc modules the computation imported (run it in a fresh
    process: ``python -m ui.figures_serving``)."""
    logs, throughput = published_rows()
    root = Path(__file__).resolve().parent.parent
    files = sorted(str(Path(m.__file__).resolve().relative_to(root)) for name, m in list(sys.modules.items())
                   if (name == "calc" or name.startswith("calc.")) and getattr(m, "__file__", None))
    path.write_text(json.dumps({"sources": files, "sources_hash": sources_hash(files), "logs": logs,
                                "throughput": throughput}, indent=1) + "\n")


if __name__ == "__main__":
    write_rows()
    print(f"wrote {TABLES_PATH}")
