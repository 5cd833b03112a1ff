"""Static covariates of the maximum-likelihood models: the published apparel fit (CLVTools),
the likelihood and its gradient, recovery from simulated customers, the checks of bad
covariates, penalties, constraints and the likelihood-ratio test."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _apparel import apparel_table
from _covariate_helpers import covariate_objective, difference_gradient

from clvmodels import (
    BetaGeoModel,
    DegenerateFitWarning,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ValidationError,
)
from clvmodels.estimation.covariate_fit import Coordinates, held_out_log_likelihood
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.fitdata import FitData
from clvmodels.evaluate import likelihood_ratio_test

BOTH = {"purchase_covariates": ["Gender", "Channel"], "dropout_covariates": ["Gender", "Channel"]}


@pytest.fixture(scope="module")
def apparel() -> pd.DataFrame:
    """CLVTools' apparel data with their static covariates (see
    :func:`_apparel.apparel_table`)."""
    return apparel_table()


@pytest.fixture(scope="module")
def apparel_fit(apparel) -> ParetoNBDModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)  # a proper maximum
        return ParetoNBDModel(**BOTH).fit(apparel)


def test_apparel_summary_matches_clvtools_without_covariates(apparel):
    # Pins the summary down: CLVTools' no-covariate Pareto/NBD log-likelihood on it.
    assert len(apparel) == 600
    assert ParetoNBDModel().fit(apparel).log_likelihood_ == pytest.approx(-5848.0978, abs=1e-3)


def test_apparel_pareto_nbd_with_covariates_matches_clvtools(apparel, apparel_fit):
    published = pd.Series({
        "r": 1.8387, "alpha": 92.9435, "s": 0.5913, "beta": 49.5048,
        "purchase.Gender": 0.2860, "purchase.Channel": 0.6239,
        "dropout.Gender": -0.6428, "dropout.Channel": 0.7902,
    })
    assert list(apparel_fit.params_.index) == list(published.index)
    assert apparel_fit.log_likelihood_ == pytest.approx(-5821.0627, abs=1e-3)
    # Both optimisers stop where the log-likelihood is within ~1e-4 of its maximum; an
    # estimate within eps of it lies in the ellipse 0.5 d' I d <= eps, so each parameter is
    # within sqrt(2 eps) standard errors (eps = 1e-3: 0.045 se), plus the printed rounding.
    std_error = apparel_fit.summary()["std_error"]
    tolerance = np.sqrt(2e-3) * std_error + 5e-5 * np.maximum(1, published.abs())
    assert np.all(np.abs(apparel_fit.params_ - published) <= tolerance)
    at_published = held_out_log_likelihood(apparel_fit.family, apparel_fit.covariates_,
                                           published, apparel, np.ones(len(apparel)))
    assert at_published == pytest.approx(apparel_fit.log_likelihood_, abs=1e-3)


def test_a_degenerate_fit_with_covariates_is_announced(apparel):
    # BG/NBD on the apparel data: the dropout of the online customers tends to no
    # heterogeneity (a, b -> infinity at a fixed mean), as the rule of the fits without
    # covariates (standard error of a log-parameter above 5) diagnoses.
    with pytest.warns(DegenerateFitWarning, match="hardly determine a .*dropout.Channel"):
        BetaGeoModel(**BOTH).fit(apparel)


def test_summary_has_coefficients_with_wald_intervals(apparel_fit):
    table = apparel_fit.summary(level=0.95)
    row = table.loc["dropout.Gender"]
    assert row["std_error"] > 0
    # Real coefficients: estimate -+ 1.96 se (the base parameters' intervals are on the log
    # scale and stay positive).
    assert row["lower_95%"] == pytest.approx(row["estimate"] - 1.959964 * row["std_error"])
    assert row["upper_95%"] > 0 > row["lower_95%"] or row["upper_95%"] < 0
    assert (table.loc[["r", "alpha", "s", "beta"], "lower_95%"] > 0).all()
    assert apparel_fit.n_params == 8


# ------------------------------------------------------------------------------ likelihood
def _table(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """A small RFM table simulated from a Pareto/NBD (so that every purchase model has a
    proper maximum on it), with a numeric, a boolean and a string covariate unrelated to it."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(20, 60, n)
    x, t_x, _ = ParetoNBDModel.family.simulate((0.8, 5.0, 0.7, 15.0), T, 0.0, rng)
    return pd.DataFrame({
        "frequency": x, "recency": t_x, "T": T,
        "monetary_value": np.where(x > 0, rng.gamma(4.0, 10.0, n), 0.0),
        "age": rng.normal(40, 10, n), "member": rng.random(n) < 0.4,
        "channel": rng.choice(["online", "offline", "shop"], n),
    }, index=pd.Index(np.arange(n) + 1000, name="customer_id"))


