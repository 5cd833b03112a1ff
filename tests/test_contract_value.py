"""Contractual value and equity (clvmodels.contract_value), and a NUTS fit of the sBG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BayesianShiftedBetaGeoModel,
    BetaGeoModel,
    ShiftedBetaGeoModel,
    ValidationError,
    cohort_to_customers,
    load_retention_cohorts,
)
from clvmodels.contract_value import contract_equity, contract_lifetime_value


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    cohorts = load_retention_cohorts()
    parts = []
    for name in cohorts.columns:
        part = cohort_to_customers(cohorts.loc[:7, name], time_unit="Y")
        part.index = name + "-" + part.index.astype(str)
        parts.append(part.assign(cohort=name))
    combined = pd.concat(parts)
    combined.attrs["time_unit"] = "Y"
    return combined


@pytest.fixture(scope="module")
def model(table) -> ShiftedBetaGeoModel:
    return ShiftedBetaGeoModel().fit(table)


def _discounted_survival(alpha, beta, n, d, terms=5_000):
    """sum over k >= 1 of S(n + k) / S(n) (1 + d)^-k by the retention recursion (tail after
    5,000 terms below 1.1^-5000 / 0.1, nothing in double precision)."""
    k = np.arange(1, terms + 1)
    return float(np.sum(np.cumprod((beta + n + k - 1) / (alpha + beta + n + k - 1))
                        * 1.1 ** -k.astype(float)))


def test_value_is_payment_times_margin_times_the_residual_lifetime(model, table):
    """Each active customer's value against the recursion's series (1e-10: 2F1 against a
    sum of positive terms); churned customers are worth nothing; the payment may be a
    column."""
    alpha, beta = model.params_
    priced = table.assign(price=np.where(table["cohort"] == "high_end", 120.0, 60.0))
    value = contract_lifetime_value(model, priced, payment="price", margin=0.5,
                                    discount_rate=0.1)
    assert value.index.equals(table.index) and list(value.columns) == [
        "clv", "expected_residual_lifetime"]
    active = ~table["churned"]
    expected = 0.5 * priced["price"] * _discounted_survival(alpha, beta, 7, 0.1)
    np.testing.assert_allclose(value.loc[active, "clv"], expected[active], rtol=1e-10)
    assert (value.loc[~active, "clv"] == 0).all()


def test_equity_totals_and_cohorts(model, table):
    """The total is the sum of the customers' values (the same terms summed per distinct row:
    1e-12); by cohort the equities add up to it; a customer just acquired is worth 1 + the
    discounted survival of a new customer (recursion, 1e-10)."""
    alpha, beta = model.params_
    equity = contract_equity(model, table, payment=100.0, discount_rate=0.1)
    assert equity.total == pytest.approx(equity.clv["clv"].sum(), rel=1e-12)
    assert equity.total_interval is None and len(equity.total_draws) == 1
    assert equity.by_cohort["equity"].sum() == pytest.approx(equity.total, rel=1e-12)
    assert equity.by_cohort.loc["high_end", "active"] == 491
    assert equity.by_cohort.loc["regular", "customers"] == 1000
    assert equity.new_customer_value == pytest.approx(
        100.0 * (1 + _discounted_survival(alpha, beta, 0, 0.1)), rel=1e-10)


def test_bayesian_draws_give_intervals(table):
    pytest.importorskip("pymc")
    model = BayesianShiftedBetaGeoModel().fit(table, method="map", draws=200, chains=1,
                                              random_seed=3)
    value = contract_lifetime_value(model, table, payment=100.0, discount_rate=0.1)
    assert list(value.columns) == ["clv", "lower", "upper", "expected_residual_lifetime"]
    active = ~table["churned"]
    assert np.all(value["lower"] <= value["clv"]) and np.all(value["clv"] <= value["upper"])
    assert np.all(value.loc[active, "lower"] < value.loc[active, "upper"])
    equity = contract_equity(model, table, payment=100.0, discount_rate=0.1, level=0.8)
    lower, upper = equity.total_interval
    assert lower < equity.total < upper and len(equity.total_draws) == 200
    assert equity.total == pytest.approx(value["clv"].sum(), rel=1e-12)


def test_a_purchase_model_or_bad_payments_are_refused(model, table):
    with pytest.raises(ValidationError, match="BetaGeoModel is not a contractual model"):
        contract_lifetime_value(BetaGeoModel(), table, payment=1.0, discount_rate=0.1)
    with pytest.raises(ValidationError, match=r"1 value\(s\) invalid.*regular-3.*value -5\)"):
        contract_lifetime_value(model, table, payment=pd.Series(
            np.where(np.arange(len(table)) == 3, -5.0, 1.0), index=table.index),
            discount_rate=0.1)
    with pytest.raises(ValidationError, match="payment: no column 'fee'"):
        contract_lifetime_value(model, table, payment="fee", discount_rate=0.1)


def test_nuts_fit_on_a_cohort():
    """NUTS on the high-end cohort (1,000 customers): the chains agree (R-hat < 1.01) and the
    posterior mean is near the maximum-likelihood estimate. With 1,000 customers the
    posterior is close to normal around the MLE (its mean differs from it by O(1/n), a
    fraction ~1/sqrt(n) ~ 0.03 of the posterior sd, plus the priors' pull) and the Monte Carlo
    error of the mean is ~sd / sqrt(ESS ~ 1,000): half a posterior sd bounds both."""
    pytest.importorskip("pymc")
    cohort = cohort_to_customers(load_retention_cohorts().loc[:7, "high_end"], time_unit="Y")
    mle = ShiftedBetaGeoModel().fit(cohort)
    model = BayesianShiftedBetaGeoModel().fit(cohort, draws=1000, tune=1000, chains=2,
                                              random_seed=11)
    summary = model.summary()
    assert (summary["r_hat"] < 1.01).all(), summary
    spread = model.parameter_draws().std()
    assert np.all(np.abs(model.params_ - mle.params_) <= 0.5 * spread), (model.params_, spread)
    survival = model.survival([12])
    assert survival["lower"].iloc[0] < mle.survival([12]).iloc[0] < survival["upper"].iloc[0]
