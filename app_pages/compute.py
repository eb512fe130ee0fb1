"""Compute and cost: training FLOPs -> GPU-hours, wall-clock days, dollars and energy; and the inverses."""

import pandas as pd
import streamlit as st

from calc.compute import (
    MAX_GPUS,
    RECOMPUTE,
    REPORTED_RUNS,
    compute_budget_flops,
    gpus_needed,
    implied_mfu,
    time_and_cost,
    training_flops,
    training_flops_6nd,
)
from calc.gpus import get_gpu
from calc.models import param_counts
from calc.plan import PRECISIONS, Cluster, Job, batch_dp_note
from ui import charts, measured, memo, nav, page_body, pickers, results, state, tables, text
from ui import format as fmt
from ui.figures_compute import days_vs_gpus, flops_breakdown

st.title("Compute and cost")
st.caption("From a model and a token count to training FLOPs, then to GPU-hours, days, dollars and kWh on the "
           "sidebar GPU. Or the other way: the GPUs that finish in N days, or the MFU a reported run achieved.")



def _planner_mfu(spec, gpu, dtype, seq_len, num_gpus):
    """The Cluster planner's fastest layout that fits (``calc.plan.search``) for the page's model, GPU, GPU count
    and sequence length; shown with where its MFU comes from. Stops the page with an error when it cannot run."""
    if dtype not in PRECISIONS:
        st.error(f"The cluster planner runs matmuls in {' or '.join(PRECISIONS)}; pick one as the compute dtype.")
        st.stop()
    a, b = st.columns(2)
    n = num_gpus or int(state.number("GPUs in the planned cluster", "cplg", 64, 1, 1_000_000, step=1, where=a,
                                     help="The planner lays the run out on this many GPUs (8 per node)."))
    gbt = float(state.number("Global batch (million tokens)", "cplgbt", 4.194304, 0.001, 1_000.0, where=b,
                             help="Tokens per iteration for the planner, rounded to whole sequences (the default, "
                                  "4.19: 2^22 tokens, whole sequences that data parallelism over 64 GPUs divides)."))
    sequences = max(round(gbt * 1e6 / seq_len), 1)
    note = batch_dp_note(sequences, n, seq_len)
    if note:  # an awkward sequence count caps dp, and with it the MFU taken from the planner
        st.info(note)
    try:
        job = Job(seq_len, sequences * seq_len, dtype)
        best = memo.plan_search(spec, Cluster(gpu, n), job, top=1)[0]
    except ValueError as exc:
        st.error(f"Cluster planner: {text.md(exc, 500)}")
        st.stop()
    lay = best.layout
    st.caption(f"MFU {best.mfu:.1%} from the Cluster planner: the fastest layout that fits {n:,} x "
               f"{text.md(gpu.name)} (tp {lay.tp} pp {lay.pp} cp {lay.cp} dp {lay.dp}, vpp {lay.vpp}, micro-batch "
               f"{lay.micro_batch}, {lay.recompute} recompute, ZeRO-{lay.zero}), {fmt.duration(best.step_s)} per "
               f"step of {job.global_batch_tokens:,} tokens.")
    st.page_link(nav.page("app_pages/planner.py"), label="Cluster planner: the layouts and their step time")
    return best


QUESTIONS = ("How long on K GPUs?", "How many GPUs to finish in N days?", "What MFU did a run achieve?")