MODELS = {
    "bgnbd": (BetaGeoModel, {"purchase_covariates": ["age", "channel"],
                             "dropout_covariates": ["member", "age"]}),
    "mbgnbd": (ModifiedBetaGeoModel, {"purchase_covariates": ["member"],
                                      "dropout_covariates": ["channel"]}),
    "pnbd": (ParetoNBDModel, {"purchase_covariates": ["age", "channel"],
                              "dropout_covariates": ["member"]}),
    "gamma-gamma": (GammaGammaModel, {"spend_covariates": ["age", "channel"]}),
}


def _objective(name: str, table: pd.DataFrame):
    model_class, covariates = MODELS[name]
    return covariate_objective(model_class(**covariates), table)


@pytest.mark.parametrize("name", list(MODELS))
def test_zero_coefficients_give_the_likelihood_without_covariates(name):
    family, fit_data, coordinates, objective = _objective(name, _table())
    start = family.initial_params(fit_data) * np.array([1.3, 0.8, 1.1, 0.9])[
        :len(family.parameters)]
    phi = np.concatenate([np.log(start), np.zeros(coordinates.n_free)])
    plain = FitData.compress({k: v for k, v in fit_data.columns.items()
                              if not k.startswith("covariate:")}, fit_data.weights)
    # Identical per-row terms summed in another grouping: equal to summation rounding.
    assert objective.log_likelihood(phi)[0] == pytest.approx(
        family.total_log_likelihood(start, plain), rel=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_matches_finite_differences(name):
    family, _, coordinates, objective = _objective(name, _table())
    rng = np.random.default_rng(7)
    start = np.log(family.initial_params(objective.fit_data))
    phi = np.concatenate([start + rng.normal(0, 0.2, len(start)),
                          rng.normal(0, 0.15, coordinates.n_free)])
    _, gradient = objective.log_likelihood(phi)
    numeric = difference_gradient(objective, phi, h=1e-5)
    # Central differences: truncation ~h^2 |LL'''| and rounding ~1e-16 |LL| / h (|LL| ~ 1e3,
    # 1e-8); Pareto/NBD's own per-row gradient differences the dropout integral (~1e-8
    # relative). 1e-5 relative to the largest component covers all three.
    assert np.allclose(gradient, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


# ------------------------------------------------------------------------------ recovery
def _simulated(family, truth: dict, n: int, seed: int) -> pd.DataFrame:
    """Customers with two covariates simulated from per-customer parameters."""
    rng = np.random.default_rng(seed)
    z = pd.DataFrame({"income": rng.normal(0, 1, n), "premium": (rng.random(n) < 0.5) * 1.0})
    base = np.array([truth[name] for name in family.param_names])
    model = type_for(family)(purchase_covariates=["income", "premium"],
                             dropout_covariates=["income", "premium"])
    coordinates = Coordinates.of(family, _design(model, z), np.ones(len(base)))
    coefficients = np.array([truth[name] for name in coordinates.names])
    params = coordinates.per_row(base, coefficients, z.to_numpy())
    T = rng.uniform(30, 80, n)
    x, t_x, _ = family.simulate(params, T, 0.0, rng)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, **z})


def _design(model, table):
    return CovariateDesign.fit(model.covariate_spec(), table, np.ones(len(table), bool),
                               np.ones(len(table)))


def type_for(family):
    return {BetaGeoModel.family: BetaGeoModel, ParetoNBDModel.family: ParetoNBDModel}[family]


@pytest.mark.parametrize("model_class, truth", [
    (BetaGeoModel, {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0,
                    "purchase.income": 0.4, "purchase.premium": -0.5,
                    "dropout.income": -0.3, "dropout.premium": 0.6}),
    (ParetoNBDModel, {"r": 0.9, "alpha": 6.0, "s": 0.8, "beta": 20.0,
                      "purchase.income": 0.4, "purchase.premium": -0.5,
                      "dropout.income": 0.5, "dropout.premium": -0.6}),
])
def test_simulation_recovery(model_class, truth):
    table = _simulated(model_class.family, truth, 6000, seed=11)
    fitted = model_class(purchase_covariates=["income", "premium"],
                         dropout_covariates=["income", "premium"]).fit(table)
    error = (fitted.params_ - pd.Series(truth)) / fitted.summary()["std_error"]
    # Consistent estimates with their standard errors: every parameter within 4 se (for 8
    # approximately normal errors, all within 4 se with probability 0.9995).
    assert np.all(np.abs(error) < 4), error


