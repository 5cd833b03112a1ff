"""Bayesian models with static covariates: the apparel posterior against the maximum-likelihood
fit (CLVTools' published figures), the coefficients' priors (default, replaced, concentrated
at 0), the log density in every backend, predictions and CLV per draw and covariate profile,
save/load of the covariate block, and the errors of bad input.

The default-run tests use simulated BG/NBD customers and few draws; the apparel posterior
with the default draws is a slow test (a few minutes: the Pareto/NBD per-row likelihood with
its gradient takes ~3.5 ms on the 600 apparel customers).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pm = pytest.importorskip("pymc")
az = pytest.importorskip("arviz")

import test_covariates  # noqa: E402
from _fitting import covariate_likelihood_of  # noqa: E402

from clvmodels import (  # noqa: E402
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BayesianModifiedBetaGeoModel,
    BayesianParetoNBDModel,
    BetaGeoModel,
    ParetoNBDModel,
    ValidationError,
    customer_equity,
    customer_lifetime_value,
)
from clvmodels.bayes import native  # noqa: E402
from clvmodels.bayes.model import covariate_pymc_model  # noqa: E402
from clvmodels.estimation.covariate_fit import Coordinates  # noqa: E402
from clvmodels.estimation.covariate_posterior import COEFFICIENT_PRIOR_SIGMA  # noqa: E402
from clvmodels.estimation.covariates import CovariateDesign  # noqa: E402

# The apparel data (CLVTools, GPL: read from the reference folder, skipped when absent),
# summarised as for the maximum-likelihood tests, by their loader (a module fixture).
apparel = test_covariates.apparel
BOTH = test_covariates.BOTH
SIMULATED = {"purchase_covariates": ["income", "segment"],
             "dropout_covariates": ["income", "segment"]}
# BG/NBD: alpha_i = alpha exp(-g'z), a_i, b_i = (a, b) exp(g'z); segment "b" and "c" against "a".
TRUTH = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0,
         "purchase.income": 0.4, "purchase.segment[b]": -0.5, "purchase.segment[c]": 0.3,
         "dropout.income": -0.3, "dropout.segment[b]": 0.6, "dropout.segment[c]": 0.0}
QUICK = {"draws": 300, "tune": 400, "chains": 2}
# With so few draws an R-hat a little above 1.01 is expected; the defaults' is tested (slow).
quick_draws = pytest.mark.filterwarnings("ignore:.*R-hat of:UserWarning")


# ------------------------------------------------------------------------------ data
def _simulated(n: int = 500, seed: int = 5) -> pd.DataFrame:
    """BG/NBD customers whose parameters follow a numeric and a three-level covariate, with a
    spend column for the Gamma-Gamma."""
    rng = np.random.default_rng(seed)
    z = pd.DataFrame({"income": rng.normal(0, 1, n),
                      "segment": pd.Categorical(rng.choice(["a", "b", "c"], n),
                                                categories=["a", "b", "c"])})
    family = BetaGeoModel.family
    spec = BetaGeoModel(**SIMULATED).covariate_spec()
    design = CovariateDesign.fit(spec, z, np.ones(n, bool), np.ones(n))
    coordinates = Coordinates.of(family, design, np.ones(4))
    base = np.array([TRUTH[name] for name in family.param_names])
    params = coordinates.per_row(base, np.array([TRUTH[name] for name in coordinates.names]),
                                 design.matrix(z))
    T = rng.uniform(30, 80, n)
    x, t_x, _ = family.simulate(params, T, 0.0, rng)
    spend = np.where(x > 0, rng.gamma(5.0, 8.0 * np.exp(0.3 * z["income"]) / 5.0), 0.0)
    table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "monetary_value": spend},
                         index=pd.RangeIndex(n, name="customer_id"))
    return table.join(z.set_index(table.index))


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return _simulated()


@pytest.fixture(scope="module")
def posterior(simulated) -> BayesianBetaGeoModel:
    """A NUTS posterior of the BG/NBD with both covariates, few draws."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*R-hat of", UserWarning)  # see quick_draws
        return BayesianBetaGeoModel(**SIMULATED).fit(simulated, random_seed=1, **QUICK)


def _within_monte_carlo_error(first, second, names) -> None:
    """Two posteriors of the same target agree in their means within 4 standard errors of
    the difference of two Monte Carlo estimates (ArviZ's MCSE of each mean, from its
    effective sample size): a false alarm has probability ~6e-5 per parameter."""
    a, b = first.summary(), second.summary()
    for name in names:
        bound = 4 * np.hypot(a.loc[name, "mcse_mean"], b.loc[name, "mcse_mean"])
        assert abs(a.loc[name, "mean"] - b.loc[name, "mean"]) <= bound, name


