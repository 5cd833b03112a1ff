"""The survival coordinates the Pareto/NBD's and the GGompertz/NBD's nutpie models sample
(models/dropout_coordinates.py): the maps to the log-parameters and back, their Jacobians and
the chain rule against finite differences, and finite values at extreme but valid points."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

import mpmath  # noqa: E402
from _kernels import central_differences  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clvmodels import BayesianGGompertzNBDModel, BayesianParetoNBDModel  # noqa: E402
from clvmodels.models import dropout_coordinates as coordinates  # noqa: E402
from clvmodels.models import ggompertz_nbd_kernel  # noqa: E402
from clvmodels.models import pareto_nbd_kernel as kernel  # noqa: E402

S = kernel.S_INDEX
LOG_G = math.log(32.7)  # the CDNOW horizon, in weeks


def _log_beta(y: np.ndarray) -> float:
    return float(coordinates.log_parameters(np.asarray(y, dtype=float), S, LOG_G)[0][S + 1])


@given(st.floats(-6.0, 6.0), st.floats(-8.0, 8.0))
@settings(deadline=None)  # the first example compiles the kernel
def test_the_map_and_its_inverse_agree(log_s, log_beta):
    """Log-parameters to sampling coordinates and back return the log-parameters: to a few
    ulps of the logs that pass through log, log1p and expm1 (each rounded to ~1e-16, amplified
    by rho <= ~1e4 in this range at most into 1e-12 absolute)."""
    theta = np.array([-0.6, 2.3, log_s, log_beta])
    y = coordinates.sampling_point(theta, S, LOG_G)
    back, rho, slope = coordinates.log_parameters(y, S, LOG_G)
    np.testing.assert_allclose(back, theta, rtol=0, atol=1e-12 * max(1.0, rho))
    assert rho >= 1.0 and 0.0 <= slope <= 1.0


@pytest.mark.parametrize("log_s, log_q", [(-0.4, 0.6), (2.0, 0.3), (-3.0, 2.5), (0.5, -4.0)])
def test_jacobian_is_rho(log_s, log_q):
    """``rho`` is |d log beta / d log q| and d log beta / d log s (central differences at a
    relative step of 1e-6: truncation ~1e-12, rounding ~1e-10 of the value), and ``slope`` is
    d log rho / d log q."""
    y = np.array([-0.6, 2.3, log_s, log_q])
    _, rho, slope = coordinates.log_parameters(y, S, LOG_G)
    numeric = central_differences(_log_beta, y)
    np.testing.assert_allclose(numeric[[S, S + 1]], [rho, -rho], rtol=1e-7)
    np.testing.assert_allclose(numeric[:S], 0.0, atol=1e-9)

    def log_rho(point):
        return math.log(coordinates.log_parameters(point, S, LOG_G)[1])

    numeric_slope = central_differences(log_rho, y)
    np.testing.assert_allclose(numeric_slope[[S, S + 1]], [-slope, slope], rtol=1e-6,
                               atol=1e-9)


def _map_jacobian(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences (relative step 1e-6) of the map y -> log-parameters, a 4 x 4
    matrix, and of log rho."""
    columns = [central_differences(
        lambda point, i=i: float(coordinates.log_parameters(point, S, LOG_G)[0][i]), y)
        for i in range(4)]
    log_rho = central_differences(
        lambda point: math.log(coordinates.log_parameters(point, S, LOG_G)[1]), y)
    return np.array(columns), log_rho


