"""The BG/NBD's future as an average over the dropout probability (models/beta_mixture.py), the
route where SciPy's 2F1 fails: against 40-digit mpmath, at ordinary and at extreme parameters.

The quadrature stops once the Gauss-Kronrod error estimate of the whole integral is below 1e-11
of it; that estimate (the 7-point Gauss rule's error) bounds the 15-point Kronrod value's error
by orders of magnitude, so results are held to 1e-11 relative unless stated otherwise.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeoModel, load_cdnow_summary
from clvmodels._numerics import log_beta_at_mean, log_rising, stirling_correction
from clvmodels.models.beta_geo import BETA_GEO
from clvmodels.models.beta_geometric import beta_ratios
from clvmodels.models.beta_mixture import expected_purchases, log_purchase_rate

QUADRATURE_RTOL = 1e-11


def _mp(*values):
    return [mpmath.mpf(float(v)) for v in values]


def reference_expected(r, alpha, a, b, t) -> float:
    """E[X(t)] of an alive BG/NBD customer from the Euler-transformed closed form, 40 digits:
    (a+b-1)/(a-1) [1 - (1+t/alpha)^(1-a) 2F1(a+b-1-r, a-1; a+b-1; t/(alpha+t))]."""
    with mpmath.workdps(40):
        r, alpha, a, b, t = _mp(r, alpha, a, b, t)
        z = t / (alpha + t)
        term = (1 + t / alpha) ** (1 - a) * mpmath.hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        return float((a + b - 1) / (a - 1) * (1 - term))


def reference_log_rate(r, alpha, a, b, t) -> float:
    """log of (r/alpha) (1+t/alpha)^-(r+1) 2F1(r+1, b; a+b; t/(alpha+t)), 40 digits."""
    with mpmath.workdps(40):
        r, alpha, a, b, t = _mp(r, alpha, a, b, t)
        z = t / (alpha + t)
        rate = r / alpha * (1 + t / alpha) ** (-(r + 1)) * mpmath.hyp2f1(r + 1, b, a + b, z)
        return float(mpmath.log(rate))


def test_matches_mpmath_at_ordinary_parameters():
    rng = np.random.default_rng(5)
    n = 60
    r, alpha, a, b = (np.exp(rng.uniform(low, high, n))
                      for low, high in ((-3, 3), (-3, 5), (-3, 3), (-3, 4)))
    a = np.where(np.abs(a - 1) < 1e-3, a + 0.01, a)  # the closed form's 0/0 at a = 1
    t = np.exp(rng.uniform(-5, 8, n))
    expected = expected_purchases(r, alpha, a, b, t)
    log_rate = log_purchase_rate(r, alpha, a, b, t)
    for i in range(n):
        args = (r[i], alpha[i], a[i], b[i], t[i])
        assert expected[i] == pytest.approx(reference_expected(*args), rel=QUADRATURE_RTOL)
        # log rate: its error is the rate's relative error, in absolute terms.
        assert log_rate[i] == pytest.approx(reference_log_rate(*args), abs=QUADRATURE_RTOL)


EXTREME = [
    # a degenerate fit's a and b (a new customer; the tracking plot) over 0-300 years
    (0.24, 4.4, 5.7e-6, 176726.0, 10.0),
    (0.24, 4.4, 5.7e-6, 176726.0, 15517.0),
    # customers with 100 and 1e5 repeat purchases of the CDNOW fit, 1e100 and 1e300 weeks on
    (100.24, 42.4, 0.79, 102.4, 1e100),
    (1e5 + 0.24, 42.4, 0.79, 1e5 + 2.4, 1e300),
    # the degenerate fit: a = 8e10, b = 8e16, for a customer with 1e6 purchases
    (1e6 + 1, 53.0, 8e10, 8e16 + 1e6, 1.0),
    # U-shaped beta density, and t far below alpha (1 - term cancels in the closed form)
    (0.5, 1.0, 1e-3, 2e-3, 10.0),
    (3.0, 1.0, 0.5, 0.25, 1.2e-16),
]


@pytest.mark.parametrize("case", EXTREME)
def test_matches_mpmath_at_extreme_parameters(case):
    ours = expected_purchases(*(np.array([v]) for v in case))[0]
    with mpmath.workdps(40):
        if case[2] > 1e6:  # mpmath's Euler form runs without end there; the published one
            r, alpha, a, b, t = _mp(*case)
            z = t / (alpha + t)
            reference = float((a + b - 1) / (a - 1) * (
                1 - (1 + t / alpha) ** -r * mpmath.hyp2f1(r, b, a + b - 1, z)))
        else:
            reference = reference_expected(*case)
    # For a = 8e10 the beta density's log is ~1e12 in size at every node; its terms are
    # written relative to the mean (see the module docstring) and keep ~1e-11 of it.
    assert ours == pytest.approx(reference, rel=QUADRATURE_RTOL)


def test_rate_matches_mpmath_where_scipy_fails():
    # a = 1, b = 171: 2F1(r + 1, b; a + b; z) near z = 1 returns NaN in SciPy 1.17.
    t = np.array([0.1, 10.0, 1e3, 1e6])
    ours = log_purchase_rate(0.5, 1.0, 1.0, 171.0, t)
    for value, t_i in zip(ours, t, strict=True):
        assert value == pytest.approx(reference_log_rate(0.5, 1.0, 1.0, 171.0, t_i),
                                      abs=QUADRATURE_RTOL)


def test_an_empty_period_has_no_purchases():
    assert expected_purchases(0.5, 1.0, 2.0, 3.0, np.array([0.0, 1.0]))[0] == 0.0
    # the rate at t = 0 is r / alpha: the average of (1 + 0)^-(r+1) is 1
    assert log_purchase_rate(0.5, 2.0, 2.0, 3.0, 0.0) == pytest.approx(np.log(0.25),
                                                                       abs=QUADRATURE_RTOL)


@pytest.mark.parametrize("a, b", [(1e-6, 3.0), (0.3, 7.0), (12.0, 1e4), (1e12, 3e12),
                                  (5e15, 2.0)])
def test_log_beta_at_mean_matches_mpmath(a, b):
    """a log m + b log(1 - m) - log B(a, b), m = a / (a + b): directly it cancels to nothing
    for a = 1e12; from Stirling's series it keeps its digits (the series' truncation is below
    7e-16 from x = 10 on, and the rest is a few roundings of terms of order 1 to 10)."""
    with mpmath.workdps(60):
        a_, b_ = _mp(a, b)
        m = a_ / (a_ + b_)
        exact = float(a_ * mpmath.log(m) + b_ * mpmath.log(1 - m) - mpmath.log(mpmath.beta(a_, b_)))
    assert log_beta_at_mean(np.array([a]), np.array([b]))[0] == pytest.approx(
        exact, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("x", [0.01, 3.0, 9.99, 10.0, 55.0, 1e8])
def test_stirling_correction(x):
    with mpmath.workdps(40):
        x_ = mpmath.mpf(x)
        exact = float(mpmath.loggamma(x_) - ((x_ - 0.5) * mpmath.log(x_) - x_
                                             + mpmath.log(2 * mpmath.pi) / 2))
    # the series (x >= 10) to 7e-16 absolute plus its roundings; the direct difference below
    # 10 to a few ulps of log Gamma(x) ~ 10
    assert stirling_correction(np.array([x]))[0] == pytest.approx(exact, rel=1e-12, abs=5e-15)


@pytest.mark.parametrize("x, n", [(0.3, 5.0), (9.0, 1e6), (12.0, 0.5), (8e16, 1e6),
                                  (8e10, 1.0), (1e5, 1e12)])
def test_log_rising_matches_mpmath(x, n):
    """log Gamma(x + n) - log Gamma(x): from Stirling's series each term keeps its relative
    accuracy, so the result is good to a few ulps of its largest term, n log(x + n)."""
    with mpmath.workdps(60):
        x_, n_ = _mp(x, n)
        exact = float(mpmath.loggamma(x_ + n_) - mpmath.loggamma(x_))
    scale = max(1.0, n * abs(np.log(x + n)))
    assert log_rising(np.array([x]), np.array([n]))[0] == pytest.approx(
        exact, rel=1e-14, abs=1e-14 * scale)


def test_beta_ratios_at_a_degenerate_fit():
    """a = 8e10, b = 8e16 and 1e6 opportunities: the two ratios differ by log((b + m - 1) / a),
    and P(alive) of a customer whose last purchase ends the period is (b + m - 1) /
    (a + b + m - 1); differences of betaln lose it entirely (P(alive) 1e-185)."""
    a, b, m = 8e10, 8e16, 1e6
    survived, dropped = beta_ratios(np.array(a), np.array(b), np.array(m))
    with mpmath.workdps(60):
        a_, b_, m_ = _mp(a, b, m)
        exact = mpmath.beta(a_, b_ + m_) / mpmath.beta(a_, b_)
        exact_dropped = mpmath.beta(a_ + 1, b_ + m_ - 1) / mpmath.beta(a_, b_)
    # terms of size m log(a + b) = 4e7 each, rounded to ~1e-8 absolute
    assert survived == pytest.approx(float(mpmath.log(exact)), abs=1e-7)
    assert dropped == pytest.approx(float(mpmath.log(exact_dropped)), abs=1e-7)
    model = BetaGeoModel().set_params_({"r": 1.0, "alpha": 1.0, "a": a, "b": b})
    customer = pd.DataFrame({"frequency": [m], "recency": [52.0], "T": [52.0]})
    assert model.probability_alive(customer).iloc[0] == pytest.approx(
        (b + m - 1) / (a + b + m - 1), rel=1e-7)


# ----------------------------------------------------------------------------- issue 13, item 8
@pytest.fixture(scope="module")
def cdnow_fit():
    return BetaGeoModel().fit(load_cdnow_summary())


def test_expected_purchases_over_an_astronomical_horizon_is_never_nan(cdnow_fit):
    """Customers with 1e2 to 1e6 purchases, last one at the end of the period (alive): at
    t = 1e300 SciPy's z rounds to 1 and both closed forms were NaN. With a < 1, E[X(t)] grows
    like t^(1 - a) for t beyond every other scale: from 1e299 to 1e300 by 10^(1 - a), up to
    corrections of relative order t^-a (1e-236)."""
    frequency = np.array([1e2, 1e4, 1e5, 1e6])
    data = pd.DataFrame({"frequency": frequency, "recency": 38.0, "T": 38.0})
    later = cdnow_fit.expected_purchases(data, 1e300).to_numpy()
    earlier = cdnow_fit.expected_purchases(data, 1e299).to_numpy()
    assert np.all(np.isfinite(later)) and np.all(later > 0)
    a = cdnow_fit.params_["a"]
    np.testing.assert_allclose(later / earlier, 10 ** (1 - a), rtol=2 * QUADRATURE_RTOL)


def test_expected_purchases_reach_their_limit_when_a_exceeds_one():
    """With a > 1 the expected purchases of an alive customer tend to (a + b' - 1) / (a - 1),
    b' = b + x the updated b, with a remainder of relative order t^(1 - a): 1e-300 at t = 1e300
    for a = 2, below double precision."""
    model = BetaGeoModel().set_params_({"r": 0.5, "alpha": 3.0, "a": 2.0, "b": 5.0})
    x = np.array([0.0, 1e3, 1e5, 1e6])
    updated = BETA_GEO.updated_params(model.params_.to_numpy(), x, np.full(4, 40.0))
    limit = (2.0 + 5.0 + x - 1) / (2.0 - 1)
    np.testing.assert_allclose(BETA_GEO.future_expected(updated, 1e300), limit,
                               rtol=QUADRATURE_RTOL)
