"""BG/NBD and Pareto/NBD checked by routes independent of their closed forms.

Monte Carlo: the simulators draw customers from the model's generative story (not from its
formulas); conditional predictions averaged over simulated customers must match what those
customers then do in a holdout period. Tolerances are 4 standard errors of the simulated mean
(a false alarm has probability ~6e-5 per comparison with fixed seeds, i.e. never in practice).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from clvmodels import BetaGeoModel, ParetoNBDModel

CDNOW_PARAMS = {
    BetaGeoModel: {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    ParetoNBDModel: {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},
}
MODELS = list(CDNOW_PARAMS)


def _model(model_class):
    return model_class().set_params_(CDNOW_PARAMS[model_class], time_unit="W")


def _within_standard_errors(observed: np.ndarray, expected: float, n_se: float = 4.0):
    se = observed.std(ddof=1) / np.sqrt(len(observed))
    # The floor of 1e-12 absolute is for groups whose draws are all equal (se = 0): then only
    # the rounding of the expected mean (values ~1, ~1e-16 each) separates the two.
    assert abs(observed.mean() - expected) <= n_se * se + 1e-12, (observed.mean(), expected, se)


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def simulated(request):
    model = _model(request.param)
    rng = np.random.default_rng(7)
    # Cohorts acquired over 12 weeks, as in CDNOW; 39-week holdout.
    T = 39.0 + rng.integers(0, 12, 200_000)
    return model, model.simulate(len(T), T, holdout=39.0, random_state=rng)


def test_conditional_expectation_matches_simulated_holdout(simulated):
    model, data = simulated
    predicted = model.expected_purchases(data, 39.0)
    for _, group in data.groupby(np.minimum(data["frequency"], 8)):
        _within_standard_errors(
            group["frequency_holdout"].to_numpy(float), predicted[group.index].mean()
        )


def test_purchase_count_distribution_matches_simulated_holdout(simulated):
    model, data = simulated
    for n in range(4):
        indicator = (data["frequency_holdout"] == n).to_numpy(float)
        _within_standard_errors(indicator, model.probability_of_purchases(data, n, 39.0).mean())


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_new_customer_expectation_matches_simulation(model_class):
    model = _model(model_class)
    for t in (5.0, 78.0):
        data = model.simulate(200_000, t, random_state=3)
        _within_standard_errors(
            data["frequency"].to_numpy(float), model.expected_purchases_new_customer(t)
        )


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_parameter_recovery(model_class):
    """Fitting 100,000 simulated customers recovers the parameters.

    The check is on the fitted model's own standard errors: each estimate within 4 of them
    (a false alarm has probability ~6e-5 per parameter for Gaussian estimates; seeded)
    (which also checks that the standard errors are of the right size: the test would fail if
    they were much too small, and the 10% bound fails if they were much too large).
    """
    truth = pd.Series(CDNOW_PARAMS[model_class])
    rng = np.random.default_rng(11)
    T = 39.0 + rng.integers(0, 12, 100_000)
    data = _model(model_class).simulate(len(T), T, random_state=rng)
    data["recency"] = np.round(data["recency"] * 7) / 7  # whole days, as real logs record them
    fitted = model_class().fit(data)
    error = (fitted.params_ - truth).abs()
    assert (error <= 4 * fitted.summary()["std_error"]).all(), (fitted.params_, truth)
    assert (error / truth <= 0.1).all()


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_distribution_sums_to_one_and_has_the_expected_mean(model_class, cdnow):
    model = _model(model_class)
    sample = cdnow.iloc[:40]
    counts = np.arange(200)
    pmf = np.array([model.probability_of_purchases(sample, n, 39.0) for n in counts])
    # Counts beyond 199 in 39 weeks have probability below 1e-45 here. The BG/NBD's
    # probabilities are closed forms, a few ulps each: their sum of 200 is 1 to ~1e-13 (1e-12
    # asked). The Pareto/NBD's P(0) integrates the dropout by quadrature, accurate to 3.5e-10
    # (tests/test_new_customer_distribution.py): 1e-9. The means weigh P(0) by 0; the closed
    # forms of E[X] (2F1) are accurate to ~1e-13 (1e-10 asked).
    sum_rtol = 1e-9 if model_class is ParetoNBDModel else 1e-12
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, rtol=sum_rtol)
    np.testing.assert_allclose(counts @ pmf, model.expected_purchases(sample, 39.0), rtol=1e-10)


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_purchase_rate_is_the_derivative_of_expected_purchases(model_class):
    """The CLV integral uses the rate; check it against a central difference.

    Truncation, h**2 / 6 times E's third derivative over its first, is ~1e-10 relative (the
    rate changes on the scale alpha ~ 5): 1e-8 asked. Rounding: E(t) is a closed form accurate
    to ~1e-14 relative (2F1), and its difference over 2h carries that error times E / (2 h);
    for large t, where E(t) / E'(t) ~ t, this dominates (5e-7 measured at t = 1e4), so it is
    allowed for per t.
    """
    model = _model(model_class)
    params = tuple(model.params_.to_numpy())
    t, h = np.array([0.01, 1.0, 39.0, 500.0, 1e4]), 1e-4
    expected = model.family.future_expected
    slope = (expected(params, t + h) - expected(params, t - h)) / (2 * h)
    rounding = 2 * 1e-14 * model.family.future_expected(params, t + h) / (2 * h)
    rate = np.exp(model.family.future_log_rate(params, t))
    assert np.all(np.abs(rate - slope) <= 1e-8 * slope + rounding), (rate - slope) / slope


def test_bgnbd_expected_purchases_at_a_equal_one():
    """Near a = 1 the closed form is 0/0; check the model's value against scipy's adaptive
    integral of the purchase rate, whose formula has no such point (quad's own error is
    ~1e-12 here; 1e-8 is what the closed form just outside the band still reaches)."""
    t = 39.0
    for a in (1.0, 1 + 3e-6, 1 - 3e-6, 1 + 2e-4, 1 - 2e-4):
        model = BetaGeoModel().set_params_({"r": 0.5, "alpha": 3.0, "a": a, "b": 2.0})
        params = tuple(model.params_.to_numpy())

        def rate(u, model=model, params=params):
            return np.exp(model.family.future_log_rate(params, u))

        integral, _ = integrate.quad(rate, 0, t, epsabs=0, epsrel=1e-13)
        assert model.expected_purchases_new_customer(t) == pytest.approx(integral, rel=1e-8)


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_nothing_is_bought_over_an_empty_period(model_class, cdnow):
    # t = 0 reads 0 * log 0 in the negative-binomial term; it must give P(0) = 1, not NaN (to
    # rounding: P(alive) * 1 + (1 - P(alive)) may land one ulp below 1).
    model = _model(model_class)
    for n, expected in ((0, 1.0), (1, 0.0), (3, 0.0)):
        np.testing.assert_allclose(
            model.probability_of_purchases(cdnow, n, 0.0), expected, rtol=0, atol=4e-16
        )
        assert model.probability_of_purchases_new_customer(n, 0.0) == expected
