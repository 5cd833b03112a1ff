"""The correlated Pareto/NBD through the command line (``--model pnbd-cor``): summarize ->
fit -> predict -> report on CDNOW through the console script, the fit against the Python API,
the correlation with its interval in the printed parameters and the report, and the Bayesian
variant's model directory."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_cli import CALIBRATION_END, SCRIPT, cli

import clvmodels
from clvmodels import BayesianParetoNBDCorrelationModel, ParetoNBDCorrelationModel
from clvmodels.files import tables
from clvmodels.files.model_directory import ModelDirectory


@pytest.fixture(scope="module")
def correlated_dir(tmp_path_factory):
    """summarize -> fit --model pnbd-cor -> predict -> report on CDNOW, each through the
    console script."""
    d = tmp_path_factory.mktemp("correlation")
    transactions = clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]
    transactions.to_csv(d / "transactions.csv", index=False)
    steps = {
        "summarize": ("summarize", d / "transactions.csv", "-o", d / "rfm.csv",
                      "--observation-end", CALIBRATION_END, "--time-unit", "weeks"),
        "fit": ("fit", d / "rfm.csv", "--model", "pnbd-cor", "-o", d / "model"),
        "predict": ("predict", d / "model", d / "rfm.csv", "--horizon", 52,
                    "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "scores.csv"),
        "report": ("report", d / "model", d / "rfm.csv", "--horizon", 52,
                   "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "report.html",
                   "--quiet"),
    }
    results = {}
    for name, args in steps.items():
        results[name] = cli(*args, command=[str(SCRIPT)])
        assert results[name].returncode == 0, (name, results[name].stderr)
    return d, results


def _parameter_rows(html: str) -> dict[str, list[str]]:
    """The rows of the report's parameter tables, by their first cell."""
    section = html[html.index('id="parameters"'):]
    section = section[:section.index("</section>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", cell).strip()
                 for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_fit_gives_the_api_fit_of_the_same_table(correlated_dir):
    d, results = correlated_dir
    model = ModelDirectory.load(d / "model").transaction_model
    assert type(model) is ParetoNBDCorrelationModel
    rfm = tables.read_rfm(d / "rfm.csv")
    with pytest.warns(clvmodels.DegenerateFitWarning):  # CDNOW's omega is on its bound
        api = ParetoNBDCorrelationModel().fit(rfm)
    # Both maximise the same likelihood (read back from the same file), and the optimiser
    # stops within ~1e-4 of the maximum: 1e-3 absolute of |LL| ~ 9.6e3.
    assert model.log_likelihood_ == pytest.approx(api.log_likelihood_, abs=1e-3)
    # The printed parameter table has the correlation after the parameters.
    printed = results["fit"].stdout
    assert "ParetoNBDCorrelationModel parameters" in printed
    assert re.search(r"^\s*cor\s", printed, flags=re.M), printed


def test_predict_scores_with_the_correlated_model(correlated_dir):
    d, _ = correlated_dir
    model = ModelDirectory.load(d / "model").transaction_model
    rfm = tables.read_rfm(d / "rfm.csv")
    scores = pd.read_csv(d / "scores.csv", index_col="customer_id")
    scores.index = scores.index.astype(rfm.index.dtype)
    expected = model.expected_purchases(rfm, 52).loc[scores.index]
    # The same model on the same rows; the scores were written to CSV and read back (an ulp
    # apart), and the predictions are smooth in them.
    np.testing.assert_allclose(scores["expected_purchases"], expected, rtol=1e-9)
    assert np.all(np.isfinite(scores["clv"])) and (scores["clv"] >= 0).all()


def test_report_shows_the_correlation_with_its_interval(correlated_dir):
    d, _ = correlated_dir
    rows = _parameter_rows((d / "report.html").read_text())
    model = ModelDirectory.load(d / "model").transaction_model
    summary = model.summary()
    assert "cor" in rows, sorted(rows)
    # estimate, standard error, lower and upper bound, as printed (4 significant digits).
    shown = [float(value.replace(",", "")) for value in rows["cor"]]
    np.testing.assert_allclose(shown, summary.loc["cor"].to_numpy(), rtol=1e-3, atol=1e-12)
    assert shown[2] <= shown[0] <= shown[3]


@pytest.mark.slow
def test_a_bayesian_fit_reports_the_correlation_and_loads_back(correlated_dir):
    """--bayesian: the posterior's model directory loads back as the Bayesian class, and the
    report's parameter table has the posterior of cor with its HDI."""
    d, _ = correlated_dir
    fitted = cli("fit", d / "rfm.csv", "--model", "pnbd-cor", "--bayesian", "--draws", 100,
                 "--tune", 200, "--chains", 2, "--seed", 3, "-o", d / "bayes_model")
    assert fitted.returncode == 0, fitted.stderr
    models = ModelDirectory.load(d / "bayes_model")
    model = models.transaction_model
    assert type(model) is BayesianParetoNBDCorrelationModel and model.n_draws == 200
    reported = cli("report", d / "bayes_model", d / "rfm.csv", "--horizon", 52,
                   "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "bayes.html", "--quiet")
    assert reported.returncode == 0, reported.stderr
    rows = _parameter_rows((d / "bayes.html").read_text())
    summary = model.summary()
    mean, sd, low, high = (float(value.replace(",", "")) for value in rows["cor"][:4])
    np.testing.assert_allclose([mean, sd, low, high],
                               summary.loc["cor", ["mean", "sd", "hdi_3%", "hdi_97%"]],
                               rtol=1e-2, atol=1e-3)
    scored = cli("predict", d / "bayes_model", d / "rfm.csv", "--horizon", 52,
                 "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "bayes_scores.csv")
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(d / "bayes_scores.csv")
    lower = next(c for c in scores.columns if c.startswith("clv_lower"))
    upper = next(c for c in scores.columns if c.startswith("clv_upper"))
    assert ((scores[lower] <= scores["clv"]) & (scores["clv"] <= scores[upper])).all()
