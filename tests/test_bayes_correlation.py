"""The Bayesian correlated Pareto/NBD (:class:`BayesianParetoNBDCorrelationModel`): its default
prior on kappa, the posterior of cor in the summary, CLV and equity over the draws, save/load,
covariates, and (slow) NUTS against a known correlation and against CDNOW's maximum
likelihood."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BayesianParetoNBDCorrelationModel,
    DegenerateFitWarning,
    GammaGammaModel,
    ParetoNBDCorrelationModel,
    customer_equity,
    customer_lifetime_value,
    load_cdnow_summary,
)
from clvmodels.models.pareto_nbd_correlation import (
    PARETO_NBD_CORRELATION,
    correlation,
    correlation_range,
    kappa_for,
    omega_of,
)

pm = pytest.importorskip("pymc")

# As tests/test_pareto_nbd_correlation.py: marginals (a time unit) on which the Sarmanov
# family reaches correlations of -0.20 to 0.15.
MARGINALS = {"r": 1.0, "alpha": 0.5, "s": 0.8, "beta": 1.0}


def _simulated(cor: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.uniform(2, 6, n)
    params = (*MARGINALS.values(), kappa_for(*MARGINALS.values(), cor))
    x, t_x, _ = PARETO_NBD_CORRELATION.simulate(params, T, 0.0, rng)
    table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    table.index.name = "customer_id"
    table.attrs["time_unit"] = "W"
    return table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _simulated(0.12, 600, 21)


@pytest.fixture(scope="module")
def laplace(table) -> BayesianParetoNBDCorrelationModel:
    """The Laplace approximation of the posterior (the likelihood, priors and draws of NUTS,
    in seconds)."""
    return BayesianParetoNBDCorrelationModel().fit(table, method="map", draws=400, chains=1,
                                                   random_seed=5)


def _lognormal_parameters(model: pm.Model, name: str) -> tuple[float, float]:
    rv = model[name]
    return tuple(float(pm.pytensorf.constant_fold([value])[0])
                 for value in rv.owner.op.dist_params(rv.owner))


def test_default_kappa_prior_is_a_normal_logit_centred_on_no_correlation(table):
    estimator = BayesianParetoNBDCorrelationModel()
    model = estimator.build_model(table)
    mu, sigma = _lognormal_parameters(model, "kappa")
    # log kappa is the logit of omega's position: normal, sd 2 as the other parameters', with
    # its median at omega = 0 for the starting marginals (which the Pareto/NBD's priors take
    # as their medians).
    assert sigma == 2.0
    start = PARETO_NBD_CORRELATION.initial_params(estimator.fit_data(table))
    assert omega_of((*start[:4], np.exp(mu))) == pytest.approx(0.0, abs=1e-12)
    for name, value in zip(("r", "alpha", "s", "beta"), start[:4], strict=True):
        assert _lognormal_parameters(model, name) == pytest.approx((np.log(value), 2.0),
                                                                   rel=1e-12)


def test_summary_adds_the_posterior_of_the_correlation(laplace):
    summary = laplace.summary(round_to="none")
    assert list(summary.index) == ["r", "alpha", "s", "beta", "kappa", "cor"]
    draws = laplace.correlation_draws()
    # Means of the same 400 values summed in another order.
    assert summary.loc["cor", "mean"] == pytest.approx(draws.mean(), rel=1e-12)
    assert summary.loc["cor", "sd"] == pytest.approx(draws.std(), rel=1e-12)
    assert laplace.correlation_ == pytest.approx(draws.mean(), rel=1e-12)
    # Every draw is a proper Sarmanov density: its cor within the reach of its marginals.
    parameters = laplace.parameter_draws()
    expected = correlation(tuple(parameters[name].to_numpy() for name in laplace.param_names))
    np.testing.assert_array_equal(draws.to_numpy(), expected)
    for (_, draw), value in zip(parameters.iterrows(), draws, strict=True):
        lowest, highest = correlation_range(*draw[["r", "alpha", "s", "beta"]])
        assert lowest < value < highest


def test_save_and_load_keep_the_posterior_of_the_correlation(laplace, tmp_path):
    laplace.save(tmp_path / "model.nc")
    loaded = BayesianParetoNBDCorrelationModel.load(tmp_path / "model.nc")
    pd.testing.assert_frame_equal(loaded.summary(), laplace.summary())
    pd.testing.assert_series_equal(loaded.correlation_draws(), laplace.correlation_draws())


def test_clv_and_equity_over_the_posterior_draws(laplace, table):
    data = table.assign(monetary_value=np.where(table["frequency"] > 0, 20.0, 0.0))
    spend = GammaGammaModel().set_params_({"p": 6.0, "q": 4.0, "gamma": 15.0})
    value = customer_lifetime_value(laplace, spend, data, horizon=4.0, margin=0.3)
    assert list(value.columns) == ["clv", "lower", "upper"]  # an interval from the draws
    assert ((value["lower"] <= value["clv"]) & (value["clv"] <= value["upper"])).all()
    # Undiscounted, with one spend estimate: the posterior mean of margin * spend * E[X] is
    # margin * spend * the posterior mean of E[X] (the same draws; sums in another order).
    purchases = laplace.expected_purchases(data, 4.0)["mean"]
    expected = 0.3 * spend.expected_spend(data) * purchases
    np.testing.assert_allclose(value["clv"], expected, rtol=1e-10)
    equity = customer_equity(laplace, spend, data, horizon=4.0, margin=0.3)
    assert equity.total == pytest.approx(value["clv"].sum(), rel=1e-10)


def test_covariates_with_the_correlation_in_the_posterior(table):
    rng = np.random.default_rng(3)
    data = table.assign(premium=(rng.random(len(table)) < 0.5) * 1.0)
    model = BayesianParetoNBDCorrelationModel(
        purchase_covariates=["premium"], dropout_covariates=["premium"]).fit(
        data, method="map", draws=200, chains=1, random_seed=2)
    assert list(model.summary().index) == ["r", "alpha", "s", "beta", "kappa",
                                           "purchase.premium", "dropout.premium", "cor"]
    alive = model.probability_alive(data)
    assert np.all(np.isfinite(alive.to_numpy())) and (alive["mean"] <= 1).all()


# ----------------------------------------------------------------------------- NUTS
@pytest.mark.slow
def test_nuts_posterior_of_a_known_correlation():
    """4,000 simulated customers with cor = 0.12: the posterior mean within 2 posterior sds
    of the truth (a 95% statement for a near-Gaussian posterior; the seeds are fixed)."""
    data = _simulated(0.12, 4000, 8)
    model = BayesianParetoNBDCorrelationModel().fit(data, draws=200, tune=300, chains=2,
                                                    random_seed=11, progressbar=False)
    draws = model.correlation_draws()
    assert abs(draws.mean() - 0.12) <= 2 * draws.std(), (draws.mean(), draws.std())


@pytest.mark.slow
def test_nuts_posterior_on_cdnow_is_near_the_maximum_likelihood():
    """On CDNOW the posterior means of the marginals lie within one posterior sd of the
    maximum-likelihood estimate (a flat-ish prior on 2,357 customers). The estimate of cor is
    on the bound of its reach (omega at its upper end): the posterior lies on one side of it
    and the prior, centred on cor = 0, pulls it in, so its mean is within 3 sds."""
    table = load_cdnow_summary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)  # omega on its bound
        estimate = ParetoNBDCorrelationModel().fit(table)
    model = BayesianParetoNBDCorrelationModel().fit(table, draws=300, tune=300, chains=2,
                                                    random_seed=7, progressbar=False)
    draws = model.parameter_draws()
    for name in ("r", "alpha", "s", "beta"):
        assert abs(draws[name].mean() - estimate.params_[name]) <= draws[name].std(), name
    cor = model.correlation_draws()
    assert abs(cor.mean() - estimate.correlation_) <= 3 * cor.std()
