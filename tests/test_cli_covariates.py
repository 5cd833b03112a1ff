"""Static covariates through the command line: the published apparel fit (CLVTools'
Pareto/NBD with Gender and Channel in both processes) by ``clvmodels summarize`` + ``fit
--covariates``, then ``predict`` and ``report`` with each customer's covariates, the ``run``
config, and every error as one line with its exit code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _apparel import COVARIATES, TRANSACTIONS, apparel_with_spend, require_apparel, run_config
from test_cli import SCRIPT, assert_one_line_error, cli

from clvmodels import GammaGammaModel, ParetoNBDModel
from clvmodels.errors import EXIT_DATA, EXIT_INPUT, EXIT_USAGE
from clvmodels.files import tables
from clvmodels.files.model_directory import ModelDirectory

BOTH = ("--purchase-covariates", "Gender,Channel", "--dropout-covariates", "Gender,Channel")
PUBLISHED = pd.Series({
    "r": 1.8387, "alpha": 92.9435, "s": 0.5913, "beta": 49.5048,
    "purchase.Gender": 0.2860, "purchase.Channel": 0.6239,
    "dropout.Gender": -0.6428, "dropout.Channel": 0.7902,
})


@pytest.fixture(scope="module")
def apparel_dir(tmp_path_factory):
    """summarize -> fit (with covariates) -> predict -> report on the apparel data, through
    the console script."""
    require_apparel()
    d = tmp_path_factory.mktemp("covariates")
    steps = {
        "summarize": ("summarize", TRANSACTIONS, "-o", d / "rfm.csv", "--customer-col", "Id",
                      "--date-col", "Date", "--amount-col", "Price",
                      "--observation-end", "2006-12-31", "--time-unit", "W"),
        "fit": ("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "model",
                "--covariates", COVARIATES, *BOTH),
        "predict": ("predict", d / "model", d / "rfm.csv", "--horizon", 52,
                    "--covariates", COVARIATES, "-o", d / "scores.csv"),
        "report": ("report", d / "model", d / "rfm.csv", "--horizon", 52, "--covariates",
                   COVARIATES, "-o", d / "report.html", "--quiet"),
    }
    for name, args in steps.items():
        result = cli(*args, command=[str(SCRIPT)])
        assert result.returncode == 0, (name, result.stderr)
    return d


@pytest.fixture(scope="module")
def api_apparel():
    """The apparel RFM table with its covariates, as tests/test_covariates.py builds it."""
    return apparel_with_spend()


def test_fit_reproduces_the_published_apparel_fit(apparel_dir):
    model = ModelDirectory.load(apparel_dir / "model").transaction_model
    assert list(model.params_.index) == list(PUBLISHED.index)
    assert model.log_likelihood_ == pytest.approx(-5821.0627, abs=1e-3)
    # As in tests/test_covariates.py: the optimisers stop within ~1e-4 of the maximum of the
    # log-likelihood, so an estimate within eps = 1e-3 of it is within sqrt(2 eps) standard
    # errors of the maximum; plus the printed rounding of the published figures.
    std_error = model.summary()["std_error"]
    tolerance = np.sqrt(2e-3) * std_error + 5e-5 * np.maximum(1, PUBLISHED.abs())
    assert np.all(np.abs(model.params_ - PUBLISHED) <= tolerance)


def test_predict_scores_each_customer_with_their_covariates(apparel_dir, api_apparel):
    scores = pd.read_csv(apparel_dir / "scores.csv", index_col="Id").sort_index()
    models = ModelDirectory.load(apparel_dir / "model")
    table = api_apparel.loc[scores.index]
    expected = models.transaction_model.expected_purchases(table, 52)
    # The same model on the same rows, read back from CSV (an ulp apart): smooth in them.
    np.testing.assert_allclose(scores["expected_purchases"], expected, rtol=1e-9)
    # Not the prediction of a model without covariates: the covariates matter.
    plain = ParetoNBDModel().fit(api_apparel).expected_purchases(table, 52)
    assert np.max(np.abs(scores["expected_purchases"] / plain - 1)) > 0.05
    spend = GammaGammaModel().fit(api_apparel).expected_spend(table)
    np.testing.assert_allclose(scores["clv"], expected * spend, rtol=1e-6)


def test_report_has_the_coefficients_and_equity_by_level(apparel_dir):
    text = (apparel_dir / "report.html").read_text()
    section = text[text.index('<section id="covariates">'):]
    section = section[:section.index("</section>")]
    for name in PUBLISHED.index[4:]:
        assert f"<td class=\"text\">{name}</td>" in section
    # exp(0.6239) = 1.866: offline buyers purchase 1.87x as often.
    assert re.search(r"Customers with Channel = 1 purchase 1\.87x as often as those with "
                     r"Channel = 0 \(90% interval 1\.\d+x to 2\.\d+x\)", section), section
    assert "Equity by covariate level" in section
    scores = pd.read_csv(apparel_dir / "scores.csv", index_col="Id")
    covariates = pd.read_csv(COVARIATES, index_col="Id").loc[scores.index]
    offline = scores["clv"][covariates["Channel"] == 1]
    assert f"<td>{len(offline)}</td>" in section
    assert f"{offline.sum() / scores['clv'].sum():,.4g}" in section
    # The calibration histogram with each customer's parameters; no cohort tracking.
    assert 'id="figure-period-transactions"' in text
    assert "this model's parameters vary with each customer's covariates" in text


def test_predict_without_the_covariate_table_says_so(apparel_dir):
    d = apparel_dir
    result = cli("predict", d / "model", d / "rfm.csv", "--horizon", 52, "-o", d / "x.csv")
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE,
                          "the models were fitted with covariates ['Gender', 'Channel']")
    assert "--covariates" in result.stderr
    assert not (d / "x.csv").exists()


@pytest.fixture(scope="module")
def bad_files(apparel_dir):
    """Covariate tables with one fault each."""
    d = apparel_dir
    table = pd.read_csv(COVARIATES, dtype={"Id": str})
    faults = {
        "missing": table[table["Id"] != "10"],
        "repeated": pd.concat([table, table[table["Id"] == "7"]]),
        "no_id": table.rename(columns={"Id": "customer"}),
        "no_column": table.drop(columns="Channel"),
        "gap": table.assign(Gender=table["Gender"].where(table["Id"] != "5")),
    }
    paths = {}
    for name, frame in faults.items():
        paths[name] = d / f"covariates_{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


@pytest.mark.parametrize(("fault", "code", "fragment"), [
    ("missing", EXIT_DATA, "has no row for customer '10' of RFM file"),
    ("repeated", EXIT_DATA, "customer '7' appears more than once"),
    ("no_id", EXIT_DATA, "lacks the customer id column 'Id'"),
    ("no_column", EXIT_DATA, "lacks column(s) ['Channel']"),
    ("gap", EXIT_DATA, "column 'Gender' (a covariate): 1 missing value(s) (e.g. customer '5')"),
])
def test_a_bad_covariate_table_is_one_line(apparel_dir, bad_files, fault, code, fragment):
    d = apparel_dir
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / f"model_{fault}",
                 "--covariates", bad_files[fault], *BOTH)
    assert_one_line_error(result.returncode, result.stderr, code, fragment)
    assert str(bad_files[fault]) in result.stderr or fault == "gap"
    assert not (d / f"model_{fault}").exists()


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("--covariates", "absent.csv", *BOTH), EXIT_INPUT, "absent.csv"),
    (("--covariates", COVARIATES, "--purchase-covariates", "Gender,,Channel"), EXIT_USAGE,
     "holds an empty column name"),
    (("--covariates", COVARIATES), EXIT_USAGE, "no covariates are named"),
    (("--covariates", COVARIATES, "--spend-covariates", "Gender", "--spend", "none"),
     EXIT_USAGE, "there is no spend model"),
    (("--purchase-covariates", "Gender"), EXIT_USAGE, "the fit names covariates ['Gender'], "
     "and RFM file"),
])
def test_bad_covariate_options_are_one_line(apparel_dir, args, code, fragment):
    d = apparel_dir
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "model_bad", *args,
                 cwd=d)
    assert_one_line_error(result.returncode, result.stderr, code, fragment)


@pytest.mark.slow
def test_a_bayesian_fit_with_covariates_scores_with_intervals(apparel_dir):
    """--bayesian with covariates: the Bayesian classes take them, and predict gives each
    customer's interval from the posterior draws at their covariates."""
    d = apparel_dir
    fitted = cli("fit", d / "rfm.csv", "--model", "pnbd", "--spend", "none", "--bayesian",
                 "--covariates", COVARIATES, *BOTH, "-o", d / "bayes_model", cwd=d)
    assert fitted.returncode == 0, fitted.stderr
    scored = cli("predict", d / "bayes_model", d / "rfm.csv", "--horizon", 52, "--covariates",
                 COVARIATES, "-o", d / "bayes_scores.csv", cwd=d)
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(d / "bayes_scores.csv")
    lower, upper = (next(c for c in scores.columns if c.startswith(f"expected_purchases_{side}"))
                    for side in ("lower", "upper"))
    assert (scores[lower] <= scores["expected_purchases"]).all()
    assert (scores["expected_purchases"] <= scores[upper]).all()


