"""The compiled per-row likelihood of fits with covariates
(:meth:`~clvmodels.estimation.family.Family.compiled_row_gradient`): per row, at per-row
parameters, the value and the derivatives equal the family's NumPy route on the apparel
customers and on extreme rows; the covariate objective the samplers call uses it, agrees with
the NumPy objective and its gradient with central differences of its value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma

pytest.importorskip("numba")
pytest.importorskip("pymc")

import test_covariates  # noqa: E402
from _fitting import covariate_likelihood_of  # noqa: E402
from _kernels import central_differences  # noqa: E402
from test_bayes import BGNBD_POINTS, _extreme_transaction_data  # noqa: E402
from test_pareto_nbd_kernel import POINTS, _assert_gradients_agree, _extreme_rows, _row  # noqa: E402

from clvmodels import (  # noqa: E402
    BayesianBetaGeoModel,
    BayesianModifiedBetaGeoModel,
    BayesianParetoNBDModel,
)
from clvmodels.estimation.covariate_fit import CovariateObjective  # noqa: E402
from clvmodels.estimation.covariate_posterior import (  # noqa: E402
    CovariateLikelihood,
)
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import beta_geometric_row_kernel  # noqa: E402
from clvmodels.models.pareto_nbd import ParetoNBDFamily  # noqa: E402

apparel = test_covariates.apparel
BOTH = test_covariates.BOTH
PARETO_NBD = ParetoNBDFamily()


def _per_row(point: tuple, n_rows: int, seed: int) -> tuple[np.ndarray, ...]:
    """Per-row parameters around ``point``: each times e**N(0, 0.5) per row, as covariates
    scale alpha and beta (here r and s too, which the kernel takes per row as well)."""
    rng = np.random.default_rng(seed)
    return tuple(value * np.exp(rng.normal(0.0, 0.5, n_rows)) for value in point)


def _assert_rows_agree(family, data: FitData, params: tuple) -> None:
    """The compiled per-row values and gradients equal ``family.log_likelihood_gradient``,
    row by row, by the tolerances of tests/test_pareto_nbd_kernel.py: values 1e-10 relative
    with a floor of 1e-10 (the quadrature's ~1e-13 of log I's terms against the closed form,
    rounding of parts up to ~1e5 at x = 1e4), each row's gradient as
    :func:`_assert_gradients_agree` on that row alone at its own parameters."""
    rows, gradient = family.compiled_row_gradient()(params, data)
    expected_rows, expected_gradient = family.log_likelihood_gradient(params, data)
    assert rows.shape == (data.n_rows,) and gradient.shape == (4, data.n_rows)
    assert np.all(np.isfinite(rows)) and np.all(np.isfinite(gradient))
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-10, atol=1e-10)
    per_row = [np.broadcast_to(value, rows.shape) for value in params]
    for i in range(data.n_rows):
        at_row = np.array([value[i] for value in per_row])
        _assert_gradients_agree(gradient[:, i], expected_gradient[:, i], at_row, _row(data, i),
                                f"row {i} at {at_row}")


def _assert_beta_geometric_rows_agree(family, data: FitData, params: tuple) -> None:
    """The compiled per-row values and gradients of BG/NBD or MBG/NBD equal the NumPy route's,
    row by row, by the tolerances of the BG/NBD kernel tests in tests/test_bayes.py: the same
    formulas (numba's lgamma and the kernels' digamma against SciPy's log-rising factorials
    and digamma, parts up to ~1e4) differ by rounding, ~1e-11 absolute; 1e-8 relative with a
    floor of 1e-8 for the values. Each derivative is a sum of terms that cancel where a row
    barely depends on a parameter (at T = 1e-3, psi(a + b) - psi(a + b + 1) + p / a ~ 1e-14 out
    of terms ~1 / a): 1e-8 relative, or 1e-12 of the magnitudes of its terms (rounding and
    the special functions' ~1e-15 relative error of each)."""
    rows, gradient = family.compiled_row_gradient()(params, data)
    expected_rows, expected_gradient = family.log_likelihood_gradient(params, data)
    assert rows.shape == (data.n_rows,) and gradient.shape == (4, data.n_rows)
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-8, atol=1e-8)
    r, alpha, a, b = params
    x, t_x, T = data["x"], data["t_x"], data["T"]
    m = x + family.shift
    parts = np.array([
        np.abs(digamma(r + x)) + np.abs(digamma(r)) + np.abs(np.log(alpha))
        + 2 * np.abs(np.log(alpha + T)) + np.abs(np.log(alpha + t_x)),
        r / alpha + 2 * (r + x) / (alpha + T) + (r + x) / (alpha + t_x),
        np.abs(digamma(a + b)) + np.abs(digamma(a + b + m)) + 1 / a,
        np.abs(digamma(a + b)) + np.abs(digamma(b)) + np.abs(digamma(b + m))
        + np.abs(digamma(a + b + m)) + 1 / (b + np.maximum(m - 1, 0)),
    ])
    np.testing.assert_array_less(np.abs(gradient - expected_gradient),
                                 1e-8 * np.abs(expected_gradient) + 1e-12 * parts)


def _apparel_likelihood(apparel, model_class=BayesianParetoNBDModel) -> CovariateLikelihood:
    """A Bayesian model's likelihood of the apparel customers with Gender and Channel in both
    processes."""
    return covariate_likelihood_of(model_class(**BOTH), apparel)[0]


