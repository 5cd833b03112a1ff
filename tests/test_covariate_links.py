"""Static covariates of the GGompertz/NBD, the BG/BB and the contractual sBG and BdW: the
likelihood at zero coefficients, the chain-rule gradient, recovery from simulated customers
and predictions at each customer's own parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _apparel import apparel_table
from _covariate_helpers import covariate_objective, difference_gradient

from clvmodels import (
    BetaDiscreteWeibullModel,
    BetaGeoBetaBinomModel,
    DegenerateFitWarning,
    GGompertzNBDModel,
    ShiftedBetaGeoModel,
    ValidationError,
)
from clvmodels.contract_value import contract_lifetime_value
from clvmodels.estimation.covariate_fit import Coordinates, held_out_log_likelihood
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.fitdata import FitData


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"income": rng.normal(0, 1, n),
                         "premium": (rng.random(n) < 0.5) * 1.0})


def _simulated(model_class, truth: dict, n: int, seed: int, covariates: dict) -> pd.DataFrame:
    """A table of ``n`` customers with two covariates, each simulated from their own
    parameters (``truth``: base parameters and coefficients by name)."""
    rng = np.random.default_rng(seed)
    z = _covariates(rng, n)
    family = model_class.family
    model = model_class(**covariates)
    design = CovariateDesign.fit(model.covariate_spec(), z, np.ones(n, bool), np.ones(n))
    coordinates = Coordinates.of(family, design, np.ones(len(family.parameters)))
    base = np.array([truth[name] for name in family.param_names])
    coefficients = np.array([truth[name] for name in coordinates.names])
    params = coordinates.per_row(base, coefficients, design.matrix(z))
    if family.kind == "contract":
        renewals, churned = family.simulate(params, np.full(n, 10.0), rng)
        return pd.DataFrame({"renewals": renewals.astype(np.int64), "churned": churned, **z})
    if family.discrete_time:
        periods = rng.integers(6, 15, n).astype(float)
        x, t_x, _ = family.simulate(params, periods, 0.0, rng)
        return pd.DataFrame({"frequency": x, "recency": t_x, "periods": periods, **z})
    T = rng.uniform(30, 80, n)
    x, t_x, _ = family.simulate(params, T, 0.0, rng)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, **z})


BOTH = {"purchase_covariates": ["income", "premium"],
        "dropout_covariates": ["income", "premium"]}
DROPOUT = {"dropout_covariates": ["income", "premium"]}
CASES = {
    "ggomnbd": (GGompertzNBDModel, BOTH, {
        "r": 0.9, "alpha": 6.0, "b": 0.1, "s": 0.8, "beta": 3.0,
        "purchase.income": 0.4, "purchase.premium": -0.5,
        "dropout.income": 0.5, "dropout.premium": -0.6}),
    "bgbb": (BetaGeoBetaBinomModel, BOTH, {
        "alpha": 1.2, "beta": 0.8, "gamma": 0.6, "delta": 2.5,
        "purchase.income": 0.4, "purchase.premium": -0.5,
        "dropout.income": 0.5, "dropout.premium": -0.6}),
    "sbg": (ShiftedBetaGeoModel, DROPOUT, {
        "alpha": 0.7, "beta": 3.0, "dropout.income": 0.4, "dropout.premium": -0.6}),
    "bdw": (BetaDiscreteWeibullModel, DROPOUT, {
        "alpha": 0.7, "beta": 3.0, "c": 0.8, "dropout.income": 0.4,
        "dropout.premium": -0.6}),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    model_class, covariates, truth = CASES[request.param]
    return model_class, covariates, truth, _simulated(model_class, truth, 600, 5, covariates)


def _objective(model_class, covariates: dict, table: pd.DataFrame):
    return covariate_objective(model_class(**covariates), table)


def test_zero_coefficients_give_the_likelihood_without_covariates(case):
    model_class, covariates, truth, table = case
    family, fit_data, coordinates, objective = _objective(model_class, covariates, table)
    base = np.array([truth[name] for name in family.param_names]) * 1.1
    phi = np.concatenate([np.log(base), np.zeros(coordinates.n_free)])
    plain = FitData.compress({k: v for k, v in fit_data.columns.items()
                              if not k.startswith("covariate:")}, fit_data.weights)
    # Identical per-row terms summed in another grouping: equal to summation rounding.
    assert objective.log_likelihood(phi)[0] == pytest.approx(
        family.total_log_likelihood(base, plain), rel=1e-12)


def test_gradient_matches_finite_differences(case):
    model_class, covariates, truth, table = case
    family, _, coordinates, objective = _objective(model_class, covariates, table)
    rng = np.random.default_rng(7)
    base = np.log([truth[name] for name in family.param_names])
    phi = np.concatenate([base + rng.normal(0, 0.2, len(base)),
                          rng.normal(0, 0.15, coordinates.n_free)])
    _, gradient = objective.log_likelihood(phi)
    numeric = difference_gradient(objective, phi, h=1e-5)
    # Central differences: truncation ~h^2 |LL'''| and rounding ~1e-16 |LL| / h (|LL| ~ 1e3:
    # 1e-8); the GGompertz/NBD's quadrature (relative target 1e-12) adds ~1e-12 |LL| / h.
    # 1e-5 relative to the largest component covers them.
    assert np.allclose(gradient, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize("name", list(CASES))
def test_simulation_recovery_with_a_binary_covariate(name):
    model_class, covariates, truth = CASES[name]
    table = _simulated(model_class, truth, 4000, 11, covariates)
    fitted = model_class(**covariates).fit(table)
    error = (fitted.params_ - pd.Series(truth)) / fitted.summary()["std_error"]
    # Consistent estimates with their standard errors: every parameter within 4 se (for at
    # most 9 approximately normal errors, all within 4 se with probability > 0.999).
    assert np.all(np.abs(error) < 4), error


def _own_model_predictions(fitted, table, predictions: dict, positions=(0, 7, 123)):
    """Each prediction of ``fitted`` (with covariates) at the given customers equals the
    prediction of the model without covariates at that customer's parameters."""
    per_customer = fitted.customer_parameters(table)
    values = {name: predict(fitted, table) for name, predict in predictions.items()}
    for position in positions:
        params = {name: per_customer[name][position] if name in per_customer
                  else fitted.params_[name] for name in fitted.param_names}
        own = type(fitted)().set_params_(params)
        row = table.iloc[[position]]
        for name, predict in predictions.items():
            # The same formulas at the same parameters, evaluated in other groupings.
            assert predict(own, row).iloc[0] == pytest.approx(values[name].iloc[position],
                                                              rel=1e-10, abs=1e-14), name


