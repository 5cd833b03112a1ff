"""The GGompertz/NBD compiled kernel (models/ggompertz_nbd_kernel.py): value and gradient against
the family's NumPy derivatives (the same adaptive quadrature of the lifetime integral) on CDNOW
and on extreme rows, central differences, a property over parameters and rows, nutpie's C
callbacks in whitened coordinates, and the PyTensor Op in the PyMC graph."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")
pytest.importorskip("numba")

from _kernels import NutpieCallbacks, central_differences, native_model  # noqa: E402
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.special import digamma, gammaln  # noqa: E402

from clvmodels import BayesianGGompertzNBDModel  # noqa: E402
from clvmodels.bayes import native  # noqa: E402
from clvmodels.errors import ConvergenceError  # noqa: E402
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import dropout_coordinates  # noqa: E402
from clvmodels.models import ggompertz_nbd_kernel as kernel  # noqa: E402
from clvmodels.models.ggompertz_nbd import GGompertzNBDFamily, log_ageing  # noqa: E402

FAMILY = GGompertzNBDFamily()
# (r, alpha, b, s, beta)
POINTS = [
    (0.553, 10.58, 1e-4, 0.606, 1.2e-3),  # near the Pareto/NBD limit, as CDNOW's estimate
    (0.55, 10.5, 0.02, 0.7, 0.3),  # inside the CDNOW posterior (b, beta along their ridge)
    (1.0, 5.0, 0.05, 1.2, 3.0),  # clear ageing: the Gompertz density has an interior mode
    (0.1, 80.0, 0.2, 3.0, 0.5),  # rare buyers, beta < 1
    (1e-3, 1e3, 1e-3, 1e-3, 1e3),
    (1e3, 1e-3, 1e3, 1e3, 1e-3),
    (1e-3, 1e-3, 1e-3, 1e-3, 1e-3),
    (1e3, 1e3, 1e3, 1e3, 1e3),
    (2.0, 1.0, 1e-3, 1e3, 1e3),  # s, beta large: a lifetime without heterogeneity
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


def _row(data: FitData, i: int) -> FitData:
    return FitData({name: column[i:i + 1] for name, column in data.columns.items()}, np.ones(1))


def _numpy(params: np.ndarray, data: FitData):
    """The family's NumPy value and gradient, or None where its quadrature gives up (it raises
    ConvergenceError where it has no finite value: far beyond any data's parameters)."""
    try:
        total, gradient, _ = FAMILY.derivatives(params, data)
    except ConvergenceError:
        return None
    return total, gradient


def _assert_gradients_agree(gradient, expected, params, data: FitData, message=""):
    """The gradient equals the NumPy route's to 1e-9 relative, or to 1e-11 of the weighted
    magnitudes of the parts it is a sum of (a row's c and u terms and the averages of the log
    integrand's partials, which cancel where a customer's likelihood barely depends on a
    parameter). Both routes run the same adaptive Gauss-Kronrod rule until the Kronrod-Gauss
    differences sum to 1e-12 of the integral, so each average is within ~1e-12 of the largest
    magnitude of the function it averages (the bounds below: over [t_x, T], G lies between
    beta and 1 and L grows with tau), and the two within twice that plus rounding."""
    r, alpha, b, s, beta = params
    x, t_x, T = data["x"], data["t_x"], data["T"]
    smallest_base = min(beta, 1.0)
    ageing = log_ageing(b, beta, T)
    ones = np.ones_like(T)
    parts = np.array([
        np.abs(np.log(alpha)) + np.abs(digamma(r + x) - digamma(r)) + np.abs(np.log(alpha + T))
        + np.abs(np.log(alpha + t_x)),
        r / alpha + 2 * (r + x) / (alpha + t_x),
        1 / b + T * (1 + (2 * s + 1) / smallest_base),
        2 * ageing + 1 / s,
        2 * (s / beta + 1) / smallest_base * ones,
    ]) @ data.weights
    np.testing.assert_array_less(np.abs(gradient - expected),
                                 1e-9 * np.abs(expected) + 1e-11 * parts, err_msg=message)


def _value_parts(params, data: FitData) -> float:
    """The weighted magnitudes of the terms a row's LL sums (lnG(r + x), lnG(r), r log alpha,
    and logaddexp(u, v), their difference), whose rounding the total carries."""
    r, alpha = params[:2]
    x = data["x"]
    c = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    rows = FAMILY.log_likelihood(params, data)
    return float((np.abs(gammaln(r + x)) + np.abs(gammaln(r)) + np.abs(r * np.log(alpha))
                  + np.abs(rows - c)) @ data.weights)


def _assert_agree(compiled, params, data, message):
    """The kernel is finite and equals the NumPy route where that has a value: the value to
    1e-10 relative, with a floor of 1e-10 (log I within ~2e-12 per row: see
    :func:`_assert_gradients_agree`) plus 1e-14 of the magnitudes of the terms it sums (which
    cancel to a small LL, e.g. -1e-3 out of terms ~7e3 at r = 1e3, alpha = 1e-3: a few ulps
    of each), the gradient as :func:`_assert_gradients_agree`."""
    total, gradient = compiled.value_and_gradient(params)
    assert np.isfinite(total) and np.all(np.isfinite(gradient)), message
    expected = _numpy(params, data)
    if expected is None:
        return False
    assert total == pytest.approx(expected[0], rel=1e-10,
                                  abs=1e-10 + 1e-14 * _value_parts(params, data)), message
    _assert_gradients_agree(gradient, expected[1], params, data, message)
    return True