def test_a_covariate_table_for_models_without_covariates_is_refused(apparel_dir):
    d = apparel_dir
    assert cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "plain").returncode == 0
    result = cli("predict", d / "plain", d / "rfm.csv", "--horizon", 52, "--covariates",
                 COVARIATES, "-o", d / "plain.csv")
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE,
                          "the models take no covariates")


def test_spend_covariates_reach_the_spend_model(apparel_dir):
    d = apparel_dir
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "spend",
                 "--covariates", COVARIATES, "--spend-covariates", "Channel")
    assert result.returncode == 0, result.stderr
    models = ModelDirectory.load(d / "spend")
    assert models.transaction_model.covariate_columns == ()
    assert models.spend_model.covariate_columns == ("Channel",)
    assert "spend.Channel" in models.spend_model.params_.index


def _config(d: Path, model: str) -> Path:
    return run_config(d / f"config_{abs(hash(model))}.toml",
                      f'covariates = "{COVARIATES}"\n', model)


def test_run_config_fits_with_covariates(apparel_dir):
    d = apparel_dir
    config = _config(d, 'purchase_covariates = ["Gender", "Channel"]\n'
                        'dropout_covariates = ["Gender", "Channel"]')
    result = cli("run", config, "--quiet")
    assert result.returncode == 0, result.stderr
    model = ModelDirectory.load(d / "run" / "model").transaction_model
    assert model.log_likelihood_ == pytest.approx(-5821.0627, abs=1e-3)
    manifest = json.loads((d / "run" / "model" / "manifest.json").read_text())
    assert manifest["data"]["covariates_path"] == str(COVARIATES)
    assert '<section id="covariates">' in (d / "run" / "report.html").read_text()


