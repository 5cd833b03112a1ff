"""Pareto/NBD likelihood at extreme but valid inputs, against 30-digit quadrature (mpmath)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import ParetoNBDModel
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.pareto_nbd import (
    log_dropout_integral,
    log_dropout_integral_quadrature,
)

mpmath = pytest.importorskip("mpmath")

# (r, alpha, s, beta, x, t_x, T): thousands of purchases, long T, alpha far from beta either way,
# alpha and beta equal to 1e-7, tiny and huge scales.
EXTREME = [
    (0.55, 10.58, 0.61, 11.67, 2000, 300, 400),
    (0.55, 10.58, 0.61, 11.67, 5000, 3000, 3001),
    (0.5, 1e4, 0.6, 1e-2, 3000, 50, 500),
    (0.5, 1e-3, 0.6, 1e3, 3000, 50, 500),  # lifetimes returns NaN here
    (2, 10, 3, 10.000001, 100, 5, 40),
    (0.2, 100, 0.1, 1, 10000, 10, 1e5),
    (0.55, 10.58, 0.61, 11.67, 1, 0.001, 1e6),
    (20, 1e-4, 20, 1e-4, 500, 1e4, 2e4),
    (0.5, 10, 0.5, 10.0000001, 1e4, 1e3, 2e3),
]


def _reference_log_integral(r, alpha, s, beta, x, t_x, T) -> float:
    """log of the dropout integral from its closed form in 50-digit arithmetic (mpmath).

    At 50 digits the difference F(t_x) - F(T) loses nothing, and mpmath's 2F1 is accurate on
    the whole branch; general-purpose quadrature is not a usable reference here (the integrand
    falls by thousands of nats across the interval).
    """
    with mpmath.workdps(50):
        return float(_mp_log_integral(*(mpmath.mpf(v) for v in (r, alpha, s, beta, x, t_x, T))))


def _mp_log_integral(r, alpha, s, beta, x, t_x, T):
    """The closed form of log I in mpmath numbers, at the working precision."""
    m = r + s + x
    if alpha >= beta:
        base, second = alpha, s + 1
    else:
        base, second = beta, r + x

    def f(tau):
        z = abs(alpha - beta) / (base + tau)
        return (base + tau) ** -m * mpmath.hyp2f1(m, second, m + 1, z, maxterms=10**6)

    return mpmath.log((f(t_x) - f(T)) / m)


def test_reference_matches_the_equal_scales_integral():
    """The reference itself, where the integral is elementary (alpha == beta)."""
    r, a, s, x, t_x, T = 0.7, 3.0, 1.3, 40, 2.0, 9.0
    m = r + s + x
    # In doubles: a power, a subtraction without cancellation ((a + T)**-m is 1e-16 of the
    # other) and a division, each rounded once: a few ulps of I, ~1e-17 of log I (~ -71).
    exact = np.log(((a + t_x) ** -m - (a + T) ** -m) / m)
    assert _reference_log_integral(r, a, s, a, x, t_x, T) == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("case", EXTREME)
def test_dropout_integral_matches_mpmath(case):
    arrays = [np.array([float(v)]) for v in case]
    reference = _reference_log_integral(*case)
    # The closed form and the quadrature fallback each reach ~1e-13 relative in log I.
    assert log_dropout_integral(*arrays)[0] == pytest.approx(reference, rel=1e-12, abs=1e-12)
    assert log_dropout_integral_quadrature(*arrays)[0] == pytest.approx(
        reference, rel=1e-12, abs=1e-12
    )


def test_predictions_finite_where_lifetimes_returns_nan():
    r, alpha, s, beta, x, t_x, T = EXTREME[3]
    model = ParetoNBDModel().set_params_({"r": r, "alpha": alpha, "s": s, "beta": beta})
    data = pd.DataFrame({"frequency": [x], "recency": [float(t_x)], "T": [float(T)]})
    params = model.params_.to_numpy()
    ll = model.family.log_likelihood(params, FitData({"x": np.array([x]), "t_x": np.array([t_x]),
                                               "T": np.array([T])}, np.ones(1)))
    assert np.isfinite(ll).all()
    assert np.isfinite(model.probability_alive(data)).all()
    assert np.isfinite(model.expected_purchases(data, 52)).all()
    lifetimes = pytest.importorskip("lifetimes")
    with np.errstate(all="ignore"):
        theirs = lifetimes.ParetoNBDFitter._conditional_log_likelihood(
            params, np.array([x]), np.array([t_x]), np.array([T])
        )
    assert np.isnan(theirs).all()  # documents why we do not simply reuse lifetimes' form


def test_scipy_failure_falls_back_to_quadrature():
    """Rows where SciPy's 2F1 is not finite are integrated numerically, not returned as NaN."""
    from scipy.special import hyp2f1

    r, alpha, s, beta, x, t_x, T = 0.5, 1e6, 2.0, 1e-6, 1e5, 1.0, 2.0
    m = r + s + x
    raw = hyp2f1(m, s + 1, m + 1, (alpha - beta) / (alpha + t_x))
    result = log_dropout_integral(*[np.array([v]) for v in (r, alpha, s, beta, x, t_x, T)])
    assert np.isfinite(result).all()
    assert result[0] == pytest.approx(_reference_log_integral(r, alpha, s, beta, x, t_x, T),
                                      rel=1e-12)
    if np.isfinite(raw):
        pytest.skip("this SciPy evaluates 2F1 here; the fallback was not exercised")