def _fitted(name: str, n: int = 400, seed: int = 3):
    """A fit of the case's model with its covariates on customers simulated from it."""
    model_class, covariates, truth = CASES[name]
    table = _simulated(model_class, truth, n, seed, covariates)
    return model_class(**covariates).fit(table), table


@pytest.mark.parametrize("name", ["ggomnbd", "bgbb"])
def test_purchase_predictions_are_the_customers_own_model(name):
    fitted, table = _fitted(name)
    _own_model_predictions(fitted, table, {
        "alive": lambda m, t: m.probability_alive(t),
        "expected": lambda m, t: m.expected_purchases(t, 6),
        "pmf": lambda m, t: m.probability_of_purchases(t, 1, 6),
        "discounted": lambda m, t: m.discounted_expected_purchases(
            t, horizon=12, discount_rate=0.01),
    })


@pytest.mark.parametrize("name", ["sbg", "bdw"])
def test_contract_predictions_are_the_customers_own_model(name):
    fitted, table = _fitted(name)
    model_class = type(fitted)
    _own_model_predictions(fitted, table, {
        "derl": lambda m, t: m.expected_residual_lifetime(t, 0.1),
        "active": lambda m, t: m.probability_active(t),
        "elasticity": lambda m, t: m.retention_elasticity(t, 0.1),
    }, positions=[int(k) for k in np.flatnonzero(~table["churned"].to_numpy())[:3]])
    # The curves of a cohort with one profile are the plain model's at its parameters.
    profile = {"income": 0.5, "premium": 1.0}
    alpha = fitted.customer_parameters(pd.DataFrame([profile]))["alpha"][0]
    own = model_class().set_params_({**fitted.params_[list(fitted.param_names)], "alpha": alpha})
    for curve in ("survival", "retention", "churn_probability"):
        periods = [1, 2, 5]
        expected = getattr(own, curve)(periods)
        assert np.allclose(getattr(fitted, curve)(periods, covariates=profile), expected,
                           rtol=1e-12), curve
        by_profile = getattr(fitted, curve)(periods, covariates=pd.DataFrame(
            [profile, {"income": 0.0, "premium": 0.0}], index=["a", "base"]))
        assert list(by_profile.columns) == ["a", "base"]
        assert np.allclose(by_profile["a"], expected, rtol=1e-12)


