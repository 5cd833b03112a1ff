"""The Pareto/NBD compiled kernel (models/pareto_nbd_kernel.py): value and gradient against the
family's NumPy derivatives (quadrature of the dropout integral) on CDNOW and on extreme rows,
its two routes (2F1 series, quadrature) against each other, a property over parameters and
rows, nutpie's C callbacks in whitened coordinates, and the PyTensor Op in the PyMC graph."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")
pytest.importorskip("numba")

from _kernels import NutpieCallbacks, central_differences, native_model  # noqa: E402
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.special import digamma  # noqa: E402

from clvmodels import BayesianParetoNBDModel  # noqa: E402
from clvmodels.bayes import native  # noqa: E402
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import dropout_coordinates  # noqa: E402
from clvmodels.models import pareto_nbd_kernel as kernel  # noqa: E402
from clvmodels.models.pareto_nbd import ParetoNBDFamily  # noqa: E402

FAMILY = ParetoNBDFamily()
POINTS = [
    (0.553, 10.58, 0.606, 11.67),  # the published CDNOW estimate
    (0.55, 10.5, 0.8, 19.0),  # the posterior mean (s, beta along their ridge)
    (0.55, 10.5, 3.0, 80.0),  # far along the ridge: z near 1, the quadrature's rows
    (1e-3, 1e3, 1e-3, 1e-2),  # alpha >> beta
    (20.0, 0.05, 5.0, 200.0),  # alpha << beta
    (1.0, 7.0, 1.0, 7.0),  # alpha == beta: z = 0
    (1e3, 1e-3, 1e3, 1e3),
    (1e-3, 1e-3, 1e-3, 1e-3),
    (1e3, 1e3, 1e3, 1e-3),
]


def _extreme_rows() -> FitData:
    """Rows at the edges: x up to 1e4, purchases at T (t_x = T) and none (t_x = 0), tiny and
    long intervals, tiny and huge T."""
    x = np.array([0, 0, 0, 1, 1, 5, 50, 200, 500, 3, 1, 80, 1e4, 1e4, 1e4, 2, 30], dtype=float)
    t_x = np.array([0, 0, 0, 1e-3, 0.5, 39.0, 38.0, 70.0, 300.0, 2.0, 999.0, 10.0, 50.0,
                    99.9, 0.01, 38.99, 39.0])
    T = np.array([1e-3, 39.0, 1e4, 1e-3, 39.0, 39.0, 39.0, 78.0, 520.0, 1000.0, 1000.0, 10.0,
                  100.0, 100.0, 100.0, 39.0, 39.0])
    return FitData.compress({"x": x, "t_x": t_x, "T": T}, np.arange(1.0, len(x) + 1))


def _data_sets(cdnow) -> list[FitData]:
    return [BayesianParetoNBDModel().fit_data(cdnow), _extreme_rows()]


def _row(data: FitData, i: int) -> FitData:
    return FitData({name: column[i:i + 1] for name, column in data.columns.items()}, np.ones(1))


def _assert_gradients_agree(gradient, expected, params, data: FitData, message=""):
    """The gradient equals the NumPy route's to 1e-9 relative, or to 1e-12 of the weighted
    magnitudes of the parts it is a sum of (a row's c, u and log I terms, which cancel where a
    customer's likelihood barely depends on a parameter: e.g. log alpha - log(alpha + T) at
    T = 1e-3): the quadrature's averages are accurate to ~1e-13 of those parts and rounding to
    ~1e-16 of them. The series route adds, in alpha and beta, terms m / (base + tau) and
    b2 / (base + tau) (base = max(alpha, beta), tau >= t_x) that cancel to the derivative: at
    alpha = beta = s = 148, r = 1e-3, the derivative in alpha is 6e-8 out of terms near 1."""
    r, alpha, s, beta = params
    x, t_x, T = data["x"], data["t_x"], data["T"]
    series = (r + s + x + 1.0) / (np.maximum(alpha, beta) + t_x)
    parts = np.array([
        np.abs(np.log(alpha)) + np.abs(digamma(r + x) - digamma(r)) + np.abs(np.log(alpha + T))
        + np.abs(np.log(alpha + t_x)),
        r / alpha + (r + x) / (alpha + T) + (r + x) / (alpha + t_x) + series,
        np.abs(np.log(beta)) + np.abs(np.log(beta + T)) + np.abs(np.log(beta + t_x)) + 1 / s,
        s / beta + s / (beta + T) + (s + 1) / (beta + t_x) + series,
    ]) @ data.weights
    np.testing.assert_array_less(np.abs(gradient - expected),
                                 1e-9 * np.abs(expected) + 1e-12 * parts, err_msg=message)


def test_kernel_equals_the_numpy_derivatives(cdnow):
    """On all rows at once and on each row alone (so that no error hides in a sum) the kernel's
    value and gradient equal ParetoNBDFamily.derivatives (the NumPy quadrature of the dropout
    integral). The two differ by the quadrature's accuracy: the NumPy route accepts a Kronrod
    value whose Gauss rule agrees to 1e-9, accurate to ~1e-13 relative of log I's terms (its
    docstring), and the series is exact to rounding; with rounding of parts up to ~1e5
    (x = 1e4 rows) against totals down to ~1: 1e-10 relative for the values with a floor of
    1e-10 absolute, and the gradient as :func:`_assert_gradients_agree` (measured at most
    7e-12 of the largest component on CDNOW)."""
    for data in _data_sets(cdnow):
        compiled = FAMILY.compiled_likelihood(data)
        for point in POINTS:
            params = np.array(point)
            total, gradient = compiled.value_and_gradient(params)
            expected_total, expected_gradient, _ = FAMILY.derivatives(params, data)
            assert total == pytest.approx(expected_total, rel=1e-10), point
            _assert_gradients_agree(gradient, expected_gradient, params, data, str(point))
    data = _extreme_rows()
    for i in range(data.n_rows):
        row = _row(data, i)
        compiled = FAMILY.compiled_likelihood(row)
        for point in POINTS:
            params = np.array(point)
            total, gradient = compiled.value_and_gradient(params)
            expected_total, expected_gradient, _ = FAMILY.derivatives(params, row)
            assert np.isfinite(total) and np.all(np.isfinite(gradient)), (i, point)
            assert total == pytest.approx(expected_total, rel=1e-10, abs=1e-10), (i, point)
            _assert_gradients_agree(gradient, expected_gradient, params, row,
                                    f"row {i} at {point}")


def test_series_and_quadrature_agree(cdnow):
    """Where the 2F1 series serves, the kernel's own quadrature gives the same log I and
    gradient (two independent routes: the series to rounding, the quadrature to the square of
    its 1e-9 acceptance): 1e-11 relative of log I and of each derivative's scale (measured
    ~1e-13). Both routes are exercised: at the CDNOW estimate most rows take the series, far
    along the s-beta ridge (z near 1) none do."""
    data = BayesianParetoNBDModel().fit_data(cdnow)
    x, t_x, T = data["x"], data["t_x"], data["T"]
    taken = {}
    for point in POINTS[:3]:
        compared = 0
        for i in np.flatnonzero(t_x < T):
            series = np.array(kernel._series_log_i(*point, x[i], t_x[i], T[i]))
            if np.isnan(series[0]):
                continue
            quadrature = np.array(kernel._quadrature_log_i(*point, x[i], t_x[i], T[i]))
            np.testing.assert_allclose(series, quadrature, rtol=1e-11,
                                       atol=1e-11 * np.abs(quadrature).max())
            compared += 1
        taken[point] = compared
    assert taken[POINTS[0]] > 0.9 * np.count_nonzero(t_x < T)
    assert taken[POINTS[2]] == 0


def test_kernel_gradient_matches_finite_differences(cdnow):
    """Central differences of the kernel's own value (relative step 1e-6: truncation ~1e-12
    relative; rounding, a few ulps of |LL| ~ 1e4 over 2 * step >= 1.1e-6, ~1e-5 absolute) at
    the CDNOW estimate and at the posterior mean: 1e-6 relative, floor 1e-3."""
    compiled = FAMILY.compiled_likelihood(BayesianParetoNBDModel().fit_data(cdnow))
    for point in POINTS[:2]:
        values = np.array(point)
        _, gradient = compiled.value_and_gradient(values)
        numeric = central_differences(lambda p: compiled.value_and_gradient(p)[0], values)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-3, err_msg=str(point))


_LOG_PARAMETER = st.floats(min_value=np.log(1e-3), max_value=np.log(1e3))


@settings(max_examples=150, deadline=None)
@given(log_params=st.tuples(*[_LOG_PARAMETER] * 4),
       x=st.integers(min_value=0, max_value=10_000),
       log_T=st.floats(min_value=np.log(1e-2), max_value=np.log(1e3)),
       recency=st.floats(min_value=0.0, max_value=1.0))
# T - t_x = 9e-16, below an ulp of log(c + t_x): the quadrature's panel had width 0, log I -inf.
@example(log_params=(0.0, 0.0, 0.0, 0.0), x=1, log_T=2.0, recency=0.9999999999999999)
@example(log_params=(-6.625, 5.0, 5.0, 5.0), x=0, log_T=0.0, recency=0.0)  # the cancellation
def test_kernel_is_finite_and_matches_numpy_anywhere(log_params, x, log_T, recency):
    """At any parameters in [1e-3, 1e3] and any row (x up to 1e4, t_x anywhere in [0, T],
    0 without purchases) the kernel is finite and equals the NumPy route (the tolerances of
    test_kernel_equals_the_numpy_derivatives). A non-finite value inside NUTS is a
    divergence."""
    T = float(np.exp(log_T))
    t_x = recency * T if x > 0 else 0.0
    row = FitData({"x": np.array([float(x)]), "t_x": np.array([t_x]), "T": np.array([T])},
                  np.ones(1))
    params = np.exp(np.array(log_params))
    total, gradient = FAMILY.compiled_likelihood(row).value_and_gradient(params)
    assert np.isfinite(total) and np.all(np.isfinite(gradient))
    expected_total, expected_gradient, _ = FAMILY.derivatives(params, row)
    assert total == pytest.approx(expected_total, rel=1e-10, abs=1e-10)
    _assert_gradients_agree(gradient, expected_gradient, params, row)


def test_log_density_is_the_same_in_every_backend(cdnow):
    """With the default priors nutpie gets the kernel's C callbacks (no Python log density)
    with the priors, the whitening and the kernel's data packed; the kernel's log density of
    the log-parameters (its likelihood, priors written out) equals the NumPy native density and
    the PyMC model's (the kernel's Op, in PyTensor's C and numba backends): the same terms
    summed in another order, and the NumPy route's quadrature (see
    test_kernel_equals_the_numpy_derivatives): 1e-10 relative, the gradient to 1e-9 with a
    floor of 1e-10 of its largest component. The density nutpie samples, in the survival
    coordinates, is that density plus the log Jacobian, its gradient mapped by the chain rule
    (both checked against finite differences in tests/test_dropout_coordinates.py): equal to
    rounding."""
    fit_data, pymc_model, compiled = native_model(BayesianParetoNBDModel(), cdnow)
    assert compiled.compiled_logp_func is not None and compiled.logp_func is None
    priors = native.log_normal_priors(pymc_model, FAMILY.param_names)
    likelihood = FAMILY.compiled_likelihood(fit_data)
    np.testing.assert_array_equal(compiled.user_data[kernel.header_length(kernel.N_PARAMS):],
                                  np.concatenate(likelihood.data))
    packed = likelihood.packed(priors, priors[0], np.eye(4))
    assert packed[kernel.HORIZON] == pytest.approx(cdnow["T"].mean(), rel=1e-12)
    compiled_functions = [(pymc_model.compile_logp(mode=mode), pymc_model.compile_dlogp(mode=mode))
                          for mode in ("FAST_RUN", "NUMBA")]
    for point in POINTS[:3]:
        theta = np.log(point)
        total, likelihood_gradient = likelihood.value_and_gradient(np.asarray(point))
        value, gradient = kernel.with_log_normal_priors(total, likelihood_gradient * point,
                                                        theta, packed)
        numpy_value, numpy_gradient = native.python_log_density(FAMILY, fit_data, priors, theta)
        assert value == pytest.approx(numpy_value, rel=1e-10)
        np.testing.assert_allclose(gradient, numpy_gradient, rtol=1e-9,
                                   atol=1e-10 * np.abs(numpy_gradient).max())
        values = {f"{name}_log__": t for name, t in zip(FAMILY.param_names, theta, strict=True)}
        for logp, dlogp in compiled_functions:
            # The same kernel; PyTensor applies the chain rule and adds the priors in its own
            # order: rounding of the likelihood's gradient, a sum of 2,357 weighted terms of up
            # to ~10 (~1e-12 absolute), whatever the total (near 0 at the mode).
            assert logp(values) == pytest.approx(value, rel=1e-12)
            np.testing.assert_allclose(dlogp(values), gradient, rtol=1e-12, atol=1e-10)
        y = likelihood.sampling_point(theta)
        back, rho, slope = dropout_coordinates.log_parameters(y, kernel.S_INDEX,
                                                              np.log(likelihood.horizon))
        np.testing.assert_allclose(back, theta, rtol=1e-14, atol=1e-14)
        sampled_value, sampled_gradient = kernel.log_density(y, packed)
        assert sampled_value == pytest.approx(value + np.log(rho), rel=1e-12)
        np.testing.assert_allclose(
            sampled_gradient, dropout_coordinates.sampling_gradient(gradient, kernel.S_INDEX,
                                                                    rho, slope),
            rtol=1e-10, atol=1e-10 * np.abs(gradient).max())


def test_pymc_graph_holds_the_kernel_op(cdnow):
    """Other priors take PyMC's graph: its likelihood is the kernel's Op (not the NumPy Op),
    and its potential equals the family's NumPy total (1e-10, as above)."""
    import pymc as pm

    model = BayesianParetoNBDModel(priors={"s": pm.Gamma.dist(alpha=2.0, beta=2.0)})
    fit_data, pymc_model, compiled = native_model(model, cdnow)
    assert compiled is None
    from pytensor.graph.traversal import ancestors

    graph_ops = {type(v.owner.op) for v in ancestors([pymc_model.potentiallogp]) if v.owner}
    assert kernel.ParetoNBDLogLikelihood in graph_ops
    point = pymc_model.initial_point()
    params = np.exp([point[f"{name}_log__"] for name in FAMILY.param_names])
    likelihood = pymc_model.compile_fn(pymc_model.potentiallogp, inputs=pymc_model.value_vars,
                                       on_unused_input="ignore")
    total, _, _ = FAMILY.derivatives(params, fit_data)
    assert float(likelihood(point)) == pytest.approx(total, rel=1e-10)