# ------------------------------------------------------------------------------ predictions
def test_predictions_use_each_customers_covariates(apparel, apparel_fit):
    family = apparel_fit.family
    alive = apparel_fit.probability_alive(apparel)
    expected = apparel_fit.expected_purchases(apparel, 52)
    per_customer = apparel_fit.customer_parameters(apparel)
    params = apparel_fit.params_
    for customer in apparel.index[:5]:
        row = apparel.loc[[customer]]
        p = (params["r"], per_customer["alpha"][apparel.index.get_loc(customer)],
             params["s"], per_customer["beta"][apparel.index.get_loc(customer)])
        x, t_x, T = (row[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        # The family's own formulas at the customer's parameters: the same arithmetic.
        assert alive[customer] == pytest.approx(np.exp(family.log_alive(p, x, t_x, T))[0],
                                                rel=1e-12)
        updated = family.updated_params(p, x, T)
        assert expected[customer] == pytest.approx(
            alive[customer] * family.future_expected(updated, 52.0)[0], rel=1e-12)
    # Customers with the same history but other covariates get other predictions.
    assert not np.allclose(apparel_fit.probability_alive(apparel.assign(Channel=0)), alive)


def test_prediction_without_a_covariate_column_is_refused(apparel, apparel_fit):
    with pytest.raises(ValidationError, match="'Channel'.*not in the table"):
        apparel_fit.expected_purchases(apparel.drop(columns="Channel"), 10)


def test_new_customers_by_covariate_profile(apparel_fit):
    params = apparel_fit.params_
    family = apparel_fit.family
    value = apparel_fit.expected_purchases_new_customer(10.0, covariates={"Gender": 1,
                                                                          "Channel": 0})
    alpha = params["alpha"] * np.exp(-params["purchase.Gender"])
    beta = params["beta"] * np.exp(-params["dropout.Gender"])
    assert value == pytest.approx(
        float(family.expected_new((params["r"], alpha, params["s"], beta), 10.0)), rel=1e-12)
    profiles = pd.DataFrame({"Gender": [0, 1], "Channel": [1, 0]}, index=["a", "b"])
    table = apparel_fit.expected_purchases_new_customer([5.0, 10.0], covariates=profiles)
    assert table.shape == (2, 2) and table.loc["b", 10.0] == pytest.approx(value, rel=1e-12)
    pmf = apparel_fit.probability_of_purchases_new_customer(0, 10.0, covariates=profiles)
    assert list(pmf.index) == ["a", "b"] and ((pmf > 0) & (pmf < 1)).all()
    with pytest.raises(ValidationError, match="fitted with covariates"):
        apparel_fit.expected_purchases_new_customer(10.0)


def test_clv_follows_the_covariates():
    from clvmodels import customer_equity, customer_lifetime_value

    table = _table(300)
    purchase = ParetoNBDModel(purchase_covariates=["age"], dropout_covariates=["member"]).fit(
        table)
    spend = GammaGammaModel(spend_covariates=["channel"]).fit(table)
    clv = customer_lifetime_value(purchase, spend, table, horizon=52)["clv"]
    expected = (purchase.discounted_expected_purchases(table, horizon=52)
                * spend.expected_spend(table))
    assert np.allclose(clv, expected, rtol=1e-12)
    # Equity sums the same per-customer values (summation rounding only).
    equity = customer_equity(purchase, spend, table, horizon=52)
    assert equity.total == pytest.approx(float(expected.sum()), rel=1e-12)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="age"), "column 'age'.*not in the table"),
    (lambda t: t.assign(age=t["age"].where(t.index != 1003)), "column 'age'.*missing.*1003"),
    (lambda t: t.assign(age=5.0), "column 'age'.*does not vary"),
    (lambda t: t.assign(member=(t["age"] * 2 + 1)), "column 'member'.*collinear"),
    (lambda t: t.assign(age=pd.to_datetime("2020-01-01")), "column 'age'.*non-numeric"),
    (lambda t: t.assign(age=[object()] * len(t)), "column 'age'.*non-numeric"),
    (lambda t: t.assign(age=np.inf), "column 'age'.*not finite"),
])
def test_bad_covariates_are_refused_naming_the_column(change, message):
    model = ParetoNBDModel(purchase_covariates=["age", "member"])
    with pytest.raises(ValidationError, match=message):
        model.fit(change(_table()))