def test_contract_curves_and_value_of_a_model_with_covariates_need_the_covariates():
    model_class, covariates, truth = CASES["sbg"]
    table = _simulated(model_class, truth, 300, 3, covariates)
    fitted = model_class(**covariates).fit(table)
    with pytest.raises(ValidationError, match="fitted with covariates"):
        fitted.survival([1, 2])
    with pytest.raises(ValidationError, match="contractual value is not available"):
        contract_lifetime_value(fitted, table, payment=10.0, discount_rate=0.1)
    with pytest.raises(ValidationError, match="fitted without covariates"):
        model_class().fit(table).survival([1], covariates={"premium": 1.0})


def test_a_positive_dropout_coefficient_means_churning_sooner():
    # The documented direction: a larger alpha_i raises the first-period churn
    # P(T = 1) = alpha_i / (alpha_i + beta).
    model_class, covariates, truth = CASES["sbg"]
    table = _simulated(model_class, truth, 3000, 4, covariates)
    fitted = model_class(**covariates).fit(table)
    churn = fitted.churn_probability([1], covariates=pd.DataFrame(
        {"income": [1.0, -1.0], "premium": [0.0, 0.0]}))
    assert fitted.params_["dropout.income"] > 0
    assert churn.iloc[0, 0] > churn.iloc[0, 1]


def test_ggompertz_nbd_with_covariates_at_clvtools_apparel_estimate():
    # CLVTools 0.12.1's ggomnbd with static covariates (Gender, Channel in both processes) on
    # its apparel data, as recorded in neilmurrayee/clvtools
    # tests/fixtures/ggomnbd_staticcov_fit.json: its estimate (life = dropout, trans =
    # purchase) and log-likelihood. The estimate is near the Pareto/NBD limit (b, beta -> 0).
    table = apparel_table()
    model = GGompertzNBDModel(purchase_covariates=["Gender", "Channel"],
                              dropout_covariates=["Gender", "Channel"])
    design = CovariateDesign.fit(model.covariate_spec(), table, np.ones(len(table), bool),
                                 np.ones(len(table)))
    estimate = pd.Series({
        "r": 1.8368056462924693, "alpha": 92.854427789559637, "b": 0.0000030995944247600156,
        "s": 0.59277971715678002, "beta": 0.00015408250586313081,
        "purchase.Gender": 0.28592699395494048, "purchase.Channel": 0.62387991647314855,
        "dropout.Gender": -0.64238583716461772, "dropout.Channel": 0.78920986087314871})
    value = held_out_log_likelihood(model.family, design, estimate, table, np.ones(len(table)))
    # CLVTools integrates each row's dropout term with GSL's QAGS at 1e-8 relative, which
    # moves a row's log-likelihood by at most 1e-8: 6e-6 over 600 rows (ours: 1e-12).
    published = -5821.0629598067562
    assert value == pytest.approx(published, abs=6e-6)
    # Our fit reaches the same limit (announced as degenerate) at least as high.
    with pytest.warns(DegenerateFitWarning, match="hardly determine b"):
        fitted = model.fit(table)
    assert fitted.log_likelihood_ > published - 6e-6
    assert np.allclose(fitted.params_[list(estimate.index[5:])], estimate[5:], atol=0.01)