def test_callbacks_sample_whitened_coordinates(cdnow):
    """The C callbacks (called through ctypes as nutpie calls them) evaluate the log density at
    sampling coordinates y = mode + L z and return L' times its gradient (a linear map: equal
    to rounding, 1e-12); the stored draw is the log-parameters at y and their exponentials;
    a non-finite density is reported by nutpie's codes, not raised."""
    _, _, compiled = native_model(BayesianParetoNBDModel(), cdnow)
    callbacks = NutpieCallbacks(compiled)
    packed = callbacks.packed
    mode, factor = kernel.whitened(np.zeros(4), packed)
    assert np.allclose(factor, np.tril(factor)) and np.all(np.diag(factor) > 0)
    log_density_at = callbacks.log_density

    for z in (np.zeros(4), np.array([1.5, -2.0, 0.3, 3.0])):
        y = mode + factor @ z
        expected_value, expected_gradient = kernel.log_density(y, packed)
        status, value, gradient = log_density_at(z)
        assert status == 0 and value == pytest.approx(expected_value, rel=1e-12)
        # theta from mode + L z in another order than NumPy's differs by an ulp or so (~1e-15),
        # which moves the gradient by the Hessian (~1e4 in log-parameters) times that: 1e-10
        # absolute, whatever the gradient (~1e-8 at the mode).
        np.testing.assert_allclose(gradient, factor.T @ expected_gradient, rtol=1e-12,
                                   atol=1e-10)
        status, draw = callbacks.draw(z)
        assert status == 0
        # mode + L z summed in another order than NumPy's: a few ulps of |mode| + |L| |z|,
        # which log beta's map (its derivatives rho ~ 1-10) carries over.
        theta = kernel.stored_log_parameters(y, packed)
        np.testing.assert_allclose(draw, np.concatenate([theta, np.exp(theta)]), rtol=1e-13)
    assert log_density_at(np.zeros(4), dim=3)[0] == -1
    # r = e**-1e6 = 0: lgamma(0) and digamma(0) are infinite.
    far = np.linalg.solve(factor, np.array([-1e6, 0.0, 0.0, 0.0]) - mode)
    assert log_density_at(far)[0] in (3, 4)
    # The centre is the posterior mode to within what the whitening needs (as for the BG/NBD
    # kernel): L' g, the gradient in whitened units, below 1e-4 sds there.
    assert np.abs(factor.T @ kernel.log_density(mode, packed)[1]).max() <= 1e-4