# ------------------------------------------------------------------------------ apparel
@pytest.mark.slow
def test_apparel_posterior_means_are_within_two_sd_of_the_mle(apparel):
    """Pareto/NBD with Gender and Channel in both processes, default draws and priors: every
    posterior mean (base parameters at z = 0, coefficients on the user's scale) within 2
    posterior sds of the maximum-likelihood estimate (CLVTools' published fit, checked in
    tests/test_covariates.py), and every R-hat at most 1.01."""
    mle = ParetoNBDModel(**BOTH).fit(apparel)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no R-hat or divergence warning with the defaults
        model = BayesianParetoNBDModel(**BOTH).fit(apparel, random_seed=2)
    table = model.summary()
    assert list(table.index) == list(mle.params_.index)
    assert np.all(np.abs(table["mean"] - mle.params_) <= 2 * table["sd"])
    assert np.all(az.rhat(model.idata).to_array().to_numpy() <= 1.01)


def test_apparel_laplace_posterior_is_near_the_mle(apparel):
    """The Laplace approximation (method="map") with the default priors: its mode is the
    penalised maximum, so with 600 customers and weak priors its means are within 2 of its
    sds of the maximum-likelihood estimate. The coefficients' sds are the MLE's standard
    errors within 10%: both are the inverse curvature in the coefficients (the base
    parameters' coordinates, log or not, do not change that block at a maximum), at modes a
    prior's pull apart, estimated from 4,000 draws (1.1% relative sampling error)."""
    mle = ParetoNBDModel(**BOTH).fit(apparel)
    model = BayesianParetoNBDModel(**BOTH).fit(apparel, method="map", random_seed=3)
    table = model.summary()
    assert np.all(np.abs(table["mean"] - mle.params_) <= 2 * table["sd"])
    coefficients = [name for name in table.index if "." in name]
    np.testing.assert_allclose(table.loc[coefficients, "sd"],
                               mle.summary().loc[coefficients, "std_error"], rtol=0.1)
    # At the posterior mean, each customer at their own parameters: below the maximum, by
    # about half a chi-square of 8 degrees of freedom's worth of posterior spread at most.
    gap = mle.log_likelihood_ - model.log_likelihood(apparel)
    assert 0 <= gap < 8


# ------------------------------------------------------------------------------ priors
def test_default_coefficient_priors_are_normal_on_standardised_columns(simulated, posterior):
    """Normal(0, 1) on the standardised column: on the user's scale sd 1 / column sd."""
    design = posterior.covariates_
    priors = dict(part.split(" ~ ") for part in posterior.idata.posterior.attrs[
        "priors"].split("; "))
    for name, position, _ in design.coefficients(posterior.family):
        expected = COEFFICIENT_PRIOR_SIGMA / design.scales[position]
        assert priors[name] == f"Normal(0, {expected:.4g})"
    assert priors["r"].startswith("LogNormal(")


def test_a_replaced_coefficient_prior_takes_effect(simulated):
    """A prior Normal(0.7, 0.001) on one coefficient: its posterior (Laplace) is within a few
    prior sds of 0.7 (the data's information, sd ~0.05, moves it by ~(0.001/0.05)^2 of the
    gap); the attributes record it."""
    model = BayesianBetaGeoModel(
        priors={"dropout.income": pm.Normal.dist(0.7, 0.001)}, **SIMULATED,
    ).fit(simulated, method="map", random_seed=4)
    assert model.params_["dropout.income"] == pytest.approx(0.7, abs=0.005)
    assert "dropout.income ~ Normal(0.7, 0.001)" in model.idata.posterior.attrs["priors"]
    default = BayesianBetaGeoModel(**SIMULATED).fit(simulated, method="map", random_seed=4)
    assert abs(default.params_["dropout.income"] - 0.7) > 0.3


@quick_draws
def test_coefficients_held_at_zero_give_the_plain_posterior(simulated, posterior):
    """Every coefficient's prior Normal(0, 1e-6): the coefficients stay within ~1e-6 of 0,
    where they move the likelihood by ~1e-6 of a standard error, so the base parameters'
    posterior is the model's without covariates, within Monte Carlo error (see
    :func:`_within_monte_carlo_error`)."""
    names = [name for name in TRUTH if "." in name]
    held = BayesianBetaGeoModel(
        priors={name: pm.Normal.dist(0.0, 1e-6) for name in names}, **SIMULATED,
    ).fit(simulated, random_seed=6, **QUICK)
    plain = BayesianBetaGeoModel().fit(simulated, random_seed=7, **QUICK)
    assert np.all(np.abs(held.parameter_draws()[names].to_numpy()) < 1e-5)
    _within_monte_carlo_error(held, plain, list(plain.param_names))