def test_sampled_density_is_the_posterior_with_its_jacobian(cdnow):
    """The kernel's density in sampling coordinates is the density of the log-parameters plus
    log rho (to rounding, 1e-12), and its gradient is J' g + grad log rho with J and grad log
    rho the map's central differences (smooth closed forms: 1e-7 relative) and g the kernel's
    gradient in log-parameters."""
    model = BayesianParetoNBDModel()
    likelihood = model.family.compiled_likelihood(model.fit_data(cdnow))
    assert likelihood.horizon == pytest.approx(math.exp(LOG_G), rel=1e-3)
    priors = np.array([[-0.5, 2.3, -0.5, 2.5], [2.0, 2.0, 2.0, 2.0]])
    # The horizon of the map checked above, so that J is the kernel's.
    packed = likelihood.packed(priors, priors[0], np.eye(4))
    packed[kernel.HORIZON] = math.exp(LOG_G)
    for theta in (np.log([0.55, 10.6, 0.61, 11.7]), np.log([0.5, 9.0, 3.0, 80.0])):
        y = coordinates.sampling_point(theta, S, LOG_G)
        value, gradient = likelihood.log_density(y, packed)
        total, likelihood_gradient = likelihood.value_and_gradient(np.exp(theta))
        log_parameter_value, log_parameter_gradient = kernel.with_log_normal_priors(
            total, likelihood_gradient * np.exp(theta), theta, packed)
        rho = coordinates.log_parameters(y, S, LOG_G)[1]
        assert value == pytest.approx(log_parameter_value + math.log(rho), rel=1e-12)
        jacobian, log_rho_gradient = _map_jacobian(y)
        expected = jacobian.T @ log_parameter_gradient + log_rho_gradient
        np.testing.assert_allclose(gradient, expected, rtol=1e-6,
                                   atol=1e-7 * np.abs(log_parameter_gradient).max())


@pytest.mark.parametrize("log_s, log_q", [(0.0, -800.0), (0.0, 700.0), (-700.0, 0.0),
                                          (50.0, 50.0), (0.0, 1e-300)])
def test_extreme_coordinates_stay_finite(log_s, log_q):
    """Where q / s underflows to 0 or passes expm1's overflow, rho and its slope take their
    limits (1 and 0; u and 1) and log beta stays a number (finite, or -inf where beta
    underflows), never NaN."""
    y = np.array([0.0, 0.0, log_s, log_q])
    theta, rho, slope = coordinates.log_parameters(y, S, LOG_G)
    assert np.isfinite(rho) and rho >= 1.0 and 0.0 <= slope <= 1.0
    assert not np.isnan(theta).any()
    gradient = coordinates.sampling_gradient(np.ones(4), S, rho, slope)
    assert np.all(np.isfinite(gradient))


# ----------------------------------------------------------------------------- GGompertz/NBD
T1 = 16.35  # half the CDNOW mean T, in weeks


@given(st.floats(-745.0, 745.0))
@settings(deadline=None)  # the first example compiles the kernel
def test_log_log1p_exp_matches_mpmath(x):
    """``log log1p(e^x)`` and its slope ``sigma(x) / log1p(e^x)`` against 50-digit mpmath,
    across the whole range where e^x is a double (a few ulps of log L; the slope, a ratio of
    two rounded terms, to 1e-14)."""
    value, slope = coordinates.log_log1p_exp(x)
    with mpmath.workdps(50):
        ageing = mpmath.log1p(mpmath.exp(x))
        expected_value = float(mpmath.log(ageing))
        expected_slope = float(mpmath.exp(x) / (1 + mpmath.exp(x)) / ageing)
    assert value == pytest.approx(expected_value, rel=1e-14, abs=1e-14)
    assert slope == pytest.approx(expected_slope, rel=1e-14)


@given(st.floats(-9.0, 3.0), st.floats(-6.0, 6.0), st.floats(-8.0, 8.0))
@settings(deadline=None)  # the first example compiles the kernel
def test_the_gompertz_map_and_its_inverse_agree(log_b, log_s, log_beta):
    """The GGompertz/NBD's log-parameters to sampling coordinates and back return them: log s
    passes through log q = log s + log L and back, a few ulps of |log s| + |log L| (log L
    within [-50, 10] here: 1e-13 absolute); the other logs are untouched."""
    theta = np.array([-0.6, 2.3, log_b, log_s, log_beta])
    y = coordinates.gompertz_sampling_point(theta, T1)
    back, b_slope, beta_slope = coordinates.gompertz_log_parameters(y, T1)
    np.testing.assert_array_equal(np.delete(back, 3), np.delete(theta, 3))
    assert back[3] == pytest.approx(log_s, abs=1e-13 * (1.0 + abs(y[3] - log_s)))
    assert 0.0 < beta_slope <= 1.0 + 1e-15 and b_slope >= beta_slope


