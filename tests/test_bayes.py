"""Bayesian models: likelihoods equal to the maximum-likelihood ones, the CDNOW posterior against
the published estimates, predictions equal to the maximum-likelihood formulas averaged over draws,
bounded-memory summaries, save/load, and a clear error without PyMC.

The NUTS fits on CDNOW are session fixtures (tests/conftest.py); everything else uses few draws.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

pm = pytest.importorskip("pymc")
pytensor = pytest.importorskip("pytensor")

from _fitting import fit_data_of  # noqa: E402
from _kernels import central_differences  # noqa: E402

from clvmodels import (  # noqa: E402
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BayesianModifiedBetaGeoModel,
    BayesianParetoNBDModel,
    BetaGeoModel,
    ValidationError,
)
from clvmodels.bayes import native, warn_unconverged  # noqa: E402
from clvmodels.bayes.model import describe_priors  # noqa: E402
from clvmodels.bayes.model import pymc_model as pymc_model_of  # noqa: E402
from clvmodels.estimation import draws as posterior_draws  # noqa: E402
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import MODELS  # noqa: E402
from clvmodels.models import beta_geometric_kernel as kernel  # noqa: E402

PUBLISHED = {
    "BayesianBetaGeoModel": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "BayesianGammaGammaModel": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}


# --------------------------------------------------------------------------- likelihoods
def _extreme_transaction_data() -> FitData:
    """Rows at the edges: many purchases, purchases at T, tiny and huge T."""
    x = np.array([0, 0, 1, 1, 5, 50, 200, 500, 3, 1, 80], dtype=float)
    t_x = np.array([0, 0, 1e-3, 0.5, 39.0, 38.0, 70.0, 300.0, 2.0, 999.0, 10.0])
    T = np.array([1e-3, 1e4, 1e-3, 39.0, 39.0, 39.0, 78.0, 520.0, 1000.0, 1000.0, 10.0])
    return FitData.compress({"x": x, "t_x": t_x, "T": T}, np.ones(len(x)))


BGNBD_POINTS = [
    {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},  # the CDNOW estimate
    {"r": 1e-3, "alpha": 1e3, "a": 1e-3, "b": 1e3},
    {"r": 50.0, "alpha": 1e-2, "a": 1.0, "b": 1e-2},  # a = 1 exactly
    {"r": 2.0, "alpha": 30.0, "a": 200.0, "b": 0.05},
]
PARETO_NBD_POINTS = [
    {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},  # the CDNOW estimate
    {"r": 1e-3, "alpha": 1e3, "s": 1e-3, "beta": 1e-2},  # alpha >> beta
    {"r": 20.0, "alpha": 0.05, "s": 5.0, "beta": 200.0},  # alpha << beta
    {"r": 1.0, "alpha": 7.0, "s": 1.0, "beta": 7.0},  # alpha == beta
]
KERNEL_MODELS = [BayesianBetaGeoModel, BayesianModifiedBetaGeoModel]


def _transaction_data_sets(cdnow) -> list[FitData]:
    return [fit_data_of(BetaGeoModel(), cdnow), _extreme_transaction_data()]


def _one_customer(data: FitData, i: int) -> FitData:
    """Row i of ``data`` alone, with weight 1."""
    return FitData({name: column[i:i + 1] for name, column in data.columns.items()}, np.ones(1))


@pytest.mark.parametrize("model_class", KERNEL_MODELS, ids=lambda c: c.__name__)
def test_kernel_equals_the_numpy_likelihood_per_row(model_class, cdnow):
    """The compiled kernel on each distinct row alone (so that no error can hide in a sum)
    equals the family's NumPy log-likelihood of that row: the same formula in two libraries
    (numba's math.lgamma against SciPy's gammaln, parts up to ~1e4 in magnitude) differs only
    by rounding, ~1e-11 absolute (measured 2e-12); 1e-8 relative with a floor of 1e-8 leaves
    room for special functions a thousand times less accurate."""
    family = model_class.family
    for data in _transaction_data_sets(cdnow):
        for params in BGNBD_POINTS:
            values = np.array(list(params.values()))
            numpy_rows = family.log_likelihood(values, data)
            ours = [family.compiled_likelihood(_one_customer(data, i)).value_and_gradient(
                values)[0] for i in range(data.n_rows)]
            assert np.all(np.isfinite(ours))
            np.testing.assert_allclose(ours, numpy_rows, rtol=1e-8, atol=1e-8,
                                       err_msg=str(params))


@pytest.mark.parametrize("model_class", KERNEL_MODELS, ids=lambda c: c.__name__)
def test_kernel_gradient_equals_the_numpy_gradient(model_class, cdnow):
    """On all rows at once, value and gradient equal the family's weighted total and analytic
    gradient (SciPy's special functions against the kernel's own digamma): 1e-8 relative, with
    an absolute floor of 1e-8 of the gradient's largest component (at a = 1e-3 a partial is a
    difference of digammas ~1e3 times larger than itself). The totals add ~1e3 rows of errors
    ~1e-11 each: 1e-10 relative of totals ~1e3 and more (measured 2e-14)."""
    family = model_class.family
    for data in _transaction_data_sets(cdnow):
        for params in BGNBD_POINTS:
            values = np.array(list(params.values()))
            total, gradient = family.compiled_likelihood(data).value_and_gradient(values)
            numpy_total, numpy_gradient, _ = family.derivatives(values, data)
            assert total == pytest.approx(numpy_total, rel=1e-10)
            np.testing.assert_allclose(gradient, numpy_gradient, rtol=1e-8,
                                       atol=1e-8 * np.abs(numpy_gradient).max(),
                                       err_msg=str(params))


def test_kernel_gradient_matches_finite_differences(cdnow):
    """Central differences of the kernel's own value (relative step 1e-6: truncation ~1e-12
    relative; rounding, a few ulps of |LL| ~ 1e4 (~5e-12) over 2 * step >= 4.9e-7, ~1e-5
    absolute, and at worst (the sum's (n - 1) * 2**-53 over 1,016 rows, 1e-9) 2e-3, within
    the floor of 1e-3) at the CDNOW estimate."""
    compiled = BayesianBetaGeoModel.family.compiled_likelihood(
        fit_data_of(BetaGeoModel(), cdnow))
    values = np.array(list(BGNBD_POINTS[0].values()))
    _, gradient = compiled.value_and_gradient(values)
    numeric = central_differences(lambda p: compiled.value_and_gradient(p)[0], values)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-3)


def test_kernel_digamma_matches_scipy():
    """The kernel's digamma (recurrence, then 7 terms of the asymptotic series) to 2e-15
    relative from 1e-8 to 1e6 (measured 9e-16), across the switch at 10: the recurrence adds
    at most 10 rounded terms and the series' truncation is below 1e-17 from 10 on, so ~10
    ulps."""
    from scipy.special import digamma

    points = np.concatenate([np.logspace(-8, 6, 500), [9.999999, 10.0, 10.000001]])
    ours = np.array([kernel.digamma(x) for x in points])
    np.testing.assert_allclose(ours, digamma(points), rtol=2e-15, atol=2e-15)


def _native(model, cdnow):
    fit_data = model.fit_data(cdnow)
    pymc_model = pymc_model_of(model.family, fit_data, model.priors)
    return pymc_model, native.compile_native(pymc_model, model.family, fit_data,
                                             model.param_names)


def _log_points(model_class) -> list[dict[str, float]]:
    return BGNBD_POINTS if model_class in KERNEL_MODELS else PARETO_NBD_POINTS[:1] + [
        {"p": 6.25, "q": 3.74, "gamma": 15.44}, {"p": 1e-3, "q": 1e3, "gamma": 1e-3}]


@pytest.mark.parametrize("model_class", [*KERNEL_MODELS, BayesianGammaGammaModel],
                         ids=lambda c: c.__name__)
def test_log_density_is_the_same_in_every_backend(model_class, cdnow):
    """The PyMC model's log density and gradient (the likelihood Op in PyTensor's C and numba
    backends) and the native nutpie log density (the priors written out, in numba for a
    kernel family, in NumPy else) agree to the rounding of sums in a different order: of parts
    up to ~25 times the total here (the Gamma-Gamma's log-gamma terms of p x, ~1e5, against a
    total of ~4e3), a few ulps each: 1e-11 relative (measured 1.4e-12)."""
    model = model_class()
    pymc_model, _ = _native(model, cdnow)
    fit_data = model.fit_data(cdnow)
    priors = native.log_normal_priors(pymc_model, model.param_names)
    kernel_family = model_class in KERNEL_MODELS
    packed = (model.family.compiled_likelihood(fit_data).packed(priors, priors[0], np.eye(4))
              if kernel_family else None)
    points = [p for p in _log_points(model_class) if list(p) == list(model.param_names)]
    for params in points:
        point = {f"{name}_log__": np.log(value) for name, value in params.items()}
        theta = np.array(list(point.values()))
        ours = (kernel.log_density(theta, packed) if kernel_family
                else native.python_log_density(model.family, fit_data, priors, theta))
        for mode in ("FAST_RUN", "NUMBA"):
            logp = pymc_model.compile_logp(mode=mode)(point)
            dlogp = pymc_model.compile_dlogp(mode=mode)(point)
            assert ours[0] == pytest.approx(logp, rel=1e-11), (mode, params)
            np.testing.assert_allclose(ours[1], dlogp, rtol=1e-11,
                                       atol=1e-11 * np.abs(dlogp).max(), err_msg=mode)


def test_native_callbacks_sample_whitened_coordinates(cdnow):
    """nutpie's callbacks (called here through ctypes as nutpie calls them) evaluate the log
    density at log-parameters = mode + L z and return its gradient in z, L' times the gradient
    in log-parameters (the chain rule of a linear map: equal to rounding, 1e-12); the draw
    they store is those log-parameters and their exponentials. L is the Laplace
    approximation's Cholesky factor: lower triangular, positive diagonal."""
    import ctypes

    _, compiled = _native(BayesianBetaGeoModel(), cdnow)
    packed = compiled.user_data
    mode, factor = (packed[kernel.CENTRE:kernel.FACTOR],
                    packed[kernel.FACTOR:kernel.HEADER].reshape(4, 4))
    assert np.allclose(factor, np.tril(factor)) and np.all(np.diag(factor) > 0)
    logp_callback, expand_callback = (compiled.compiled_logp_func.ctypes,
                                      compiled.compiled_expand_func.ctypes)
    user_data = ctypes.c_void_p(packed.ctypes.data)

    def pointer(array):
        return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    for z in (np.zeros(4), np.array([1.5, -2.0, 0.3, 3.0])):
        gradient, value, expanded = np.empty(4), np.empty(1), np.empty(8)
        code = logp_callback(4, pointer(z), pointer(gradient), pointer(value), user_data)
        assert code == 0
        theta = mode + factor @ z
        expected_value, expected_gradient = kernel.log_density(theta, packed)
        assert value[0] == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(gradient, factor.T @ expected_gradient, rtol=1e-12,
                                   atol=1e-12 * np.abs(expected_gradient).max())
        assert expand_callback(4, 8, pointer(z), pointer(expanded), user_data) == 0
        # theta = mode + L z summed in another order than NumPy's: ~2**-53 (|mode| + |L| |z|),
        # below 4e-16 of theta here (|theta| >= 0.18); exp keeps that error, times |theta| < 2.
        np.testing.assert_allclose(expanded, np.concatenate([theta, np.exp(theta)]),
                                   rtol=1e-15)
    # Far out (r = e**-40000 = 0: digamma(0) divides by zero) a non-finite value or gradient
    # is reported by its code (nutpie rejects the step), not raised inside the callback.
    far = np.array([-1e6, 0.0, 0.0, 0.0])
    assert logp_callback(4, pointer(far), pointer(gradient), pointer(value), user_data) in (3, 4)
    # At the mode of the log-parameters the gradient vanishes: BFGS stopped there once this
    # same function's gradient was below 1e-8 in every component (measured 1.4e-10).
    assert np.abs(kernel.log_density(mode, packed)[1]).max() <= 1e-8


