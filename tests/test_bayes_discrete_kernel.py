"""The compiled kernels of the discrete-time families (models/discrete_kernel.py): BG/BB, sBG
and BdW. Their value and gradient equal the families' NumPy likelihood per row (extreme rows
included) and finite differences; the native nutpie route takes them with the default priors,
and its C callbacks sample whitened coordinates."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")
pytest.importorskip("numba")

from _kernels import NutpieCallbacks, central_differences  # noqa: E402

from clvmodels import (  # noqa: E402
    BayesianBetaDiscreteWeibullModel,
    BayesianBetaGeoBetaBinomModel,
    BayesianShiftedBetaGeoModel,
    cohort_to_customers,
    load_donations,
    load_retention_cohorts,
)
from clvmodels.bayes import native  # noqa: E402
from clvmodels.bayes.model import pymc_model as pymc_model_of  # noqa: E402
from clvmodels.estimation.fitdata import FitData  # noqa: E402
from clvmodels.models import discrete_kernel as kernel  # noqa: E402
from clvmodels.models.beta_discrete_weibull import (  # noqa: E402
    BETA_DISCRETE_WEIBULL,
    SHIFTED_BETA_GEO,
)
from clvmodels.models.beta_geo_beta_binom import BETA_GEO_BETA_BINOM  # noqa: E402
from clvmodels.models.compiled_kernel import (  # noqa: E402
    CompiledBetaGeoBetaBinom,
    CompiledContract,
)

BGBB_POINTS = [
    (1.204, 0.75, 0.657, 2.783),  # the donations' estimate (Fader, Hardie & Shang 2010)
    (1e-3, 1e3, 1e-2, 50.0),
    (50.0, 0.01, 3.0, 1e-3),
    (20.0, 30.0, 1e3, 1e-2),  # arguments beyond 10: the Stirling branch of log_rising
]
CONTRACT_POINTS = [
    (0.668, 3.806, 1.0),  # the high-end cohort's sBG estimate (Fader & Hardie 2007)
    (1e-3, 1e3, 0.2),
    (50.0, 0.01, 3.0),
    (2.0, 20.0, 40.0),  # y = n ** c beyond e**600 at n = 1e7: the asymptotic branch
]


def _donations() -> FitData:
    data = load_donations()
    return BayesianBetaGeoBetaBinomModel().fit_data(data, data["weights"])


def _extreme_bgbb() -> FitData:
    """Rows at the edges: no repeat, one period, every period with a transaction (no dropout
    term), a transaction long ago in a long history, thousands of periods."""
    x = np.array([0, 0, 1, 6, 3, 40, 900], dtype=float)
    t_x = np.array([0, 0, 1, 6, 4, 500, 2500], dtype=float)
    n = np.array([1, 6, 1, 6, 400, 600, 3000], dtype=float)
    return FitData.compress({"x": x, "t_x": t_x, "T": n}, np.array([5, 1, 2, 1, 3, 1, 1.0]))


def _cohort() -> FitData:
    customers = cohort_to_customers(load_retention_cohorts()["high_end"].loc[:7], time_unit="Y")
    return BayesianShiftedBetaGeoModel().fit_data(customers)


def _extreme_contracts() -> FitData:
    """Churned in the first period, active and churned after 1e4 and 1e7 renewals."""
    n = np.array([0, 0, 1, 1e4, 1e4, 1e7, 1e7])
    churned = np.array([1, 0, 1, 0, 1, 0, 1], dtype=float)
    return FitData.compress({"n": n, "churned": churned}, np.array([3, 1, 2, 1, 1, 1, 1.0]))


CASES = [
    (BETA_GEO_BETA_BINOM, BGBB_POINTS, (_donations, _extreme_bgbb)),
    (SHIFTED_BETA_GEO, [point[:2] for point in CONTRACT_POINTS], (_cohort, _extreme_contracts)),
    (BETA_DISCRETE_WEIBULL, CONTRACT_POINTS, (_cohort, _extreme_contracts)),
]


def _rows(data: FitData):
    for i in range(data.n_rows):
        yield FitData({name: column[i:i + 1] for name, column in data.columns.items()},
                      np.ones(1))


@pytest.mark.parametrize(("family", "points", "data_sets"), CASES,
                         ids=[case[0].name for case in CASES])
def test_kernel_equals_the_numpy_likelihood_per_row(family, points, data_sets):
    """On each distinct row alone (so that no error can hide in a sum) the kernel's value and
    gradient equal the family's NumPy row: the same formulas in two libraries (numba's lgamma
    and the BG/NBD kernel's digamma, 2e-15 relative, against SciPy's), with terms up to ~1e8
    at the edges (log-gammas of thousands of periods, y = n ** c), so rounding ~1e-8 absolute
    at most: 1e-8 relative with a floor of 1e-8 (value) and 1e-8 of the largest gradient
    component."""
    checked = 0
    for make in data_sets:
        for row in _rows(make()):
            compiled = family.compiled_likelihood(row)
            for params in points:
                params = np.array(params)
                expected_rows, expected_gradient = family.log_likelihood_gradient(params, row)
                if not (np.isfinite(expected_rows).all() and np.isfinite(expected_gradient).all()):
                    continue  # beyond double precision in NumPy too
                total, gradient = compiled.value_and_gradient(params)
                assert total == pytest.approx(expected_rows[0], rel=1e-8, abs=1e-8), (
                    row.columns, params)
                np.testing.assert_allclose(gradient, expected_gradient[:, 0], rtol=1e-8,
                                           atol=1e-8 * np.abs(expected_gradient).max(),
                                           err_msg=f"{row.columns} {params}")
                checked += 1
    assert checked >= 40  # the edges were evaluated, not skipped


@pytest.mark.parametrize(("family", "points", "data_sets"), CASES,
                         ids=[case[0].name for case in CASES])
def test_kernel_totals_equal_the_numpy_derivatives(family, points, data_sets):
    """The weighted totals on the whole data equal the family's ``derivatives`` (the sums in
    another order: 1e-10 relative of totals ~1e5)."""
    for make in data_sets:
        data = make()
        compiled = family.compiled_likelihood(data)
        for params in points:
            params = np.array(params)
            expected, expected_gradient, _ = family.derivatives(params, data)
            if not (np.isfinite(expected) and np.isfinite(expected_gradient).all()):
                continue
            total, gradient = compiled.value_and_gradient(params)
            assert total == pytest.approx(expected, rel=1e-10)
            np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8,
                                       atol=1e-8 * np.abs(expected_gradient).max())


@pytest.mark.parametrize(("family", "points", "data_sets"), CASES,
                         ids=[case[0].name for case in CASES])
def test_kernel_gradient_matches_finite_differences(family, points, data_sets):
    """Central differences of the kernel's own value at the published estimate (relative
    step 1e-6: truncation ~1e-12 relative; rounding of a total ~3e4 is ~1e-11 / 1e-6 = 1e-5
    absolute)."""
    compiled = family.compiled_likelihood(data_sets[0]())
    values = np.array(points[0])
    _, gradient = compiled.value_and_gradient(values)
    numeric = central_differences(lambda p: compiled.value_and_gradient(p)[0], values)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-4)


def test_family_codes_are_the_kernels():
    assert CompiledBetaGeoBetaBinom.family_code == kernel.BGBB
    assert CompiledContract.family_code == kernel.CONTRACT


def test_log_stirling_branch_matches_scipy():
    """The kernel's log_rising (Stirling's series from x = 10) against SciPy's log-gamma
    difference where that has no cancellation to speak of (1e-12 relative)."""
    from scipy.special import gammaln

    for x, n in ((0.5, 3.0), (9.99, 100.0), (10.0, 0.5), (37.5, 12.0), (1e4, 3.0)):
        expected = gammaln(x + n) - gammaln(x)
        assert kernel.log_rising(x, n) == pytest.approx(expected, rel=1e-12)


MODELS = [(BayesianBetaGeoBetaBinomModel, _donations), (BayesianShiftedBetaGeoModel, _cohort),
          (BayesianBetaDiscreteWeibullModel, _cohort)]


def _native_model(model_class, make):
    model = model_class()
    data = make()
    pymc_model = pymc_model_of(model.family, data, model.priors)
    return model, data, pymc_model, native.compile_native(pymc_model, model.family, data,
                                                          model.param_names)


@pytest.mark.parametrize(("model_class", "make"), MODELS, ids=lambda c: getattr(c, "__name__",
                                                                                   ""))
def test_native_log_density_is_the_python_one(model_class, make):
    """The kernel's log density with the default log-normal priors equals the native route's
    NumPy one (the family's derivatives plus the priors written out): the same sums in another
    order, 1e-10 relative."""
    model, data, pymc_model, _ = _native_model(model_class, make)
    priors = native.log_normal_priors(pymc_model, model.param_names)
    k = len(model.param_names)
    packed = model.family.compiled_likelihood(data).packed(priors, priors[0], np.eye(k))
    for shift in (0.0, 0.7, -1.5):
        theta = np.log(model.family.initial_params(data)) + shift * np.arange(1, k + 1) / k
        ours = kernel.log_density(theta, packed)
        expected = native.python_log_density(model.family, data, priors, theta)
        assert ours[0] == pytest.approx(expected[0], rel=1e-10)
        np.testing.assert_allclose(ours[1], expected[1], rtol=1e-8,
                                   atol=1e-8 * np.abs(expected[1]).max())


@pytest.mark.parametrize(("model_class", "make"), MODELS, ids=lambda c: getattr(c, "__name__",
                                                                                   ""))
def test_native_callbacks_sample_whitened_coordinates(model_class, make):
    """With the default priors the native route runs the kernel's C callbacks (not a Python
    log density); called through ctypes as nutpie calls them, they give the log density at
    log-parameters = mode + L z and its gradient in z, L' times the gradient in
    log-parameters (equal to rounding, 1e-12), and store those log-parameters and their
    exponentials; a wrong dimension is refused (-1)."""
    model, _, _, compiled = _native_model(model_class, make)
    assert compiled.compiled_logp_func is not None
    k = len(model.param_names)
    callbacks = NutpieCallbacks(compiled)
    packed = callbacks.packed
    start = kernel.PRIORS + 2 * k
    mode = packed[start:start + k]
    factor = packed[start + k:start + k + k * k].reshape(k, k)
    assert np.allclose(factor, np.tril(factor)) and np.all(np.diag(factor) > 0)

    for z in (np.zeros(k), np.linspace(-1.5, 2.0, k)):
        status, value, gradient = callbacks.log_density(z)
        assert status == 0
        theta = mode + factor @ z
        expected_value, expected_gradient = kernel.log_density(theta, packed)
        assert value == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(gradient, factor.T @ expected_gradient, rtol=1e-12,
                                   atol=1e-12 * np.abs(expected_gradient).max())
        status, expanded = callbacks.draw(z)
        assert status == 0
        # theta summed in another order than NumPy's: a few ulps of |mode| + |L| |z| (< 10).
        np.testing.assert_allclose(expanded[:k], theta, rtol=0, atol=1e-14)
        np.testing.assert_allclose(expanded[k:], np.exp(theta), rtol=1e-13)
    assert callbacks.log_density(np.zeros(k), dim=k + 1)[0] == -1


def test_default_bdw_fit_has_no_divergences():
    """The BdW's default NUTS fit on the high-end cohort (years 0-7) converges without
    divergent transitions: its family's target acceptance 0.9 (at NUTS's 0.8 this seed had
    two, as one to two of three seeds did). The sBG keeps 0.8."""
    customers = cohort_to_customers(load_retention_cohorts()["high_end"].loc[:7], time_unit="Y")
    model = BayesianBetaDiscreteWeibullModel().fit(customers, random_seed=1)
    assert int(model.idata.sample_stats["diverging"].sum()) == 0
    assert float(model.summary()["r_hat"].max()) <= 1.01
    assert BayesianShiftedBetaGeoModel.family.target_accept == 0.8