def test_kernel_equals_the_numpy_derivatives(cdnow):
    """On CDNOW and the extreme rows at once, and on each extreme row alone (so that no error
    hides in a sum), the kernel's value and gradient equal GGompertzNBDFamily.derivatives."""
    for data in (BayesianGGompertzNBDModel().fit_data(cdnow), _extreme_rows()):
        compiled = FAMILY.compiled_likelihood(data)
        for point in POINTS:
            assert _assert_agree(compiled, np.array(point), data, str(point)) or data.n_rows < 100
    data = _extreme_rows()
    compared = 0
    for i in range(data.n_rows):
        row = _row(data, i)
        compiled = FAMILY.compiled_likelihood(row)
        for point in POINTS:
            compared += _assert_agree(compiled, np.array(point), row, f"row {i} at {point}")
    # The NumPy route gives up on few of the extreme combinations.
    assert compared >= 0.9 * data.n_rows * len(POINTS)


def test_kernel_gradient_matches_finite_differences(cdnow):
    """Central differences of the kernel's own value (relative step 1e-6: truncation ~1e-12
    relative; rounding, a few ulps of |LL| ~ 1e4 over 2 * step, ~1e-5 absolute for the largest
    parameters, more for b ~ 1e-4 whose step is 1e-10: 1e-16 * 1e4 / 2e-10 = 5e-3) at points of
    the CDNOW posterior: 1e-6 relative, floor 1e-2."""
    compiled = FAMILY.compiled_likelihood(BayesianGGompertzNBDModel().fit_data(cdnow))
    for point in POINTS[:4]:
        values = np.array(point)
        _, gradient = compiled.value_and_gradient(values)
        numeric = central_differences(lambda p: compiled.value_and_gradient(p)[0], values)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-2, err_msg=str(point))


_LOG_PARAMETER = st.floats(min_value=np.log(1e-3), max_value=np.log(1e3))


@settings(max_examples=150, deadline=None)
@given(log_params=st.tuples(*[_LOG_PARAMETER] * 5),
       x=st.integers(min_value=0, max_value=10_000),
       log_T=st.floats(min_value=np.log(1e-2), max_value=np.log(1e3)),
       recency=st.floats(min_value=0.0, max_value=1.0))
# T - t_x below an ulp of the panel edges: the panel keeps its width.
@example(log_params=(0.0, 0.0, 0.0, 0.0, 0.0), x=1, log_T=2.0, recency=0.9999999999999999)
def test_kernel_is_finite_and_matches_numpy_anywhere(log_params, x, log_T, recency):
    """At any parameters in [1e-3, 1e3] and any row (x up to 1e4, t_x anywhere in [0, T],
    0 without purchases) the kernel is finite and equals the NumPy route where that has a
    value (the tolerances of :func:`_assert_agree`). A non-finite value inside NUTS is a
    divergence."""
    T = float(np.exp(log_T))
    t_x = recency * T if x > 0 else 0.0
    row = FitData({"x": np.array([float(x)]), "t_x": np.array([t_x]), "T": np.array([T])},
                  np.ones(1))
    params = np.exp(np.array(log_params))
    _assert_agree(FAMILY.compiled_likelihood(row), params, row, str((params, x, t_x, T)))


def test_log_density_is_the_same_in_every_backend(cdnow):
    """With the default priors nutpie gets the kernel's C callbacks (no Python log density)
    with the priors, the whitening and the kernel's data packed; the kernel's log density of the
    log-parameters (its likelihood, priors written out) equals the NumPy native density (the
    tolerances of test_kernel_equals_the_numpy_derivatives) and the PyMC model's (the kernel's
    Op, in PyTensor's C and numba backends: the same kernel, the chain rule and the priors
    added in another order, to rounding). The density nutpie samples, with log q in place of
    log s, is that density (the map's Jacobian is 1), its gradient mapped by the chain rule
    (checked against finite differences in tests/test_dropout_coordinates.py): equal to
    rounding."""
    fit_data, pymc_model, compiled = native_model(BayesianGGompertzNBDModel(), cdnow)
    assert compiled.compiled_logp_func is not None and compiled.logp_func is None
    priors = native.log_normal_priors(pymc_model, FAMILY.param_names)
    likelihood = FAMILY.compiled_likelihood(fit_data)
    np.testing.assert_array_equal(compiled.user_data[kernel.header_length(kernel.N_PARAMS):],
                                  np.concatenate(likelihood.data))
    packed = likelihood.packed(priors, priors[0], np.eye(5))
    assert packed[kernel.HORIZON] == pytest.approx(cdnow["T"].mean() / 2, rel=1e-12)
    compiled_functions = [(pymc_model.compile_logp(mode=mode), pymc_model.compile_dlogp(mode=mode))
                          for mode in ("FAST_RUN", "NUMBA")]
    for point in POINTS[:4]:
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
            # Rounding of the likelihood's gradient, a sum of 1,016 weighted terms of up to
            # ~1e3 (b's, T / G ~ 40 / 1e-3), ~1e-9 absolute, whatever the total.
            assert logp(values) == pytest.approx(value, rel=1e-12)
            np.testing.assert_allclose(dlogp(values), gradient, rtol=1e-12, atol=1e-9)
        y = likelihood.sampling_point(theta)
        back, b_slope, beta_slope = dropout_coordinates.gompertz_log_parameters(
            y, likelihood.horizon)
        np.testing.assert_allclose(back, theta, rtol=1e-14, atol=1e-14)
        sampled_value, sampled_gradient = kernel.log_density(y, packed)
        assert sampled_value == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(
            sampled_gradient,
            dropout_coordinates.gompertz_sampling_gradient(gradient, b_slope, beta_slope),
            rtol=1e-10, atol=1e-10 * np.abs(gradient).max())


