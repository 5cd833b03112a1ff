"""Time-varying covariates through the command line: CLVTools' apparel data with its long
table of weekly covariates (High.Season changes, Gender is constant per customer) by
``clvmodels summarize`` + ``fit --model pnbd --time-varying-covariates``, then ``predict`` and
``report`` over the table's future periods, and every error as one line with its exit code."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from _apparel import COVARIATES, REFERENCE_DATA, TRANSACTIONS, require_apparel, run_config
from _tolerances import assert_same_maximum
from test_cli import SCRIPT, assert_one_line_error, cli

from clvmodels import GammaGammaModel, ParetoNBDModel, rfm_summary
from clvmodels.errors import EXIT_DATA, EXIT_USAGE
from clvmodels.files.model_directory import ModelDirectory

PERIODS = REFERENCE_DATA / "apparel_dynamic_covariates.csv"
COLUMNS = ("--purchase-covariates", "High.Season,Gender", "--dropout-covariates", "Gender")
TABLE = ("--time-varying-covariates", PERIODS)


def require_periods() -> None:
    """Skip the calling test without the apparel data and their covariate periods."""
    require_apparel()
    if not PERIODS.exists():
        pytest.skip(f"the apparel covariate periods (CLVTools, GPL: not shipped) are not in "
                    f"{REFERENCE_DATA}; set CLVMODELS_REFERENCE_DATA to their folder")


@pytest.fixture(scope="module")
def apparel_dir(tmp_path_factory):
    """summarize -> fit (time-varying covariates) -> predict -> report, through the console
    script."""
    require_periods()
    d = tmp_path_factory.mktemp("time_varying")

    def succeeds(*args):
        result = cli(*args, command=[str(SCRIPT)])
        assert result.returncode == 0, (args[0], result.stderr)

    succeeds("summarize", TRANSACTIONS, "-o", d / "rfm.csv", "--customer-col", "Id",
             "--date-col", "Date", "--amount-col", "Price", "--observation-end", "2006-12-31",
             "--time-unit", "W")
    succeeds("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "model", *TABLE,
             "--covariate-date-col", "Cov.Date", *COLUMNS, "--transactions", TRANSACTIONS)
    value = ("--horizon", 52, "--discount-rate", 0.1, *TABLE)
    succeeds("predict", d / "model", d / "rfm.csv", *value, "-o", d / "scores.csv")
    succeeds("report", d / "model", d / "rfm.csv", *value, "-o", d / "report.html", "--quiet")
    return d


@pytest.fixture(scope="module")
def periods():
    require_periods()
    return pd.read_csv(PERIODS, parse_dates=["Cov.Date"])


@pytest.fixture(scope="module")
def api_rfm():
    """The apparel RFM table with spend as the API builds it (the attrs place the periods)."""
    require_periods()
    log = pd.read_csv(TRANSACTIONS, parse_dates=["Date"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # later transactions are left out, as intended
        rfm = rfm_summary(log, "Id", "Date", "Price", observation_end="2006-12-31",
                          time_unit="W")
    return rfm, log


def test_fit_is_the_api_fit(apparel_dir, periods, api_rfm):
    rfm, log = api_rfm
    model = ModelDirectory.load(apparel_dir / "model").transaction_model
    assert model.time_varying_covariates_ == {"customer_col": "Id", "date_col": "Cov.Date"}
    fitted = ParetoNBDModel(purchase_covariates=["High.Season", "Gender"],
                            dropout_covariates=["Gender"]).fit(
        rfm, time_varying_covariates=periods, customer_col="Id", date_col="Cov.Date",
        transactions=log, transaction_date_col="Date")
    assert list(model.params_.index) == list(fitted.params_.index)
    # The same likelihood from the files the CLI read back: the same maximum, within the
    # optimisers' stopping gaps and the standard errors (tests/_tolerances.py).
    assert_same_maximum(model, fitted)


def test_predict_values_each_customer_over_their_future_periods(apparel_dir, periods):
    d = apparel_dir
    scores = pd.read_csv(d / "scores.csv", index_col="Id", dtype={"Id": str})
    models = ModelDirectory.load(d / "model")
    rfm = pd.read_csv(d / "rfm.csv", index_col="Id", dtype={"Id": str})
    rfm.attrs = {"time_unit": "W", "observation_end": "2006-12-31"}
    table = periods.assign(Id=periods["Id"].astype(str))
    predictions = models.transaction_model.with_time_varying_covariates(table)
    rfm = rfm.loc[scores.index]
    # The same model on the same rows read back from CSV (an ulp apart): smooth in them.
    np.testing.assert_allclose(scores["expected_purchases"],
                               predictions.expected_purchases(rfm, 52), rtol=1e-9)
    weekly = 1.1 ** (7 / 365.25) - 1
    discounted = predictions.discounted_expected_purchases(rfm, horizon=52,
                                                           discount_rate=weekly)
    np.testing.assert_allclose(scores["discounted_expected_purchases"], discounted, rtol=1e-9)
    spend = models.spend_model.expected_spend(rfm)
    np.testing.assert_allclose(scores["clv"], discounted * spend, rtol=1e-9)
    # High season ahead matters: all-off-season future periods value customers lower.
    calm = table.assign(**{"High.Season": np.where(table["Cov.Date"] > "2006-12-31", 0,
                                                   table["High.Season"])})
    lower = models.transaction_model.with_time_varying_covariates(calm).expected_purchases(
        rfm, 52)
    assert np.all(lower < scores["expected_purchases"])
    assert isinstance(models.spend_model, GammaGammaModel)


def test_report_has_the_coefficients_and_equity_by_constant_covariate(apparel_dir):
    text = (apparel_dir / "report.html").read_text()
    section = text[text.index('<section id="covariates">'):]
    section = section[:section.index("</section>")]
    for name in ("purchase.High.Season", "purchase.Gender", "dropout.Gender"):
        assert f'<td class="text">{name}</td>' in section
    # exp(0.715) = 2.04 (tests/test_dynamic_covariates.py: the coefficient is near 0.7).
    assert re.search(r"In periods with High\.Season = 1, customers purchase 2\.\d+x as often as "
                     r"in periods with High\.Season = 0 \(90% interval", section), section
    assert re.search(r"Customers with Gender = 1 purchase 1\.\d+x as often", section), section
    assert "No value by level of the time-varying covariates (High.Season)" in section
    scores = pd.read_csv(apparel_dir / "scores.csv", index_col="Id")
    gender = pd.read_csv(PERIODS).groupby("Id")["Gender"].first().loc[scores.index]
    assert "Equity by covariate level" in section
    assert f"<td>{int((gender == 1).sum())}</td>" in section
    share = scores["clv"][gender == 1].sum() / scores["clv"].sum()
    assert f"{share:,.4g}" in section
    # The diagnostics that assume rates constant in time are left out, saying why.
    assert 'id="figure-period-transactions"' not in text
    assert "rates change with each customer's covariate periods" in text


@pytest.fixture(scope="module")
def plain_dir(apparel_dir):
    """A Pareto/NBD without covariates, fitted on the same RFM file."""
    d = apparel_dir
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "plain", "--quiet")
    assert result.returncode == 0, result.stderr
    return d / "plain"


def _fit(d, *args):
    return ("fit", d / "rfm.csv", "-o", d / "bad", *args)


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("--model", "bgnbd", *TABLE, *COLUMNS), EXIT_USAGE, "only --model pnbd"),
    (("--model", "pnbd", "--bayesian", *TABLE, *COLUMNS), EXIT_USAGE,
     "fitted by maximum likelihood: leave out --bayesian"),
    (("--model", "pnbd", *TABLE), EXIT_USAGE, "name the table's covariates"),
    (("--model", "pnbd", "--transactions", TRANSACTIONS), EXIT_USAGE,
     "is read with --time-varying-covariates only"),
    (("--model", "pnbd", "--covariate-date-col", "Cov.Date"), EXIT_USAGE,
     "--time-varying-covariates table, which was not given"),
    # The default date column is "date": the table's is Cov.Date.
    (("--model", "pnbd", *TABLE, *COLUMNS), EXIT_DATA,
     "lacks column(s) ['date'] (name them with fit's --covariate-customer-col and "
     "--covariate-date-col"),
    (("--model", "pnbd", *TABLE, "--covariate-date-col", "Cov.Date",
      "--purchase-covariates", "Season"), EXIT_DATA,
     "column(s) ['Season'] are not in the table"),
    # High.Season changes within calibrations: the purchases' dates are needed.
    (("--model", "pnbd", *TABLE, "--covariate-date-col", "Cov.Date", *COLUMNS), EXIT_DATA,
     "pass the transaction log the RFM table was built from (--transactions)"),
])
def test_bad_fit_options_are_one_line(apparel_dir, args, code, fragment):
    d = apparel_dir
    result = cli(*_fit(d, *args))
    assert_one_line_error(result.returncode, result.stderr, code, fragment)
    assert not (d / "bad").exists()


def test_predict_and_report_need_the_table_of_a_time_varying_fit(apparel_dir, plain_dir):
    d = apparel_dir
    for command in ("predict", "report"):
        output = d / ("x.csv" if command == "predict" else "x.html")
        result = cli(command, d / "model", d / "rfm.csv", "--horizon", 52, "-o", output)
        assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE,
                              "fitted with time-varying covariates ['High.Season', 'Gender']: "
                              "pass their table")
        assert not output.exists()
    result = cli("predict", plain_dir, d / "rfm.csv", "--horizon", 52, *TABLE, "-o",
                 d / "x.csv")
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE,
                          "fitted without time-varying covariates; leave it out")


def test_a_table_not_reaching_the_horizon_is_one_line(apparel_dir):
    d = apparel_dir
    # The periods end in December 2010, four years after the calibration end.
    result = cli("predict", d / "model", d / "rfm.csv", "--horizon", 260, *TABLE, "-o",
                 d / "x.csv")
    assert_one_line_error(result.returncode, result.stderr, EXIT_DATA,
                          "before the end of the horizon (260 weeks after it)")
    assert re.search(r"customer '\d+'", result.stderr)
    assert not (d / "x.csv").exists()


def test_spend_covariates_come_from_the_static_table(apparel_dir):
    # --covariates holds the spend model's static covariates; the purchase model's are the
    # long table's (the static file has no High.Season).
    d = apparel_dir
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "with_spend", *TABLE,
                 "--covariate-date-col", "Cov.Date", *COLUMNS, "--transactions", TRANSACTIONS,
                 "--covariates", COVARIATES, "--spend-covariates", "Channel", "--quiet")
    assert result.returncode == 0, result.stderr
    models = ModelDirectory.load(d / "with_spend")
    assert list(models.spend_model.covariate_columns) == ["Channel"]
    assert models.transaction_model.time_varying_covariates_ is not None
    result = cli("predict", d / "with_spend", d / "rfm.csv", "--horizon", 52, *TABLE,
                 "--covariates", COVARIATES, "-o", d / "with_spend.csv", "--quiet")
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(d / "with_spend.csv", index_col="Id", dtype={"Id": str})
    rfm = pd.read_csv(d / "rfm.csv", index_col="Id", dtype={"Id": str}).loc[scores.index]
    channel = pd.read_csv(COVARIATES, dtype={"Id": str}).set_index("Id")["Channel"]
    expected = models.spend_model.expected_spend(rfm.join(channel))
    # The same model on the same rows read back from CSV (an ulp apart).
    np.testing.assert_allclose(scores["expected_spend"], expected, rtol=1e-9)
    np.testing.assert_allclose(scores["clv"],
                               scores["discounted_expected_purchases"] * expected, rtol=1e-9)


_RUN_MODEL = """\
purchase_covariates = ["High.Season", "Gender"]
dropout_covariates = ["Gender"]
"""


def _run(directory, data="", model=_RUN_MODEL, name="pnbd"):
    config = run_config(directory / "run.toml", data, model, output="out", name=name)
    return cli("run", config, "--quiet", command=[str(SCRIPT)])


def test_run_config_fits_and_values_over_the_covariate_periods(apparel_dir, periods,
                                                                tmp_path):
    # The same table serves the fit and the predictions; the log is read for the purchases'
    # dates (High.Season changes within calibrations).
    result = _run(tmp_path, f'time_varying_covariates = "{PERIODS}"\n'
                            'covariate_date_col = "Cov.Date"\n')
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    models = ModelDirectory.load(out / "model")
    assert models.transaction_model.time_varying_covariates_ == {"customer_col": "Id",
                                                                 "date_col": "Cov.Date"}
    # The fit of the step-by-step commands on the same data: the same maximum.
    assert_same_maximum(models.transaction_model,
                        ModelDirectory.load(apparel_dir / "model").transaction_model)
    scores = pd.read_csv(out / "scores.csv", index_col="Id", dtype={"Id": str})
    rfm = pd.read_csv(out / "rfm.csv", index_col="Id", dtype={"Id": str}).loc[scores.index]
    rfm.attrs = {"time_unit": "W", "observation_end": "2006-12-31"}
    predictions = models.transaction_model.with_time_varying_covariates(
        periods.assign(Id=periods["Id"].astype(str)))
    # The run's own model on the rows read back from CSV (an ulp apart): smooth in them.
    np.testing.assert_allclose(scores["expected_purchases"],
                               predictions.expected_purchases(rfm, 52), rtol=1e-9)
    text = (out / "report.html").read_text()
    assert "In periods with High.Season = 1, customers purchase" in text


@pytest.mark.parametrize(("data", "model", "name", "fragment"), [
    ('covariate_date_col = "Cov.Date"\n', _RUN_MODEL, "pnbd",
     "[data] covariate_date_col: names a column of the [data] time_varying_covariates table, "
     "which was not given"),
    (f'time_varying_covariates = "{PERIODS}"\n', _RUN_MODEL + "bayesian = true\n", "pnbd",
     "leave out [model] bayesian"),
    (f'time_varying_covariates = "{PERIODS}"\n', _RUN_MODEL, "bgnbd",
     "only [model] model pnbd (Pareto/NBD) takes time-varying covariates"),
    (f'time_varying_covariates = "{PERIODS}"\n', "", "pnbd",
     "name the table's covariates with [model] purchase_covariates and/or [model] "
     "dropout_covariates"),
])
def test_bad_run_config_time_varying_settings_are_one_line(tmp_path, data, model, name,
                                                           fragment):
    require_periods()
    result = _run(tmp_path, data, model, name)
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE, fragment)
    assert not (tmp_path / "out").exists()
