"""The shared model machinery: fitting conventions, weights, summaries, errors, save/load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tolerances import Maximum, assert_same_maximum, stopping_gap
from scipy import optimize

from clvmodels import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    ParetoNBDModel,
    ValidationError,
)
from clvmodels.models._base import FitData

ALL_MODELS = [BetaGeoModel, ParetoNBDModel, GammaGammaModel]
# The reference data sets that are not shipped with the package (the apparel data are GPL-3).
REFERENCE_DATA = Path(os.environ.get("CLVMODELS_REFERENCE_DATA", "/work/shared/data"))


def _fitted(model_class, request):
    name = {BetaGeoModel: "fitted_bgnbd", ParetoNBDModel: "fitted_pnbd",
            GammaGammaModel: "fitted_gg"}[model_class]
    return request.getfixturevalue(name)


@pytest.mark.parametrize("model_class", ALL_MODELS, ids=lambda c: c.__name__)
def test_fit_returns_self_and_sets_fitted_state(model_class, cdnow):
    model = model_class()
    assert model.fit(cdnow) is model
    assert list(model.params_.index) == list(model_class.param_names)
    assert model.n_distinct_rows_ <= model.n_customers_
    assert model.aic_ == 2 * len(model.params_) - 2 * model.log_likelihood_  # same operations
    summary = model.summary(level=0.9)
    assert list(summary.columns) == ["estimate", "std_error", "lower_90%", "upper_90%"]
    assert (summary["lower_90%"] < summary["estimate"]).all()
    assert (summary["estimate"] < summary["upper_90%"]).all()
    assert np.isfinite(summary["std_error"]).all()


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel], ids=lambda c: c.__name__)
def test_weights_equal_repeated_rows(model_class, cdnow):
    """A table with counts per distinct row fits exactly like the table it stands for."""
    counts = cdnow.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    weighted = model_class().fit(counts, weights=counts["count"])
    plain = model_class().fit(cdnow)
    assert_same_maximum(weighted, plain)  # the same likelihood, its rows in another order
    assert weighted.n_customers_ == len(cdnow)


def test_standard_errors_match_lifetimes_hessian(fitted_bgnbd):
    """Fader-Hardie-Lee's BG/NBD standard errors are not published; lifetimes reports
    0.0126, 0.378, 0.186, 0.705 (its own Hessian, 3 significant figures): ours agree to half a
    unit of the last printed digit. (Our analytic Hessian is exact to ~1e-10, and lifetimes'
    BFGS stops ~2e-4 standard errors from our maximum, which moves a standard error by
    ~2e-4 / sqrt(2357) of itself: both far below the printed digits.)"""
    printed = np.array([0.0126, 0.378, 0.186, 0.705])
    half_unit = np.array([5e-5, 5e-4, 5e-4, 5e-4])
    assert np.all(np.abs(fitted_bgnbd.summary()["std_error"] - printed) <= half_unit)


def test_penalizer_shrinks(cdnow):
    plain = BetaGeoModel().fit(cdnow)
    penalised = BetaGeoModel(penalizer=0.1).fit(cdnow)
    assert (penalised.params_**2).sum() < (plain.params_**2).sum()
    with pytest.raises(ValueError, match="penalizer must be >= 0"):
        BetaGeoModel(penalizer=-1).fit(cdnow)


@pytest.mark.parametrize("model_class", ALL_MODELS, ids=lambda c: c.__name__)
def test_save_load_round_trip(model_class, request, tmp_path):
    model = _fitted(model_class, request)
    path = tmp_path / "model.json"
    model.save(path)
    document = json.loads(path.read_text())
    assert document["model"] == model_class.__name__ and document["time_unit"] in ("W", None)
    loaded = model_class.load(path)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_frame_equal(loaded.covariance_, model.covariance_)
    assert loaded.log_likelihood_ == model.log_likelihood_
    assert loaded.time_unit_ == model.time_unit_


def test_load_refuses_other_model_type_and_newer_format(fitted_bgnbd, tmp_path):
    path = tmp_path / "model.json"
    fitted_bgnbd.save(path)
    with pytest.raises(ValueError, match="holds a BetaGeoModel, not a ParetoNBDModel"):
        ParetoNBDModel.load(path)
    document = json.loads(path.read_text())
    document["format_version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format version 99.*Upgrade clvmodels"):
        BetaGeoModel.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a clvmodels model file"):
        BetaGeoModel.load(path)


def test_unfitted_model_says_so(cdnow):
    with pytest.raises(RuntimeError, match="not fitted yet"):
        BetaGeoModel().expected_purchases(cdnow, 10)


def test_bad_prediction_arguments(fitted_bgnbd, cdnow):
    with pytest.raises(ValidationError, match="t must be finite and >= 0"):
        fitted_bgnbd.expected_purchases(cdnow, -1)
    with pytest.raises(ValidationError, match="n must be a whole number"):
        fitted_bgnbd.probability_of_purchases(cdnow, 1.5, 10)
    with pytest.raises(ValidationError, match=r"'recency': 58 row\(s\) invalid \(e.g. "
                       r"customer 59\); expected recency <= T"):
        fitted_bgnbd.probability_alive(cdnow.assign(recency=lambda d: d["recency"] + 1))


def test_predictions_are_indexed_like_the_input(fitted_bgnbd, cdnow):
    shuffled = cdnow.sample(frac=1.0, random_state=0)
    result = fitted_bgnbd.expected_purchases(shuffled, 39)
    assert result.index.equals(shuffled.index)
    pd.testing.assert_series_equal(result.sort_index(), fitted_bgnbd.expected_purchases(cdnow, 39))


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel], ids=lambda c: c.__name__)
def test_no_repeat_buyers_is_a_clear_error(model_class, cdnow):
    with pytest.raises(ValidationError, match="no customer has a repeat purchase"):
        model_class().fit(cdnow.assign(frequency=0, recency=0.0))


def test_optimiser_failure_says_what_was_tried(cdnow, monkeypatch):
    def failing_minimize(fun, x0, method, **kwargs):
        return optimize.OptimizeResult(x=x0, fun=np.nan, success=False, message="stalled")

    monkeypatch.setattr(optimize, "minimize", failing_minimize)
    with pytest.raises(ConvergenceError, match="Tried L-BFGS-B: stalled.*Nelder-Mead: stalled"
                       ".*Started from.*penalizer"):
        BetaGeoModel().fit(cdnow)


def test_gamma_gamma_needs_q_above_one_for_the_mean(cdnow):
    model = GammaGammaModel().set_params_({"p": 1.0, "q": 0.9, "gamma": 1.0})
    with pytest.raises(ValueError, match="q = 0.9 <= 1"):
        model.expected_spend(cdnow)


def test_gamma_gamma_simulation_recovers_parameters(fitted_gg):
    rng = np.random.default_rng(5)
    frequency = pd.Series(rng.integers(1, 20, 100_000))
    spend = fitted_gg.simulate(frequency, random_state=rng)
    fitted = GammaGammaModel().fit(pd.DataFrame({"frequency": frequency, "monetary_value": spend}))
    error = (fitted.params_ - fitted_gg.params_).abs()
    # Within 4 standard errors: a false alarm has probability ~6e-5 per parameter (Gaussian
    # estimates, 100,000 customers), and the seed is fixed.
    assert (error <= 4 * fitted.summary()["std_error"]).all()


@pytest.mark.parametrize("weights, message", [
    (np.ones(3), r"weights: expected one weight per row \(2357\), got shape \(3,\)"),
    (np.r_[-1.0, np.ones(2356)], r"weights: 1 row\(s\) invalid \(e.g. customer 1\); expected "
                                 "finite, non-negative numbers"),
    (np.zeros(2357), "BetaGeoModel: no customer rows to fit"),
])
def test_bad_weights_are_named(cdnow, weights, message):
    with pytest.raises(ValidationError, match=message):
        BetaGeoModel().fit(cdnow, weights=weights)


def test_bad_parameter_values_are_named(cdnow):
    with pytest.raises(ValueError, match=r"parameters missing: \['b'\]"):
        BetaGeoModel().fit(cdnow, initial_params={"r": 1, "alpha": 1, "a": 1})
    with pytest.raises(ValueError, match="parameters must all be positive and finite"):
        BetaGeoModel().set_params_({"r": -1, "alpha": 1, "a": 1, "b": 1})


def test_load_refuses_json_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="other.json: not a clvmodels model file$"):
        BetaGeoModel.load(path)


def test_gamma_gamma_without_repeat_buyers_is_a_clear_error(cdnow):
    with pytest.raises(ValidationError, match="'frequency': no customer has a repeat purchase; "
                                              "the Gamma-Gamma model needs"):
        GammaGammaModel().fit(cdnow.assign(frequency=0, recency=0.0, monetary_value=0.0))


def test_simulate_refuses_bad_ages(fitted_bgnbd):
    with pytest.raises(ValueError, match="T must be positive and finite"):
        fitted_bgnbd.simulate(3, [1.0, 0.0, 2.0])


@pytest.mark.parametrize("model_class", [BetaGeoModel, GammaGammaModel], ids=lambda c: c.__name__)
def test_analytic_gradient_matches_finite_differences(model_class, cdnow):
    """The fused likelihood-and-gradient equals the per-row likelihood and its central
    differences.

    The fused pass groups the terms differently (by levels of x) and sums them in another
    order: parts up to ~100 times a row's value, each to a few ulps, plus the sum's
    (n - 1) * 2**-53 over ~1,000 rows of one sign: ~2e-13 relative, 1e-12 asked. The central
    differences (relative step 1e-6) carry truncation ~h**2 * third derivative ~1e-9 relative,
    and rounding: each total is accurate to a few ulps of |LL| ~1e4 (~1e-12), divided by
    2 h |gradient| >= 6e-6 for every component here: ~2e-7 relative, 1e-6 asked.
    """
    model = model_class()
    columns, mask = model._fit_columns(cdnow)
    fit_data = FitData.compress(columns, np.ones(int(mask.sum())))
    params = {BetaGeoModel: np.array([0.3, 5.0, 0.7, 2.0]),
              GammaGammaModel: np.array([5.0, 3.0, 12.0])}[model_class]
    total, gradient = model._log_likelihood_and_gradient(params, fit_data)

    def total_at(p):
        return fit_data.weights @ model._log_likelihood(p, fit_data)

    assert total == pytest.approx(total_at(params), rel=1e-12)
    h = 1e-6 * params
    numeric = [(total_at(params + step) - total_at(params - step)) / (2 * step.sum())
               for step in np.diag(h)]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6)


def test_compress_matches_pandas_groupby(cdnow):
    columns = {"x": cdnow["frequency"].to_numpy(float), "t_x": cdnow["recency"].to_numpy(),
               "T": cdnow["T"].to_numpy()}
    weights = np.arange(len(cdnow)) % 3  # some zero weights: their rows must disappear
    compressed = FitData.compress(columns, weights.astype(float))
    grouped = (pd.DataFrame(columns).assign(w=weights)
               .groupby(["x", "t_x", "T"], sort=False)["w"].sum())
    grouped = grouped[grouped > 0]
    np.testing.assert_array_equal(compressed.weights, grouped.to_numpy())
    np.testing.assert_array_equal(
        np.column_stack([compressed[name] for name in columns]), np.array(grouped.index.tolist())
    )


def test_large_fit_newton_path_agrees_with_the_general_optimiser():
    """Above 200,000 distinct rows the fit starts from a subset and takes Newton steps; it
    must land where L-BFGS-B from scratch lands: the same maximum, compared in log-likelihood
    and standard errors (tests/_tolerances.py)."""
    truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    rng = np.random.default_rng(3)
    T = rng.uniform(20.0, 80.0, 250_000)  # continuous: every customer is a distinct row
    data = BetaGeoModel().set_params_(truth).simulate(len(T), T, random_state=rng)
    fast = BetaGeoModel().fit(data)
    model = BetaGeoModel()
    columns, _ = model._fit_columns(data)
    fit_data = FitData.compress(columns, np.ones(len(data)))
    assert model._subsample_newton(fit_data, model._initial_params(fit_data)) is not None
    general = model._maximise(fit_data, model._initial_params(fit_data))
    log_likelihood = -fit_data.weights.sum() * model._objective(np.log(general), fit_data)[0]
    assert_same_maximum(fast, Maximum(general, log_likelihood, stopping_gap(
        log_likelihood, fit_data.weights.sum(), fit_data.n_rows)))


@pytest.mark.parametrize("key_limit", [2**62, 4])
@pytest.mark.parametrize("span_limit", [2**31, 2])
def test_row_codes_number_distinct_rows_in_order_of_appearance(key_limit, span_limit,
                                                               monkeypatch):
    """Also when the combined key has to be re-coded to stay small (a low limit forces it),
    and whether whole-number columns are coded by offset or (a low span limit) by hashing."""
    from clvmodels.models import _base

    monkeypatch.setattr(_base, "_KEY_LIMIT", key_limit)
    monkeypatch.setattr(_base, "_SPAN_LIMIT", span_limit)
    rng = np.random.default_rng(0)
    columns = [rng.integers(0, 3, 500).astype(float), rng.integers(0, 4, 500) / 7.0,
               rng.integers(0, 5, 500) * 1.5, rng.integers(-9, 9, 500)]
    expected = pd.DataFrame(dict(enumerate(columns))).groupby([0, 1, 2, 3], sort=False).ngroup()
    np.testing.assert_array_equal(_base.row_codes(columns), expected.to_numpy())


@pytest.mark.parametrize("model_fixture", ["fitted_bgnbd", "fitted_gg"])
def test_hessian_routes_agree(model_fixture, request, cdnow, monkeypatch):
    """The observed information by every route a model has: its analytic Hessian (BG/NBD),
    forward differences of its analytic gradient, and central second differences of the
    likelihood alone. Forward differences of the gradient (h = 1e-6) are off by ~h * third /
    second derivative ~1e-6 relative (2e-5 asked); second differences (h = 1e-4) carry the mean
    objective's rounding (a few ulps of |f| ~ 4, ~1e-15) over h**2, ~1e-7 absolute (the floor),
    their truncation h**2 / 12 ~ 1e-9 being smaller."""
    model = request.getfixturevalue(model_fixture)
    columns, mask = model._fit_columns(cdnow)
    fit_data = FitData.compress(columns, np.ones(int(mask.sum())))
    log_params = np.log(model.params_.to_numpy())
    routes = [model._objective_hessian(log_params, fit_data)]
    for route in ("_has_hessian", "_has_gradient"):
        monkeypatch.setattr(type(model), route, property(lambda self: False))
        routes.append(model._objective_hessian(log_params, fit_data))
    for hessian in routes[1:]:
        np.testing.assert_allclose(routes[0], hessian, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize(("model_class", "params"), [
    (BetaGeoModel, [0.243, 4.414, 0.793, 2.426]),  # CDNOW
    (BetaGeoModel, [2.0, 0.5, 5.0, 0.3]),  # fast buyers, b < 1
    (BetaGeoModel, [0.05, 50.0, 0.2, 20.0]),  # rare buyers, rare dropout
    (GammaGammaModel, [6.25, 3.74, 15.44]),  # CDNOW
    (GammaGammaModel, [0.5, 20.0, 1.0]),  # skewed spend, homogeneous customers
    (GammaGammaModel, [50.0, 1.5, 300.0]),  # near-constant spend, heavy-tailed customers
], ids=lambda value: getattr(value, "__name__", ""))
def test_analytic_hessian_matches_differences_of_the_gradient(model_class, params, cdnow):
    """Each column of a model's analytic Hessian against central differences of its analytic
    gradient (itself checked against the likelihood elsewhere). With a relative step h = 1e-5
    the truncation error is ~h**2 ~ 1e-10 and rounding ~eps / h ~ 1e-11 of the gradient's
    scale, so 1e-7 relative (to each entry or the column's largest) is ample."""
    model = model_class()
    columns, mask = model._fit_columns(cdnow)
    fit_data = FitData.compress(columns, np.ones(int(mask.sum())))
    params = np.array(params)
    total, gradient, hessian = model._log_likelihood_gradient_hessian(params, fit_data)
    assert total == pytest.approx(np.dot(fit_data.weights, model._log_likelihood(params, fit_data)),
                                  rel=1e-12)
    # The same code computes the gradient, with or without the Hessian (the Hessian's total is
    # a sum in another order: rounding as in the test above, 1e-12).
    np.testing.assert_array_equal(gradient,
                                  model._log_likelihood_and_gradient(params, fit_data)[1])
    np.testing.assert_array_equal(hessian, hessian.T)
    h = 1e-5
    for column, step in enumerate(np.eye(len(params)) * params * h):
        difference = (model._log_likelihood_and_gradient(params + step, fit_data)[1]
                      - model._log_likelihood_and_gradient(params - step, fit_data)[1])
        expected = difference / (2 * step[column])
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(hessian[:, column], expected, rtol=1e-7, atol=1e-7 * scale)




def test_fit_runs_the_optimiser_with_one_blas_thread(cdnow, monkeypatch):
    """numpy's and scipy's OpenBLAS thread pools contend on every optimiser step, so fit()
    limits BLAS to one thread while it optimises, and gives the limits back afterwards."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    optimise = BetaGeoModel._optimise

    def recording(self, fit_data, start):
        seen.extend(blas_threads())
        return optimise(self, fit_data, start)

    monkeypatch.setattr(BetaGeoModel, "_optimise", recording)
    BetaGeoModel().fit(cdnow)
    assert seen and set(seen) == {1}
    assert blas_threads() == before


# ----------------------------------------------------------------------------- zero spend
def _repeat_buyers_at_zero(log: pd.DataFrame, customer: str, date: str, amount: str) -> pd.Index:
    """Customers whose purchase days after the first are all worth 0, from the log alone."""
    days = log.groupby([customer, pd.to_datetime(log[date]).dt.normalize()])[amount].sum()
    first_day = days.groupby(level=0).head(1).index
    repeat = days.drop(first_day)
    worth = repeat.groupby(level=0).sum()
    return worth.index[worth == 0]


@pytest.fixture(scope="module", params=["cdnow_full", "apparel"])
def log_with_free_purchases(request):
    """Real logs with purchases of $0: the full CDNOW log and CLVTools' apparel data."""
    from clvmodels import load_cdnow_transactions

    if request.param == "cdnow_full":
        log, columns = load_cdnow_transactions(sample=False), ("customer_id", "date", "amount")
    else:
        path = REFERENCE_DATA / "apparel_transactions.csv"
        if not path.is_file():
            pytest.skip(f"{path} not found (set CLVMODELS_REFERENCE_DATA)")
        log, columns = pd.read_csv(path), ("Id", "Date", "Price")
    assert (log[columns[2]] == 0).any()
    return log, columns


def test_gamma_gamma_leaves_out_repeat_buyers_at_zero_spend(log_with_free_purchases):
    import warnings

    from clvmodels import rfm_summary

    log, (customer, date, amount) = log_with_free_purchases
    table = rfm_summary(log, customer, date, amount_col=amount)
    at_zero = _repeat_buyers_at_zero(log, customer, date, amount)
    # The full CDNOW log has one (a $15.96 first purchase, then one of $0); in the apparel
    # data every $0 purchase is a first purchase or shares its customer with paid repeat ones.
    assert len(at_zero) == (1 if customer == "customer_id" else 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GammaGammaModel().fit(table)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if len(at_zero):
        example = at_zero.tolist()[0]
        assert messages == [
            f"GammaGammaModel: {len(at_zero)} customer(s) with repeat purchases all worth 0 "
            f"(e.g. customer {example!r}) were left out of the fit, as the model's spends "
            "are positive (column 'monetary_value' is 0); like customers without repeat "
            "purchases, they get the population mean spend p * gamma / (q - 1). "
            "n_customers_zero_spend_ counts them"]
        assert caught[0].filename == __file__  # points at the caller of fit()
    else:
        assert messages == []
    without = GammaGammaModel().fit(table.drop(at_zero))
    # The same distinct rows in the same order: the same optimisation, bit for bit.
    pd.testing.assert_series_equal(model.params_, without.params_, check_exact=True)
    assert model.log_likelihood_ == without.log_likelihood_
    assert model.n_customers_ == without.n_customers_ == (table["monetary_value"] > 0).sum()
    assert model.n_customers_zero_spend_ == len(at_zero)
    assert model.n_customers_excluded_ == (table["frequency"] == 0).sum() + len(at_zero)
    p, q, gamma = model.params_
    spend = model.expected_spend(table)
    np.testing.assert_array_equal(spend[at_zero], p * gamma / (q - 1))


def test_gamma_gamma_zero_spend_counts_customers_of_weighted_rows(cdnow):
    table = cdnow.copy()
    table.loc[table.index[table["frequency"] > 0][:3], "monetary_value"] = 0.0
    counts = (table.groupby(["frequency", "monetary_value"]).size().rename("count")
              .reset_index())
    with pytest.warns(UserWarning, match=r"GammaGammaModel: 3 customer\(s\) with repeat "):
        weighted = GammaGammaModel().fit(counts, weights=counts["count"])
    assert weighted.n_customers_zero_spend_ == 3
    assert weighted.n_customers_excluded_ == (cdnow["frequency"] == 0).sum() + 3
    assert weighted.n_customers_ == (cdnow["frequency"] > 0).sum() - 3


def test_gamma_gamma_with_every_repeat_buyer_at_zero_is_a_clear_error(cdnow):
    first_repeat_buyer = int(cdnow.index[cdnow["frequency"] > 0][0])
    with pytest.raises(ValidationError, match=(
            r"column 'monetary_value': all 946 customer\(s\) with repeat purchases have a mean "
            rf"spend of 0 \(e.g. customer {first_repeat_buyer!r}\); expected some repeat buyers "
            "with a positive spend")):
        GammaGammaModel().fit(cdnow.assign(monetary_value=0.0))
    with pytest.raises(ValidationError, match="'monetary_value'.*expected non-negative spend"):
        GammaGammaModel().fit(cdnow.assign(monetary_value=-cdnow["monetary_value"]))
