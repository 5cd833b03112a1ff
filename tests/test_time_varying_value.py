"""Customer lifetime value and equity of a Pareto/NBD fitted with time-varying covariates:
``customer_lifetime_value(model.with_time_varying_covariates(table), spend_model, rfm, ...)``
(the purchase side from each customer's future covariate periods, times the expected spend)
against the hand product of its parts, the static covariate model's value for covariates
constant in time, and a table that does not reach the horizon."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_dynamic_covariates import END, NAMES, TRUTH, WEEK, simulate

from clvmodels import (
    GammaGammaModel,
    ParetoNBDModel,
    ValidationError,
    customer_equity,
    customer_lifetime_value,
)
from clvmodels.scoring import ValueSettings, score_customers

HORIZON, RATE = 15.5, 0.003  # weeks (the simulated table reaches 21 weeks), per week


def with_spend(rfm: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The RFM table with a mean spend per repeat buyer (Gamma-Gamma-like draws), keeping
    its attrs (which place the covariate periods)."""
    rng = np.random.default_rng(seed)
    x = rfm["frequency"].to_numpy()
    scale = 1.0 / rng.gamma(6.0, 1 / 10.0, len(rfm))  # each customer's mean spend
    spend = np.where(x > 0, rng.gamma(3.0 * np.maximum(x, 1), scale / 3.0) / np.maximum(x, 1),
                     0.0)
    table = rfm.assign(monetary_value=spend)
    table.attrs = dict(rfm.attrs)
    return table


@pytest.fixture(scope="module")
def simulated():
    rfm, covariates, transactions = simulate(TRUTH, 300, seed=5)
    return with_spend(rfm, seed=6), covariates, transactions


@pytest.fixture(scope="module")
def seasonal(simulated):
    """A fit with a seasonal purchase and dropout covariate and a constant one, and a
    Gamma-Gamma fit of the repeat buyers' spend."""
    rfm, covariates, transactions = simulated
    columns = {"purchase_covariates": ["season", "segment"],
               "dropout_covariates": ["season"]}
    model = ParetoNBDModel(**columns).fit(rfm, time_varying_covariates=covariates,
                                          transactions=transactions, **NAMES)
    repeat = rfm[rfm["frequency"] > 0]
    return model, GammaGammaModel().fit(repeat), repeat


def test_clv_is_the_product_of_the_discounted_purchases_and_the_spend(simulated, seasonal):
    _, covariates, _ = simulated
    model, spend_model, repeat = seasonal
    predictions = model.with_time_varying_covariates(covariates)
    margin = 0.3
    value = customer_lifetime_value(predictions, spend_model, repeat, horizon=HORIZON,
                                    discount_rate=RATE, margin=margin)
    purchases = predictions.discounted_expected_purchases(repeat, horizon=HORIZON,
                                                          discount_rate=RATE)
    spend = spend_model.expected_spend(repeat)
    # One parameter set, no interval: the columns of a static maximum-likelihood CLV.
    assert list(value.columns) == ["clv"]
    assert value.index.equals(repeat.index)
    # The same numbers multiplied in another order: rounding only.
    np.testing.assert_allclose(value["clv"], margin * purchases * spend, rtol=1e-13, atol=0)
    # The future covariates matter: high-season weeks ahead change the value.
    off_season = covariates.assign(season=np.where(covariates["date"] > END, 0.0,
                                                   covariates["season"]))
    calm = customer_lifetime_value(model.with_time_varying_covariates(off_season), spend_model,
                                   repeat, horizon=HORIZON, discount_rate=RATE, margin=margin)
    assert not np.allclose(calm["clv"], value["clv"], rtol=1e-3)

    equity = customer_equity(predictions, spend_model, repeat, horizon=HORIZON,
                             discount_rate=RATE, margin=margin)
    # A sum of the customers' values (floating-point summation of 250-odd terms).
    assert equity.total == pytest.approx(value["clv"].sum(), rel=1e-12)
    np.testing.assert_allclose(equity.clv["expected_purchases"], purchases, rtol=1e-13)
    np.testing.assert_allclose(equity.clv["probability_alive"],
                               predictions.probability_alive(repeat), rtol=1e-13)
    assert equity.total_interval is None
    assert equity.horizon == HORIZON and equity.time_unit == "W"


def test_scores_of_a_time_varying_fit(simulated, seasonal):
    _, covariates, _ = simulated
    model, spend_model, repeat = seasonal
    predictions = model.with_time_varying_covariates(covariates)
    settings = ValueSettings(horizon=HORIZON, discount_rate=0.1)
    scores = score_customers(predictions, spend_model, repeat, settings)
    rate = settings.rate_per_unit("W")
    # The score columns are the predictions' own (computed once, in the valuation).
    np.testing.assert_allclose(
        scores.table["expected_purchases"], predictions.expected_purchases(repeat, HORIZON),
        rtol=1e-13)
    np.testing.assert_allclose(
        scores.table["clv"],
        customer_lifetime_value(predictions, spend_model, repeat, horizon=HORIZON,
                                discount_rate=rate)["clv"], rtol=1e-13)
    assert scores.equity.total == pytest.approx(scores.table["clv"].sum(), rel=1e-12)