def test_collinear_levels_are_refused():
    table = _table().assign(shop=lambda t: (t["channel"] == "shop") * 1.0)
    with pytest.raises(ValidationError, match="'shop'.*collinear"):
        BetaGeoModel(purchase_covariates=["channel", "shop"]).fit(table)


def test_unknown_process_and_bad_settings_are_refused():
    with pytest.raises(ValidationError, match="no spend process"):
        ParetoNBDModel(spend_covariates=["age"]).fit(_table())
    with pytest.raises(ValidationError, match="list of column names"):
        ParetoNBDModel(purchase_covariates="age").fit(_table())
    with pytest.raises(ValidationError, match="covariate_penalizer.*'dropout'"):
        ParetoNBDModel(purchase_covariates=["age"],
                       covariate_penalizer={"dropout": -1}).fit(_table())
    with pytest.raises(ValidationError, match="constrain.*'age'"):
        ParetoNBDModel(purchase_covariates=["age"], constrain=["age"]).fit(_table())


def test_categorical_levels_are_expanded_drop_first():
    table = _table()
    table["channel"] = pd.Categorical(table["channel"], categories=["shop", "online",
                                                                    "offline"])
    fitted = BetaGeoModel(purchase_covariates=["channel"]).fit(table)
    assert [name for name in fitted.params_.index if "." in name] == [
        "purchase.channel[online]", "purchase.channel[offline]"]
    with pytest.raises(ValidationError, match="level 'phone'.*not seen"):
        fitted.probability_alive(table.assign(channel="phone"))


def test_standardize_reports_the_same_coefficients_without_penalty():
    table = _table()
    plain = BetaGeoModel(purchase_covariates=["age"]).fit(table)
    standard = BetaGeoModel(purchase_covariates=["age"], standardize=True).fit(table)
    # Without a penalty the scale of a column changes nothing but the optimiser's path:
    # the same maximum to the optimiser's tolerance.
    assert np.allclose(plain.params_, standard.params_, rtol=1e-4)


# ------------------------------------------------------------------------------ penalties
def test_covariate_penalizer_shrinks_the_coefficients():
    table = _table()
    sizes = [np.abs(BetaGeoModel(purchase_covariates=["age", "member"],
                                 covariate_penalizer={"purchase": penalty})
                    .fit(table).params_[["purchase.age", "purchase.member"]]).sum()
             for penalty in (0.0, 0.1, 10.0)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_constraint_ties_the_coefficients_and_the_lrt(apparel):
    restricted = ParetoNBDModel(**BOTH, constrain=["Gender"]).fit(apparel)
    full = ParetoNBDModel(**BOTH).fit(apparel)
    assert restricted.params_["purchase.Gender"] == restricted.params_["dropout.Gender"]
    assert restricted.n_params == 7
    test = likelihood_ratio_test(restricted, full)
    assert test.df == 1
    assert test.statistic == pytest.approx(
        2 * (full.log_likelihood_ - restricted.log_likelihood_), rel=1e-12)
    assert test.statistic > 0 and 0 < test.p_value < 1
    plain = ParetoNBDModel().fit(apparel)
    assert likelihood_ratio_test(plain, full).df == 4
    with pytest.raises(ValidationError, match="more free parameters"):
        likelihood_ratio_test(full, plain)


# ------------------------------------------------------------------------------ save/load
def test_save_load_keeps_the_covariates(tmp_path):
    table = _table()
    table["channel"] = pd.Categorical(table["channel"])
    model = ParetoNBDModel(purchase_covariates=["age", "channel"],
                           dropout_covariates=["member"]).fit(table)
    path = tmp_path / "model.json"
    model.save(path)
    loaded = ParetoNBDModel.load(path)
    assert loaded.params_.equals(model.params_)
    assert np.allclose(loaded.probability_alive(table), model.probability_alive(table),
                       rtol=0, atol=0)
    assert loaded.covariates_.levels == model.covariates_.levels


def test_load_refuses_tampered_covariates(tmp_path):
    import json

    model = ParetoNBDModel(purchase_covariates=["age"], dropout_covariates=["age"],
                           constrain=["age"]).fit(_table())
    path = tmp_path / "model.json"
    model.save(path)
    document = json.loads(path.read_text())
    for change, message in [
        (lambda d: d["covariates"]["scales"].__setitem__(0, -1.0), "scales must be positive"),
        (lambda d: d["params"].__setitem__("dropout.age", 0.5), "must be equal"),
        (lambda d: d["covariates"]["levels"].__setitem__("age", ["x"]), "levels"),
        # 1 and 1.0 are one level to the lookup of the predictions.
        (lambda d: d["covariates"]["levels"].__setitem__("age", [1, 1.0]), "distinct"),
        (lambda d: d["params"].pop("purchase.age"), "params must name"),
    ]:
        broken = json.loads(json.dumps(document))
        change(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(ValidationError, match=message):
            ParetoNBDModel.load(path)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel])
