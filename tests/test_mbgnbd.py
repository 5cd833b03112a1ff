"""MBG/NBD, the model added as one family module: everywhere the others are, with nothing
written for it but its declaration (the contract suite, tests/test_contract.py, checks its
mathematics; tests/test_published.py and tests/test_lifetimes.py its figures).

Here: what distinguishes it from the BG/NBD, and the product around it (backtest, plots, CLV,
the command line and the report).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import plotting

MODULE = [sys.executable, "-m", "clvmodels"]


def test_customers_without_repeat_purchases_can_be_gone(fitted_mbgnbd, fitted_bgnbd, cdnow):
    """The BG/NBD keeps every one-time buyer alive (P(alive) = 1 at x = 0); the MBG/NBD lets
    them drop out at the first purchase, with the posterior probability of having survived it
    (a / (b + x) against ((alpha + T) / (alpha + t_x)) ** (r + x) in the odds, exactly)."""
    one_time = cdnow[cdnow["frequency"] == 0].head(20)
    assert np.all(fitted_bgnbd.probability_alive(one_time) == 1.0)
    r, alpha, a, b = fitted_mbgnbd.params_
    odds = a / b * ((alpha + one_time["T"]) / alpha) ** r
    # The closed form against logaddexp of the likelihood's terms: a few ulps (1e-14).
    np.testing.assert_allclose(fitted_mbgnbd.probability_alive(one_time), 1 / (1 + odds),
                               rtol=1e-14)
    # A new customer is alive with probability b / (a + b): the expected count is that times
    # a BG/NBD customer's with b + 1 (the same formulas: 1e-14).
    bg = clvmodels.BetaGeoModel().set_params_({"r": r, "alpha": alpha, "a": a, "b": b + 1})
    t = np.array([1.0, 39.0, 520.0])
    np.testing.assert_allclose(fitted_mbgnbd.expected_purchases_new_customer(t),
                               b / (a + b) * bg.expected_purchases_new_customer(t), rtol=1e-14)


def test_backtest_plots_and_value(cdnow_holdout_table):
    """By name through the backtest, into the plots and the valuation: the same code paths as
    every purchase model."""
    log = clvmodels.load_cdnow_transactions()
    result = clvmodels.backtest(log, calibration_end="1997-09-30", model="mbgnbd")
    assert isinstance(result.model, clvmodels.ModifiedBetaGeoModel)
    metrics = result.metrics
    # Holdout: 1,882 repeat purchases; the model forecasts ~12% fewer, as the BG/NBD does.
    assert metrics["actual_total"] == 1882
    assert 0.8 < metrics["predicted_total"] / metrics["actual_total"] < 1.0
    ax = plotting.plot_tracking(result.model, log, calibration_end="1997-09-30")
    assert "MBG/NBD" in ax.get_legend().get_texts()[1].get_text()
    spend = clvmodels.GammaGammaModel().fit(cdnow_holdout_table)
    equity = clvmodels.customer_equity(result.model, spend, cdnow_holdout_table, horizon=52,
                                       discount_rate=0.002)
    assert equity.total > 0 and list(equity.segments.index) == list(range(1, 11))
    table = clvmodels.compare_models({"MBG/NBD": result, "BG/NBD": clvmodels.backtest(
        log, calibration_end="1997-09-30", model="bgnbd")})
    assert table.loc["MBG/NBD", "n_params"] == 4


def test_command_line_fits_scores_and_reports_the_mbgnbd(tmp_path):
    """``clvmodels fit --model mbgnbd`` through the console script: the published parameters
    (to the printed decimals) in the model directory, scores equal to the API's (the same
    parameters read back from JSON; the CSV round trip of the RFM values: 1e-12), the model
    named in the report."""
    log = clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]
    log.to_csv(tmp_path / "log.csv", index=False)

    def run(*args):
        done = subprocess.run([*MODULE, *map(str, args)], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done

    run("summarize", "log.csv", "-o", "rfm.csv", "--observation-end", "1997-09-30")
    fitted = run("fit", "rfm.csv", "--model", "mbgnbd", "-o", "model")
    assert "ModifiedBetaGeoModel" in fitted.stdout or "MBG/NBD" in fitted.stdout
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["transaction_model"] == {**manifest["transaction_model"],
                                             "name": "mbgnbd", "class": "ModifiedBetaGeoModel"}
    model = clvmodels.ModifiedBetaGeoModel.load(
        tmp_path / "model" / manifest["transaction_model"]["file"])
    published = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, abs=5e-4), name
    run("predict", "model", "rfm.csv", "--horizon", "52", "--discount-rate", "0.1",
        "-o", "scores.csv")
    scores = pd.read_csv(tmp_path / "scores.csv", index_col=0)
    rfm = clvmodels.rfm_summary(log, amount_col="amount", observation_end="1997-09-30")
    expected = model.probability_alive(rfm).reindex(scores.index)
    np.testing.assert_allclose(scores["probability_alive"], expected.to_numpy(), rtol=1e-12)
    run("report", "model", "rfm.csv", "--horizon", "52", "-o", "report.html")
    assert "MBG/NBD" in (tmp_path / "report.html").read_text()