def _page() -> None:
    """Everything under the title: one fragment, so a change of the page's own inputs reruns it alone (ui/page_body.py)."""
    question = state.select("Question", "cq", QUESTIONS, QUESTIONS[0], radio=True,
                            help="Time from a GPU count; GPU count from a deadline; or MFU from a reported GPUs x days.")

    left, right = st.columns(2)
    with left:
        st.subheader("Model and data")
        source = state.select("Model size from", "csrc", ["sidebar model", "typed N", "FLOP budget"], "sidebar model",
                              radio=True, help="The sidebar model's exact active parameter count (MoE: active, not "
                                               "total), a number you type, or a training FLOP budget typed directly "
                                               "(e.g. from the Scaling laws page).")
        spec = pickers.current_model()
        budget_flops = None
        if source == "FLOP budget":
            budget_flops = state.number("Training FLOPs C", "cbud", 1e23, 1e12, 1e36, fmt="%.3e",
                                        help="Model FLOPs of the whole run (6ND for a dense model).")
            n_params = None
        elif source == "sidebar model":
            counts = param_counts(spec)
            n_params = float(counts.active)
            st.caption(f"{text.md(spec.name)}: {fmt.count(counts.active)} active parameters ({counts.active:,})"
                       + (f" of {fmt.count(counts.total)} total" if counts.active != counts.total else ""))
        else:
            n_params = state.number("Parameters N (billions)", "cn", 7.0, 0.001, 1e6, step=1.0,
                                    help="Dense parameters, or active parameters per token for a mixture of experts.",
                                    fmt="%.3f") * 1e9
        if budget_flops is None:
            tokens = state.number("Training tokens D (billions)", "cd", 2000.0, 0.001, 1e8, step=100.0,
                                  help="Tokens seen in training (epochs x dataset tokens).", fmt="%.3f") * 1e9

    gpu = pickers.current_gpu()
    # Lazy (issue 18): the inputs users seldom change sit in an expander under the two columns, drawn only while it is
    # open (each input is a widget sent on every rerun, ~0.7 ms of server time apiece); its label shows their values,
    # read first without drawing (``state.UNDRAWN``: the session's value, else the link's, else the default).
    formulas = ["6ND", "6ND + attention (sidebar model)"] if source == "sidebar model" else ["6ND"]
    dtypes = [d for d in ("bf16", "fp16", "fp8", "tf32", "fp32") if gpu.peak(d)]

    def seldom(where) -> tuple:
        formula = state.select("FLOP count", "cf", formulas, "6ND", where=where,
                               help="6ND (Kaplan 2020 eq. 2.2) or the layer-by-layer count of the sidebar model with "
                                    "the attention-score FLOPs at the sequence length set here.")
        seq_len = state.number("Sequence length", "cs", 4096, 1, 2**21, step=1024, where=where,
                               help="Context length of the training sequences (attention FLOPs grow with it).")
        recompute = state.select("Activation recompute (gradient checkpointing)", "cr", list(RECOMPUTE), "none",
                                 where=where,
                                 help="Recompute does not change model FLOPs (what MFU counts) but the GPUs execute "
                                      "more: selective re-runs the attention scores, full the whole layer forward.")
        dtype = state.select("Compute dtype", "cdt", dtypes, dtypes[0], where=where,
                             help="The dense (no 2:4 sparsity) tensor-core peak of this dtype is used.")
        pue = state.number("PUE", "cpue", 1.0, 1.0, 10.0, step=0.05, where=where,
                           help="Facility power / IT power; 1.0 counts the GPU boards only.", fmt="%.2f")
        return formula, seq_len, recompute, dtype, pue

    formula, seq_len, recompute, dtype, pue = seldom(state.UNDRAWN)
    more = st.expander(f"More settings: FLOP count {formula}, sequence length {seq_len:,}, recompute {recompute}, "
                       f"compute dtype {dtype}, PUE {pue:.2f}", key="c_xmore", on_change="rerun")
    if more.open:
        formula, seq_len, recompute, dtype, pue = seldom(more.container(horizontal=True, key="c_more"))

    with right:
        st.subheader(f"Hardware: {gpu.name}")
        peak = gpu.peak(dtype)
        ask_mfu = question == QUESTIONS[2]  # the MFU is the answer there: no MFU input, no measured rate
        meas = None if ask_mfu else measured.for_gpu(gpu.name, "cmeas", "the datasheet peak x MFU (a matmul benchmark "
                                                     "is an upper bound; training adds communication and other ops)")
        use_planner = not ask_mfu and source == "sidebar model" and state.toggle(
            "MFU from the cluster planner", "cmfupl", False,
            help="Run the Cluster planner for the sidebar model on this GPU, GPU count and sequence length and use "
                 "the MFU of its fastest layout that fits (calc/plan.py), instead of a typed MFU.")
        meas_rate = None if use_planner else (meas or {}).get("flops_per_s", {}).get(dtype)
        use_measured = bool(meas_rate)
        if meas and not meas_rate:
            st.caption(f"No {dtype} matmul was measured on {meas['device']}; using the datasheet peak x MFU.")
        elif use_measured:
            st.caption(f"Measured {dtype} matmul on {meas['device']}: {fmt.tflops(meas_rate)} per device.")
        elif not ask_mfu and not measured.get():
            st.caption(f"No measured {dtype} throughput yet (Benchmark page); using the datasheet peak x MFU.")
        mfu = None
        if not ask_mfu and not use_measured and not use_planner:
            mfu = state.number("MFU (model FLOPs utilization)", "cmfu", 0.40, 0.01, 1.0, step=0.01,
                               help="Share of the dense peak sustained as model FLOPs. Reported: 41-56% on A100 "
                                    "(Korthikanti et al. 2022 Table 5), about 36% for MPT-7B (table below).",
                               fmt="%.2f")
        price = state.number("Price ($ per GPU-hour)", "cp", 2.0, 0.0, 10_000.0, step=0.25,
                             help="Rental or amortised price per GPU-hour.", fmt="%.2f")
        if question == QUESTIONS[0]:
            num_gpus = state.number("GPUs", "cg", 64, 1, MAX_GPUS, help="Number of GPUs (ideal linear scaling).")
        elif question == QUESTIONS[1]:
            days = state.number("Finish within (days)", "cdays", 30.0, 0.01, 36_500.0, step=1.0,
                                help="Wall-clock deadline.")
        else:
            num_gpus = state.number("GPUs in the run", "cg", 440, 1, MAX_GPUS, help="As reported.")
            days = state.number("Days the run took", "cdays", 9.5, 0.01, 36_500.0, step=0.5, help="As reported.")
        planned = None  # the Cluster planner's fastest layout, when the MFU comes from it
        if use_planner:
            planned = _planner_mfu(spec, gpu, dtype, seq_len, int(num_gpus) if question == QUESTIONS[0] else None)
            mfu = planned.mfu

    try:
        if budget_flops is not None:
            model_flops = hardware_flops = budget_flops
            tf = None
        elif formula == "6ND":
            model_flops = hardware_flops = training_flops_6nd(n_params, tokens)
            tf = training_flops(spec, tokens, seq_len, recompute) if source == "sidebar model" else None
            if tf is not None:  # recompute adds to the 6ND count the forward work it repeats
                hardware_flops = model_flops + (tf.hardware_flops - tf.model_flops)
        else:
            tf = training_flops(spec, tokens, seq_len, recompute)
            model_flops, hardware_flops = tf.model_flops, tf.hardware_flops
        if use_measured:
            rate, work, how = meas_rate, hardware_flops, f"measured {fmt.tflops(meas_rate)} per device on {meas['device']}"
        elif not ask_mfu:
            rate, work = peak * mfu, model_flops
            how = (f"{dtype} dense peak {fmt.tflops(peak)} x MFU {mfu:.2f} = {fmt.tflops(rate)} per GPU"
                   + (f" (MFU {mfu:.1%} from the Cluster planner)" if planned else ""))
        achieved = None
        if question == QUESTIONS[0]:
            tc = time_and_cost(work, num_gpus, rate, price, gpu.board_power_w, pue)
        elif question == QUESTIONS[1]:
            num_gpus = gpus_needed(work, days, rate)
            tc = time_and_cost(work, num_gpus, rate, price, gpu.board_power_w, pue)
        else:
            achieved = implied_mfu(model_flops, num_gpus, days, peak)
            rate, work = achieved * peak, model_flops
            how = f"{fmt.tflops(rate)} per GPU, implied by {num_gpus:,} GPUs x {days:,g} days"
            tc = time_and_cost(model_flops, num_gpus, rate, price, gpu.board_power_w, pue)
    except ValueError as exc:
        st.error(text.md(exc, 1000))
        st.stop()

    st.subheader("Result")
    # two rows of three (long numbers stay readable), each one horizontal container: 2 layout blocks instead of the
    # 4 of three columns of two (issue 18)
    row1, row2 = st.container(horizontal=True), st.container(horizontal=True)
    cols = [row1] * 3 + [row2] * 3
    cols[0].metric("Training FLOPs", f"{model_flops:.3e}", help=f"{formula}; hardware FLOPs {hardware_flops:.3e}")
    cols[1].metric("GPU-hours", f"{tc.gpu_hours:,.0f}", help="FLOPs / sustained FLOP/s per GPU / 3600")
    cols[2].metric("Wall-clock", fmt.duration(tc.seconds), help=f"{tc.days:,.3f} days on {tc.num_gpus:,} GPUs")
    cols[3].metric("Cost", f"${tc.cost_usd:,.0f}", help=f"GPU-hours x ${price:g}")
    cols[4].metric("Energy", f"{tc.energy_kwh / 1000:,.1f} MWh",
                   help=f"GPU-hours x {gpu.board_power_w:g} W board power x PUE {pue:g} = {tc.energy_kwh:,.0f} kWh")
    if question == QUESTIONS[1]:
        cols[5].metric("GPUs needed", f"{num_gpus:,}", help=f"ceil(FLOPs / ({days:g} days x sustained FLOP/s))")
    if achieved is not None:
        cols[5].metric("Implied MFU", f"{achieved:.1%}", help="training FLOPs / (GPUs x seconds x dense peak)")
        if achieved > 1:
            st.warning(f"An MFU of {achieved:.2f} is above 1: the run could not have done {model_flops:.3e} FLOPs "
                       f"in that time at the {dtype} dense peak. Check the inputs.")
    if ask_mfu:
        note = (f"Throughput: {how}. Implied MFU = training FLOPs / (GPUs x {days:,g} days x 86,400 s x the {dtype} "
                f"dense peak {fmt.tflops(peak)}).")
    else:
        note = f"Throughput: {how}. " + ("Time uses the hardware FLOPs (a measured rate is what the GPU executes)."
                                         if use_measured else "Time uses the model FLOPs (MFU counts model FLOPs).")
    if recompute != "none" and achieved is None:  # one caption, two paragraphs: one element fewer (issue 18)
        note += (f"\n\nWith {recompute} recompute the GPUs execute {hardware_flops / model_flops:.2f}x the model FLOPs: "
                 f"hardware FLOPs utilization = {hardware_flops / model_flops * (rate / peak):.1%} of peak.")
    st.caption(note)

    results.publish("compute", {
        "training FLOPs": (model_flops, "flops"), "hardware FLOPs": (hardware_flops, "flops"),
        "GPU-hours": (tc.gpu_hours, "number"), "wall-clock": (tc.seconds, "seconds"), "GPUs": (tc.num_gpus, "number"),
        "cost": (tc.cost_usd, "usd"), "energy": (tc.energy_kwh, "kwh"),
        **({"implied MFU": (achieved, "ratio")} if achieved is not None else {})})

    budget = compute_budget_flops(tc.num_gpus, 30, rate)
    st.info(f"The same {tc.num_gpus:,} x {gpu.name} at this throughput deliver {budget:.2e} FLOPs in 30 days. "
            "The Scaling laws page turns a budget into the compute-optimal model size and tokens.")
    st.page_link(nav.page("app_pages/scaling.py"), label="Scaling laws: what model fits a budget?")

    c1, c2 = st.columns(2)
    # the charts carry their titles (one element each, not a title element beside each chart) and are written as the
    # dicts Plotly would validate them into (ui/figures_spec.py), built on every rerun: 0.05-0.12 ms each, where
    # keeping them per argument (charts.of) cost 0.4-0.6 ms a miss, weighing the dict, and most inputs miss (issue 18)
    with c1:
        if tf is not None and budget_flops is None:
            extra = tf.per_token.hardware_training(recompute) - tf.per_token.model_training
            charts.show(st, flops_breakdown(tf.per_token, tokens, extra, title="Where the FLOPs go"), width="stretch")
            st.caption("Parts of the sidebar model's count at the chosen sequence length; the metric above uses "
                       + ("6ND." if formula == "6ND" else "this count."))
        else:
            st.markdown("**Where the FLOPs go**")
            st.caption("Pick 'sidebar model' to see the breakdown by part; a typed N or budget only has 6ND.")
    with c2:
        charts.show(st, days_vs_gpus(work if achieved is None else model_flops, rate, tc.num_gpus, gpu.name,
                                     title="Days against GPU count"), width="stretch")