def test_log_density_is_the_same_in_every_backend(simulated):
    """The PyMC model (priors as PyMC variables, the likelihood Op of the reported values) and
    the native nutpie density (in the fit's coordinates phi) differ by a constant (the
    rescaling's log-likelihood offset and the Jacobian of the linear map): their differences
    between two points agree to the rounding of totals of ~2e3 (1e-9 absolute), and the
    gradients through the chain rule psi = A phi + offset to 1e-8 relative."""
    model = BayesianBetaGeoModel(**SIMULATED)
    likelihood, fit_data = covariate_likelihood_of(model, simulated)
    pymc_model = covariate_pymc_model(likelihood, fit_data, {})
    priors = native.covariate_priors(pymc_model, likelihood)
    logp, dlogp = pymc_model.compile_logp(), pymc_model.compile_dlogp()

    def both(values: dict) -> tuple:
        point = {}
        for name, value in values.items():
            point[f"{name}_log__" if name in model.param_names else name] = (
                np.log(value) if name in model.param_names else value)
        psi = np.array([point[key] for key in point])
        phi = likelihood.internal(psi)
        total, gradient = likelihood.at_internal(phi)
        prior, prior_gradient = native.normal_log_density(priors, psi)
        ours_gradient_psi = likelihood.inverse.T @ (gradient + likelihood.matrix.T
                                                    @ prior_gradient)
        return float(logp(point)), dlogp(point), total + prior, ours_gradient_psi

    first = both(TRUTH)
    second = both({**TRUTH, "r": 0.6, "a": 1.3, "purchase.segment[b]": 0.2})
    assert first[0] - second[0] == pytest.approx(first[2] - second[2], abs=1e-9)
    for point in (first, second):
        np.testing.assert_allclose(point[3], point[1], rtol=1e-8,
                                   atol=1e-8 * np.abs(point[1]).max())


# ------------------------------------------------------------------------------ predictions
def test_predictions_are_the_formula_at_each_draws_customer_parameters(simulated, posterior):
    """P(alive) and expected purchases per draw equal the family's formulas at that draw's
    per-customer parameters theta^(d) exp(sign g^(d)' z_i), computed here directly (the same
    operations in another order: 1e-12 relative)."""
    family = posterior.family
    customers = simulated.iloc[:40]
    _, alive = posterior.probability_alive(customers, return_draws=True, max_draws=50)
    _, expected = posterior.expected_purchases(customers, 10.0, return_draws=True,
                                               max_draws=50)
    draws = posterior.parameter_draws(max_draws=50)
    design = posterior.covariates_
    matrix = design.matrix(customers)
    column = {name: matrix[:, k] for k, name in enumerate(design.columns)}
    g = {name: draws[name].to_numpy()[:, None] for name in draws if "." in name}
    purchase = sum(g[f"purchase.{name}"] * column[name][None, :] for name in design.columns)
    dropout = sum(g[f"dropout.{name}"] * column[name][None, :] for name in design.columns)
    params = (draws["r"].to_numpy()[:, None],
              draws["alpha"].to_numpy()[:, None] * np.exp(-purchase),
              draws["a"].to_numpy()[:, None] * np.exp(dropout),
              draws["b"].to_numpy()[:, None] * np.exp(dropout))
    x, t_x, T = (customers[name].to_numpy() for name in ("frequency", "recency", "T"))
    log_alive = family.log_alive(params, x, t_x, T)
    np.testing.assert_allclose(alive.to_numpy(), np.exp(log_alive), rtol=1e-12)
    future = family.future_expected(family.updated_params(params, x, T), 10.0)
    np.testing.assert_allclose(expected.to_numpy(), np.exp(log_alive) * future, rtol=1e-12)


