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
def _reference_derivative(case, order) -> float:
    """A partial derivative of ``order`` (one count per parameter of (r, alpha, s, beta)) of
    the 50-digit closed form of log I (mpmath's numerical derivative, at its own precision far
    beyond doubles)."""
    r, alpha, s, beta, x, t_x, T = case

    with mpmath.workdps(50):
        point = [mpmath.mpf(float(v)) for v in (r, alpha, s, beta)]
        x, t_x, T = (mpmath.mpf(float(v)) for v in (x, t_x, T))

        def log_integral(r_, alpha_, s_, beta_):
            return _mp_log_integral(r_, alpha_, s_, beta_, x, t_x, T)

        return float(mpmath.diff(log_integral, point, list(order)))


def _reference_partials(case) -> np.ndarray:
    """d log I / d(r, alpha, s, beta) of the 50-digit closed form."""
    return np.array([_reference_derivative(case, order)
                     for order in np.eye(4, dtype=int).tolist()])


def _reference_second_partials(case) -> np.ndarray:
    """The 4 x 4 second derivatives of the 50-digit closed form of log I."""
    result = np.empty((4, 4))
    for i in range(4):
        for j in range(i, 4):
            order = np.zeros(4, dtype=int)
            order[i] += 1
            order[j] += 1
            result[i, j] = result[j, i] = _reference_derivative(case, order.tolist())
    return result


# Rows that reach every route: the Kronrod rule (CDNOW-like rows), the 32-node rule and the
# adaptive fallback (alpha and beta far apart, huge x), and a short interval (t_x = T - 1e-6,
# where the closed form's difference F(t_x) - F(T) cancels).
DERIVATIVE_CASES = [*EXTREME, (0.55, 10.58, 0.61, 11.67, 3, 30.0, 30.000001),
                    (0.55, 10.58, 0.61, 11.67, 0, 0.0, 39.0)]


@pytest.mark.parametrize("case", DERIVATIVE_CASES)
def test_dropout_integral_derivatives_match_mpmath(case):
    """The value, gradient and Hessian of log I from one quadrature, against mpmath's
    derivatives of the 50-digit closed form. Each route is accurate to ~1e-13 relative (the
    rules agree with a higher one to 1e-9 before they are accepted, and their errors fall
    geometrically, see the module); the second derivatives are covariances of the integrand's
    log-derivatives, which subtract two averages: 1e-8 of the largest entry leaves room for
    that cancellation."""
    from clvmodels.models.pareto_nbd_quadrature import dropout_integral_derivatives

    arrays = [np.array([float(v)]) for v in case]
    value, gradient, hessian = dropout_integral_derivatives(*arrays, hessian=True)
    assert value[0] == pytest.approx(_reference_log_integral(*case), rel=1e-13, abs=1e-13)
    reference = _reference_partials(case)
    np.testing.assert_allclose(gradient[:, 0], reference, rtol=1e-10,
                               atol=1e-10 * np.abs(reference).max())
    second = _reference_second_partials(case)
    np.testing.assert_allclose(hessian[:, :, 0], second, rtol=1e-8,
                               atol=1e-8 * np.abs(second).max())


