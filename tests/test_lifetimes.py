"""Agreement with lifetimes, an independent implementation, at the same parameters.

Both evaluate equivalent closed forms in double precision, so predictions agree to ~1e-12; the
tolerance 1e-9 leaves room for lifetimes' own series sums (its conditional purchase-count
probability of the Pareto/NBD agrees to 5e-11) and is far tighter than the 1e-6 asked for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fitting import fit_data_of, total_log_likelihood
from _tolerances import Maximum, assert_same_maximum, gradient_stop_gap, stopping_gap

lifetimes = pytest.importorskip("lifetimes")

RTOL = 1e-9
# lifetimes fits the BG/NBD and Gamma-Gamma by BFGS on the mean negative log-likelihood of the
# log-parameters, stopping at gradient tol = 1e-7, and the Pareto/NBD by Nelder-Mead on the
# total negative log-likelihood with tol = 1e-4 (its simplex's values within 1e-4 of the best).
LIFETIMES_GTOL = 1e-7
LIFETIMES_PARETO_NBD_GAP = 1e-4


def _rfm_args(data: pd.DataFrame):
    return data["frequency"], data["recency"], data["T"]


@pytest.fixture(scope="module")
def lifetimes_bgnbd(cdnow):
    return lifetimes.BetaGeoFitter().fit(*_rfm_args(cdnow))


@pytest.fixture(scope="module")
def lifetimes_mbgnbd(cdnow):
    return lifetimes.ModifiedBetaGeoFitter().fit(*_rfm_args(cdnow))


@pytest.fixture(scope="module")
def lifetimes_pnbd(cdnow):
    # lifetimes starts its Pareto/NBD simplex at np.random.normal(1, 0.05, 4) from NumPy's global
    # state, which the tests run before in this process set; from some of those starts it stops
    # far from the maximum (LL -9602.4 at s = 126). Its start's mean makes the reference fixed.
    return lifetimes.ParetoNBDFitter().fit(*_rfm_args(cdnow), initial_params=np.ones(4))


def _at_lifetimes_params(model, fitter, rename=None):
    params = fitter.params_.rename(rename or {}).to_dict()
    return type(model)().set_params_(params, time_unit="W")


def _lifetimes_maximum(model, fitter, data, rename=None) -> Maximum:
    """Where lifetimes stopped, with our log-likelihood there and the gap its stopping rule
    leaves (see the constants above)."""
    ours = _at_lifetimes_params(model, fitter, rename)
    log_likelihood = total_log_likelihood(ours, ours.params_.to_numpy(),
                                          fit_data_of(ours, data, compress=False))
    if isinstance(fitter, lifetimes.ParetoNBDFitter):
        gap = LIFETIMES_PARETO_NBD_GAP + stopping_gap(log_likelihood, model.n_customers_,
                                                      model.n_customers_)
    else:
        gap = gradient_stop_gap(model, LIFETIMES_GTOL)
    return Maximum(ours.params_.to_numpy(), float(log_likelihood), gap)


@pytest.mark.parametrize("model_fixture, fitter_fixture", [
    ("fitted_bgnbd", "lifetimes_bgnbd"), ("fitted_mbgnbd", "lifetimes_mbgnbd"),
    ("fitted_pnbd", "lifetimes_pnbd"),
])
def test_fit_reaches_at_least_lifetimes_likelihood(model_fixture, fitter_fixture, request, cdnow):
    model, fitter = request.getfixturevalue(model_fixture), request.getfixturevalue(fitter_fixture)
    theirs = _lifetimes_maximum(model, fitter, cdnow)
    # lifetimes stops by looser rules: our maximum is not lower, beyond our own gap.
    assert model.log_likelihood_ >= theirs.log_likelihood - stopping_gap(
        model.log_likelihood_, model.n_customers_, model.n_distinct_rows_)
    assert_same_maximum(model, theirs)


@pytest.mark.parametrize("model_fixture, fitter_fixture", [
    ("fitted_bgnbd", "lifetimes_bgnbd"), ("fitted_mbgnbd", "lifetimes_mbgnbd"),
    ("fitted_pnbd", "lifetimes_pnbd"),
])
def test_conditional_predictions_agree(model_fixture, fitter_fixture, request, cdnow):
    model = _at_lifetimes_params(request.getfixturevalue(model_fixture),
                                 fitter := request.getfixturevalue(fitter_fixture))
    for t in (0.5, 39.0, 520.0):
        np.testing.assert_allclose(
            model.expected_purchases(cdnow, t),
            fitter.conditional_expected_number_of_purchases_up_to_time(t, *_rfm_args(cdnow)),
            rtol=RTOL,
        )
    np.testing.assert_allclose(
        model.probability_alive(cdnow),
        fitter.conditional_probability_alive(*_rfm_args(cdnow)),
        rtol=RTOL,
    )
    t = np.array([0.1, 10.0, 39.0, 1000.0])
    np.testing.assert_allclose(
        model.expected_purchases_new_customer(t),
        fitter.expected_number_of_purchases_up_to_time(t),
        rtol=RTOL,
    )


@pytest.mark.parametrize("model_fixture, fitter_fixture", [
    ("fitted_bgnbd", "lifetimes_bgnbd"), ("fitted_mbgnbd", "lifetimes_mbgnbd"),
])
def test_purchase_count_distribution_agrees(model_fixture, fitter_fixture, request):
    model = _at_lifetimes_params(request.getfixturevalue(model_fixture),
                                 fitter := request.getfixturevalue(fitter_fixture))
    for n in range(6):
        for t in (0.5, 39.0, 200.0):  # lifetimes takes one t at a time
            assert model.probability_of_purchases_new_customer(n, t) == pytest.approx(
                fitter.probability_of_n_purchases_up_to_time(t, n), rel=RTOL
            )


def test_pareto_nbd_conditional_purchase_count_distribution_agrees(
    lifetimes_pnbd, fitted_pnbd, cdnow
):
    model = _at_lifetimes_params(fitted_pnbd, lifetimes_pnbd)
    sample = cdnow.iloc[::47]  # lifetimes evaluates one customer at a time
    for n in range(4):
        theirs = [
            lifetimes_pnbd.conditional_probability_of_n_purchases_up_to_time(n, 39.0, x, t_x, T)
            for x, t_x, T in sample[["frequency", "recency", "T"]].to_numpy()
        ]
        ours = model.probability_of_purchases(sample, n, 39.0)
        np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_gamma_gamma_agrees(fitted_gg, cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    fitter = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    assert_same_maximum(fitted_gg, _lifetimes_maximum(fitted_gg, fitter, cdnow, {"v": "gamma"}))
    model = _at_lifetimes_params(fitted_gg, fitter, rename={"v": "gamma"})
    np.testing.assert_allclose(
        model.expected_spend(cdnow),
        fitter.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"]),
        rtol=RTOL,
    )
