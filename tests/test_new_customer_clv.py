"""The CLV of a customer just acquired (cold start), without and with covariate profiles,
against exact identities and an independent numerical integral."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _apparel import apparel_with_spend
from scipy import integrate
from test_covariates import BOTH

from clvmodels import (
    GammaGammaModel,
    ParetoNBDModel,
    ValidationError,
    new_customer_lifetime_value,
)


def _population_spend(model: GammaGammaModel) -> float:
    p, q, gamma = model.params_[["p", "q", "gamma"]]
    return p * gamma / (q - 1)


@pytest.fixture(params=["fitted_bgnbd", "fitted_pnbd"])
def transaction_model(request):
    return request.getfixturevalue(request.param)


def test_undiscounted_is_margin_population_spend_and_new_customer_purchases(
        transaction_model, fitted_gg):
    value = new_customer_lifetime_value(transaction_model, fitted_gg, horizon=52, margin=0.3)
    assert list(value.columns) == ["clv", "expected_purchases", "expected_spend"]
    assert len(value) == 1
    purchases = transaction_model.expected_purchases_new_customer(52)
    # The same closed forms evaluated in another order: equal to rounding.
    assert value["expected_purchases"].iloc[0] == pytest.approx(purchases, rel=1e-12)
    assert value["expected_spend"].iloc[0] == pytest.approx(_population_spend(fitted_gg),
                                                            rel=1e-12)
    assert value["clv"].iloc[0] == pytest.approx(
        0.3 * purchases * _population_spend(fitted_gg), rel=1e-12)


def test_discounted_matches_the_integral_of_the_discounted_purchase_rate(
        transaction_model, fitted_gg):
    rate = 0.002  # per week (about 11% a year)
    value = new_customer_lifetime_value(transaction_model, fitted_gg, horizon=104,
                                        discount_rate=rate)
    params = transaction_model.params_.to_numpy()
    family = transaction_model.family

    def integrand(t):
        return (1 + rate) ** -t * family.rate_new(params, np.array([t]))[0]

    expected, _ = integrate.quad(integrand, 0, 104, epsabs=0, epsrel=1e-12, limit=500)
    # The library's Gauss-Legendre quadrature of the discounted rate is accurate to ~1e-9
    # relative on these smooth rates (tests/test_clv.py holds the same bound).
    assert value["expected_purchases"].iloc[0] == pytest.approx(expected, rel=1e-8)
    assert value["expected_purchases"].iloc[0] < transaction_model.expected_purchases_new_customer(
        104)


def test_bayesian_draws_give_an_interval(map_bgnbd, fitted_gg):
    value = new_customer_lifetime_value(map_bgnbd, fitted_gg, horizon=39, level=0.9)
    assert list(value.columns) == ["clv", "expected_purchases", "expected_spend", "lower",
                                   "upper"]
    draws = map_bgnbd.parameter_draws()[list(map_bgnbd.family.param_names)].to_numpy()
    per_draw = map_bgnbd.family.expected_new(tuple(draws.T), 39.0) * _population_spend(fitted_gg)
    # Every draw is used once (200 of 200): the mean is the mean over draws, to rounding.
    assert value["clv"].iloc[0] == pytest.approx(per_draw.mean(), rel=1e-10)
    lower, upper = np.quantile(per_draw, [0.05, 0.95])
    assert value["lower"].iloc[0] == pytest.approx(lower, rel=1e-10)
    assert value["upper"].iloc[0] == pytest.approx(upper, rel=1e-10)


@pytest.fixture(scope="module")
def apparel_models():
    """Pareto/NBD with Gender and Channel in both processes and Gamma-Gamma with Channel."""
    apparel = apparel_with_spend()
    return (ParetoNBDModel(**BOTH).fit(apparel),
            GammaGammaModel(spend_covariates=["Channel"]).fit(apparel))


def test_cold_start_by_channel_and_gender(apparel_models):
    purchase, spend = apparel_models
    profiles = pd.DataFrame({"Channel": [0, 0, 1, 1], "Gender": [0, 1, 0, 1]},
                            index=pd.Index(["online m", "online f", "offline m", "offline f"],
                                           name="segment"))
    value = new_customer_lifetime_value(purchase, spend, horizon=52, covariates=profiles)
    assert list(value.index) == list(profiles.index)
    expected_purchases = purchase.expected_purchases_new_customer(52, covariates=profiles)
    np.testing.assert_allclose(value["expected_purchases"], expected_purchases, rtol=1e-12)
    # Gamma-Gamma with spend covariates: gamma_i = gamma exp(g Channel), mean p gamma_i/(q-1).
    p, q, gamma, g = spend.params_[["p", "q", "gamma", "spend.Channel"]]
    mean_spend = p * gamma * np.exp(g * profiles["Channel"].to_numpy()) / (q - 1)
    np.testing.assert_allclose(value["expected_spend"], mean_spend, rtol=1e-12)
    np.testing.assert_allclose(value["clv"], expected_purchases * mean_spend, rtol=1e-12)
    # A profile given as a mapping is the same customer.
    single = new_customer_lifetime_value(purchase, spend, horizon=52,
                                         covariates={"Channel": 1, "Gender": 1})
    assert single["clv"].iloc[0] == pytest.approx(value.loc["offline f", "clv"], rel=1e-12)


def test_covariate_profiles_are_checked(apparel_models, fitted_pnbd, fitted_gg):
    purchase, spend = apparel_models
    with pytest.raises(ValidationError, match="fitted with covariates"):
        new_customer_lifetime_value(purchase, spend, horizon=52)
    with pytest.raises(ValidationError, match="fitted without covariates"):
        new_customer_lifetime_value(fitted_pnbd, fitted_gg, horizon=52,
                                    covariates={"Channel": 1})
    with pytest.raises(ValidationError, match="'Gender'"):
        new_customer_lifetime_value(purchase, spend, horizon=52, covariates={"Channel": 1})


def test_bayesian_covariate_profiles_use_each_draws_coefficients(cdnow, fitted_gg):
    """With posterior draws of the coefficients, each profile's purchases are those of the
    model's own new-customer predictions over the same draws (the profile's parameters per
    draw), not the base parameters'."""
    import warnings

    from clvmodels import BayesianBetaGeoModel

    table = cdnow.assign(early=(cdnow["T"] > 35).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few Laplace draws: R-hat is not the point here
        model = BayesianBetaGeoModel(purchase_covariates=["early"],
                                     dropout_covariates=["early"]).fit(
            table, method="map", draws=200, chains=2, random_seed=1)
    profiles = pd.DataFrame({"early": [0.0, 1.0]})
    value = new_customer_lifetime_value(model, fitted_gg, horizon=52, covariates=profiles)
    own = model.expected_purchases_new_customer(52, covariates=profiles)["mean"].to_numpy()
    # The same formula on the same draws, averaged in another order: equal to rounding.
    np.testing.assert_allclose(value["expected_purchases"], own, rtol=1e-12)
    assert value["expected_purchases"].iloc[0] != value["expected_purchases"].iloc[1]