def test_pymc_graph_holds_the_kernel_op(cdnow):
    """Other priors take PyMC's graph: its likelihood is the kernel's Op (not the NumPy Op),
    and its potential equals the family's NumPy total (1e-10, as above)."""
    import pymc as pm

    model = BayesianGGompertzNBDModel(priors={"s": pm.Gamma.dist(alpha=2.0, beta=2.0)})
    fit_data, pymc_model, compiled = native_model(model, cdnow)
    assert compiled is None
    from pytensor.graph.traversal import ancestors

    graph_ops = {type(v.owner.op) for v in ancestors([pymc_model.potentiallogp]) if v.owner}
    assert kernel.GGompertzNBDLogLikelihood in graph_ops
    point = pymc_model.initial_point()
    params = np.exp([point[f"{name}_log__"] for name in FAMILY.param_names])
    likelihood = pymc_model.compile_fn(pymc_model.potentiallogp, inputs=pymc_model.value_vars,
                                       on_unused_input="ignore")
    total, _, _ = FAMILY.derivatives(params, fit_data)
    assert float(likelihood(point)) == pytest.approx(total, rel=1e-10)
    # Its gradient in the log-parameters through the Op's grad, in PyTensor's numba backend:
    # the kernel's, by the chain rule (rounding).
    import pytensor

    d_likelihood = pymc_model.compile_fn(
        pytensor.grad(pymc_model.potentiallogp, pymc_model.value_vars),
        inputs=pymc_model.value_vars, on_unused_input="ignore", mode="NUMBA")
    expected = FAMILY.compiled_likelihood(fit_data).value_and_gradient(params)[1] * params
    np.testing.assert_allclose(np.ravel(d_likelihood(point)), expected, rtol=1e-12)


def test_callbacks_sample_whitened_coordinates(cdnow):
    """The C callbacks (called through ctypes as nutpie calls them) evaluate the log density at
    sampling coordinates y = mode + L z and return L' times its gradient (a linear map: equal
    to rounding); the stored draw is the log-parameters at y and their exponentials; a
    non-finite density is reported by nutpie's codes, not raised."""
    _, _, compiled = native_model(BayesianGGompertzNBDModel(), cdnow)
    callbacks = NutpieCallbacks(compiled)
    packed = callbacks.packed
    mode, factor = kernel.whitened(np.zeros(5), packed)
    assert np.allclose(factor, np.tril(factor)) and np.all(np.diag(factor) > 0)
    for z in (np.zeros(5), np.array([1.5, -2.0, 0.3, 3.0, -1.0])):
        y = mode + factor @ z
        expected_value, expected_gradient = kernel.log_density(y, packed)
        status, value, gradient = callbacks.log_density(z)
        assert status == 0 and value == pytest.approx(expected_value, rel=1e-12)
        # theta from mode + L z in another order than NumPy's differs by an ulp or so (~1e-15),
        # which moves the gradient by the Hessian in log-parameters times that: 1e-9 absolute.
        np.testing.assert_allclose(gradient, factor.T @ expected_gradient, rtol=1e-12,
                                   atol=1e-9)
        status, draw = callbacks.draw(z)
        assert status == 0
        # mode + L z summed in another order than NumPy's: a few ulps of |mode| + |L| |z|,
        # which log s's map (its slopes in log b and log beta below 2) carries over.
        theta = kernel.stored_log_parameters(y, packed)
        np.testing.assert_allclose(draw, np.concatenate([theta, np.exp(theta)]), rtol=1e-13)
    assert callbacks.log_density(np.zeros(5), dim=4)[0] == -1
    # r = e**-1e6 = 0: lgamma(0) and digamma(0) are infinite.
    far = np.linalg.solve(factor, np.array([-1e6, 0.0, 0.0, 0.0, 0.0]) - mode)
    assert callbacks.log_density(far)[0] in (3, 4)
    # The centre is the posterior mode to within what the whitening needs: L' g, the gradient
    # in whitened units, below 1e-4 sds there.
    assert np.abs(factor.T @ kernel.log_density(mode, packed)[1]).max() <= 1e-4