def _gompertz_log_s(y: np.ndarray) -> float:
    return float(coordinates.gompertz_log_parameters(np.asarray(y, dtype=float), T1)[0][3])


@pytest.mark.parametrize("log_b, log_q, log_beta", [(-3.6, -0.2, -1.6), (-8.0, 0.5, -6.0),
                                                    (0.5, 1.0, 2.0), (-2.0, -5.0, 6.0)])
def test_gompertz_jacobian_is_triangular_with_the_slopes(log_b, log_q, log_beta):
    """Only log s moves with the coordinates: d log s / d log q = 1 (so no Jacobian term),
    d log s / d log b = -b_slope and d log s / d log beta = beta_slope (central differences
    at a relative step of 1e-6: 1e-7 relative)."""
    y = np.array([-0.6, 2.3, log_b, log_q, log_beta])
    _, b_slope, beta_slope = coordinates.gompertz_log_parameters(y, T1)
    numeric = central_differences(_gompertz_log_s, y)
    np.testing.assert_allclose(numeric[2:], [-b_slope, 1.0, beta_slope], rtol=1e-7)
    np.testing.assert_allclose(numeric[:2], 0.0, atol=1e-9)


def test_gompertz_sampled_density_is_the_posterior(cdnow):
    """The GGompertz/NBD kernel's density in sampling coordinates is the density of the
    log-parameters (to rounding, 1e-12: the map's Jacobian is 1), and its gradient is J' g with
    J the map's central differences (1e-6 relative) and g the kernel's gradient in
    log-parameters."""
    model = BayesianGGompertzNBDModel()
    likelihood = model.family.compiled_likelihood(model.fit_data(cdnow))
    assert likelihood.horizon == pytest.approx(T1, rel=1e-3)
    priors = np.array([[-0.5, 2.3, -3.5, -0.5, -1.6], [2.0] * 5])
    packed = likelihood.packed(priors, priors[0], np.eye(5))
    packed[kernel.HORIZON] = T1
    for theta in (np.log([0.55, 10.5, 0.028, 0.6, 0.2]), np.log([0.5, 9.0, 0.3, 3.0, 8.0])):
        y = coordinates.gompertz_sampling_point(theta, T1)
        value, gradient = likelihood.log_density(y, packed)
        total, likelihood_gradient = likelihood.value_and_gradient(np.exp(theta))
        log_parameter_value, log_parameter_gradient = kernel.with_log_normal_priors(
            total, likelihood_gradient * np.exp(theta), theta, packed)
        assert value == pytest.approx(log_parameter_value, rel=1e-12)
        jacobian = np.array([central_differences(
            lambda point, i=i: float(coordinates.gompertz_log_parameters(point, T1)[0][i]), y)
            for i in range(5)])
        np.testing.assert_allclose(gradient, jacobian.T @ log_parameter_gradient, rtol=1e-6,
                                   atol=1e-7 * np.abs(log_parameter_gradient).max())
    assert ggompertz_nbd_kernel.stored_log_parameters(y, packed) == pytest.approx(theta,
                                                                                  rel=1e-14)


@pytest.mark.parametrize("log_b, log_q, log_beta", [(-800.0, 0.0, 0.0), (10.0, 0.0, 0.0),
                                                    (0.0, 0.0, -800.0), (0.0, 0.0, 800.0),
                                                    (-40.0, 700.0, 40.0)])
def test_extreme_gompertz_coordinates_stay_finite(log_b, log_q, log_beta):
    """Where b t1 underflows to 0 or overflows expm1, or g / beta leaves the doubles, the
    slopes take their limits and log s stays a number, never NaN."""
    y = np.array([0.0, 0.0, log_b, log_q, log_beta])
    theta, b_slope, beta_slope = coordinates.gompertz_log_parameters(y, T1)
    assert np.isfinite(b_slope) and np.isfinite(beta_slope) and 0.0 <= beta_slope <= 1.0
    assert not np.isnan(theta).any()
    gradient = coordinates.gompertz_sampling_gradient(np.ones(5), b_slope, beta_slope)
    assert np.all(np.isfinite(gradient))
