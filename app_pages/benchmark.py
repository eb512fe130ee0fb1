"""Benchmark: matmul throughput and memory bandwidth measured on this machine, fed into the estimates.

The measuring happens in a process of its own (``measure.child``, started by ``measure.jobs``): this server never
imports torch or allocates a benchmark's buffers. One run per visitor, one at a time, in a queue whose position
the page shows; buffer sizes bounded by the memory free now; a maximum run time.
"""

import os
import secrets
from datetime import datetime, timezone

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from calc.gpus import match_device_name
from measure import GPU_BACKENDS, BenchConfig, check, free_share, jobs, memory_limit
from measure.backends import INSTALL_HINT, cpu_free_bytes
from measure.bandwidth import MIN_BYTES
from measure.child import device_from_dict
from measure.matmul import model_shapes, square_shapes
from ui import charts, measured, pickers, results, state, text
from ui import format as fmt
from ui.figures_bench import flops_by_shape, flops_vs_size

SIZES = ("128", "256", "384", "512", "768", "1024", "1536", "2048", "3072", "4096", "6144", "8192", "12288", "16384")
REPORT = "bench_report"
FAILED = "bench_failed"
OWNER = "_bench_owner"  # this visitor's key in the queue (a browser session)

queue = jobs.queue()
owner = st.session_state.setdefault(OWNER, secrets.token_hex(8))
ctx = get_script_run_ctx()

st.title("Benchmark")
st.caption("Measure what a matmul and a memory copy really reach on this machine. Datasheet peaks are 20-50% "
           "above what a real matmul reaches (an H100 SXM: about 794 of its 989 dense bf16 TFLOPS, "
           "ml-engineering mamf-finder); the measured figures make the time and speed estimates honest.")

try:
    with st.spinner("Looking for devices (once per server)..."):
        found = jobs.probe()
except (ValueError, OSError, TimeoutError) as exc:
    st.error(text.md(exc, 400))
    st.stop()
backends = found["backends"]
if "torch-cpu" not in backends:
    st.info("PyTorch is not installed, so this page measures with numpy (fp32 on the CPU). " + INSTALL_HINT)
elif not any(b in backends for b in GPU_BACKENDS):
    st.info("PyTorch sees no CUDA or ROCm GPU here (`torch.cuda.is_available()` is False), so this page measures "
            "the CPU. " + INSTALL_HINT)

backend_name = state.select("Backend", "bbackend", backends, backends[0],
                            help="Best available first: torch on a CUDA/ROCm GPU, torch on the CPU, numpy (BLAS).")
device = found["devices"][backend_name]
info = device_from_dict({k: v for k, v in device.items() if k != "free_bytes"})
on_gpu = info.backend in GPU_BACKENDS
free = device["free_bytes"] if on_gpu else cpu_free_bytes()  # the CPU's changes by the second: read it now
limit = memory_limit(info, free)

gpu = match_device_name(info.name) if on_gpu else None

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
c1.metric("Device", text.md(info.name, 80), help=text.md(info.note))
c2.metric("Memory", fmt.size(info.memory_bytes) if info.memory_bytes else "n/a",
          help="GPU: total memory torch reports. CPU: physical RAM (os.sysconf).")
c3.metric("Largest buffers", fmt.size(limit),
          help=f"{free_share(info):.0%} of the {fmt.size(free) if free else 'unknown amount'} free "
               + ("on the GPU when this server looked (torch.cuda.mem_get_info)" if on_gpu
                  else "now (MemAvailable, within the container's limit)")
               + ": the most one matmul's A + B + C, or the copy's source + destination, may take. The run checks "
                 "again before each measurement and stops when memory got short.")
c4.metric("Catalog match", gpu.name if gpu else "none",
          help="Results are compared with this catalog entry's dense peak of the same dtype. "
               "A device not in the catalog is still measured.")

left, right = st.columns(2)
with left:
    dtypes = state.multiselect("Dtypes", "bdtypes", list(info.dtypes), ["bf16"] if on_gpu else ["fp32"],
                               help="Matmul input formats this device runs. tf32 = fp32 storage with tensor-core "
                                    "math; fp8 = e4m3 inputs, bf16 output (torch._scaled_mm).")
    sizes = state.multiselect("Square sizes n", "bsizes", list(SIZES),
                              ["1024", "2048", "4096", "8192"] if on_gpu else ["256", "512", "1024"],
                              help="n x n x n matmuls. Throughput rises with size until the device is saturated.")
