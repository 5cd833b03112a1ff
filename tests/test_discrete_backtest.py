"""Backtests and model comparison of the BG/BB in discrete time: the calibration/holdout table
in whole calendar periods, the backtest, its baselines (exposure ``periods``) and
``compare_models``.

The table is checked by hand on a five-customer log in years; the backtest on a log simulated
year by year from known BG/BB parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ValidationError,
    backtest,
    calibration_holdout,
    compare_models,
)
from clvmodels.baselines import CALIBRATION_RATE, ZERO, baseline_forecasts, exposure_column
from clvmodels.models import MODELS

TRUTH = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.78}
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW, in weeks


def tiny_log() -> pd.DataFrame:
    """Per customer (first year; calibration years to 2002 with a transaction; holdout years
    2003-2004 with one): a (2000; 2001 twice; 2003), b (2001; -; 2004), c (2001; -; -),
    d (2002: no calibration opportunity), e (2003: not in the cohort)."""
    rows = [
        ("a", "2000-03-01", 10.0), ("a", "2001-05-01", 20.0), ("a", "2001-06-01", 30.0),
        ("a", "2003-02-01", 40.0), ("b", "2001-01-05", 5.0), ("b", "2004-12-31", 7.0),
        ("c", "2001-07-07", 1.0), ("d", "2002-02-02", 1.0), ("e", "2003-03-03", 1.0),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def test_a_hand_worked_table_in_years():
    table = calibration_holdout(tiny_log(), amount_col="amount", period="Y",
                                calibration_end="2002-12-31", observation_end="2004-12-31")
    # a: first 2000; 2001 (two transactions, one period) of opportunities 2001-2002; then
    # 2003 of the holdout's 2003-2004. Spend: the repeat period's 20 + 30, the holdout's 40.
    expected = pd.DataFrame(
        {
            "frequency": [1, 0, 0],
            "recency": [1, 0, 0],
            "periods": [2, 1, 1],
            "monetary_value": [50.0, 0.0, 0.0],
            "monetary_value_holdout": [40.0, 7.0, 0.0],
            "frequency_holdout": [1, 1, 0],
            "duration_holdout": [2, 2, 2],
        },
        index=pd.Index(["a", "b", "c"], name="customer_id"),
    ).astype({"frequency": "int64", "recency": "int64", "periods": "int64",
              "frequency_holdout": "int64", "duration_holdout": "int64"})
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_index_type=False)
    assert table.attrs["time_unit"] == "Y"
    assert table.attrs["n_customers_excluded"] == 1  # e: first transaction after 2002
    assert table.attrs["n_customers_without_opportunity"] == 1  # d: first seen in 2002
    assert table.attrs["n_transactions"] == 9
    # The calibration-rate baseline in discrete time: frequency / periods per period, times
    # the 2 holdout periods (a: 1 / 2 * 2; exact binary fractions).
    assert exposure_column(table) == "periods"
    forecasts = baseline_forecasts(table)
    assert forecasts[CALIBRATION_RATE].tolist() == [1.0, 0.0, 0.0]
    assert forecasts[ZERO].tolist() == [0.0, 0.0, 0.0]


def test_months_and_monday_weeks_must_be_whole():
    log = pd.DataFrame({"customer_id": ["a", "a", "a"],
                        "date": ["2024-01-03", "2024-01-10", "2024-01-20"]})
    # Weeks start on Monday: 2024-01-07 and 2024-01-21 are Sundays, the last days of weeks.
    weekly = calibration_holdout(log, calibration_end="2024-01-14",
                                          observation_end="2024-01-21", period="W")
    assert weekly.loc["a", ["frequency", "recency", "periods", "frequency_holdout",
                            "duration_holdout"]].tolist() == [1, 1, 1, 1, 1]
    monthly = calibration_holdout(
        pd.DataFrame({"customer_id": ["a", "a", "a"],
                      "date": ["2024-01-03", "2024-02-29", "2024-03-05"]}),
        calibration_end="2024-02-29", observation_end="2024-03-31", period="M")
    assert monthly.loc["a", ["frequency", "recency", "periods", "frequency_holdout",
                             "duration_holdout"]].tolist() == [1, 1, 1, 1, 1]
    with pytest.raises(ValidationError, match=r"calibration_end 2024-02-28.*last day of a "
                       r"month.*e\.g\. 2024-01-31 or 2024-02-29"):
        calibration_holdout(log, calibration_end="2024-02-28",
                                     observation_end="2024-03-31", period="M")
    with pytest.raises(ValidationError, match=r"observation_end 2024-01-20.*last day of a week"
                       r".*2024-01-14 or 2024-01-21"):
        # The default observation end, the last transaction (a Saturday), is no week's end.
        calibration_holdout(log, calibration_end="2024-01-14", period="W")
    # Only customer a, first seen in the calibration's last week: nobody to condition on.
    with pytest.raises(ValidationError, match=r"first seen in its last week"):
        calibration_holdout(log, calibration_end="2024-01-07",
                                     observation_end="2024-01-21", period="W")


def simulated_log(n_customers: int, rng: np.random.Generator) -> pd.DataFrame:
    """A log drawn year by year from the BG/BB at TRUTH: everyone's first transaction in 2000,
    then per year 2001-2010, while alive (dropping out at the start of a year with
    probability theta), a transaction with probability p."""
    alpha, beta, gamma, delta = TRUTH.values()
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    years = np.arange(2001, 2011)
    alive = np.cumprod(rng.random((n_customers, len(years))) >= theta[:, None], axis=1)
    bought = alive.astype(bool) & (rng.random((n_customers, len(years))) < p[:, None])
    customers, year = np.nonzero(bought)
    dates = ["2000-06-15"] * n_customers + [f"{y}-03-10" for y in years[year]]
    return pd.DataFrame({"customer_id": np.concatenate([np.arange(n_customers), customers]),
                         "date": pd.to_datetime(dates)})


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulated_log(3000, np.random.default_rng(15))


def backtest_years(log: pd.DataFrame, model, **fit) -> object:
    # Calibration 2001-2005 (5 opportunities each), holdout 2006-2010 (5 periods).
    return backtest(log, calibration_end="2005-12-31", observation_end="2010-12-31",
                    model=model, time_unit="Y", **fit)


def test_a_backtest_at_the_true_parameters_beats_the_zero_forecast(simulated):
    model = BetaGeoBetaBinomModel().set_params_(TRUTH, time_unit="Y")
    result = backtest_years(simulated, model)
    data = result.data
    assert exposure_column(data) == "periods"
    assert (data["periods"] == 5).all() and (data["duration_holdout"] == 5).all()
    predicted = result.predictions["predicted"]
    np.testing.assert_array_equal(predicted, model.expected_purchases(data, 5).to_numpy())
    # The true conditional mean E = E[Y | history] satisfies E[(Y - E)^2] = E[Y^2] - E[E^2]:
    # the zero forecast's mean squared error exceeds the model's by mean(E^2) in expectation.
    # The sample difference is mean(2 (Y - E) E + E^2), whose noise is mean(2 (Y - E) E):
    # mean 0, standard error estimated from the data; 4 of them leave a margin that is a
    # fact of the data (a Gaussian tail of 3e-5).
    actual = result.predictions["actual"].to_numpy()
    noise = 2 * (actual - predicted.to_numpy()) * predicted.to_numpy()
    standard_error = noise.std(ddof=1) / np.sqrt(len(noise))
    gain = result.baselines.loc[ZERO, "rmse"] ** 2 - result.metrics["rmse"] ** 2
    margin = np.mean(predicted.to_numpy() ** 2) - 4 * standard_error
    assert margin > 0.5  # the cohort buys: the data make the margin a real one
    assert gain > margin
    assert result.metrics["mae"] < result.baselines.loc[ZERO, "mae"]
    # The calibration-rate baseline reads periods: frequency / 5 per year, times 5 years.
    np.testing.assert_array_equal(result.baseline_predictions[CALIBRATION_RATE],
                                  data["frequency"] / data["periods"] * 5)


def test_a_named_bgbb_is_fitted_on_the_discrete_calibration(simulated):
    result = backtest_years(simulated, "bgbb")
    fitted = BetaGeoBetaBinomModel().fit(result.data)
    # The same table, the same optimiser: the same estimates to its tolerance (1e-6 relative
    # is far above the optimiser's gradient tolerance on a smooth 4-parameter likelihood).
    np.testing.assert_allclose(result.model.params_, fitted.params_, rtol=1e-6)
    assert result.metrics["customers"] == len(simulated["customer_id"].unique())
    assert result.metrics["actual_total"] == result.data["frequency_holdout"].sum()


def test_compare_models_rows_for_bgbb_backtests(simulated):
    truth = backtest_years(simulated, BetaGeoBetaBinomModel().set_params_(TRUTH, time_unit="Y"))
    fitted = backtest_years(simulated, "bgbb")
    table = compare_models({"truth": truth, "fitted": fitted})
    assert list(table.index) == ["truth", "fitted", CALIBRATION_RATE, ZERO]
    assert table["baseline"].tolist() == [False, False, True, True]
    assert table.loc["fitted", "mae"] == fitted.metrics["mae"]
    assert table.loc[ZERO, "rmse"] == truth.baselines.loc[ZERO, "rmse"]
    assert table.loc["fitted", "log_likelihood"] == pytest.approx(
        fitted.model.log_likelihood(fitted.data), rel=1e-12)  # the same sum, re-evaluated


def test_compare_models_mixing_discrete_and_continuous_tables(simulated):
    discrete = backtest_years(simulated, BetaGeoBetaBinomModel().set_params_(TRUTH,
                                                                             time_unit="Y"))
    continuous = backtest(simulated, calibration_end="2005-12-31",
                          observation_end="2010-12-31", time_unit="W",
                          model=BetaGeoModel().set_params_(PUBLISHED_BGNBD, time_unit="W"))
    assert exposure_column(continuous.data) == "T"
    table = compare_models({"bgbb": discrete, "bgnbd": continuous})
    # Different tables (periods vs T): each gets its own baseline rows, scored on its data.
    assert list(table.index) == [
        "bgbb", "bgnbd",
        f"{CALIBRATION_RATE} (data of bgbb)", f"{ZERO} (data of bgbb)",
        f"{CALIBRATION_RATE} (data of bgnbd)", f"{ZERO} (data of bgnbd)",
    ]
    assert table.loc[f"{ZERO} (data of bgbb)", "mae"] == discrete.baselines.loc[ZERO, "mae"]
    assert table.loc[f"{CALIBRATION_RATE} (data of bgnbd)", "mae"] == (
        continuous.baselines.loc[CALIBRATION_RATE, "mae"])


def test_the_errors():
    log = tiny_log()
    with pytest.raises(ValidationError, match=r"calibration_end 2002-06-30.*last day of a year"):
        backtest(log, calibration_end="2002-06-30", observation_end="2004-12-31", model="bgbb")
    table = calibration_holdout(log, calibration_end="2002-12-31",
                                observation_end="2004-12-31", period="Y")
    with pytest.raises(ValidationError, match=r"'T' / 'periods'.*has both"):
        baseline_forecasts(table.assign(T=1.0))
    with pytest.raises(ValidationError, match=r"'T' / 'periods'.*has neither"):
        baseline_forecasts(table.drop(columns="periods"))
    with pytest.raises(ValueError, match="calibration_end"):
        calibration_holdout(log, calibration_end="2004-12-31",
                            observation_end="2004-12-31", period="Y")
    for wrong in ({"time_unit": "W"}, {"engine": "duckdb"}, {"resolution": "W"}):
        name = next(iter(wrong))
        with pytest.raises(ValueError, match=rf"period='Y' .*takes no {name}="):
            calibration_holdout(log, calibration_end="2002-12-31",
                                observation_end="2004-12-31", period="Y", **wrong)


def test_a_bayesian_bgbb_backtest(simulated):
    # The Bayesian class goes the same way (MAP: one point, no fork on the estimator).
    model = MODELS["bgbb"].bayesian()
    result = backtest_years(simulated, model, fit_kwargs={"method": "map"})
    expected = model.expected_purchases(result.data, 5)  # point value and interval
    np.testing.assert_array_equal(result.predictions["predicted"], expected["mean"])
    assert (result.data["duration_holdout"] == 5).all()
    row = compare_models([result]).loc[type(model).__name__]
    assert row["mae"] == result.metrics["mae"]
