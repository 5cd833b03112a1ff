"""CLV and customer equity against an independent numerical integral and exact identities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from clvmodels import ValidationError, customer_equity, customer_lifetime_value


@pytest.fixture(params=["fitted_bgnbd", "fitted_pnbd"])
def transaction_model(request):
    return request.getfixturevalue(request.param)


def test_undiscounted_clv_is_margin_spend_and_expected_purchases_exactly(
    transaction_model, fitted_gg, cdnow
):
    clv = customer_lifetime_value(transaction_model, fitted_gg, cdnow, horizon=52, margin=0.3)
    purchases = transaction_model.expected_purchases(cdnow, 52)
    expected = 0.3 * fitted_gg.expected_spend(cdnow) * purchases
    pd.testing.assert_series_equal(clv, expected.rename("clv"), rtol=0, atol=0)


def _quad_discounted(model, customer: pd.DataFrame, horizon: float, rate: float) -> float:
    """P(alive) * integral of (1 + rate)^-t * purchase rate, by adaptive quadrature."""
    params = model._param_values
    x, t_x, T = (customer[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    alive = np.exp(model._log_probability_alive(params, x, t_x, T))[0]
    updated = model._updated_params(params, x, T)

    def integrand(t):
        return (1 + rate) ** -t * np.exp(model._log_rate_new(updated, t))[0]

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
    params = fitted_pnbd._param_values
    x, T = cdnow["frequency"].to_numpy(float), cdnow["T"].to_numpy()
    r, alpha, s, beta = fitted_pnbd._updated_params(params, x, T)
    closed = fitted_pnbd.probability_alive(cdnow) * r / alpha * beta * special.hyperu(
        1, 2 - s, k * beta
    )
    ours = fitted_pnbd.discounted_expected_purchases(cdnow, horizon=np.inf, discount_rate=0.002)
    np.testing.assert_allclose(ours, closed, rtol=1e-10)


def test_clv_decreases_with_the_discount_rate(transaction_model, fitted_gg, cdnow):
    values = [
        customer_lifetime_value(transaction_model, fitted_gg, cdnow, horizon=104,
                                discount_rate=rate)
        for rate in (0.0, 1e-4, 0.002, 0.02, 0.2)
    ]
    for higher, lower in zip(values, values[1:], strict=False):
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
    clv = customer_lifetime_value(fitted_bgnbd, fitted_gg, cdnow, horizon=52, discount_rate=0.002)
    assert equity.total == pytest.approx(clv.sum(), rel=1e-12)
    pd.testing.assert_series_equal(equity.clv["clv"], clv)
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
    with pytest.raises(ValueError, match="n_segments must be >= 1, got 0"):
        customer_equity(fitted_bgnbd, fitted_gg, cdnow, horizon=52, n_segments=0)