@pytest.mark.parametrize(("line", "fragment"), [
    ('purchase_covariates = "Gender"', "purchase_covariates = 'Gender' should be list"),
    ("dropout_covariates = [1, 2]", "should be a list of column names"),
])
def test_run_config_covariates_are_checked(apparel_dir, line, fragment):
    result = cli("run", _config(apparel_dir, line), "--quiet")
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE, fragment)


def test_a_parquet_covariate_table_joins_by_id_of_the_same_type(apparel_dir):
    pytest.importorskip("pyarrow")
    d = apparel_dir
    table = pd.read_csv(COVARIATES, dtype={"Id": str})
    table.to_parquet(d / "covariates.parquet", index=False)
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "model_parquet",
                 "--covariates", d / "covariates.parquet", *BOTH)
    assert result.returncode == 0, result.stderr
    model = ModelDirectory.load(d / "model_parquet").transaction_model
    assert model.log_likelihood_ == pytest.approx(-5821.0627, abs=1e-3)
    # Integer ids against the text ids of a CSV RFM table: not guessed equal, but said so.
    table.astype({"Id": int}).to_parquet(d / "int_ids.parquet", index=False)
    result = cli("fit", d / "rfm.csv", "--model", "pnbd", "-o", d / "model_int",
                 "--covariates", d / "int_ids.parquet", *BOTH)
    assert_one_line_error(result.returncode, result.stderr, EXIT_DATA,
                          "(no id matches: the RFM ids are of type")