def test_fit_derivatives_match_mpmath_on_extreme_rows():
    """The family's weighted totals (the route every fit takes) on the extreme rows at once:
    the total against the per-row closed form (each row ~1e-13 relative), the gradient
    against mpmath's derivatives of the 50-digit per-row log-likelihood."""
    from clvmodels.models.pareto_nbd import PARETO_NBD

    cases = [case for case in DERIVATIVE_CASES if case[:4] == DERIVATIVE_CASES[0][:4]]
    params = np.array(cases[0][:4], dtype=float)
    columns = {name: np.array([float(case[4 + k]) for case in cases])
               for k, name in enumerate(("x", "t_x", "T"))}
    fit_data = FitData(columns, np.arange(1.0, len(cases) + 1))
    total, gradient, hessian = PARETO_NBD.derivatives(params, fit_data, hessian=True)
    assert total == pytest.approx(PARETO_NBD.total_log_likelihood(params, fit_data), rel=1e-13)

    def mp_total(r, alpha, s, beta):
        result = 0
        for weight, (_, _, _, _, x, t_x, T) in zip(fit_data.weights, cases, strict=True):
            x, t_x, T = (mpmath.mpf(float(v)) for v in (x, t_x, T))
            c = (mpmath.loggamma(r + x) - mpmath.loggamma(r) + r * mpmath.log(alpha)
                 + s * mpmath.log(beta))
            alive = -(r + x) * mpmath.log(alpha + T) - s * mpmath.log(beta + T)
            dropped = mpmath.log(s) + _mp_log_integral(r, alpha, s, beta, x, t_x, T)
            peak = max(alive, dropped)
            result += weight * (c + peak + mpmath.log(mpmath.exp(alive - peak)
                                                      + mpmath.exp(dropped - peak)))
        return result

    with mpmath.workdps(50):
        point = [mpmath.mpf(float(v)) for v in params]
        reference = np.array([float(mpmath.diff(mp_total, point, order))
                              for order in np.eye(4, dtype=int).tolist()])
    np.testing.assert_allclose(gradient, reference, rtol=1e-10,
                               atol=1e-10 * np.abs(reference).max())
    assert np.all(np.isfinite(hessian))


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


@pytest.mark.parametrize("params", [(0.55, 10.58, 0.61, 11.67), (0.5, 1e-3, 0.6, 1e3),
                                    (0.2, 100.0, 0.1, 1.0)])
def test_pooled_hessian_is_the_weighted_sum_of_the_rows_hessians(params):
    """The fit's Hessian of log I summed over rows at once (one product over all rows' nodes,
    the rows the Kronrod rule leaves to other rules one by one) against the weighted sum of the
    per-row Hessians: the same terms summed in another order, ~1e-15 of the largest entry;
    1e-12 leaves room for the sums over ~1,000 rows of both signs."""
    from clvmodels.models.pareto_nbd_quadrature import (
        dropout_integral_derivatives,
        dropout_integral_pooled,
    )

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.poisson(3.0, 400), [0, 2000, 5000, 3000, 10000, 1]]).astype(float)
    T = np.concatenate([rng.uniform(20.0, 80.0, 400), [39.0, 400.0, 3001.0, 500.0, 1e5, 1e6]])
    t_x = np.where(x > 0, T * rng.random(len(T)), 0.0)
    t_x[-6:] = [0.0, 300.0, 3000.0, 50.0, 10.0, 0.001]
    t_x[:5] = T[:5]  # empty intervals
    weights = rng.random(len(x))
    log_i, gradient, per_row = dropout_integral_derivatives(*params, x, t_x, T, hessian=True)
    pooled_log_i, pooled_gradient, pooled = dropout_integral_pooled(*params, x, t_x, T)
    np.testing.assert_array_equal(pooled_log_i, log_i)
    np.testing.assert_array_equal(pooled_gradient, gradient)
    expected = np.einsum("ijn,n->ij", per_row, weights)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(pooled(weights), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())


def test_pooled_hessian_with_per_row_scales_in_both_orders():
    """Per-row alpha and beta, some rows with alpha above beta and some below: each order's
    rows are pooled apart and put back in (alpha, beta) order (same tolerance as above)."""
    from clvmodels.models.pareto_nbd_quadrature import (
        dropout_integral_derivatives,
        dropout_integral_pooled,
    )

    rng = np.random.default_rng(4)
    n = 300
    alpha, beta = rng.uniform(1.0, 20.0, n), rng.uniform(1.0, 20.0, n)
    x = rng.poisson(2.0, n).astype(float)
    T = rng.uniform(20.0, 80.0, n)
    t_x = np.where(x > 0, T * rng.random(n), 0.0)
    weights = rng.random(n)
    _, _, per_row = dropout_integral_derivatives(0.6, alpha, 0.7, beta, x, t_x, T, hessian=True)
    expected = np.einsum("ijn,n->ij", per_row, weights)
    pooled = dropout_integral_pooled(0.6, alpha, 0.7, beta, x, t_x, T)[2]
    np.testing.assert_allclose(pooled(weights), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())