def test_native_route_only_for_log_normal_priors(cdnow):
    for model_class in (BayesianBetaGeoModel, BayesianGammaGammaModel):
        name = model_class.family.param_names[-1]
        model = model_class(priors={name: pm.Gamma.dist(alpha=2.0, beta=1.0)})
        assert _native(model, cdnow)[1] is None
        assert _native(model_class(), cdnow)[1] is not None


def test_pareto_nbd_gradient_matches_finite_differences(cdnow):
    """The family's gradient as PyMC sees it (exact in alpha and beta, central differences in
    r and s) against central differences of the log density: agreement to 1e-5 relative, the
    accuracy of the outer differences (h = 1e-5): logp's rounding, a few ulps of |logp| ~ 9,600
    (~5e-12), over 2h is ~2.5e-7 absolute, 4e-6 of the smallest component (0.066, s, near the
    maximum; the truncation h**2 / 6 times the third derivative, ~1e-10, and the gradient's
    own differences in r and s, ~1e-8, are smaller)."""
    model = BayesianParetoNBDModel().build_model(cdnow)
    logp = model.compile_logp(mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(mode="FAST_COMPILE")
    point = {"r_log__": np.log(0.553), "alpha_log__": np.log(10.58),
             "s_log__": np.log(0.606), "beta_log__": np.log(11.67)}
    numeric = []
    for name in point:
        up, down = dict(point), dict(point)
        up[name] += 1e-5
        down[name] -= 1e-5
        numeric.append((logp(up) - logp(down)) / 2e-5)
    np.testing.assert_allclose(dlogp(point), numeric, rtol=1e-5)


# --------------------------------------------------------------------------- CDNOW posterior
@pytest.mark.parametrize("fixture", ["nuts_bgnbd", "nuts_gg"])
def test_cdnow_posterior_agrees_with_the_published_mle(request, fixture):
    """With 2,357 customers the weak priors hardly matter: the posterior mean is within half a
    posterior sd of the published maximum-likelihood estimate; the chains converged.

    The posterior is right-skewed in a, b and the Gamma-Gamma parameters, so its mean lies
    above its mode, the MLE: measured 0.03-0.21 sd. Each mean of the 4 x 1,000 draws carries
    Monte Carlo error 1/sqrt(ESS) of an sd, below 0.04 at the ESS > 600 measured (> 400
    required): 0.5 sd is the largest offset measured plus 7 Monte Carlo standard errors.
    Convergence uses the usual thresholds (Vehtari et al. 2021): R-hat <= 1.01 as ArviZ's
    summary rounds it (to 2 decimals, so below 1.015) and a bulk ESS above 100 per chain.
    """
    model = request.getfixturevalue(fixture)
    summary = model.summary()
    unrounded = model.summary(round_to="none")  # the summary rounds means to 3 decimals
    for name, value in PUBLISHED[type(model).__name__].items():
        mean, sd = unrounded.loc[name, "mean"], unrounded.loc[name, "sd"]
        assert abs(mean - value) <= 0.5 * sd, (name, mean, sd, value)
        # The same mean of the same 4,000 draws, perhaps summed in another order (<= 4,000 ulps).
        assert model.params_[name] == pytest.approx(mean, rel=1e-12)
    assert (summary["r_hat"] <= 1.01).all(), summary
    assert int(model.idata.sample_stats["diverging"].sum()) == 0
    assert (summary["ess_bulk"] > 400).all()
    attrs = model.idata.posterior.attrs
    assert attrs["method"] == "nuts" and attrs["n_distinct_rows"] < model.n_customers_


def test_map_laplace_matches_nuts_on_cdnow(nuts_bgnbd, cdnow):
    """The Laplace approximation in log-parameters, centred on the mode of the log-parameter
    density: means within 0.25 posterior sd of NUTS (measured 0.12-0.13 sd for a and b: a
    Gaussian cannot follow the skew they keep even in logs), r and alpha, near log-normal,
    within 0.15 sd (measured 0.03-0.04); sds within 20% (measured 0.90-1.06). Monte Carlo
    error: the Laplace means are of 2 x 2,000 independent draws, the NUTS means of 4 x 1,000
    with ESS > 5,000, so their difference carries sqrt(1/4000 + 1/5000) = 0.02 sd, and a ratio
    of sds ~0.015: each bound is the approximation's measured error plus 5 to 6 Monte Carlo
    standard errors."""
    approx = BayesianBetaGeoModel().fit(cdnow, method="map", draws=2000, chains=2, random_seed=3)
    nuts = nuts_bgnbd.parameter_draws()
    laplace = approx.parameter_draws()
    assert len(laplace) == 4000 and approx.idata.posterior.attrs["sampler"] == "laplace"
    gap = abs(laplace.mean() - nuts.mean()) / nuts.std()
    assert gap[["r", "alpha"]].max() <= 0.15 and gap.max() <= 0.25, gap
    np.testing.assert_allclose(laplace.std(), nuts.std(), rtol=0.2)


def test_convergence_problems_warn_with_the_parameter_and_value():
    model = BayesianBetaGeoModel()
    rng = np.random.default_rng(0)
    draws = {name: rng.normal(size=(2, 100)) for name in model.param_names}
    draws["alpha"][1] += 5.0  # the second chain sits elsewhere
    idata = az.from_dict(posterior=draws,
                         sample_stats={"diverging": np.zeros((2, 100), dtype=bool)})
    idata.sample_stats["diverging"][0, :3] = True
    with pytest.warns(UserWarning) as record:
        warn_unconverged(idata, model.param_names, type(model).__name__)
    messages = [str(w.message) for w in record]
    assert any("R-hat of alpha is" in m and "> 1.01" in m for m in messages), messages
    assert any("3 divergent transition(s)" in m for m in messages), messages
    assert not any("R-hat of r " in m for m in messages)


# --------------------------------------------------------------------------- predictions
def _mle_at(model, row: pd.Series):
    return MODELS[model.family.name].mle().set_params_(row.to_dict(), time_unit=model.time_unit_)


def _per_draw(model, method, *args, max_draws=40, **kwargs) -> np.ndarray:
    """The maximum-likelihood method evaluated at each of the draws the Bayesian one uses."""
    draws = model.parameter_draws(max_draws=max_draws, random_seed=0)
    return np.array([np.asarray(getattr(_mle_at(model, row), method)(*args, **kwargs))
                     for _, row in draws.iterrows()])


@pytest.fixture(scope="module")
def sample(cdnow):
    return cdnow.iloc[[0, 1, 2, 17, 157, 1500, 2000]]


CASES = [
    ("probability_alive", (), {}),
    ("expected_purchases", (39.0,), {}),
    ("probability_of_purchases", (0, 39.0), {}),
    ("probability_of_purchases", (3, 52.0), {}),
    ("discounted_expected_purchases", (), {"horizon": 52.0, "discount_rate": 0.002}),
    ("discounted_expected_purchases", (), {"horizon": np.inf, "discount_rate": 0.01}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_predictions_are_the_mle_formulas_over_the_draws(nuts_bgnbd, sample, method, args,
                                                         kwargs):
    """Mean and interval equal those of the maximum-likelihood prediction at each draw (the
    discounted integral uses 1 quadrature panel instead of 8: 1e-10)."""
    per_draw = _per_draw(nuts_bgnbd, method, sample, *args, **kwargs)
    summary, draws = getattr(nuts_bgnbd, method)(sample, *args, max_draws=40, level=0.8,
                                                 return_draws=True, **kwargs)
    assert list(summary.columns) == ["mean", "lower", "upper"]
    assert summary.index.equals(sample.index) and draws.columns.equals(sample.index)
    np.testing.assert_allclose(draws.to_numpy(), per_draw, rtol=1e-10)
    np.testing.assert_allclose(summary["mean"], per_draw.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(summary["lower"], np.quantile(per_draw, 0.1, axis=0), rtol=1e-10)
    np.testing.assert_allclose(summary["upper"], np.quantile(per_draw, 0.9, axis=0), rtol=1e-10)


def test_new_customer_and_spend_predictions_over_the_draws(nuts_bgnbd, nuts_gg, cdnow):
    t = np.array([1.0, 39.0, 78.0])
    per_draw = _per_draw(nuts_bgnbd, "expected_purchases_new_customer", t)
    summary = nuts_bgnbd.expected_purchases_new_customer(t, max_draws=40)
    assert list(summary.index) == list(t)
    # The same formulas at the same 40 draws, averaged in another order (<= 40 ulps).
    np.testing.assert_allclose(summary["mean"], per_draw.mean(axis=0), rtol=1e-12)
    spend = _per_draw(nuts_gg, "expected_spend", cdnow.iloc[:50])
    ours = nuts_gg.expected_spend(cdnow.iloc[:50], max_draws=40)
    np.testing.assert_allclose(ours["mean"], spend.mean(axis=0), rtol=1e-12)
    assert (ours["lower"] <= ours["mean"]).all() and (ours["mean"] <= ours["upper"]).all()


def test_block_size_does_not_change_the_summaries(nuts_bgnbd, cdnow, monkeypatch):
    """Summaries in blocks of a few rows equal those of one block: blocking only bounds memory
    (the same operations per row; a mean of 200 draws summed in another grouping differs by
    at most 200 * 2**-53 = 2e-14 relative)."""
    whole = nuts_bgnbd.expected_purchases(cdnow, 39.0, max_draws=200)
    monkeypatch.setattr(posterior_draws, "BLOCK_VALUES", 200 * 7)  # 7 rows per block
    blocked = nuts_bgnbd.expected_purchases(cdnow, 39.0, max_draws=200)
    pd.testing.assert_frame_equal(blocked, whole, rtol=1e-13)


def test_summarise_bounds_the_block_and_totals_per_draw():
    rng = np.random.default_rng(1)
    matrix = rng.gamma(2.0, size=(500, 103))
    counts = rng.integers(1, 5, 103).astype(float)
    seen = []

    def evaluate(rows):
        seen.append(rows.stop - rows.start)
        return matrix[:, rows]

    summary = posterior_draws.summarise(evaluate, 103, 500, level=0.5, counts=counts,
                                   block_values=500 * 10)
    assert max(seen) == 10 and sum(seen) == 103
    # Means of 500 positive values and sums of 103 in another order: <= 500 * 2**-53 = 6e-14.
    np.testing.assert_allclose(summary.mean, matrix.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(summary.lower, np.quantile(matrix, 0.25, axis=0), rtol=1e-13)
    np.testing.assert_allclose(summary.total_draws, matrix @ counts, rtol=1e-13)
    assert summary.draws is None


def test_predictive_purchases_mixes_the_count_distribution_over_draws(nuts_bgnbd, sample):
    """Integer bounds: the smallest n whose mixture CDF reaches 5% and 95%, checked against the
    probabilities of each count averaged over the same draws."""
    result = nuts_bgnbd.predictive_purchases(sample, 39.0, max_draws=40)
    pmf = np.array([_per_draw(nuts_bgnbd, "probability_of_purchases", sample, n, 39.0).mean(0)
                    for n in range(40)])
    cdf = np.cumsum(pmf, axis=0)
    assert cdf[-1].min() > 1 - 1e-6  # the 40 counts hold the mass the 95% bound needs
    # The package's rule: a cumulative sum of <= 40 terms reaches a target to within its
    # rounding (~40 ulps), which 1e-12 relative covers; the reference sums in another order.
    np.testing.assert_array_equal(result["lower"], np.argmax(cdf >= 0.05 * (1 - 1e-12), axis=0))
    np.testing.assert_array_equal(result["upper"], np.argmax(cdf >= 0.95 * (1 - 1e-12), axis=0))
    assert result["lower"].dtype.kind == "i"


def test_cdnow_holdout_predictive_coverage(nuts_bgnbd, cdnow_holdout_table):
    """Share of CDNOW customers whose holdout purchases (39 weeks) fall in their 90% posterior
    predictive interval. The integer interval holds at least 90% of each customer's predictive
    mass, so a calibrated model covers at least ~90%.

    The model is the fixture fitted on the published calibration summary: the same customers
    and calibration period as the table built here from the transactions.
    """
    table = cdnow_holdout_table
    intervals = nuts_bgnbd.predictive_purchases(table, table["duration_holdout"],
                                                max_draws=1000)
    holdout = table["frequency_holdout"]
    coverage = float(((holdout >= intervals["lower"]) & (holdout <= intervals["upper"])).mean())
    print(f"\nCDNOW holdout coverage of the 90% predictive intervals: {coverage:.4f}")
    # Measured 0.947; over 2,357 customers the binomial sd of a share is ~0.005, so a calibrated
    # model is far inside [0.90, 0.99] and one whose intervals hold 90% exactly still passes.
    assert 0.90 <= coverage <= 0.99
    # The posterior mean of the expected holdout total is near the MLE's plug-in value (a
    # nonlinear function's posterior mean differs from its value at the MLE: 0.13% measured).
    # It is a mean of 1,000 draws of a total whose posterior sd is 4.3% of it: Monte Carlo
    # error 0.13%, so 1% is the measured gap plus 6.5 Monte Carlo standard errors.
    mle = BetaGeoModel().fit(table).expected_purchases(table, table["duration_holdout"])
    assert intervals["mean"].sum() == pytest.approx(mle.sum(), rel=0.01)


# --------------------------------------------------------------------------- Pareto/NBD, GG
def test_pareto_nbd_map_and_short_nuts_on_cdnow(cdnow, sample):
    """The Laplace fit is near the published MLE: within half a posterior sd (the Gaussian sits
    at the posterior mode of the log-parameters, measured 0.04-0.17 sd from the MLE in median,
    the most for s and beta, the least determined; the median of 500 draws carries Monte Carlo
    error 1.25 / sqrt(500) = 0.06 sd, so 0.5 sd is the largest offset plus 5 Monte Carlo
    standard errors); a short NUTS run exercises the sampler with the likelihood Op;
    predictions are the MLE formulas over the draws (the same operations at the same 20 draws,
    averaged in another order: 1e-12)."""
    model = BayesianParetoNBDModel().fit(cdnow, method="map", draws=500, chains=1,
                                         random_seed=1)
    published = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
    draws = model.parameter_draws()
    for name, value in published.items():
        assert abs(draws[name].median() - value) <= 0.5 * draws[name].std(), name
    per_draw = _per_draw(model, "expected_purchases", sample, 39.0, max_draws=20)
    ours = model.expected_purchases(sample, 39.0, max_draws=20)
    np.testing.assert_allclose(ours["mean"], per_draw.mean(axis=0), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to be judged on R-hat
        short = BayesianParetoNBDModel().fit(cdnow.iloc[:300], draws=30, tune=30, chains=1,
                                             random_seed=1)
    assert short.idata.posterior.sizes["draw"] == 30


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_target_accept_reaches_the_sampler(cdnow, sampler, monkeypatch):
    import nutpie

    seen = {}
    original = nutpie.sample if sampler == "nutpie" else pm.sample

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(nutpie if sampler == "nutpie" else pm, "sample", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to be judged on R-hat
        model = BayesianBetaGeoModel().fit(cdnow.iloc[:200], draws=20, tune=20, chains=1,
                                           random_seed=1, sampler=sampler, target_accept=0.95)
    assert seen["target_accept"] == 0.95
    assert model.idata.posterior.attrs["target_accept"] == 0.95


def test_default_target_accept_follows_the_sampled_coordinates(cdnow, monkeypatch):
    """The GGompertz/NBD samples with 0.8 where nutpie's native model moves in its kernel's
    coordinates (the default priors) and with the family's 0.95 where the log-parameters or
    the covariate coordinates are sampled (another prior: PyMC's graph; covariates; PyMC's
    own NUTS); a target given is used as it is."""
    import nutpie

    from clvmodels import BayesianGGompertzNBDModel

    seen = []

    def recording(original):
        def sample(*args, **kwargs):
            seen.append(kwargs["target_accept"])
            return original(*args, **kwargs)

        return sample

    monkeypatch.setattr(nutpie, "sample", recording(nutpie.sample))
    monkeypatch.setattr(pm, "sample", recording(pm.sample))
    table = cdnow.iloc[:100].assign(group=np.arange(100) % 2)
    models = [BayesianGGompertzNBDModel(),
              BayesianGGompertzNBDModel(priors={"s": pm.Gamma.dist(alpha=2.0, beta=2.0)}),
              BayesianGGompertzNBDModel(dropout_covariates=["group"])]
    short = {"draws": 5, "tune": 5, "chains": 1, "random_seed": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to be judged on R-hat
        fits = [model.fit(table, **short) for model in models]
        fits.append(BayesianGGompertzNBDModel().fit(table, sampler="pymc", **short))
        fits.append(BayesianGGompertzNBDModel().fit(table, target_accept=0.85, **short))
    assert seen == [0.8, 0.95, 0.95, 0.95, 0.85]
    assert [fit.idata.posterior.attrs["target_accept"] for fit in fits] == seen


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_attrs_record_tuning_steps_and_nutpie_leapfrog_steps(cdnow, sampler, monkeypatch):
    """A NUTS fit records its tuning steps per chain; a nutpie fit also the leapfrog steps of
    every chain, tuning included (its cost in gradient calls): nutpie's own per-draw counts
    summed over the tuning and kept draws."""
    import nutpie

    seen = {}
    original = nutpie.sample

    def recording(*args, **kwargs):
        seen["idata"] = original(*args, **kwargs)
        return seen["idata"]

    monkeypatch.setattr(nutpie, "sample", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to be judged on R-hat
        model = BayesianBetaGeoModel().fit(cdnow.iloc[:200], draws=20, tune=23, chains=2,
                                           random_seed=1, sampler=sampler)
    attrs = model.idata.posterior.attrs
    assert attrs["tune"] == 23
    if sampler == "pymc":
        assert "leapfrog_steps" not in attrs
        return
    raw = seen["idata"]
    assert raw.warmup_sample_stats.sizes["draw"] == 23
    expected = int(raw.warmup_sample_stats["n_steps"].sum() + raw.sample_stats["n_steps"].sum())
    assert attrs["leapfrog_steps"] == expected > int(model.idata.sample_stats["n_steps"].sum())


def _posterior_model(model_class, draws: dict, time_unit="W"):
    """A model holding the given draws (one chain), as if fitted."""
    model = model_class()
    idata = az.from_dict(posterior={k: np.asarray(v, float)[None, :] for k, v in draws.items()})
    idata.posterior.attrs = {"time_unit": time_unit, "n_customers": 1.0, "n_distinct_rows": 1,
                             "n_customers_excluded": 0}
    model.set_posterior(idata)
    return model


def test_gamma_gamma_refuses_draws_with_infinite_mean_spend(cdnow):
    model = _posterior_model(BayesianGammaGammaModel,
                             {"p": [6.0, 6.0, 6.0], "q": [3.0, 0.9, 1.0], "gamma": [15.0] * 3})
    with pytest.raises(ValueError, match=r"q <= 1 in 2 of 3 draw\(s\)"):
        model.expected_spend(cdnow)


def test_priors_can_be_replaced_and_are_recorded(cdnow):
    model = BayesianGammaGammaModel(priors={"q": pm.Gamma.dist(alpha=4.0, beta=1.0)})
    fit_data = model.fit_data(cdnow)
    described = describe_priors(model.family, fit_data, model.priors)
    assert "q ~ Gamma(4, 1)" in described and "p ~ LogNormal(0, 2)" in described
    mean_spend = np.average(fit_data["zbar"], weights=fit_data.weights)
    assert f"gamma ~ LogNormal({np.log(mean_spend):.4g}, 2)" in described
    with model.build_model(cdnow) as pymc_model:
        assert pymc_model["q"].owner.op.name == "gamma"


def test_gamma_gamma_leaves_out_repeat_buyers_at_zero_spend(cdnow, tmp_path):
    """As the maximum-likelihood model: left out with a warning that counts them, so the
    posterior is the one of the table without them (the same rows, the same seed: the same
    draws), and recorded through save and load."""
    free = cdnow.index[cdnow["frequency"] > 0][:3]
    table = cdnow.assign(monetary_value=cdnow["monetary_value"].mask(cdnow.index.isin(free), 0.0))
    settings = {"method": "map", "draws": 50, "chains": 1, "random_seed": 3}
    message = (r"BayesianGammaGammaModel: 3 customer\(s\) with repeat purchases all worth 0 "
               rf"\(e.g. customer {int(free[0])}\)")
    with pytest.warns(UserWarning, match=message) as caught:
        model = BayesianGammaGammaModel().fit(table, **settings)
    assert [w.filename for w in caught if "worth 0" in str(w.message)] == [__file__]
    without = BayesianGammaGammaModel().fit(table.drop(free), **settings)
    for name in model.param_names:
        np.testing.assert_array_equal(model.idata.posterior[name], without.idata.posterior[name])
    assert model.n_customers_ == without.n_customers_ == 946 - 3
    assert model.excluded_customers_["zero_spend"] == 3
    assert model.n_customers_excluded_ == without.n_customers_excluded_ + 3 == 1411 + 3
    path = tmp_path / "gg.nc"
    model.save(path)
    loaded = BayesianGammaGammaModel.load(path)
    assert (loaded.excluded_customers_["zero_spend"], loaded.n_customers_excluded_) == (3, 1414)
    draws = model.parameter_draws()
    spend = model.expected_spend(table)["mean"]
    np.testing.assert_allclose(  # a mean over 50 draws, in another order: 1e-12
        spend[free], (draws["p"] * draws["gamma"] / (draws["q"] - 1)).mean(), rtol=1e-12)


# --------------------------------------------------------------------------- API
def test_save_load_round_trip_and_type_check(nuts_bgnbd, cdnow, tmp_path):
    path = tmp_path / "bgnbd.nc"
    nuts_bgnbd.save(path)
    loaded = BayesianBetaGeoModel.load(path)
    pd.testing.assert_series_equal(loaded.params_, nuts_bgnbd.params_)
    assert loaded.time_unit_ == "W" and loaded.n_customers_ == 2357
    pd.testing.assert_frame_equal(loaded.probability_alive(cdnow, max_draws=100),
                                  nuts_bgnbd.probability_alive(cdnow, max_draws=100))
    with pytest.raises(ValueError, match="holds a 'BayesianBetaGeoModel' model, not a "
                                         "BayesianParetoNBDModel; load it with "
                                         r"BayesianBetaGeoModel.load\(\)"):
        BayesianParetoNBDModel.load(path)
    other = tmp_path / "other.nc"
    az.from_dict(posterior={"r": np.ones((1, 5))}).to_netcdf(str(other))
    with pytest.raises(ValueError, match="not a clvmodels clvmodels.bayesian_model file"):
        BayesianBetaGeoModel.load(other)
    text = tmp_path / "model.json"
    text.write_text("{}")
    with pytest.raises(ValueError, match="not a netCDF model file"):
        BayesianBetaGeoModel.load(text)


def test_bad_arguments_raise_clear_errors(nuts_bgnbd, cdnow):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['s'\]"):
        BayesianBetaGeoModel(priors={"s": pm.HalfNormal.dist(1.0)})
    with pytest.raises(ValueError, match="method must be 'nuts' or 'map'"):
        BayesianBetaGeoModel().fit(cdnow, method="advi")
    with pytest.raises(ValueError, match="sampler must be one of"):
        BayesianBetaGeoModel().fit(cdnow, sampler="stan")
    for bad in (1.0, 0.0, True, -0.5):
        with pytest.raises(ValueError, match="target_accept must be a number in"):
            BayesianBetaGeoModel().fit(cdnow, target_accept=bad)
    with pytest.raises(ValueError, match="level must be strictly between 0 and 1"):
        nuts_bgnbd.probability_alive(cdnow, level=90)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        BayesianBetaGeoModel().probability_alive(cdnow)
    monthly = cdnow.copy()
    monthly.attrs["time_unit"] = "M"
    with pytest.raises(ValidationError, match="fitted on data in 'W'"):
        nuts_bgnbd.expected_purchases(monthly, 12)
    with pytest.raises(ValidationError, match="column 'recency'"):
        nuts_bgnbd.probability_alive(cdnow.assign(recency=-1.0))


def test_parameter_draws_subsample(nuts_bgnbd):
    full = nuts_bgnbd.parameter_draws()
    assert list(full.columns) == ["r", "alpha", "a", "b"] and len(full) == 4000
    part = nuts_bgnbd.parameter_draws(max_draws=100, random_seed=5)
    assert len(part) == 100
    rows = set(map(tuple, full.to_numpy()))
    assert all(tuple(row) in rows for row in part.to_numpy())  # all of them posterior draws
    pd.testing.assert_frame_equal(part, nuts_bgnbd.parameter_draws(100, random_seed=5))


def test_import_without_pymc_names_the_extra(cdnow):
    """Simulate an install without the ``bayes`` extra: PyMC cannot be imported. The Bayesian
    classes are still there (declared with their families); fitting one names the extra, and
    the command line turns that into exit code 7."""
    code = (
        "import sys\n"
        "sys.modules['pymc'] = None\n"
        "import clvmodels\n"
        "from clvmodels.errors import DependencyError\n"
        "try:\n"
        "    clvmodels.BayesianBetaGeoModel().fit(clvmodels.load_cdnow_summary())\n"
        "except DependencyError as error:\n"
        "    print(error, error.exit_code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert 'pip install "clvmodels[bayes]"' in result.stdout
    assert result.stdout.strip().endswith(" 7")


def test_importing_the_bayesian_models_silences_only_pytensors_blas_warning():
    """PyTensor looks for a BLAS to link to once per process, at the first compiled graph, and
    warns when it finds none (pip installs, like the test environment's): clvmodels.bayes makes
    that search on import with that one warning ignored. Other warnings, even the same text
    from the same module later, still show: no filter of it stays behind."""
    code = (
        "import warnings\n"
        "import clvmodels.bayes\n"
        "assert not [f for f in warnings.filters if 'BLAS' in getattr(f[1], 'pattern', '')]\n"
        "from clvmodels import BayesianGammaGammaModel, load_cdnow_summary\n"
        "model = BayesianGammaGammaModel().build_model(load_cdnow_summary())\n"
        "model.compile_logp()(model.initial_point())  # where PyTensor warned before\n"
        "warnings.warn('another warning', UserWarning)\n"
        "warnings.warn_explicit('PyTensor could not link to a BLAS installation (again)',\n"
        "                       UserWarning, 'cmodule.py', 1, module='pytensor.link.c.cmodule')\n"
    )
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                            text=True, check=True)
    lines = result.stderr.splitlines()
    assert [line for line in lines if "BLAS" in line] == [
        "cmodule.py:1: UserWarning: PyTensor could not link to a BLAS installation (again)"]
    assert any(line.endswith("UserWarning: another warning") for line in lines)


def test_each_family_declares_both_estimators():
    for spec in MODELS.values():
        assert spec.bayesian.family is spec.mle.family
        assert spec.bayesian().param_names == spec.mle().param_names