@quick_draws
def test_clv_intervals_vary_with_the_covariate_profile(simulated, posterior):
    """Two customers with one history and different profiles get different CLV means and
    intervals (with a Bayesian Gamma-Gamma with a spend covariate too), each interval holds
    its mean, and customer equity totals them per draw."""
    spend = BayesianGammaGammaModel(spend_covariates=["income"]).fit(
        simulated, random_seed=8, **QUICK)
    active = (simulated["frequency"] >= 3) & (simulated["recency"] > 0.9 * simulated["T"])
    history = simulated[active].iloc[[0]]  # P(alive) near 1: the profile's effects add up
    twins = pd.concat([history, history], ignore_index=True)
    twins["income"] = [-1.0, 1.5]
    twins["segment"] = pd.Categorical(["a", "c"], categories=["a", "b", "c"])
    clv = customer_lifetime_value(posterior, spend, twins, horizon=52, discount_rate=0.01)
    assert clv.loc[0, "clv"] != pytest.approx(clv.loc[1, "clv"], rel=0.05)
    assert np.all(clv["lower"] < clv["clv"]) and np.all(clv["clv"] < clv["upper"])
    assert clv.loc[0, "upper"] - clv.loc[0, "lower"] != pytest.approx(
        clv.loc[1, "upper"] - clv.loc[1, "lower"], rel=0.05)
    expected_spend = spend.expected_spend(twins)
    assert expected_spend.loc[1, "mean"] > expected_spend.loc[0, "mean"]  # g_spend ~ +0.3
    equity = customer_equity(posterior, spend, twins, horizon=52, discount_rate=0.01,
                             n_segments=1)
    # The total per draw is the sum of the twins' CLV at that draw: its mean is the sum of
    # their means (floating-point summation over 600 draws: 1e-12 relative).
    assert equity.total == pytest.approx(clv["clv"].sum(), rel=1e-12)
    lower, upper = equity.total_interval
    assert lower < equity.total < upper


def test_new_customers_by_profile_over_draws(posterior):
    """Cold start per profile: a mapping gives the summary by t, a table of profiles by
    (profile, t); each is the mean over draws of the new-customer formula at the profile's
    parameters (1e-12 relative)."""
    one = posterior.expected_purchases_new_customer(
        [5.0, 10.0], covariates={"income": 0.5, "segment": "b"}, max_draws=80)
    assert list(one.index) == [5.0, 10.0] and list(one.columns) == ["mean", "lower", "upper"]
    profiles = pd.DataFrame({"income": [0.5, -2.0], "segment": ["b", "a"]},
                            index=pd.Index(["young", "old"], name="segment_name"))
    table = posterior.expected_purchases_new_customer([5.0, 10.0], covariates=profiles,
                                                      max_draws=80)
    assert table.index.names == ["segment_name", "t"]
    np.testing.assert_allclose(table.loc["young"].to_numpy(), one.to_numpy(), rtol=1e-12)
    draws = posterior.parameter_draws(max_draws=80)
    exponent = draws["purchase.income"] * -2.0
    params = (draws["r"].to_numpy(), (draws["alpha"] * np.exp(-exponent)).to_numpy(),
              (draws["a"] * np.exp(-2.0 * draws["dropout.income"])).to_numpy(),
              (draws["b"] * np.exp(-2.0 * draws["dropout.income"])).to_numpy())
    direct = posterior.family.expected_new(params, 10.0).mean()
    assert table.loc[("old", 10.0), "mean"] == pytest.approx(direct, rel=1e-12)
    assert table.loc[("old", 10.0), "mean"] != pytest.approx(table.loc[("young", 10.0),
                                                                        "mean"], rel=0.05)


def test_modified_bg_nbd_takes_covariates(simulated):
    """One implementation for every family with links: MBG/NBD's posterior has the same
    coefficients and predicts per profile."""
    model = BayesianModifiedBetaGeoModel(purchase_covariates=["income"]).fit(
        simulated, method="map", random_seed=9)
    assert list(model.params_.index) == ["r", "alpha", "a", "b", "purchase.income"]
    alive = model.probability_alive(simulated.iloc[:5])
    assert np.all((alive["lower"] <= alive["mean"]) & (alive["mean"] <= alive["upper"]))


# ------------------------------------------------------------------------------ save/load
def test_save_and_load_keep_the_covariates(tmp_path, simulated, posterior):
    path = tmp_path / "model.nc"
    posterior.save(path)
    loaded = BayesianBetaGeoModel.load(path)
    assert loaded.covariate_columns == ("income", "segment")
    pd.testing.assert_series_equal(loaded.params_, posterior.params_)
    pd.testing.assert_frame_equal(loaded.probability_alive(simulated.iloc[:20]),
                                  posterior.probability_alive(simulated.iloc[:20]))