with right:
    use_model = state.toggle("Also the model's GEMM shapes", "bmodel", False,
                             help="QKV, attention output, MLP (and experts, LM head) of the sidebar model.")
    tokens = 0
    if use_model:
        tokens = int(state.number("Tokens per GEMM (m)", "btokens", 128 if not on_gpu else 4096, 1, 65536, step=1,
                                  help="Rows of the activations: batch x sequence of a prefill or training step."))
    copy_on = state.toggle("Measure bandwidth (device copy)", "bbw", True,
                           help="Copy a buffer much larger than the caches; GB/s = 2 x bytes / time.")
    ar_ranks = 0
    if state.toggle("Measure all-reduce bus bandwidth", "bar", False,
                    help="torch.distributed all-reduce over local processes: NCCL across the visible GPUs, gloo over "
                         "CPU tensors when there are fewer GPUs than ranks. nccl-tests' busbw, which the Cluster "
                         "planner can use as the intra-node link."):
        ar_ranks = int(state.number("All-reduce ranks", "barranks", 2, 2, 64, step=1,
                                    help="Processes taking part (one GPU each with NCCL)."))

with st.expander("Run settings: repetitions, L2 flush, bounds"):
    a, b, c = st.columns(3)
    runs = int(state.number("Timed runs", "bruns", 20, 3, 200, step=1, where=a,
                            help="The result is the median of these runs (after the warm-up)."))
    warmup = int(state.number("Warm-up runs", "bwarm", 3, 1, 50, step=1, where=a, help="Untimed runs first."))
    flush = state.toggle("Flush L2 before each run", "bflush", on_gpu, where=b,
                         help="Writes a buffer twice the GPU's L2 before every timed run, so small shapes do not "
                              "read their inputs from cache (on the CPU: a 64 MiB buffer).")
    copy_mib = int(state.number("Copy buffer (MiB)", "bcopy", 1024 if on_gpu else 128, 1, 16384, step=1, where=b,
                                help="Size of the source (and of the destination) of the copy; together at most the "
                                     "largest buffers above."))
    budget = float(state.number("Time budget (s)", "bbudget", 60, 5, int(jobs.MAX_BUDGET_S), step=5, where=c,
                                help=f"The sweep stops after this (each measurement keeps at least 3 runs). At most "
                                     f"{jobs.MAX_BUDGET_S:.0f} s: the run is ended {jobs.GRACE_S:.0f} s after its "
                                     "budget whatever it is doing."))

run_col, stop_col, _ = st.columns([1, 1, 4])
run = run_col.button("Run benchmark", key="brun", type="primary")
stop = stop_col.button("Stop", key="bstop", help="Stops your run (or takes it out of the queue); the sizes measured "
                                                 "so far are kept.")
if stop:
    if queue.cancel(owner):
        st.info("Benchmark stopped; the sizes measured before Stop are kept below.")
    else:
        st.info("No benchmark of yours is running.")

