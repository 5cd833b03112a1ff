"""The unconditional purchase-count distribution P(X(t) = n) of a new customer.

Checked against lifetimes (an independent implementation), against simulation, and against two
identities: the probabilities sum to 1 and their mean is the expected purchases E[X(t)].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clvmodels import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from clvmodels.validation import ValidationError

lifetimes = pytest.importorskip("lifetimes")

BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
TIMES = [0.5, 5.0, 39.0, 78.0, 520.0]


@pytest.fixture(scope="module")
def bgnbd():
    return BetaGeoModel().set_params_(BGNBD, time_unit="W")


@pytest.fixture(scope="module")
def pnbd():
    return ParetoNBDModel().set_params_(PNBD, time_unit="W")


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 20])
def test_bgnbd_matches_lifetimes(bgnbd, n):
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(BGNBD)
    # lifetimes' probability_of_n_purchases_up_to_time fails for an array t: one call per t.
    theirs = [fitter.probability_of_n_purchases_up_to_time(t, n) for t in TIMES]
    ours = bgnbd.probability_of_purchases_new_customer(n, TIMES)
    # Same closed form (FHL 2005 eq. 8); lifetimes writes the dropped-out term as 1 - a sum,
    # which cancels to ~1e-17 absolute where the probability is tiny (n = 20, t = 0.5).
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 20])
def test_pnbd_matches_lifetimes_conditional_at_age_zero(pnbd, n):
    # lifetimes has no unconditional Pareto/NBD distribution; its conditional one for a customer
    # of age T -> 0 with no purchases is the same quantity, up to O(T (r / alpha + s / beta)),
    # 1e-10 relative. Our quadrature reaches 3.5e-10 for n = 0 (see below): 1e-9. lifetimes'
    # alternating sums cancel to ~1e-17 absolute where the probability is tiny (n = 7,
    # t = 0.5: 9e-11), hence the floor.
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(PNBD)
    theirs = [fitter.conditional_probability_of_n_purchases_up_to_time(n, t, 0, 0, 1e-9)
              for t in TIMES]
    ours = pnbd.probability_of_purchases_new_customer(n, TIMES)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("fixture", ["bgnbd", "pnbd"])
def test_matches_simulation(fixture, request):
    model = request.getfixturevalue(fixture)
    n_customers, t = 200_000, 39.0
    simulated = model.simulate(n_customers, t, random_state=7)["frequency"].to_numpy()
    counts = np.bincount(np.minimum(simulated, 10), minlength=11)
    pmf = np.array([model.probability_of_purchases_new_customer(n, t) for n in range(10)])
    pmf = np.r_[pmf, 1 - pmf.sum()]
    # Each count is binomial(N, p): within 4.5 standard errors for all 11 cells at once has a
    # false-alarm rate below 1e-4 (seeded, so the test is deterministic anyway).
    se = np.sqrt(n_customers * pmf * (1 - pmf))
    assert np.all(np.abs(counts - n_customers * pmf) < 4.5 * se)


@pytest.mark.parametrize("fixture", ["bgnbd", "pnbd"])
@pytest.mark.parametrize("t", [1.0, 39.0])
def test_sums_to_one_and_mean_is_expected_purchases(fixture, t, request):
    model = request.getfixturevalue(fixture)
    n = np.arange(400)
    pmf = np.array([model.probability_of_purchases_new_customer(k, t) for k in n])
    # The tail beyond 400 purchases is below 1e-20 at these parameters and ages (at 150 weeks
    # the BG/NBD's is 1e-8: its gamma shape r = 0.24 makes a long tail). The Pareto/NBD's
    # quadrature is accurate to ~1e-14 for n >= 1 but 3.5e-10 relative for n = 0 (measured
    # against 30-digit mpmath quadrature), hence 1e-9.
    assert abs(pmf.sum() - 1) < 1e-9
    np.testing.assert_allclose(n @ pmf, model.expected_purchases_new_customer(t), rtol=1e-9)


def test_shapes_and_edge_cases(bgnbd, pnbd):
    for model in (bgnbd, pnbd):
        assert isinstance(model.probability_of_purchases_new_customer(1, 39.0), float)
        grid = np.full((2, 3), 10.0)
        assert model.probability_of_purchases_new_customer(2, grid).shape == (2, 3)
        # Nothing is bought in an empty period.
        assert model.probability_of_purchases_new_customer(0, 0.0) == 1.0
        assert model.probability_of_purchases_new_customer(3, [0.0, 1.0])[0] == 0.0
        with pytest.raises(ValidationError, match="n must be a whole number"):
            model.probability_of_purchases_new_customer(-1, 1.0)
        with pytest.raises(ValidationError, match="t must be finite and >= 0"):
            model.probability_of_purchases_new_customer(1, -2.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().probability_of_purchases_new_customer(1, 1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    model_class=st.sampled_from([BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel]),
    r=st.floats(0.5, 5.0), alpha=st.floats(0.5, 50.0),
    dropout_shape=st.floats(0.3, 5.0), dropout_scale=st.floats(0.3, 50.0),
    t=st.floats(0.01, 100.0),
)
def test_distribution_property(model_class, r, alpha, dropout_shape, dropout_scale, t):
    # With at most 5 purchases expected from the rate alone and r >= 0.5, the probability of
    # 300 or more is below 1e-12, so the first 300 terms must sum to 1 and have mean E[X(t)].
    assume(r * t / alpha <= 5.0)
    names = model_class.family.param_names
    model = model_class().set_params_(
        dict(zip(names, [r, alpha, dropout_shape, dropout_scale], strict=True)), time_unit="W"
    )
    n = np.arange(300)
    pmf = np.array([model.probability_of_purchases_new_customer(k, t) for k in n])
    assert np.all((pmf >= 0) & (pmf <= 1))
    # 1e-8: the Pareto/NBD quadrature's error, ~1e-10 relative per term (see above); the floor
    # of 1e-12 for means E[X(t)] near 0, where the terms' rounding is absolute.
    assert abs(pmf.sum() - 1) < 1e-8
    np.testing.assert_allclose(n @ pmf, model.expected_purchases_new_customer(t), rtol=1e-8,
                               atol=1e-12)