page_body.run(_page, "compute")


# Below the fragment: the reported runs and the formulas depend on no input of the page (the formulas on the sidebar
# GPU only, whose change reruns everything), so a page input's rerun neither rebuilds nor resends them (issue 18).
def _reported_runs():
    """The reported-runs table, as shown and as its CSV (constant: built once per process, ui/memo.py)."""
    rows = []
    for r in REPORTED_RUNS:
        g = get_gpu(r.gpu)
        flops = training_flops_6nd(r.params, r.tokens)
        rows.append({"run": r.name, "params": r.params, "tokens": r.tokens, "GPU": g.name, "GPU-hours": r.gpu_hours,
                     "6ND FLOPs": flops, "implied MFU (6ND, bf16 peak)": flops / (r.gpu_hours * 3600 * g.peak("bf16")),
                     "source": r.source})
    df = pd.DataFrame(rows)
    shown = df.assign(**{"6ND FLOPs": df["6ND FLOPs"].map("{:.3e}".format)})  # the grid cannot show floats > 2**53
    return tables.to_arrow(shown), fmt.csv(df)  # Arrow once too: st.dataframe converted the frame every rerun


st.subheader("Reported runs and the MFU they imply")
shown, runs_csv = memo.cached(("compute.reported_runs",), _reported_runs)
st.dataframe(shown, hide_index=True, width="stretch", column_config={
    "params": st.column_config.NumberColumn(format="%.3e"), "tokens": st.column_config.NumberColumn(format="%.2e"),
    "GPU-hours": st.column_config.NumberColumn(format="%.3e"),
    "implied MFU (6ND, bf16 peak)": st.column_config.NumberColumn(format="percent")})
