"""CLV and customer equity against an independent numerical integral and exact identities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from clvmodels import GammaGammaModel, ValidationError, customer_equity, customer_lifetime_value
from clvmodels.models import MODELS


@pytest.fixture(params=["fitted_bgnbd", "fitted_pnbd"])
def transaction_model(request):
    return request.getfixturevalue(request.param)


def test_undiscounted_clv_is_margin_spend_and_expected_purchases_exactly(
    transaction_model, fitted_gg, cdnow
):
    clv = customer_lifetime_value(transaction_model, fitted_gg, cdnow, horizon=52, margin=0.3)
    assert list(clv.columns) == ["clv"]  # one parameter draw: no interval
    purchases = transaction_model.expected_purchases(cdnow, 52)
    expected = 0.3 * fitted_gg.expected_spend(cdnow) * purchases
    pd.testing.assert_series_equal(clv["clv"], expected.rename("clv"), rtol=0, atol=0)


def _quad_discounted(model, customer: pd.DataFrame, horizon: float, rate: float) -> float:
    """P(alive) * integral of (1 + rate)^-t * purchase rate, by adaptive quadrature."""
    params = model.params_.to_numpy()
    x, t_x, T = (customer[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    alive = np.exp(model.family.log_alive(params, x, t_x, T))[0]
    updated = model.family.updated_params(params, x, T)

    def integrand(t):
        return (1 + rate) ** -t * np.exp(model.family.future_log_rate(updated, t))[0]

    value, _ = integrate.quad(integrand, 0, horizon, epsabs=0, epsrel=1e-12, limit=500)
    return alive * value


@pytest.mark.parametrize("horizon", [10.0, 52.0, 520.0, np.inf])
def test_discounted_purchases_match_adaptive_quadrature(transaction_model, cdnow, horizon):
    sample = cdnow.iloc[[0, 1, 2, 17, 157, 1500]]
    rate = 0.002  # about 11% a year in weeks
    ours = transaction_model.discounted_expected_purchases(sample, horizon=horizon,
                                                           discount_rate=rate)
    reference = [_quad_discounted(transaction_model, sample.iloc[[i]], horizon, rate)
                 for i in range(len(sample))]
    # Both routes are accurate to ~1e-12; 1e-9 leaves room for quad's error estimate.
    np.testing.assert_allclose(ours, reference, rtol=1e-9)


def test_pareto_nbd_dert_matches_closed_form(fitted_pnbd, cdnow):
    """Infinite-horizon Pareto/NBD: DERT = P(alive) r' beta' U(1, 2 - s, k beta') / alpha'."""
    k = np.log1p(0.002)
    params = fitted_pnbd.params_.to_numpy()
    x, T = cdnow["frequency"].to_numpy(float), cdnow["T"].to_numpy()
    r, alpha, s, beta = fitted_pnbd.family.updated_params(params, x, T)
    closed = fitted_pnbd.probability_alive(cdnow) * r / alpha * beta * special.hyperu(
        1, 2 - s, k * beta
    )
    ours = fitted_pnbd.discounted_expected_purchases(cdnow, horizon=np.inf, discount_rate=0.002)
    # Our panels reach ~1e-12 (the test above), SciPy's hyperu ~1e-13 here: 1e-10.
    np.testing.assert_allclose(ours, closed, rtol=1e-10)


def test_clv_decreases_with_the_discount_rate(transaction_model, fitted_gg, cdnow):
    values = [
        customer_lifetime_value(transaction_model, fitted_gg, cdnow, horizon=104,
                                discount_rate=rate)["clv"]
        for rate in (0.0, 1e-4, 0.002, 0.02, 0.2)
    ]
    for higher, lower in zip(values, values[1:], strict=False):
        # Neighbouring rates change a CLV by 0.5% or more; 1e-12 absorbs only the quadrature's
        # rounding (~1e-13) where two values are equal (e.g. 0).
        assert (lower <= higher * (1 + 1e-12)).all()


def test_infinite_horizon_needs_discounting(fitted_bgnbd, fitted_gg, cdnow):
    with pytest.raises(ValueError, match="infinite horizon needs a positive discount_rate"):
        customer_lifetime_value(fitted_bgnbd, fitted_gg, cdnow, horizon=np.inf)


@pytest.mark.parametrize("bad", [{"horizon": 0}, {"horizon": 52, "discount_rate": -0.1},
                                 {"horizon": 52, "margin": np.nan}])
def test_bad_settings_raise(fitted_bgnbd, fitted_gg, cdnow, bad):
    with pytest.raises(ValueError):
        customer_lifetime_value(fitted_bgnbd, fitted_gg, cdnow, **bad)


def test_customer_equity_sums_and_segments(fitted_bgnbd, fitted_gg, cdnow):
    equity = customer_equity(fitted_bgnbd, fitted_gg, cdnow, horizon=52, discount_rate=0.002)
    clv = customer_lifetime_value(fitted_bgnbd, fitted_gg, cdnow, horizon=52,
                                  discount_rate=0.002)["clv"]
    # Sums of 2,357 positive values in other orders: (n - 1) * 2**-53 = 2.6e-13 at most.
    assert equity.total == pytest.approx(clv.sum(), rel=1e-12)
    pd.testing.assert_series_equal(equity.clv["clv"], clv)
    assert equity.total_interval is None and equity.total_draws.shape == (1,)
    segments = equity.segments
    assert list(segments.index) == list(range(1, 11))
    assert segments["customers"].sum() == len(cdnow)
    assert segments["customers"].max() - segments["customers"].min() <= 1
    assert segments["share_of_equity"].sum() == pytest.approx(1.0, rel=1e-12)
    assert segments["mean_clv"].is_monotonic_decreasing
    top = equity.clv.loc[equity.clv["segment"] == 1, "clv"]
    assert top.min() >= equity.clv.loc[equity.clv["segment"] == 2, "clv"].max()


def test_mixing_time_units_raises(fitted_bgnbd, fitted_gg, cdnow):
    monthly = cdnow.copy()
    monthly.attrs["time_unit"] = "M"
    with pytest.raises(ValidationError, match="fitted on data in 'W'.*table is in 'M'"):
        customer_lifetime_value(fitted_bgnbd, fitted_gg, monthly, horizon=12)


def test_customer_equity_needs_a_segment(fitted_bgnbd, fitted_gg, cdnow):
    with pytest.raises(ValueError, match="n_segments must be a whole number >= 1, got 0"):
        customer_equity(fitted_bgnbd, fitted_gg, cdnow, horizon=52, n_segments=0)


def _with_free_repeat_buyers(table: pd.DataFrame, n: int = 3) -> tuple[pd.DataFrame, pd.Index]:
    """The table with its first ``n`` repeat buyers' mean spend set to 0, and their ids."""
    free = table.index[table["frequency"] > 0][:n]
    spend = table["monetary_value"].mask(table.index.isin(free), 0.0)
    return table.assign(monetary_value=spend), free


def test_repeat_buyers_at_zero_spend_are_valued_at_the_population_mean(fitted_bgnbd, fitted_gg,
                                                                        cdnow):
    table, free = _with_free_repeat_buyers(cdnow)
    clv = customer_lifetime_value(fitted_bgnbd, fitted_gg, table, horizon=52, margin=0.3)["clv"]
    p, q, gamma = fitted_gg.params_
    purchases = fitted_bgnbd.expected_purchases(table, 52)
    # 0.3 * (p gamma / (q - 1)) * purchases, in the order clvmodels multiplies them.
    np.testing.assert_array_equal(clv[free], 0.3 * (p * gamma / (q - 1)) * purchases[free])
    others = ~table.index.isin(free)
    pd.testing.assert_series_equal(clv[others], customer_lifetime_value(
        fitted_bgnbd, fitted_gg, cdnow, horizon=52, margin=0.3)["clv"][others], rtol=0, atol=0)


# --------------------------------------------------------------------------- Bayesian models
def _paired_mle_clv(transaction, spend, data, n_draws, **settings) -> np.ndarray:
    """CLV by the maximum-likelihood route at each pair of posterior draws (the draws the
    Bayesian route uses: seed 0 for the purchase model, seed 1 for the spend model)."""
    purchase_draws = transaction.parameter_draws(n_draws, random_seed=0)
    spend_draws = spend.parameter_draws(n_draws, random_seed=1)
    values = []
    for (_, purchase), (_, value) in zip(purchase_draws.iterrows(), spend_draws.iterrows(),
                                         strict=True):
        mle_purchase = MODELS[transaction.family.name].mle().set_params_(purchase.to_dict(),
                                                                         time_unit="W")
        mle_spend = MODELS[spend.family.name].mle().set_params_(value.to_dict())
        values.append(customer_lifetime_value(mle_purchase, mle_spend, data,
                                              **settings)["clv"])
    return np.array(values)


@pytest.fixture(scope="module")
def bayes_sample(cdnow):
    """300 CDNOW customers: many share a row (no repeat purchase, same T)."""
    return cdnow.iloc[:300]


def test_bayesian_clv_carries_both_posteriors(nuts_bgnbd, nuts_gg, bayes_sample):
    """Per draw, CLV is the maximum-likelihood CLV at that draw's parameters (the discounted
    integral with 1 quadrature panel instead of 8: 1e-10); the summaries are of those draws."""
    settings = {"horizon": 52.0, "discount_rate": 0.002, "margin": 0.3}
    expected = _paired_mle_clv(nuts_bgnbd, nuts_gg, bayes_sample, 30, **settings)
    summary, draws = customer_lifetime_value(nuts_bgnbd, nuts_gg, bayes_sample, max_draws=30,
                                             return_draws=True, level=0.8, **settings)
    assert list(summary.columns) == ["clv", "lower", "upper"]
    np.testing.assert_allclose(draws.to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(summary["clv"], expected.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(summary["lower"], np.quantile(expected, 0.1, axis=0), rtol=1e-10)
    np.testing.assert_allclose(summary["upper"], np.quantile(expected, 0.9, axis=0), rtol=1e-10)
    # Both uncertainties widen the interval: wider than with either model at a point estimate.
    spend_fixed = customer_lifetime_value(nuts_bgnbd, GammaGammaModel().set_params_(
        nuts_gg.params_.to_dict()), bayes_sample, max_draws=30, level=0.8, **settings)
    width = (summary["upper"] - summary["lower"]).mean()
    assert width > (spend_fixed["upper"] - spend_fixed["lower"]).mean()


def test_mle_and_bayesian_models_mix(fitted_bgnbd, fitted_gg, nuts_gg, bayes_sample):
    """A maximum-likelihood purchase model stands for every draw with its estimate, so the mean
    CLV is its discounted purchases times the posterior mean spend."""
    clv = customer_lifetime_value(fitted_bgnbd, nuts_gg, bayes_sample, horizon=52.0)
    purchases = fitted_bgnbd.expected_purchases(bayes_sample, 52.0)
    spend = nuts_gg.expected_spend(bayes_sample)["mean"]
    # The mean of purchases * spend over the 4,000 draws, against purchases * their mean:
    # <= 4,000 * 2**-53 = 4.4e-13 apart.
    np.testing.assert_allclose(clv["clv"], purchases * spend, rtol=1e-12)
    assert list(clv.columns) == ["clv", "lower", "upper"]
    # One return shape for every model: two point estimates give the CLV without interval.
    both_mle = customer_lifetime_value(fitted_bgnbd, fitted_gg, bayes_sample, horizon=52.0)
    assert list(both_mle.columns) == ["clv"]


def test_bayesian_clv_values_repeat_buyers_at_zero_spend_at_the_population_mean(
        fitted_bgnbd, nuts_gg, bayes_sample):
    """Per draw, such a customer's spend is that draw's p gamma / (q - 1); with a
    maximum-likelihood purchase model the mean CLV is its purchases times their mean over every
    draw (4,000 terms summed in another order: 1e-12)."""
    table, free = _with_free_repeat_buyers(bayes_sample)
    posterior = nuts_gg.idata.posterior
    population_mean = (posterior["p"] * posterior["gamma"] / (posterior["q"] - 1)).mean().item()
    np.testing.assert_allclose(nuts_gg.expected_spend(table)["mean"][free], population_mean,
                               rtol=1e-12)
    clv = customer_lifetime_value(fitted_bgnbd, nuts_gg, table, horizon=52.0)
    purchases = fitted_bgnbd.expected_purchases(table, 52.0)
    np.testing.assert_allclose(clv["clv"][free], purchases[free] * population_mean, rtol=1e-12)


def test_bayesian_customer_equity_has_a_posterior_total(nuts_bgnbd, nuts_gg, bayes_sample):
    settings = {"horizon": 52.0, "discount_rate": 0.002}
    equity = customer_equity(nuts_bgnbd, nuts_gg, bayes_sample, max_draws=500, **settings)
    _, draws = customer_lifetime_value(nuts_bgnbd, nuts_gg, bayes_sample, max_draws=500,
                                       return_draws=True, **settings)
    assert equity.total_draws.shape == (500,)
    # Below, sums and means over 300 customers or 500 draws in other orders: <= 500 * 2**-53.
    np.testing.assert_allclose(equity.total_draws, draws.sum(axis=1), rtol=1e-12)
    assert equity.total == pytest.approx(equity.total_draws.mean(), rel=1e-12)
    lower, upper = equity.total_interval
    assert lower == pytest.approx(np.quantile(equity.total_draws, 0.05), rel=1e-12)
    assert lower < equity.total < upper and equity.level == 0.9
    table = equity.clv
    assert list(table.columns) == ["clv", "lower", "upper", "probability_alive",
                                   "expected_purchases", "expected_spend", "segment"]
    np.testing.assert_allclose(table["clv"], draws.mean(axis=0), rtol=1e-12)
    assert equity.segments["customers"].sum() == len(bayes_sample)
    assert equity.segments["share_of_equity"].sum() == pytest.approx(1.0, rel=1e-12)
    assert equity.segments["mean_clv"].is_monotonic_decreasing
    alive = nuts_bgnbd.probability_alive(bayes_sample, max_draws=500)
    np.testing.assert_allclose(table["probability_alive"], alive["mean"], rtol=1e-12)


def test_bayesian_clv_checks_its_settings(nuts_bgnbd, nuts_gg, cdnow):
    with pytest.raises(ValueError, match="infinite horizon needs a positive discount_rate"):
        customer_lifetime_value(nuts_bgnbd, nuts_gg, cdnow, horizon=np.inf)
    with pytest.raises(ValueError, match="level must be strictly between 0 and 1"):
        customer_equity(nuts_bgnbd, nuts_gg, cdnow, horizon=52, level=1.5)
    with pytest.raises(ValidationError, match="monetary_value"):
        customer_lifetime_value(nuts_bgnbd, nuts_gg, cdnow.drop(columns="monetary_value"),
                                horizon=52)