def test_constant_covariates_give_the_static_models_clv(simulated):
    rfm, covariates, _ = simulated
    static = {"purchase_covariates": ["segment"], "dropout_covariates": ["segment"]}
    dynamic = ParetoNBDModel(**static).fit(rfm, time_varying_covariates=covariates, **NAMES)
    table = rfm.join(covariates.groupby("customer")["segment"].first())
    table.attrs = dict(rfm.attrs)  # the join drops them; they place the periods
    fixed = ParetoNBDModel(**static).fit(table)
    dynamic = copy.deepcopy(dynamic)
    dynamic.params_ = fixed.params_.copy()  # the same parameters, to compare the formulas
    repeat = table[table["frequency"] > 0]
    spend_model = GammaGammaModel().fit(repeat)
    found = customer_lifetime_value(dynamic.with_time_varying_covariates(covariates),
                                    spend_model, repeat, horizon=HORIZON, discount_rate=RATE)
    expected = customer_lifetime_value(fixed, spend_model, repeat, horizon=HORIZON,
                                       discount_rate=RATE)
    assert list(found.columns) == list(expected.columns)
    # P(alive) agrees to ~1e-10 relative (see test_dynamic_covariates); the discounted future
    # is Gauss-Legendre per weekly piece (~1e-11) against the static model's quadrature on a
    # log axis (~1e-10): 1e-9 relative covers both.
    np.testing.assert_allclose(found["clv"], expected["clv"], rtol=1e-9, atol=0)
    # Without discounting both futures are closed forms.
    found = customer_equity(dynamic.with_time_varying_covariates(covariates), spend_model,
                            repeat, horizon=HORIZON)
    expected = customer_equity(fixed, spend_model, repeat, horizon=HORIZON)
    assert found.total == pytest.approx(expected.total, rel=1e-10)


def test_a_table_not_reaching_the_horizon_is_refused(simulated, seasonal):
    _, covariates, _ = simulated
    model, spend_model, repeat = seasonal
    first = repeat.index[0]
    # The first repeat buyer's periods stop 10 weeks after the calibration end.
    short = covariates[(covariates["customer"] != first)
                       | (covariates["date"] < END + 10 * WEEK)]
    predictions = model.with_time_varying_covariates(short)
    assert np.isfinite(customer_lifetime_value(predictions, spend_model, repeat,
                                               horizon=10.0)["clv"]).all()
    with pytest.raises(ValidationError, match=rf"customer {first}: .*before the end of the "
                                              r"horizon \(15.5 weeks after it\)"):
        customer_lifetime_value(predictions, spend_model, repeat, horizon=HORIZON)
    with pytest.raises(ValidationError, match=rf"customer {first}: "):
        customer_equity(predictions, spend_model, repeat, horizon=HORIZON, discount_rate=RATE)
    with pytest.raises(ValidationError, match="horizon must be finite"):
        customer_lifetime_value(predictions, spend_model, repeat, horizon=float("inf"),
                                discount_rate=RATE)


def test_the_fit_itself_is_refused_with_the_way_to_value_it(seasonal):
    model, spend_model, repeat = seasonal
    with pytest.raises(ValidationError, match=r"with_time_varying_covariates\(table\) to "
                                              "customer_lifetime_value"):
        customer_lifetime_value(model, spend_model, repeat.assign(season=0.0), horizon=5.0)


def test_spark_scoring_refuses_a_time_varying_fit(simulated, seasonal):
    pytest.importorskip("pyspark", reason="pyspark is not installed (extra: spark)")
    from clvmodels import spark

    _, covariates, _ = simulated
    model, spend_model, _ = seasonal
    settings = ValueSettings(horizon=HORIZON)
    # Refused before the summary is read: no Spark session is needed to see it.
    for purchase_model in (model, model.with_time_varying_covariates(covariates)):
        with pytest.raises(ValidationError, match="spark.score: ParetoNBDModel was fitted with "
                                                  "time-varying covariates.*in pandas"):
            spark.score(None, purchase_model, spend_model, settings=settings)


def test_a_bayesian_spend_model_carries_the_interval(seasonal, simulated):
    # One purchase parameter set, the spend's posterior draws: CLV per draw is the fixed
    # discounted purchases times each draw's expected spend.
    pytest.importorskip("pymc")
    from clvmodels import BayesianGammaGammaModel

    _, covariates, _ = simulated
    model, _, repeat = seasonal
    spend_model = BayesianGammaGammaModel().fit(repeat, draws=200, tune=300, chains=2,
                                                random_seed=7, progressbar=False)
    predictions = model.with_time_varying_covariates(covariates)
    value = customer_lifetime_value(predictions, spend_model, repeat, horizon=HORIZON,
                                    discount_rate=RATE, level=0.8)
    purchases = predictions.discounted_expected_purchases(repeat, horizon=HORIZON,
                                                          discount_rate=RATE)
    spend = spend_model.expected_spend(repeat, level=0.8)
    # The mean over draws of a product with one constant factor: rounding only.
    np.testing.assert_allclose(value["clv"], purchases * spend["mean"], rtol=1e-12)
    for bound in ("lower", "upper"):
        # A quantile of c * draws is c * the quantile (c > 0), up to the interpolation's
        # rounding.
        np.testing.assert_allclose(value[bound], purchases * spend[bound], rtol=1e-12)
    assert np.all(value["lower"] < value["clv"]) and np.all(value["clv"] < value["upper"])
