"""calc.scaling_minimize.bounded against scipy's own bounded Brent (the reference it replaces), to the bit: on random
functions and bounds, and through every scaling optimum that searches with it."""

import math
import random

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from calc import scaling_data, scaling_minimize, scaling_moe, scaling_precision
from calc.scaling import get_fit, inference_aware_optimum, optimum

_ported = scaling_minimize.bounded


def scipy_bounded(func, lo, hi, xatol=1e-5, maxiter=500):
    res = minimize_scalar(func, bounds=(lo, hi), method="bounded", options={"xatol": xatol, "maxiter": maxiter})
    return res.x, res.fun


def test_same_points_as_scipy_on_random_functions():
    rng = random.Random(18)
    shapes = (
        lambda c, k: lambda x: (x - c) ** 2 * k + math.sin(3 * x),  # several local minima
        lambda c, k: lambda x: abs(x - c) ** 1.5,  # a kink: parabolic steps refused
        lambda c, k: lambda x: k * math.exp(-x) + math.exp(0.3 * x) * c,  # monotone for c < 0: the minimum at a bound
        lambda c, k: lambda x: math.cos(k * x) + 1e-3 * (x - c) ** 4,
        lambda c, k: lambda x: math.inf if x < c else (x - c - k) ** 2,  # inf on part of the interval
        lambda c, k: lambda x: 1.0,  # flat
    )
    for i in range(3000):
        c, k = rng.uniform(-3, 3), rng.uniform(0.1, 3)
        f = shapes[i % len(shapes)](c, k)
        lo = rng.uniform(-5, 5)
        hi = lo + rng.choice([rng.uniform(1e-6, 1e-3), rng.uniform(0.1, 10), rng.uniform(10, 1e3)])
        tol = rng.choice([1e-5, 1e-8, 1e-9, 1e-10])
        maxiter = rng.choice([500, 7])  # and a search cut short
        x_ref, f_ref = scipy_bounded(f, lo, hi, tol, maxiter)
        x, fx = _ported(f, lo, hi, tol, maxiter)
        assert (x, fx) == (float(x_ref), float(f_ref)), (i, lo, hi, tol)


def test_bad_bounds_refused():
    with pytest.raises(ValueError):
        _ported(abs, 1.0, 0.0)
    with pytest.raises(ValueError):
        _ported(abs, 0.0, math.inf)


def _optima(rng: random.Random) -> list:
    """Every search of the scaling modules at random budgets (the Scaling page's questions)."""
    out = []
    for _ in range(12):
        c = 10 ** rng.uniform(15, 27)
        out.append(scaling_data.optimum(c, 10 ** rng.uniform(6, 14)))
        out.append(scaling_precision.optimum(c, rng.uniform(4, 32)))
        out.append(scaling_moe.dense_optimum(c))
        out.append(scaling_moe.optimum(c, rng.choice([None, 1.0, 8.0])))
        for key in ("sardana", "epoch", "gadre"):
            f = get_fit(key)
            out.append(inference_aware_optimum(f, optimum(f, c).loss, 10 ** rng.uniform(9, 16)))
    for _ in range(3):
        out.append(scaling_precision.optimum(10 ** rng.uniform(15, 27)))  # the precision searched (nested searches)
    return out


def test_scaling_optima_same_as_with_scipy(monkeypatch):
    """The optima of calc.scaling*, searched with the port and with scipy's minimize_scalar: equal, every field."""
    ported = _optima(random.Random(7))
    monkeypatch.setattr(scaling_minimize, "bounded", scipy_bounded)
    reference = _optima(random.Random(7))
    assert len(ported) == len(reference)
    for a, b in zip(ported, reference, strict=True):
        assert repr(a) == repr(b)  # dataclasses and tuples of floats: repr writes every float exactly


def test_precision_optima_with_kept_fractions_are_the_uncached_ones(monkeypatch):
    """scaling_precision keeps N_eff / N per precision (_fraction, issue 18): the Scaling page's 49-point sweep and the
    searched precision at several budgets, against the same with the fraction recomputed on every call."""
    bits = np.linspace(4.0, 16.0, 49)
    budgets = (1e18, 3.3e21, 1e23, 7e26)

    def answers() -> list[str]:
        return [repr(scaling_precision.optimum(c, b)) for c in budgets for b in bits] + [
            repr(scaling_precision.optimum(c)) for c in budgets]

    kept = answers()
    monkeypatch.setattr(scaling_precision, "_fraction", lambda p: float(scaling_precision.param_fraction(p)))
    assert answers() == kept