def test_string_levels_and_counts_only_in_the_report(apparel_dir):
    """Channel as text: drop-first with the first level in sorted order ("offline") as the
    reference, so the online coefficient is the published offline one negated; with --spend
    none the report breaks the expected purchases down by level instead of equity."""
    d = apparel_dir
    table = pd.read_csv(COVARIATES, dtype={"Id": str})
    table["Channel"] = table["Channel"].map({0: "online", 1: "offline"})
    table.to_csv(d / "text_levels.csv", index=False)
    for args in (("fit", d / "rfm.csv", "--model", "pnbd", "--spend", "none", "-o",
                  d / "text_model", "--covariates", d / "text_levels.csv", *BOTH),
                 ("report", d / "text_model", d / "rfm.csv", "--horizon", 52, "--covariates",
                  d / "text_levels.csv", "-o", d / "text.html")):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
    model = ModelDirectory.load(d / "text_model").transaction_model
    # The same maximum as the 0/1 coding (a reparameterisation): within the optimiser's
    # tolerance of the published coefficient, as in test_fit_reproduces_the_published_fit.
    tolerance = np.sqrt(2e-3) * model.summary()["std_error"] + 5e-5
    assert abs(model.params_["purchase.Channel[online]"] + 0.6239) <= tolerance[
        "purchase.Channel[online]"]
    section = (d / "text.html").read_text().split('<section id="covariates">')[1]
    assert re.search(r"Customers with Channel = online purchase 0\.53\dx as often as those "
                     r"with Channel = offline", section), section
    assert "Expected purchases by covariate level" in section
    assert "Equity by covariate level" not in section


def test_a_contractual_model_refuses_covariates(apparel_dir):
    d = apparel_dir
    result = cli("fit", "--model", "sbg", d / "rfm.csv", "-o", d / "sbg", "--covariates",
                 COVARIATES, "--dropout-covariates", "Channel")
    assert_one_line_error(result.returncode, result.stderr, EXIT_USAGE,
                          "the contractual model sbg takes no covariates")


def test_an_rfm_table_holding_the_covariates_needs_no_covariate_file(apparel_dir):
    d = apparel_dir
    rfm = tables.read_rfm(d / "rfm.csv")
    covariates = pd.read_csv(COVARIATES, dtype={"Id": str}).set_index("Id")
    tables.write_table(rfm.join(covariates), d / "rfm_covariates.csv",
                       metadata=rfm.attrs["metadata"])
    for args in (("fit", d / "rfm_covariates.csv", "--model", "pnbd", "-o", d / "inline",
                  *BOTH),
                 ("predict", d / "inline", d / "rfm_covariates.csv", "--horizon", 52, "-o",
                  d / "inline.csv")):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
    inline = pd.read_csv(d / "inline.csv", index_col="Id")
    joined = pd.read_csv(d / "scores.csv", index_col="Id")
    # The same rows in the same order with the same values (written and read back from CSV
    # losslessly) by two routes: the same fit and the same scores, to rounding.
    np.testing.assert_allclose(inline["clv"], joined.loc[inline.index, "clv"], rtol=1e-12)
    # A file on top of columns already in the table would be a guess: refused.
    result = cli("predict", d / "inline", d / "rfm_covariates.csv", "--horizon", 52,
                 "--covariates", COVARIATES, "-o", d / "both.csv")
    assert_one_line_error(result.returncode, result.stderr, EXIT_DATA,
                          "are in both RFM file")


def test_report_of_a_bayesian_covariate_fit(tmp_path, cdnow):
    """`report` of a --bayesian fit with covariates: the coefficient section from the
    posterior, and no posterior predictive check (it draws every customer from one parameter
    set), with the reason, instead of a crash."""
    table = cdnow.assign(early=(cdnow["T"] > 35).astype(float))
    table[["frequency", "recency", "T", "monetary_value"]].to_csv(tmp_path / "rfm.csv")
    table[["early"]].to_csv(tmp_path / "covariates.csv")
    fitted = cli("fit", "rfm.csv", "--time-unit", "W", "--model", "bgnbd", "--bayesian",
                 "--method", "map", "--draws", 200, "--covariates", "covariates.csv",
                 "--purchase-covariates", "early", "--dropout-covariates", "early",
                 "-o", "model", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    reported = cli("report", "model", "rfm.csv", "--horizon", 52, "--covariates",
                   "covariates.csv", "-o", "report.html", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    text = (tmp_path / "report.html").read_text()
    assert '<section id="covariates">' in text and "purchase.early" in text
    assert "posterior-predictive" not in text and "No posterior predictive check" in text
