"""The survival coordinates the Pareto/NBD's nutpie model samples
(models/dropout_coordinates.py): the map to the log-parameters and back, its Jacobian and the
chain rule against finite differences, and finite values at extreme but valid points."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from _kernels import central_differences  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clvmodels import BayesianParetoNBDModel  # noqa: E402
from clvmodels.models import dropout_coordinates as coordinates  # noqa: E402
from clvmodels.models import pareto_nbd_kernel as kernel  # noqa: E402

S = kernel.S_INDEX
LOG_G = math.log(32.7)  # the CDNOW horizon, in weeks


def _log_beta(y: np.ndarray) -> float:
    return float(coordinates.log_parameters(np.asarray(y, dtype=float), S, LOG_G)[0][S + 1])


@given(st.floats(-6.0, 6.0), st.floats(-8.0, 8.0))
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
