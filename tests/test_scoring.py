"""The score columns (clvmodels.scoring): each has the meaning of the model method it is named
after, whether it is evaluated by that method or taken from the CLV computation's parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeoModel, GammaGammaModel, ParetoNBDModel, TimeUnit
from clvmodels.scoring import ValueSettings, customer_scores, score_customers

SETTINGS = ValueSettings(horizon=52.0, discount_rate=0.10, margin=0.3)


def _method_columns(purchases, spend, rfm: pd.DataFrame) -> dict[str, pd.Series]:
    rate = SETTINGS.rate_per_unit(TimeUnit.WEEK)
    return {
        "probability_alive": purchases.probability_alive(rfm),
        "expected_purchases": purchases.expected_purchases(rfm, SETTINGS.horizon),
        "discounted_expected_purchases": purchases.discounted_expected_purchases(
            rfm, horizon=SETTINGS.horizon, discount_rate=rate),
        "expected_spend": spend.expected_spend(rfm),
    }


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel])
def test_point_scores_are_the_model_methods(cdnow, model_class):
    """A one-draw CLV's parts are the methods' own point predictions, computed by the same
    operations in the same order: equal to the last bit, in both scoring entry points."""
    purchases, spend = model_class().fit(cdnow), GammaGammaModel().fit(cdnow)
    batch = customer_scores(purchases, spend, cdnow, SETTINGS)
    table = score_customers(purchases, spend, cdnow, SETTINGS).table
    for name, expected in _method_columns(purchases, spend, cdnow).items():
        np.testing.assert_array_equal(batch[name].to_numpy(), expected.to_numpy(), name)
        np.testing.assert_array_equal(table[name].to_numpy(), expected.to_numpy(), name)
    # a product of three factors in another order: two roundings, at most ~2 ulps
    np.testing.assert_allclose(
        batch["clv"], SETTINGS.margin * batch["expected_spend"]
        * batch["discounted_expected_purchases"], rtol=4 * np.finfo(float).eps, atol=0)
    assert list(table.columns) == [*batch.columns, "segment"]


def test_scores_with_draws_have_intervals_from_the_methods(cdnow):
    az = pytest.importorskip("arviz")
    from clvmodels import BayesianBetaGeoModel

    rng = np.random.default_rng(0)
    draws = {"r": rng.normal(0.243, 0.01, 40), "alpha": rng.normal(4.41, 0.2, 40),
             "a": rng.normal(0.79, 0.05, 40), "b": rng.normal(2.43, 0.1, 40)}
    purchases = BayesianBetaGeoModel()
    idata = az.from_dict(posterior={k: v[None, :] for k, v in draws.items()})
    idata.posterior.attrs = {"time_unit": "W", "n_customers": 1.0, "n_distinct_rows": 1,
                             "n_customers_excluded": 0}
    purchases.set_posterior(idata)
    spend = GammaGammaModel().fit(cdnow)
    rfm = cdnow.iloc[:300]
    batch = customer_scores(purchases, spend, rfm, SETTINGS)
    for name, expected in _method_columns(purchases, spend, rfm).items():
        if isinstance(expected, pd.DataFrame):
            # the same draws, summed per block in another order: a few ulps
            np.testing.assert_allclose(batch[name], expected["mean"], rtol=1e-13)
            np.testing.assert_allclose(batch[f"{name}_lower"], expected["lower"], rtol=1e-13)
        else:
            np.testing.assert_array_equal(batch[name].to_numpy(), expected.to_numpy())
    assert {"clv_lower", "clv_upper"} <= set(batch.columns)


def _posterior_model(model_class, means: dict[str, float], n_draws: int, seed: int):
    """A Bayesian model whose posterior is ``n_draws`` normal draws around ``means`` (1% sd
    on the log scale), in weeks: scoring's input without a NUTS fit."""
    az = pytest.importorskip("arviz")
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(rng.normal(0, 0.01, n_draws)) for k, v in means.items()}
    model = model_class()
    idata = az.from_dict(posterior={k: v[None, :] for k, v in draws.items()})
    idata.posterior.attrs = {"time_unit": "W", "n_customers": 1.0, "n_distinct_rows": 1,
                             "n_customers_excluded": 0}
    model.set_posterior(idata)
    return model


def _bayesian_models(spend_draws: int = 40):
    pytest.importorskip("pymc")
    from clvmodels import BayesianBetaGeoModel, BayesianGammaGammaModel

    purchases = _posterior_model(
        BayesianBetaGeoModel, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, 40, 0)
    spend = _posterior_model(
        BayesianGammaGammaModel, {"p": 6.25, "q": 3.74, "gamma": 15.44}, spend_draws, 1)
    return purchases, spend


def _assert_columns_are_the_methods(scores: pd.DataFrame, expected: dict) -> None:
    for name, prediction in expected.items():
        # the same draws (all of each model's, paired in another order), summed in another
        # order: a few ulps of the mean; the quantiles of the same values are the same
        np.testing.assert_allclose(scores[name], prediction["mean"], rtol=1e-13, err_msg=name)
        np.testing.assert_array_equal(scores[f"{name}_lower"], prediction["lower"], name)
        np.testing.assert_array_equal(scores[f"{name}_upper"], prediction["upper"], name)


def test_bayesian_scores_take_the_parts_and_intervals_from_the_clv_pass(cdnow, monkeypatch):
    """With posterior draws in both models the P(alive), discounted purchases and spend
    columns (mean and interval) are those of the models' methods, taken from the CLV's one
    pass over the draws: the per-draw discounted integral runs as often as for the CLV alone,
    not twice."""
    from clvmodels.clv import valuation

    purchases, spend = _bayesian_models()
    rfm = cdnow.iloc[:300]
    expected = _method_columns(purchases, spend, rfm)
    calls = []
    # The family's entry to the discounted integral, whichever route (compiled kernel or
    # NumPy quadrature) it then takes.
    family_class = type(purchases.family)
    integrate = family_class.future_discounted
    monkeypatch.setattr(family_class, "future_discounted",
                        lambda *args, **kwargs: calls.append(1) or integrate(*args, **kwargs))
    rate = SETTINGS.rate_per_unit(TimeUnit.WEEK)
    valuation(purchases, spend, rfm, horizon=SETTINGS.horizon, discount_rate=rate,
              margin=SETTINGS.margin, level=SETTINGS.level, max_draws=None)
    alone = len(calls)
    assert alone > 0
    for entry_point in (customer_scores,
                        lambda *args: score_customers(*args).table):
        calls.clear()
        scores = entry_point(purchases, spend, rfm, SETTINGS)
        assert len(calls) == alone
        _assert_columns_are_the_methods(scores, {name: expected[name] for name in (
            "probability_alive", "discounted_expected_purchases", "expected_spend")})
    np.testing.assert_allclose(scores["expected_purchases"], expected["expected_purchases"]
                               ["mean"], rtol=1e-13)


def test_scores_of_a_draw_subset_come_from_the_methods(cdnow):
    """When the CLV pairs a subset of a model's draws (here the spend model has fewer), its
    parts are not that model's predictions: the columns come from the methods over all
    draws."""
    purchases, spend = _bayesian_models(spend_draws=25)
    rfm = cdnow.iloc[:200]
    scores = customer_scores(purchases, spend, rfm, SETTINGS)
    expected = _method_columns(purchases, spend, rfm)
    _assert_columns_are_the_methods(scores, {name: expected[name] for name in (
        "probability_alive", "discounted_expected_purchases", "expected_spend")})