def test_every_prediction_is_the_customers_own_model(model_class):
    # A customer's prediction under covariates is the prediction of the model without
    # covariates at that customer's parameters: the same formulas, to rounding.
    table = _table(300)
    fitted = model_class(purchase_covariates=["age", "channel"],
                         dropout_covariates=["member"]).fit(table)
    per_customer = fitted.customer_parameters(table)
    predictions = {
        "alive": lambda m, t: m.probability_alive(t),
        "expected": lambda m, t: m.expected_purchases(t, 26),
        "pmf": lambda m, t: m.probability_of_purchases(t, 1, 26),
        "pmf0": lambda m, t: m.probability_of_purchases(t, 0, 26),
        "discounted": lambda m, t: m.discounted_expected_purchases(
            t, horizon=float("inf"), discount_rate=0.01),
        "predictive": lambda m, t: m.predictive_purchases(t, 26)["upper"],
    }
    values = {name: predict(fitted, table) for name, predict in predictions.items()}
    for position in (0, 7, 123):
        params = {name: per_customer[name][position] if name in per_customer
                  else fitted.params_[name] for name in fitted.param_names}
        own = model_class().set_params_(params)
        row = table.iloc[[position]]
        for name, predict in predictions.items():
            assert predict(own, row).iloc[0] == pytest.approx(values[name].iloc[position],
                                                              rel=1e-10), name


def test_expected_spend_uses_the_spend_covariates():
    table = _table(300)
    fitted = GammaGammaModel(spend_covariates=["age"]).fit(table)
    spend = fitted.expected_spend(table)
    gamma = fitted.customer_parameters(table)["gamma"]
    for position in (0, 5, 50):  # also customers without repeat purchases (population mean)
        own = GammaGammaModel().set_params_({"p": fitted.params_["p"],
                                             "q": fitted.params_["q"], "gamma": gamma[position]})
        assert own.expected_spend(table.iloc[[position]]).iloc[0] == pytest.approx(
            spend.iloc[position], rel=1e-12)


def test_simulate_and_set_params_refuse_a_model_with_covariates():
    fitted = BetaGeoModel(purchase_covariates=["age"]).fit(_table())
    with pytest.raises(ValidationError, match="simulate"):
        fitted.simulate(10, 30)
    with pytest.raises(ValidationError, match="set_params_"):
        fitted.set_params_(dict(fitted.params_[list(fitted.param_names)]))


def test_weights_are_repeated_rows():
    table = _table(200)
    doubled = pd.concat([table, table.iloc[:50]])
    doubled.index = pd.RangeIndex(len(doubled), name="customer_id")
    weights = np.r_[np.where(np.arange(200) < 50, 2.0, 1.0)]
    covariates = {"purchase_covariates": ["age"], "dropout_covariates": ["channel"]}
    by_weight = BetaGeoModel(**covariates).fit(table, weights=weights)
    by_rows = BetaGeoModel(**covariates).fit(doubled)
    # The same objective on the same distinct rows: the same optimiser path, to rounding.
    assert np.allclose(by_weight.params_, by_rows.params_, rtol=1e-8)
    assert by_weight.log_likelihood_ == pytest.approx(by_rows.log_likelihood_, rel=1e-10)


def test_standardize_makes_the_penalty_independent_of_the_columns_unit():
    table = _table()
    tenfold = table.assign(age=table["age"] * 10)
    settings = {"purchase_covariates": ["age"], "covariate_penalizer": 0.5}

    def coefficient(data, standardize):
        model = BetaGeoModel(**settings, standardize=standardize).fit(data)
        return model.params_["purchase.age"]

    # With standardize the penalty is on the coefficient of age / sd(age): measuring age in
    # tenths divides the coefficient by 10 exactly (to the optimiser's tolerance); without,
    # the penalty on the raw coefficient weighs differently and the fit is another one.
    assert coefficient(tenfold, True) == pytest.approx(coefficient(table, True) / 10, rel=1e-5)
    assert coefficient(tenfold, False) != pytest.approx(coefficient(table, False) / 10,
                                                        rel=1e-2)
