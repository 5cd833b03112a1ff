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
