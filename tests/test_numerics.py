"""Corners where SciPy's special functions fail, found by the property tests, kept as cases."""

from __future__ import annotations

import mpmath
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from clvmodels import BetaGeoModel, ParetoNBDModel
from clvmodels._numerics import log_hyp2f1_forms

# (a, b, c, z) where SciPy 1.17's hyp2f1 returns NaN: large c; z near 1 with c - a - b whole.
SCIPY_FAILS = [(1.0, 1.0, 417.0, 10 / 11), (1.0, 170.0, 172.0, 1600 / 1602),
               (2.0, 171.0, 172.0, 1600 / 1602), (1.0, 170.0, 172.0, 1 - 1e-9)]


@pytest.mark.parametrize("case", SCIPY_FAILS)
def test_log_hyp2f1_falls_back_to_mpmath(case):
    exact = float(mpmath.log(mpmath.hyp2f1(*case)))
    result = log_hyp2f1_forms((0.0, *case))
    # Both from mpmath at 15 or more digits, then rounded to a double: a few ulps at most.
    assert result == pytest.approx(exact, rel=1e-14)


def test_log_hyp2f1_takes_the_first_finite_form():
    z = np.array([0.3, 0.3])
    first = (np.array([0.0, np.nan]), 1.0, 2.0, 3.0, z)  # a NaN offset makes form 1 fail
    second = (np.log(2.0), 1.0, 2.0, 3.0, z)
    expected = np.log(special.hyp2f1(1.0, 2.0, 3.0, 0.3))
    # The same operations (an offset plus log of SciPy's 2F1), up to their order: a few ulps.
    np.testing.assert_allclose(log_hyp2f1_forms(first, second),
                               [expected, np.log(2.0) + expected], rtol=1e-15)


@pytest.mark.parametrize("r", [0.5, 1.0])
def test_bgnbd_discounted_purchases_where_scipy_fails(r):
    """a = 1, b = 171: the purchase rate needs 2F1 near z = 1 over a long discounted horizon."""
    model = BetaGeoModel().set_params_({"r": r, "alpha": 1.0, "a": 1.0, "b": 171.0})
    data = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [1.0]})
    updated = model.family.updated_params(model.params_.to_numpy(), np.array([0.0]),
                                          np.array([1.0]))
    for rate in (1.0, 0.03125, 1e-3):
        k = np.log1p(rate)
        reference, _ = integrate.quad(
            lambda t, k=k: np.exp(-k * t + model.family.future_log_rate(updated, t))[0],
            0, np.inf, epsabs=0, epsrel=1e-11, limit=500,
        )
        ours = model.discounted_expected_purchases(data, horizon=np.inf, discount_rate=rate)
        # quad is asked for 1e-11; our panels reach ~1e-12 (tests/test_clv.py): 1e-9 covers
        # quad's error estimate being off by a hundredfold.
        assert ours.iloc[0] == pytest.approx(reference, rel=1e-9)


def test_bgnbd_expected_purchases_over_a_tiny_period():
    """For t << alpha the closed form cancels; the value must be the rate times t, to rounding:
    the next term of its expansion is O(t / alpha) = 1e-16 relative, so a few ulps (measured
    2e-15; 1e-12 asked)."""
    model = BetaGeoModel().set_params_({"r": 3.0, "alpha": 1.0, "a": 0.5, "b": 0.25})
    t = 1.2e-16
    rate_at_zero = 3.0  # r / alpha
    assert model.expected_purchases_new_customer(t) == pytest.approx(rate_at_zero * t, rel=1e-12)


def test_pareto_nbd_last_purchase_at_the_end_of_the_period():
    """t_x == T: the dropout interval is empty (I = 0) even where 2F1 overflows."""
    model = ParetoNBDModel().set_params_({"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 20.0})
    data = pd.DataFrame({"frequency": [98], "recency": [1.0], "T": [1.0]})
    assert model.probability_alive(data).iloc[0] == 1.0
    assert np.isfinite(model.discounted_expected_purchases(data, horizon=np.inf,
                                                           discount_rate=1.0)).all()