st.caption("Meta's GPU-hours include everything the run used (restarts, evaluation), so its implied MFU is a floor.")
st.download_button("Download CSV", runs_csv, file_name="reported_runs.csv", mime="text/csv")

with st.expander("Formulas and assumptions", key="c_xf", on_change="rerun") as ex:
    if ex.open:  # lazy (issue 18): a closed expander's content is neither built nor sent
        gpu = pickers.current_gpu()
        peaks = ", ".join(f"{d} {gpu.peak(d) / 1e12:g}" for d in ("bf16", "fp16", "fp8", "tf32", "fp32") if gpu.peak(d))
        st.markdown(rf"""
    - **6ND** (Kaplan et al. 2020 eq. 2.2): forward 2N FLOPs per token, backward 4N. N is the *active* parameter
      count (a mixture of experts pays only for the experts a token visits).
    - **With attention** (sidebar model): per token, forward = 2 x active layer parameters + attention scores
      $2 \cdot s \cdot (d_q + d_v)$ per layer (QK$^T$ and softmax x V over the full context $s$, as Megatron/PaLM count
      MFU; sliding-window layers use the window) + output head $2Vh$; training = 3x forward. For a GPT block this is
      Megatron's $72BLsh^2(1 + s/6h + V/12hL)$ per iteration (Korthikanti et al. 2022); Chinchilla's Appendix F and
      Kaplan's Table 1 count the same terms slightly differently (tests hold all three to their papers).
    - **Recompute**: model FLOPs unchanged; hardware FLOPs + the attention scores (selective) or + the whole layer
      forward (full, Narayanan et al. 2021 eq. 3: $96BLsh^2(\dots)$). MFU counts model FLOPs, HFU hardware FLOPs.
    - **Time** = FLOPs / (GPUs x dense peak x MFU), ideal linear scaling across GPUs. Peaks are dense datasheet
      figures ({gpu.name}: {peaks} TFLOP/s); never the 2:4-sparse ones.
    - **Cost** = GPU-hours x price. **Energy** = GPU-hours x board power ({gpu.board_power_w:g} W, the TDP: an upper
      bound for the GPU alone, no CPUs, network or cooling) x PUE.
    - **Implied MFU** = 6ND / (GPUs x days x 86,400 s x dense peak). MPT-7B (440 A100 for 9.5 days, about 6.7B
      parameters on 1T tokens) gives about 36%.
    """)
