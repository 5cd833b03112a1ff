"""The Gamma-Gamma compiled kernel (models/gamma_gamma_kernel.py): the NumPy likelihood per row,
its gradient against finite differences, nutpie's C callbacks in whitened coordinates, and the
native route taking it with the default priors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")
pytest.importorskip("numba")

from _fitting import fit_data_of  # noqa: E402
from _kernels import NutpieCallbacks, native_model  # noqa: E402

from clvmodels import BayesianGammaGammaModel, GammaGammaModel  # noqa: E402
from clvmodels.bayes import native  # noqa: E402
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import gamma_gamma_kernel as kernel  # noqa: E402
from clvmodels.models.gamma_gamma import GAMMA_GAMMA  # noqa: E402

POINTS = [
    (6.25, 3.74, 15.44),  # the published CDNOW estimate
    (1e-3, 1e3, 1e-3),
    (50.0, 1.5, 500.0),
    (1.0, 2.0, 1e4),
]


def _extreme_spend_data() -> FitData:
    """Rows at the edges: one and hundreds of repeat purchases, cents and millions."""
    x = np.array([1, 1, 2, 7, 150, 600, 3], dtype=float)
    zbar = np.array([0.01, 1e6, 35.5, 12.0, 0.5, 2e4, 1e-4])
    return FitData.compress({"x": x, "zbar": zbar}, np.array([1, 3, 1, 2, 1, 1, 5.0]))


def _data_sets(cdnow) -> list[FitData]:
    return [fit_data_of(GammaGammaModel(), cdnow), _extreme_spend_data()]


def test_kernel_equals_the_numpy_likelihood_per_row(cdnow):
    """On each distinct row alone (so that no error can hide in a sum) the kernel's value and
    gradient equal the family's NumPy row: the same formula in two libraries (numba's lgamma and
    the BG/NBD kernel's digamma against SciPy's), parts up to ~1e5 at the edges, so rounding
    ~1e-11 absolute; 1e-8 relative with a floor of 1e-8 of the largest gradient component."""
    for data in _data_sets(cdnow):
        for i in range(data.n_rows):
            row = FitData({name: column[i:i + 1] for name, column in data.columns.items()},
                          np.ones(1))
            compiled = GAMMA_GAMMA.compiled_likelihood(row)
            for params in POINTS:
                total, gradient = compiled.value_and_gradient(np.array(params))
                rows, expected = GAMMA_GAMMA.log_likelihood_gradient(np.array(params), row)
                assert total == pytest.approx(rows[0], rel=1e-8, abs=1e-8), (i, params)
                np.testing.assert_allclose(gradient, expected[:, 0], rtol=1e-8,
                                           atol=1e-8 * np.abs(expected).max())


def test_kernel_gradient_matches_finite_differences(cdnow):
    """Central differences of the kernel's own value (relative step 1e-6: truncation ~1e-12,
    rounding of a total ~4e3 is ~1e-13 / 1e-6 = 1e-7 absolute) at the CDNOW estimate."""
    compiled = GAMMA_GAMMA.compiled_likelihood(fit_data_of(GammaGammaModel(), cdnow))
    values = np.array(POINTS[0])
    _, gradient = compiled.value_and_gradient(values)
    for i in range(3):
        step = 1e-6 * values[i]
        up, down = values.copy(), values.copy()
        up[i] += step
        down[i] -= step
        numeric = (compiled.value_and_gradient(up)[0]
                   - compiled.value_and_gradient(down)[0]) / (2 * step)
        assert gradient[i] == pytest.approx(numeric, rel=1e-6, abs=1e-5)


def test_default_priors_sample_through_the_compiled_callbacks(cdnow):
    """With the default (log-normal) priors nutpie gets the kernel's C callbacks, not a
    Python log density; its packed data are the priors, the whitening and the kernel's data."""
    fit_data, pymc_model, compiled = native_model(BayesianGammaGammaModel(), cdnow)
    assert compiled.compiled_logp_func is not None and compiled.logp_func is None
    priors = native.log_normal_priors(pymc_model, GAMMA_GAMMA.param_names)
    packed = compiled.user_data
    np.testing.assert_array_equal(packed[kernel.PRIORS:kernel.CENTRE], priors.ravel())
    np.testing.assert_array_equal(packed[kernel.HEADER:],
                                  np.concatenate(GAMMA_GAMMA.compiled_likelihood(fit_data).data))


