"""The shared fit-versus-fit comparison of tests/_tolerances.py: it accepts what optimisers
stopping at one maximum legitimately differ by, and rejects points measurably off it."""

from __future__ import annotations

import numpy as np
import pytest
from _fitting import fit_data_of, total_log_likelihood
from _tolerances import (
    Maximum,
    assert_same_maximum,
    delta_method_std_errors,
    stopping_gap,
)


def _direction(fit, which: str) -> np.ndarray:
    """The flattest or sharpest direction of ``fit``'s likelihood in log-parameters (an
    eigenvector of their covariance)."""
    params = fit.params_.to_numpy(dtype=float)
    _, vectors = np.linalg.eigh(fit.covariance_.to_numpy() / np.outer(params, params))
    return vectors[:, -1 if which == "flattest" else 0]


def _point(fit, cdnow, params: np.ndarray) -> Maximum:
    """``params`` with the log-likelihood of ``cdnow`` there and a clvmodels fit's gap."""
    fit_data = fit_data_of(fit, cdnow)
    log_likelihood = total_log_likelihood(fit, params, fit_data)
    return Maximum(params, log_likelihood,
                   stopping_gap(log_likelihood, fit.n_customers_, fit_data.n_rows))


def test_the_issues_pareto_nbd_difference_is_the_same_maximum(fitted_pnbd, cdnow):
    """The issue's machine stopped 1.2e-6 relative away in beta, along the s-beta ridge: a
    1e-6 relative tolerance fails that, the log-likelihood does not see it (1e-12 apart), and
    in standard errors it is 2e-6 of them, well inside the bound."""
    params = fitted_pnbd.params_.to_numpy(dtype=float)
    direction = _direction(fitted_pnbd, "flattest")
    other = _point(fitted_pnbd, cdnow, params * np.exp(1.2e-6 * direction / direction[3]))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(other.params, params, rtol=1e-6)
    assert abs(other.log_likelihood - fitted_pnbd.log_likelihood_) < 1e-9
    bound = assert_same_maximum(other, fitted_pnbd)
    assert 1e-4 < bound < 1e-3  # 2 sqrt(2 * 6e-9) for CDNOW


@pytest.mark.parametrize("which", ["flattest", "sharpest"])
@pytest.mark.parametrize("size", [1e-3, -1e-3])
def test_a_point_off_the_maximum_is_rejected(fitted_bgnbd, cdnow, which, size):
    """A point 1e-3 standard errors off the maximum in its most moved parameter (its
    log-likelihood ~5e-7 lower, 80 times a fit's gap) fails, whichever way it moves."""
    params = fitted_bgnbd.params_.to_numpy(dtype=float)
    std_errors = np.sqrt(np.diag(fitted_bgnbd.covariance_.to_numpy()))
    direction = _direction(fitted_bgnbd, which)
    step = size / np.max(np.abs(params * direction / std_errors))
    other = _point(fitted_bgnbd, cdnow, params * np.exp(step * direction))
    with pytest.raises(AssertionError, match="differ by|standard errors apart"):
        assert_same_maximum(other, fitted_bgnbd)


def test_delta_method_of_the_parameters_is_their_standard_errors(fitted_gg):
    """A linear function's central differences are exact up to rounding (~1e-16 * 15 / 4e-3
    relative for gamma): the delta method returns the model's own standard errors."""
    (std_errors,) = delta_method_std_errors(lambda model: model.params_.to_numpy(), [fitted_gg])
    np.testing.assert_allclose(std_errors, fitted_gg.summary()["std_error"], rtol=1e-9)