def _tampered(tmp_path, posterior, change) -> Path:
    draws = posterior.idata.posterior.copy(deep=True)
    draws.attrs = dict(posterior.idata.posterior.attrs)  # the fixture's own stay as they are
    change(draws)
    path = tmp_path / "tampered.nc"
    az.InferenceData(posterior=draws).to_netcdf(str(path))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda p: p.attrs.update(clvmodels_covariates="{not json"), "must be a JSON document"),
    (lambda p: p.attrs.update(clvmodels_covariates=json.dumps({"processes": {}})),
     "covariates must have exactly the fields"),
    (lambda p: p.attrs.update(clvmodels_covariates=p.attrs["clvmodels_covariates"].replace(
        '"income", "segment"], "dropout"', '"income", "wealth"], "dropout"')),
     "covariates.levels must name the columns"),
    (lambda p: p.attrs.update(clvmodels_format_version=1), "from format version 2 on"),
    (lambda p: p["dropout.income"].values.__setitem__((0, 3), np.nan),
     "coefficient 'dropout.income' is not finite"),
    (lambda p: p.__delitem__("purchase.segment[c]"), "no draws of 'purchase.segment[c]'"),
])
def test_a_tampered_covariate_file_is_refused(tmp_path, posterior, change, message):
    path = _tampered(tmp_path, posterior, change)
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BayesianBetaGeoModel.load(path)


# ------------------------------------------------------------------------------ bad input
def test_a_prior_for_an_unknown_coefficient_is_refused_naming_it(simulated):
    with pytest.raises(ValidationError, match=r"'purchase\.wealth'"):
        BayesianBetaGeoModel(priors={"purchase.wealth": pm.Normal.dist(0, 1)},
                             **SIMULATED).fit(simulated, method="map")
    with pytest.raises(ValidationError, match=r"'dropout\.income'.*purchase\.<column>"):
        BayesianBetaGeoModel(priors={"dropout.income": pm.Normal.dist(0, 1)},
                             purchase_covariates=["income"])
    with pytest.raises(ValidationError, match=r"'purchase\.segment\[a\]'"):  # the reference
        BayesianBetaGeoModel(priors={"purchase.segment[a]": pm.Normal.dist(0, 1)},
                             **SIMULATED).fit(simulated, method="map")


def test_bad_covariates_are_refused_naming_them(simulated, posterior):
    with pytest.raises(ValidationError, match="no spend process"):
        BayesianBetaGeoModel(spend_covariates=["income"])
    with pytest.raises(ValidationError, match="'wealth'"):
        BayesianBetaGeoModel(purchase_covariates=["wealth"]).fit(simulated, method="map")
    with pytest.raises(ValidationError, match="'segment'.*not in the table"):
        posterior.expected_purchases(simulated.drop(columns="segment"), 10)
    with pytest.raises(ValidationError, match="level 'z'"):
        posterior.probability_alive(simulated.iloc[:3].assign(segment=["a", "b", "z"]))
    with pytest.raises(ValidationError, match="pass the new customer's values"):
        posterior.expected_purchases_new_customer(10.0)
    with pytest.raises(ValidationError, match="simulate"):
        posterior.simulate(10, 30.0)


def test_models_without_covariates_are_unchanged(simulated):
    """No covariates: the posterior holds the family's parameters only, the file is still
    format version 1."""
    model = BayesianBetaGeoModel().fit(simulated, method="map", random_seed=1)
    assert list(model.params_.index) == ["r", "alpha", "a", "b"]
    assert model.idata.posterior.attrs["clvmodels_format_version"] == 1
    assert "clvmodels_covariates" not in model.idata.posterior.attrs


def test_the_report_coefficient_table_of_a_bayesian_model_is_its_posterior(posterior):
    """The report's coefficient table (and so `clvmodels report` of a --bayesian covariate
    fit) from the posterior draws: their mean, sd and equal-tailed interval."""
    from clvmodels.covariate_report import coefficient_table

    table = coefficient_table(posterior, 0.9)
    draws = posterior.parameter_draws()[list(table.index)]
    assert list(table.index) == [c for c in draws.columns if c.startswith(("purchase.",
                                                                           "dropout."))]
    np.testing.assert_allclose(table["estimate"], draws.mean(), rtol=1e-12)
    np.testing.assert_allclose(table["lower"], draws.quantile(0.05), rtol=1e-12)
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()


def test_the_posterior_predictive_check_refuses_a_covariate_model(simulated, posterior):
    from clvmodels.plotting import plot_posterior_predictive_check

    with pytest.raises(ValidationError, match="vary with each customer's covariates"):
        plot_posterior_predictive_check(posterior, simulated)
