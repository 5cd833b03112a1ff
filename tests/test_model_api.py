"""The shared model machinery: fitting conventions, weights, summaries, errors, save/load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _apparel import REFERENCE_DATA
from _fitting import fit_data_of, objective_of
from _tolerances import Maximum, assert_same_maximum, stopping_gap
from scipy import optimize

from clvmodels import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    ParetoNBDModel,
    ValidationError,
)
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.optimise import maximise, optimise, subsample_newton

ALL_MODELS = [BetaGeoModel, ParetoNBDModel, GammaGammaModel]
# The reference data sets that are not shipped with the package (the apparel data are GPL-3).


def _fitted(model_class, request):
    name = {BetaGeoModel: "fitted_bgnbd", ParetoNBDModel: "fitted_pnbd",
            GammaGammaModel: "fitted_gg"}[model_class]
    return request.getfixturevalue(name)


@pytest.mark.parametrize("model_class", ALL_MODELS, ids=lambda c: c.__name__)
def test_fit_returns_self_and_sets_fitted_state(model_class, cdnow):
    model = model_class()
    assert model.fit(cdnow) is model
    assert list(model.params_.index) == list(model_class.family.param_names)
    assert model.n_distinct_rows_ <= model.n_customers_
    assert model.aic_ == 2 * len(model.params_) - 2 * model.log_likelihood_  # same operations
    summary = model.summary(level=0.9)
    assert list(summary.columns) == ["estimate", "std_error", "lower_90%", "upper_90%"]
    assert (summary["lower_90%"] < summary["estimate"]).all()
    assert (summary["estimate"] < summary["upper_90%"]).all()
    assert np.isfinite(summary["std_error"]).all()


def test_summary_interval_of_an_undetermined_parameter_is_zero_to_infinity(cdnow):
    """A standard error many times its estimate (a parameter on a likelihood ridge, as the
    GGompertz/NBD's b on CDNOW) makes the log-scale interval's factor overflow: the interval
    is then (0, inf), without a RuntimeWarning."""
    import copy
    import warnings

    model = copy.deepcopy(BetaGeoModel().fit(cdnow))
    model.covariance_ = model.covariance_ * 1e8  # standard errors 1e4 times larger
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = model.summary()
    assert (table["lower_95%"] == 0).all() and np.isposinf(table["upper_95%"]).all()


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
    with pytest.raises(ValueError, match="penalizer must be a finite number >= 0"):
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
    with pytest.raises(ValueError, match="holds a 'BetaGeoModel' model, not a ParetoNBDModel"):
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
    with pytest.raises(ValueError, match=r"q <= 1 in 1 of 1 draw\(s\)"):
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
    with pytest.raises(ValueError, match=r"initial_params: the BG/NBD model has parameters "
                       r"\['r', 'alpha', 'a', 'b'\]; missing \['b'\]"):
        BetaGeoModel().fit(cdnow, initial_params={"r": 1, "alpha": 1, "a": 1})
    with pytest.raises(ValueError, match="parameter 'r' is -1.0; the BG/NBD model needs a "
                       "finite number > 0"):
        BetaGeoModel().set_params_({"r": -1, "alpha": 1, "a": 1, "b": 1})


def test_load_refuses_json_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="other.json: not a clvmodels clvmodels.model file$"):
        BetaGeoModel.load(path)


def test_gamma_gamma_without_repeat_buyers_is_a_clear_error(cdnow):
    with pytest.raises(ValidationError, match="'frequency': no customer has a repeat purchase; "
                                              "the Gamma-Gamma model needs"):
        GammaGammaModel().fit(cdnow.assign(frequency=0, recency=0.0, monetary_value=0.0))


def test_simulate_refuses_bad_ages(fitted_bgnbd):
    with pytest.raises(ValueError, match="T must be positive and finite"):
        fitted_bgnbd.simulate(3, [1.0, 0.0, 2.0])


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
    fit_data = fit_data_of(model, data)
    objective = objective_of(model, fit_data)
    start = model.family.initial_params(fit_data)
    assert subsample_newton(objective, start, "BetaGeoModel") is not None
    general = maximise(objective, start, "BetaGeoModel")
    log_likelihood = -fit_data.weights.sum() * objective(np.log(general))[0]
    assert_same_maximum(fast, Maximum(general, log_likelihood, stopping_gap(
        log_likelihood, fit_data.weights.sum(), fit_data.n_rows)))


@pytest.mark.parametrize("key_limit", [2**62, 4])
@pytest.mark.parametrize("span_limit", [2**31, 2])
def test_row_codes_number_distinct_rows_in_order_of_appearance(key_limit, span_limit,
                                                               monkeypatch):
    """Also when the combined key has to be re-coded to stay small (a low limit forces it),
    and whether whole-number columns are coded by offset or (a low span limit) by hashing."""
    from clvmodels.estimation import fitdata

    monkeypatch.setattr(fitdata, "_KEY_LIMIT", key_limit)
    monkeypatch.setattr(fitdata, "_SPAN_LIMIT", span_limit)
    rng = np.random.default_rng(0)
    columns = [rng.integers(0, 3, 500).astype(float), rng.integers(0, 4, 500) / 7.0,
               rng.integers(0, 5, 500) * 1.5, rng.integers(-9, 9, 500)]
    expected = pd.DataFrame(dict(enumerate(columns))).groupby([0, 1, 2, 3], sort=False).ngroup()
    np.testing.assert_array_equal(fitdata.row_codes(columns), expected.to_numpy())




def test_fit_runs_the_optimiser_with_one_blas_thread(cdnow, monkeypatch):
    """numpy's and scipy's OpenBLAS thread pools contend on every optimiser step, so fit()
    limits BLAS to one thread while it optimises, and gives the limits back afterwards."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    from clvmodels.estimation import optimise as optimise_module

    def recording(objective, start, owner):
        seen.extend(blas_threads())
        return optimise(objective, start, owner)

    # fit() reaches the optimiser through fit_maximum_likelihood (which rescales the data).
    monkeypatch.setattr(optimise_module, "optimise", recording)
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
            "excluded_customers_['zero_spend'] counts them"]
        assert caught[0].filename == __file__  # points at the caller of fit()
    else:
        assert messages == []
    without = GammaGammaModel().fit(table.drop(at_zero))
    # The same distinct rows in the same order: the same optimisation, bit for bit.
    pd.testing.assert_series_equal(model.params_, without.params_, check_exact=True)
    assert model.log_likelihood_ == without.log_likelihood_
    assert model.n_customers_ == without.n_customers_ == (table["monetary_value"] > 0).sum()
    assert model.excluded_customers_["zero_spend"] == len(at_zero)
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
    assert weighted.excluded_customers_["zero_spend"] == 3
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