def test_log_density_equals_the_pymc_model_and_the_numpy_route(cdnow):
    """The kernel's log density (priors written out) against the PyMC model's (the NumPy Op)
    and the NumPy native density: the same sums in another order, parts up to ~25 times the
    total (log-gamma terms of p x ~1e5 against ~4e3): 1e-11 relative, as in test_bayes."""
    fit_data, pymc_model, _ = native_model(BayesianGammaGammaModel(), cdnow)
    priors = native.log_normal_priors(pymc_model, GAMMA_GAMMA.param_names)
    packed = GAMMA_GAMMA.compiled_likelihood(fit_data).packed(priors, priors[0], np.eye(3))
    logp, dlogp = pymc_model.compile_logp(), pymc_model.compile_dlogp()
    for params in POINTS[:3]:
        theta = np.log(params)
        value, gradient = kernel.log_density(theta, packed)
        point = {f"{name}_log__": t for name, t in zip(GAMMA_GAMMA.param_names, theta,
                                                       strict=True)}
        expected_gradient = dlogp(point)
        assert value == pytest.approx(logp(point), rel=1e-11)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-11,
                                   atol=1e-11 * np.abs(expected_gradient).max())
        numpy_value, numpy_gradient = native.python_log_density(GAMMA_GAMMA, fit_data, priors,
                                                                theta)
        assert value == pytest.approx(numpy_value, rel=1e-11)
        np.testing.assert_allclose(gradient, numpy_gradient, rtol=1e-11,
                                   atol=1e-11 * np.abs(numpy_gradient).max())


def test_callbacks_sample_whitened_coordinates(cdnow):
    """The C callbacks (called through ctypes as nutpie calls them) evaluate the log density at
    log-parameters = mode + L z and return L' times its gradient (a linear map: equal to
    rounding, 1e-12); the stored draw is those log-parameters and their exponentials; a
    non-finite density is reported by nutpie's codes, not raised."""
    _, _, compiled = native_model(BayesianGammaGammaModel(), cdnow)
    callbacks = NutpieCallbacks(compiled)
    packed = callbacks.packed
    mode = packed[kernel.CENTRE:kernel.FACTOR]
    factor = packed[kernel.FACTOR:kernel.HEADER].reshape(3, 3)
    assert np.allclose(factor, np.tril(factor)) and np.all(np.diag(factor) > 0)
    log_density_at, draw_at = callbacks.log_density, callbacks.draw

    for z in (np.zeros(3), np.array([1.5, -2.0, 3.0])):
        theta = mode + factor @ z
        expected_value, expected_gradient = kernel.log_density(theta, packed)
        status, value, gradient = log_density_at(z)
        assert status == 0 and value == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(gradient, factor.T @ expected_gradient, rtol=1e-12,
                                   atol=1e-12 * np.abs(expected_gradient).max())
        # mode + L z summed in another order than NumPy's: a few ulps of |mode| + |L| |z|.
        status, draw = draw_at(z)
        assert status == 0
        np.testing.assert_allclose(draw, np.concatenate([theta, np.exp(theta)]), rtol=1e-14)
    assert log_density_at(np.zeros(3), dim=2)[0] == -1
    # q = e**-1e6 = 0: lgamma(0) and digamma(0) are infinite.
    far = np.linalg.solve(factor, np.array([0.0, -1e6, 0.0]) - mode)
    assert log_density_at(far)[0] in (3, 4)
    # The centre is the mode to within what the whitening needs: a step H^-1 g from it, L' g in
    # whitened units (sds). BFGS stops at gtol 1e-8 or where the rounding of the total (~1e-12
    # of ~4e3) hides its decrease, e = 4e-9, within sqrt(2 e) ~ 1e-4 sds of the mode.
    assert np.abs(factor.T @ kernel.log_density(mode, packed)[1]).max() <= 1e-4


def test_other_priors_keep_the_numpy_likelihood(cdnow):
    """A kernel without a PyTensor Op leaves other priors to the NumPy likelihood Op: the PyMC
    model's density then equals the family's NumPy total plus the priors (1e-11, as above)."""
    import pymc as pm

    model = BayesianGammaGammaModel(priors={"q": pm.Gamma.dist(alpha=2.0, beta=1.0)})
    fit_data, pymc_model, compiled = native_model(model, cdnow)
    assert compiled is None
    point = pymc_model.initial_point()
    params = np.array([np.exp(point["p_log__"]), np.exp(point["q_log__"]),
                       np.exp(point["gamma_log__"])])
    # The likelihood is the model's one potential (clvmodels.bayes.model), of the values.
    likelihood = pymc_model.compile_fn(pymc_model.potentiallogp, inputs=pymc_model.value_vars,
                                       on_unused_input="ignore")
    total, _, _ = GAMMA_GAMMA.derivatives(params, fit_data)
    assert float(likelihood(point)) == pytest.approx(total, rel=1e-11)