# A point of the apparel posterior (its means; CLVTools' maximum is near): r, alpha, s, beta in
# weeks, then the Gender and Channel coefficients of the purchase and dropout processes.
APPAREL_PSI = np.array([np.log(1.76), np.log(90.5), np.log(0.91), np.log(108.0),
                        0.29, 0.62, -0.64, 0.82])


def test_pareto_nbd_rows_equal_the_numpy_route_on_extreme_rows():
    """Shared and per-row parameters at every point of the kernel tests, on rows at the edges
    (x up to 1e4, t_x = T, no purchases, tiny and long intervals)."""
    data = _extreme_rows()
    for k, point in enumerate(POINTS):
        _assert_rows_agree(PARETO_NBD, data, point)
        _assert_rows_agree(PARETO_NBD, data, _per_row(point, data.n_rows, seed=k))


def test_pareto_nbd_rows_equal_the_numpy_route_on_apparel(apparel):
    """The apparel customers (rescaled, as the fit sees them) at the posterior point's
    per-customer parameters and at per-row parameters around the kernel tests' points."""
    likelihood = _apparel_likelihood(apparel)
    objective = likelihood.objective
    coordinates = objective.coordinates
    phi = likelihood.internal(APPAREL_PSI)
    for block, standardised in objective.blocks:
        params = coordinates.per_row(np.exp(phi[:coordinates.n_base]),
                                     coordinates.internal_coefficients(phi), standardised)
        _assert_rows_agree(PARETO_NBD, block, params)
        for k, point in enumerate(POINTS[:3]):
            _assert_rows_agree(PARETO_NBD, block, _per_row(point, block.n_rows, seed=10 + k))


def test_the_posterior_likelihood_uses_the_compiled_rows_and_equals_numpy(apparel):
    """The samplers' objective calls the compiled kernel, and its value and gradient in phi
    equal those of the NumPy objective: sums over 383 distinct rows of per-row values equal to
    1e-10 relative (above) and gradients to ~1e-9 relative of terms of the order of the
    total's: 1e-8 relative of the largest component."""
    likelihood = _apparel_likelihood(apparel)
    objective = likelihood.objective
    assert objective.row_gradient is PARETO_NBD.compiled_row_gradient()
    reference = CovariateObjective(objective.coordinates, objective.fit_data, 0.0)
    assert reference.row_gradient.__func__ is ParetoNBDFamily.log_likelihood_gradient
    phi = likelihood.internal(APPAREL_PSI)
    total, gradient = likelihood.at_internal(phi)
    expected_total, expected_gradient = reference.log_likelihood(phi)
    assert total == pytest.approx(expected_total, rel=1e-10)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=0,
                               atol=1e-8 * np.abs(expected_gradient).max())


def test_the_posterior_likelihood_gradient_matches_finite_differences(apparel):
    """Central differences of the compiled objective's value in phi (relative step 1e-6, every
    component of phi at least ~0.1 here: truncation ~1e-12 relative; rounding, a few ulps of
    |LL| ~ 3e3 over 2 * step >= 2e-7, ~1e-5 absolute, and the quadrature's choice of panels
    moving with the parameters, ~1e-13 of each row's terms): 1e-6 relative, floor 1e-3."""
    likelihood = _apparel_likelihood(apparel)
    for psi in (APPAREL_PSI, APPAREL_PSI + np.array([0.3, -0.2, 0.5, 1.0, 0.2, -0.3, 0.4, 0.1])):
        phi = likelihood.internal(psi)
        assert np.all(np.abs(phi) > 0.05)  # no zero step
        _, gradient = likelihood.at_internal(phi)
        numeric = central_differences(lambda p: likelihood.at_internal(p)[0], phi)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("model_class", [BayesianBetaGeoModel, BayesianModifiedBetaGeoModel],
                         ids=lambda c: c.__name__)
def test_beta_geometric_rows_equal_the_numpy_route(model_class, apparel):
    """BG/NBD and MBG/NBD (shift 0 and 1): shared and per-row parameters at the BG/NBD kernel
    tests' points on their extreme rows, and the apparel customers at per-row parameters."""
    family = model_class.family
    data = _extreme_transaction_data()
    # With the apparel MLE's huge shapes (a = 4e6, b = 3e7 at z = 0), where a difference of
    # log-gammas would lose ~1e-7 nats a row.
    huge = {"r": 0.666, "alpha": 38.19, "a": 4.09e6, "b": 3.02e7}
    for k, point in enumerate([*BGNBD_POINTS, huge]):
        values = tuple(point.values())
        _assert_beta_geometric_rows_agree(family, data, values)
        _assert_beta_geometric_rows_agree(family, data, _per_row(values, data.n_rows, k))
    objective = _apparel_likelihood(apparel, model_class).objective
    # The samplers' objective calls the compiled kernel with the family's shift.
    assert objective.row_gradient.func is beta_geometric_row_kernel.row_log_likelihood_gradient
    assert objective.row_gradient.args == (family.shift,)
    for block, _ in objective.blocks:
        for k, point in enumerate(BGNBD_POINTS):
            _assert_beta_geometric_rows_agree(
                family, block, _per_row(tuple(point.values()), block.n_rows, 20 + k))
