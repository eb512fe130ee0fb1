"""Bounded scalar minimisation for the scaling laws' optima, without scipy's per-call overhead.

``bounded(f, lo, hi, xatol)`` is ``scipy.optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded",
options={"xatol": xatol})`` (Brent's method with golden-section steps, Forsythe, Malcolm & Moler 1977, as scipy's
``_minimize_scalar_bounded`` writes it) step for step on Python floats: the same operations in the same order, so
the same points are evaluated and the same ``(x, f(x))`` comes back, to the bit (tests/test_scaling_minimize.py
compares both on thousands of functions and bounds). scipy spends most of a search of these cheap laws on numpy
scalar calls (``np.abs``, ``np.sign``, ``np.maximum`` on every step) and its result object; the Scaling page runs
dozens of searches per budget (the precision sweep's 49, the repeated-data sweep's 25; issue 18).

Provenance and licence: the loop below follows scipy 1.17's ``scipy/optimize/_optimize.py``
(``_minimize_scalar_bounded``) statement by statement, since matching it to the bit is the point; scipy is
distributed under the BSD 3-Clause licence, Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers (the
full text: ``LICENSE.txt`` in scipy's distribution). The algorithm is FMM's ``fmin`` (Forsythe, Malcolm & Moler,
"Computer Methods for Mathematical Computations", 1977, sec. 8.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

_SQRT_EPS = math.sqrt(2.2e-16)
_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def _sign(v: float) -> float:
    """``np.sign(v) + (v == 0)``: -1.0 or 1.0 (1.0 at zero); NaN stays NaN."""
    if v > 0.0 or v == 0.0:
        return 1.0
    if v < 0.0:
        return -1.0
    return v  # NaN


def _maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)``: NaN if either is NaN."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


def bounded(func: Callable[[float], float], lo: float, hi: float, xatol: float = 1e-5,
            maxiter: int = 500) -> tuple[float, float]:
    """``(x, f(x))`` of the minimum of ``func`` on ``[lo, hi]``: scipy's bounded Brent, the same floats."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("Optimization bounds must be finite scalars.")
    if lo > hi:
        raise ValueError("The lower bound exceeds the upper bound.")
    a, b = lo, hi
    fulc = a + _GOLDEN * (b - a)
    nfc = xf = fulc
    rat = e = 0.0
    fx = func(xf)
    num = 1
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    while abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = True
        if abs(e) > tol1:  # parabolic fit
            golden = False
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            r = e
            e = rat
            if (abs(p) < abs(0.5 * q * r)) and (p > q * (a - xf)) and (p < q * (b - xf)):
                rat = (p + 0.0) / q
                x = xf + rat
                if ((x - a) < tol2) or ((b - x) < tol2):
                    rat = tol1 * _sign(xm - xf)
            else:
                golden = True
        if golden:
            e = (a - xf) if xf >= xm else (b - xf)
            rat = _GOLDEN * e
        x = xf + _sign(rat) * _maximum(abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if (fu <= fnfc) or (nfc == xf):
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            elif (fu <= ffulc) or (fulc == xf) or (fulc == nfc):
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxiter:
            break
    return xf, fx
