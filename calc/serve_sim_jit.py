"""``calc.serve_sim._run_fixed`` compiled with Numba (issue 18): the same steps, operation for operation, at machine
speed. The Serving page's answers are simulations: the SLO rate is about 8 of 600 requests (``max_rate``), the latency
figure one of 1,500, and in pure Python each event costs 1.3-1.6 us (about 1,500 events per 600 requests: ~2 ms a
simulation, ~15 ms an SLO-rate search); compiled, ~0.15 us (0.2 ms and 1.5 ms).

Bit for bit: every float operation is the Python loop's, in the same order and on the same types (an int converted
to a double where Python converts it; Numba compiles without ``fastmath``, so LLVM neither reorders nor fuses them
into FMAs; ``math.sqrt`` is the correctly rounded square root; ``em ** tokens`` is libm's ``pow`` of two doubles, as
CPython's float power calls it). tests/test_serve_sim_jit.py holds the kernel's results equal to the Python loop's on
random setups, with and without ``max_rate``'s early stop, and ``max_rate`` equal through either.

Opt-in, per process: the library and the CLI keep the Python loop (loading Numba and the compiled code takes
~0.65 s and ~96 MiB, more than a one-shot command's simulations), and app.py calls ``start()`` on its first run,
which loads the kernel in a thread of its own (no visitor's page run pays for it or is counted for it by
``ui/budget.py``); simulations run in Python until it is loaded, compiled after. ``load()`` loads it in the calling
thread (tests, benches). Without Numba, with ``CALC_SERVE_JIT=0`` in the environment, or where loading
fails, the Python loop runs, with the same results. The compiled code is cached on disk (Numba's ``cache=True``:
``__pycache__`` beside this file, or Numba's user cache directory where that is not writable): a new process loads it
(~0.3 s) instead of compiling it (~2.5 s).
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

_STARTED: list = []  # [the loading thread], once start() was called
_LOCK = threading.Lock()
#: the compiled kernel once loaded (None before, and for good where Numba is missing or loading failed)
KERNEL = None


def start() -> None:
    """Load the kernel in a background thread, once per process (the app calls this on its first run)."""
    with _LOCK:
        if not _STARTED:
            t = threading.Thread(target=load, name="serve-sim-jit", daemon=True)
            _STARTED.append(t)
            t.start()


def load():
    """Compile or load the kernel in this thread (once per process) and return it; None where Numba is not installed,
    ``CALC_SERVE_JIT=0`` or compiling failed (the simulator then runs its Python loop)."""
    global KERNEL
    if KERNEL is not None or os.environ.get("CALC_SERVE_JIT", "1") == "0":
        return KERNEL
    try:
        import numba

        k = numba.njit(cache=True, nogil=True, error_model="python")(run_fixed)
        # compiled for the argument types the simulator passes (StepModel's floats, its int state bytes); a first
        # call compiles (or loads from the cache), so a page's first compiled simulation pays nothing
        k(np.array([0.0, 1.0]), 16, 4, 8, 64, 0, True, 0, 1.0, True, 1, 1.0, True, *([1.0] * 12), 0)
    except Exception:  # noqa: BLE001 (an optional speed-up: any failure keeps the Python loop)
        return None
    KERNEL = k
    return k


def run_fixed(arl, plen, olen, max_num_seqs, max_num_batched_tokens, cap, cap_inf, st, slo_ttft_s, watch,
              late_max, slo_tpot_s, watch_tpot, fpt, hf, wb, eb, em, kv_s, bps, ar_s, over_s, fps, apf, token_s, sbs):
    """``calc.serve_sim._run_fixed`` on plain numbers: ``arl`` the arrivals (float64 array), ``cap`` the cache in tokens
    (``cap_inf``: unbounded), ``watch`` / ``watch_tpot`` whether the TTFT / TPOT SLO stops the run early after
    ``late_max`` misses, then the ``StepModel``'s fields (``token_s`` its property). Returns ``(first, finish, events,
    stopped)``; ``stopped``: the run would return None. Plain Python too (the tests run it uncompiled on a few cases)."""
    n = arl.shape[0]
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    fs = np.zeros(max(n, 1), dtype=np.int64)  # the step at which request i finishes, in id order
    nfs = 0
    K = plen + olen + st
    lim = max_num_seqs if cap_inf else min(max_num_seqs, cap // K)
    o1 = max(olen - 1, 1)
    ctx_done = plen + olen - 1
    ph = 0
    left = plen if n else 0
    t = 0.0
    g = 0
    nxt = 0
    done = 0
    events = 0
    ctx_sum = 0
    budget_all = max_num_batched_tokens
    dense = eb == 0.0
    wb_s = wb / bps
    late = 0
    slow = 0
    while done < n:
        events += 1
        while nxt < n and arl[nxt] <= t and nxt - done < lim:
            nxt += 1
        nd = ph - done
        if ph < nxt:
            budget = budget_all - nd
            if budget > 0 and left >= 3 * budget:
                kmax = left // budget - 1
                if nd:
                    kmax = min(kmax, fs[done] - g)
                p0 = plen - left
                spairs = budget * (p0 + (kmax - 1) * budget / 2) + budget * (budget + 1) / 2 if kmax > 0 else 0.0
                # StepModel.decode_stretch(nd, ctx_sum, kmax, None, tokens=budget_all, attn_pairs=spairs): all kmax
                c = spairs * apf / fps
                m0 = ctx_sum * kv_s / bps
                dm = nd * kv_s / bps
                # gemm_s(budget_all, nd): max(FLOPs / peak, weights read / bandwidth) + state traffic (max(x, y): y if y > x)
                x = (budget_all * fpt + nd * hf) / fps
                y = (wb + eb * (1.0 - math.pow(em, float(budget_all)))) / bps
                a = ((y if y > x else x) + nd * sbs / bps) + budget_all * token_s + ar_s + over_s
                if c <= m0:
                    js = 0
                elif dm <= 0:
                    js = kmax
                else:
                    js = min(kmax, math.ceil((c - m0) / dm))
                if kmax <= js:
                    dt = kmax * (c + a)
                else:
                    dt = js * (c + a) + (kmax - js) * (m0 + a) + dm * (kmax - 1 + js) * (kmax - js) / 2
                k = kmax
                left -= k * budget
                t += dt
                g += k
                ctx_sum += nd * k
            else:
                p_tok = 0
                pairs = 0
                f0 = ph
                while ph < nxt and budget > 0:
                    take = left if left < budget else budget
                    p0 = plen - left
                    pairs += take * p0 + take * (take + 1) // 2
                    left -= take
                    p_tok += take
                    budget -= take
                    if left == 0:
                        ph += 1
                        left = plen if ph < n else 0
                tokens = p_tok + nd
                x = pairs * apf / fps
                y = ctx_sum * kv_s / bps
                attn = y if y > x else x
                sampled = nd + ph - f0
                x = (tokens * fpt + sampled * hf) / fps
                y = wb_s if dense else (wb + eb * (1.0 - math.pow(em, float(tokens)))) / bps
                gemm = (y if y > x else x) + sampled * sbs / bps
                t += gemm + attn + tokens * token_s + ar_s + over_s
                g += 1
                ctx_sum += nd
                last = g + olen - 1
                for i in range(f0, ph):
                    first[i] = t
                    fs[nfs] = last
                    nfs += 1
                    ctx_sum += plen
                    if watch and t - arl[i] > slo_ttft_s:
                        late += 1
        elif nd:
            kmax = fs[done] - g
            # the decode step's per-batch part (Python keeps it per batch size in a_of: the same value)
            x = (nd * fpt + nd * hf) / fps
            y = (wb + eb * (1.0 - math.pow(em, float(nd)))) / bps
            a = ((y if y > x else x) + nd * sbs / bps) + nd * token_s + ar_s + over_s
            m0 = ctx_sum * kv_s / bps
            dm = nd * kv_s / bps
            c = m0 + a
            k = kmax
            dt = kmax * c + dm * (kmax - 1) * kmax / 2
            if nxt < n and nd < lim:
                limit = arl[nxt] - t
                if dt >= limit:
                    b = c + dm * -0.5
                    u = limit / b if dm <= 0 else (math.sqrt(b * b + 2 * dm * limit) - b) / dm
                    k = math.ceil(u)
                    k = kmax if kmax < k else (k if k > 1 else 1)
                    while k > 1 and (k - 1) * c + dm * (k - 2) * (k - 1) / 2 >= limit:
                        k -= 1
                    dt = k * c + dm * (k - 1) * k / 2
                    while dt < limit:
                        k += 1
                        dt = k * c + dm * (k - 1) * k / 2
            t += dt
            g += k
            ctx_sum += nd * k
        else:
            t = arl[nxt] if arl[nxt] > t else t  # max(t, arl[nxt])
            continue
        while done < ph and fs[done] <= g:
            finish[done] = t
            ctx_sum -= ctx_done
            if watch_tpot and (t - first[done]) / o1 > slo_tpot_s:
                slow += 1
                if slow >= late_max:
                    return first, finish, events, True
            done += 1
        if watch:
            stop = ph + late_max - late - 1
            if stop < n:
                if stop < ph or arl[stop] < t - slo_ttft_s - 1e-6 * (t + slo_ttft_s):
                    return first, finish, events, True
    return first, finish, events, False