if run:
    try:
        shapes = square_shapes(sorted(int(s) for s in sizes))
        if use_model:
            fitting = [s for s in model_shapes(pickers.current_model(), tokens)
                       if all(s.bytes(d) <= limit for d in dtypes)]
            skipped = [s for s in model_shapes(pickers.current_model(), tokens) if s not in fitting]
            if skipped:
                st.warning("Skipped, above the largest buffers: " + ", ".join(f"{s.label} {s.text}" for s in skipped))
            shapes += fitting
        config = BenchConfig(backend=backend_name, dtypes=tuple(dtypes), shapes=tuple(shapes), runs=runs,
                             warmup=warmup, flush_l2=flush, copy_bytes=max(MIN_BYTES, copy_mib * 2**20) if copy_on else 0,
                             time_budget_s=budget, max_matrix_bytes=limit, allreduce_ranks=ar_ranks)
        check(config, info)
        queue.submit(owner, config, ctx.session_id if ctx else None)
    except ValueError as exc:
        st.error(text.md(exc, 400))
    else:
        st.session_state["bench_load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        st.session_state.pop(FAILED, None)


def _collect() -> bool:
    """Move a finished run into this session (its report, or why it failed). Whether there was one."""
    job = queue.collect(owner)
    if job is None:
        return False
    report = job.report()
    if report is not None:
        st.session_state[REPORT] = report
    if job.error:
        st.session_state[FAILED] = job.error
    elif report is None and job.stopped:
        st.session_state[FAILED] = f"The run ended before anything was measured ({job.stopped})."
    return True


def _live() -> None:
    """Where the visitor's run stands; reruns the whole page when it has finished."""
    job = queue.get(owner)
    if job is None:
        return
    if job.state == "done":
        if _collect():
            st.rerun(scope="app")
        return
    if job.state == "queued":
        ahead = queue.position(job)
        st.info(f"Queued: {ahead} run{'s' if ahead != 1 else ''} ahead of yours (one benchmark at a time on this "
                "server). Keep this page open; Stop takes it out of the queue.")
        return
    progress = job.progress()
    waited = job.waiting_for_device_s()
    if waited is not None:
        st.warning(f"Another benchmark is running on this device, waiting... ({waited:.0f} s)")
    done, total, what = progress or (0, 1, "starting the benchmark process")
    st.progress(done / max(total, 1), text=f"{done}/{total} measured; {text.md(what, 80)}")


job = queue.get(owner)
if job is not None and job.state == "done":
    _collect()
elif job is not None:
    st.fragment(_live, run_every=1.0)()

failed = st.session_state.get(FAILED)
if failed:
    st.error(text.md(failed, 1000))

report = st.session_state.get(REPORT)
if report is not None:
    st.subheader("Results")

    def clock(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S.%f")[:-3]

    waited = f"; waited {report.waited_s:.1f} s for another benchmark" if report.waited_s >= 0.05 else ""
    st.caption(f"Measured on {text.md(report.device.name, 80)} with {report.device.backend} "
               f"({text.md(report.device.note, 120)}), "
               f"from {clock(report.started_at)} to {clock(report.finished_at)} UTC{waited}.")
    load = st.session_state.get("bench_load")
    cores = os.cpu_count() or 1
    if report.device.backend not in GPU_BACKENDS and load is not None and load > 0.5 * cores:
        st.warning(f"The machine was busy when the run started (load average {load:.1f} on {cores} logical CPUs): "
                   f"other processes share the cores, so these CPU figures are lower and noisier than an idle "
                   f"machine's.")
    if report.stopped:
        st.warning(f"The sweep stopped early ({text.md(report.stopped, 300)}); the figures below cover what was "
                   "measured.")
    best = report.best()
    cols = st.columns(max(1, len(best) + (1 if report.bandwidth else 0)))
    for col, (dtype, r) in zip(cols, best.items(), strict=False):
        pct = f"{r.fraction_of_peak:.0%} of the {dtype} dense peak" if r.fraction_of_peak else "no catalog peak"
        col.metric(f"Best {dtype} matmul", f"{r.tflops:,.3f} TFLOPS", help=f"{r.label} {r.m}x{r.n}x{r.k}; {pct}")
    if report.bandwidth:
        bw = report.bandwidth
        pct = f"{bw.fraction_of_peak:.0%} of the datasheet" if bw.fraction_of_peak else "no catalog figure"
        cols[-1].metric("Copy bandwidth", f"{bw.bytes_per_s / 1e9:,.1f} GB/s",
                        help=f"2 x {fmt.size(bw.buffer_bytes)} / {bw.median_s * 1e3:.2f} ms median; {pct}")

    if report.allreduce:
        ar = max(report.allreduce, key=lambda r: r["busbw_bytes_per_s"])
        st.metric("All-reduce bus bandwidth", f"{ar['busbw_bytes_per_s'] / 1e9:,.3g} GB/s",
                  help=f"Best of {len(report.allreduce)} sizes: {fmt.size(ar['bytes'])} over {ar['ranks']} ranks "
                       f"({ar['backend']}) in {ar['seconds'] * 1e3:.3g} ms median; busbw = bytes / time x 2(n-1)/n.")
        ar_df = pd.DataFrame([{"bytes": r["bytes"], "ranks": r["ranks"], "backend": r["backend"],
                               "median_ms": r["seconds"] * 1e3, "algbw GB/s": r["algbw_bytes_per_s"] / 1e9,
                               "busbw GB/s": r["busbw_bytes_per_s"] / 1e9, "sum correct": r["correct"]}
                              for r in report.allreduce])
        st.dataframe(ar_df, hide_index=True, width="stretch")
        st.download_button("Download all-reduce CSV", fmt.csv(ar_df), file_name="allreduce.csv", mime="text/csv",
                           key="bardl")
        if st.button("Use this bus bandwidth in the Cluster planner", key="baruse",
                     help="The planner then divides its tensor-parallel collectives by it instead of the catalog's "
                          "NVLink figure (for the catalog GPU this device matches; any other only if you say so)."):
            matched = match_device_name(report.device.name) if report.device.backend in GPU_BACKENDS else None
            measured.put_allreduce(f"{report.device.name} ({ar['backend']})", ar["busbw_bytes_per_s"], ar["ranks"],
                                   ar["backend"], matched.name if matched else None)

    records = report.records()
    peaks = {d: r.peak_flops_per_s for d, r in best.items()}
    for fig in (flops_vs_size(records, peaks, report.device.name), flops_by_shape(records, report.device.name)):
        if fig is not None:
            charts.show(st, fig, width="stretch")
    df = pd.DataFrame(records)
    if not df.empty:
        df["median_ms"] = df["median_s"] * 1e3
        columns = ["dtype", "shape", "m", "n", "k", "runs", "median_ms", "tflops"]
        columns += ["pct_of_peak"] if df["pct_of_peak"].notna().any() else []
        st.dataframe(df[columns],
                     hide_index=True, width="stretch",
                     column_config={"median_ms": st.column_config.NumberColumn("median ms", format="%,.3f"),
                                    "tflops": st.column_config.NumberColumn("TFLOPS", format="%.3g"),  # 0.233 and 794, as fmt.tflops
                                    "pct_of_peak": st.column_config.NumberColumn("% of dense peak", format="%.1f")})
    if report.bandwidth:
        df = pd.concat([df, pd.DataFrame([{"shape": "copy", **report.bandwidth.record()}])], ignore_index=True)
    st.download_button("Download CSV", fmt.csv(df), file_name="benchmark.csv", mime="text/csv")

    results.publish("benchmark", {
        **{f"best {d} matmul FLOP/s": (r.tflops * 1e12, "number") for d, r in best.items()},
        **({"copy bandwidth bytes/s": (report.bandwidth.bytes_per_s, "number")} if report.bandwidth else {}),
        **({"all-reduce busbw bytes/s": (max(r["busbw_bytes_per_s"] for r in report.allreduce), "number")}
           if report.allreduce else {})})

    label = f"{report.device.name} ({report.device.backend})"
    if st.button("Use these figures in the estimates", key="buse", type="primary",
                 help="The Compute and Inference speed pages then divide by these instead of datasheet peaks, "
                      "for the catalog GPU this device matches (for any other sidebar GPU only if you say so)."):
        matched = match_device_name(report.device.name) if report.device.backend in GPU_BACKENDS else None
        measured.put(label, report.best_flops_per_s(),
                     report.bandwidth.bytes_per_s if report.bandwidth else None, matched.name if matched else None)

in_use = measured.get()
if in_use:
    figures = ", ".join(f"{d} {fmt.tflops(v)}" for d, v in in_use["flops_per_s"].items())
    bw = in_use["bandwidth_bytes_per_s"]
    where = (f"when the sidebar GPU is {in_use['gpu']}" if in_use.get("gpu") else
             "only where you switch them on (no catalog GPU matches this device)")
    st.success(f"Estimates use figures measured on {in_use['device']} {where}: {figures}"
               + (f", bandwidth {fmt.significant(bw / 1e9)} GB/s." if bw else "; bandwidth from the datasheet."))
    if st.button("Stop using measured figures", key="bclear"):
        measured.clear()
        st.rerun()

with st.expander("Method: how the figures are measured"):
    st.markdown(r"""
- **FLOPs** of an $(m \times k)(k \times n)$ matmul $= 2mnk$; **TFLOPS** $= 2mnk / t_{median} / 10^{12}$.
- **Timing**: fresh random inputs per shape; warm-up runs; then each run is timed alone: on a GPU between two
  CUDA/HIP events with the host waiting for the second (launch latency is not counted as work); on the CPU with
  `time.perf_counter`. The figure is the **median** of the timed runs. With *Flush L2*, a buffer twice the GPU's
  L2 is written before each run, outside the timed region.
- **Best of the sweep** = maximum achievable matmul FLOPS (ml-engineering *mamf-finder*): what training and prefill
  estimates should divide by. Throughput depends on size and alignment (multiples of 64/128 run best).
- **Percent of peak** compares with the catalog's *dense* peak of the same dtype (never the 2:4-sparse figure).
- **Bandwidth**: `dst.copy_(src)` of a buffer larger than any cache; bytes moved $= 2 \times$ buffer (read + write,
  the STREAM Copy convention); GB $= 10^9$ bytes.
- **One benchmark at a time, each in its own process**: this server never imports torch; a run is a child process
  (`python -m measure.child`). Each visitor has at most one run; others wait in a queue and see their place in it.
  A file lock in the temp directory also keeps other servers and the CLI off the device meanwhile.
- **Bounds**: buffers at most half the memory free now (80% of a GPU's), checked again before each measurement;
  a time budget of at most two minutes, after which the run is ended; a visitor who leaves loses the run.
- **All-reduce** (`measure/allreduce.py`): an fp32 `torch.distributed.all_reduce` of 1, 16 and 64 MiB per rank
  over local processes (NCCL, or gloo on the CPU), the median of the timed runs; algbw = bytes / time, busbw =
  algbw $\times 2(n-1)/n$ (NVIDIA nccl-tests doc/PERFORMANCE.md); every element is checked to be the sum of the
  ranks' values. On the CPU it measures host memory and loopback, not a link.
- **dtypes**: fp32 with full-precision math (`torch.set_float32_matmul_precision("highest")`), tf32 ("high"),
  bf16, fp16, fp8 = e4m3 inputs with bf16 output via `torch._scaled_mm` (NVIDIA compute capability 8.9+, AMD MI300+).
""")