# ----------------------------------------------------------------------------- partials
def _reference_partials(case) -> np.ndarray:
    """d log I / d(r, alpha, s, beta) of the 50-digit closed form (mpmath's numerical
    derivative, at its own precision far beyond doubles)."""
    r, alpha, s, beta, x, t_x, T = case

    with mpmath.workdps(50):
        point = [mpmath.mpf(float(v)) for v in (r, alpha, s, beta)]
        x, t_x, T = (mpmath.mpf(float(v)) for v in (x, t_x, T))

        def log_integral(r_, alpha_, s_, beta_):
            return _mp_log_integral(r_, alpha_, s_, beta_, x, t_x, T)

        return np.array([float(mpmath.diff(log_integral, point, order))
                         for order in np.eye(4, dtype=int).tolist()])


@pytest.mark.parametrize("case", EXTREME)
def test_dropout_integral_partials_match_mpmath(case):
    """From the quadrature (rows where SciPy's 2F1 is slow or fails) the partials are averages
    over the same nodes, ~1e-12 relative; from the closed form, r and s by central differences
    of log I with relative step 1e-4: truncation ~1e-8 and rounding ~1e-16 |log I| / 1e-4."""
    from clvmodels.models.pareto_nbd import log_dropout_integral_partials, needs_quadrature

    arrays = [np.array([float(v)]) for v in case]
    base, *partials = log_dropout_integral_partials(*arrays)
    assert base[0] == pytest.approx(_reference_log_integral(*case), rel=1e-12, abs=1e-12)
    reference = _reference_partials(case)
    by_quadrature = needs_quadrature(*arrays[:6])[0]
    rtol = 1e-10 if by_quadrature else 1e-6
    np.testing.assert_allclose(np.concatenate(partials), reference, rtol=rtol,
                               atol=rtol * np.abs(reference).max())


def test_rows_where_scipy_is_slow_go_to_the_quadrature():
    """alpha = 0.0044 and beta = 6.6e5 (a fit of CDNOW plus one customer with 1e6 purchases):
    2F1's argument is 1 - 6e-5, where SciPy takes ~1 ms a row and returns inf."""
    from clvmodels.models.pareto_nbd import needs_quadrature

    x, t_x = np.array([0.0, 2.0, 10**6]), np.array([0.0, 30.0, 38.0])
    assert needs_quadrature(0.049, 0.0044, 9694.0, 657596.0, x, t_x).all()
    # At the CDNOW estimate only the customer with 1e6 purchases: (1 - z)^-(r + x) = e**2e4
    # is beyond the float range there.
    cdnow = needs_quadrature(0.55, 10.58, 0.61, 11.67, x, t_x)
    assert cdnow.tolist() == [False, False, True]
